import {isFull, type CacheFigures} from '../room-cache/status.js'
import {formatBytes} from './bytes.js'
import {columns} from './columns.js'

/*
 * `fleet cache status` as text: one row per protocol (requests, answered from the cache, hit
 * ratio, bytes to hosts, bytes from upstream), then each cache's disk against its cap.
 */

const ratio = (part: number, whole: number) => (whole > 0 ? `${Math.round((100 * part) / whole)}%` : '-')

export function cacheStatusText(host: string, address: string, f: CacheFigures): string {
  const row = (name: string, c: CacheFigures['http']) => [name, String(c.requests), String(c.hits), ratio(c.hits, c.requests), formatBytes(c.bytes_served), formatBytes(c.bytes_upstream)]
  const table = columns(['protocol', 'requests', 'from cache', 'hit ratio', 'to hosts', 'from upstream'], [row('http (pip, images)', f.http), row('apt', f.apt), ['git', String(f.git.requests), '-', '-', '-', '-']])
  const disks = (['apt', 'http'] as const).map((k) => {
    const d = f.disk[k]
    return `${k} cache: ${formatBytes(d.used)} of ${formatBytes(d.cap)}${isFull(d) ? ' - full: not caching new objects (raise cache_max_gb in --cache-vars and prepare again)' : ''}`
  })
  return `Room cache ${host} (${address})\n${table}\n${disks.join('\n')}\n`
}
