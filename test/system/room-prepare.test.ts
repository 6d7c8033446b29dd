/**
 * A room with a cache host, end to end through `fleet prepare` (issue 15): a hosts file whose
 * first loopback host is `role=cache`, and a room playbook that declares its artifacts (a file
 * with a SHA256SUMS list, a git repository). fleet prepares the cache host first (real
 * apt-cacher-ng, nginx and git daemon, playbooks/cache.yaml), warms it with those artifacts,
 * points the other hosts at it (playbooks/cache-client.yaml: apt's Proxy-Auto-Detect, pip.conf,
 * git insteadOf) and runs the room playbook there, whose artifact URLs now go through the cache.
 * The "internet" is a local HTTP server started here (it counts requests) and a root-only bare
 * repository; apt comes from Debian's archive through apt-cacher-ng.
 *
 * Asserted: every host got the same file, valid against its checksum list, the clone at the
 * upstream's HEAD and a real .deb; the upstream served each object once (the warm), whatever
 * the number of hosts; PyPI's absolute file links are rewritten to the cache; `fleet cache
 * status` counts what the servers' logs say; the fault cases (cache host unreachable at the
 * start: no other host is started; apt-cacher-ng gone mid-run: apt goes upstream by itself with
 * a warning; a corrupt object upstream: `fleet cache warm` names it and takes it out of the
 * cache); `fleet cleanup` takes every setting off the hosts and the cache off its host.
 *
 * The paths cache-client.yaml writes (/etc/apt/apt.conf.d, /etc/pip.conf, /etc/gitconfig) are
 * moved into each host's home by --cache-vars: the loopback hosts share this machine's /etc.
 * Needs root. FLEET_SKIP_SYSTEM=1 skips it; a missing binary is a failure, never a skip.
 */
import {spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startLocalHosts, type LocalHost, type LocalHostSet} from '../../testbed/index.js'
import {requireBinary} from '../../testbed/libvirt/libvirt-daemon.js'
import {fleet, hostJournals} from '../helpers/fleet-cli.js'
import {asUser, upstreamRepo, tearDownRoom} from '../helpers/room-upstream.js'
import {eventually, liveWith, sleep} from '../helpers/processes.js'

const skip = process.platform !== 'linux' || process.env.FLEET_SKIP_SYSTEM === '1'
const CLIENTS = 4
const APT_PORT = 3143
const HTTP_PORT = 8143
const GIT_PORT = 9419
const TOOL_BYTES = 4 * 1024 * 1024

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

describe.skipIf(skip)('a room with a cache host: fleet prepare prepares and warms the cache, points the hosts at it, and they fetch through it', () => {
  let set: LocalHostSet
  let cacheHost: LocalHost
  let clients: LocalHost[] = []
  let dir = ''
  let work = ''
  let db = ''
  let hostsFile = ''
  let cacheVars = ''
  let playbook = ''
  let upstream: Server | undefined
  let base = ''
  let upstreamHead = ''
  const tool = randomBytes(TOOL_BYTES)
  const pyfile = randomBytes(64 * 1024)
  let sums = ''
  const requests: Record<string, number> = {}
  let prepared = false
  const args = () => ['--hosts', hostsFile, '--db', db, '--playbook', playbook, '--cache-vars', cacheVars, '--connect-timeout', '60']

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this system test needs root (the cache playbook installs packages and mounts a file system); run it as root or set FLEET_SKIP_SYSTEM=1')
    for (const bin of ['apt-get', 'dpkg-deb', 'sudo', 'git', 'curl', 'sha256sum', 'start-stop-daemon', 'mount']) requireBinary(bin)
    dir = mkdtempSync(join(tmpdir(), 'fleet-room-'))
    chmodSync(dir, 0o755)
    work = join(dir, 'work')
    db = join(dir, 'fleet.db')
    sums = `${sha256(tool)} *tool.tar\n${'0'.repeat(64)} *other.tar\n`

    upstream = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0]!
      requests[path] = (requests[path] ?? 0) + 1
      const send = (type: string, body: Buffer | string) => {
        res.writeHead(200, {'content-type': type, 'content-length': Buffer.byteLength(body)})
        res.end(body)
      }
      if (path === '/files/tool.tar') send('application/octet-stream', tool)
      else if (path === '/files/SHA256SUMS') send('text/plain', sums)
      // A PyPI simple page: its file links are absolute, to the files' own host.
      else if (path === '/simple/demo/') send('text/html', `<!DOCTYPE html><html><body><a href="${base}/pyfiles/demo-1.0.tar.gz#sha256=${sha256(pyfile)}">demo-1.0.tar.gz</a></body></html>\n`)
      else if (path === '/pyfiles/demo-1.0.tar.gz') send('application/octet-stream', pyfile)
      else {
        res.writeHead(404)
        res.end()
      }
    })
    await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', r))
    base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`

    // The upstream repository: root-only, so a clone that works came through the cache.
    const {path: repo, head} = upstreamRepo(dir, 1)
    upstreamHead = head

    set = await startLocalHosts({count: 1 + CLIENTS, prefix: 'fleet-rp'})
    cacheHost = set.hosts[0]!
    clients = set.hosts.slice(1)
    hostsFile = join(dir, 'hosts.txt')
    const lines = set.hostsFileText().trim().split('\n')
    writeFileSync(hostsFile, [`${lines[0]} role=cache`, ...lines.slice(1), ''].join('\n'))

    playbook = join(dir, 'room.yaml')
    writeFileSync(
      playbook,
      `name: room
