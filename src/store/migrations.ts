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
]
