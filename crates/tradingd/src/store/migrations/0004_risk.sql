-- Risk limits by scope (`account:NAME`, `bot:ID`, `symbol:SYMBOL`), as JSON.
CREATE TABLE risk_limits (
    scope       TEXT PRIMARY KEY,
    limits      TEXT NOT NULL,
    updated_ms  INTEGER NOT NULL
) STRICT;

-- Trading states of accounts and bots, and the baselines of the loss and
-- drawdown limits: the risk day, equity at its start, the equity peak.
CREATE TABLE risk_states (
    scope             TEXT PRIMARY KEY,
    state             TEXT NOT NULL,
    reason            TEXT,
    since_ms          INTEGER,
    day               INTEGER,
    day_start_equity  TEXT,
    peak_equity       TEXT
) STRICT;

CREATE TABLE risk_violations (
    id           INTEGER PRIMARY KEY,
    time_ms      INTEGER NOT NULL,
    source       TEXT NOT NULL,
    scope        TEXT NOT NULL,
    limit_name   TEXT NOT NULL,
    limit_value  TEXT NOT NULL,
    value        TEXT NOT NULL,
    message      TEXT NOT NULL,
    order_json   TEXT
) STRICT;
CREATE INDEX risk_violations_time ON risk_violations (time_ms);

CREATE TABLE risk_alerts (
    id        INTEGER PRIMARY KEY,
    time_ms   INTEGER NOT NULL,
    severity  TEXT NOT NULL,
    scope     TEXT NOT NULL,
    kind      TEXT NOT NULL,
    message   TEXT NOT NULL,
    acked_ms  INTEGER
) STRICT;
CREATE INDEX risk_alerts_open ON risk_alerts (id) WHERE acked_ms IS NULL;
