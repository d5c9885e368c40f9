//! Key handling and message folding, through `App::update` alone.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;
use tradedesk_core::market::Interval;
use tradedesk_core::order::{OrderType, Side};

use super::*;
use crate::ui::tests::{at, loaded, on_margin_account};

fn key(a: &mut App, c: KeyCode) -> Command {
    a.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)))
}

fn typed(a: &mut App, s: &str) {
    for c in s.chars() {
        key(a, KeyCode::Char(c));
    }
}

#[test]
fn screens_switch_by_number_and_tab() {
    let mut a = loaded();
    assert_eq!(a.view.screen, Screen::Desk);
    key(&mut a, KeyCode::Char('3'));
    assert_eq!(a.view.screen, Screen::Orders);
    key(&mut a, KeyCode::Tab);
    assert_eq!(a.view.screen, Screen::Bots);
    key(&mut a, KeyCode::BackTab);
    key(&mut a, KeyCode::BackTab);
    assert_eq!(a.view.screen, Screen::Market);
    key(&mut a, KeyCode::Char('7'));
    key(&mut a, KeyCode::Tab);
    assert_eq!(a.view.screen, Screen::System);
    key(&mut a, KeyCode::Tab);
    assert_eq!(a.view.screen, Screen::Desk, "Tab wraps");
    key(&mut a, KeyCode::Char('8'));
    key(&mut a, KeyCode::Char('F'));
    assert_eq!(
        key(&mut a, KeyCode::Char('y')),
        Command::Send(Request::FlushCache)
    );
}

#[test]
fn help_toggles_and_escape_closes_it() {
    let mut a = loaded();
    assert_eq!(key(&mut a, KeyCode::Char('?')), Command::Redraw);
    assert!(a.view.help);
    key(&mut a, KeyCode::Esc);
    assert!(!a.view.help);
    assert_eq!(
        key(&mut a, KeyCode::Char('x')),
        Command::None,
        "unbound keys do nothing"
    );
}

#[test]
fn quit_asks_first_while_an_action_is_pending() {
    let mut a = loaded();
    assert_eq!(key(&mut a, KeyCode::Char('q')), Command::Quit);
    a.view.in_flight = 1;
    assert_eq!(key(&mut a, KeyCode::Char('q')), Command::Redraw);
    assert!(a.view.confirm.is_some());
    key(&mut a, KeyCode::Char('n'));
    assert!(a.view.confirm.is_none());
    key(&mut a, KeyCode::Char('q'));
    assert_eq!(key(&mut a, KeyCode::Char('y')), Command::Quit);
    let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(a.update(ctrl_c), Command::Quit);
}

#[test]
fn the_ticket_checks_then_places_and_counts_the_pending_action() {
    let mut a = loaded();
    key(&mut a, KeyCode::Char('3'));
    key(&mut a, KeyCode::Char('n'));
    let form = a.view.form.as_ref().expect("ticket open");
    assert_eq!(form.get("symbol"), "BTCUSDT");
    key(&mut a, KeyCode::Tab); // side
    key(&mut a, KeyCode::Right); // sell
    key(&mut a, KeyCode::Tab); // type
    key(&mut a, KeyCode::Right); // limit
    key(&mut a, KeyCode::Tab);
    typed(&mut a, "0.01");
    key(&mut a, KeyCode::Tab);
    typed(&mut a, "70000");
    let Command::Send(Request::Check(order)) = key(&mut a, KeyCode::Enter) else {
        panic!("Enter runs the risk check first");
    };
    assert_eq!(order.side, Side::Sell);
    assert_eq!(order.order_type, OrderType::Limit);
    assert_eq!(order.qty.to_string(), "0.01");
    assert_eq!(order.price.map(|p| p.to_string()).as_deref(), Some("70000"));
    a.update(Msg::Data(Data::Check(
        serde_json::from_value(json!({"approved": true, "rejection": null})).expect("check"),
    )));
    let Command::Send(Request::Place(placed)) = key(&mut a, KeyCode::Enter) else {
        panic!("Enter again places");
    };
    assert_eq!(placed, order);
    // The ticket waits for the answer, then closes.
    assert!(a.view.form.as_ref().is_some_and(|f| f.pending));
    assert_eq!(a.view.in_flight, 1);
    a.update(Msg::Done("order #9 placed".into()));
    assert!(a.view.form.is_none());
    assert_eq!(a.view.in_flight, 0);
    assert_eq!(a.view.notice.as_deref(), Some("order #9 placed"));
}

