import {existsSync, readdirSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startLocalHosts, type LocalHostSet} from '../../testbed/index.js'
import {FleetStore} from '../../src/store/store.js'
import {tempDir} from '../helpers/agent-cli.js'
import {fleet, resetHosts} from '../helpers/fleet-cli.js'

const SLOW = resolve('test/fixtures/playbooks/slow.yaml')
let set: LocalHostSet
let dir: string
let hostsFile: string

beforeAll(async () => {
  set = await startLocalHosts({count: 6, prefix: 'fleet-to'})
  dir = tempDir()
  hostsFile = join(dir, 'hosts.txt')
  writeFileSync(hostsFile, set.hostsFileText())
}, 120_000)

afterAll(async () => {
  await set?.stop()
})

const runsOn = (i: number) => {
  const d = join(set.hosts[i].home, '.local/state/fleet-agent/runs')
  return existsSync(d) ? readdirSync(d).length : 0
}

describe('fleet prepare options, cleanup, demo', {timeout: 180_000}, () => {
  it('cleanup runs the undo on every host, recorded like a prepare run', async () => {
    resetHosts(set)
    const db = join(dir, 'cleanup.db')
    expect((await fleet(['prepare', '-H', hostsFile, '--db', db, '-p', 'demo'])).code).toBe(0)
    expect(set.hosts.every((h) => existsSync(join(h.home, 'fleet-demo', 'report.txt')))).toBe(true)
    const c = await fleet(['cleanup', '-H', hostsFile, '--db', db, '-p', 'demo', '--json'])
    expect(c.code, c.stdout + c.stderr).toBe(0)
    expect(JSON.parse(c.stdout)).toMatchObject({ok: true, hosts: 6})
    expect(set.hosts.some((h) => existsSync(join(h.home, 'fleet-demo')))).toBe(false)
    const store = FleetStore.open(db)
    const h = store.host('h001')!
    expect(h.agent_mode).toBe('undo')
    expect(store.steps(h.id, h.agent_run!).map((s) => s.step)).toEqual(['summary', 'start-service', 'use-secret', 'flaky', 'stream-output', 'write-config', 'make-dir'])
    expect(store.lastRun()).toMatchObject({kind: 'cleanup', status: 'ok'})
    store.close()
  })

  it('--canary: when a canary fails, the other hosts are not started', async () => {
    resetHosts(set)
    writeFileSync(join(set.hosts[1].home, 'fail-here'), '')
    const r = await fleet(['prepare', '-H', hostsFile, '--db', join(dir, 'canary.db'), '-p', SLOW, '--canary', '2', '--json'])
    expect(r.code).toBe(1)
    const s = JSON.parse(r.stdout)
    expect(s.stoppedBecause).toMatch(/1 of the 2 canary hosts did not finish ok/)
    expect(s.notStarted).toEqual(['h003', 'h004', 'h005', 'h006'])
    expect([0, 1, 2, 3, 4, 5].map(runsOn)).toEqual([1, 1, 0, 0, 0, 0])
  })

  it('--max-errors: once that many hosts failed, no new host is started', async () => {
    resetHosts(set)
    for (const i of [0, 1, 2]) writeFileSync(join(set.hosts[i].home, 'fail-here'), '')
    const r = await fleet(['prepare', '-H', hostsFile, '--db', join(dir, 'maxerr.db'), '-p', SLOW, '--steps', 'maybe-fail', '--concurrency', '1', '--max-errors', '2', '--json'])
    expect(r.code).toBe(1)
    const s = JSON.parse(r.stdout)
    expect(s.stoppedBecause).toMatch(/2 hosts failed \(--max-errors 2\)/)
    expect(s.notStarted).toEqual(['h003', 'h004', 'h005', 'h006'])
    expect([0, 1, 2, 3, 4, 5].map(runsOn)).toEqual([1, 1, 0, 0, 0, 0])
  })

  it('--steps runs only those steps on each host', async () => {
    resetHosts(set)
    const db = join(dir, 'steps.db')
    expect((await fleet(['prepare', '-H', hostsFile, '--db', db, '-p', 'demo', '--steps', 'setup'])).code).toBe(0)
    const store = FleetStore.open(db)
    const h = store.host('h002')!
    expect(store.steps(h.id, h.agent_run!).map((x) => `${x.step}:${x.status}`)).toEqual(['make-dir:ok', 'write-config:ok'])
    store.close()
    const bad = await fleet(['prepare', '-H', hostsFile, '--db', db, '-p', 'demo', '--steps', 'nosuch'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^Error: --steps: playbook demo has no step or phase "nosuch"/)
  })

  it('--known-hosts: keys from an OpenSSH known_hosts file are checked, a mismatch refused', async () => {
    resetHosts(set)
    const two = join(dir, 'two.txt')
    writeFileSync(two, set.hostsFileText().trim().split('\n').slice(0, 2).join('\n') + '\n')
    const known = join(dir, 'known_hosts')
    const lines = set.knownHostsText().trim().split('\n').slice(0, 2)
    // The second host's line names the first host's key: a mismatch.
    lines[1] = lines[1].replace(/ssh-ed25519 \S+/, lines[0].match(/ssh-ed25519 \S+/)![0])
    writeFileSync(known, lines.join('\n') + '\n')
    const r = await fleet(['prepare', '-H', two, '--db', join(dir, 'kh.db'), '-p', 'demo', '--steps', 'setup', '--known-hosts', known, '--json'])
    const s = JSON.parse(r.stdout)
    expect(s.counts).toMatchObject({ok: 1, unreachable: 1})
    expect(s.failed[0].error).toMatch(/host key/i)
  })

  it('reaches a host through a jump host (ProxyJump)', async () => {
    resetHosts(set)
    const [bastion, target] = [set.hosts[0], set.hosts[5]]
    const file = join(dir, 'jump.txt')
    writeFileSync(file, `${target.user}@${target.address}:${target.port} name=behind identity=${target.identityFile} jump=${bastion.user}@${bastion.address}:${bastion.port}\n`)
    const r = await fleet(['prepare', '-H', file, '--db', join(dir, 'jump.db'), '-p', 'demo', '--steps', 'setup', '--json'])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(existsSync(join(target.home, 'fleet-demo', 'demo.conf'))).toBe(true)
  })

  it('--runtime managed: the host downloads the pinned Node.js itself; if it cannot, the instructor uploads it', async () => {
    resetHosts(set)
    const one = (i: number) => {
      const f = join(dir, `one-${i}.txt`)
      writeFileSync(f, set.hostsFileText().trim().split('\n')[i] + '\n')
      return f
    }
    const {execFileSync} = await import('node:child_process')
    const runtimeOf = (i: number) => execFileSync(join(set.hosts[i].home, '.fleet/runtime/bin/node'), ['--version'], {encoding: 'utf8'}).trim()
    // Host 1 fetches from the registry.
    const fetched = await fleet(['prepare', '-H', one(1), '--db', join(dir, 'rt1.db'), '-p', 'demo', '--steps', 'setup', '--runtime', 'managed'])
    expect(fetched.code, fetched.stdout + fetched.stderr).toBe(0)
    expect(fetched.stdout).toMatch(/installing Node\.js 24\.22\.3/)
    expect(fetched.stdout).not.toMatch(/uploading it/)
    expect(runtimeOf(1)).toBe('v24.22.3')
    // Host 2 gets a mirror that does not answer: the instructor's copy is uploaded instead.
    const uploaded = await fleet(['prepare', '-H', one(2), '--db', join(dir, 'rt2.db'), '-p', 'demo', '--steps', 'setup', '--runtime', 'managed', '--runtime-mirror', 'http://127.0.0.1:9'])
    expect(uploaded.code, uploaded.stdout + uploaded.stderr).toBe(0)
    expect(uploaded.stdout).toMatch(/could not download Node\.js .*uploading it/)
    expect(runtimeOf(2)).toBe('v24.22.3')
    expect(existsSync(join(set.hosts[2].home, 'fleet-demo', 'demo.conf'))).toBe(true)
  }, 300_000)

  it('on a terminal, prepare draws a live bar with counts; NO_COLOR turns colour off', async () => {
    resetHosts(set)
    const {spawnSync} = await import('node:child_process')
    const {FLEET} = await import('../helpers/fleet-cli.js')
    // `script` gives the command a real pseudo-terminal.
    const {NO_COLOR: _, ...base} = process.env
    const onTty = (env: Record<string, string>, db: string) =>
      spawnSync('script', ['-qec', `${process.execPath} ${FLEET} prepare -H ${hostsFile} --db ${db} -p demo --steps setup`, '/dev/null'], {encoding: 'utf8', env: {...base, SSH_AUTH_SOCK: '', TERM: 'xterm', ...env}})
    const colour = onTty({}, join(dir, 'tty1.db'))
    expect(colour.status).toBe(0)
    expect(colour.stdout).toMatch(/\r\x1b\[2K\[#{30}\] 6\/6 {2}running 0/)
    expect(colour.stdout).toContain('\x1b[32mok 6\x1b[0m')
    const plain = onTty({NO_COLOR: '1'}, join(dir, 'tty2.db'))
    expect(plain.status).toBe(0)
    expect(plain.stdout).toMatch(/\[#{30}\] 6\/6 {2}running 0 {2}ok 6 {2}failed 0/)
    expect(plain.stdout).not.toContain('\x1b[32m')
  })

  it('status --watch without a terminal prints once the run is done and exits', async () => {
    const db = join(dir, 'steps.db')
    const r = await fleet(['status', '--db', db, '--watch'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^pending 0 {2}connecting 0 {2}running 0 {2}ok 6 {2}failed 0 {2}unreachable 0/)
  })
})

describe('fleet demo', {timeout: 180_000}, () => {
  it('starts local hosts, prepares them with the demo playbook, shows status and stops them', async () => {
    const db = join(tempDir(), 'demo.db')
    const r = await fleet(['demo', '--hosts', '3', '--db', db])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('demo: 3 of 3 hosts ok.')
    expect(r.stdout).toMatch(/h003 +127\.\d+\.\d+\.\d+:\d+ +8\/8 Write a report of what was done +ok/)
    const store = FleetStore.open(db)
    expect(store.hosts().map((h) => h.state)).toEqual(['ok', 'ok', 'ok'])
    store.close()
    expect(existsSync('/var/lib/fleet-localhosts/home/fleet-d001')).toBe(false)
  })
})
