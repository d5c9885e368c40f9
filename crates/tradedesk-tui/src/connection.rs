//! The link to the daemon: connects, loads a snapshot, subscribes to every
//! stream, forwards what arrives as messages, carries out the dashboard's
//! requests, and reconnects by itself after the daemon goes away.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;
use tradedesk_core::api::accounts::AccountParam;
use tradedesk_core::api::accounts::{AccountsBalances, AccountsList};
use tradedesk_core::api::backtests::BacktestsCreate;
use tradedesk_core::api::backtests::{
    BacktestFilter, BacktestId, CompareParams, EquityQuery, TradesQuery,
};
use tradedesk_core::api::backtests::{
    BacktestsCancel, BacktestsCompare, BacktestsEquity, BacktestsGet, BacktestsList,
    BacktestsResults, BacktestsTrades,
};
use tradedesk_core::api::bots::BotsCreate;
use tradedesk_core::api::bots::BotsEquity;
use tradedesk_core::api::bots::{BotEquityQuery, BotEventsParams, BotFilter, BotId, BotStop};
use tradedesk_core::api::bots::{
    BotEventsTopic, BotFiguresTopic, BotStatusTopic, BotsEvents, BotsList, BotsPause, BotsResume,
    BotsStart, BotsStop,
};
use tradedesk_core::api::cache::FlushParams;
use tradedesk_core::api::cache::{CacheFlush, CacheStats};
use tradedesk_core::api::data::DataFilter;
use tradedesk_core::api::data::DataList;
use tradedesk_core::api::jobs::{
    JobEvents, JobsCancel, JobsKinds, JobsList, JobsRetry, JobsWorkers,
};
use tradedesk_core::api::jobs::{JobFilter, JobId, JobsEnqueue};
use tradedesk_core::api::market::{KlinesParams, TapeParams};
use tradedesk_core::api::market::{
    KlinesTopic, MarketKlines, MarketSymbols, MarketTickers, MarketTrades, OrderbookTopic,
    TickersTopic,
};
use tradedesk_core::api::orders::{CancelAll, OrderFilter, OrderRef};
use tradedesk_core::api::orders::{
    OrderUpdates, OrdersCancel, OrdersCancelAll, OrdersList, OrdersPlace,
};
use tradedesk_core::api::paging::{MAX_LIMIT, PageParams};
use tradedesk_core::api::positions::{PositionUpdates, PositionsList};
use tradedesk_core::api::risk::{AlertFilter, AlertId, HaltParams, ScopeParam, ViolationFilter};
use tradedesk_core::api::risk::{
    RiskAlerts, RiskAlertsAck, RiskAlertsTopic, RiskCheck, RiskHalt, RiskResume, RiskStatus,
    RiskViolations,
};
use tradedesk_core::api::schedules::{ScheduleId, SchedulePage};
use tradedesk_core::api::schedules::{SchedulesList, SchedulesRunNow};
use tradedesk_core::api::strategies::StrategiesCatalog;
use tradedesk_core::api::system::{Heartbeat, SystemInfo};
use tradedesk_core::api::trades::{StatsParams, TradeFilter};
use tradedesk_core::api::trades::{TradeExecutions, TradesList, TradesStats};
use tradedesk_core::api::{Empty, Method, Topic};
use tradedesk_core::client::{AsyncClient, StreamMessage};
use tradedesk_core::instrument::Symbol;
use tradedesk_core::market::Interval;

use crate::app::{BotAction, Msg, Request};
use crate::state::{BacktestDetail, Data};

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

