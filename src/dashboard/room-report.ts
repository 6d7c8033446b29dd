import type {FleetStore, HostRow} from '../store/store.js'
import {storeTails} from '../ui/room-errors.js'
import {roomEta, type TimeoutCache} from '../ui/room-eta.js'
import {buildReport, type StatusReport} from '../ui/status-view.js'

/** What a report needs besides one read of the store: the time, and the ETA (which may load a playbook, so it is async). */
export interface ReportInputs {
  now: number
  eta: Awaited<ReturnType<typeof roomEta>>
}

/**
 * The room exactly as `fleet status --json` reports it (src/ui/status-view.ts buildReport,
 * the same inputs as src/ui/status-command.ts gives it), so every field the report has (ETAs,
 * error groups) reaches the dashboard without the dashboard knowing it.
 */
export class RoomReports {
  /** Declared step timeouts by playbook, read once (the ETA's fallback). */
  private readonly timeouts: TimeoutCache = new Map()

  constructor(private readonly store: FleetStore) {}

  /** The part that may wait (reading a playbook): call it before the read transaction. */
  async inputs(): Promise<ReportInputs> {
    const now = Date.now()
    return {now, eta: await roomEta(this.store, now, this.timeouts)}
  }

  /** The report and the host rows it was built from. Synchronous: call it inside the read transaction. */
  report(inputs: ReportInputs): {rows: HostRow[]; report: StatusReport} {
    const rows = this.store.hosts()
    return {rows, report: buildReport(rows, inputs.now, {errorTails: storeTails(this.store), eta: inputs.eta})}
  }
}
