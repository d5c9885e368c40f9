-- The durable job queue. A running job holds a lease its worker renews;
-- an expired lease means the worker (or the daemon) died.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_at_ms        INTEGER NOT NULL,
    lease_until_ms   INTEGER,
    progress         INTEGER NOT NULL DEFAULT 0,
    message          TEXT,
    result           TEXT,
    error            TEXT,
    idempotency_key  TEXT UNIQUE,
    owner            TEXT NOT NULL REFERENCES users(name),
    created_ms       INTEGER NOT NULL,
    started_ms       INTEGER,
    finished_ms      INTEGER
) STRICT;
CREATE INDEX jobs_due ON jobs (priority DESC, run_at_ms, id) WHERE state = 'queued';
CREATE INDEX jobs_queued_time ON jobs (run_at_ms) WHERE state = 'queued';
CREATE INDEX jobs_running ON jobs (lease_until_ms) WHERE state = 'running';
CREATE INDEX jobs_state ON jobs (state, id);
