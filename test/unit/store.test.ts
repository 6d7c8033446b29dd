import {spawnSync} from 'node:child_process'
import {existsSync, readdirSync, statSync} from 'node:fs'
import {join, resolve} from 'node:path'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {FleetStore} from '../../src/store/store.js'
import {agent, DEMO_STEPS, journalOf, lastRun, tempDir} from '../helpers/agent-cli.js'

/** A real journal: the demo playbook run by the real agent. */
async function demoJournal() {
  const home = tempDir()
  const state = join(home, 'state')
  const r = await agent(['run', '-p', resolve('playbooks/demo.yaml'), '--state-dir', state], {home})
  expect(r.code).toBe(0)
  return journalOf(state, lastRun(state))
}

describe('FleetStore', () => {
  it('is one WAL file with mode 0600 (and so are its -wal and -shm files)', () => {
    const dir = tempDir()
    const path = join(dir, 'fleet.db')
    const store = FleetStore.open(path)
    store.upsertHost({name: 'h1', address: '127.0.0.1'})
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(store.db.pragma('journal_mode', {simple: true})).toBe('wal')
    for (const f of [path + '-wal', path + '-shm']) if (existsSync(f)) expect(statSync(f).mode & 0o777).toBe(0o600)
    store.close()
  })

  it('stores every record once, however often it is ingested, and rebuilds the journal exactly', async () => {
    const journal = await demoJournal()
    const store = FleetStore.open(join(tempDir(), 'fleet.db'))
    const id = store.upsertHost({name: 'h1', address: '127.0.0.1', port: 22, user: 'u'})
    expect(store.ingest(id, journal.slice(0, 10))).toBe(10)
    // Overlapping batches, as after a reconnect that follows from an older seq.
    expect(store.ingest(id, journal.slice(5))).toBe(journal.length - 10)
    expect(store.ingest(id, journal)).toBe(0)
    expect(store.eventCount(id)).toBe(journal.length)
    const run = journal[0].run
    expect(store.records(id, run)).toEqual(journal)
    const host = store.host('h1')!
    expect(host).toMatchObject({state: 'ok', agent_run: run, last_seq: journal.length, step_total: 8, error: null})
    const steps = store.steps(id, run)
    expect(steps.map((s) => [s.step, s.status])).toEqual(DEMO_STEPS.map((id) => [id, 'ok']))
    expect(steps.find((s) => s.step === 'flaky')).toMatchObject({attempts: 2})
    expect(store.logTail(id, run, 'stream-output', 2)).toBe('working on item 5 of 5\nall items done')
    store.close()
  })

  it('hosts() gives every column of the hosts table, each host as SELECT * does', () => {
    const store = FleetStore.open(join(tempDir(), 'fleet.db'))
    const a = store.upsertHost({name: 'alice-lab', address: '10.0.0.5', port: 2222, user: 'ubuntu'})
    store.upsertHost({name: 'bob-lab', address: '10.0.0.6'})
    store.setHostState(a, 'failed', 'apt: E: Unable to locate package x')
    const columns = (store.db.prepare('PRAGMA table_info(hosts)').all() as {name: string}[]).map((c) => c.name)
    const hosts = store.hosts()
    expect(hosts.map((h) => Object.keys(h))).toEqual([columns, columns])
    expect(hosts).toEqual(store.db.prepare('SELECT * FROM hosts ORDER BY id').all())
    expect(hosts[0]).toMatchObject({name: 'alice-lab', port: 2222, state: 'failed', error: 'apt: E: Unable to locate package x'})
    store.close()
  })

  it('records a failed step as the host error and state', () => {
    const store = FleetStore.open(join(tempDir(), 'fleet.db'))
    const id = store.upsertHost({name: 'h', address: 'a'})
    const base = {v: 1 as const, ts: '2026-01-01T00:00:00Z', run: 'r'}
    const facts = {hostname: 'h', user: 'u', home: '/h', is_root: false, os: {id: 'debian', id_like: [], version_id: '12', version_major: 12, pretty_name: 'D', family: 'debian'}, kernel: 'k', arch: 'x', cpus: 1, mem_mb: 1, has_systemd: false, virt: {kvm_device: false, cpu_flag: false, nested: false}, boot_id: 'b'}
    store.ingest(id, [
      {...base, seq: 1, type: 'run-start', mode: 'run', playbook: {name: 'p', hash: 'h', path: '/p'}, selection: {}, plan: [{id: 'a', title: 'A'}], facts, agent_version: '1', pid: 1},
      {...base, seq: 2, type: 'step-start', step: 'a', index: 1, total: 1, title: 'A', action: 'run'},
      {...base, seq: 3, type: 'step-end', step: 'a', status: 'failed', exit_code: 100, duration_ms: 1, attempts: 1, error: 'E: Unable to locate package x'},
      {...base, seq: 4, type: 'run-end', status: 'failed', duration_ms: 2, failed_step: 'a', error: 'a: E: Unable to locate package x'},
    ])
    expect(store.host(id)).toMatchObject({state: 'failed', error: 'a: E: Unable to locate package x', step_id: 'a', step_index: 1})
    store.close()
  })

  it('refuses what is not a regular file (a FIFO standing in for /dev/null, a folder) and changes nothing of it', () => {
    const dir = tempDir()
    const fifo = join(dir, 'null')
    expect(spawnSync('mkfifo', ['-m', '0666', fifo]).status).toBe(0)
    expect(() => FleetStore.open(fifo)).toThrow(`${fifo} is not a fleet database (not a regular file); give --db the fleet.db that "fleet prepare" wrote, or a new path.`)
    expect(() => FleetStore.openReadOnly(fifo)).toThrow(/not a regular file/)
    expect(statSync(fifo).mode & 0o777).toBe(0o666)
    expect(() => FleetStore.open(dir)).toThrow(`${dir} is not a fleet database (a folder); give --db the fleet.db that "fleet prepare" wrote, or a new path.`)
    expect(readdirSync(dir)).toEqual(['null'])
  })

  it('migrates an existing file forward and refuses one from a newer fleet', () => {
    const path = join(tempDir(), 'fleet.db')
    FleetStore.open(path).close()
    const raw = new Database(path)
    expect(raw.pragma('user_version', {simple: true})).toBeGreaterThan(0)
    raw.pragma('user_version = 999')
    raw.close()
    expect(() => FleetStore.open(path)).toThrow(/written by a newer fleet \(schema 999/)
  })
})
