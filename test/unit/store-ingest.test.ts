import {join} from 'node:path'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import type {JournalRecord} from '../../src/protocol/index.js'
import {MIGRATIONS} from '../../src/store/migrations.js'
import {FleetStore} from '../../src/store/store.js'
import {tempDir} from '../helpers/agent-cli.js'

const FACTS = {hostname: 'h', user: 'u', home: '/h', is_root: false, os: {id: 'debian', id_like: [], version_id: '12', version_major: 12, pretty_name: 'D', family: 'debian'}, kernel: 'k', arch: 'x', cpus: 1, mem_mb: 1, has_systemd: false, virt: {kvm_device: false, cpu_flag: false, nested: false}, boot_id: 'b'}

/**
 * A journal of steps a, b (retried once, fails) and c (still running when `running`):
 * output on both streams, as the agent writes it.
 */
function journal(run: string, opts: {running?: boolean} = {}): JournalRecord[] {
  let seq = 0
  const out: JournalRecord[] = []
  const add = (r: Record<string, unknown>) => out.push({v: 1, seq: ++seq, ts: `2026-01-01T00:00:${String(seq % 60).padStart(2, '0')}.000Z`, run, ...r} as unknown as JournalRecord)
  const plan = [{id: 'a', title: 'A', phase: 'one'}, {id: 'b', title: 'B'}, {id: 'c', title: 'C'}]
  add({type: 'run-start', mode: 'run', playbook: {name: 'p', hash: 'h', path: '/p'}, selection: {}, plan, facts: FACTS, agent_version: '1', pid: 1})
  add({type: 'step-start', step: 'a', index: 1, total: 3, title: 'A', phase: 'one', action: 'run'})
  for (let i = 1; i <= 5; i++) add({type: 'output', step: 'a', stream: i === 3 ? 'stderr' : 'stdout', data: `a line ${i}\n`})
  add({type: 'step-end', step: 'a', status: 'ok', exit_code: 0, duration_ms: 5, attempts: 1})
  add({type: 'step-start', step: 'b', index: 2, total: 3, title: 'B', action: 'run'})
  add({type: 'output', step: 'b', stream: 'stdout', data: 'b try 1\n'})
  add({type: 'step-retry', step: 'b', attempt: 1, exit_code: 1, error: 'try again', delay_ms: 10})
  add({type: 'output', step: 'b', stream: 'stdout', data: 'b try 2, '})
  add({type: 'output', step: 'b', stream: 'stdout', data: 'no luck\n'})
  add({type: 'step-end', step: 'b', status: 'failed', exit_code: 2, duration_ms: 9, attempts: 2, error: 'E: b failed'})
  add({type: 'step-start', step: 'c', index: 3, total: 3, title: 'C', action: 'run'})
  add({type: 'output', step: 'c', stream: 'stdout', data: 'c going\n'})
  if (!opts.running) {
    add({type: 'output', step: 'c', stream: 'stdout', data: 'c done\n'})
    add({type: 'step-end', step: 'c', status: 'ok', exit_code: 0, duration_ms: 3, attempts: 1})
    add({type: 'run-end', status: 'failed', duration_ms: 20, failed_step: 'b', error: 'b: E: b failed'})
  }
  return out
}

function open(): {store: FleetStore; path: string} {
  const path = join(tempDir(), 'fleet.db')
  return {store: FleetStore.open(path), path}
}