vars:
  tool_url: ${base}/files/tool.tar
  tool_sums_url: ${base}/files/SHA256SUMS
  repo_url: file://${repo}
  out: "{{ facts.home }}/room-out"
artifacts:
  - {var: tool_url, kind: http, checksum_var: tool_sums_url}
  - {var: repo_url, kind: git}
steps:
  - id: fetch-tool
    run: |
      mkdir -p {{ out }} && cd {{ out }}
      curl -fsS -o tool.tar {{ tool_url }} && curl -fsS -o SHA256SUMS {{ tool_sums_url }}
      sha256sum -c --ignore-missing SHA256SUMS
      printf '%s\\n' {{ tool_url }} > tool.url
    undo: rm -rf {{ out }}
  - id: clone
    run: rm -rf {{ out }}/repo && git clone -q {{ repo_url }} {{ out }}/repo
  - id: apt-download
    run: cd {{ out }} && apt-get -q -c {{ facts.home }}/room-etc/apt.conf download hello
`,
    )
    cacheVars = join(dir, 'cache-vars.yaml')
    writeFileSync(
      cacheVars,
      [
        'cache_max_gb: 1',
        `apt_port: ${APT_PORT}`,
        `http_port: ${HTTP_PORT}`,
        `git_port: ${GIT_PORT}`,
        `work_dir: ${work}`,
        `pypi_upstream: ${base}/`,
        `pythonhosted_upstream: ${base}/pyfiles/`,
        // cache-client.yaml's system paths, moved into each host's home (they share this machine's /etc).
        'apt_conf: "{{ facts.home }}/room-etc/apt.conf"',
        'apt_proxy_script: "{{ facts.home }}/room-etc/apt-proxy"',
        'pip_conf: "{{ facts.home }}/room-etc/pip.conf"',
        'gitconfig: "{{ facts.home }}/.gitconfig"',
        'state_dir: "{{ facts.home }}/room-etc/state"',
        '',
      ].join('\n'),
    )
  }, 180_000)

  afterAll(async () => {
    try {
      if (prepared && existsSync(work)) await fleet(['cleanup', ...args()])
    } finally {
      await tearDownRoom({set, upstream, dir, work})
    }
  })

  it('the cache host first, warmed; then every host through it: same bytes, each object from upstream once', {timeout: 900_000}, async () => {
    prepared = true
    const r = await fleet(['prepare', ...args()])
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
    expect(r.stdout).toContain(`prepare: ${1 + CLIENTS} of ${1 + CLIENTS} hosts ok.`)
    expect(r.stdout).toContain(`Room cache ${cacheHost.name} (${cacheHost.address}): ok.`)

    const cacheBase = `http://${cacheHost.address}:${HTTP_PORT}`
    for (const h of clients) {
      const out = join(h.home, 'room-out')
      expect(sha256(readFileSync(join(out, 'tool.tar'))), h.name).toBe(sha256(tool))
      // The artifact's var pointed at the cache (the host found it up), not at the upstream.
      expect(readFileSync(join(out, 'tool.url'), 'utf8').trim()).toBe(`${cacheBase}/127.0.0.1_${new URL(base).port}/files/tool.tar`)
      const head = spawnSync('git', ['-c', 'safe.directory=*', '-C', join(out, 'repo'), 'rev-parse', 'HEAD'], {encoding: 'utf8'})
      expect(head.stdout.trim(), h.name).toBe(upstreamHead)
      const deb = spawnSync('sh', ['-c', `dpkg-deb -f ${join(out, 'hello_')}*.deb Package`], {encoding: 'utf8'})
      expect(deb.stdout.trim(), `${h.name}: ${deb.stderr}`).toBe('hello')
      // Its settings: apt's auto-detect naming the cache, pip's index, git's rewrite.
      expect(readFileSync(join(h.home, 'room-etc/apt.conf'), 'utf8')).toContain(`Acquire::http::Proxy-Auto-Detect "${join(h.home, 'room-etc/apt-proxy')}";`)
      expect(spawnSync(join(h.home, 'room-etc/apt-proxy'), {encoding: 'utf8'}).stdout.trim()).toBe(`http://${cacheHost.address}:${APT_PORT}/`)
      expect(readFileSync(join(h.home, 'room-etc/pip.conf'), 'utf8')).toContain(`index-url = ${cacheBase}/pypi/simple/`)
      expect(readFileSync(join(h.home, '.gitconfig'), 'utf8')).toContain(`[url "git://${cacheHost.address}:${GIT_PORT}/demo.git"]`)
    }
    // The warm fetched each object once; the hosts were all answered by the cache.
    expect(requests['/files/tool.tar']).toBe(1)
    expect(requests['/files/SHA256SUMS']).toBe(1)

    // pip: the index through the cache, its absolute file link rewritten to the cache's /pythonhosted/.
    const page = await (await fetch(`${cacheBase}/pypi/simple/demo/`)).text()
    const link = /href="([^"#]+)/.exec(page)?.[1]
    expect(link).toBe(`${cacheBase}/pythonhosted/demo-1.0.tar.gz`)
    for (let i = 0; i < 2; i++) expect(sha256(Buffer.from(await (await fetch(link!)).arrayBuffer()))).toBe(sha256(pyfile))
    expect(requests['/pyfiles/demo-1.0.tar.gz']).toBe(1)

    // What the cache says it did, from its servers' logs.
    const st = await fleet(['cache', 'status', '--hosts', hostsFile, '--db', db, '--cache-vars', cacheVars, '--json'])
    expect(st.code, st.stderr).toBe(0)
    const f = JSON.parse(st.stdout).figures
    expect(f.http.hits).toBeGreaterThanOrEqual(2 * CLIENTS) // tool.tar and SHA256SUMS for each host
    expect(f.http.bytes_served).toBeGreaterThanOrEqual((CLIENTS + 1) * TOOL_BYTES) // the warm and each host
    const upstreamBytes = TOOL_BYTES + sums.length + pyfile.length + page.length
    expect(f.http.bytes_upstream).toBeLessThanOrEqual(1.05 * upstreamBytes)
    expect(f.apt.requests).toBeGreaterThanOrEqual(CLIENTS)
    expect(f.apt.bytes_upstream).toBeLessThanOrEqual(1.05 * (f.apt.bytes_served / CLIENTS))
    expect(f.git.requests).toBeGreaterThanOrEqual(CLIENTS)
    const table = await fleet(['cache', 'status', '--hosts', hostsFile, '--db', db, '--cache-vars', cacheVars])
    expect(table.stdout).toMatch(/^http \(pip, images\)\s+\d+\s+\d+\s+\d+%/m)
  })

  it('faults: apt-cacher-ng gone mid-run (apt goes upstream, says so); a corrupt object upstream (warm names it, the cache drops it); the cache host unreachable (nobody starts)', {timeout: 600_000}, async () => {
    expect(prepared).toBe(true)
    // apt-cacher-ng stops: the auto-detect script sends apt upstream, with its warning.
    const aptPid = Number(readFileSync(join(work, 'run/apt/apt-cacher-ng.pid'), 'utf8'))
    expect(liveWith(aptPid, 'apt-cacher-ng')).toBe(true)
    process.kill(aptPid, 'SIGTERM')
    for (let i = 0; i < 50 && liveWith(aptPid, 'apt-cacher-ng'); i++) await sleep(100)
    const h = clients[0]!
    const direct = await asUser(h, h.home, `mkdir -p fallback && cd fallback && apt-get -q -c ${join(h.home, 'room-etc/apt.conf')} download tree`)
    expect(direct.code, direct.stderr).toBe(0)
    expect(direct.stderr).toContain(`the room cache ${cacheHost.address}:${APT_PORT} does not answer; apt goes upstream`)

    // A corrupt object upstream: its checksum list no longer matches; the warm says which URL, and drops it.
    sums = `${'f'.repeat(64)} *tool.tar\n`
    const warm = await fleet(['cache', 'warm', ...args()])
    expect(warm.code, warm.stdout).toBe(1)
    expect(warm.stdout).toMatch(new RegExp(`127\\.0\\.0\\.1_${new URL(base).port}/files/tool\\.tar is corrupt: its checksum is ${sha256(tool)}`))
    const before = requests['/files/tool.tar']
    await fetch(`http://${cacheHost.address}:${HTTP_PORT}/127.0.0.1_${new URL(base).port}/files/tool.tar`)
    expect(requests['/files/tool.tar']).toBe(before! + 1) // not served from the cache any more
    sums = `${sha256(tool)} *tool.tar\n`

    // The cache host unreachable: fleet stops before any other host is started.
    const runsBefore = clients.map((c) => spawnSync('sh', ['-c', `ls ${c.home}/.local/state/fleet-agent/runs | wc -l`], {encoding: 'utf8'}).stdout.trim())
    const hostsDown = join(dir, 'hosts-down.txt')
    const lines = readFileSync(hostsFile, 'utf8').split('\n')
    writeFileSync(hostsDown, [lines[0]!.replace(/:(\d+)/, ':1'), ...lines.slice(1)].join('\n'))
    const down = await fleet(['prepare', '--hosts', hostsDown, '--db', join(dir, 'down.db'), '--playbook', playbook, '--cache-vars', cacheVars, '--connect-timeout', '5'])
    expect(down.code).toBe(1)
    expect(down.stdout).toContain(`Stopped early: the room cache ${cacheHost.name} is not ready, so no other host was started`)
    const runsAfter = clients.map((c) => spawnSync('sh', ['-c', `ls ${c.home}/.local/state/fleet-agent/runs | wc -l`], {encoding: 'utf8'}).stdout.trim())
    expect(runsAfter).toEqual(runsBefore)
  })

  it('a host whose cache does not answer: cache_required fails it, naming the cache; without it, one warning and nothing points at the cache', {timeout: 300_000}, async () => {
    expect(prepared).toBe(true)
    const h = clients[1]!
    const one = join(dir, 'one-host.txt')
    writeFileSync(one, `${readFileSync(hostsFile, 'utf8').trim().split('\n')[2]}\n`)
    // cache-client.yaml as fleet prepare runs it, at an address where nothing answers.
    const dead = (required: boolean) => {
      const f = join(dir, `dead-${required}.yaml`)
      const paths = readFileSync(cacheVars, 'utf8').split('\n').filter((l) => /^(apt_conf|apt_proxy_script|pip_conf|gitconfig|state_dir):/.test(l))
      writeFileSync(f, ['cache_address: 127.0.0.1', 'apt_port: 1', 'http_port: 2', `pypi_index: http://127.0.0.1:2/pypi/simple/`, `git_rewrites: [{from: "file:///nowhere.git", to: "git://127.0.0.1:1/nowhere.git"}]`, `cache_required: ${required}`, ...paths, ''].join('\n'))
      return f
    }
    const required = await fleet(['prepare', '--hosts', one, '--db', join(dir, 'dead.db'), '--playbook', 'cache-client', '--vars', dead(true)])
    expect(required.code, required.stdout).toBe(1)
    expect(required.stdout).toContain('cache-check: the room cache at 127.0.0.1 does not answer (apt port 1, HTTP port 2) and cache_required is set')

    const lenient = await fleet(['prepare', '--hosts', one, '--db', join(dir, 'dead.db'), '--playbook', 'cache-client', '--vars', dead(false)])
    expect(lenient.code, lenient.stdout).toBe(0)
    const said = [...hostJournals(h).values()].flat().filter((r) => r.type === 'output' && r.step === 'cache-check').map((r) => (r as {data: string}).data).join('')
    expect(said).toContain('WARNING: the room cache at 127.0.0.1 does not answer; this host downloads from upstream')
    // Nothing points at the dead cache but apt's auto-detect, which falls back by itself.
    expect(existsSync(join(h.home, 'room-etc/pip.conf'))).toBe(false)
    expect(readFileSync(join(h.home, '.gitconfig'), 'utf8')).not.toContain('127.0.0.1:1')
    expect(spawnSync(join(h.home, 'room-etc/apt-proxy'), {encoding: 'utf8'}).stdout.trim()).toBe('DIRECT')
  })

  it('fleet cleanup: the room playbook undone, every host\'s cache settings gone, the cache host\'s servers and files gone', {timeout: 600_000}, async () => {
    expect(prepared).toBe(true)
    const pidFiles = ['run/http.pid', 'run/git.pid'].map((f) => join(work, f)).filter(existsSync)
    const pids = pidFiles.map((f) => Number(readFileSync(f, 'utf8')))
    const r = await fleet(['cleanup', ...args()])
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
    for (const h of clients) {
      expect(existsSync(join(h.home, 'room-out')), h.name).toBe(false)
      for (const f of ['room-etc/apt.conf', 'room-etc/apt-proxy', 'room-etc/pip.conf', 'room-etc/state']) expect(existsSync(join(h.home, f)), `${h.name} ${f}`).toBe(false)
      const gitconfig = join(h.home, '.gitconfig')
      if (existsSync(gitconfig)) expect(readFileSync(gitconfig, 'utf8')).not.toContain('insteadOf')
    }
    // The servers were told to stop; nginx's workers finish their requests first (give them a while under load).
    await eventually('the cache\'s servers exit', 15_000, async () => pids.every((pid) => !liveWith(pid, 'nginx') && !liveWith(pid, 'git-daemon')))
    expect(existsSync(work)).toBe(false)
    prepared = false
  })
})
