import {journalRecord, PROTOCOL_VERSION, type JournalRecord} from './records.js'
import {ProtocolError} from './constants.js'
import {splitLines} from './split-lines.js'

export {ProtocolError}

/** Parse one NDJSON line into a record, or throw a ProtocolError that says why. */
export function parseRecord(line: string): JournalRecord {
  let raw: unknown
  try {
    raw = JSON.parse(line)
  } catch {
    throw new ProtocolError(`not a JSON record: ${line.slice(0, 80)}`)
  }
  const v = (raw as {v?: unknown})?.v
  if (typeof v === 'number' && v > PROTOCOL_VERSION) {
    throw new ProtocolError(`record has protocol version ${v}, newer than this side's ${PROTOCOL_VERSION}; update fleet`)
  }
  const parsed = journalRecord.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new ProtocolError(`invalid record (${issue?.path.join('.') || 'record'}: ${issue?.message}): ${line.slice(0, 80)}`)
  }
  return parsed.data
}

/**
 * Split a chunk of NDJSON text into complete records. The incomplete tail
 * (a record still being written, or cut by a crash) is returned as `rest`.
 */
export function splitRecords(text: string): {records: JournalRecord[]; rest: string} {
  return splitLines(text, parseRecord)
}
