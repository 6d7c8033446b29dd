import {formatBytes} from '../ui/bytes.js'
import type {CollectSummary, HostLogs} from './collect.js'

/** One line per host, printed as it finishes. */
export function hostLine(h: HostLogs, nameWidth = 0): string {
  const what = `${h.files} file${h.files === 1 ? '' : 's'}, ${formatBytes(h.bytes)}`
  const notes = [
    h.missing?.length ? `${h.missing.length} declared path${h.missing.length === 1 ? '' : 's'} not on the host: ${h.missing.slice(0, 3).join(', ')}${h.missing.length > 3 ? ', ...' : ''}` : '',
    h.refused?.length ? `${h.refused.length} unsafe entr${h.refused.length === 1 ? 'y' : 'ies'} refused (${h.refused[0].path}: ${h.refused[0].reason})` : '',
    h.warnings?.length ? `tar: ${h.warnings[0]}${h.warnings.length > 1 ? ` (+${h.warnings.length - 1} more)` : ''}` : '',
  ].filter(Boolean)
  const name = h.name.padEnd(nameWidth)
  if (h.ok) return `${name}  ok      ${what}${notes.length ? `; ${notes.join('; ')}` : ''}`
  return `${name}  FAILED  ${h.error ?? 'unknown error'}${h.files ? ` (kept ${what})` : ''}${notes.length ? `; ${notes.join('; ')}` : ''}`
}

/** The closing lines; the exit code is 0 only when every host's logs were collected. */
export function summaryText(s: CollectSummary): {text: string; ok: boolean} {
  const good = s.hosts.filter((h) => h.ok).length
  const files = s.hosts.reduce((n, h) => n + h.files, 0)
  const bytes = s.hosts.reduce((n, h) => n + h.bytes, 0)
  const lines = ['', `collect-logs: ${good} of ${s.hosts.length} hosts collected (${files} files, ${formatBytes(bytes)}) into ${s.out}`]
  if (s.tar) lines.push(`Archive: ${s.tar}`)
  const failed = s.hosts.filter((h) => !h.ok)
  if (failed.length) lines.push(`Not collected: ${failed.map((h) => h.name).join(', ')}.`)
  return {text: lines.join('\n') + '\n', ok: failed.length === 0}
}
