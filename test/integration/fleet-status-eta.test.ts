import {rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import type {JournalRecord} from '../../src/protocol/index.js'
import {FleetStore} from '../../src/store/store.js'
import {tempDir} from '../helpers/agent-cli.js'
import {fleet} from '../helpers/fleet-cli.js'

const FACTS = {hostname: 'h', user: 'u', home: '/h', is_root: false, os: {id: 'debian', id_like: [], version_id: '12', version_major: 12, pretty_name: 'D', family: 'debian'}, kernel: 'k', arch: 'x', cpus: 1, mem_mb: 1, has_systemd: false, virt: {kvm_device: false, cpu_flag: false, nested: false}, boot_id: 'b'}

type StepPlan = {step: string; ms: number; status?: 'ok' | 'failed'} | {step: string; runningSince: number}

/**
 * A host's journal as the agent writes it: run-start at `t0` (epoch ms), then each step
 * back to back with its real timestamps and duration_ms; a step given `runningSince` has
 * started then and not ended, and the journal stops there; a failed step ends the run.
 */
function journal(run: string, plan: string[], t0: number, steps: StepPlan[]): JournalRecord[] {
  let seq = 0
  const out: JournalRecord[] = []
  const add = (ts: number, r: Record<string, unknown>) => out.push({v: 1, seq: ++seq, ts: new Date(ts).toISOString(), run, ...r} as unknown as JournalRecord)
  add(t0, {type: 'run-start', mode: 'run', playbook: {name: 'eta', hash: 'h', path: '/p'}, selection: {}, plan: plan.map((id) => ({id, title: id.toUpperCase()})), facts: FACTS, agent_version: '1', pid: 1})
  let t = t0
  for (const s of steps) {
    const index = plan.indexOf(s.step) + 1
    const start = 'runningSince' in s ? s.runningSince : t
    add(start, {type: 'step-start', step: s.step, index, total: plan.length, title: s.step.toUpperCase(), action: 'run'})
    add(start + 500, {type: 'output', step: s.step, stream: 'stdout', data: `${s.step} working\n`})
    if ('runningSince' in s) return out
    t = start + s.ms
    const failed = s.status === 'failed'
    add(t, {type: 'step-end', step: s.step, status: failed ? 'failed' : 'ok', exit_code: failed ? 1 : 0, duration_ms: s.ms, attempts: 1, ...(failed ? {error: 'E: broke'} : {})})
    if (failed) {
      add(t, {type: 'run-end', status: 'failed', duration_ms: t - t0, failed_step: s.step, error: `${s.step}: E: broke`})
      return out
    }
  }
  add(t, {type: 'run-end', status: 'ok', duration_ms: t - t0})
  return out
}

/** A store with a prepare run of `playbook`: each host claimed, and given its journal (none: still pending). */
function writeStore(db: string, playbook: string, hosts: Array<[string, JournalRecord[] | undefined]>): void {
  const store = FleetStore.open(db)
  const run = store.startRun('prepare', playbook, '/room/hosts.txt', {})
  hosts.forEach(([name, records], i) => {
    const id = store.upsertHost({name, address: `10.0.0.${i + 1}`, user: 'ubuntu'})
    store.claimHost(id, run)
    if (records) {
      store.setAgentRun(id, records[0].run, 'run')
      store.ingest(id, records)
    }
  })
  store.close()
}

interface Report {
  hosts: Array<{name: string; state: string; eta_s: number | null; elapsed_s: number | null}>
  room_eta_s: number | null
  counts: Record<string, number>
}

async function statusJson(db: string): Promise<{report: Report; before: number; after: number}> {
  const before = Date.now()
  const r = await fleet(['status', '--db', db, '--json'])
  const after = Date.now()
  expect(r.stderr).toBe('')
  expect(r.code).toBe(1) // not every host is ok
  return {report: JSON.parse(r.stdout) as Report, before, after}
}

const byName = (r: Report) => Object.fromEntries(r.hosts.map((h) => [h.name, h]))

describe('fleet status: ETA from peers', () => {
  it('estimates a running host from the medians of its peers, a pending one from the whole plan, the room from the slowest', async () => {
    const dir = tempDir()
    const db = join(dir, 'fleet.db')
    const playbook = join(dir, 'eta.yaml') // never read: every step has peers
    const now = Date.now()
    const plan = ['a', 'b', 'c']
    const runningSince = now - 20_000
    writeStore(db, playbook, [
      // a: 10, 14, 12 s (median 12); b: 60, 80 s (70); c: 100, 120 s (110).
      ['alice-lab', journal('r-alice', plan, now - 600_000, [{step: 'a', ms: 10_000}, {step: 'b', ms: 60_000}, {step: 'c', ms: 100_000}])],
      ['bob-lab', journal('r-bob', plan, now - 500_000, [{step: 'a', ms: 14_000}, {step: 'b', ms: 80_000}, {step: 'c', ms: 120_000}])],
      // On step b for 20 s, after a in 12 s.
      ['carol-lab', journal('r-carol', plan, runningSince - 12_000, [{step: 'a', ms: 12_000}, {step: 'b', runningSince}])],
      // Failed a after 15 minutes: a failure is not how long a step takes.
      ['dave-lab', journal('r-dave', plan, now - 1_000_000, [{step: 'a', ms: 900_000, status: 'failed'}])],
      ['erin-lab', undefined],
    ])

    const {report, before, after} = await statusJson(db)
    const hosts = byName(report)
    // carol: b's median less the time it has run (as of when fleet status read the clock), then c.
    const carolAt = (t: number) => Math.ceil((Math.max(5_000, 70_000 - (t - runningSince)) + 110_000) / 1000)
    expect(hosts['carol-lab'].state).toBe('running')
    expect(hosts['carol-lab'].eta_s).toBeGreaterThanOrEqual(carolAt(after))
    expect(hosts['carol-lab'].eta_s).toBeLessThanOrEqual(carolAt(before))
    expect(carolAt(before)).toBeLessThan(12 + 70 + 110) // the elapsed part really was taken off
    expect(hosts['erin-lab']).toMatchObject({state: 'pending', eta_s: 12 + 70 + 110})
    for (const done of ['alice-lab', 'bob-lab', 'dave-lab']) expect(hosts[done].eta_s).toBeNull()
    expect(report.room_eta_s).toBe(192)
    // The existing fields stay.
    expect(report.counts).toMatchObject({ok: 2, running: 1, failed: 1, pending: 1})
    expect(hosts['alice-lab'].elapsed_s).toBe(170)

    const human = await fleet(['status', '--db', db], {env: {COLUMNS: '160'}})
    expect(human.code).toBe(1)
    expect(human.stdout).toContain('room ready in ~4m')
    expect(human.stdout).toMatch(/HOST +ADDRESS +STEP +STATE +ELAPSED +ETA +ERROR/)
    expect(human.stdout).toMatch(/carol-lab +10\.0\.0\.3 +2\/3 B +running +\d+s +~2m[0-9]{2}s/)
    expect(human.stdout).toMatch(/erin-lab +10\.0\.0\.5 +pending +~3m12s/)
    expect(human.stdout).toMatch(/alice-lab +10\.0\.0\.1 +3\/3 C +ok +2m50s\n/)
  })

  it('falls back to the timeouts the playbook declares when no peer has finished a step, and says unknown without them', async () => {
    const dir = tempDir()
    const db = join(dir, 'fleet.db')
    const playbook = join(dir, 'eta.yaml')
    // A var with no value: the playbook could not be run from here, its timeouts still read.
    const yaml = (defaults: string) => `name: eta\nvars:\n  token:\n    secret: true\n${defaults}steps:\n  - id: a\n    run: "true"\n    timeout: 300\n  - id: b\n    run: "true"\n`
    writeFileSync(playbook, yaml('defaults:\n  timeout: 200\n'))
    const runningSince = Date.now() - 50_000
    writeStore(db, playbook, [['alice-lab', journal('r-alice', ['a', 'b'], runningSince, [{step: 'a', runningSince}])]])

    const {report, before, after} = await statusJson(db)
    const at = (t: number) => Math.ceil((300_000 - (t - runningSince) + 200_000) / 1000)
    expect(report.hosts[0].eta_s).toBeGreaterThanOrEqual(at(after))
    expect(report.hosts[0].eta_s).toBeLessThanOrEqual(at(before))
    expect(report.room_eta_s).toBe(report.hosts[0].eta_s)

    // b declares no timeout now (and fleet's built-in default is no estimate): unknown.
    writeFileSync(playbook, yaml(''))
    const unknown = (await statusJson(db)).report
    expect(unknown.hosts[0].eta_s).toBeNull()
    expect(unknown.room_eta_s).toBeNull()
    const human = await fleet(['status', '--db', db], {env: {COLUMNS: '160'}})
    expect(human.stdout).toContain('room ready in: unknown')
    expect(human.stdout).toMatch(/alice-lab +10\.0\.0\.1 +1\/2 A +running +\d+s +\?/)

    // The playbook gone: no fallback, and fleet status still answers.
    rmSync(playbook)
    const gone = (await statusJson(db)).report
    expect(gone.hosts[0].eta_s).toBeNull()
    expect(gone.room_eta_s).toBeNull()
  })
})
