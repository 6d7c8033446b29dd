import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {z} from 'zod'
import {packageRoot} from '../remote-agent/local-agent.js'
import {shq} from '../shell/quote.js'

/*
 * `fleet cache status`: the room cache's own figures, read on the cache host by
 * playbooks/cache/files/stats.sh from its servers' logs (one JSON line): per protocol
 * requests, answered from the cache, bytes sent to hosts, bytes fetched upstream; and
 * each cache's disk use against its cap. Shown by src/ui/cache-status-view.ts.
 */

const counts = z.object({requests: z.number(), hits: z.number(), bytes_served: z.number(), bytes_upstream: z.number()})
const disk = z.object({used: z.number(), cap: z.number(), avail: z.number()})

export const cacheFigures = z.object({
  http: counts,
  apt: counts,
  git: z.object({requests: z.number()}),
  disk: z.object({apt: disk, http: disk}),
})
export type CacheFigures = z.infer<typeof cacheFigures>

/**
 * A cache file system with less than this share of it free takes no new objects
 * (apt-cacher-ng's downloads fail; nginx's writes fail before its max_size, 90 %, evicts): say so.
 */
export const FULL_BELOW = 0.05

export const isFull = (d: {avail: number; cap: number}) => d.cap > 0 && d.avail < FULL_BELOW * d.cap

/** The command that prints the figures on the cache host, the script on its stdin: as root where sudo allows (the logs are the servers'). */
export function statsCommand(workDir: string): {command: string; stdin: Buffer} {
  const script = readFileSync(join(packageRoot(), 'playbooks/cache/files/stats.sh'))
  const args = `-s -- ${shq(workDir)}`
  return {command: `if [ "$(id -u)" = 0 ] || ! sudo -n true 2>/dev/null; then exec bash ${args}; else exec sudo -n bash ${args}; fi`, stdin: script}
}

export function parseFigures(stdout: string): CacheFigures {
  const line = stdout.trim().split('\n').pop() ?? ''
  let json: unknown
  try {
    json = JSON.parse(line)
  } catch {
    throw new Error(`the cache host's figures are not JSON: ${line.slice(0, 200)}`)
  }
  return cacheFigures.parse(json)
}
