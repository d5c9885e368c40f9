//! Carrying out the dashboard's requests, each through its method's
//! typed params, and telling the model how each ended.

use super::Follow;
use super::load::{after_fills, connected, load_watch};
use super::{Refusal, Tx, ask, data, put};
use crate::app::{BotAction, Msg, Request};
use crate::state::{BacktestDetail, Data};
use tradedesk_core::api::Empty;
use tradedesk_core::api::backtests::BacktestsCreate;
use tradedesk_core::api::backtests::{BacktestId, CompareParams, EquityQuery, TradesQuery};
use tradedesk_core::api::backtests::{
    BacktestsCancel, BacktestsCompare, BacktestsEquity, BacktestsReport, BacktestsResults,
    BacktestsTrades,
};
use tradedesk_core::api::bots::BotsCreate;
use tradedesk_core::api::bots::BotsEquity;
use tradedesk_core::api::bots::{BotEquityQuery, BotEventsParams, BotId, BotStop};
use tradedesk_core::api::bots::{BotsEvents, BotsPause, BotsResume, BotsStart, BotsStop};
use tradedesk_core::api::cache::FlushParams;
use tradedesk_core::api::cache::{CacheFlush, CacheStats};
use tradedesk_core::api::jobs::{JobId, JobsEnqueue};
use tradedesk_core::api::jobs::{JobsCancel, JobsRetry};
use tradedesk_core::api::orders::{CancelAll, OrderRef};
use tradedesk_core::api::orders::{OrdersCancel, OrdersCancelAll, OrdersPlace};
use tradedesk_core::api::risk::{AlertId, HaltParams, ScopeParam};
use tradedesk_core::api::risk::{RiskAlertsAck, RiskCheck, RiskHalt, RiskResume, RiskStatus};
use tradedesk_core::api::schedules::ScheduleId;
use tradedesk_core::api::schedules::SchedulesRunNow;
use tradedesk_core::api::trades::TradeFilter;
use tradedesk_core::api::trades::TradesList;
use tradedesk_core::client::AsyncClient;

/// Carries out one request. A refusal by the daemon is reported to the
/// dashboard; only a broken link ends the session.
pub(super) async fn on_request(
    c: &AsyncClient,
    tx: &Tx,
    r: Request,
    follow: &mut Follow,
) -> Result<(), String> {
    let action = r.is_action();
    let request = r.clone();
    match carry_out(c, tx, r, follow).await {
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
pub(super) async fn carry_out(
    c: &AsyncClient,
    tx: &Tx,
    r: Request,
    follow: &mut Follow,
) -> Result<String, Refusal> {
    Ok(match r {
        Request::Watch { symbol, interval } => {
            load_watch(c, tx, &symbol, interval).await?;
            follow.watch = Some((symbol, interval));
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
                BotAction::Enter | BotAction::Exit => {
                    let force = tradedesk_core::api::bots::BotForce {
                        id,
                        symbol: None,
                        qty: None,
                    };
                    if action == BotAction::Enter {
                        ask::<tradedesk_core::api::bots::BotsEnter>(c, &force).await?
                    } else {
                        ask::<tradedesk_core::api::bots::BotsExit>(c, &force).await?
                    }
                }
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
            let report = ask::<BacktestsReport>(c, &BacktestId { id }).await?;
            data(
                tx,
                Data::BacktestDetail(BacktestDetail {
                    id,
                    metrics: Box::new(metrics),
                    equity: equity.points,
                    trades: trades.items,
                    report: Some(report),
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
            connected(c, tx, follow).await?;
            String::new()
        }
        Request::Account(a) => {
            follow.account = Some(a);
            after_fills(c, tx, follow.account.as_deref()).await?;
            String::new()
        }
    })
}
