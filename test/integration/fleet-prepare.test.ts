import {createHash} from 'node:crypto'
import {existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {basename, join, resolve} from 'node:path'
import Database from 'better-sqlite3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startLocalHosts, type LocalHostSet} from '../../testbed/index.js'
import {FleetStore} from '../../src/store/store.js'
import {tempDir, waitUntil} from '../helpers/agent-cli.js'
import {fleet, hostJournals, resetHosts} from '../helpers/fleet-cli.js'

const HOSTS = 20
const SLOW = resolve('test/fixtures/playbooks/slow.yaml')
const SECRET = 'demo-s3cret-7f3a9c'

let set: LocalHostSet
let dir: string
let hostsFile: string

beforeAll(async () => {
  set = await startLocalHosts({count: HOSTS, prefix: 'fleet-tp'})
  dir = tempDir()
  hostsFile = join(dir, 'hosts.txt')
  writeFileSync(hostsFile, set.hostsFileText())
}, 180_000)

afterAll(async () => {
  await set?.stop()
})

/** Every journal record on every host is in the database exactly once, and nothing else is. */
function expectStoreMatchesHosts(db: string): void {
  const store = FleetStore.open(db)
  try {
    let total = 0
    for (const h of set.hosts) {
      const row = store.host(h.name)!
      for (const [run, journal] of hostJournals(h)) {
        expect(store.records(row.id, run), `${h.name} run ${run}`).toEqual(journal)
        total += journal.length
      }
    }
    expect(store.eventCount()).toBe(total)
  } finally {
    store.close()
  }
}

function runsOn(hostIndex: number): string[] {
  const d = join(set.hosts[hostIndex].home, '.local/state/fleet-agent/runs')
  return existsSync(d) ? readdirSync(d) : []
}

// Generous: 20 hosts share two cores with whatever else the machine runs.
describe('fleet prepare over real SSH', {timeout: 300_000}, () => {
  it('provisions every host; every event ends up in SQLite exactly once; the secret does not', async () => {
    resetHosts(set)
    const db = join(dir, 'full.db')
    const r = await fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', 'demo'])
    expect(r.stderr).toBe('')
    expect(r.code, r.stdout).toBe(0)
    expect(r.stdout).toContain(`prepare: ${HOSTS} of ${HOSTS} hosts ok.`)
    expectStoreMatchesHosts(db)
    for (const i of [0, HOSTS - 1]) expect(runsOn(i)).toHaveLength(1)
    expect(statSync(db).mode & 0o777).toBe(0o600)
    for (const f of [db, `${db}-wal`]) if (existsSync(f)) expect(readFileSync(f).includes(SECRET)).toBe(false)
    // The secret was used on the hosts: they hold its hash.
    expect(readFileSync(join(set.hosts[0].home, 'fleet-demo/token.sha256'), 'utf8')).toMatch(/^[0-9a-f]{64}/)

    const status = await fleet(['status', '--db', db, '--json'])
    expect(status.code).toBe(0)
    const report = JSON.parse(status.stdout)
    expect(report.counts).toMatchObject({ok: HOSTS, failed: 0, unreachable: 0, running: 0})
    expect(report.hosts[0].step).toMatch(/^8\/8 /)

    // Again, with a vars file of the same values: the bundle is there already, every step is
    // skipped by its check, and the vars file reaches each host whole, mode 0600 (it holds the secret).
    const varsText = `greeting: hello from fleet\napi_token: ${SECRET}\n`
    const varsFile = join(dir, 'room-vars.yaml')
    writeFileSync(varsFile, varsText)
    const again = await fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', 'demo', '--vars', varsFile, '--json'])
    expect(again.code, again.stdout).toBe(0)
    expect(JSON.parse(again.stdout)).toMatchObject({ok: true, hosts: HOSTS})
    // The hosts get its values as JSON (the agent reads that without a YAML parser).
    const varsJson = `${JSON.stringify({greeting: 'hello from fleet', api_token: SECRET})}\n`
    const onHost = join(set.hosts[0].home, '.fleet/vars', `${createHash('sha256').update(varsJson).digest('hex').slice(0, 16)}.yaml`)
    expect(readFileSync(onHost, 'utf8')).toBe(varsJson)
    expect(statSync(onHost).mode & 0o777).toBe(0o600)
    expect(readdirSync(join(set.hosts[0].home, '.fleet/vars'))).toEqual([basename(onHost)])
    for (const f of [db, `${db}-wal`]) if (existsSync(f)) expect(readFileSync(f).includes(SECRET)).toBe(false)
    const store = FleetStore.open(db)
    const h0 = store.host(set.hosts[0].name)!
    expect(store.steps(h0.id, h0.agent_run!).every((s) => s.status === 'skipped' && s.reason === 'check')).toBe(true)
    store.close()
    expectStoreMatchesHosts(db)
  })

  it('survives connections killed mid-step: every host finishes, no event lost or duplicated', async () => {
    resetHosts(set)
    const db = join(dir, 'drops.db')
    const running = fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', SLOW])
    const victims = set.hosts.slice(0, 6)
    await waitUntil('the victims are ticking', () => victims.every((h) => [...hostJournals(h).values()].some((j) => j.some((r) => r.type === 'output' && r.step === 'tick'))), 60_000)
    let killed = 0
    for (const h of victims) killed += set.killSessions(h).length
    expect(killed).toBeGreaterThanOrEqual(victims.length)
    const r = await running
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expectStoreMatchesHosts(db)
    for (let i = 0; i < 6; i++) expect(runsOn(i)).toHaveLength(1)
  })

  it('SIGKILL of fleet prepare mid-run, then prepare again: it re-attaches, no second agent starts, all finish', async () => {
    resetHosts(set)
    const db = join(dir, 'killed.db')
    const first = fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', SLOW])
    await waitUntil('every host is ticking', () => set.hosts.every((h) => [...hostJournals(h).values()].some((j) => j.some((r) => r.type === 'step-start' && r.step === 'tick'))), 90_000)
    first.child.kill('SIGKILL')
    await first
    const second = await fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', SLOW])
    expect(second.code, second.stdout + second.stderr).toBe(0)
    const describeRuns = (i: number) => JSON.stringify([...hostJournals(set.hosts[i]).entries()].map(([run, j]) => [run, j.filter((r) => r.type !== 'output').map((r) => `${r.seq}:${r.type}:${'step' in r ? r.step : ''}${r.type === 'run-end' ? r.status : ''}@${r.ts.slice(14, 23)}`)]))
    for (let i = 0; i < HOSTS; i++) expect(runsOn(i), `${set.hosts[i].name} ${describeRuns(i)}`).toHaveLength(1)
    expectStoreMatchesHosts(db)
  })

  it('a host whose start answer never reached the database (its disk filled, fleet killed) is re-attached to the run it began, even one that has ended', async () => {
    resetHosts(set)
    const db = join(dir, 'lost.db')
    const first = await fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', 'demo'])
    expect(first.code, first.stdout + first.stderr).toBe(0)
    // As if fleet had stopped before it could record three hosts' agent runs: the fleet run
    // never ended, and the database knows nothing of what those hosts' agents did.
    const lost = set.hosts.slice(0, 3).map((h) => h.name)
    const sql = new Database(db)
    const ids = lost.map((name) => (sql.prepare('SELECT id FROM hosts WHERE name = ?').get(name) as {id: number}).id)
    const inIds = `(${ids.join(',')})`
    sql.exec(`UPDATE runs SET status = 'running', ended_at = NULL;
      DELETE FROM events WHERE run_id IN (SELECT id FROM agent_runs WHERE host_id IN ${inIds});
      DELETE FROM steps WHERE host_id IN ${inIds};
      DELETE FROM agent_runs WHERE host_id IN ${inIds};
      UPDATE hosts SET state = 'running', agent_run = NULL, agent_mode = NULL, last_seq = 0 WHERE id IN ${inIds};`)
    sql.close()
    const again = await fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', 'demo'])
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect(again.stdout).toContain(`prepare: ${HOSTS} of ${HOSTS} hosts ok.`)
    // No second run anywhere: the three got their ended runs' journals, whole.
    for (let i = 0; i < HOSTS; i++) expect(runsOn(i), set.hosts[i].name).toHaveLength(1)
    expectStoreMatchesHosts(db)
  })

  it('reports an unreachable host, a host with the wrong key and a failing host while the rest finish; --only failed reruns just those', async () => {
    resetHosts(set)
    const db = join(dir, 'mixed.db')
    const [down, wrongKey, failing] = [set.hosts[3], set.hosts[4], set.hosts[5]]
    await set.stopHost(down)
    writeFileSync(join(failing.home, 'fail-here'), '')
    const lines = set.hostsFileText().trim().split('\n').map((l) => (l.includes(`name=${wrongKey.name} `) ? l.replace(/identity=\S+/, `identity=${join(dir, 'wrong-key')}`) : l))
    const {generateEd25519} = await import('../../testbed/machine/keys.js')
    writeFileSync(join(dir, 'wrong-key'), generateEd25519().privateKey, {mode: 0o600})
    const mixedHosts = join(dir, 'mixed-hosts.txt')
    writeFileSync(mixedHosts, lines.join('\n') + '\n')
    try {
      const r = await fleet(['prepare', '--hosts', mixedHosts, '--db', db, '--playbook', SLOW, '--connect-timeout', '60'])
      expect(r.code).toBe(1)
      expect(r.stdout).toContain(`prepare: ${HOSTS - 3} of ${HOSTS} hosts ok.`)
      const report = JSON.parse((await fleet(['status', '--db', db, '--json'])).stdout)
      const byName = Object.fromEntries(report.hosts.map((h: {name: string}) => [h.name, h]))
      expect(byName[down.name]).toMatchObject({state: 'unreachable'})
      expect(byName[down.name].error).toMatch(/refused/i)
      expect(byName[wrongKey.name]).toMatchObject({state: 'unreachable'})
      expect(byName[wrongKey.name].error).toMatch(/auth|key|permission/i)
      expect(byName[failing.name]).toMatchObject({state: 'failed', error: 'maybe-fail: E: Unable to locate package workshop-tools'})
      expect(report.counts).toMatchObject({ok: HOSTS - 3, failed: 1, unreachable: 2})
      const human = await fleet(['status', '--db', db, '--host', failing.name])
      expect(human.code).toBe(1)
      expect(human.stdout).toMatch(/maybe-fail +failed/)
      expect(human.stdout).toContain('E: Unable to locate package workshop-tools')

      // Fix the three hosts, then retry only them.
      await set.startHost(down)
      rmSync(join(failing.home, 'fail-here'))
      const okHostsBefore = set.hosts.filter((h) => ![down, wrongKey, failing].includes(h)).map((h) => runsOn(set.hosts.indexOf(h)).length)
      const retry = await fleet(['prepare', '--hosts', hostsFile, '--db', db, '--playbook', SLOW, '--only', 'failed', '--json'])
      expect(retry.code, retry.stdout).toBe(0)
      expect(JSON.parse(retry.stdout)).toMatchObject({ok: true, hosts: 3})
      const okHostsAfter = set.hosts.filter((h) => ![down, wrongKey, failing].includes(h)).map((h) => runsOn(set.hosts.indexOf(h)).length)
      expect(okHostsAfter).toEqual(okHostsBefore)
    } finally {
      if (!down.sshdPid) await set.startHost(down)
    }
  })

  it('refuses a host whose key changed, and goes on with the others', async () => {
    resetHosts(set)
    const db = join(dir, 'keys.db')
    const two = join(dir, 'two-hosts.txt')
    writeFileSync(two, set.hostsFileText().trim().split('\n').slice(0, 2).join('\n') + '\n')
    expect((await fleet(['prepare', '--hosts', two, '--db', db, '--playbook', SLOW, '--steps', 'setup'])).code).toBe(0)
    await set.rotateHostKey(set.hosts[0])
    const r = await fleet(['prepare', '--hosts', two, '--db', db, '--playbook', SLOW, '--steps', 'setup', '--json'])
    expect(r.code).toBe(1)
    const s = JSON.parse(r.stdout)
    expect(s.counts).toMatchObject({ok: 1, unreachable: 1})
    expect(s.failed[0]).toMatchObject({name: set.hosts[0].name, state: 'unreachable'})
    expect(s.failed[0].error).toMatch(/host key/i)
  })

  it('a bad hosts file gets every problem with its line, and nobody is contacted', async () => {
    const db = join(dir, 'bad.db')
    const bad = join(dir, 'bad-hosts.txt')
    const h = set.hosts[0]
    writeFileSync(bad, `# room\n${h.user}@${h.address}:${h.port} name=ok\n10.0.0.300\nhost:70000\nh2 color=blue\n`)
    const sessionsBefore = readFileSync(h.logFile, 'utf8').split('Accepted').length
    const r = await fleet(['prepare', '--hosts', bad, '--db', db, '--playbook', 'demo'])
    expect(r.code).toBe(2)
    const lines = r.stderr.trim().split('\n')
    expect(lines.length).toBe(3)
    expect(lines[0]).toMatch(/bad-hosts\.txt:3: /)
    expect(lines[1]).toMatch(/bad-hosts\.txt:4: .*"70000" is not a port/)
    expect(lines[2]).toMatch(/bad-hosts\.txt:5: .*color/)
    expect(existsSync(db)).toBe(false)
    expect(readFileSync(h.logFile, 'utf8').split('Accepted').length).toBe(sessionsBefore)
  })
})
