import type {FleetStore, HostRow} from '../store/store.js'
import type {StatusHost} from '../ui/status-view.js'
import {digestEvents, readCells, readSnapshot, roomFigures, type RoomSnapshot, type RoomUpdate} from './room.js'
import type {ReportInputs, RoomReports} from './room-report.js'

/** Records read per poll at most; more are read on the next poll, at once. */
const EVENTS_PER_POLL = 5000

/** While only output arrives, the room's report is rebuilt this often (its ETAs move with the clock). */
const REPORT_EVERY_MS = 5000

/**
 * A reconnecting page that missed more records than this gets a fresh snapshot instead of
 * the records themselves (it ends in the same place, in one message).
 */
export const CATCH_UP_MAX = 20_000

/**
 * The key a row is compared by: what the page shows of it, less the clock. `elapsed_s` moves
 * every second and the page counts it on itself; other seconds (ETAs) count in 5 s steps,
 * so a figure that moves with the clock is sent every 5 s, not on every poll.
 */
function changeKey(value: unknown): string {
  return JSON.stringify(value, (k, v) => (k === 'elapsed_s' ? undefined : typeof v === 'number' && k.endsWith('_s') ? Math.round(v / 5) : v))
}

export interface Listener {
  /** Called with each update, in the order they were read. */
  update(u: RoomUpdate): void
}

/**
 * Follows the store and says what changed. Every `pollMs` it asks SQLite's data_version
 * (another connection committed?) and only then reads: the records after the last one it
 * covered, the host rows (compared with what it sent: only changed rows go out), and the
 * steps of the hosts whose records moved them. With no page open it reads nothing; the
 * first page that connects brings it up to date (baseline) before its own first read.
 */
export class RoomPoller {
  private lastId = 0
  private version = -1
  private hostKeys = new Map<string, string>()
  private hostRuns = new Map<string, string | null>()
  private roomKey = ''
  /** The store moved while nobody listened: the keys are stale. */
  private stale = true
  private more = false
  private busy = false
  /** The store's hostsKey() and the time at the last whole read. */
  private hostsKey = ''
  private reportAt = 0
  /** The host rows of the last whole read (names of the hosts output comes from). */
  private rows: readonly HostRow[] = []
  private timer?: NodeJS.Timeout
  readonly listeners = new Set<Listener>()

  constructor(
    private readonly store: FleetStore,
    private readonly reports: RoomReports,
    private readonly pollMs: number,
  ) {}

  start(): void {
    const loop = () => {
      this.timer = setTimeout(() => {
        this.poll()
          .catch((e) => process.stderr.write(`fleet dashboard: reading the store failed: ${(e as Error).message}\n`))
          .finally(() => this.timer && loop())
      }, this.more ? 0 : this.pollMs)
    }
    loop()
  }

  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** One poll: nothing unless the store changed (or more records wait). */
  async poll(): Promise<void> {
    if (this.busy) return
    const version = this.store.dataVersion()
    if (version === this.version && !this.more) return
    if (this.listeners.size === 0) {
      this.version = version
      this.stale = true
      this.more = false
      return
    }
    this.busy = true
    try {
      // Most of a live room's commits are output alone: sent as it is, no report rebuilt.
      const seenQuick = this.store.dataVersion()
      const quick = this.store.readTx(() => this.readOutput())
      if (quick !== false) {
        this.version = seenQuick
        if (quick) for (const l of this.listeners) l.update(quick)
        return
      }
      const inputs = await this.reports.inputs()
      // From here to the sends, nothing waits: what is read is one moment, sent in order.
      // The version is taken first and kept only once the read worked (else the next poll tries again).
      const seen = this.store.dataVersion()
      const update = this.store.readTx(() => this.read(inputs))
      this.version = seen
      if (update) for (const l of this.listeners) l.update(update)
    } finally {
      this.busy = false
    }
  }

  /** Sets the keys from a whole read, so the next poll sends only what changes after it (synchronous). */
  baseline(snap: RoomSnapshot & {rows: HostRow[]}): void {
    this.lastId = snap.id
    this.hostKeys = new Map(snap.report.hosts.map((h) => [h.name, changeKey(h)]))
    this.hostRuns = new Map(snap.report.hosts.map((h) => [h.name, h.agent_run]))
    this.roomKey = changeKey(roomFigures(snap.report))
    this.stale = false
    this.more = false
  }