#[test]
fn a_changed_ticket_is_checked_again_and_a_rejected_one_is_not_placed() {
    let mut a = loaded();
    key(&mut a, KeyCode::Char('n'));
    for _ in 0..3 {
        key(&mut a, KeyCode::Tab);
    }
    typed(&mut a, "5");
    assert!(matches!(
        key(&mut a, KeyCode::Enter),
        Command::Send(Request::Check(_))
    ));
    a.update(Msg::Data(Data::Check(
        serde_json::from_value(json!({"approved": false, "rejection": {
            "kind": "limit", "limit": "max_order_notional", "scope": "account:paper",
            "limit_value": "500", "value": "325000", "message": "too big"
        }}))
        .expect("check"),
    )));
    assert_eq!(
        key(&mut a, KeyCode::Enter),
        Command::Redraw,
        "a rejected order is not sent"
    );
    assert!(
        a.view
            .form
            .as_ref()
            .and_then(|f| f.error.as_ref())
            .is_some()
    );
    key(&mut a, KeyCode::Backspace);
    typed(&mut a, "0.001");
    assert!(
        matches!(
            key(&mut a, KeyCode::Enter),
            Command::Send(Request::Check(_))
        ),
        "a changed order is checked again"
    );
}

#[test]
fn bad_ticket_input_names_the_field_and_sends_nothing() {
    let mut a = loaded();
    key(&mut a, KeyCode::Char('n'));
    assert_eq!(key(&mut a, KeyCode::Enter), Command::Redraw);
    let err = a
        .view
        .form
        .as_ref()
        .and_then(|f| f.error.clone())
        .expect("error");
    assert!(err.starts_with("quantity"), "{err}");
    for _ in 0..3 {
        key(&mut a, KeyCode::Tab);
    }
    typed(&mut a, "abc");
    key(&mut a, KeyCode::Enter);
    let err = a
        .view
        .form
        .as_ref()
        .and_then(|f| f.error.clone())
        .expect("error");
    assert!(err.starts_with("quantity:"), "{err}");
    key(&mut a, KeyCode::Backspace);
    key(&mut a, KeyCode::Backspace);
    key(&mut a, KeyCode::Backspace);
    typed(&mut a, "1");
    // Limit without a price.
    a.view.form.as_mut().expect("form").fields[2].value = "limit".into();
    key(&mut a, KeyCode::Enter);
    let err = a
        .view
        .form
        .as_ref()
        .and_then(|f| f.error.clone())
        .expect("error");
    assert!(err.starts_with("price: required"), "{err}");
    key(&mut a, KeyCode::Esc);
    assert!(a.view.form.is_none());
    assert_eq!(a.view.in_flight, 0);
}

#[test]
fn cancel_and_cancel_all_ask_first() {
    let mut a = loaded();
    key(&mut a, KeyCode::Char('3'));
    // Open orders, newest first: #3 then #2.
    key(&mut a, KeyCode::Char('c'));
    let prompt = a
        .view
        .confirm
        .as_ref()
        .map(|c| c.prompt.clone())
        .expect("asks");
    assert!(prompt.contains("#3"), "{prompt}");
    assert_eq!(
        key(&mut a, KeyCode::Char('y')),
        Command::Send(Request::Cancel(3))
    );
    key(&mut a, KeyCode::Char('C'));
    assert!(
        a.view
            .confirm
            .as_ref()
            .is_some_and(|c| c.prompt.contains("all 2"))
    );
    assert_eq!(key(&mut a, KeyCode::Esc), Command::Redraw);
    assert!(a.view.confirm.is_none());
    key(&mut a, KeyCode::Char('C'));
    assert_eq!(
        key(&mut a, KeyCode::Enter),
        Command::Send(Request::CancelAll)
    );
    assert_eq!(a.view.in_flight, 2);
}

#[test]
fn the_kill_switch_needs_the_word_typed() {
    let mut a = loaded();
    key(&mut a, KeyCode::Char('7'));
    key(&mut a, KeyCode::Char('F'));
    assert_eq!(
        key(&mut a, KeyCode::Enter),
        Command::None,
        "nothing typed yet"
    );
    typed(&mut a, "HALX");
    assert_eq!(key(&mut a, KeyCode::Enter), Command::None);
    key(&mut a, KeyCode::Backspace);
    typed(&mut a, "T");
    assert_eq!(
        key(&mut a, KeyCode::Enter),
        Command::Send(Request::Halt { flatten: true })
    );
}

#[test]
fn filters_narrow_lists_and_escape_clears_them() {
    let mut a = loaded();
    key(&mut a, KeyCode::Char('3'));
    key(&mut a, KeyCode::Char('h'));
    assert_eq!(
        a.order_rows().len(),
        2,
        "history: the filled and the cancelled"
    );
    key(&mut a, KeyCode::Char('h'));
    key(&mut a, KeyCode::Char('/'));
    typed(&mut a, "sol");
    key(&mut a, KeyCode::Enter);
    let ids: Vec<u64> = a.order_rows().iter().map(|o| o.id).collect();
    assert_eq!(ids, vec![3]);
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.order_rows().len(), 2);
}

