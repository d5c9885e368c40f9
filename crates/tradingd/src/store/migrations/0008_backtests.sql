-- Historical datasets and backtests.
CREATE TABLE datasets (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    symbol         TEXT NOT NULL,
    base           TEXT NOT NULL,
    quote          TEXT NOT NULL,
    interval       TEXT,
    spacing_ms     INTEGER NOT NULL,
    start_ms       INTEGER NOT NULL,
    end_ms         INTEGER NOT NULL,
    rows           INTEGER NOT NULL,
    gaps           INTEGER NOT NULL,
    missing_bars   INTEGER NOT NULL,
    largest_gaps   TEXT NOT NULL,
    price_decimals INTEGER NOT NULL,
    source         TEXT NOT NULL,
    owner          TEXT NOT NULL REFERENCES users(name),
    created_ms     INTEGER NOT NULL
) STRICT;

-- Bars, columnar, in chunks of up to 65,536 rows: the rows' times as
-- little-endian i64, then their opens, highs, lows, closes and volumes as
-- little-endian f64. A million bars load in one read of 48 MB.
CREATE TABLE dataset_chunks (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    rows       INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (dataset_id, seq)
) STRICT;

CREATE TABLE backtests (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('run', 'sweep')),
    owner          TEXT NOT NULL REFERENCES users(name),
    job_id         INTEGER NOT NULL,
    spec           TEXT NOT NULL,
    created_ms     INTEGER NOT NULL,
    summary        TEXT,
    metrics        TEXT,
    sweep          TEXT
) STRICT;
CREATE INDEX backtests_job ON backtests (job_id);

-- Which datasets a backtest reads (a dataset in use is not deleted).
CREATE TABLE backtest_datasets (
    backtest_id INTEGER NOT NULL REFERENCES backtests(id) ON DELETE CASCADE,
    dataset_id  INTEGER NOT NULL,
    PRIMARY KEY (backtest_id, dataset_id)
) STRICT;
CREATE INDEX backtest_datasets_dataset ON backtest_datasets (dataset_id);

-- A finished run's trades and fills (JSON arrays) and its equity curve
-- (little-endian i64 times, then f64 equity).
CREATE TABLE backtest_results (
    backtest_id INTEGER PRIMARY KEY REFERENCES backtests(id) ON DELETE CASCADE,
    trades      TEXT NOT NULL,
    fills       TEXT NOT NULL,
    curve       BLOB NOT NULL
) STRICT;
