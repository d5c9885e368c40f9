//! The link to the daemon: connects, loads a snapshot, subscribes to every
//! stream, forwards what arrives as messages, carries out the dashboard's
//! requests, and reconnects by itself after the daemon goes away.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tradedesk_core::api::backtests::BacktestId;
use tradedesk_core::api::backtests::BacktestsGet;
use tradedesk_core::api::bots::{BotEventsTopic, BotFiguresTopic, BotStatusTopic};
use tradedesk_core::api::jobs::JobEvents;
use tradedesk_core::api::market::{KlinesTopic, OrderbookTopic, TickersTopic};
use tradedesk_core::api::orders::OrderUpdates;
use tradedesk_core::api::paging::{Page, PageParams};
use tradedesk_core::api::positions::PositionUpdates;
use tradedesk_core::api::risk::RiskAlertsTopic;
use tradedesk_core::api::system::Heartbeat;
use tradedesk_core::api::trades::TradeExecutions;
use tradedesk_core::api::{Method, Topic};
use tradedesk_core::client::{AsyncClient, StreamMessage};
use tradedesk_core::market::Interval;

use crate::app::{Msg, Request};
use crate::state::Data;

mod load;
use load::{after_fills, connected, load_tape, periodic};
mod requests;
use requests::on_request;

const RETRY: Duration = Duration::from_secs(1);
/// Things without a stream (risk usage, workers, schedules) are re-read
/// this often.
const REFRESH: Duration = Duration::from_secs(5);
/// The watched symbol's tape (the market has no public trade stream).
const TAPE: Duration = Duration::from_secs(1);

const TOPICS: [&str; 12] = [
    Heartbeat::NAME,
    TickersTopic::NAME,
    KlinesTopic::NAME,
    OrderbookTopic::NAME,
    OrderUpdates::NAME,
    PositionUpdates::NAME,
    TradeExecutions::NAME,
    BotStatusTopic::NAME,
    BotFiguresTopic::NAME,
    BotEventsTopic::NAME,
    JobEvents::NAME,
    RiskAlertsTopic::NAME,
];

type Tx = mpsc::Sender<Msg>;

/// Where the daemon is: its socket, or its HTTP address.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Socket(PathBuf),
    /// A daemon on another machine, over its WebSocket (the session from
    /// `tradectl login`, or `TRADEDESK_TOKEN`).
    Remote {
        url: String,
        ca: Option<PathBuf>,
    },
}

impl Endpoint {
    /// How the header names it.
    pub fn describe(&self) -> String {
        match self {
            Endpoint::Socket(p) => p.display().to_string(),
            Endpoint::Remote { url, .. } => url.clone(),
        }
    }

