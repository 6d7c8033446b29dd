/**
 * The room cache (playbooks/cache.yaml, issue 15), for real on this machine: `fleet prepare
 * --playbook cache` on one loopback host (apt-cacher-ng and nginx from Debian's packages, git's
 * own git daemon, each bound to that host's address only), then 8 other loopback hosts fetch,
 * all at the same moment and each as its own user:
 *   - real Debian packages with `apt-get download` through Acquire::http::Proxy (from Debian's
 *     archive, through apt-cacher-ng; the machine's apt lists say what to expect);
 *   - one 64 MiB "image" and its .sha256 through nginx, from a local upstream HTTP server this
 *     test starts on loopback (it stands in for the internet, counts requests and bytes, and
 *     sends slowly, so the 8 requests overlap);
 *   - one git repository through git daemon (url.<cache>.insteadOf), from a bare upstream this
 *     test makes, which the hosts' users cannot read themselves.
 * Asserted: identical, checksum-valid files on every host; each .deb's body fetched from
 * upstream once (apt-cacher-ng's transfer log: I = from upstream, O = to a client); the image
 * requested from the upstream once (proxy_cache_lock); each clone at the upstream's HEAD.
 * Then `fleet cleanup` leaves no server running (pid files, listening ports) and none of the cache's files.
 *
 * Needs root, apt (the cache playbook installs apt-cacher-ng and nginx when they are missing:
 * Debian's mirror must answer) and loop devices. FLEET_SKIP_SYSTEM=1 skips it; a missing binary
 * is a failure, never a skip.
 */
import {spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startLocalHosts, type LocalHost, type LocalHostSet} from '../../testbed/index.js'
import {requireBinary} from '../../testbed/libvirt/libvirt-daemon.js'
import {fleet} from '../helpers/fleet-cli.js'
import {asUser, upstreamRepo as repoOf, tearDownRoom} from '../helpers/room-upstream.js'
import {liveWith, processesWith, sleep} from '../helpers/processes.js'

const skip = process.platform !== 'linux' || process.env.FLEET_SKIP_SYSTEM === '1'
const CLIENTS = 8
const APT_PORT = 3142
const HTTP_PORT = 8142
const GIT_PORT = 9418
/** Small real packages of Debian's main archive (together ~250 KB). */
const DEBS = ['hello', 'tree', 'sl', 'figlet']
const IMAGE_BYTES = 64 * 1024 * 1024
const CHUNK = 256 * 1024
const CHUNK_DELAY_MS = 12 // ~21 MB/s: the upstream takes ~3 s for the image

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

/** TCP ports listening on ADDRESS (or on every address). */
function listening(address: string): number[] {
  const out = spawnSync('ss', ['-Hltn'], {encoding: 'utf8'}).stdout
  return out.split('\n').flatMap((l) => {
    const local = l.trim().split(/\s+/)[3] ?? ''
    const m = /^(.*):(\d+)$/.exec(local)
    return m && [address, '0.0.0.0', '*', '[::]'].includes(m[1]!) ? [Number(m[2])] : []
  })
}

