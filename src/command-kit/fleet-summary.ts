import type {RoomSummary} from '../orchestrator/room-run.js'
import {countsLine} from '../ui/status-view.js'

/** The closing lines of prepare/cleanup; the exit code is 0 only when every host is ok. */
export function printSummary(verb: string, s: RoomSummary, json: boolean): number {
  const ok = s.counts.ok === s.hosts && s.notStarted.length === 0
  if (json) {
    process.stdout.write(JSON.stringify({ok, ...s}) + '\n')
    return ok ? 0 : 1
  }
  const lines = ['', `${verb}: ${s.counts.ok} of ${s.hosts} hosts ok.  ${countsLine(s.counts)}`]
  if (s.cache) lines.push(`Room cache ${s.cache.name} (${s.cache.address}): ${s.cache.state}${s.cache.error ? `: ${s.cache.error}` : ''}.`)
  if (s.stoppedBecause) lines.push(`Stopped early: ${s.stoppedBecause}.`)
  if (s.notStarted.length) lines.push(`Not started: ${s.notStarted.join(', ')}.`)
  for (const f of s.failed.filter((x) => !s.notStarted.includes(x.name))) lines.push(`  ${f.name}: ${f.state}${f.error ? `: ${f.error}` : ''}`)
  if (!ok) lines.push('Details: fleet status (--host NAME for one host); retry: the same command with --only failed.')
  process.stdout.write(lines.join('\n') + '\n')
  return ok ? 0 : 1
}
