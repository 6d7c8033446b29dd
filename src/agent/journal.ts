import {closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync} from 'node:fs'
import {PROTOCOL_VERSION, splitRecords, type JournalRecord, type RecordBody} from '../protocol/index.js'

/** Read every complete record of a journal; a torn last line (crash mid-write) is ignored. */
export function readJournal(path: string): JournalRecord[] {
  if (!existsSync(path)) return []
  return splitRecords(readFileSync(path, 'utf8')).records
}

/**
 * Appends records to a run's JSONL journal. Sequence numbers continue from
 * what is already there, so a resumed run's records follow the killed one's.
 * Records are written as they happen; fsync happens at step boundaries
 * (`sync()`), which bounds the cost per step to one flush.
 */
export class JournalWriter {
  private fd: number
  private seq: number
  private listeners: Array<(r: JournalRecord) => void> = []

  constructor(readonly path: string, readonly run: string) {
    this.fd = openSync(path, 'a+', 0o600)
    const text = readFileSync(path, 'utf8')
    const {records, rest} = splitRecords(text)
    if (rest !== '') ftruncateSync(this.fd, Buffer.byteLength(text) - Buffer.byteLength(rest))
    this.seq = records.at(-1)?.seq ?? 0
  }

  get lastSeq(): number {
    return this.seq
  }

  onRecord(listener: (r: JournalRecord) => void): void {
    this.listeners.push(listener)
  }

  append(body: RecordBody): JournalRecord {
    const record = {v: PROTOCOL_VERSION, seq: ++this.seq, ts: new Date().toISOString(), run: this.run, ...body} as JournalRecord
    writeSync(this.fd, JSON.stringify(record) + '\n')
    for (const l of this.listeners) l(record)
    return record
  }

  sync(): void {
    fsyncSync(this.fd)
  }

  close(): void {
    this.sync()
    closeSync(this.fd)
  }
}
