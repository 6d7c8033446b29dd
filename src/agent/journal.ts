import {closeSync, existsSync, fsync, fsyncSync, ftruncateSync, openSync, readFileSync} from 'node:fs'
import {PROTOCOL_VERSION} from '../protocol/constants.js'
import type {JournalRecord, RecordBody} from '../protocol/records.js'
// The agent's own lines: cheap checks, not the schema (see parseOwnRecord).
import {splitOwnRecords as splitRecords} from '../protocol/split-lines.js'
import {DiskFullError, isNoSpace, onDisk, writeAll} from './disk-full.js'

/** Read every complete record of a journal; a torn last line (crash mid-write) is ignored. */
export function readJournal(path: string): JournalRecord[] {
  if (!existsSync(path)) return []
  return splitRecords(readFileSync(path, 'utf8')).records
}

/**
 * Appends records to a run's JSONL journal. Sequence numbers continue from
 * what is already there, so a resumed run's records follow the killed one's.
 * Records are written as they happen; fsync happens at step boundaries,
 * which bounds the cost per step to one flush. A step boundary's flush runs
 * behind the next step (`syncBehind()`, a group commit): the next step does not
 * wait for the disk, and what a crash can lose is the end of the step before
 * the one going on, which the resumed run runs again as it would the one going
 * on. Where a record must be on the disk before the agent goes on (a reboot,
 * the run's end, a signal) it calls `sync()`.
 *
 * The journal always ends with a whole record: a torn last line (a crash
 * mid-write) is cut off when it is opened, and a record the full disk cut
 * short is taken back at once (DiskFullError), its seq unused, so the records
 * written after space was found again follow on a line of their own.
 */
export class JournalWriter {
  private fd: number
  private seq: number
  /** Bytes of whole records: where the journal ends. */
  private size: number
  /** A torn record could not be taken back: appending more would glue a record to it. */
  private torn = false
  private listeners: Array<(r: JournalRecord) => void> = []
  /** The step started and not yet ended by this writer, if any (a run stopped by the disk ends it). */
  openStep: {id: string; since: number} | undefined
  /** Whether this writer wrote a run-end (a run-end the disk refused was not written). */
  ended = false
  /** An fsync is running on libuv's pool (syncBehind); `again`: asked for again while it ran. */
  private flush: {again: boolean; waiters: Array<() => void>} | undefined
  /** What the last fsync behind failed with: thrown by the next sync or syncBehind. */
  private flushError: unknown
  /** close() came while an fsync was running: the fd is closed when it ends (not under it). */
  private closing = false

  constructor(readonly path: string, readonly run: string) {
    this.fd = onDisk(path, () => openSync(path, 'a+', 0o600))
    const text = readFileSync(path, 'utf8')
    const {records, rest} = splitRecords(text)
    this.size = Buffer.byteLength(text) - Buffer.byteLength(rest)
    if (rest !== '') ftruncateSync(this.fd, this.size)
    this.seq = records.at(-1)?.seq ?? 0
  }

  get lastSeq(): number {
    return this.seq
  }

  onRecord(listener: (r: JournalRecord) => void): void {
    this.listeners.push(listener)
  }

  append(body: RecordBody): JournalRecord {
    const record = {v: PROTOCOL_VERSION, seq: this.seq + 1, ts: new Date().toISOString(), run: this.run, ...body} as JournalRecord
    const line = Buffer.from(JSON.stringify(record) + '\n')
    if (this.torn) throw new DiskFullError(this.path)
    try {
      writeAll(this.fd, line, this.path)
    } catch (e) {
      try {
        ftruncateSync(this.fd, this.size)
      } catch {
        this.torn = true
      }
      throw e
    }
    this.seq++
    this.size += line.length
    if (record.type === 'step-start') this.openStep = {id: record.step, since: Date.now()}
    else if (record.type === 'step-end') this.openStep = undefined
    else if (record.type === 'run-end') this.ended = true
    for (const l of this.listeners) l(record)
    return record
  }

  sync(): void {
    this.takeFlushError()
    onDisk(this.path, () => fsyncSync(this.fd))
  }

  /** fsync without waiting for it; an fsync already running is followed by one more. */
  syncBehind(): void {
    this.takeFlushError()
    if (this.flush) this.flush.again = true
    else this.startFlush()
  }

  /** Whether an fsync behind is running. */
  get flushing(): boolean {
    return this.flush !== undefined
  }

  /** Resolves when no fsync behind is running. */
  flushed(): Promise<void> {
    return new Promise((resolve) => (this.flush ? this.flush.waiters.push(resolve) : resolve()))
  }

  close(): void {
    try {
      this.sync()
    } finally {
      if (this.flush) this.closing = true
      else closeSync(this.fd)
    }
  }

  private startFlush(): void {
    const flush = (this.flush ??= {again: false, waiters: []})
    fsync(this.fd, (err) => {
      if (err) this.flushError ??= err
      if (flush.again && !this.closing && !err) {
        flush.again = false
        this.startFlush()
        return
      }
      this.flush = undefined
      if (this.closing) closeSync(this.fd)
      for (const w of flush.waiters) w()
    })
  }

  private takeFlushError(): void {
    const err = this.flushError
    if (err === undefined) return
    this.flushError = undefined
    throw isNoSpace(err) ? new DiskFullError(this.path) : err
  }
}