  /** A whole read for a new listener (and the baseline with it, when needed). Call inside a read transaction. */
  snapshot(inputs: ReportInputs): RoomSnapshot & {rows: HostRow[]} {
    const snap = readSnapshot(this.store, this.reports, inputs)
    if (this.stale) this.baseline(snap)
    return snap
  }

  /**
   * What a page that saw everything up to `afterId` missed: the records after it (their
   * output, and the cells of the hosts they moved) and every host row as it is now. Undefined
   * when a snapshot serves better (too much missed, or an id from another store). Call inside
   * a read transaction.
   */
  catchUp(inputs: ReportInputs, afterId: number): RoomUpdate | undefined {
    const max = this.store.maxEventId()
    if (afterId > max || max - afterId > CATCH_UP_MAX) return undefined
    if (this.stale) this.snapshot(inputs) // sets the baseline
    const {rows, report} = this.reports.report(inputs)
    const {touched, output} = digestEvents(this.store.eventsAfter(afterId, max - afterId), rows)
    return {id: max, room: roomFigures(report), hosts: report.hosts, steps: readCells(this.store, rows, touched, inputs.now), output}
  }

  /**
   * The quick read: when the records since the last read are output only and the host rows
   * show what they showed, the update is that output. False when a whole read is needed (a
   * step started or ended, a host changed, or the report is REPORT_EVERY_MS old).
   */
  private readOutput(): RoomUpdate | undefined | false {
    if (this.stale || Date.now() - this.reportAt > REPORT_EVERY_MS) return false
    const events = this.store.eventsAfter(this.lastId, EVENTS_PER_POLL)
    if (events.some((e) => e.type !== 'output') || this.store.hostsKey() !== this.hostsKey) return false
    if (!events.length) return undefined
    const {output} = digestEvents(events, this.rows)
    this.lastId = events[events.length - 1].id
    this.more = events.length === EVENTS_PER_POLL
    return output.length ? {id: this.lastId, output} : undefined
  }

  /** What changed since the last read. Nothing is kept until all of it was read, so a read that fails is done again whole. */
  private read(inputs: ReportInputs): RoomUpdate | undefined {
    const hostsKey = this.store.hostsKey()
    const events = this.store.eventsAfter(this.lastId, EVENTS_PER_POLL)
    const id = events.length ? events[events.length - 1].id : this.lastId
    const {rows, report} = this.reports.report(inputs)
    const {touched, output} = digestEvents(events, rows)
    const hosts: StatusHost[] = []
    const keys = new Map<string, string>()
    const runs = new Map<string, string | null>()
    const byName = new Map(rows.map((h) => [h.name, h.id]))
    for (const h of report.hosts) {
      const key = changeKey(h)
      if (this.hostKeys.get(h.name) === key) continue
      keys.set(h.name, key)
      hosts.push(h)
      // A host given another agent run: its cells are that run's from now on.
      if (this.hostRuns.get(h.name) !== h.agent_run) {
        runs.set(h.name, h.agent_run)
        touched.add(byName.get(h.name)!)
      }
    }
    const room = roomFigures(report)
    const roomKey = changeKey(room)
    const roomChanged = roomKey !== this.roomKey
    const update: RoomUpdate = {id}
    if (roomChanged) update.room = room
    if (hosts.length) update.hosts = hosts
    if (touched.size) update.steps = readCells(this.store, rows, touched, inputs.now)
    if (output.length) update.output = output
    // All read: keep it.
    for (const [k, v] of keys) this.hostKeys.set(k, v)
    for (const [k, v] of runs) this.hostRuns.set(k, v)
    this.roomKey = roomKey
    this.hostsKey = hostsKey
    this.reportAt = Date.now()
    this.rows = rows
    this.lastId = id
    this.more = events.length === EVENTS_PER_POLL
    return hosts.length || touched.size || output.length || roomChanged ? update : undefined
  }
}
