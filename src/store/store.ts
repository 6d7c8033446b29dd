import {chmodSync, closeSync, openSync} from 'node:fs'
import Database from 'better-sqlite3'
import type {JournalRecord} from '../protocol/index.js'
import {MIGRATIONS} from './migrations.js'
import type {HostKeyStore} from '../transport/known-hosts.js'

export type HostState = 'pending' | 'connecting' | 'running' | 'ok' | 'failed' | 'unreachable'
export const HOST_STATES: HostState[] = ['pending', 'connecting', 'running', 'ok', 'failed', 'unreachable']

export interface HostRow {
  id: number
  name: string
  address: string
  port: number | null
  user: string | null
  transport: string
  host_key: string | null
  state: HostState
  fleet_run: number | null
  agent_run: string | null
  agent_mode: string | null
  last_seq: number
  step_id: string | null
  step_index: number | null
  step_total: number | null
  step_title: string | null
  error: string | null
  started_at: string | null
  ended_at: string | null
  last_seen: string | null
}

export interface StepRow {
  host_id: number
  agent_run: string
  step: string
  idx: number
  title: string
  phase: string | null
  status: string
  reason: string | null
  exit_code: number | null
  attempts: number
  started_at: string | null
  ended_at: string | null
  duration_ms: number | null
  error: string | null
}

export interface RunRow {
  id: number
  kind: string
  playbook: string
  hosts_file: string | null
  options: string
  started_at: string
  ended_at: string | null
  status: string
}

export interface HostIdentity {
  name: string
  address: string
  port?: number
  user?: string
  transport?: string
}

/**
 * The instructor's record of every host: one SQLite file (WAL, mode 0600).
 * Every SQL statement of fleet lives in this folder. Journal records are
 * stored under (host, agent run, seq) and storing one twice changes nothing,
 * so a journal can always be followed again from any point.
 */
export class FleetStore {
  readonly db: Database.Database
  private readonly st: ReturnType<FleetStore['prepareStatements']>

  private constructor(readonly path: string) {
    // Create the file 0600 before SQLite opens it; its -wal and -shm files take the same mode.
    closeSync(openSync(path, 'a', 0o600))
    chmodSync(path, 0o600)
    this.db = new Database(path)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = NORMAL')
    this.db.pragma('busy_timeout = 5000')
    this.db.pragma('foreign_keys = ON')
    this.migrate()
    this.st = this.prepareStatements()
  }

  static open(path: string): FleetStore {
    return new FleetStore(path)
  }

