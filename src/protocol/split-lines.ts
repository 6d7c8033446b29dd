import {PROTOCOL_VERSION, ProtocolError} from './constants.js'
import type {JournalRecord} from './records.js'

/**
 * Split a chunk of NDJSON text into complete lines, each made a record by `parse`. The
 * incomplete tail (a record still being written, or cut by a crash) is returned as `rest`.
 */
export function splitLines(text: string, parse: (line: string) => JournalRecord): {records: JournalRecord[]; rest: string} {
  const records: JournalRecord[] = []
  let start = 0
  for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
    const line = text.slice(start, nl)
    start = nl + 1
    if (line.trim() !== '') records.push(parse(line))
  }
  return {records, rest: text.slice(start)}
}

/**
 * A line of the agent's own journal, read back by the agent that wrote it (to resume a
 * run, to continue its seq): JSON, this protocol's version, a positive integer seq and a
 * type. The schema (parseRecord) is for what crosses to the other side, where fleet
 * checks every record in full; the agent's own lines need not pay for zod at every start.
 */
export function parseOwnRecord(line: string): JournalRecord {
  let r: {v?: unknown; seq?: unknown; type?: unknown; run?: unknown}
  try {
    r = JSON.parse(line)
  } catch {
    throw new ProtocolError(`not a JSON record: ${line.slice(0, 80)}`)
  }
  if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new ProtocolError(`invalid record (record): ${line.slice(0, 80)}`)
  if (typeof r.v === 'number' && r.v > PROTOCOL_VERSION) {
    throw new ProtocolError(`record has protocol version ${r.v}, newer than this side's ${PROTOCOL_VERSION}; update fleet`)
  }
  if (r.v !== PROTOCOL_VERSION || !Number.isInteger(r.seq) || (r.seq as number) <= 0 || typeof r.type !== 'string' || typeof r.run !== 'string') {
    throw new ProtocolError(`invalid record (v, seq, type, run): ${line.slice(0, 80)}`)
  }
  return r as JournalRecord
}

/** splitLines of the agent's own journal (parseOwnRecord). */
export function splitOwnRecords(text: string): {records: JournalRecord[]; rest: string} {
  return splitLines(text, parseOwnRecord)
}