#[test]
fn the_palette_completes_and_runs() {
    let mut a = loaded();
    key(&mut a, KeyCode::Char(':'));
    typed(&mut a, "back");
    key(&mut a, KeyCode::Tab);
    assert_eq!(
        a.view.palette.as_ref().map(|p| p.input.as_str()),
        Some("backtests")
    );
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.view.screen, Screen::Backtests);
    assert!(a.view.palette.is_none());
    assert_eq!(
        palette_matches("flat")[0].0,
        "halt flatten",
        "substring matches too"
    );
}

#[test]
fn market_keys_follow_symbol_and_interval() {
    let mut a = loaded();
    key(&mut a, KeyCode::Char('2'));
    assert_eq!(
        key(&mut a, KeyCode::Char('j')),
        Command::Send(Request::Watch {
            symbol: "ETHUSDT".into(),
            interval: Interval::M1
        })
    );
    assert_eq!(
        key(&mut a, KeyCode::Char('l')),
        Command::Send(Request::Watch {
            symbol: "ETHUSDT".into(),
            interval: Interval::M5
        })
    );
    key(&mut a, KeyCode::Char('s'));
    assert!(a.view.overlays.sma);
}

#[test]
fn backtests_compare_the_marked_with_the_selected() {
    let mut a = loaded();
    key(&mut a, KeyCode::Char('5'));
    assert_eq!(
        key(&mut a, KeyCode::Char('c')),
        Command::Redraw,
        "nothing marked"
    );
    key(&mut a, KeyCode::Char(' '));
    key(&mut a, KeyCode::Char('j'));
    assert_eq!(
        key(&mut a, KeyCode::Char('c')),
        Command::Send(Request::Compare(3, 2))
    );
    assert!(a.view.comparing);
    key(&mut a, KeyCode::Esc);
    assert!(!a.view.comparing);
    assert_eq!(
        key(&mut a, KeyCode::Enter),
        Command::Send(Request::OpenBacktest(2))
    );
}

#[test]
fn bot_and_job_actions_target_the_selection() {
    let mut a = loaded();
    key(&mut a, KeyCode::Char('4'));
    key(&mut a, KeyCode::Char('j'));
    assert_eq!(
        key(&mut a, KeyCode::Char('r')),
        Command::Send(Request::Bot {
            id: 2,
            action: BotAction::Resume
        })
    );
    key(&mut a, KeyCode::Char('X'));
    assert_eq!(
        key(&mut a, KeyCode::Char('y')),
        Command::Send(Request::Bot {
            id: 2,
            action: BotAction::Stop { flatten: true }
        })
    );
    // A forced entry or exit asks first.
    key(&mut a, KeyCode::Char('e'));
    assert!(
        a.view
            .confirm
            .as_ref()
            .is_some_and(|c| c.prompt.contains("Buy now for bot #2")),
        "a confirmation"
    );
    assert_eq!(
        key(&mut a, KeyCode::Char('y')),
        Command::Send(Request::Bot {
            id: 2,
            action: BotAction::Enter
        })
    );
    key(&mut a, KeyCode::Char('E'));
    assert_eq!(
        key(&mut a, KeyCode::Char('y')),
        Command::Send(Request::Bot {
            id: 2,
            action: BotAction::Exit
        })
    );
    key(&mut a, KeyCode::Char('E'));
    assert_eq!(key(&mut a, KeyCode::Char('n')), Command::Redraw, "declined");
    key(&mut a, KeyCode::Char('6'));
    key(&mut a, KeyCode::Char('j'));
    assert_eq!(
        key(&mut a, KeyCode::Char('r')),
        Command::Send(Request::JobRetry(6))
    );
    key(&mut a, KeyCode::Char('f'));
    assert_eq!(
        key(&mut a, KeyCode::Char('n')),
        Command::Send(Request::RunNow(1))
    );
}

#[test]
fn an_outage_keeps_its_start_and_the_last_data_and_forgets_pending_actions() {
    let mut a = loaded();
    a.view.in_flight = 2;
    let t1 = at(4000);
    a.update(Msg::Tick(t1));
    a.update(Msg::Disconnected("gone".into()));
    a.update(Msg::Tick(at(4005)));
    a.update(Msg::Disconnected("still gone".into()));
    assert_eq!(
        a.daemon.link,
        Link::Disconnected {
            reason: "gone".into(),
            since: t1
        }
    );
    assert_eq!(a.daemon.orders.len(), 4, "stale data is kept");
    a.update(Msg::Connected(Box::new(crate::ui::tests::fixture_info())));
    assert_eq!(a.daemon.link, Link::Connected);
    assert_eq!(a.view.in_flight, 0);
}

