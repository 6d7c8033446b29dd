/**
 * Schema migrations, applied in order; PRAGMA user_version records how many
 * have run. Append new ones; never edit one that has shipped.
 */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,            -- prepare | cleanup
    playbook    TEXT NOT NULL,
    hosts_file  TEXT,
    options     TEXT NOT NULL DEFAULT '{}',
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    status      TEXT NOT NULL DEFAULT 'running'
  );
  CREATE TABLE hosts (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    address      TEXT NOT NULL,
    port         INTEGER,
    user         TEXT,
    transport    TEXT NOT NULL DEFAULT 'ssh',
    host_key     TEXT,
    state        TEXT NOT NULL DEFAULT 'pending',
    fleet_run    INTEGER REFERENCES runs(id),
    agent_run    TEXT,
    agent_mode   TEXT,                    -- run | undo: what agent_run is
    last_seq     INTEGER NOT NULL DEFAULT 0,
    step_id      TEXT,
    step_index   INTEGER,
    step_total   INTEGER,
    step_title   TEXT,
    error        TEXT,
    started_at   TEXT,
    ended_at     TEXT,
    last_seen    TEXT
  );
  CREATE TABLE steps (
    host_id     INTEGER NOT NULL REFERENCES hosts(id),
    agent_run   TEXT NOT NULL,
    step        TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    title       TEXT NOT NULL,
    phase       TEXT,
    status      TEXT NOT NULL,
    reason      TEXT,
    exit_code   INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_at  TEXT,
    ended_at    TEXT,
    duration_ms INTEGER,
    error       TEXT,
    PRIMARY KEY (host_id, agent_run, step)
  ) WITHOUT ROWID;
  CREATE TABLE events (
    host_id    INTEGER NOT NULL REFERENCES hosts(id),
    agent_run  TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    type       TEXT NOT NULL,
    ts         TEXT NOT NULL,
    step       TEXT,
    body       TEXT NOT NULL,             -- the record as JSON (output records without their data)
    PRIMARY KEY (host_id, agent_run, seq)
  ) WITHOUT ROWID;
  CREATE TABLE log_chunks (
    host_id    INTEGER NOT NULL REFERENCES hosts(id),
    agent_run  TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    step       TEXT NOT NULL,
    stream     TEXT NOT NULL,
    data       TEXT NOT NULL,
    PRIMARY KEY (host_id, agent_run, seq)
  ) WITHOUT ROWID;
  -- Host keys seen first use (trust on first use), by OpenSSH host id "[address]:port".
  CREATE TABLE known_hosts (
    host_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (host_id, key)
  ) WITHOUT ROWID;
  CREATE INDEX log_chunks_by_step ON log_chunks (host_id, agent_run, step, seq);
  `,
  // 2: one row per journal record, appended. Ingest was three B-tree inserts per output
  // record (events, log_chunks and its step index), each into the middle of a tree
  // keyed by host and run text; now it is one append (rowid order) plus one small
  // unique-index entry keyed by (run id, seq), which is what keeps storing a record
  // twice harmless. A step's output is found between its start and end seq (steps
  // .start_seq, .end_seq) instead of through an index of its own.
  `
  CREATE TABLE agent_runs (
    id         INTEGER PRIMARY KEY,
    host_id    INTEGER NOT NULL REFERENCES hosts(id),
    agent_run  TEXT NOT NULL,
    ended      INTEGER NOT NULL DEFAULT 0,  -- 1 once the run's run-end record is stored
    UNIQUE (host_id, agent_run)
  );
  INSERT INTO agent_runs (host_id, agent_run, ended)
    SELECT host_id, agent_run, max(type = 'run-end') FROM events GROUP BY host_id, agent_run ORDER BY host_id, agent_run;
  ALTER TABLE events RENAME TO events_v1;
  CREATE TABLE events (
    id         INTEGER PRIMARY KEY,         -- arrival order
    run_id     INTEGER NOT NULL,            -- agent_runs.id (kept by the store; no per-row foreign key check)
    seq        INTEGER NOT NULL,
    type       TEXT NOT NULL,
    ts         TEXT NOT NULL,
    step       TEXT,
    stream     TEXT,                        -- output records: stdout | stderr
    data       TEXT,                        -- output records: the text
    body       TEXT                         -- the record as JSON without data; NULL for an output
                                            -- record made of the columns alone (v 1)
  );
  CREATE UNIQUE INDEX events_by_run ON events (run_id, seq);
  INSERT INTO events (run_id, seq, type, ts, step, stream, data, body)
    SELECT a.id, e.seq, e.type, e.ts, e.step, c.stream, c.data, e.body
    FROM events_v1 e
    JOIN agent_runs a ON a.host_id = e.host_id AND a.agent_run = e.agent_run
    LEFT JOIN log_chunks c ON c.host_id = e.host_id AND c.agent_run = e.agent_run AND c.seq = e.seq
    ORDER BY e.host_id, e.agent_run, e.seq;
  DROP TABLE events_v1;
  DROP TABLE log_chunks;
  ALTER TABLE steps ADD COLUMN start_seq INTEGER;  -- seq of the step's first step-start
  ALTER TABLE steps ADD COLUMN end_seq INTEGER;    -- seq of its step-end; NULL while it runs
  UPDATE steps SET start_seq = b.first_start, end_seq = CASE WHEN steps.status = 'running' THEN NULL ELSE b.last_end END
  FROM (SELECT a.host_id, a.agent_run, e.step,
               min(CASE WHEN e.type = 'step-start' THEN e.seq END) AS first_start,
               max(CASE WHEN e.type = 'step-end' THEN e.seq END) AS last_end
        FROM events e JOIN agent_runs a ON a.id = e.run_id
        WHERE e.type IN ('step-start', 'step-end')
        GROUP BY e.run_id, e.step) AS b
  WHERE b.host_id = steps.host_id AND b.agent_run = steps.agent_run AND b.step = steps.step;
  `,
]
