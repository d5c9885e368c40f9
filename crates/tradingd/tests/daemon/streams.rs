//! Stream subscriptions over the socket, with the blocking and the async
//! client.

use std::time::Duration;

use tradedesk_core::api::Empty;
use tradedesk_core::api::system::{Heartbeat, SystemHealth, SystemInfo};
use tradedesk_core::client::{AsyncClient, StreamMessage};

use super::support::TestDaemon;

#[test]
fn heartbeats_arrive_in_order_until_unsubscribed() {
    let d = TestDaemon::start_with(|c| c.streams.heartbeat = Duration::from_millis(20));
    let mut client = d.client();
    let subscribed = client.subscribe(&["system.heartbeat"]).expect("subscribe");
    assert_eq!(subscribed.topics, ["system.heartbeat"]);
    let mut last = 0;
    for _ in 0..5 {
        let msg = client.next_event().expect("event");
        let beat = msg
            .decode::<Heartbeat>()
            .expect("a heartbeat")
            .expect("decodes");
        assert!(beat.seq > last, "seq increases: {} after {last}", beat.seq);
        last = beat.seq;
    }
    // Calls still work while events flow; events read meanwhile are kept.
    client.call::<SystemHealth>(&Empty {}).expect("health");
    let after = client
        .call_raw(
            "streams.unsubscribe",
            &serde_json::json!({"topics": ["system.heartbeat"]}),
        )
        .expect("unsubscribe");
    assert_eq!(after["topics"], serde_json::json!([]));
    // Drain what was already in flight, then nothing more comes.
    client
        .set_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut drained = 0;
    while client.next_event().is_ok() {
        drained += 1;
        assert!(drained < 50, "events keep coming after unsubscribe");
    }
}

#[test]
fn async_client_runs_concurrent_calls_and_streams() {
    let d = TestDaemon::start_with(|c| c.streams.heartbeat = Duration::from_millis(20));
    let socket = d.socket.clone();
    d.runtime().block_on(async move {
        let (client, mut events) = AsyncClient::connect(&socket).await.expect("connect");
        let client = std::sync::Arc::new(client);
        let mut calls = Vec::new();
        for _ in 0..50 {
            let c = std::sync::Arc::clone(&client);
            calls.push(tokio::spawn(async move {
                c.call::<SystemInfo>(&Empty {}).await
            }));
        }
        for call in calls {
            let info = call.await.expect("join").expect("call");
            assert_eq!(info.pid, std::process::id());
        }
        client
            .subscribe(&["system.heartbeat"])
            .await
            .expect("subscribe");
        let msg = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("in time")
            .expect("event");
        assert!(
            matches!(msg, StreamMessage::Event { ref topic, .. } if topic == "system.heartbeat"),
            "{msg:?}"
        );
        let err = client
            .call_raw("no.such", &serde_json::json!({}))
            .await
            .expect_err("unknown method");
        assert!(err.to_string().contains("no.such"), "{err}");
    });
}
