//! What a session reads: the snapshot on connecting, the lists, the
//! figures after fills, the periodic refresh, a watched symbol's candles
//! and tape.

use super::{TOPICS, Tx, ask, ask_all, data, put};
use crate::app::Msg;
use crate::state::Data;
use tradedesk_core::api::Empty;
use tradedesk_core::api::accounts::AccountParam;
use tradedesk_core::api::accounts::{AccountsBalances, AccountsList};
use tradedesk_core::api::backtests::BacktestFilter;
use tradedesk_core::api::backtests::BacktestsList;
use tradedesk_core::api::bots::BotFilter;
use tradedesk_core::api::bots::BotsList;
use tradedesk_core::api::cache::CacheStats;
use tradedesk_core::api::data::DataFilter;
use tradedesk_core::api::data::DataList;
use tradedesk_core::api::jobs::JobFilter;
use tradedesk_core::api::jobs::{JobsKinds, JobsList, JobsWorkers};
use tradedesk_core::api::market::{KlinesParams, TapeParams};
use tradedesk_core::api::market::{MarketKlines, MarketSymbols, MarketTickers, MarketTrades};
use tradedesk_core::api::orders::OrderFilter;
use tradedesk_core::api::orders::OrdersList;
use tradedesk_core::api::paging::MAX_LIMIT;
use tradedesk_core::api::positions::PositionsList;
use tradedesk_core::api::risk::{AlertFilter, ScopeParam, ViolationFilter};
use tradedesk_core::api::risk::{RiskAlerts, RiskStatus, RiskViolations};
use tradedesk_core::api::schedules::SchedulePage;
use tradedesk_core::api::schedules::SchedulesList;
use tradedesk_core::api::strategies::StrategiesCatalog;
use tradedesk_core::api::system::SystemInfo;
use tradedesk_core::api::trades::StatsParams;
use tradedesk_core::api::trades::TradesStats;
use tradedesk_core::client::AsyncClient;
use tradedesk_core::instrument::Symbol;
use tradedesk_core::market::Interval;

/// The snapshot a fresh session starts from.
pub(super) async fn connected(
    c: &AsyncClient,
    tx: &Tx,
    follow: &super::Follow,
) -> Result<(), String> {
    let info = c
        .call::<SystemInfo>(&Empty {})
        .await
        .map_err(|e| e.to_string())?;
    put(tx, Msg::Connected(Box::new(info))).await?;
    c.subscribe(&TOPICS).await.map_err(|e| e.to_string())?;
    let accounts = ask_all::<AccountsList, _>(c).await?;
    // The account followed, while it is still there; else the first.
    let shown = accounts
        .iter()
        .find(|a| follow.account.as_deref() == Some(a.name.as_str()))
        .or_else(|| accounts.first());
    if let Some(a) = shown {
        data(tx, Data::Account(a.name.clone(), a.mode)).await?;
    }
    let account = shown.map(|a| a.name.clone());
    data(tx, Data::Accounts(accounts)).await?;
    data(tx, Data::Symbols(ask_all::<MarketSymbols, _>(c).await?)).await?;
    data(tx, Data::Tickers(ask_all::<MarketTickers, _>(c).await?)).await?;
    load_lists(c, tx).await?;
    after_fills(c, tx, account.as_deref()).await?;
    periodic(c, tx).await?;
    if let Some((s, i)) = &follow.watch {
        load_watch(c, tx, s, *i).await?;
    }
    Ok(())
}

/// The lists a session shows: orders, bots, strategies, alerts, jobs,
/// backtests, datasets and job kinds.
pub(super) async fn load_lists(c: &AsyncClient, tx: &Tx) -> Result<(), String> {
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
    let kinds = ask_all::<JobsKinds, _>(c).await?;
    data(tx, Data::Kinds(kinds)).await
}

/// Re-read after fills: balances, positions, today's realized figures.
pub(super) async fn after_fills(
    c: &AsyncClient,
    tx: &Tx,
    account: Option<&str>,
) -> Result<(), String> {
    let param = AccountParam {
        account: account.map(str::to_owned),
    };
    data(
        tx,
        Data::Balances(ask::<AccountsBalances>(c, &param).await?),
    )
    .await?;
    data(tx, Data::Positions(ask_all::<PositionsList, _>(c).await?)).await?;
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

pub(super) async fn periodic(c: &AsyncClient, tx: &Tx) -> Result<(), String> {
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
    data(tx, Data::Workers(ask_all::<JobsWorkers, _>(c).await?)).await?;
    data(tx, Data::Cache(ask::<CacheStats>(c, &Empty {}).await?)).await
}

pub(super) async fn load_watch(
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

pub(super) async fn load_tape(c: &AsyncClient, tx: &Tx, symbol: &str) -> Result<(), String> {
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
