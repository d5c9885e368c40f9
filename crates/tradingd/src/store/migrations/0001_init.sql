-- Users own rows. The local socket's caller is `admin`; HTTP users and
-- roles arrive later and need no change to the tables that reference this.
CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('read', 'trade', 'admin')),
    created_ms  INTEGER NOT NULL
) STRICT;

INSERT INTO users (name, role, created_ms) VALUES ('admin', 'admin', 0);

-- One row per daemon start on this data dir. `stopped_ms` stays NULL when
-- the daemon dies without a clean shutdown, which the next start reports.
CREATE TABLE daemon_runs (
    id          INTEGER PRIMARY KEY,
    started_ms  INTEGER NOT NULL,
    stopped_ms  INTEGER,
    pid         INTEGER NOT NULL,
    version     TEXT NOT NULL
) STRICT;
