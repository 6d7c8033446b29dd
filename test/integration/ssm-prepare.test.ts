/**
 * `fleet prepare` over AWS Systems Manager, end to end: the real fleet CLI and
 * @aws-sdk/client-ssm against the local SSM endpoint (testbed/ssm-endpoint.ts,
 * pointed at with FLEET_SSM_ENDPOINT), whose instances run the commands for real.
 * Not AWS: the endpoint reproduces the service's protocol and habits.
 */
import {existsSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join, relative, resolve} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {LocalHost} from '../../testbed/index.js'
import {cmdline, descendants, processTable, readUid, signalPid} from '../../testbed/machine/procs.js'
import {FleetStore} from '../../src/store/store.js'
import {DEMO_STEPS, tempDir, waitUntil} from '../helpers/agent-cli.js'
import {fleet, hostJournals, hostStateDir} from '../helpers/fleet-cli.js'
import {startSsmEndpoint, type SsmEndpoint, type SsmInstance} from '../../testbed/ssm-endpoint.js'

const COUNT = 10
const TAGGED = 4 // the --targets test: two good instances, a silent and an undeliverable one
const SECRET = 'demo-s3cret-7f3a9c'

let ep: SsmEndpoint
let dir: string
let hostsFile: string

beforeAll(async () => {
  ep = await startSsmEndpoint({count: COUNT, prefix: 'fleet-ssp-', tags: (i) => ({Workshop: i < TAGGED ? 'ssm-room' : 'elsewhere'})})
  dir = tempDir()
  hostsFile = join(dir, 'hosts.txt')
  writeFileSync(hostsFile, ep.hostsFileText())
}, 120_000)

afterAll(async () => {
  await ep?.stop()
})

/** The instance's journals, read from its files (its agent runs as a non-root account, like the SSH harness's hosts). */
const journalsOf = (i: SsmInstance) => hostJournals({home: i.home} as LocalHost)

/** Every journal record on every instance is in the database exactly once, and nothing else is. */
function expectStoreMatchesInstances(db: string, instances: SsmInstance[], nameOf: (i: SsmInstance) => string, steps = DEMO_STEPS): void {
  const store = FleetStore.open(db)
  try {
    let total = 0
    for (const i of instances) {
      const row = store.host(nameOf(i))!
      expect(row, nameOf(i)).toBeDefined()
      const journals = journalsOf(i)
      expect(journals.size, `${nameOf(i)} runs`).toBe(1)
      for (const [run, journal] of journals) {
        expect(store.records(row.id, run), `${nameOf(i)} run ${run}`).toEqual(journal)
        expect(store.steps(row.id, run).map((s) => s.step)).toEqual(steps)
        total += journal.length
      }
    }
    expect(store.eventCount()).toBe(total)
  } finally {
    store.close()
  }
}

