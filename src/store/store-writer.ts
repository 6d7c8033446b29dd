import type {HostEvent, HostListener, HostRef} from '../events/host-events.js'
import type {JournalRecord} from '../protocol/index.js'
import type {FleetStore} from './store.js'

/** Store records in batches: one transaction per batch, not per record. */
const BATCH_RECORDS = 500
const BATCH_MS = 100

/**
 * The listener that records a fleet run in the store: host states, host keys,
 * the agent run each host follows, and journal records in batches. A batch is
 * written when it is full, after BATCH_MS, and before anything else about its
 * host, so a state never lands before the records that came ahead of it. A write
 * that fails in the timer (the disk full) goes to `fail`, which stops the run.
 */
export class StoreWriter implements HostListener {
  private readonly batches = new Map<number, {records: JournalRecord[]; timer?: NodeJS.Timeout}>()

  constructor(
    private readonly store: FleetStore,
    private readonly fail: (e: unknown) => void,
  ) {}

  onEvent(e: HostEvent): void {
    if (e.kind === 'records') return this.push(e.host, e.records)
    if (e.kind === 'note') return
    this.flush(e.host)
    if (e.kind === 'state') this.store.setHostState(e.host.id, e.state, e.error)
    else if (e.kind === 'host-key') this.store.setHostKey(e.host.id, e.key)
    else if (e.kind === 'agent-run') this.store.setAgentRun(e.host.id, e.run, e.mode)
  }

  flush(host: HostRef): void {
    const batch = this.batches.get(host.id)
    if (!batch) return
    if (batch.timer) clearTimeout(batch.timer)
    this.batches.delete(host.id)
    this.store.ingest(host.id, batch.records)
  }

  close(): void {
    for (const id of [...this.batches.keys()]) this.flush({id, name: ''})
  }

  private push(host: HostRef, records: JournalRecord[]): void {
    if (!records.length) return
    let batch = this.batches.get(host.id)
    if (!batch) this.batches.set(host.id, (batch = {records: []}))
    batch.records.push(...records)
    if (batch.records.length >= BATCH_RECORDS) this.flush(host)
    else if (!batch.timer)
      batch.timer = setTimeout(() => {
        try {
          this.flush(host)
        } catch (e) {
          this.fail(e) // in a timer a throw would end the process with a stack trace
        }
      }, BATCH_MS)
  }
}
