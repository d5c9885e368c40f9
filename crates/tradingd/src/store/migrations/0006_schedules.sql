-- Cron schedules. `next_run_ms` is the next slot; a slot enqueues its job
-- with the idempotency key `schedule:<id>:<slot ms>` in the same
-- transaction that moves `next_run_ms` on, so it fires at most once.
CREATE TABLE schedules (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    owner        TEXT NOT NULL REFERENCES users(name),
    cron         TEXT NOT NULL,
    tz           TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 0,
    missed       TEXT NOT NULL,
    paused       INTEGER NOT NULL DEFAULT 0,
    next_run_ms  INTEGER,
    last_run_ms  INTEGER,
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL,
    UNIQUE (owner, name)
) STRICT;
CREATE INDEX schedules_due ON schedules (next_run_ms) WHERE paused = 0;
