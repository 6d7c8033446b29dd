// The room cache: `fleet prepare` of a room whose playbook fetches one artifact per host (and
// its SHA256SUMS) from an upstream throttled like a venue's uplink (one shared link of
// MBIT Mbit/s, every connection through it), with a cache host (role=cache: the cache is
// prepared cold, warmed, the hosts pointed at it) and without (every host from upstream).
// Reported: wall time of the whole command and bytes the upstream sent, with against without.
// Real OpenSSH loopback hosts, real apt-cacher-ng / nginx / git daemon (needs root).
import {spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {startLocalHosts} from '../testbed/index.js'
import {packageRoot} from '../src/remote-agent/local-agent.js'
import {resetHost} from './fanout.js'
import {timed} from './proc.js'

export interface RoomCacheOptions {
  /** Room sizes (hosts besides the cache host). */
  sizes: number[]
  mbit: number
  /** The artifact each host fetches, bytes. */
  artifactBytes: number
  prefix?: string
  log?: (line: string) => void
}

export interface RoomCacheResult {
  hosts: number
  mbit: number
  artifactBytes: number
  withMs: number
  withoutMs: number
  upstreamWith: number
  upstreamWithout: number
}

const CHUNK = 64 * 1024
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

/** One link of `mbit` Mbit/s shared by every response: each chunk waits for its turn on it. */
function throttledUpstream(files: Map<string, Buffer>, mbit: number): {server: Server; sent: () => number; reset: () => void} {
  const bytesPerMs = (mbit * 1e6) / 8 / 1000
  let linkFreeAt = 0
  let sent = 0
  const server = createServer((req, res) => {
    const body = files.get((req.url ?? '').split('?')[0]!)
    if (!body) {
      res.writeHead(404)
      res.end()
      return
    }
    res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': body.length})
    let off = 0
    const next = () => {
      if (off >= body.length) return void res.end()
      const chunk = body.subarray(off, off + CHUNK)
      off += chunk.length
      const now = Date.now()
      linkFreeAt = Math.max(now, linkFreeAt) + chunk.length / bytesPerMs
      setTimeout(() => {
        sent += chunk.length
        if (res.write(chunk)) next()
        else res.once('drain', next)
      }, Math.max(0, linkFreeAt - now))
    }
    next()
  })
  return {server, sent: () => sent, reset: () => (sent = 0)}
}

export async function roomCacheBench(opts: RoomCacheOptions): Promise<RoomCacheResult[]> {
  const log = opts.log ?? (() => undefined)
  const fleetBin = join(packageRoot(), 'dist/fleet/fleet.mjs')
  const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-room-'))
  chmodSync(dir, 0o755)
  const work = join(dir, 'work')
  const artifact = randomBytes(opts.artifactBytes)
  const files = new Map([
    ['/files/image.img', artifact],
    ['/files/SHA256SUMS', Buffer.from(`${sha256(artifact)} *image.img\n`)],
  ])
  const up = throttledUpstream(files, opts.mbit)
  await new Promise<void>((r) => up.server.listen(0, '127.0.0.1', r))
  const base = `http://127.0.0.1:${(up.server.address() as AddressInfo).port}`
  const max = Math.max(...opts.sizes)
  const set = await startLocalHosts({count: 1 + max, prefix: opts.prefix ?? 'frcb'})
  const results: RoomCacheResult[] = []
  try {
    // The first host is the cache host (its line gets role=cache), the rest the room.
    const clients = set.hosts.slice(1)
    const lines = set.hostsFileText().trim().split('\n')
    const playbook = join(dir, 'room.yaml')
    writeFileSync(
      playbook,
      `name: room
vars:
  image_url: ${base}/files/image.img
  image_sums_url: ${base}/files/SHA256SUMS
  out: "{{ facts.home }}/room-out"
artifacts:
  - {var: image_url, kind: http, checksum_var: image_sums_url}
steps:
  - id: fetch-image
    timeout: 3600
    run: |
      rm -rf {{ out }} && mkdir -p {{ out }} && cd {{ out }}
      curl -fsS -o image.img {{ image_url }} && curl -fsS -o SHA256SUMS {{ image_sums_url }}
      sha256sum -c --ignore-missing SHA256SUMS
`,
    )
    const cacheVars = join(dir, 'cache-vars.yaml')
    writeFileSync(
      cacheVars,
      ['cache_max_gb: 2', 'apt_port: 3144', 'http_port: 8144', 'git_port: 9420', `work_dir: ${work}`, 'apt_conf: "{{ facts.home }}/room-etc/apt.conf"', 'apt_proxy_script: "{{ facts.home }}/room-etc/apt-proxy"', 'pip_conf: "{{ facts.home }}/room-etc/pip.conf"', 'gitconfig: "{{ facts.home }}/room-etc/gitconfig"', 'state_dir: "{{ facts.home }}/room-etc/state"', ''].join('\n'),
    )
    for (const n of opts.sizes) {
      const room = clients.slice(0, n)
      const withoutHosts = join(dir, `hosts-${n}-without.txt`)
      const withHosts = join(dir, `hosts-${n}-with.txt`)
      writeFileSync(withoutHosts, lines.slice(1, 1 + n).join('\n') + '\n')
      writeFileSync(withHosts, [`${lines[0]} role=cache`, ...lines.slice(1, 1 + n)].join('\n') + '\n')
      const prepare = (hosts: string, db: string, extra: string[]) => timed([process.execPath, fleetBin, 'prepare', '--hosts', hosts, '--db', db, '--playbook', playbook, '--connect-timeout', '60', '--json', ...extra])
      const check = (what: string) => {
        for (const h of room) if (sha256(readFileSync(join(h.home, 'room-out/image.img'))) !== sha256(artifact)) throw new Error(`${what}: ${h.name} did not get the artifact whole`)
      }

      for (const h of set.hosts) resetHost(h)
      up.reset()
      log(`room cache: ${n} hosts without the cache`)
      const without = await prepare(withoutHosts, join(dir, `without-${n}.db`), [])
      check('without the cache')
      const upstreamWithout = up.sent()

      for (const h of set.hosts) resetHost(h)
      up.reset()
      log(`room cache: ${n} hosts with a cold cache`)
      const withCache = await prepare(withHosts, join(dir, `with-${n}.db`), ['--cache-vars', cacheVars])
      check('with the cache')
      const upstreamWith = up.sent()
      // The next size starts from a cold cache too.
      await timed([process.execPath, fleetBin, 'cleanup', '--hosts', withHosts, '--db', join(dir, `with-${n}.db`), '--playbook', playbook, '--cache-vars', cacheVars, '--connect-timeout', '60', '--json'])
      results.push({hosts: n, mbit: opts.mbit, artifactBytes: opts.artifactBytes, withMs: withCache.ms, withoutMs: without.ms, upstreamWith, upstreamWithout})
      log(`room cache: ${n} hosts: ${(withCache.ms / 1000).toFixed(1)} s with, ${(without.ms / 1000).toFixed(1)} s without; upstream ${upstreamWith} vs ${upstreamWithout} bytes`)
    }
  } finally {
    // A run that failed half-way may leave the cache's file system mounted.
    if (existsSync(work)) for (const m of readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes(` ${work}/`))) spawnSync('umount', [m.split(' ')[1]!])
    await set.stop()
    await new Promise<void>((r) => up.server.close(() => r()))
    rmSync(dir, {recursive: true, force: true})
  }
  return results
}