#[test]
fn kline_events_update_the_forming_bar_and_fold_into_longer_intervals() {
    let mut a = loaded();
    let n = a.daemon.candles.bars.len();
    let last = a.daemon.candles.bars[n - 1];
    let ev = |t: tradedesk_core::time::Timestamp, close: &str, closed: bool| {
        Msg::Data(Data::Kline(
            serde_json::from_value(json!({
                "symbol": "BTCUSDT", "closed": closed,
                "bar": {"open_time": t, "open": "65000", "high": "65100", "low": "64900", "close": close, "volume": "2", "trades": 3}
            }))
            .expect("kline"),
        ))
    };
    a.update(ev(last.open_time, "65050", false));
    assert_eq!(a.daemon.candles.bars.len(), n);
    assert_eq!(a.daemon.candles.bars[n - 1].close.to_string(), "65050");
    let next = tradedesk_core::time::Timestamp(last.open_time.millis() + 60_000);
    a.update(ev(next, "65060", false));
    assert_eq!(a.daemon.candles.bars.len(), n + 1);
    // Another symbol's bar is not ours.
    a.update(Msg::Data(Data::Kline(
        serde_json::from_value(json!({
            "symbol": "ETHUSDT", "closed": true,
            "bar": {"open_time": next, "open": "1", "high": "1", "low": "1", "close": "1", "volume": "1", "trades": 1}
        }))
        .expect("kline"),
    )));
    assert_eq!(a.daemon.candles.bars.len(), n + 1);
    // A 5-minute chart folds 1-minute bars into its last bar.
    a.daemon.candles.interval = Interval::M5;
    a.daemon.candles.bars.truncate(1);
    let t0 = tradedesk_core::time::Timestamp(1_800_000_000_000); // a multiple of 5 minutes
    a.daemon.candles.bars[0].open_time = t0;
    a.daemon.candles.bars[0].high = "65000".parse().expect("p");
    let later = tradedesk_core::time::Timestamp(t0.millis() + 120_000);
    a.update(ev(later, "65080", true));
    assert_eq!(a.daemon.candles.bars.len(), 1);
    assert_eq!(a.daemon.candles.bars[0].high.to_string(), "65100");
    assert_eq!(a.daemon.candles.bars[0].close.to_string(), "65080");
}

#[test]
fn finished_orders_are_capped_and_open_ones_kept() {
    let mut a = loaded();
    let base: tradedesk_core::order::OrderRecord =
        a.daemon.orders.get(&1).cloned().expect("order 1");
    for i in 0..(crate::state::KEEP_HISTORY as u64 + 50) {
        let mut o = base.clone();
        o.id = 100 + i;
        a.update(Msg::Data(Data::Order(Box::new(o))));
    }
    let open = a.daemon.open_orders().count();
    assert_eq!(open, 2);
    assert_eq!(a.daemon.orders.len(), crate::state::KEEP_HISTORY + open);
}

#[test]
fn the_bot_and_backtest_forms_build_what_the_daemon_accepts() {
    use tradedesk_core::api::data::Dataset;
    use tradedesk_core::api::strategies::StrategyInfo;
    let mut a = loaded();
    let info: StrategyInfo = serde_json::from_value(json!({
        "name": "sma_cross", "summary": "", "rules": "", "default_warmup": 21,
        "params_schema": {"type": "object", "properties": {
            "fast": {"type": "integer", "default": 10}, "slow": {"type": "integer", "default": 20}
        }}
    }))
    .expect("info");
    a.update(Msg::Data(Data::Strategies(vec![info])));
    key(&mut a, KeyCode::Char('4'));
    key(&mut a, KeyCode::Char('n'));
    assert_eq!(
        key(&mut a, KeyCode::Enter),
        Command::Redraw,
        "a bot needs a name"
    );
    typed(&mut a, "trend-2");
    let form = a.view.form.as_mut().expect("bot form");
    let fast = form
        .fields
        .iter()
        .position(|f| f.key == "param.fast")
        .expect("param field");
    assert_eq!(form.fields[fast].value, "10", "defaults from the schema");
    form.fields[fast].value = "7".into();
    let Command::Send(Request::CreateBot(bot)) = key(&mut a, KeyCode::Enter) else {
        panic!("the form sends bots.create");
    };
    assert_eq!(bot.name, "trend-2");
    assert_eq!(
        bot.spec.as_ref().map(|s| s.params["fast"].clone()),
        Some(json!(7))
    );
    assert_eq!(
        bot.allocation
            .get("USDT")
            .map(ToString::to_string)
            .as_deref(),
        Some("1000")
    );
    a.update(Msg::Done("bot #3 created".into()));
    assert!(a.view.form.is_none(), "accepted: the form closes");

    let set: Dataset = serde_json::from_value(json!({
        "id": 4, "name": "GOOG", "symbol": "GOOG", "base": "GOOG", "quote": "USD", "interval": "1d",
        "spacing_ms": 86_400_000, "start": "2004-08-19T00:00:00Z", "end": "2013-03-01T00:00:00Z",
        "rows": 2148, "gaps": 0, "missing_bars": 0, "largest_gaps": [], "price_decimals": 2,
        "source": "GOOG.csv", "created": "2026-11-24T00:00:00Z"
    }))
    .expect("dataset");
    a.update(Msg::Data(Data::Datasets(vec![set])));
    key(&mut a, KeyCode::Char('5'));
    key(&mut a, KeyCode::Char('n'));
    let Command::Send(Request::CreateBacktest(spec)) = key(&mut a, KeyCode::Enter) else {
        panic!("the form sends backtests.create");
    };
    assert_eq!(spec.strategies[0].datasets, vec![4]);
    assert_eq!(spec.settings.capital.to_string(), "10000");
    // No commission typed: the daemon's configured default applies.
    assert_eq!(spec.settings.commission_pct, None);
}

