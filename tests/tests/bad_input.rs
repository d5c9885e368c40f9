//! Bad input: a table of malformed frames, each sent to the running
//! daemon. Each gets its documented error code (or, where a connection
//! must end, is closed after its error), the daemon stays up and answers
//! the next call on a fresh connection, nothing is written, and a normal
//! order still works afterwards.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tradedesk_tests::{Daemon, Raw, figure};

const PARSE: i64 = -32700;
const REQUEST: i64 = -32600;
const METHOD: i64 = -32601;
const PARAMS: i64 = -32602;
const NOT_FOUND: i64 = -32006;
const LIMIT: i64 = -32012;

fn req(method: &str, params: &Value) -> String {
    json!({ "jsonrpc": "2.0", "method": method, "params": params, "id": 7 }).to_string()
}

/// Every amount field of the order methods with a value that is not a
/// decimal string the schema allows.
fn amount_cases() -> Vec<(String, Vec<u8>, i64)> {
    let bad_values = [
        json!(0.01),
        json!("1e5"),
        json!(" 0.001"),
        json!("0.0000000000000000001"),
        json!("792281625142643375935439503350"),
        json!("NaN"),
        json!(""),
        json!(null),
        json!(["1"]),
    ];
    let mut out = Vec::new();
    let bases = [
        (
            "orders.place",
            json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.001", "price": "100" }),
            ["qty", "price"],
        ),
        (
            "orders.place_oco",
            json!({ "symbol": "BTCUSDT", "side": "sell", "qty": "0.001", "price": "90000", "stop_price": "40000" }),
            ["qty", "stop_price"],
        ),
        (
            "orders.place_bracket",
            json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.001", "price": "100", "take_profit": "200", "stop_loss": "50" }),
            ["take_profit", "stop_loss"],
        ),
    ];
    for (method, base, fields) in bases {
        for field in fields {
            for v in &bad_values {
                let mut p = base.clone();
                p[field] = v.clone();
                out.push((
                    format!("{method} {field}={v}"),
                    req(method, &p).into_bytes(),
                    PARAMS,
                ));
            }
        }
    }
    out
}

/// Strings shaped like SQL or paths in the string fields.
fn string_cases() -> Vec<(String, Vec<u8>, i64)> {
    let sql = "x'; DROP TABLE orders; --";
    let path = "../../../etc/passwd";
    let cases = [
        (
            "orders.place",
            json!({ "symbol": sql, "side": "buy", "type": "market", "qty": "0.001" }),
            PARAMS,
        ),
        (
            "orders.place",
            json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001", "client_order_id": sql }),
            PARAMS,
        ),
        (
            "orders.place",
            json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001", "account": sql }),
            NOT_FOUND,
        ),
        (
            "orders.place",
            json!({ "symbol": "BTCUSDT", "side": sql, "type": "market", "qty": "0.001" }),
            PARAMS,
        ),
        ("orders.get", json!({ "client_order_id": sql }), NOT_FOUND),
        ("accounts.balances", json!({ "account": path }), NOT_FOUND),
        ("market.ticker", json!({ "symbol": path }), PARAMS),
        ("strategies.get", json!({ "name": sql }), NOT_FOUND),
        (
            "bots.create",
            json!({ "name": "b", "spec": { "strategy": sql }, "symbols": ["BTCUSDT"], "allocation": { "USDT": "10" } }),
            PARAMS,
        ),
        (
            "bots.create",
            json!({ "name": "b", "spec": { "strategy": "dca" }, "symbols": [sql], "allocation": { "USDT": "10" } }),
            PARAMS,
        ),
        (
            "risk.limits.set",
            json!({ "scope": sql, "limits": {} }),
            PARAMS,
        ),
        (
            "risk.limits.set",
            json!({ "scope": "account:paper", "limits": { sql: "1" } }),
            PARAMS,
        ),
        ("jobs.enqueue", json!({ "kind": sql }), PARAMS),
        (
            "jobs.schedules.create",
            json!({ "name": "n", "cron": sql, "kind": "risk.report" }),
            PARAMS,
        ),
        (
            "jobs.schedules.create",
            json!({ "name": "n", "cron": "@hourly", "tz": path, "kind": "risk.report" }),
            PARAMS,
        ),
        (
            "data.import",
            json!({ "path": path, "symbol": "X" }),
            PARAMS,
        ),
        (
            "data.import",
            json!({ "path": "/proc/self/environ", "symbol": sql }),
            PARAMS,
        ),
        ("data.export", json!({ "id": 1, "path": path }), NOT_FOUND),
        ("cache.get", json!({ "key": sql }), PARAMS),
        ("streams.subscribe", json!({ "topics": [sql] }), PARAMS),
    ];
    cases
        .into_iter()
        .map(|(m, p, code)| (format!("{m} {p}"), req(m, &p).into_bytes(), code))
        .collect()
}