describe.skipIf(skip)('the room cache: cache.yaml on one host, 8 hosts fetching through it at once', () => {
  let set: LocalHostSet
  let cacheHost: LocalHost
  let clients: LocalHost[] = []
  let dir = ''
  let work = ''
  let db = ''
  let hostsFile = ''
  let varsFile = ''
  let upstream: Server | undefined
  let upstreamRepo = ''
  let upstreamHead = ''
  const image = randomBytes(IMAGE_BYTES)
  const imageSha = sha256(image)
  const requests: Record<string, number> = {}
  let imageBytesSent = 0
  let imageSentAt = 0
  let prepared = false
  const pids: Record<string, number> = {}
  const cleanup = () => fleet(['cleanup', '--hosts', hostsFile, '--db', db, '--playbook', 'cache', '--vars', varsFile, '--connect-timeout', '60'])

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this system test needs root (the cache playbook installs packages and mounts a file system); run it as root or set FLEET_SKIP_SYSTEM=1')
    for (const bin of ['apt-get', 'dpkg-query', 'sudo', 'ssh', 'ss', 'git', 'curl', 'sha256sum', 'start-stop-daemon', 'mount', 'losetup']) requireBinary(bin)
    const taken = [APT_PORT, HTTP_PORT, GIT_PORT].filter((p) => listening('0.0.0.0').includes(p))
    if (taken.length) throw new Error(`ports ${taken.join(', ')} are taken on every address of this machine, so the cache's servers cannot bind`)
    dir = mkdtempSync(join(tmpdir(), 'fleet-room-cache-'))
    chmodSync(dir, 0o755) // the servers' users (apt-cacher-ng, www-data, nobody) go through it
    work = join(dir, 'work')
    db = join(dir, 'fleet.db')

    // The "internet": a slow HTTP upstream on loopback that counts what it is asked for.
    upstream = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0]!
      requests[path] = (requests[path] ?? 0) + 1
      if (path === '/images/big.img') {
        res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': IMAGE_BYTES})
        let off = 0
        const send = () => {
          if (off >= IMAGE_BYTES) {
            imageSentAt = Date.now()
            res.end()
            return
          }
          const chunk = image.subarray(off, off + CHUNK)
          off += chunk.length
          imageBytesSent += chunk.length
          if (res.write(chunk)) setTimeout(send, CHUNK_DELAY_MS)
          else res.once('drain', () => setTimeout(send, CHUNK_DELAY_MS))
        }
        send()
      } else if (path === '/images/big.img.sha256') {
        res.writeHead(200, {'content-type': 'text/plain'})
        res.end(`${imageSha}  big.img\n`)
      } else {
        res.writeHead(404)
        res.end()
      }
    })
    await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', r))
    const upstreamPort = (upstream.address() as AddressInfo).port

    // The "upstream" git repository: root-only, so a clone that works came through the cache.
    ;({path: upstreamRepo, head: upstreamHead} = repoOf(dir, 3))

    set = await startLocalHosts({count: 1 + CLIENTS, prefix: 'fleet-rc'})
    cacheHost = set.hosts[0]!
    clients = set.hosts.slice(1)
    hostsFile = join(dir, 'hosts.txt')
    writeFileSync(hostsFile, `${set.hostsFileText().split('\n')[0]}\n`)
    varsFile = join(dir, 'cache-vars.yaml')
    writeFileSync(
      varsFile,
      [
        `cache_address: ${cacheHost.address}`,
        'cache_max_gb: 1',
        `apt_port: ${APT_PORT}`,
        `http_port: ${HTTP_PORT}`,
        `git_port: ${GIT_PORT}`,
        `work_dir: ${work}`,
        'http_upstreams:',
        `  - {path: images, url: "http://127.0.0.1:${upstreamPort}/images/"}`,
        // A name no DNS resolves: nginx must start all the same (names are resolved per request).
        '  - {path: nowhere, url: "https://fleet-no-such-upstream.invalid/"}',
        'git_repos:',
        `  - {name: demo, url: "file://${upstreamRepo}"}`,
        '',
      ].join('\n'),
    )
    for (const h of clients) {
      const d = join(dir, 'clients', h.name)
      mkdirSync(d, {recursive: true})
      chmodSync(join(dir, 'clients'), 0o755)
      chownSync(d, h.uid, h.gid)
    }
  }, 180_000)

  afterAll(async () => {
    try {
      if (prepared && existsSync(work)) await cleanup()
    } finally {
      await tearDownRoom({set, upstream, dir, work})
    }
  })

  it('fleet prepare --playbook cache starts apt-cacher-ng, nginx and git daemon on the cache host\'s address only', {timeout: 900_000}, async () => {
    prepared = true
    const r = await fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', 'cache', '--vars', varsFile, '--connect-timeout', '60'])
    const status = await fleet(['status', '--db', db, '--host', cacheHost.name, '--json'])
    expect(r.code, `${r.stdout}\n${r.stderr}\n${status.stdout}`).toBe(0)
    expect(r.stdout).toContain('prepare: 1 of 1 hosts ok.')
    const view = JSON.parse(status.stdout) as {steps: Array<{step: string; status: string}>}
    const byStep = Object.fromEntries(view.steps.map((s) => [s.step, s.status]))
    // No systemd here: the direct servers ran, the systemd ones were skipped by their `when`.
    for (const id of ['apt-server-direct', 'http-server-direct', 'git-server-direct', 'apt-cache-fs', 'git-mirrors']) expect(byStep[id], id).toBe('ok')
    for (const id of ['apt-server-systemd', 'http-server-systemd', 'git-server-systemd']) expect(byStep[id], id).toBe('skipped')

    for (const [name, file] of [['apt', 'run/apt/apt-cacher-ng.pid'], ['http', 'run/http.pid'], ['git', 'run/git.pid']] as const) {
      pids[name] = Number(readFileSync(join(work, file), 'utf8').trim())
      expect(pids[name], name).toBeGreaterThan(1)
    }
    expect(liveWith(pids.apt!, 'apt-cacher-ng')).toBe(true)
    expect(liveWith(pids.http!, 'nginx')).toBe(true)
    expect(liveWith(pids.git!, 'git-daemon')).toBe(true)
    // Bound to the cache host's address, not to every address.
    const mine = listening(cacheHost.address)
    for (const p of [APT_PORT, HTTP_PORT, GIT_PORT]) expect(mine, `port ${p}`).toContain(p)
    const onAddr = spawnSync('ss', ['-Hltn'], {encoding: 'utf8'}).stdout
    for (const p of [APT_PORT, HTTP_PORT, GIT_PORT]) expect(onAddr).toContain(`${cacheHost.address}:${p}`)
    expect(onAddr.split('\n').filter((l) => / (0\.0\.0\.0|\*|\[::\]):(3142|8142|9418) /.test(l))).toEqual([])
    // Each cache is a file system of its own (the disk cap); nginx evicts at 90 % of its own.
    for (const fs of ['apt/cache', 'http/cache']) expect(readFileSync('/proc/mounts', 'utf8')).toContain(` ${work}/${fs} ext4 `)
    expect(readFileSync(join(work, 'http/nginx.conf'), 'utf8')).toMatch(/max_size=922m/)
    // The unresolvable upstream fails its own requests only.
    const nowhere = await fetch(`http://${cacheHost.address}:${HTTP_PORT}/nowhere/x`)
    expect(nowhere.status).toBe(502)

    // Again: every step is skipped by its check.
    const again = await fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', 'cache', '--vars', varsFile, '--connect-timeout', '60'])
    expect(again.code, again.stdout).toBe(0)
    const view2 = JSON.parse((await fleet(['status', '--db', db, '--host', cacheHost.name, '--json'])).stdout) as {steps: Array<{step: string; status: string}>}
    expect(view2.steps.filter((s) => s.status !== 'skipped').map((s) => `${s.step}: ${s.status}`)).toEqual([])
  })

  it(`${CLIENTS} hosts at once: the same .debs, image and clone on each; each object fetched from upstream once`, {timeout: 300_000}, async () => {
    expect(prepared && pids.apt, 'the cache was prepared').toBeTruthy()
    const addr = cacheHost.address
    // What apt expects for each package (the machine's lists, which apt-get download checks too).
    const expected = new Map<string, string>()
    const sizes = new Map<string, number>()
    for (const p of DEBS) {
      const show = spawnSync('apt-cache', ['show', '--no-all-versions', p], {encoding: 'utf8'}).stdout
      const file = /^Filename: (.+)$/m.exec(show)?.[1]
      const sum = /^SHA256: ([0-9a-f]{64})$/m.exec(show)?.[1]
      const size = Number(/^Size: (\d+)$/m.exec(show)?.[1])
      expect(file && sum && size, `apt-cache show ${p}`).toBeTruthy()
      expected.set(file!.split('/').pop()!, sum!)
      sizes.set(file!.split('/').pop()!, size)
    }

    const started: number[] = []
    const fetches = clients.map((h) => {
      const d = join(dir, 'clients', h.name)
      started.push(Date.now())
      return Promise.all([
        asUser(h, d, `mkdir -p debs && cd debs && apt-get -q download -o Acquire::http::Proxy=http://${addr}:${APT_PORT}/ ${DEBS.join(' ')}`),
        asUser(h, d, `curl -fsS -o big.img http://${addr}:${HTTP_PORT}/images/big.img && curl -fsS -o big.img.sha256 http://${addr}:${HTTP_PORT}/images/big.img.sha256 && sha256sum -c big.img.sha256`),
        asUser(h, d, `git -c url.git://${addr}:${GIT_PORT}/demo.git.insteadOf=file://${upstreamRepo} clone -q file://${upstreamRepo} demo && git -C demo rev-parse HEAD`),
      ])
    })
    const results = await Promise.all(fetches)

    results.forEach(([apt, http, git], i) => {
      const h = clients[i]!
      const d = join(dir, 'clients', h.name)
      expect(apt.code, `${h.name} apt-get download: ${apt.stderr}`).toBe(0)
      expect(http.code, `${h.name} image: ${http.stderr}`).toBe(0)
      expect(http.stdout).toContain('big.img: OK')
      expect(git.code, `${h.name} git clone: ${git.stderr}`).toBe(0)
      // The .debs, with the archive's checksums.
      const got = Object.fromEntries(readdirSync(join(d, 'debs')).map((f) => [f, sha256(readFileSync(join(d, 'debs', f)))]))
      expect(got, h.name).toEqual(Object.fromEntries(expected))
      // The image, byte for byte.
      expect(sha256(readFileSync(join(d, 'big.img'))), h.name).toBe(imageSha)
      // The clone, at the upstream's HEAD.
      expect(git.stdout.trim(), h.name).toBe(upstreamHead)
    })

    // nginx: one upstream request for the image (proxy_cache_lock), however many hosts asked,
    // and they did ask while it was still coming in.
    expect(requests['/images/big.img']).toBe(1)
    expect(imageBytesSent).toBe(IMAGE_BYTES)
    expect(requests['/images/big.img.sha256']).toBe(1)
    expect(Math.max(...started)).toBeLessThan(imageSentAt)
    const access = readFileSync(join(work, 'log/nginx-access.log'), 'utf8').split('\n').filter((l) => l.includes('GET /images/big.img HTTP'))
    expect(access).toHaveLength(CLIENTS)
    expect(access.filter((l) => l.includes('cache=MISS'))).toHaveLength(1)

    // apt-cacher-ng: its transfer log has I lines (from upstream) and O lines (sent to a client),
    // time|I or O|bytes|client|path. Per file, the body came from upstream once: one I line of
    // at least its size. A host asking while the file was being completed can make
    // apt-cacher-ng ask upstream again and get headers only (seen once in CI: a second I line
    // of 133 bytes); a second body would be a second line of the file's size.
    const log = readFileSync(join(work, 'log/apt-cacher-ng/apt-cacher.log'), 'utf8').split('\n').filter(Boolean).map((l) => l.split('|'))
    for (const [file] of expected) {
      const lines = log.filter((f) => (f[4] ?? '').endsWith(`/${file}`))
      const fromUpstream = lines.filter((f) => f[1] === 'I').map((f) => Number(f[2]))
      const detail = `${file} (${sizes.get(file)} bytes) from upstream: ${JSON.stringify(lines.filter((f) => f[1] === 'I'))}`
      expect(fromUpstream.filter((n) => n >= sizes.get(file)!), detail).toHaveLength(1)
      expect(fromUpstream.filter((n) => n < sizes.get(file)!).every((n) => n < 1024), detail).toBe(true)
      expect(lines.filter((f) => f[1] === 'O'), `${file} to the hosts`).toHaveLength(CLIENTS)
    }
  })

  it('fleet cleanup --playbook cache stops every server and removes the cache\'s files', {timeout: 300_000}, async () => {
    expect(prepared && pids.apt, 'the cache was prepared').toBeTruthy()
    const r = await cleanup()
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
    await sleep(200)
    expect(liveWith(pids.apt!, 'apt-cacher-ng')).toBe(false)
    expect(liveWith(pids.http!, 'nginx')).toBe(false)
    expect(liveWith(pids.git!, 'git-daemon')).toBe(false)
    expect(processesWith(work)).toEqual([])
    const mine = listening(cacheHost.address)
    for (const p of [APT_PORT, HTTP_PORT, GIT_PORT]) expect(mine, `port ${p}`).not.toContain(p)
    expect(existsSync(work)).toBe(false)
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(work)
    expect(spawnSync('losetup', ['-a'], {encoding: 'utf8'}).stdout).not.toContain(work)
  })
})