#[test]
fn the_job_form_checks_its_payload_and_enqueues() {
    let mut a = loaded();
    key(&mut a, KeyCode::Char('6'));
    key(&mut a, KeyCode::Char('e'));
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Backspace);
    key(&mut a, KeyCode::Backspace);
    typed(&mut a, "[1]");
    assert_eq!(key(&mut a, KeyCode::Enter), Command::Redraw);
    let err = a
        .view
        .form
        .as_ref()
        .and_then(|f| f.error.clone())
        .expect("error");
    assert_eq!(err, "payload: must be a JSON object");
    for _ in 0..3 {
        key(&mut a, KeyCode::Backspace);
    }
    typed(&mut a, "{\"depth\": 2}");
    key(&mut a, KeyCode::Tab);
    typed(&mut a, "x");
    key(&mut a, KeyCode::Enter);
    let err = a
        .view
        .form
        .as_ref()
        .and_then(|f| f.error.clone())
        .expect("error");
    assert!(err.starts_with("priority:"), "{err}");
    key(&mut a, KeyCode::Backspace);
    typed(&mut a, "5");
    key(&mut a, KeyCode::Tab);
    typed(&mut a, "60");
    let Command::Send(Request::Enqueue(job)) = key(&mut a, KeyCode::Enter) else {
        panic!("the form sends jobs.enqueue");
    };
    assert_eq!(job.kind, "risk.report");
    assert_eq!(job.payload, json!({"depth": 2}));
    assert_eq!(job.priority, Some(5), "\"0\" then \"5\" typed: 05");
    assert!(job.run_at.is_some(), "a delay sets run_at");
}

#[test]
fn a_trailing_stop_needs_its_distance() {
    let mut a = loaded();
    key(&mut a, KeyCode::Char('n'));
    let form = a.view.form.as_mut().expect("ticket");
    form.fields[1].value = "sell".into();
    form.fields[2].value = "trailing_stop".into();
    form.fields[3].value = "0.01".into();
    key(&mut a, KeyCode::Enter);
    let err = a
        .view
        .form
        .as_ref()
        .and_then(|f| f.error.clone())
        .expect("error");
    assert!(err.starts_with("trail %: required"), "{err}");
    a.view.form.as_mut().expect("ticket").fields[6].value = "2.5".into();
    let Command::Send(Request::Check(order)) = key(&mut a, KeyCode::Enter) else {
        panic!("checked");
    };
    assert_eq!(order.order_type, OrderType::TrailingStop);
    assert_eq!(
        order.trail,
        Some(tradedesk_core::order::Trail::Percent(
            "2.5".parse().expect("p")
        ))
    );
}