  close(): void {
    this.db.close()
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', {simple: true}) as number
    if (current > MIGRATIONS.length) throw new Error(`${this.path} was written by a newer fleet (schema ${current}, this one knows ${MIGRATIONS.length})`)
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v])
        this.db.pragma(`user_version = ${v + 1}`)
      })()
    }
  }

  private prepareStatements() {
    const db = this.db
    return {
      insertEvent: db.prepare('INSERT OR IGNORE INTO events (host_id, agent_run, seq, type, ts, step, body) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      insertChunk: db.prepare('INSERT OR IGNORE INTO log_chunks (host_id, agent_run, seq, step, stream, data) VALUES (?, ?, ?, ?, ?, ?)'),
      planStep: db.prepare("INSERT OR IGNORE INTO steps (host_id, agent_run, step, idx, title, phase, status) VALUES (?, ?, ?, ?, ?, ?, 'pending')"),
      stepStart: db.prepare("UPDATE steps SET status = 'running', started_at = ?, ended_at = NULL, attempts = max(attempts, 1) WHERE host_id = ? AND agent_run = ? AND step = ?"),
      stepRetry: db.prepare('UPDATE steps SET attempts = ?, error = ? WHERE host_id = ? AND agent_run = ? AND step = ?'),
      stepEnd: db.prepare('UPDATE steps SET status = ?, reason = ?, exit_code = ?, attempts = ?, ended_at = ?, duration_ms = ?, error = ? WHERE host_id = ? AND agent_run = ? AND step = ?'),
      hostRunStart: db.prepare("UPDATE hosts SET agent_run = ?, agent_mode = ?, last_seq = ?, step_total = ?, step_id = NULL, step_index = NULL, step_title = NULL, error = NULL, state = 'running', started_at = ?, ended_at = NULL, last_seen = ? WHERE id = ?"),
      hostSeq: db.prepare('UPDATE hosts SET last_seq = max(last_seq, ?), last_seen = ? WHERE id = ? AND agent_run = ?'),
      hostStep: db.prepare('UPDATE hosts SET step_id = ?, step_index = ?, step_title = ? WHERE id = ?'),
      hostError: db.prepare('UPDATE hosts SET error = ? WHERE id = ?'),
      hostRunEnd: db.prepare('UPDATE hosts SET state = ?, ended_at = ?, error = ? WHERE id = ?'),
    }
  }

  // ---- fleet runs ----

  startRun(kind: 'prepare' | 'cleanup', playbook: string, hostsFile: string | undefined, options: object): number {
    const r = this.db.prepare('INSERT INTO runs (kind, playbook, hosts_file, options, started_at) VALUES (?, ?, ?, ?, ?)').run(kind, playbook, hostsFile ?? null, JSON.stringify(options), new Date().toISOString())
    return Number(r.lastInsertRowid)
  }

  endRun(id: number, status: string): void {
    this.db.prepare('UPDATE runs SET ended_at = ?, status = ? WHERE id = ?').run(new Date().toISOString(), status, id)
  }

  /** A fleet run with these inputs that never ended (its process was killed): the next invocation carries it on. */
  interruptedRun(kind: string, playbook: string, hostsFile: string | undefined, options: object): RunRow | undefined {
    return this.db
      .prepare("SELECT * FROM runs WHERE status = 'running' AND kind = ? AND playbook = ? AND hosts_file IS ? AND options = ? ORDER BY id DESC LIMIT 1")
      .get(kind, playbook, hostsFile ?? null, JSON.stringify(options)) as RunRow | undefined
  }

  lastRun(): RunRow | undefined {
    return this.db.prepare('SELECT * FROM runs ORDER BY id DESC LIMIT 1').get() as RunRow | undefined
  }

  // ---- hosts ----

  /** Create the host, or update its address; returns its id. */
  upsertHost(h: HostIdentity): number {
    const row = this.db
      .prepare(
        `INSERT INTO hosts (name, address, port, user, transport) VALUES (@name, @address, @port, @user, @transport)
         ON CONFLICT(name) DO UPDATE SET address = excluded.address, port = excluded.port, user = excluded.user, transport = excluded.transport
         RETURNING id`,
      )
      .get({name: h.name, address: h.address, port: h.port ?? null, user: h.user ?? null, transport: h.transport ?? 'ssh'}) as {id: number}
    return row.id
  }

  host(nameOrId: string | number): HostRow | undefined {
    return (typeof nameOrId === 'number' ? this.db.prepare('SELECT * FROM hosts WHERE id = ?').get(nameOrId) : this.db.prepare('SELECT * FROM hosts WHERE name = ?').get(nameOrId)) as HostRow | undefined
  }

  hosts(): HostRow[] {
    return this.db.prepare('SELECT * FROM hosts ORDER BY id').all() as HostRow[]
  }

  /** A host taken up by a fleet run: it is pending until the run reaches it. */
  claimHost(id: number, fleetRun: number): void {
    this.db.prepare("UPDATE hosts SET fleet_run = ?, state = 'pending', error = NULL WHERE id = ?").run(fleetRun, id)
  }

  setHostState(id: number, state: HostState, error?: string | null): void {
    const ended = state === 'ok' || state === 'failed' || state === 'unreachable' ? new Date().toISOString() : null
    this.db.prepare('UPDATE hosts SET state = ?, error = coalesce(?, error), ended_at = coalesce(?, ended_at), last_seen = ? WHERE id = ?').run(state, error ?? null, ended, new Date().toISOString(), id)
    if (error === null) this.db.prepare('UPDATE hosts SET error = NULL WHERE id = ?').run(id)
  }

  /** Recorded host keys, for trust on first use; also shown on the host's row. */
  hostKeys(): HostKeyStore {
    const db = this.db
    return {
      location: this.path,
      get: (hostId) => (db.prepare('SELECT key FROM known_hosts WHERE host_id = ? ORDER BY first_seen LIMIT 1').get(hostId) as {key: string} | undefined)?.key,
      getAll: (hostId) => (db.prepare('SELECT key FROM known_hosts WHERE host_id = ? ORDER BY first_seen').all(hostId) as Array<{key: string}>).map((r) => r.key),
      set: (hostId, key) => {
        db.prepare('INSERT OR IGNORE INTO known_hosts (host_id, key, first_seen) VALUES (?, ?, ?)').run(hostId, key, new Date().toISOString())
      },
      delete: (hostId) => {
        db.prepare('DELETE FROM known_hosts WHERE host_id = ?').run(hostId)
      },
    }
  }

  setHostKey(hostId: number, key: string): void {
    this.db.prepare('UPDATE hosts SET host_key = ? WHERE id = ?').run(key, hostId)
  }

  // ---- journal records ----

  /**
   * Store a batch of one host's journal records in one transaction, and
   * update its steps and state from them. Records already stored are skipped.
   */
  ingest(hostId: number, records: readonly JournalRecord[]): number {
    return this.ingestTx(hostId, records)
  }

  private ingestTx = (hostId: number, records: readonly JournalRecord[]): number =>
    this.db.transaction((): number => {
      let added = 0
      const now = new Date().toISOString()
      let maxSeq = 0
      let run = ''
      for (const r of records) {
        const {step, body} = splitBody(r)
        if (this.st.insertEvent.run(hostId, r.run, r.seq, r.type, r.ts, step ?? null, body).changes === 0) continue
        added++
        if (r.run !== run) {
          if (run && maxSeq) this.st.hostSeq.run(maxSeq, now, hostId, run)
          run = r.run
          maxSeq = 0
        }
        maxSeq = Math.max(maxSeq, r.seq)
        this.apply(hostId, r, now)
      }
      if (run && maxSeq) this.st.hostSeq.run(maxSeq, now, hostId, run)
      return added
    })()

  private apply(hostId: number, r: JournalRecord, now: string): void {
    const st = this.st
    switch (r.type) {
      case 'run-start':
        r.plan.forEach((p, i) => st.planStep.run(hostId, r.run, p.id, i + 1, p.title, p.phase ?? null))
        st.hostRunStart.run(r.run, r.mode, r.seq, r.plan.length, r.ts, now, hostId)
        break
      case 'step-start':
        st.stepStart.run(r.ts, hostId, r.run, r.step)
        st.hostStep.run(r.step, r.index, r.title, hostId)
        break
      case 'output':
        st.insertChunk.run(hostId, r.run, r.seq, r.step, r.stream, r.data)
        break
      case 'step-retry':
        st.stepRetry.run(r.attempt + 1, r.error ?? null, hostId, r.run, r.step)
        break
      case 'step-end':
        st.stepEnd.run(r.status, r.reason ?? null, r.exit_code, r.attempts, r.ts, r.duration_ms, r.error ?? null, hostId, r.run, r.step)
        if (r.status === 'failed') st.hostError.run(r.error ?? `exit code ${r.exit_code}`, hostId)
        break
      case 'run-end':
        st.hostRunEnd.run(r.status === 'ok' ? 'ok' : 'failed', r.ts, r.status === 'ok' ? null : (r.error ?? r.status), hostId)
        break
      default:
        break
    }
  }

  /**
   * The host's agent run whose end has not been stored, in this mode: a fleet
   * run that was cut off left it, and the next one re-attaches to it.
   */
  unfinishedAgentRun(hostId: number, mode: 'run' | 'undo'): string | undefined {
    const h = this.host(hostId)
    if (!h?.agent_run || h.agent_mode !== mode) return undefined
    return this.agentRunEnded(hostId, h.agent_run) ? undefined : h.agent_run
  }

  /** Whether the run's run-end record is stored: the journal, not an exit code, says a run is over. */
  agentRunEnded(hostId: number, agentRun: string): boolean {
    return !!this.db.prepare("SELECT 1 FROM events WHERE host_id = ? AND agent_run = ? AND type = 'run-end'").get(hostId, agentRun)
  }

  /**
   * Record the agent run a host was given, as soon as `agent start` names it:
   * a fleet run killed before any of its records arrived still knows it.
   */
  setAgentRun(hostId: number, agentRun: string, mode: 'run' | 'undo'): void {
    this.db.prepare('UPDATE hosts SET last_seq = CASE WHEN agent_run IS ? THEN last_seq ELSE 0 END, agent_run = ?, agent_mode = ? WHERE id = ?').run(agentRun, agentRun, mode, hostId)
  }

  /** The seq to follow a host's agent run from. */
  followPoint(hostId: number): {agentRun: string | null; lastSeq: number} {
    const h = this.host(hostId)
    return {agentRun: h?.agent_run ?? null, lastSeq: h?.last_seq ?? 0}
  }

  steps(hostId: number, agentRun: string): StepRow[] {
    return this.db.prepare('SELECT * FROM steps WHERE host_id = ? AND agent_run = ? ORDER BY idx').all(hostId, agentRun) as StepRow[]
  }

  /** The last `lines` lines a step wrote (both streams, in order). */
  logTail(hostId: number, agentRun: string, step: string, lines: number): string {
    const rows = this.db.prepare('SELECT data FROM log_chunks WHERE host_id = ? AND agent_run = ? AND step = ? ORDER BY seq DESC LIMIT 200').all(hostId, agentRun, step) as Array<{data: string}>
    const text = rows.reverse().map((r) => r.data).join('')
    return text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1).slice(-lines).join('\n')
  }

  eventCount(hostId?: number): number {
    const row = (hostId === undefined ? this.db.prepare('SELECT count(*) AS n FROM events').get() : this.db.prepare('SELECT count(*) AS n FROM events WHERE host_id = ?').get(hostId)) as {n: number}
    return row.n
  }

  /** Every stored record of a host's agent run, rebuilt in seq order (output data joined back in). */
  records(hostId: number, agentRun: string): JournalRecord[] {
    const rows = this.db
      .prepare('SELECT e.body, c.data FROM events e LEFT JOIN log_chunks c ON c.host_id = e.host_id AND c.agent_run = e.agent_run AND c.seq = e.seq WHERE e.host_id = ? AND e.agent_run = ? ORDER BY e.seq')
      .all(hostId, agentRun) as Array<{body: string; data: string | null}>
    return rows.map((r) => {
      const rec = JSON.parse(r.body)
      if (r.data !== null) rec.data = r.data
      return rec as JournalRecord
    })
  }
}

/** Output data is stored once, in log_chunks; the event keeps the rest of the record. */
function splitBody(r: JournalRecord): {step?: string; body: string} {
  if (r.type === 'output') {
    const {data: _data, ...rest} = r
    return {step: r.step, body: JSON.stringify(rest)}
  }
  return {step: 'step' in r ? r.step : undefined, body: JSON.stringify(r)}
}
