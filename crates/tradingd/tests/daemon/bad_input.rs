//! Every bad input gets a clear JSON-RPC error and leaves the daemon
//! running.

use std::io::Read;
use std::time::Duration;

use super::support::{TestDaemon, code, message};

#[test]
fn unparseable_json_is_a_parse_error_and_the_connection_survives() {
    let d = TestDaemon::start();
    let mut raw = d.raw();
    let r = raw.call("{not json");
    assert_eq!(code(&r), -32700, "{r}");
    assert!(r["id"].is_null());
    assert!(message(&r).contains("invalid JSON"), "{r}");
    raw.assert_alive();
}

#[test]
fn invalid_utf8_is_a_parse_error() {
    let d = TestDaemon::start();
    let mut raw = d.raw();
    raw.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"system.health\",\"id\":\"\xff\xfe\"}\n");
    let r = raw.recv();
    assert_eq!(code(&r), -32700, "{r}");
    assert!(message(&r).contains("UTF-8"), "{r}");
    raw.assert_alive();
}

#[test]
fn json_that_is_not_a_request_is_invalid_request() {
    let d = TestDaemon::start();
    let mut raw = d.raw();
    for (frame, word) in [
        (r#"{"foo":1}"#, "jsonrpc"),
        (r#"{"jsonrpc":"2.0","id":4}"#, "method"),
        (r"42", "object"),
        (r"[]", "empty batch"),
        (
            r#"{"jsonrpc":"2.0","method":"system.health","id":{"x":1}}"#,
            "id",
        ),
    ] {
        let r = raw.call(frame);
        assert_eq!(code(&r), -32600, "{frame}: {r}");
        assert!(message(&r).contains(word), "{frame}: {r}");
    }
    let r = raw.call(r#"{"jsonrpc":"2.0","id":4}"#);
    assert_eq!(r["id"], 4, "the id is echoed when readable: {r}");
    raw.assert_alive();
}

#[test]
fn unknown_method_is_named() {
    let d = TestDaemon::start();
    let mut raw = d.raw();
    let r = raw.call(r#"{"jsonrpc":"2.0","method":"orders.teleport","id":1}"#);
    assert_eq!(code(&r), -32601, "{r}");
    assert!(message(&r).contains("`orders.teleport`"), "{r}");
    assert_eq!(r["id"], 1);
}

#[test]
fn wrong_params_name_the_field() {
    let d = TestDaemon::start();
    let mut raw = d.raw();
    let cases = [
        (
            r#"{"jsonrpc":"2.0","method":"streams.subscribe","params":{"topics":"x"},"id":1}"#,
            "`topics`",
        ),
        (
            r#"{"jsonrpc":"2.0","method":"streams.subscribe","params":{"topics":[1]},"id":1}"#,
            "`topics[0]`",
        ),
        (
            r#"{"jsonrpc":"2.0","method":"streams.subscribe","params":{"topicz":[]},"id":1}"#,
            "topicz",
        ),
        (
            r#"{"jsonrpc":"2.0","method":"streams.subscribe","params":{},"id":1}"#,
            "topics",
        ),
        (
            r#"{"jsonrpc":"2.0","method":"streams.subscribe","params":{"topics":["nope"]},"id":1}"#,
            "`topics[0]`",
        ),
        (
            r#"{"jsonrpc":"2.0","method":"system.health","params":{"verbose":true},"id":1}"#,
            "verbose",
        ),
        (
            r#"{"jsonrpc":"2.0","method":"system.health","params":[1],"id":1}"#,
            "object",
        ),
    ];
    for (frame, field) in cases {
        let r = raw.call(frame);
        assert_eq!(code(&r), -32602, "{frame}: {r}");
        assert!(message(&r).contains(field), "{frame}: {r}");
    }
    // A rejected subscribe subscribed nothing.
    let r = raw.call(r#"{"jsonrpc":"2.0","method":"streams.unsubscribe","params":{"topics":["system.heartbeat"]},"id":2}"#);
    assert_eq!(r["result"]["topics"], serde_json::json!([]), "{r}");
    raw.assert_alive();
}

#[test]
fn oversized_frame_is_refused_and_the_next_frame_works() {
    let d = TestDaemon::start_with(|c| c.rpc.max_frame_bytes = 1024);
    let mut raw = d.raw();
    // Exactly at the limit is fine (padding inside the params object).
    let base = r#"{"jsonrpc":"2.0","method":"system.health","id":1}"#;
    let pad = 1024 - base.len();
    let at_limit = format!(
        "{}{}",
        &base[..base.len() - 1],
        format_args!("{}}}", " ".repeat(pad))
    );
    assert_eq!(at_limit.len(), 1024);
    let r = raw.call(&at_limit);
    assert_eq!(r["result"]["status"], "ok", "{r}");
    // One byte over, arriving in one piece.
    let over = format!(
        "{}{}",
        &base[..base.len() - 1],
        format_args!("{}}}", " ".repeat(pad + 1))
    );
    let r = raw.call(&over);
    assert_eq!(code(&r), -32012, "{r}");
    assert!(
        message(&r).contains("rpc.max_frame_bytes (1024 bytes)"),
        "{r}"
    );
    // Far over, arriving in pieces: one error, the rest discarded.
    let junk = vec![b'x'; 100_000];
    raw.send(&junk);
    raw.send(&junk);
    raw.send(b"\n");
    let r = raw.recv();
    assert_eq!(code(&r), -32012, "{r}");
    raw.assert_alive();
}

#[test]
fn oversized_batch_is_refused() {
    let d = TestDaemon::start_with(|c| c.rpc.max_batch = 3);
    let mut raw = d.raw();
    let one = r#"{"jsonrpc":"2.0","method":"system.health","id":1}"#;
    let r = raw.call(&format!("[{one},{one},{one}]"));
    assert_eq!(r.as_array().map(Vec::len), Some(3), "{r}");
    let r = raw.call(&format!("[{one},{one},{one},{one}]"));
    assert_eq!(code(&r), -32012, "{r}");
    assert!(message(&r).contains("rpc.max_batch (3)"), "{r}");
    raw.assert_alive();
}

#[test]
fn batches_answer_requests_but_not_notifications() {
    let d = TestDaemon::start();
    let mut raw = d.raw();
    let r = raw.call(
        r#"[{"jsonrpc":"2.0","method":"system.version","id":"a"},{"jsonrpc":"2.0","method":"system.health"},{"bad":1},{"jsonrpc":"2.0","method":"x.y","id":"c"}]"#,
    );
    let items = r.as_array().expect("array");
    assert_eq!(items.len(), 3, "{r}");
    assert_eq!(items[0]["id"], "a");
    assert_eq!(items[0]["result"]["api_version"], 1);
    assert_eq!(code(&items[1]), -32600);
    assert_eq!(code(&items[2]), -32601);
    // A lone notification gets no answer: the next frame read answers the
    // request sent after it.
    raw.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"system.health\"}\n");
    raw.send(b"[{\"jsonrpc\":\"2.0\",\"method\":\"system.health\"}]\n");
    raw.assert_alive();
}

#[test]
fn too_many_connections_get_an_error_and_are_closed() {
    let d = TestDaemon::start_with(|c| c.rpc.max_connections = 2);
    let mut first = d.raw();
    let mut second = d.raw();
    first.assert_alive();
    second.assert_alive();
    let mut third = d.raw();
    let r = third.recv();
    assert_eq!(code(&r), -32014, "{r}");
    assert!(message(&r).contains("rpc.max_connections = 2"), "{r}");
    assert!(third.try_recv().is_none(), "refused connection is closed");
    // A slot frees when a client leaves.
    drop(first);
    let mut retry = None;
    for _ in 0..100 {
        let mut again = d.raw();
        again.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"system.health\",\"id\":1}\n");
        if again.recv().get("result").is_some() {
            retry = Some(again);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(retry.is_some(), "a freed slot is reusable");
    second.assert_alive();
}

#[test]
fn half_a_line_times_out() {
    let d = TestDaemon::start_with(|c| c.rpc.frame_timeout = Duration::from_millis(200));
    let mut raw = d.raw();
    raw.send(br#"{"jsonrpc":"2.0","method":"sys"#);
    let r = raw.recv();
    assert_eq!(code(&r), -32013, "{r}");
    assert!(message(&r).contains("rpc.frame_timeout_ms (200 ms)"), "{r}");
    assert!(
        raw.try_recv().is_none(),
        "connection closed after the timeout"
    );
    // An idle connection with no partial frame is not timed out.
    let mut idle = d.raw();
    std::thread::sleep(Duration::from_millis(400));
    idle.assert_alive();
    d.raw().assert_alive();
}

#[test]
fn a_trickle_of_bytes_cannot_hold_a_frame_open() {
    let d = TestDaemon::start_with(|c| c.rpc.frame_timeout = Duration::from_millis(300));
    let mut raw = d.raw();
    // One byte every 20 ms: each read is quick, the frame as a whole is not.
    for b in br#"{"jsonrpc":"2.0","method":"system.health","id":1}"# {
        // Writes fail once the daemon has closed the connection.
        let _ = std::io::Write::write_all(&mut raw.writer, &[*b]);
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = raw.recv();
    assert_eq!(code(&r), -32013, "{r}");
}

#[test]
fn a_final_frame_without_newline_is_answered_at_eof() {
    let d = TestDaemon::start();
    let mut raw = d.raw();
    raw.send(br#"{"jsonrpc":"2.0","method":"system.health","id":9}"#);
    raw.writer
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let r = raw.recv();
    assert_eq!(r["id"], 9, "{r}");
    let mut rest = String::new();
    let _ = raw.writer.read_to_string(&mut rest);
    d.raw().assert_alive();
}
