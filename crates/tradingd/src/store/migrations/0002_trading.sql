-- Accounts on venues; the paper account on `sim` is created at first start.
CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    venue       TEXT NOT NULL,
    owner       TEXT NOT NULL REFERENCES users(name),
    created_ms  INTEGER NOT NULL
) STRICT;

-- Decimal amounts are TEXT: exact, never floats.
CREATE TABLE balances (
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    asset       TEXT NOT NULL,
    free        TEXT NOT NULL,
    locked      TEXT NOT NULL,
    PRIMARY KEY (account_id, asset)
) STRICT;

-- An order row exists before the order reaches a venue (status `new`).
CREATE TABLE orders (
    id               INTEGER PRIMARY KEY,
    account_id       INTEGER NOT NULL REFERENCES accounts(id),
    client_order_id  TEXT NOT NULL UNIQUE,
    symbol           TEXT NOT NULL,
    side             TEXT NOT NULL,
    type             TEXT NOT NULL,
    qty              TEXT NOT NULL,
    price            TEXT,
    stop_price       TEXT,
    trail            TEXT,
    time_in_force    TEXT NOT NULL,
    status           TEXT NOT NULL,
    filled           TEXT NOT NULL,
    filled_notional  TEXT NOT NULL,
    fees             TEXT NOT NULL,
    reserved         TEXT NOT NULL,
    reserved_asset   TEXT NOT NULL,
    triggered        INTEGER NOT NULL DEFAULT 0,
    parent_id        INTEGER REFERENCES orders(id) DEFERRABLE INITIALLY DEFERRED,
    oco_id           INTEGER REFERENCES orders(id) DEFERRABLE INITIALLY DEFERRED,
    reason           TEXT,
    owner            TEXT NOT NULL REFERENCES users(name),
    created_ms       INTEGER NOT NULL,
    updated_ms       INTEGER NOT NULL
) STRICT;
CREATE INDEX orders_open ON orders (status) WHERE status IN ('new', 'pending', 'accepted', 'partially_filled');
CREATE INDEX orders_symbol ON orders (symbol, id);

CREATE TABLE fills (
    trade_id      INTEGER PRIMARY KEY,
    order_id      INTEGER NOT NULL REFERENCES orders(id),
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    symbol        TEXT NOT NULL,
    side          TEXT NOT NULL,
    qty           TEXT NOT NULL,
    price         TEXT NOT NULL,
    fee           TEXT NOT NULL,
    fee_asset     TEXT NOT NULL,
    liquidity     TEXT NOT NULL,
    realized_pnl  TEXT NOT NULL,
    time_ms       INTEGER NOT NULL
) STRICT;
CREATE INDEX fills_symbol_time ON fills (symbol, time_ms);
CREATE INDEX fills_time ON fills (time_ms);

CREATE TABLE positions (
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    symbol      TEXT NOT NULL,
    qty         TEXT NOT NULL,
    cost        TEXT NOT NULL,
    realized    TEXT NOT NULL,
    fees        TEXT NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (account_id, symbol)
) STRICT;

CREATE TABLE klines_1m (
    symbol   TEXT NOT NULL,
    open_ms  INTEGER NOT NULL,
    open     TEXT NOT NULL,
    high     TEXT NOT NULL,
    low      TEXT NOT NULL,
    close    TEXT NOT NULL,
    volume   TEXT NOT NULL,
    trades   INTEGER NOT NULL,
    PRIMARY KEY (symbol, open_ms)
) STRICT, WITHOUT ROWID;
