/**
 * Following an agent's journal over a transport that hands output over only
 * when a command ends (AWS SSM Run Command): instead of one `agent follow` that
 * lasts the whole run, short polls that each return the records after the last
 * stored seq, with backoff while nothing new comes. Storing a record twice is
 * harmless, so a poll that is repeated after a failure loses and duplicates nothing.
 */
import {EXIT, splitRecords, statusAnswerState, type JournalRecord} from '../protocol/index.js'
import {pollCommand} from '../remote-agent/shell-commands.js'
import type {Transport} from '../transport/types.js'

export interface PollFollowOptions {
  node: string
  bundleHash: string
  run: string
  /** The last seq stored for this run (0 for none). */
  from: () => number
  ingest: (records: JournalRecord[]) => void
  /** Wait between polls: back to minMs after new records, growing 1.5x to maxMs while there are none. */
  minMs?: number
  maxMs?: number
}

/** Poll until the run ended (its exit code: ok, failed, abandoned) or stopped without ending (EXIT.interrupted). */
export async function pollFollow(t: Transport, o: PollFollowOptions): Promise<number> {
  const min = o.minMs ?? 1000
  const max = o.maxMs ?? 8000
  let delay = min
  for (;;) {
    const r = await t.exec(pollCommand(o.node, o.bundleHash, o.run, o.from()), {timeoutMs: 120_000})
    const {records} = splitRecords(r.stdout)
    if (records.length) o.ingest(records)
    if (r.code !== EXIT.interrupted) return r.code ?? EXIT.interrupted
    // The poll printed nothing and `agent status` says the run stopped without ending.
    if (!records.length && statusAnswerState(r.stderr) === 'interrupted') return EXIT.interrupted
    delay = records.length ? min : Math.min(max, delay * 1.5)
    await new Promise((resolve) => setTimeout(resolve, delay))
  }
}