pub async fn run(socket: PathBuf, tx: Tx, mut requests: mpsc::Receiver<Request>) {
    let mut watch = None;
    loop {
        let reason = session(&socket, &tx, &mut requests, &mut watch).await;
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
                    Some(Request::Watch { symbol, interval }) => watch = Some((symbol, interval)),
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

/// Sends, or says the dashboard is gone.
async fn put(tx: &Tx, m: Msg) -> Result<(), String> {
    tx.send(m).await.map_err(|_| "dashboard closed".to_owned())
}

async fn data(tx: &Tx, d: Data) -> Result<(), String> {
    put(tx, Msg::Data(d)).await
}

/// One connected session; returns why it ended.
async fn session(
    socket: &Path,
    tx: &Tx,
    requests: &mut mpsc::Receiver<Request>,
    watch: &mut Option<(String, Interval)>,
) -> String {
    let (client, mut events) = match AsyncClient::connect(socket).await {
        Ok(c) => c,
        Err(e) => return e.to_string(),
    };
    match connected(&client, tx, watch.as_ref()).await {
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
                Some(r) => on_request(&client, tx, r, watch).await,
            },
            _ = refresh.tick() => periodic(&client, tx).await,
            _ = tape.tick() => {
                let mut out = Ok(());
                if std::mem::take(&mut fills_seen) {
                    out = after_fills(&client, tx).await;
                }
                match (out, watch.as_ref()) {
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

/// The snapshot a fresh session starts from.
async fn connected(
    c: &AsyncClient,
    tx: &Tx,
    watch: Option<&(String, Interval)>,
) -> Result<(), String> {
    let info = c
        .call::<SystemInfo>(&Empty {})
        .await
        .map_err(|e| e.to_string())?;
    put(tx, Msg::Connected(Box::new(info))).await?;
    c.subscribe(&TOPICS).await.map_err(|e| e.to_string())?;
    let accounts = ask::<AccountsList>(c, &PageParams::largest()).await?;
    if let Some(a) = accounts.items.first() {
        data(tx, Data::Account(a.name.clone())).await?;
    }
    data(
        tx,
        Data::Symbols(ask::<MarketSymbols>(c, &PageParams::largest()).await?.items),
    )
    .await?;
    data(
        tx,
        Data::Tickers(ask::<MarketTickers>(c, &PageParams::largest()).await?.items),
    )
    .await?;
    load_lists(c, tx).await?;
    after_fills(c, tx).await?;
    periodic(c, tx).await?;
    if let Some((s, i)) = watch {
        load_watch(c, tx, s, *i).await?;
    }
    Ok(())
}

/// The lists a session shows: orders, bots, strategies, alerts, jobs,
/// backtests, datasets and job kinds.
async fn load_lists(c: &AsyncClient, tx: &Tx) -> Result<(), String> {
    let (open, done) = (
        OrderFilter {
            open: Some(true),
            limit: Some(1000),
            ..OrderFilter::default()
        },
        OrderFilter {
            open: Some(false),
            limit: Some(500),
            ..OrderFilter::default()
        },
    );
    let orders = ask::<OrdersList>(c, &open).await?.items;
    data(tx, Data::Orders(orders)).await?;
    let orders = ask::<OrdersList>(c, &done).await?.items;
    data(tx, Data::Orders(orders)).await?;
    let bots = BotFilter {
        limit: Some(1000),
        ..BotFilter::default()
    };
    data(tx, Data::Bots(ask::<BotsList>(c, &bots).await?.items)).await?;
    let catalog = ask::<StrategiesCatalog>(c, &Empty {}).await?;
    data(tx, Data::Strategies(catalog.strategies)).await?;
    let alerts = AlertFilter {
        limit: Some(200),
        ..AlertFilter::default()
    };
    data(tx, Data::Alerts(ask::<RiskAlerts>(c, &alerts).await?.items)).await?;
    let jobs = JobFilter {
        limit: Some(300),
        ..JobFilter::default()
    };
    data(tx, Data::Jobs(ask::<JobsList>(c, &jobs).await?.items)).await?;
    let backtests = BacktestFilter {
        limit: Some(500),
        ..BacktestFilter::default()
    };
    let backtests = ask::<BacktestsList>(c, &backtests).await?.items;
    data(tx, Data::Backtests(backtests)).await?;
    let datasets = DataFilter {
        limit: Some(MAX_LIMIT),
        ..DataFilter::default()
    };
    data(
        tx,
        Data::Datasets(ask::<DataList>(c, &datasets).await?.items),
    )
    .await?;
    let kinds = ask::<JobsKinds>(c, &PageParams::largest()).await?.items;
    data(tx, Data::Kinds(kinds)).await
}

/// Re-read after fills: balances, positions, today's realized figures.
async fn after_fills(c: &AsyncClient, tx: &Tx) -> Result<(), String> {
    data(
        tx,
        Data::Balances(
            ask::<AccountsBalances>(c, &AccountParam::default())
                .await?
                .balances,
        ),
    )
    .await?;
    data(
        tx,
        Data::Positions(ask::<PositionsList>(c, &PageParams::largest()).await?.items),
    )
    .await?;
    let midnight = chrono::Local::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(chrono::Local).earliest())
        .map_or(0, |t| t.timestamp_millis());
    data(
        tx,
        Data::Today(
            ask::<TradesStats>(
                c,
                &StatsParams {
                    start: Some(tradedesk_core::time::Timestamp(midnight)),
                    ..StatsParams::default()
                },
            )
            .await?,
        ),
    )
    .await
}

async fn periodic(c: &AsyncClient, tx: &Tx) -> Result<(), String> {
    let info = c
        .call::<SystemInfo>(&Empty {})
        .await
        .map_err(|e| e.to_string())?;
    put(tx, Msg::Info(Box::new(info))).await?;
    data(
        tx,
        Data::Risk(ask::<RiskStatus>(c, &ScopeParam::default()).await?),
    )
    .await?;
    data(
        tx,
        Data::Violations(
            ask::<RiskViolations>(
                c,
                &ViolationFilter {
                    limit: Some(200),
                    ..ViolationFilter::default()
                },
            )
            .await?
            .items,
        ),
    )
    .await?;
    data(
        tx,
        Data::Schedules(
            ask::<SchedulesList>(
                c,
                &SchedulePage {
                    limit: Some(200),
                    cursor: None,
                },
            )
            .await?
            .items,
        ),
    )
    .await?;
    data(
        tx,
        Data::Workers(ask::<JobsWorkers>(c, &PageParams::largest()).await?.items),
    )
    .await?;
    data(tx, Data::Cache(ask::<CacheStats>(c, &Empty {}).await?)).await
}

async fn load_watch(
    c: &AsyncClient,
    tx: &Tx,
    symbol: &str,
    interval: Interval,
) -> Result<(), String> {
    let symbol_id: Symbol = symbol.parse().map_err(|e| format!("symbol: {e}"))?;
    let k = ask::<MarketKlines>(
        c,
        &KlinesParams {
            symbol: symbol_id,
            interval: Some(interval),
            start: None,
            end: None,
            limit: Some(1000),
        },
    )
    .await?;
    data(
        tx,
        Data::Klines {
            symbol: symbol.to_owned(),
            interval,
            bars: k.bars,
        },
    )
    .await?;
    load_tape(c, tx, symbol).await
}

async fn load_tape(c: &AsyncClient, tx: &Tx, symbol: &str) -> Result<(), String> {
    let symbol_id: Symbol = symbol.parse().map_err(|e| format!("symbol: {e}"))?;
    let t = ask::<MarketTrades>(
        c,
        &TapeParams {
            symbol: symbol_id,
            limit: Some(50),
        },
    )
    .await?;
    data(
        tx,
        Data::Tape {
            symbol: symbol.to_owned(),
            trades: t.trades,
        },
    )
    .await
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

/// Carries out one request. A refusal by the daemon is reported to the
/// dashboard; only a broken link ends the session.
async fn on_request(
    c: &AsyncClient,
    tx: &Tx,
    r: Request,
    watch: &mut Option<(String, Interval)>,
) -> Result<(), String> {
    let action = r.is_action();
    let request = r.clone();
    match carry_out(c, tx, r, watch).await {
        Ok(done) if action => put(tx, Msg::Done(done)).await,
        Ok(_) => Ok(()),
        Err(e) => {
            put(
                tx,
                Msg::Failed {
                    request,
                    message: e.message,
                    field: e.field,
                },
            )
            .await
        }
    }
}

#[allow(clippy::too_many_lines)] // one arm per request
async fn carry_out(
    c: &AsyncClient,
    tx: &Tx,
    r: Request,
    watch: &mut Option<(String, Interval)>,
) -> Result<String, Refusal> {
    Ok(match r {
        Request::Watch { symbol, interval } => {
            load_watch(c, tx, &symbol, interval).await?;
            *watch = Some((symbol, interval));
            String::new()
        }
        Request::Check(order) => {
            let res = c
                .call::<RiskCheck>(&tradedesk_core::api::risk::CheckParams {
                    order: *order,
                    bot_id: None,
                })
                .await?;
            data(tx, Data::Check(res)).await?;
            String::new()
        }
        Request::Place(order) => {
            let o = c.call::<OrdersPlace>(&order).await?;
            let msg = format!(
                "order #{} {}: {}",
                o.id,
                crate::app::describe(&o),
                o.status.as_str()
            );
            data(tx, Data::Order(Box::new(o))).await?;
            msg
        }
        Request::Cancel(id) => {
            let o = ask::<OrdersCancel>(
                c,
                &OrderRef {
                    id: Some(id),
                    client_order_id: None,
                },
            )
            .await?;
            data(tx, Data::Order(Box::new(o))).await?;
            format!("order #{id} cancelled")
        }
        Request::CancelAll => {
            let done = ask::<OrdersCancelAll>(c, &CancelAll::default()).await?;
            format!("{} order(s) cancelled", done.cancelled.len())
        }
        Request::Bot { id, action } => {
            let b = match action {
                BotAction::Start => ask::<BotsStart>(c, &BotId { id }).await?,
                BotAction::Pause => ask::<BotsPause>(c, &BotId { id }).await?,
                BotAction::Resume => ask::<BotsResume>(c, &BotId { id }).await?,
                BotAction::Stop { flatten } => {
                    ask::<BotsStop>(
                        c,
                        &BotStop {
                            id,
                            cancel_orders: true,
                            flatten,
                            reason: None,
                        },
                    )
                    .await?
                }
            };
            let msg = format!("bot #{id} {}: {}", b.bot.name, b.bot.status.as_str());
            data(tx, Data::Bot(Box::new(b))).await?;
            msg
        }
        Request::BotEvents(id) => {
            let page = ask::<BotsEvents>(
                c,
                &BotEventsParams {
                    id,
                    limit: Some(200),
                    cursor: None,
                },
            )
            .await?;
            data(tx, Data::BotEvents(id, page.items)).await?;
            let equity = ask::<BotsEquity>(
                c,
                &BotEquityQuery {
                    id,
                    start: None,
                    end: None,
                    downsample: Some(500),
                },
            )
            .await?;
            let fills = ask::<TradesList>(
                c,
                &TradeFilter {
                    bot_id: Some(id),
                    limit: Some(100),
                    ..TradeFilter::default()
                },
            )
            .await?;
            data(
                tx,
                Data::BotDetail(crate::state::BotDetail {
                    id,
                    equity: equity.points,
                    fills: fills.items,
                }),
            )
            .await?;
            String::new()
        }
        Request::CreateBot(p) => {
            let b = ask::<BotsCreate>(c, &p).await?;
            let msg = format!("bot #{} created", b.bot.id);
            data(tx, Data::Bot(Box::new(b))).await?;
            msg
        }
        Request::CreateBacktest(p) => {
            let b = ask::<BacktestsCreate>(c, &p).await?;
            let msg = format!("backtest #{} queued", b.id);
            data(tx, Data::Backtest(Box::new(b))).await?;
            msg
        }
        Request::Enqueue(p) => {
            let j = ask::<JobsEnqueue>(c, &p).await?;
            let msg = format!("job #{} queued", j.id);
            data(tx, Data::Job(Box::new(j))).await?;
            msg
        }
        Request::JobCancel(id) => {
            let j = ask::<JobsCancel>(c, &JobId { id }).await?;
            let msg = format!("job #{id}: {}", j.state.as_str());
            data(tx, Data::Job(Box::new(j))).await?;
            msg
        }
        Request::JobRetry(id) => {
            let j = ask::<JobsRetry>(c, &JobId { id }).await?;
            let msg = format!("job #{id} queued again");
            data(tx, Data::Job(Box::new(j))).await?;
            msg
        }
        Request::RunNow(id) => {
            let j = ask::<SchedulesRunNow>(c, &ScheduleId { id }).await?;
            let msg = format!("schedule #{id} ran now: job #{}", j.id);
            data(tx, Data::Job(Box::new(j))).await?;
            msg
        }
        Request::OpenBacktest(id) => {
            let metrics = ask::<BacktestsResults>(c, &BacktestId { id }).await?;
            let equity = ask::<BacktestsEquity>(
                c,
                &EquityQuery {
                    id,
                    downsample: Some(2000),
                },
            )
            .await?;
            let trades = ask::<BacktestsTrades>(
                c,
                &TradesQuery {
                    id,
                    limit: Some(1000),
                    cursor: None,
                },
            )
            .await?;
            data(
                tx,
                Data::BacktestDetail(BacktestDetail {
                    id,
                    metrics: Box::new(metrics),
                    equity: equity.points,
                    trades: trades.items,
                }),
            )
            .await?;
            String::new()
        }
        Request::Compare(a, b) => {
            let cmp = ask::<BacktestsCompare>(c, &CompareParams { ids: vec![a, b] }).await?;
            data(tx, Data::Comparison(cmp.backtests)).await?;
            String::new()
        }
        Request::CancelBacktest(id) => {
            let b = ask::<BacktestsCancel>(c, &BacktestId { id }).await?;
            data(tx, Data::Backtest(Box::new(b))).await?;
            format!("backtest #{id} cancelled")
        }
        Request::Ack(id) => {
            let a = ask::<RiskAlertsAck>(c, &AlertId { id }).await?;
            data(tx, Data::Alert(a)).await?;
            format!("alert #{id} acknowledged")
        }
        Request::Halt { flatten } => {
            let s = ask::<RiskHalt>(
                c,
                &HaltParams {
                    scope: None,
                    flatten,
                    reduce_only: false,
                    force: false,
                    reason: Some("kill switch from the dashboard".into()),
                },
            )
            .await?;
            data(
                tx,
                Data::Risk(ask::<RiskStatus>(c, &ScopeParam::default()).await?),
            )
            .await?;
            format!("{}: trading {}", s.scope, s.state.as_str())
        }
        Request::Resume => {
            let s = ask::<RiskResume>(c, &ScopeParam::default()).await?;
            data(
                tx,
                Data::Risk(ask::<RiskStatus>(c, &ScopeParam::default()).await?),
            )
            .await?;
            format!("{}: trading {}", s.scope, s.state.as_str())
        }
        Request::FlushCache => {
            let d = ask::<CacheFlush>(c, &FlushParams::default()).await?;
            data(tx, Data::Cache(ask::<CacheStats>(c, &Empty {}).await?)).await?;
            format!("cache flushed: {} entries", d.deleted)
        }
        Request::Refresh => {
            connected(c, tx, watch.as_ref()).await?;
            String::new()
        }
    })
}