/// The frames themselves malformed.
fn frame_cases() -> Vec<(String, Vec<u8>, i64)> {
    let mut deep = "[".repeat(100_000);
    deep.push_str(&"]".repeat(100_000));
    let deep_params = format!(
        r#"{{"jsonrpc":"2.0","method":"system.health","params":{}{}{},"id":1}}"#,
        r#"{"a":"#.repeat(5_000),
        "1",
        "}".repeat(5_000)
    );
    let batch = |n: usize| {
        let one = r#"{"jsonrpc":"2.0","method":"system.health","id":1}"#;
        format!("[{}]", vec![one; n].join(","))
    };
    let plain: Vec<(&str, &[u8], i64)> = vec![
        ("garbage", b"hello", PARSE),
        ("an open brace", b"{", PARSE),
        ("a close brace", b"}", PARSE),
        ("two objects", b"{}{}", PARSE),
        ("truncated", br#"{"jsonrpc":"2.0","method":"system.health","id":1"#, PARSE),
        ("invalid UTF-8", b"\xff\xfe\xfd", PARSE),
        ("invalid UTF-8 in a string", b"{\"jsonrpc\":\"2.0\",\"method\":\"\xc3\x28\",\"id\":1}", PARSE),
        ("a NUL byte", b"{\"jsonrpc\":\"2.0\",\0}", PARSE),
        ("null", b"null", REQUEST),
        ("a number", b"42", REQUEST),
        ("a string", b"\"system.health\"", REQUEST),
        ("an empty object", b"{}", REQUEST),
        ("jsonrpc 1.0", br#"{"jsonrpc":"1.0","method":"system.health","id":1}"#, REQUEST),
        ("jsonrpc as a number", br#"{"jsonrpc":2,"method":"system.health","id":1}"#, REQUEST),
        ("no method", br#"{"jsonrpc":"2.0","id":1}"#, REQUEST),
        ("method a number", br#"{"jsonrpc":"2.0","method":5,"id":1}"#, REQUEST),
        ("id an object", br#"{"jsonrpc":"2.0","method":"system.health","id":{}}"#, REQUEST),
        ("id an array", br#"{"jsonrpc":"2.0","method":"system.health","id":[1]}"#, REQUEST),
        ("id true", br#"{"jsonrpc":"2.0","method":"system.health","id":true}"#, REQUEST),
        ("unknown method", br#"{"jsonrpc":"2.0","method":"orders.explode","id":1}"#, METHOD),
        ("method with a NUL", b"{\"jsonrpc\":\"2.0\",\"method\":\"orders.place\\u0000\",\"id\":1}", METHOD),
        ("params an array", br#"{"jsonrpc":"2.0","method":"system.health","params":[1],"id":1}"#, PARAMS),
        ("params a string", br#"{"jsonrpc":"2.0","method":"system.health","params":"x","id":1}"#, PARAMS),
        ("params a number", br#"{"jsonrpc":"2.0","method":"system.health","params":5,"id":1}"#, PARAMS),
        ("an unknown field", br#"{"jsonrpc":"2.0","method":"orders.get","params":{"idd":1},"id":1}"#, PARAMS),
        ("an id as a string", br#"{"jsonrpc":"2.0","method":"orders.get","params":{"id":"1"},"id":1}"#, PARAMS),
        ("a negative id", br#"{"jsonrpc":"2.0","method":"orders.get","params":{"id":-1},"id":1}"#, PARAMS),
        ("an id past u64", br#"{"jsonrpc":"2.0","method":"orders.get","params":{"id":18446744073709551616},"id":1}"#, PARAMS),
        ("a float id", br#"{"jsonrpc":"2.0","method":"orders.get","params":{"id":1.5},"id":1}"#, PARAMS),
        ("an empty batch", b"[]", REQUEST),
    ];
    let mut out: Vec<(String, Vec<u8>, i64)> = plain
        .into_iter()
        .map(|(n, b, c)| (n.to_owned(), b.to_vec(), c))
        .collect();
    // A batch of one item that is not a request.
    out.push(("100,000 nested arrays".into(), deep.into_bytes(), REQUEST));
    out.push((
        "5,000 nested objects in params".into(),
        deep_params.into_bytes(),
        PARAMS,
    ));
    out.push(("a batch of 101".into(), batch(101).into_bytes(), LIMIT));
    out.push((
        "a batch of 100,000".into(),
        batch(100_000).into_bytes(),
        LIMIT,
    ));
    out
}

fn count(db: &std::path::Path, table: &str) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("db")
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

#[test]
fn a_table_of_malformed_frames_gets_its_codes_and_changes_nothing() {
    let d = Daemon::start();
    let tables = [
        "orders",
        "fills",
        "bots",
        "strategies",
        "datasets",
        "jobs",
        "schedules",
        "risk_limits",
    ];
    let before: Vec<i64> = tables.iter().map(|t| count(&d.db_path(), t)).collect();
    let balances_before = d
        .client()
        .call_raw("accounts.balances", &json!({}))
        .expect("balances");
    let mut cases = frame_cases();
    cases.extend(amount_cases());
    cases.extend(string_cases());
    let mut raw = Raw::connect(&d.socket());
    let started = Instant::now();
    let mut wrong = Vec::new();
    for (name, bytes, want) in &cases {
        let mut line = bytes.clone();
        line.push(b'\n');
        assert!(raw.send(&line), "{name}: the connection was closed");
        let r = raw.recv().unwrap_or_else(|| panic!("{name}: no answer"));
        // A batch whose items were read answers with an array.
        let code = r["error"]["code"]
            .as_i64()
            .or_else(|| r[0]["error"]["code"].as_i64());
        if code != Some(*want) {
            wrong.push(format!("{name}: expected {want}, got {r}"));
        }
        // The same connection answers the next call.
        let ok = raw
            .call(r#"{"jsonrpc":"2.0","method":"system.health","id":"next"}"#)
            .unwrap_or_else(|| panic!("{name}: the daemon stopped answering"));
        assert_eq!(ok["id"], "next", "{name}: {ok}");
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    figure(
        "bad input",
        "malformed frames, each with its code",
        cases.len(),
    );
    figure(
        "bad input",
        "time",
        format!("{:.1} s", started.elapsed().as_secs_f64()),
    );
    assert!(cases.len() >= 60, "at least 60 cases, got {}", cases.len());
    let after: Vec<i64> = tables.iter().map(|t| count(&d.db_path(), t)).collect();
    assert_eq!(before, after, "nothing written ({tables:?})");
    assert_eq!(
        d.client()
            .call_raw("accounts.balances", &json!({}))
            .expect("balances"),
        balances_before
    );
    let o = d
        .client()
        .call_raw(
            "orders.place",
            &json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
        )
        .expect("a normal order");
    assert_eq!(o["status"], "filled");
}

#[test]
fn request_ids_come_back_exactly_as_sent() {
    let d = Daemon::start();
    let mut raw = Raw::connect(&d.socket());
    for id in [
        "9007199254740993",
        "18446744073709551616123",
        "-7",
        "\"a\\u00e9\"",
        "null",
        "1.5e3",
    ] {
        raw.send(format!(r#"{{"jsonrpc":"2.0","method":"system.health","id":{id}}}"#).as_bytes());
        raw.send(b"\n");
        // Read the raw line: the id must be the same bytes.
        let mut line = String::new();
        let r = raw.recv_line(&mut line);
        assert!(r, "answered");
        assert!(line.contains(&format!(r#""id":{id}"#)), "{id}: {line}");
    }
}

#[test]
fn a_100_mb_line_is_refused_and_the_connection_goes_on() {
    let d = Daemon::start();
    let mut raw = Raw::connect(&d.socket());
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..100 {
        assert!(raw.send(&chunk), "the daemon reads and discards");
    }
    assert!(raw.send(b"\n"));
    let r = raw.recv().expect("an answer");
    assert_eq!(r["error"]["code"].as_i64(), Some(LIMIT), "{r}");
    let ok = raw
        .call(r#"{"jsonrpc":"2.0","method":"system.health","id":1}"#)
        .expect("answers after");
    assert_eq!(ok["result"]["status"], "ok", "{ok}");
    let rss = d.pid().and_then(tradedesk_tests::rss_kib).unwrap_or(0);
    figure(
        "bad input",
        "daemon RSS after a 100 MB line",
        format!("{} MiB", rss / 1024),
    );
    assert!(rss < 200 * 1024, "memory stays bounded: {rss} KiB");
}

#[test]
fn slowloris_is_closed_and_others_are_served() {
    let d = Daemon::start_with("[rpc]\nframe_timeout_ms = 300\nfirst_frame_ms = 500\n");
    // One byte at a time, never finishing a frame.
    let mut slow = Raw::connect(&d.socket());
    let start = Instant::now();
    let mut closed = None;
    for b in br#"{"jsonrpc":"2.0","method":"system.health","id":1}"#
        .iter()
        .cycle()
        .take(200)
    {
        if !slow.send(&[*b]) {
            closed = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = slow.recv();
    if let Some(r) = &r {
        assert_eq!(r["error"]["code"], -32013, "{r}");
    }
    // A silent connection is closed too.
    let mut silent = Raw::connect(&d.socket());
    let r = silent.recv().expect("told why");
    assert_eq!(r["error"]["code"], -32013, "{r}");
    assert!(silent.recv().is_none(), "then closed");
    let mut other = Raw::connect(&d.socket());
    let ok = other
        .call(r#"{"jsonrpc":"2.0","method":"system.health","id":1}"#)
        .expect("served");
    assert_eq!(ok["result"]["status"], "ok");
    figure(
        "bad input",
        "slowloris closed after",
        format!("{:?}", closed.unwrap_or_else(|| start.elapsed())),
    );
}