describe('FleetStore.ingest', () => {
  it('stores a record once whatever the batches: repeats, overlaps, a restarted follower, a cold store', () => {
    const {store, path} = open()
    const id = store.upsertHost({name: 'h', address: 'a'})
    const j = journal('r1')
    expect(store.ingest(id, [])).toBe(0)
    expect(store.ingest(id, j.slice(0, 6))).toBe(6)
    expect(store.ingest(id, j.slice(0, 6))).toBe(0)
    // A follower that starts again from an older seq, and a batch with a record twice.
    expect(store.ingest(id, [...j.slice(3, 12), j[8]])).toBe(6)
    expect(store.host(id)).toMatchObject({agent_run: 'r1', last_seq: 12, step_id: 'b'})
    store.close()
    // Another process (no cached state) gets the whole journal again.
    const again = FleetStore.open(path)
    expect(again.ingest(id, j)).toBe(j.length - 12)
    expect(again.ingest(id, j)).toBe(0)
    expect(again.eventCount(id)).toBe(j.length)
    expect(again.eventCount()).toBe(j.length)
    expect(again.records(id, 'r1')).toEqual(j)
    expect(again.host(id)).toMatchObject({state: 'failed', last_seq: j.length, error: 'b: E: b failed'})
    const steps = again.steps(id, 'r1')
    expect(steps.map((s) => [s.step, s.status, s.attempts])).toEqual([
      ['a', 'ok', 1],
      ['b', 'failed', 2],
      ['c', 'ok', 1],
    ])
    again.close()
  })

  it('keeps two hosts and two runs of one host apart, in one batch or several', () => {
    const {store} = open()
    const h1 = store.upsertHost({name: 'h1', address: 'a'})
    const h2 = store.upsertHost({name: 'h2', address: 'b'})
    const r1 = journal('r1')
    const r2 = journal('r2', {running: true})
    expect(store.ingest(h1, [...r1, ...r2])).toBe(r1.length + r2.length)
    expect(store.ingest(h2, r1)).toBe(r1.length)
    expect(store.ingest(h1, [...r2.slice(4), ...r1.slice(2)])).toBe(0)
    expect(store.records(h1, 'r1')).toEqual(r1)
    expect(store.records(h1, 'r2')).toEqual(r2)
    expect(store.records(h2, 'r1')).toEqual(r1)
    expect(store.records(h2, 'r2')).toEqual([])
    expect(store.eventCount(h1)).toBe(r1.length + r2.length)
    expect(store.eventCount(h2)).toBe(r1.length)
    expect(store.agentRunEnded(h1, 'r1')).toBe(true)
    expect(store.agentRunEnded(h1, 'r2')).toBe(false)
    expect(store.agentRunEnded(h2, 'r2')).toBe(false)
    // The host's row follows its latest run-start: r2, still running at seq r2.length.
    expect(store.host(h1)).toMatchObject({agent_run: 'r2', state: 'running', last_seq: r2.length, step_id: 'c'})
    store.close()
  })

  it('shows the tail of any step: an ended one, a retried one, the one still running', () => {
    const {store} = open()
    const id = store.upsertHost({name: 'h', address: 'a'})
    const j = journal('r1', {running: true})
    store.ingest(id, j)
    expect(store.logTail(id, 'r1', 'a', 2)).toBe('a line 4\na line 5')
    expect(store.logTail(id, 'r1', 'a', 10)).toBe('a line 1\na line 2\na line 3\na line 4\na line 5')
    expect(store.logTail(id, 'r1', 'b', 5)).toBe('b try 1\nb try 2, no luck')
    expect(store.logTail(id, 'r1', 'c', 5)).toBe('c going')
    store.ingest(id, journal('r1'))
    expect(store.logTail(id, 'r1', 'c', 5)).toBe('c going\nc done')
    expect(store.logTail(id, 'r1', 'nosuch', 5)).toBe('')
    expect(store.logTail(id, 'nosuch', 'a', 5)).toBe('')
    store.close()
  })

  it('a run resumed after its failed run-end (a full disk freed) is going on again until its next run-end', () => {
    const {store} = open()
    const id = store.upsertHost({name: 'h', address: 'a'})
    const j = journal('r1')
    store.ingest(id, j)
    expect(store.agentRunEnded(id, 'r1')).toBe(true)
    expect(store.host(id)).toMatchObject({state: 'failed'})
    let seq = j.length
    const rec = (r: Record<string, unknown>) => ({v: 1, seq: ++seq, ts: '2026-01-01T00:01:00.000Z', run: 'r1', ...r}) as unknown as JournalRecord
    store.ingest(id, [...j, rec({type: 'run-resume', pid: 2, boot_id: 'b', done: ['a', 'c']})])
    expect(store.agentRunEnded(id, 'r1')).toBe(false)
    expect(store.unfinishedAgentRun(id, 'run')).toBe('r1')
    expect(store.host(id)).toMatchObject({state: 'running', error: null})
    store.ingest(id, [rec({type: 'step-start', step: 'b', index: 2, total: 3, title: 'B', action: 'run'}), rec({type: 'step-end', step: 'b', status: 'ok', exit_code: 0, duration_ms: 1, attempts: 1}), rec({type: 'run-end', status: 'ok', duration_ms: 30})])
    expect(store.agentRunEnded(id, 'r1')).toBe(true)
    expect(store.host(id)).toMatchObject({state: 'ok', error: null})
    store.close()
  })

  it('a batch that fails leaves nothing behind, and the next one is stored whole', () => {
    const {store} = open()
    const id = store.upsertHost({name: 'h', address: 'a'})
    const j = journal('r1')
    // No host 999: the run's row breaks its foreign key and the whole batch rolls back.
    expect(() => store.ingest(999, j)).toThrow(/FOREIGN KEY/)
    expect(store.eventCount()).toBe(0)
    expect(store.ingest(id, j)).toBe(j.length)
    expect(store.records(id, 'r1')).toEqual(j)
    store.close()
  })
})

