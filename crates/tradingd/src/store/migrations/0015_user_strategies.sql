-- User strategies (Lua sources and WebAssembly modules), stored by the
-- SHA-256 of their content: a code row is written once and never
-- changed, so a backtest or bot that names `name@hash` can always be
-- reproduced. Each upload under a name is a version; a name's newest
-- version is the one `name` alone means.
CREATE TABLE strategy_code (
    hash TEXT PRIMARY KEY,
    tier TEXT NOT NULL CHECK (tier IN ('lua', 'wasm')),
    code BLOB NOT NULL
) STRICT;

CREATE TABLE strategy_versions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL REFERENCES strategy_code (hash),
    owner TEXT NOT NULL,
    uploaded_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX strategy_versions_name ON strategy_versions (name, id);