    async fn connect(&self) -> Result<(AsyncClient, mpsc::Receiver<StreamMessage>), String> {
        match self {
            Endpoint::Socket(path) => AsyncClient::connect(path).await.map_err(|e| e.to_string()),
            Endpoint::Remote { url, ca } => {
                // A fresh token at every connection: the WebSocket closes
                // when one expires, and the reconnect refreshes it.
                let (u, c) = (url.clone(), ca.clone());
                let token = tokio::task::spawn_blocking(move || {
                    tradedesk_core::client::session::token(&u, c.as_deref())
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
                let target = tradedesk_core::client::remote::Target {
                    url: url.clone(),
                    token,
                    ca: ca.clone(),
                };
                AsyncClient::connect_remote(&target)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// What a session follows, kept across reconnects: the watched symbol
/// and the account the desk shows (`None`: the caller's default).
#[derive(Debug, Default)]
pub(super) struct Follow {
    pub(super) watch: Option<(String, Interval)>,
    pub(super) account: Option<String>,
}

pub async fn run(endpoint: Endpoint, tx: Tx, mut requests: mpsc::Receiver<Request>) {
    let mut follow = Follow::default();
    loop {
        let reason = session(&endpoint, &tx, &mut requests, &mut follow).await;
        if tx.send(Msg::Disconnected(reason)).await.is_err() {
            return;
        }
        // Requests made while away are refused, not queued for later.
        let retry = tokio::time::sleep(RETRY);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                () = &mut retry => break,
                r = requests.recv() => match r {
                    None => return,
                    Some(Request::Watch { symbol, interval }) => {
                        follow.watch = Some((symbol, interval));
                    }
                    Some(Request::Account(a)) => follow.account = Some(a),
                    Some(r) if r.is_action() => {
                        let failed = Msg::Failed {
                            request: r,
                            message: "not connected to the daemon".into(),
                            field: None,
                        };
                        if tx.send(failed).await.is_err() {
                            return;
                        }
                    }
                    Some(_) => {}
                },
            }
        }
    }
}

/// Why a request failed: the daemon's message and the field it names.
#[derive(Debug)]
struct Refusal {
    message: String,
    field: Option<String>,
}

impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Refusal {
            message,
            field: None,
        }
    }
}

impl From<Refusal> for String {
    fn from(r: Refusal) -> Self {
        r.message
    }
}

impl From<tradedesk_core::client::ClientError> for Refusal {
    fn from(e: tradedesk_core::client::ClientError) -> Self {
        match e {
            tradedesk_core::client::ClientError::Api(api) => Refusal {
                field: api.field().map(str::to_owned),
                message: api.message,
            },
            other => other.to_string().into(),
        }
    }
}

/// Calls `M` with its typed params.
async fn ask<M: Method>(c: &AsyncClient, params: &M::Params) -> Result<M::Result, Refusal> {
    Ok(c.call::<M>(params).await?)
}

/// A whole paged list, every page followed.
async fn ask_all<M, T>(c: &AsyncClient) -> Result<Vec<T>, Refusal>
where
    M: Method<Params = PageParams, Result = Page<T>>,
{
    Ok(c.all::<M, T>().await?)
}

/// Sends, or says the dashboard is gone.
async fn put(tx: &Tx, m: Msg) -> Result<(), String> {
    tx.send(m).await.map_err(|_| "dashboard closed".to_owned())
}

async fn data(tx: &Tx, d: Data) -> Result<(), String> {
    put(tx, Msg::Data(d)).await
}

/// One connected session; returns why it ended.
async fn session(
    endpoint: &Endpoint,
    tx: &Tx,
    requests: &mut mpsc::Receiver<Request>,
    follow: &mut Follow,
) -> String {
    let (client, mut events) = match endpoint.connect().await {
        Ok(c) => c,
        Err(e) => return e,
    };
    match connected(&client, tx, follow).await {
        Ok(()) => {}
        Err(e) => return e,
    }
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.tick().await;
    let mut tape = tokio::time::interval(TAPE);
    // Balances and today's figures follow fills, at most once per tick.
    let mut fills_seen = false;
    loop {
        let step = tokio::select! {
            event = events.recv() => match event {
                None => return "the daemon closed the connection".into(),
                Some(ev) => on_event(&client, &ev, tx, &mut fills_seen).await,
            },
            r = requests.recv() => match r {
                None => return "dashboard closed".into(),
                Some(r) => on_request(&client, tx, r, follow).await,
            },
            _ = refresh.tick() => periodic(&client, tx).await,
            _ = tape.tick() => {
                let mut out = Ok(());
                if std::mem::take(&mut fills_seen) {
                    out = after_fills(&client, tx, follow.account.as_deref()).await;
                }
                match (out, follow.watch.as_ref()) {
                    (Ok(()), Some((s, _))) => load_tape(&client, tx, s).await,
                    (r, _) => r,
                }
            }
        };
        if let Err(e) = step {
            return e;
        }
    }
}

async fn on_event(
    c: &AsyncClient,
    ev: &StreamMessage,
    tx: &Tx,
    fills_seen: &mut bool,
) -> Result<(), String> {
    let StreamMessage::Event { topic, .. } = ev else {
        // Lagged: some events were dropped; the periodic refresh and the
        // next events bring the state back.
        return put(
            tx,
            Msg::Notice("the dashboard fell behind the stream; catching up".into()),
        )
        .await;
    };
    fn decoded<T: Topic>(ev: &StreamMessage) -> Result<T::Event, String> {
        match ev.decode::<T>() {
            Some(Ok(e)) => Ok(e),
            Some(Err(e)) => Err(e.to_string()),
            None => Err(format!("not a {} event", T::NAME)),
        }
    }
    let d = match topic.as_str() {
        Heartbeat::NAME => return put(tx, Msg::Heartbeat(decoded::<Heartbeat>(ev)?)).await,
        TickersTopic::NAME => Data::Ticker(decoded::<TickersTopic>(ev)?),
        KlinesTopic::NAME => Data::Kline(decoded::<KlinesTopic>(ev)?),
        OrderbookTopic::NAME => Data::Book(decoded::<OrderbookTopic>(ev)?),
        OrderUpdates::NAME => Data::Order(Box::new(decoded::<OrderUpdates>(ev)?)),
        PositionUpdates::NAME => Data::Position(decoded::<PositionUpdates>(ev)?),
        TradeExecutions::NAME => {
            *fills_seen = true;
            return Ok(());
        }
        BotStatusTopic::NAME => Data::Bot(Box::new(decoded::<BotStatusTopic>(ev)?)),
        BotFiguresTopic::NAME => Data::BotFigures(decoded::<BotFiguresTopic>(ev)?),
        BotEventsTopic::NAME => Data::BotEvent(decoded::<BotEventsTopic>(ev)?),
        JobEvents::NAME => {
            let job = decoded::<JobEvents>(ev)?;
            // A finished backtest's job: its results are read now, so its
            // row shows them (the job event carries only the state).
            let backtest = job
                .kind
                .starts_with("backtest.")
                .then(|| job.payload["backtest"].as_u64())
                .flatten()
                .filter(|_| job.state.is_final());
            data(tx, Data::Job(Box::new(job))).await?;
            let Some(id) = backtest else { return Ok(()) };
            return match ask::<BacktestsGet>(c, &BacktestId { id }).await {
                Ok(b) => data(tx, Data::Backtest(Box::new(b))).await,
                // Deleted meanwhile: nothing to show.
                Err(_) => Ok(()),
            };
        }
        RiskAlertsTopic::NAME => Data::Alert(decoded::<RiskAlertsTopic>(ev)?),
        _ => return Ok(()),
    };
    data(tx, d).await
}