/** What fleet's first schema stored for a batch (the ingest of schema 1, minus the host row updates). */
function ingestSchema1(db: Database.Database, hostId: number, records: JournalRecord[]): void {
  const ev = db.prepare('INSERT OR IGNORE INTO events (host_id, agent_run, seq, type, ts, step, body) VALUES (?, ?, ?, ?, ?, ?, ?)')
  const chunk = db.prepare('INSERT OR IGNORE INTO log_chunks (host_id, agent_run, seq, step, stream, data) VALUES (?, ?, ?, ?, ?, ?)')
  const plan = db.prepare("INSERT OR IGNORE INTO steps (host_id, agent_run, step, idx, title, phase, status) VALUES (?, ?, ?, ?, ?, ?, 'pending')")
  const start = db.prepare("UPDATE steps SET status = 'running', started_at = ?, ended_at = NULL, attempts = max(attempts, 1) WHERE host_id = ? AND agent_run = ? AND step = ?")
  const end = db.prepare('UPDATE steps SET status = ?, reason = ?, exit_code = ?, attempts = ?, ended_at = ?, duration_ms = ?, error = ? WHERE host_id = ? AND agent_run = ? AND step = ?')
  db.transaction(() => {
    for (const r of records) {
      if (r.type === 'output') {
        const {data, ...rest} = r
        ev.run(hostId, r.run, r.seq, r.type, r.ts, r.step, JSON.stringify(rest))
        chunk.run(hostId, r.run, r.seq, r.step, r.stream, data)
        continue
      }
      ev.run(hostId, r.run, r.seq, r.type, r.ts, 'step' in r ? r.step : null, JSON.stringify(r))
      if (r.type === 'run-start') r.plan.forEach((p, i) => plan.run(hostId, r.run, p.id, i + 1, p.title, p.phase ?? null))
      if (r.type === 'step-start') start.run(r.ts, hostId, r.run, r.step)
      if (r.type === 'step-end') end.run(r.status, r.reason ?? null, r.exit_code, r.attempts, r.ts, r.duration_ms, r.error ?? null, hostId, r.run, r.step)
    }
    db.prepare("UPDATE hosts SET agent_run = ?, agent_mode = 'run', last_seq = ?, state = 'running' WHERE id = ?").run(records[0].run, records.at(-1)!.seq, hostId)
  })()
}

describe('FleetStore migrations', () => {
  it('carries a schema-1 database with records forward: same records, steps, tails; ingest goes on from there', () => {
    const path = join(tempDir(), 'fleet.db')
    const done = journal('old-done')
    const running = journal('old-running', {running: true})
    const raw = new Database(path)
    raw.pragma('journal_mode = WAL')
    raw.exec(MIGRATIONS[0])
    raw.pragma('user_version = 1')
    const h1 = Number(raw.prepare("INSERT INTO hosts (name, address) VALUES ('h1', 'a')").run().lastInsertRowid)
    const h2 = Number(raw.prepare("INSERT INTO hosts (name, address) VALUES ('h2', 'b')").run().lastInsertRowid)
    ingestSchema1(raw, h1, done)
    ingestSchema1(raw, h2, running)
    raw.close()

    const store = FleetStore.open(path)
    expect(store.db.pragma('user_version', {simple: true})).toBe(MIGRATIONS.length)
    expect(store.eventCount()).toBe(done.length + running.length)
    expect(store.records(h1, 'old-done')).toEqual(done)
    expect(store.records(h2, 'old-running')).toEqual(running)
    expect(store.agentRunEnded(h1, 'old-done')).toBe(true)
    expect(store.agentRunEnded(h2, 'old-running')).toBe(false)
    expect(store.steps(h1, 'old-done').map((s) => [s.step, s.status])).toEqual([
      ['a', 'ok'],
      ['b', 'failed'],
      ['c', 'ok'],
    ])
    expect(store.logTail(h1, 'old-done', 'b', 5)).toBe('b try 1\nb try 2, no luck')
    expect(store.logTail(h2, 'old-running', 'c', 5)).toBe('c going')
    const bounds = store.db.prepare("SELECT step, start_seq, end_seq FROM steps WHERE agent_run = 'old-running' ORDER BY idx").all()
    const seqOf = (type: string, step: string) => running.find((r) => r.type === type && 'step' in r && r.step === step)!.seq
    expect(bounds).toEqual([
      {step: 'a', start_seq: seqOf('step-start', 'a'), end_seq: seqOf('step-end', 'a')},
      {step: 'b', start_seq: seqOf('step-start', 'b'), end_seq: seqOf('step-end', 'b')},
      {step: 'c', start_seq: seqOf('step-start', 'c'), end_seq: null},
    ])
    // The old tables are gone; records already stored before the migration stay stored once.
    const tables = (store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[]).filter((t) => !t.startsWith('sqlite_'))
    expect(tables).toEqual(['agent_runs', 'events', 'hosts', 'known_hosts', 'runs', 'steps'])
    expect(store.ingest(h1, done)).toBe(0)
    const rest = journal('old-running')
    expect(store.ingest(h2, rest)).toBe(rest.length - running.length)
    expect(store.records(h2, 'old-running')).toEqual(rest)
    expect(store.agentRunEnded(h2, 'old-running')).toBe(true)
    expect(store.logTail(h2, 'old-running', 'c', 5)).toBe('c going\nc done')
    expect(store.host(h2)).toMatchObject({state: 'failed', last_seq: rest.length})
    store.close()
    // And it opens again as it is.
    const reopened = FleetStore.open(path)
    expect(reopened.records(h1, 'old-done')).toEqual(done)
    reopened.close()
  })
})