describe('fleet prepare over AWS Systems Manager (local endpoint)', () => {
  it(`provisions ${COUNT} instances with the demo playbook: every event in SQLite exactly once, as over SSH`, async () => {
    ep.resetHomes()
    ep.setThrottle(0.05) // the service throttles now and then
    const db = join(dir, 'full.db')
    const sendsBefore = ep.stats.sendIds.length
    const r = await fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', 'demo'], {env: ep.env})
    expect(r.stderr).toBe('')
    expect(r.code, r.stdout).toBe(0)
    expect(r.stdout).toContain(`prepare: ${COUNT} of ${COUNT} hosts ok.`)
    expectStoreMatchesInstances(db, ep.instances, (i) => i.name)
    for (const f of [db, `${db}-wal`]) if (existsSync(f)) expect(readFileSync(f).includes(SECRET)).toBe(false)
    expect(readFileSync(join(ep.instances[0]!.home, 'fleet-demo/token.sha256'), 'utf8')).toMatch(/^[0-9a-f]{64}/)
    // The probe went out as one SendCommand for every instance; no call had more than 50 ids.
    const sends = ep.stats.sendIds.slice(sendsBefore)
    expect(Math.max(...sends)).toBe(COUNT)
    expect(sends.every((n) => n <= 50)).toBe(true)
    expect(ep.stats.maxSendBytes).toBeLessThan(64 * 1024)

    const status = await fleet(['status', '--db', db, '--json'])
    expect(status.code).toBe(0)
    const report = JSON.parse(status.stdout)
    expect(report.counts).toMatchObject({ok: COUNT, failed: 0, unreachable: 0, running: 0})
    expect(report.hosts[0].step).toMatch(/^8\/8 /)

    // Again: the bundle is there already (not sent again), every step is skipped by its check.
    const complete = ep.instances.map((i) => statSync(join(i.home, '.fleet/bundles')).mtimeMs)
    const again = await fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', 'demo', '--json'], {env: ep.env})
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect(JSON.parse(again.stdout)).toMatchObject({ok: true, hosts: COUNT})
    expect(ep.instances.map((i) => statSync(join(i.home, '.fleet/bundles')).mtimeMs)).toEqual(complete)
    const store = FleetStore.open(db)
    const h0 = store.host(ep.instances[0]!.name)!
    expect(store.steps(h0.id, h0.agent_run!).every((s) => s.status === 'skipped' && s.reason === 'check')).toBe(true)
    store.close()
  }, 240_000)

  it("collect-logs brings every instance's journals, step logs and declared paths home over SSM, without the secret", async () => {
    // The instances as the test above left them: prepared with the demo playbook (its database is full.db).
    ep.setThrottle(0.05)
    const db = join(dir, 'full.db')
    const out = join(dir, 'ssm-logs')
    const r = await fleet(['collect-logs', '--hosts', hostsFile, '--db', db, '--out', out, '--json'], {env: ep.env, cwd: dir})
    expect(r.stderr).toBe('')
    expect(r.code, r.stdout).toBe(0)
    const report = JSON.parse(r.stdout) as {out: string; hosts: Array<{name: string; ok: boolean; files: number}>}
    expect(report.out).toBe(out)
    expect(report.hosts.map((h) => h.name).sort()).toEqual(ep.instances.map((i) => i.name).sort())
    for (const i of ep.instances) {
      const host = {home: i.home} as LocalHost
      const folder = join(out, i.name)
      expect(report.hosts.find((h) => h.name === i.name), i.name).toMatchObject({ok: true, files: expect.any(Number)})
      expect(journalsOf(i).size).toBe(2) // prepare ran twice
      // The agent's state dir, file for file (journals and step logs of both runs).
      const state = hostStateDir(host)
      const stateFiles = readdirSync(state, {recursive: true, withFileTypes: true}).filter((f) => f.isFile())
      expect(stateFiles.length).toBeGreaterThan(4)
      for (const f of stateFiles) {
        const rel = relative(state, join(f.parentPath, f.name))
        expect(readFileSync(join(folder, 'agent', rel), 'utf8'), `${i.name} ${rel}`).toBe(readFileSync(join(state, rel), 'utf8'))
      }
      const secretLogs = stateFiles.filter((f) => f.name === 'use-secret.log').map((f) => readFileSync(join(folder, 'agent', relative(state, join(f.parentPath, f.name))), 'utf8'))
      expect(secretLogs.some((l) => l.includes('calling the API with token'))).toBe(true)
      const demoReport = join('fleet-demo', 'report.txt')
      expect(readFileSync(join(folder, 'files', i.home, demoReport), 'utf8')).toBe(readFileSync(join(i.home, demoReport), 'utf8'))
      for (const f of readdirSync(folder, {recursive: true, withFileTypes: true})) {
        if (f.isFile()) expect(readFileSync(join(f.parentPath, f.name)).includes(SECRET), join(f.parentPath, f.name)).toBe(false)
      }
    }
  }, 240_000)

  it('--transport ssm --targets tag:KEY=VALUE: one row per instance id; silent and undeliverable instances are unreachable with the reason; --only failed finishes them', async () => {
    ep.resetHomes()
    ep.setThrottle(0)
    const db = join(dir, 'targets.db')
    const [silent, undeliverable] = [ep.instances[1]!, ep.instances[2]!]
    ep.setMode(silent, 'silent')
    ep.setMode(undeliverable, 'undeliverable')
    const tagged = ep.instances.slice(0, TAGGED)
    const args = ['prepare', '--transport', 'ssm', '--targets', 'tag:Workshop=ssm-room', '--db', db, '--playbook', 'demo', '--json']
    try {
      const r = await fleet([...args, '--connect-timeout', '8'], {env: ep.env})
      expect(r.code, r.stderr).toBe(1)
      expect(JSON.parse(r.stdout)).toMatchObject({ok: false, hosts: TAGGED})
      const report = JSON.parse((await fleet(['status', '--db', db, '--json'])).stdout)
      const byName = Object.fromEntries(report.hosts.map((h: {name: string}) => [h.name, h]))
      expect(Object.keys(byName).sort()).toEqual(tagged.map((i) => i.id).sort())
      expect(byName[silent.id]).toMatchObject({state: 'unreachable'})
      expect(byName[silent.id].error).toMatch(/did not pick up a command within 8 s/)
      expect(byName[undeliverable.id]).toMatchObject({state: 'unreachable'})
      expect(byName[undeliverable.id].error).toMatch(/Undeliverable/)
      expect(report.counts).toMatchObject({ok: TAGGED - 2, unreachable: 2, failed: 0})
    } finally {
      ep.setMode(silent, 'normal')
      ep.setMode(undeliverable, 'normal')
    }
    const retry = await fleet([...args, '--only', 'failed'], {env: ep.env})
    expect(retry.code, retry.stdout + retry.stderr).toBe(0)
    expect(JSON.parse(retry.stdout)).toMatchObject({ok: true, hosts: 2})
    expectStoreMatchesInstances(db, tagged, (i) => i.id)
  }, 240_000)

  it('an agent killed mid-run is seen as interrupted by the polling follow, started again, and its run resumes', async () => {
    ep.resetHomes()
    const two = ep.instances.slice(0, 2)
    const file = join(dir, 'two.txt')
    writeFileSync(file, two.map((i) => `${i.id} name=${i.name}\n`).join(''))
    const db = join(dir, 'killed.db')
    const running = fleet(['prepare', '--hosts', file, '--db', db, '--playbook', resolve('test/fixtures/playbooks/slow.yaml')], {env: ep.env})
    const victim = two[0]!
    const ticking = () => [...journalsOf(victim).values()].some((j) => j.some((r) => r.type === 'output' && r.step === 'tick'))
    await waitUntil('the victim is ticking', ticking, 90_000)
    const agentPid = [...processTable().values()].find((p) => readUid(p.pid) === victim.uid && cmdline(p.pid).includes('--detached-child'))?.pid
    expect(agentPid).toBeDefined()
    for (const p of [agentPid!, ...descendants(agentPid!).map((d) => d.pid)]) signalPid(p, 'SIGKILL')
    const r = await running
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const [journal] = [...journalsOf(victim).values()]
    expect(journal!.filter((x) => x.type === 'run-resume')).toHaveLength(1)
    expect(journal!.map((x) => x.seq)).toEqual(journal!.map((_, k) => k + 1))
    expectStoreMatchesInstances(db, two, (i) => i.name, ['setup', 'tick', 'maybe-fail'])
  }, 180_000)

  it('bad input is one sentence, before any instance is contacted', async () => {
    const noTransport = await fleet(['prepare', '--targets', 'tag:Workshop=ssm-room', '--playbook', 'demo', '--db', join(dir, 'x.db')], {env: ep.env})
    expect(noTransport).toMatchObject({code: 2, stderr: 'Error: --targets selects instances of AWS Systems Manager; add --transport ssm.\n'})
    const neither = await fleet(['prepare', '--playbook', 'demo', '--db', join(dir, 'x.db')], {env: ep.env})
    expect(neither).toMatchObject({code: 2, stderr: 'Error: Give --hosts FILE, or --transport ssm --targets tag:KEY=VALUE.\n'})
    const badTag = await fleet(['prepare', '--transport', 'ssm', '--targets', 'Workshop', '--playbook', 'demo', '--db', join(dir, 'x.db')], {env: ep.env})
    expect(badTag.code).toBe(2)
    expect(badTag.stderr).toMatch(/^Error: --targets: "Workshop" is not tag:KEY=VALUE/)
    const none = await fleet(['prepare', '--transport', 'ssm', '--targets', 'tag:Workshop=nobody', '--playbook', 'demo', '--db', join(dir, 'x.db')], {env: ep.env})
    expect(none).toMatchObject({code: 2, stderr: `Error: --targets tag:Workshop=nobody: no instance managed by Systems Manager in ${ep.region} has that tag.\n`})
    const {AWS_REGION: _region, ...noRegion} = ep.env
    const region = await fleet(['prepare', '--hosts', hostsFile, '--playbook', 'demo', '--db', join(dir, 'x.db')], {env: {...noRegion, AWS_REGION: '', AWS_DEFAULT_REGION: ''}})
    expect(region.code).toBe(2)
    expect(region.stderr).toMatch(/^Error: AWS Systems Manager: no AWS region; give --region/)
    const sshLine = join(dir, 'mixed.txt')
    writeFileSync(sshLine, `${ep.hostsFileText()}ubuntu@10.0.0.1 name=plain\n`)
    const mixed = await fleet(['prepare', '--transport', 'ssm', '--hosts', sshLine, '--playbook', 'demo', '--db', join(dir, 'x.db')], {env: ep.env})
    expect(mixed).toMatchObject({code: 2, stderr: `Error: ${sshLine}:${COUNT + 1}: --transport ssm, but "10.0.0.1" is not an instance id (i-...).\n`})
    // collect-logs takes the same hosts flags and refuses the same way.
    const collectNoTransport = await fleet(['collect-logs', '--targets', 'tag:Workshop=ssm-room', '--db', join(dir, 'full.db'), '--out', join(dir, 'never')], {env: ep.env})
    expect(collectNoTransport).toMatchObject({code: 2, stderr: 'Error: --targets selects instances of AWS Systems Manager; add --transport ssm.\n'})
    const collectNone = await fleet(['collect-logs', '--transport', 'ssm', '--targets', 'tag:Workshop=nobody', '--db', join(dir, 'full.db'), '--out', join(dir, 'never')], {env: ep.env})
    expect(collectNone).toMatchObject({code: 2, stderr: `Error: --targets tag:Workshop=nobody: no instance managed by Systems Manager in ${ep.region} has that tag.\n`})
    expect(existsSync(join(dir, 'never'))).toBe(false)
  })
})
