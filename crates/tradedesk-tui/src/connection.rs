//! The link to the daemon: connects, subscribes, forwards what arrives as
//! messages, and reconnects by itself after the daemon goes away.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tradedesk_core::api::Empty;
use tradedesk_core::api::system::{Heartbeat, SystemInfo};
use tradedesk_core::client::AsyncClient;

use crate::app::Msg;

const RETRY: Duration = Duration::from_secs(1);
const INFO_REFRESH: Duration = Duration::from_secs(10);

pub async fn run(socket: PathBuf, tx: mpsc::Sender<Msg>) {
    loop {
        let reason = session(&socket, &tx).await;
        if tx.send(Msg::Disconnected(reason)).await.is_err() {
            return;
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// One connected session; returns why it ended.
async fn session(socket: &std::path::Path, tx: &mpsc::Sender<Msg>) -> String {
    let (client, mut events) = match AsyncClient::connect(socket).await {
        Ok(c) => c,
        Err(e) => return e.to_string(),
    };
    let info = match client.call::<SystemInfo>(&Empty {}).await {
        Ok(i) => i,
        Err(e) => return e.to_string(),
    };
    if tx.send(Msg::Connected(Box::new(info))).await.is_err() {
        return "dashboard closed".into();
    }
    if let Err(e) = client.subscribe(&["system.heartbeat"]).await {
        return e.to_string();
    }
    let mut refresh = tokio::time::interval(INFO_REFRESH);
    refresh.tick().await;
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return "the daemon closed the connection".into() };
                let msg = match event.decode::<Heartbeat>() {
                    Some(Ok(beat)) => Msg::Heartbeat(beat),
                    Some(Err(e)) => Msg::Notice(format!("bad event: {e}")),
                    None => continue,
                };
                if tx.send(msg).await.is_err() {
                    return "dashboard closed".into();
                }
            }
            _ = refresh.tick() => match client.call::<SystemInfo>(&Empty {}).await {
                Ok(info) => {
                    if tx.send(Msg::Info(Box::new(info))).await.is_err() {
                        return "dashboard closed".into();
                    }
                }
                Err(e) => return e.to_string(),
            },
        }
    }
}
