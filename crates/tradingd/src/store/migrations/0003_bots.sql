-- Named, reusable strategy configs (a StrategySpec as JSON).
CREATE TABLE strategies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    owner       TEXT NOT NULL REFERENCES users(name),
    spec        TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    UNIQUE (owner, name)
) STRICT;

-- Bots. A deleted bot keeps its row (its orders and fills refer to it)
-- with `deleted_ms` set; ids are never reused.
CREATE TABLE bots (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    owner        TEXT NOT NULL REFERENCES users(name),
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    strategy_id  INTEGER,
    spec         TEXT NOT NULL,
    symbols      TEXT NOT NULL,
    allocation   TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason       TEXT,
    state        TEXT NOT NULL DEFAULT 'null',
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL,
    started_ms   INTEGER,
    deleted_ms   INTEGER
) STRICT;
CREATE UNIQUE INDEX bots_name ON bots (owner, name) WHERE deleted_ms IS NULL;

-- A bot's book: its part of its account's balances, and its positions.
CREATE TABLE bot_balances (
    bot_id  INTEGER NOT NULL REFERENCES bots(id),
    asset   TEXT NOT NULL,
    free    TEXT NOT NULL,
    locked  TEXT NOT NULL,
    PRIMARY KEY (bot_id, asset)
) STRICT;

CREATE TABLE bot_positions (
    bot_id      INTEGER NOT NULL REFERENCES bots(id),
    symbol      TEXT NOT NULL,
    qty         TEXT NOT NULL,
    cost        TEXT NOT NULL,
    realized    TEXT NOT NULL,
    fees        TEXT NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (bot_id, symbol)
) STRICT;

-- What each bot did: signals, orders, fills, errors, state changes.
CREATE TABLE bot_events (
    id       INTEGER PRIMARY KEY,
    bot_id   INTEGER NOT NULL REFERENCES bots(id),
    time_ms  INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    message  TEXT NOT NULL,
    data     TEXT
) STRICT;
CREATE INDEX bot_events_bot ON bot_events (bot_id, id);

-- The bot's equity at each bar it handled (for drawdown and charts).
CREATE TABLE bot_equity (
    bot_id   INTEGER NOT NULL REFERENCES bots(id),
    time_ms  INTEGER NOT NULL,
    equity   TEXT NOT NULL,
    PRIMARY KEY (bot_id, time_ms)
) STRICT, WITHOUT ROWID;

-- `positions` now holds the manual book; orders and fills name their bot.
ALTER TABLE orders ADD COLUMN bot_id INTEGER REFERENCES bots(id);
ALTER TABLE fills ADD COLUMN bot_id INTEGER REFERENCES bots(id);
CREATE INDEX orders_bot ON orders (bot_id, id) WHERE bot_id IS NOT NULL;
CREATE INDEX fills_bot ON fills (bot_id, trade_id) WHERE bot_id IS NOT NULL;
