import {chmodSync, closeSync, existsSync, openSync, readSync, statSync, type Stats} from 'node:fs'
import type Database from 'better-sqlite3'
import type {JournalRecord, PROTOCOL_VERSION} from '../protocol/index.js'
import {cannotMakeReason} from '../errors/fs-reason.js'
import {UserError} from '../errors/user-error.js'
import {MIGRATIONS} from './migrations.js'
import {SQLITE_HEADER} from './sqlite-header.js'
import {openDatabase} from './sqlite.js'
import {isFinalState, type HostState} from '../events/host-state.js'
import type {HostKeyStore} from '../transport/known-hosts.js'


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

/** The hosts table's columns, in the order hostRow reads them (a test holds them to the table's). */
const HOST_COLUMNS = 'id, name, address, port, user, transport, host_key, state, fleet_run, agent_run, agent_mode, last_seq, step_id, step_index, step_total, step_title, error, started_at, ended_at, last_seen'

/**
 * A host from its raw row (HOST_COLUMNS). One object literal's shape is about half the CPU of
 * better-sqlite3 making the objects itself, at 1,000 hosts: `fleet status` reads them all on
 * every start, the dashboard on every snapshot.
 */
function hostRow(r: unknown[]): HostRow {
  return {
    id: r[0] as number,
    name: r[1] as string,
    address: r[2] as string,
    port: r[3] as number | null,
    user: r[4] as string | null,
    transport: r[5] as string,
    host_key: r[6] as string | null,
    state: r[7] as HostState,
    fleet_run: r[8] as number | null,
    agent_run: r[9] as string | null,
    agent_mode: r[10] as string | null,
    last_seq: r[11] as number,
    step_id: r[12] as string | null,
    step_index: r[13] as number | null,
    step_total: r[14] as number | null,
    step_title: r[15] as string | null,
    error: r[16] as string | null,
    started_at: r[17] as string | null,
    ended_at: r[18] as string | null,
    last_seen: r[19] as string | null,
  }
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

/** What a grid cell shows of a step. */
export type CellRow = Pick<StepRow, 'host_id' | 'agent_run' | 'step' | 'idx' | 'title' | 'phase' | 'status' | 'started_at' | 'duration_ms' | 'attempts'>

/** A stored journal record as a follower of the store sees it (src/dashboard): no JSON body. */
export interface EventRow {
  id: number
  host_id: number
  agent_run: string
  seq: number
  type: string
  step: string | null
  stream: string | null
  data: string | null
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

/** One step of the room's current agent runs in one mode (FleetStore.etaSteps). */
export interface EtaStepRow {
  mode: string
  step: string
  /** Durations of its ok ends, one per host (ms). */
  ok_ms: number[]
  skipped: number
}

/** A host not finished yet (FleetStore.etaOpenHosts). */
export interface EtaOpenHostRow {
  host_id: number
  agent_mode: string | null
  /** Its current agent run's ended flag; null when no record of that run is stored yet. */
  agent_run_ended: number | null
  /** Its fleet run (null when it has none). */
  run_kind: string | null
  playbook: string | null
  run_ended_at: string | null
  /** Steps of its current agent run not started yet. */
  pending: string[]
  running_step: string | null
  running_since: string | null
}

export interface HostIdentity {
  name: string
  address: string
  port?: number
  user?: string
  transport?: string
}

/**
 * The protocol version of the output records stored as their columns alone (events.body
 * NULL, migration 2): such a row reads back as a record of this version. Typed by
 * PROTOCOL_VERSION, so bumping the protocol stops the build here until the store says how
 * the new version's output records are stored and how the old rows read back.
 */
const COLUMNS_ONLY_V: typeof PROTOCOL_VERSION = 1

/**
 * The instructor's record of every host: one SQLite file (WAL, mode 0600).
 * Every SQL statement of fleet lives in this folder. Journal records are
 * stored under (host, agent run, seq) and storing one twice changes nothing,
 * so a journal can always be followed again from any point.
 */
export class FleetStore {
  readonly db: Database.Database
  private readonly st: ReturnType<FleetStore['prepareStatements']>

  private constructor(
    readonly path: string,
    /** Opened with SQLite's read-only flag (openReadOnly): every write fails. */
    readonly readOnly = false,
  ) {
    // What is not SQLite (a typo in --db, a folder, /dev/null) is refused before anything touches it.
    const not = notSqlite(path)
    if (not) throw new UserError(`${path} is not a fleet database (${not}); give --db the fleet.db that "fleet prepare" wrote, or a new path.`)
    if (!readOnly) {
      // Create the file 0600 before SQLite opens it; its -wal and -shm files take the same mode.
      try {
        closeSync(openSync(path, 'a', 0o600))
        chmodSync(path, 0o600)
      } catch (e) {
        throw new UserError(`${path}: fleet cannot write its database there (${cannotMakeReason(e) ?? (e as NodeJS.ErrnoException).code}); give --db a file this user can write.`)
      }
    }
    try {
      this.db = openDatabase(path, readOnly ? {readonly: true, fileMustExist: true} : {})
      this.db.pragma('user_version', {simple: true})
    } catch (e) {
      throw new UserError(`${path} cannot be read as a fleet database: ${(e as Error).message}.`)
    }
    if (readOnly) {
      // A reader in WAL mode never blocks the writer (nor waits for it, but for a checkpoint's instant).
      this.db.pragma('busy_timeout = 5000')
      const v = this.db.pragma('user_version', {simple: true}) as number
      if (v !== MIGRATIONS.length) {
        this.db.close()
        throw new UserError(`${path} has schema ${v}, this fleet reads ${MIGRATIONS.length}; ${v > MIGRATIONS.length ? 'use the newer fleet that wrote it' : 'open it once with "fleet status" to bring it up to date'}.`)
      }
    } else {
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = NORMAL')
      this.db.pragma('busy_timeout = 5000')
      this.db.pragma('foreign_keys = ON')
      this.migrate()
    }
    this.st = this.prepareStatements()
    this.ingestTx = this.db.transaction((hostId: number, records: readonly JournalRecord[]) => this.ingestRecords(hostId, records))
  }

  static open(path: string): FleetStore {
    return new FleetStore(path)
  }

  /**
   * The store for a reader that writes nothing (the dashboard): SQLite's read-only open, so
   * it cannot take the write lock from a `fleet prepare` going on. An older schema is brought
   * up to date first by an ordinary open (what any fleet command does), then reopened.
   */
  static openReadOnly(path: string): FleetStore {
    if (!existsSync(path)) throw new UserError(`${path}: no fleet database here yet; run "fleet prepare --hosts FILE" first (or give --db).`)
    const not = notSqlite(path)
    if (not) throw new UserError(`${path} is not a fleet database (${not}); give --db the fleet.db that "fleet prepare" wrote.`)
    // An empty file is where a database would go: a reader makes none.
    if (statSync(path).size === 0) throw new UserError(`${path}: no fleet database here yet (an empty file); run "fleet prepare --hosts FILE" first (or give --db).`)
    let version: number
    try {
      const probe = openDatabase(path, {readonly: true, fileMustExist: true})
      version = probe.pragma('user_version', {simple: true}) as number
      probe.close()
    } catch (e) {
      throw new UserError(`${path} cannot be read as a fleet database: ${(e as Error).message}.`)
    }
    if (version < MIGRATIONS.length) FleetStore.open(path).close()
    return new FleetStore(path, true)
  }

  close(): void {
    this.db.close()
  }

  private migrate(): void {
    const version = () => this.db.pragma('user_version', {simple: true}) as number
    const current = version()
    if (current > MIGRATIONS.length) throw new UserError(`${this.path} was written by a newer fleet (schema ${current}, this one knows ${MIGRATIONS.length}); use that fleet, or another --db.`)
    // Each step under the write lock, the version read again there: two fleet processes
    // opening an old file at once migrate it once.
    while (version() < MIGRATIONS.length) {
      this.db
        .transaction(() => {
          const v = version()
          if (v >= MIGRATIONS.length) return
          this.db.exec(MIGRATIONS[v])
          this.db.pragma(`user_version = ${v + 1}`)
        })
        .immediate()
    }
  }

  /** Every statement of the store, prepared once when it opens (after the migrations). */
  private prepareStatements() {
    const db = this.db
    return {
      // fleet runs
      addFleetRun: db.prepare('INSERT INTO runs (kind, playbook, hosts_file, options, started_at) VALUES (?, ?, ?, ?, ?)'),
      endFleetRun: db.prepare('UPDATE runs SET ended_at = ?, status = ? WHERE id = ?'),
      interruptedRun: db.prepare("SELECT * FROM runs WHERE status = 'running' AND kind = ? AND playbook = ? AND hosts_file IS ? AND options = ? ORDER BY id DESC LIMIT 1"),
      lastRun: db.prepare('SELECT * FROM runs ORDER BY id DESC LIMIT 1'),
      fleetRun: db.prepare('SELECT * FROM runs WHERE id = ?'),
      // hosts
      upsertHost: db.prepare(
        `INSERT INTO hosts (name, address, port, user, transport) VALUES (@name, @address, @port, @user, @transport)
         ON CONFLICT(name) DO UPDATE SET address = excluded.address, port = excluded.port, user = excluded.user, transport = excluded.transport
         RETURNING id`,
      ),
      hostById: db.prepare('SELECT * FROM hosts WHERE id = ?'),
      hostByName: db.prepare('SELECT * FROM hosts WHERE name = ?'),
      hosts: db.prepare(`SELECT ${HOST_COLUMNS} FROM hosts ORDER BY id`).raw(),
      claimHost: db.prepare("UPDATE hosts SET fleet_run = ?, state = 'pending', error = NULL WHERE id = ?"),
      hostState: db.prepare('UPDATE hosts SET state = ?, error = coalesce(?, error), ended_at = coalesce(?, ended_at), last_seen = ? WHERE id = ?'),
      clearHostError: db.prepare('UPDATE hosts SET error = NULL WHERE id = ?'),
      hostKey: db.prepare('UPDATE hosts SET host_key = ? WHERE id = ?'),
      setAgentRun: db.prepare('UPDATE hosts SET last_seq = CASE WHEN agent_run IS ? THEN last_seq ELSE 0 END, agent_run = ?, agent_mode = ? WHERE id = ?'),
      // known host keys
      knownKey: db.prepare('SELECT key FROM known_hosts WHERE host_id = ? ORDER BY first_seen LIMIT 1').pluck(),
      knownKeys: db.prepare('SELECT key FROM known_hosts WHERE host_id = ? ORDER BY first_seen').pluck(),
      addKnownKey: db.prepare('INSERT OR IGNORE INTO known_hosts (host_id, key, first_seen) VALUES (?, ?, ?)'),
      dropKnownKeys: db.prepare('DELETE FROM known_hosts WHERE host_id = ?'),
      // journal records
      runId: db.prepare('SELECT id FROM agent_runs WHERE host_id = ? AND agent_run = ?').pluck(),
      addRun: db.prepare('INSERT INTO agent_runs (host_id, agent_run) VALUES (?, ?)'),
      runEnded: db.prepare('UPDATE agent_runs SET ended = 1 WHERE id = ?'),
      runResumed: db.prepare('UPDATE agent_runs SET ended = 0 WHERE id = ?'),
      hostRunResume: db.prepare("UPDATE hosts SET state = 'running', ended_at = NULL, error = NULL WHERE id = ?"),
      // The hot path: an output record is its columns alone (no JSON).
      insertOutput: db.prepare("INSERT OR IGNORE INTO events (run_id, seq, type, ts, step, stream, data) VALUES (?, ?, 'output', ?, ?, ?, ?)"),
      insertEvent: db.prepare('INSERT OR IGNORE INTO events (run_id, seq, type, ts, step, stream, data, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      planStep: db.prepare("INSERT OR IGNORE INTO steps (host_id, agent_run, step, idx, title, phase, status) VALUES (?, ?, ?, ?, ?, ?, 'pending')"),
      stepStart: db.prepare("UPDATE steps SET status = 'running', started_at = ?, ended_at = NULL, attempts = max(attempts, 1), start_seq = coalesce(start_seq, ?), end_seq = NULL WHERE host_id = ? AND agent_run = ? AND step = ?"),
      stepRetry: db.prepare('UPDATE steps SET attempts = ?, error = ? WHERE host_id = ? AND agent_run = ? AND step = ?'),
      stepEnd: db.prepare('UPDATE steps SET status = ?, reason = ?, exit_code = ?, attempts = ?, ended_at = ?, duration_ms = ?, error = ?, end_seq = ? WHERE host_id = ? AND agent_run = ? AND step = ?'),
      hostRunStart: db.prepare("UPDATE hosts SET agent_run = ?, agent_mode = ?, last_seq = ?, step_total = ?, step_id = NULL, step_index = NULL, step_title = NULL, error = NULL, state = 'running', started_at = ?, ended_at = NULL, last_seen = ? WHERE id = ?"),
      hostSeq: db.prepare('UPDATE hosts SET last_seq = max(last_seq, ?), last_seen = ? WHERE id = ? AND agent_run = ?'),
      hostStep: db.prepare('UPDATE hosts SET step_id = ?, step_index = ?, step_title = ? WHERE id = ?'),
      hostError: db.prepare('UPDATE hosts SET error = ? WHERE id = ?'),
      hostRunEnd: db.prepare('UPDATE hosts SET state = ?, ended_at = ?, error = ? WHERE id = ?'),
      stepBounds: db.prepare('SELECT start_seq, end_seq FROM steps WHERE host_id = ? AND agent_run = ? AND step = ?'),
      stepOutput: db.prepare("SELECT data FROM events WHERE run_id = ? AND seq BETWEEN ? AND ? AND step = ? AND type = 'output' ORDER BY seq DESC LIMIT 200").pluck(),
      runRecords: db.prepare('SELECT seq, type, ts, step, stream, data, body FROM events WHERE run_id = ? ORDER BY seq'),
      runEndedFlag: db.prepare('SELECT ended FROM agent_runs WHERE host_id = ? AND agent_run = ?').pluck(),
      steps: db.prepare('SELECT * FROM steps WHERE host_id = ? AND agent_run = ? ORDER BY idx'),
      eventCount: db.prepare('SELECT count(*) FROM events').pluck(),
      // readers following the store (the dashboard)
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      maxEventId: db.prepare('SELECT coalesce(max(id), 0) FROM events').pluck(),
      // What of the host rows a view shows, as one string: equal strings, nothing to redraw.
      hostsKey: db.prepare("SELECT group_concat(id || ',' || state || ',' || coalesce(step_index, '') || ',' || coalesce(agent_run, '') || ',' || coalesce(length(error), '') || ',' || coalesce(ended_at, ''), ';') FROM hosts").pluck(),
      eventsAfter: db.prepare('SELECT e.id, a.host_id, a.agent_run, e.seq, e.type, e.step, e.stream, e.data FROM events e JOIN agent_runs a ON a.id = e.run_id WHERE e.id > ? ORDER BY e.id LIMIT ?'),
      // One row per host, its current run's steps as one JSON array (by index): a sixth of the
      // time of a row per step at 1,000 hosts × 40 steps (the dashboard's snapshot reads it).
      currentSteps: db.prepare(
        `SELECT h.id AS host_id, h.agent_run,
                (SELECT json_group_array(json_array(step, idx, title, phase, status, started_at, duration_ms, attempts))
                 FROM (SELECT * FROM steps s WHERE s.host_id = h.id AND s.agent_run = h.agent_run ORDER BY s.idx)) AS cells
         FROM hosts h WHERE h.agent_run IS NOT NULL ORDER BY h.id`,
      ),
      recentOutput: db.prepare("SELECT id, seq, step, stream, data FROM events WHERE run_id = ? AND type = 'output' ORDER BY seq DESC LIMIT ?"),
      hostEventCount: db.prepare('SELECT count(*) FROM events WHERE run_id IN (SELECT id FROM agent_runs WHERE host_id = ?)').pluck(),
      // ETA from peers (src/ui/eta.ts). Both start from hosts (CROSS JOIN keeps them the outer
      // loop) and reach each host's current agent run's steps by their primary key prefix, so
      // older runs are never read. One row per (mode, step), and per unfinished host, the
      // lists as JSON arrays: 10-15 ms for 1,000 hosts × 40 steps, half of what returning
      // every step row to JS costs; the medians are taken in JS.
      etaSteps: db.prepare(
        `SELECT h.agent_mode AS mode, s.step AS step,
                json_group_array(s.duration_ms) FILTER (WHERE s.status = 'ok' AND s.duration_ms IS NOT NULL) AS ok_ms,
                count(*) FILTER (WHERE s.status = 'skipped') AS skipped
         FROM hosts h CROSS JOIN steps s ON s.host_id = h.id AND s.agent_run = h.agent_run
         WHERE h.agent_mode IS NOT NULL
         GROUP BY h.agent_mode, s.step`,
      ),
      etaOpenHosts: db.prepare(
        `SELECT h.id AS host_id, h.agent_mode AS agent_mode, a.ended AS agent_run_ended,
                r.kind AS run_kind, r.playbook AS playbook, r.ended_at AS run_ended_at,
                json_group_array(s.step) FILTER (WHERE s.status = 'pending') AS pending,
                max(CASE WHEN s.status = 'running' THEN s.step END) AS running_step,
                max(CASE WHEN s.status = 'running' THEN s.started_at END) AS running_since
         FROM hosts h
         LEFT JOIN runs r ON r.id = h.fleet_run
         LEFT JOIN agent_runs a ON a.host_id = h.id AND a.agent_run = h.agent_run
         LEFT JOIN steps s ON s.host_id = h.id AND s.agent_run = h.agent_run
         WHERE h.state IN ('pending', 'connecting', 'running')
         GROUP BY h.id
         ORDER BY h.id`,
      ),
    }
  }

  // ---- fleet runs ----

  startRun(kind: 'prepare' | 'cleanup', playbook: string, hostsFile: string | undefined, options: object): number {
    const r = this.st.addFleetRun.run(kind, playbook, hostsFile ?? null, JSON.stringify(options), new Date().toISOString())
    return Number(r.lastInsertRowid)
  }

  endRun(id: number, status: string): void {
    this.st.endFleetRun.run(new Date().toISOString(), status, id)
  }

  /** A fleet run with these inputs that never ended (its process was killed): the next invocation carries it on. */
  interruptedRun(kind: string, playbook: string, hostsFile: string | undefined, options: object): RunRow | undefined {
    return this.st.interruptedRun.get(kind, playbook, hostsFile ?? null, JSON.stringify(options)) as RunRow | undefined
  }

  lastRun(): RunRow | undefined {
    return this.st.lastRun.get() as RunRow | undefined
  }

  fleetRun(id: number): RunRow | undefined {
    return this.st.fleetRun.get(id) as RunRow | undefined
  }

  // ---- hosts ----

  /** Create the host, or update its address; returns its id. */
  upsertHost(h: HostIdentity): number {
    const row = this.st.upsertHost.get({name: h.name, address: h.address, port: h.port ?? null, user: h.user ?? null, transport: h.transport ?? 'ssh'}) as {id: number}
    return row.id
  }

  host(nameOrId: string | number): HostRow | undefined {
    return (typeof nameOrId === 'number' ? this.st.hostById.get(nameOrId) : this.st.hostByName.get(nameOrId)) as HostRow | undefined
  }

  hosts(): HostRow[] {
    return (this.st.hosts.all() as unknown[][]).map(hostRow)
  }

  /** A host taken up by a fleet run: it is pending until the run reaches it. */
  claimHost(id: number, fleetRun: number): void {
    this.st.claimHost.run(fleetRun, id)
  }

  setHostState(id: number, state: HostState, error?: string | null): void {
    const ended = isFinalState(state) ? new Date().toISOString() : null
    this.st.hostState.run(state, error ?? null, ended, new Date().toISOString(), id)
    if (error === null) this.st.clearHostError.run(id)
  }

  /** Recorded host keys, for trust on first use; also shown on the host's row. */
  hostKeys(): HostKeyStore {
    const st = this.st
    return {
      location: this.path,
      get: (hostId) => st.knownKey.get(hostId) as string | undefined,
      getAll: (hostId) => st.knownKeys.all(hostId) as string[],
      set: (hostId, key) => {
        st.addKnownKey.run(hostId, key, new Date().toISOString())
      },
      delete: (hostId) => {
        st.dropKnownKeys.run(hostId)
      },
    }
  }

  setHostKey(hostId: number, key: string): void {
    this.st.hostKey.run(key, hostId)
  }

  // ---- journal records ----

  /**
   * Store a batch of one host's journal records in one transaction, and
   * update its steps and state from them. Records already stored are skipped.
   */
  ingest(hostId: number, records: readonly JournalRecord[]): number {
    if (records.length === 0) return 0
    try {
      const added = this.ingestTx(hostId, records)
      // Inside a caller's transaction, ids created here are only as sure as its commit
      // (writeTx forgets them itself if its transaction rolls back).
      if (this.db.inTransaction && !this.inWriteTx) this.runIds.clear()
      return added
    } catch (error) {
      // The transaction rolled back: agent_runs ids it created are gone again.
      this.runIds.clear()
      throw error
    }
  }

  /** agent_runs ids by host and agent run; rows are never deleted, so an id once read stays right. */
  private readonly runIds = new Map<string, number>()

  private runIdFor(hostId: number, run: string, create: true): number
  private runIdFor(hostId: number, run: string, create: false): number | undefined
  private runIdFor(hostId: number, run: string, create: boolean): number | undefined {
    const key = `${hostId} ${run}`
    let id = this.runIds.get(key)
    if (id === undefined) {
      id = this.st.runId.get(hostId, run) as number | undefined
      if (id === undefined) {
        if (!create) return undefined
        id = Number(this.st.addRun.run(hostId, run).lastInsertRowid)
      }
      this.runIds.set(key, id)
    }
    return id
  }

  private readonly ingestTx: (hostId: number, records: readonly JournalRecord[]) => number

  /**
   * The hot path (an output record, ~95% of a journal) is one INSERT OR IGNORE of its
   * columns: an append to events plus one (run id, seq) entry in its unique index, which
   * is also what makes a record stored twice a no-op. Other records keep their JSON and
   * update steps and hosts; the host's last_seq and last_seen are set once per run per batch.
   */
  private ingestRecords(hostId: number, records: readonly JournalRecord[]): number {
    const st = this.st
    const now = new Date().toISOString()
    let added = 0
    let run = ''
    let runId = 0
    let maxSeq = 0
    for (let i = 0; i < records.length; i++) {
      const r = records[i]
      if (r.run !== run) {
        if (maxSeq) st.hostSeq.run(maxSeq, now, hostId, run)
        run = r.run
        runId = this.runIdFor(hostId, run, true)
        maxSeq = 0
      }
      if (r.type === 'output' && r.v === COLUMNS_ONLY_V) {
        if (st.insertOutput.run(runId, r.seq, r.ts, r.step, r.stream, r.data).changes === 0) continue
      } else {
        if (st.insertEvent.run(runId, r.seq, r.type, r.ts, 'step' in r ? r.step : null, r.type === 'output' ? r.stream : null, r.type === 'output' ? r.data : null, bodyOf(r)).changes === 0) continue
        this.apply(hostId, runId, r, now)
      }
      added++
      if (r.seq > maxSeq) maxSeq = r.seq
    }
    if (maxSeq) st.hostSeq.run(maxSeq, now, hostId, run)
    return added
  }

  private apply(hostId: number, runId: number, r: JournalRecord, now: string): void {
    const st = this.st
    switch (r.type) {
      case 'run-start':
        r.plan.forEach((p, i) => st.planStep.run(hostId, r.run, p.id, i + 1, p.title, p.phase ?? null))
        st.hostRunStart.run(r.run, r.mode, r.seq, r.plan.length, r.ts, now, hostId)
        break
      case 'step-start':
        st.stepStart.run(r.ts, r.seq, hostId, r.run, r.step)
        st.hostStep.run(r.step, r.index, r.title, hostId)
        break
      case 'step-retry':
        st.stepRetry.run(r.attempt + 1, r.error ?? null, hostId, r.run, r.step)
        break
      case 'step-end':
        st.stepEnd.run(r.status, r.reason ?? null, r.exit_code, r.attempts, r.ts, r.duration_ms, r.error ?? null, r.seq, hostId, r.run, r.step)
        if (r.status === 'failed') st.hostError.run(r.error ?? `exit code ${r.exit_code}`, hostId)
        break
      case 'run-resume':
        // A run that ended failed on a full disk is resumed, not replaced: it is going on again.
        st.runResumed.run(runId)
        st.hostRunResume.run(hostId)
        break
      case 'run-end':
        st.runEnded.run(runId)
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
    return !!this.st.runEndedFlag.get(hostId, agentRun)
  }

  /**
   * Record the agent run a host was given, as soon as `agent start` names it:
   * a fleet run killed before any of its records arrived still knows it.
   */
  setAgentRun(hostId: number, agentRun: string, mode: 'run' | 'undo'): void {
    this.st.setAgentRun.run(agentRun, agentRun, mode, hostId)
  }

  steps(hostId: number, agentRun: string): StepRow[] {
    return this.st.steps.all(hostId, agentRun) as StepRow[]
  }

  /** The last `lines` lines a step wrote (both streams, in order). */
  logTail(hostId: number, agentRun: string, step: string, lines: number): string {
    const runId = this.runIdFor(hostId, agentRun, false)
    if (runId === undefined) return ''
    // The step's output lies between its first start and its end (to the run's end while it runs).
    const b = this.st.stepBounds.get(hostId, agentRun, step) as {start_seq: number | null; end_seq: number | null} | undefined
    const rows = this.st.stepOutput.all(runId, b?.start_seq ?? 0, b?.end_seq ?? Number.MAX_SAFE_INTEGER, step) as string[]
    const text = rows.reverse().join('')
    return text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1).slice(-lines).join('\n')
  }

  /**
   * Per agent mode and step, over every host's current agent run: the durations of the
   * step's ok ends and how many hosts skipped it; every step of those runs' plans has a
   * row. What `fleet status` estimates remaining times from (src/ui/eta.ts).
   */
  etaSteps(): EtaStepRow[] {
    const rows = this.st.etaSteps.all() as Array<{mode: string; step: string; ok_ms: string; skipped: number}>
    return rows.map((r) => ({mode: r.mode, step: r.step, ok_ms: JSON.parse(r.ok_ms) as number[], skipped: r.skipped}))
  }

  /** The hosts not finished (pending, connecting, running), with their fleet run and what is left of their current agent run. */
  etaOpenHosts(): EtaOpenHostRow[] {
    const rows = this.st.etaOpenHosts.all() as Array<Omit<EtaOpenHostRow, 'pending'> & {pending: string}>
    return rows.map((r) => ({...r, pending: JSON.parse(r.pending) as string[]}))
  }

  eventCount(hostId?: number): number {
    return (hostId === undefined ? this.st.eventCount.get() : this.st.hostEventCount.get(hostId)) as number
  }

  // ---- following the store from another process (the dashboard) ----

  /** Changes whenever another connection commits to the file (SQLite's PRAGMA data_version): a cheap "anything new?". */
  dataVersion(): number {
    return this.st.dataVersion.get() as number
  }

  /** The id of the last stored journal record (events rows are numbered in arrival order); 0 when there is none. */
  maxEventId(): number {
    return this.st.maxEventId.get() as number
  }

  /** Up to `limit` stored records after row `id`, in arrival order, with the host and agent run each belongs to (no JSON bodies). */
  eventsAfter(id: number, limit: number): EventRow[] {
    return this.st.eventsAfter.all(id, limit) as EventRow[]
  }

  /** A key of what the host rows show (state, step, run, error, end): unchanged while only output arrives. */
  hostsKey(): string {
    return (this.st.hostsKey.get() as string | null) ?? ''
  }

  /** The steps of every host's current agent run, by host then index (the columns a cell shows). */
  currentSteps(): CellRow[] {
    const out: CellRow[] = []
    for (const r of this.st.currentSteps.all() as Array<{host_id: number; agent_run: string; cells: string}>) {
      for (const [step, idx, title, phase, status, started_at, duration_ms, attempts] of JSON.parse(r.cells) as Array<[string, number, string, string | null, string, string | null, number | null, number]>) {
        out.push({host_id: r.host_id, agent_run: r.agent_run, step, idx, title, phase, status, started_at, duration_ms, attempts})
      }
    }
    return out
  }

  /** The last `limit` output records of a host's agent run, oldest first. */
  recentOutput(hostId: number, agentRun: string, limit: number): Array<{id: number; seq: number; step: string; stream: string; data: string}> {
    const runId = this.runIdFor(hostId, agentRun, false)
    if (runId === undefined) return []
    return (this.st.recentOutput.all(runId, limit) as Array<{id: number; seq: number; step: string; stream: string; data: string}>).reverse()
  }

  /** Run `fn` in one read transaction: everything it reads is one moment of the store. */
  readTx<T>(fn: () => T): T {
    return this.db.transaction(fn)()
  }

  /** Run `fn`'s writes as one transaction (one commit), holding the write lock from its start; all or nothing. */
  writeTx<T>(fn: () => T): T {
    const outer = this.inWriteTx // a writeTx inside one is a savepoint of the same commit
    this.inWriteTx = true
    try {
      return this.db.transaction(fn).immediate()
    } catch (error) {
      // Rolled back: agent_runs ids created inside it are gone again.
      this.runIds.clear()
      throw error
    } finally {
      this.inWriteTx = outer
    }
  }

  /** In writeTx: the ids ingest() caches stay good unless it rolls back, which clears them. */
  private inWriteTx = false

  /** Every stored record of a host's agent run, rebuilt in seq order (output data joined back in). */
  records(hostId: number, agentRun: string): JournalRecord[] {
    const runId = this.runIdFor(hostId, agentRun, false)
    if (runId === undefined) return []
    const rows = this.st.runRecords.all(runId) as Array<{seq: number; type: string; ts: string; step: string | null; stream: string | null; data: string | null; body: string | null}>
    return rows.map((r) => {
      const rec = r.body === null ? {v: COLUMNS_ONLY_V, seq: r.seq, ts: r.ts, run: agentRun, type: r.type, step: r.step, stream: r.stream} : JSON.parse(r.body)
      if (r.data !== null) rec.data = r.data
      return rec as JournalRecord
    })
  }
}

/** The record as JSON, output data left out (it has a column of its own). */
function bodyOf(r: JournalRecord): string {
  if (r.type === 'output') {
    const {data: _data, ...rest} = r
    return JSON.stringify(rest)
  }
  return JSON.stringify(r)
}

/**
 * Why what is at `path` cannot be a fleet database, or undefined when it can: nothing there
 * yet, an empty file, an SQLite file. Only a regular file: the store makes its file 0600,
 * which must never happen to a device or a folder given by mistake.
 */
function notSqlite(path: string): string | undefined {
  let st: Stats
  try {
    st = statSync(path)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return code === 'ENOENT' ? undefined : `cannot be read: ${code}`
  }
  if (st.isDirectory()) return 'a folder'
  if (!st.isFile()) return 'not a regular file'
  if (st.size === 0) return undefined
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (e) {
    return `cannot be read: ${(e as NodeJS.ErrnoException).code}`
  }
  try {
    const head = Buffer.alloc(SQLITE_HEADER.length)
    const n = readSync(fd, head, 0, head.length, 0)
    return n === SQLITE_HEADER.length && head.equals(SQLITE_HEADER) ? undefined : 'not an SQLite file'
  } finally {
    closeSync(fd)
  }
}

/** The disk under the database is full (SQLite's SQLITE_FULL). */
export function isStoreFull(e: unknown): boolean {
  return (e as {code?: string} | null)?.code === 'SQLITE_FULL'
}

/**
 * What fleet says when its database's disk fills during a run: nothing is lost, since every
 * host's journal is the truth and following it again from the last stored record is safe.
 */
export function storeFullError(path: string): UserError {
  return new UserError(
    `the disk holding ${path} is full, so fleet stopped recording; the hosts' agents carry on by themselves: free some space and run the same command again, it re-attaches to them and stores what they did meanwhile.`,
    1,
    {exitNow: true},
  )
}