#[test]
fn bots_follow_their_figures_and_a_deleted_bot_leaves_the_list() {
    use crate::state::Data;
    use tradedesk_core::api::bots::{BotFigures, BotView};
    let mut a = loaded();
    let before = a.daemon.bots[&1].pnl;
    let f: BotFigures = serde_json::from_value(json!({
        "id": 1, "balances": {"USDT": {"free": "999.21", "locked": "0"}},
        "positions": [], "equity": "999.21", "pnl": "-0.79"
    }))
    .expect("figures");
    a.update(Msg::Data(Data::BotFigures(f)));
    let b = &a.daemon.bots[&1];
    assert_ne!(b.pnl, before);
    assert_eq!(b.pnl.map(|p| p.to_string()).as_deref(), Some("-0.79"));
    assert_eq!(b.equity.map(|p| p.to_string()).as_deref(), Some("999.21"));
    // Figures of a bot not listed are ignored, not invented.
    let stray: BotFigures = serde_json::from_value(json!({
        "id": 99, "balances": {}, "positions": [], "equity": null, "pnl": null
    }))
    .expect("figures");
    a.update(Msg::Data(Data::BotFigures(stray)));
    assert!(!a.daemon.bots.contains_key(&99));

    let mut gone: BotView = a.daemon.bots[&2].clone();
    gone.bot.deleted = Some(gone.bot.updated);
    a.update(Msg::Data(Data::Bot(Box::new(gone))));
    assert!(!a.daemon.bots.contains_key(&2), "a deleted bot is dropped");
    assert!(a.daemon.bots.contains_key(&1));
}

#[test]
fn a_finished_backtest_shows_its_figures_once_its_record_arrives() {
    use crate::state::Data;
    use tradedesk_core::api::backtests::Backtest;
    let mut a = loaded();
    let queued: Backtest = serde_json::from_value(json!({
        "id": 77, "name": "from the form", "kind": "run", "job_id": 700, "state": "queued",
        "progress": 0, "error": null, "created": "2026-11-19T11:00:00Z", "finished": null,
        "spec": {}, "summary": null, "sweep": null
    }))
    .expect("backtest");
    a.update(Msg::Data(Data::Backtest(Box::new(queued.clone()))));
    let mut done = queued;
    done.state = tradedesk_core::job::JobState::Succeeded;
    done.summary = Some(
        serde_json::from_value(json!({
            "final_equity": "70414.2", "return_pct": 604.142, "cagr_pct": 31.2, "sharpe": 1.08,
            "max_drawdown_pct": -20.0, "trades": 46, "win_rate_pct": 60.9, "margin_call": null
        }))
        .expect("summary"),
    );
    a.update(Msg::Data(Data::Backtest(Box::new(done))));
    key(&mut a, KeyCode::Char('5'));
    let screen = format!("{}", crate::ui::tests::draw(&a, 120, 40));
    let row = screen.lines().find(|l| l.contains("#77")).expect("listed");
    assert!(row.contains("+604.14%") && row.contains("1.08"), "{row}");
}

/// The loaded app with a strategy catalogue (the bot form needs one).
fn with_strategies() -> App {
    let mut a = loaded();
    let info: tradedesk_core::api::strategies::StrategyInfo = serde_json::from_value(json!({
        "name": "sma_cross", "summary": "", "rules": "", "default_warmup": 21,
        "params_schema": {"type": "object", "properties": {
            "fast": {"type": "integer", "default": 10}, "slow": {"type": "integer", "default": 20}
        }}
    }))
    .expect("info");
    a.update(Msg::Data(Data::Strategies(vec![info])));
    a
}

fn focus(a: &mut App, key_name: &str) {
    let form = a.view.form.as_mut().expect("a form");
    form.focus = form
        .fields
        .iter()
        .position(|f| f.key == key_name)
        .unwrap_or_else(|| panic!("no field {key_name}"));
}

fn screen_text(a: &App) -> String {
    format!("{}", crate::ui::tests::draw(a, 120, 40))
}

#[test]
fn choice_fields_cycle_and_backspace_leaves_them_alone() {
    let mut a = with_strategies();
    key(&mut a, KeyCode::Char('4'));
    key(&mut a, KeyCode::Char('n'));
    focus(&mut a, "start");
    key(&mut a, KeyCode::Backspace);
    key(&mut a, KeyCode::Char('x'));
    assert_eq!(a.view.form.as_ref().expect("form").get("start"), "yes");
    key(&mut a, KeyCode::Right);
    assert_eq!(a.view.form.as_ref().expect("form").get("start"), "no");
    focus(&mut a, "symbol");
    key(&mut a, KeyCode::Backspace);
    assert_eq!(a.view.form.as_ref().expect("form").get("symbol"), "BTCUSDT");
    // Text fields edit.
    focus(&mut a, "name");
    typed(&mut a, "ab");
    key(&mut a, KeyCode::Backspace);
    assert_eq!(a.view.form.as_ref().expect("form").get("name"), "a");
}

