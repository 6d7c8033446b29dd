/**
 * Following an agent's journal over a transport that hands output over only
 * when a command ends (AWS SSM Run Command): instead of one `agent follow` that
 * lasts the whole run, short polls that each return the records after the last
 * stored seq, with backoff while nothing new comes. Storing a record twice is
 * harmless, so a poll that is repeated after a failure loses and duplicates nothing.
 */
import {splitRecords, type JournalRecord} from '../protocol/index.js'
import type {Transport} from '../transport/types.js'
import {agentCommand} from './remote.js'

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

/**
 * One poll on the host: `agent follow --no-wait` prints the records after FROM
 * and exits with the run's status (3 while it has not ended). When it printed
 * nothing and the run has not ended, `agent status --json` on stderr tells a
 * run still going from one that stopped without ending (interrupted).
 */
export function pollCommand(node: string, bundleHash: string, run: string, from: number): string {
  const follow = agentCommand(node, bundleHash, 'follow', ['--run', run, '--from', String(from), '--no-wait'])
  const status = agentCommand(node, bundleHash, 'status', ['--run', run, '--json'])
  return [`f=$(mktemp) || exit 125`, `${follow} >"$f"; c=$?`, `cat "$f"`, `if [ "$c" = 3 ] && [ ! -s "$f" ]; then ${status} >&2; fi`, `rm -f "$f"`, `exit "$c"`].join('\n')
}

function interrupted(stderr: string): boolean {
  const line = stderr.split('\n').reverse().find((l) => l.trim().startsWith('{'))
  if (!line) return false
  try {
    return (JSON.parse(line) as {state?: string} | null)?.state === 'interrupted'
  } catch {
    return false
  }
}

/** Poll until the run ended (its exit code: 0 ok, 1 failed, 5 abandoned) or stopped without ending (3). */
export async function pollFollow(t: Transport, o: PollFollowOptions): Promise<number> {
  const min = o.minMs ?? 1000
  const max = o.maxMs ?? 8000
  let delay = min
  for (;;) {
    const r = await t.exec(pollCommand(o.node, o.bundleHash, o.run, o.from()), {timeoutMs: 120_000})
    const {records} = splitRecords(r.stdout)
    if (records.length) o.ingest(records)
    if (r.code !== 3) return r.code ?? 3
    if (!records.length && interrupted(r.stderr)) return 3
    delay = records.length ? min : Math.min(max, delay * 1.5)
    await new Promise((resolve) => setTimeout(resolve, delay))
  }
}
