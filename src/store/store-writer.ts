import type {HostEvent, HostListener, HostRef} from '../events/host-events.js'
import type {JournalRecord} from '../protocol/index.js'
import type {FleetStore} from './store.js'

/** What the room's hosts told in the last BATCH_MS goes into the store in one transaction. */
const BATCH_RECORDS = 500
const BATCH_MS = 100

/** One write, in the order its event came: a host's records, its state, key or agent run. */
type Write = {host: HostRef; records: JournalRecord[]} | {host: HostRef; event: Exclude<HostEvent, {kind: 'records' | 'note' | 'done'}>}

/**
 * The listener that records a fleet run in the store: host states, host keys, the agent
 * run each host follows, and journal records. Writes wait up to BATCH_MS and then go in
 * together, every host's, in one transaction: a commit costs about the same for one row as
 * for hundreds, and per host and event it was most of what the store cost a run. Order is
 * kept (a state never lands before the records that came ahead of it); `flush(host)` writes
 * at once when that host has something waiting, for a caller about to read it back. A write
 * that fails in the timer (the disk full) goes to `fail`, which stops the run.
 */
export class StoreWriter implements HostListener {
  private queue: Write[] = []
  private readonly waiting = new Set<number>()
  private queuedRecords = 0
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly store: FleetStore,
    private readonly fail: (e: unknown) => void,
  ) {}

  onEvent(e: HostEvent): void {
    if (e.kind === 'note' || e.kind === 'done') return
    if (e.kind === 'records') {
      if (!e.records.length) return
      const last = this.queue.at(-1)
      if (last && 'records' in last && last.host.id === e.host.id) last.records.push(...e.records)
      else this.queue.push({host: e.host, records: [...e.records]})
      this.queuedRecords += e.records.length
    } else this.queue.push({host: e.host, event: e})
    this.waiting.add(e.host.id)
    if (this.queuedRecords >= BATCH_RECORDS) this.writeAll()
    else
      this.timer ??= setTimeout(() => {
        try {
          this.writeAll()
        } catch (err) {
          this.fail(err) // in a timer a throw would end the process with a stack trace
        }
      }, BATCH_MS)
  }

  flush(host: HostRef): void {
    if (this.waiting.has(host.id)) this.writeAll()
  }

  close(): void {
    this.writeAll()
  }

  private writeAll(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    const queue = this.queue
    this.queue = []
    this.waiting.clear()
    this.queuedRecords = 0
    if (!queue.length) return
    this.store.writeTx(() => {
      for (const w of queue) {
        if ('records' in w) this.store.ingest(w.host.id, w.records)
        else if (w.event.kind === 'state') this.store.setHostState(w.host.id, w.event.state, w.event.error)
        else if (w.event.kind === 'host-key') this.store.setHostKey(w.host.id, w.event.key)
        else this.store.setAgentRun(w.host.id, w.event.run, w.event.mode)
      }
    })
  }
}