#[test]
fn a_refused_form_stays_open_with_the_error_beside_the_field() {
    let mut a = with_strategies();
    key(&mut a, KeyCode::Char('4'));
    key(&mut a, KeyCode::Char('n'));
    focus(&mut a, "name");
    typed(&mut a, "b1");
    let Command::Send(request @ Request::CreateBot(_)) = key(&mut a, KeyCode::Enter) else {
        panic!("the form sends bots.create");
    };
    assert!(a.view.form.as_ref().is_some_and(|f| f.pending));
    assert!(screen_text(&a).contains("sending…"));
    a.update(Msg::Failed {
        request,
        message: "field `allocation.USDT`: 1000 exceeds the free balance".into(),
        field: Some("allocation.USDT".into()),
    });
    let form = a.view.form.as_ref().expect("still open, input kept");
    assert_eq!(form.get("name"), "b1");
    assert!(!form.pending);
    assert_eq!(form.error_field.as_deref(), Some("allocation"));
    assert_eq!(form.fields[form.focus].key, "allocation");
    let shown = screen_text(&a);
    let line = shown
        .lines()
        .find(|l| l.contains("Allocation"))
        .expect("the field");
    assert!(line.contains("✗"), "{line}");
    assert!(shown.contains("exceeds the free balance"), "{shown}");
    assert_eq!(a.view.in_flight, 0);
    // Fixed and sent again, accepted: the form closes.
    focus(&mut a, "allocation");
    for _ in 0..4 {
        key(&mut a, KeyCode::Backspace);
    }
    typed(&mut a, "100");
    assert!(matches!(
        key(&mut a, KeyCode::Enter),
        Command::Send(Request::CreateBot(_))
    ));
    a.update(Msg::Done("bot #3 created".into()));
    assert!(a.view.form.is_none());
}

#[test]
fn a_failed_check_and_a_failed_comparison_end_in_their_panels() {
    let mut a = loaded();
    key(&mut a, KeyCode::Char('n'));
    focus(&mut a, "type");
    key(&mut a, KeyCode::Right); // limit
    focus(&mut a, "qty");
    typed(&mut a, "0.01");
    focus(&mut a, "price");
    typed(&mut a, "65000.001");
    let Command::Send(check @ Request::Check(_)) = key(&mut a, KeyCode::Enter) else {
        panic!("checked first");
    };
    assert!(screen_text(&a).contains("checking…"));
    a.update(Msg::Failed {
        request: check,
        message: "field `order.price`: 65000.001 is not a multiple of the tick 0.01".into(),
        field: Some("order.price".into()),
    });
    let shown = screen_text(&a);
    assert!(!shown.contains("checking…"), "{shown}");
    assert!(shown.contains("not a multiple of the tick"), "{shown}");
    let form = a.view.form.as_ref().expect("open");
    assert_eq!(form.error_field.as_deref(), Some("price"));
    // Enter checks again (it is no longer waiting).
    assert!(matches!(
        key(&mut a, KeyCode::Enter),
        Command::Send(Request::Check(_))
    ));
    key(&mut a, KeyCode::Esc);

    key(&mut a, KeyCode::Char('5'));
    a.view.marked = Some(2);
    let Command::Send(cmp @ Request::Compare(..)) = key(&mut a, KeyCode::Char('c')) else {
        panic!("compares");
    };
    assert!(screen_text(&a).contains("loading…"));
    a.update(Msg::Failed {
        request: cmp,
        message: "backtest 3 has no results: it is running".into(),
        field: None,
    });
    let shown = screen_text(&a);
    assert!(!shown.contains("loading…"), "{shown}");
    assert!(
        shown.contains("error: backtest 3 has no results"),
        "{shown}"
    );
}

#[test]
fn the_bot_form_has_sizing_and_exits_from_the_spec_schema() {
    let mut a = with_strategies();
    key(&mut a, KeyCode::Char('4'));
    key(&mut a, KeyCode::Char('n'));
    let form = a.view.form.as_ref().expect("form");
    for k in [
        "sizing.mode",
        "sizing.value",
        "sizing.whole_units",
        "exits.stop_loss_pct",
        "exits.take_profit_pct",
        "exits.trailing_stop_pct",
    ] {
        assert!(form.fields.iter().any(|f| f.key == k), "no {k}");
    }
    let mode = form
        .fields
        .iter()
        .find(|f| f.key == "sizing.mode")
        .expect("mode");
    assert_eq!(mode.choices, ["fixed_qty", "quote", "percent"]);
    assert_eq!(mode.value, "percent");
    assert_eq!(form.get("sizing.value"), "100");
    focus(&mut a, "name");
    typed(&mut a, "protected");
    focus(&mut a, "sizing.mode");
    key(&mut a, KeyCode::Left); // quote
    focus(&mut a, "sizing.value");
    for _ in 0..3 {
        key(&mut a, KeyCode::Backspace);
    }
    typed(&mut a, "50");
    focus(&mut a, "exits.stop_loss_pct");
    typed(&mut a, "2");
    focus(&mut a, "exits.trailing_stop_pct");
    typed(&mut a, "1.5");
    let Command::Send(Request::CreateBot(p)) = key(&mut a, KeyCode::Enter) else {
        panic!("sent");
    };
    let spec = p.spec.expect("a spec");
    assert_eq!(
        spec.sizing.mode,
        tradedesk_core::strategy::SizingMode::Quote
    );
    assert_eq!(spec.sizing.value.to_string(), "50");
    assert_eq!(
        spec.exits.stop_loss_pct.map(|x| x.to_string()).as_deref(),
        Some("2")
    );
    assert_eq!(
        spec.exits
            .trailing_stop_pct
            .map(|x| x.to_string())
            .as_deref(),
        Some("1.5")
    );
    assert_eq!(spec.exits.take_profit_pct, None);
}

