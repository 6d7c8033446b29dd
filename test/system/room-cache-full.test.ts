/**
 * The room cache when its disks are full (issue 15): each cache (apt-cacher-ng's, nginx's) is a
 * file system of its own of cache_max_gb, here 24 MB, and is filled up to the last block. Then
 * a host's downloads through it either come whole and right or fail; never a short or wrong
 * file with success; `fleet cache status` says each cache is full, and a host asking again after
 * space is back gets the object whole. Real apt-cacher-ng and nginx on a loopback host, real
 * loop-mounted ext4 file systems (root). FLEET_SKIP_SYSTEM=1 skips it.
 */
import {spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startLocalHosts, type LocalHost, type LocalHostSet} from '../../testbed/index.js'
import {requireBinary} from '../../testbed/libvirt/libvirt-daemon.js'
import {fleet} from '../helpers/fleet-cli.js'
import {asUser, tearDownRoom} from '../helpers/room-upstream.js'

const skip = process.platform !== 'linux' || process.env.FLEET_SKIP_SYSTEM === '1'
const APT_PORT = 3145
const HTTP_PORT = 8145
const GIT_PORT = 9421
const OBJECT_BYTES = 8 * 1024 * 1024

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

describe.skipIf(skip)('the room cache with full disks: right or refused, never truncated; fleet cache status says full', () => {
  let set: LocalHostSet
  let cacheHost: LocalHost
  let client: LocalHost
  let dir = ''
  let work = ''
  let db = ''
  let hostsFile = ''
  let vars = ''
  let upstream: Server | undefined
  let prepared = false
  const object = randomBytes(OBJECT_BYTES)
  const requests: Record<string, number> = {}

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this system test needs root (loop-mounted file systems, the cache playbook); run it as root or set FLEET_SKIP_SYSTEM=1')
    for (const bin of ['apt-get', 'apt-cache', 'curl', 'mount', 'losetup', 'dd']) requireBinary(bin)
    dir = mkdtempSync(join(tmpdir(), 'fleet-cache-full-'))
    chmodSync(dir, 0o755)
    work = join(dir, 'work')
    db = join(dir, 'fleet.db')
    upstream = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0]!
      requests[path] = (requests[path] ?? 0) + 1
      if (path !== '/files/object.bin') {
        res.writeHead(404)
        res.end()
        return
      }
      res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': object.length})
      res.end(object)
    })
    await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', r))
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
    set = await startLocalHosts({count: 2, prefix: 'fleet-cf'})
    ;[cacheHost, client] = set.hosts as [LocalHost, LocalHost]
    hostsFile = join(dir, 'hosts.txt')
    writeFileSync(hostsFile, `${set.hostsFileText().trim().split('\n')[0]}\n`)
    vars = join(dir, 'cache.yaml')
    writeFileSync(
      vars,
      [
        `cache_address: ${cacheHost.address}`,
        'cache_max_gb: 0.0234375', // 24 MB
        `apt_port: ${APT_PORT}`,
        `http_port: ${HTTP_PORT}`,
        `git_port: ${GIT_PORT}`,
        `work_dir: ${work}`,
        'http_upstreams:',
        `  - {path: files, url: "${base}/files/"}`,
        'git_repos: []',
        '',
      ].join('\n'),
    )
  }, 180_000)

  afterAll(async () => {
    try {
      if (prepared && existsSync(work)) await fleet(['cleanup', '--hosts', hostsFile, '--db', db, '--playbook', 'cache', '--vars', vars, '--connect-timeout', '60'])
    } finally {
      await tearDownRoom({set, upstream, dir, work})
    }
  })

  it('fills both caches; what the host gets is whole or refused; status says full; with space back the object comes whole', {timeout: 600_000}, async () => {
    prepared = true
    const r = await fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', 'cache', '--vars', vars, '--connect-timeout', '60'])
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
    const mounts = readFileSync('/proc/mounts', 'utf8')
    for (const fs of ['apt/cache', 'http/cache']) expect(mounts, fs).toContain(` ${join(work, fs)} ext4 `)
    expect(readFileSync(join(work, 'http/nginx.conf'), 'utf8')).toMatch(/max_size=22m/)

    // Fill each cache's file system to its last block (as thirty hosts' downloads would): dd writes until ENOSPC.
    for (const fs of ['apt/cache', 'http/cache']) spawnSync('dd', ['if=/dev/zero', `of=${join(work, fs, 'filler')}`, 'bs=1M', 'count=64'], {stdio: 'ignore'})

    // The host's downloads: whole and right, or failing; never success with a short or wrong file.
    const url = `http://${cacheHost.address}:${HTTP_PORT}/files/object.bin`
    const http = await asUser(client, client.home, `rm -f obj && curl -fsS -o obj ${url}; echo "exit=$?"`)
    const exit = Number(/exit=(\d+)/.exec(http.stdout)?.[1])
    const got = existsSync(join(client.home, 'obj')) ? readFileSync(join(client.home, 'obj')) : Buffer.alloc(0)
    if (exit === 0) expect(sha256(got), 'a download through the full cache that succeeded is whole').toBe(sha256(object))
    else expect(got.length === OBJECT_BYTES && sha256(got) === sha256(object), `curl failed (${exit}): its partial file is not taken for the object`).toBe(false)
    const deb = await asUser(client, client.home, `mkdir -p debs && cd debs && rm -f ./*.deb && apt-get -q download -o Acquire::http::Proxy=http://${cacheHost.address}:${APT_PORT}/ hello; echo "exit=$?"`)
    const debExit = Number(/exit=(\d+)/.exec(deb.stdout)?.[1])
    const want = /^SHA256: ([0-9a-f]{64})$/m.exec(spawnSync('apt-cache', ['show', '--no-all-versions', 'hello'], {encoding: 'utf8'}).stdout)?.[1]
    const debs = spawnSync('sh', ['-c', `ls ${client.home}/debs/*.deb 2>/dev/null`], {encoding: 'utf8'}).stdout.trim().split('\n').filter(Boolean)
    if (debExit === 0) expect(debs.map((f) => sha256(readFileSync(f)))).toEqual([want])
    else expect(debs, 'a failed apt-get download leaves no .deb').toEqual([])

    // fleet cache status: both caches full.
    const hostsWithRole = join(dir, 'hosts-role.txt')
    writeFileSync(hostsWithRole, `${readFileSync(hostsFile, 'utf8').trim()} role=cache\n`)
    const statusVars = join(dir, 'status-vars.yaml')
    writeFileSync(statusVars, `work_dir: ${work}\n`)
    const st = await fleet(['cache', 'status', '--hosts', hostsWithRole, '--db', db, '--cache-vars', statusVars, '--json'])
    expect(st.code, st.stderr).toBe(0)
    const j = JSON.parse(st.stdout) as {full: {apt: boolean; http: boolean}}
    expect(j.full, st.stdout).toEqual({apt: true, http: true})
    const table = await fleet(['cache', 'status', '--hosts', hostsWithRole, '--db', db, '--cache-vars', statusVars])
    expect(table.stdout).toMatch(/^apt cache: .* - full: not caching new objects/m)
    expect(table.stdout).toMatch(/^http cache: .* - full: not caching new objects/m)

    // Space back: the object comes whole, and from the cache the second time.
    for (const fs of ['apt/cache', 'http/cache']) rmSync(join(work, fs, 'filler'), {force: true})
    const before = requests['/files/object.bin'] ?? 0
    for (let i = 0; i < 2; i++) {
      const again = await asUser(client, client.home, `rm -f obj && curl -fsS -o obj ${url}`)
      expect(again.code, again.stderr).toBe(0)
      expect(sha256(readFileSync(join(client.home, 'obj')))).toBe(sha256(object))
    }
    expect(requests['/files/object.bin']).toBe(before + 1)
  })
})