#[test]
fn the_palette_takes_arguments_and_names_unknown_commands() {
    let mut a = loaded();
    key(&mut a, KeyCode::Char(':'));
    typed(&mut a, "buy btcusdt 0.01");
    let Command::Send(Request::Check(order)) = key(&mut a, KeyCode::Enter) else {
        panic!("a prefilled, checked ticket");
    };
    assert_eq!(order.symbol.as_str(), "BTCUSDT");
    assert_eq!(order.side, Side::Buy);
    assert_eq!(order.order_type, OrderType::Market);
    assert_eq!(order.qty.to_string(), "0.01");
    key(&mut a, KeyCode::Esc);

    key(&mut a, KeyCode::Char(':'));
    typed(&mut a, "sell ETHUSDT 0.5 3500");
    let Command::Send(Request::Check(order)) = key(&mut a, KeyCode::Enter) else {
        panic!("checked");
    };
    assert_eq!(order.order_type, OrderType::Limit);
    assert_eq!(order.price.map(|p| p.to_string()).as_deref(), Some("3500"));
    key(&mut a, KeyCode::Esc);

    key(&mut a, KeyCode::Char(':'));
    typed(&mut a, "bot start 2");
    assert_eq!(
        key(&mut a, KeyCode::Enter),
        Command::Send(Request::Bot {
            id: 2,
            action: BotAction::Start
        })
    );
    assert_eq!(a.view.screen, Screen::Bots);

    key(&mut a, KeyCode::Char(':'));
    typed(&mut a, "bot start x");
    key(&mut a, KeyCode::Enter);
    let p = a.view.palette.as_ref().expect("stays open");
    assert!(
        p.error
            .as_deref()
            .is_some_and(|e| e.contains("bot start ID")),
        "{p:?}"
    );
    key(&mut a, KeyCode::Esc);

    key(&mut a, KeyCode::Char(':'));
    typed(&mut a, "frobnicate");
    assert_eq!(key(&mut a, KeyCode::Enter), Command::Redraw);
    let p = a.view.palette.as_ref().expect("stays open");
    assert!(
        p.error
            .as_deref()
            .is_some_and(|e| e.contains("unknown command `frobnicate`")),
        "{p:?}"
    );
    assert!(screen_text(&a).contains("unknown command"));
    key(&mut a, KeyCode::Esc);

    // An id that is not there is said so.
    key(&mut a, KeyCode::Char(':'));
    typed(&mut a, "bot pause 99");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.view.notice.as_deref(), Some("no bot #99"));
}

#[test]
fn a_cycles_the_desk_through_the_accounts_and_equity_nets_what_is_owed() {
    let mut a = on_margin_account(loaded());
    assert_eq!(a.daemon.account, "margin1");
    // 10649.33 USDT less 0.01 BTC owed at the last price.
    let px = a.daemon.tickers["BTCUSDT"].last.get();
    let expected = rust_decimal::Decimal::new(1_064_933, 2) - rust_decimal::Decimal::new(1, 2) * px;
    assert_eq!(a.daemon.account_equity(), Some(expected));
    assert!(a.daemon.margin.is_some());
    // `a` wraps to the first account: shown at once, its figures asked for.
    assert!(matches!(
        key(&mut a, KeyCode::Char('a')),
        Command::Send(Request::Account(ref n)) if n == "paper"
    ));
    assert_eq!(a.daemon.account, "paper");
    assert!(a.daemon.balances.is_empty() && a.daemon.margin.is_none());
    // A late answer for the account left behind is dropped.
    a.daemon.apply(Data::Balances(
        serde_json::from_value(json!({ "account": "margin1", "balances": [
            { "asset": "USDT", "free": "1", "locked": "0", "total": "1" }
        ] }))
        .expect("balances"),
    ));
    assert!(a.daemon.balances.is_empty());
    assert!(matches!(
        key(&mut a, KeyCode::Char('a')),
        Command::Send(Request::Account(ref n)) if n == "margin1"
    ));
}
