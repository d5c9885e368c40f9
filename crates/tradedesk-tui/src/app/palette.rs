//! The command palette: its commands, completion, and commands with
//! arguments (`:buy BTCUSDT 0.01`, `:bot start 3`).

use super::{Action, App, Command};
use crate::view::{JobsPane, Screen};
use crossterm::event::{KeyCode, KeyEvent};
use tradedesk_core::order::Side;

/// The command palette's entries.
pub const PALETTE: &[(&str, Action)] = &[
    ("desk", Action::Goto(Screen::Desk)),
    ("market", Action::Goto(Screen::Market)),
    ("orders", Action::Goto(Screen::Orders)),
    ("bots", Action::Goto(Screen::Bots)),
    ("backtests", Action::Goto(Screen::Backtests)),
    ("jobs", Action::Goto(Screen::Jobs)),
    ("risk", Action::Goto(Screen::Risk)),
    ("system", Action::Goto(Screen::System)),
    ("cache flush", Action::FlushCache),
    ("order new", Action::NewOrder),
    ("order cancel-all", Action::CancelAll),
    ("bot new", Action::NewBot),
    ("backtest new", Action::NewBacktest),
    ("job enqueue", Action::NewJob),
    ("halt", Action::Halt),
    ("halt flatten", Action::HaltFlatten),
    ("resume trading", Action::ResumeTrading),
    ("toggle utc", Action::ToggleUtc),
    ("toggle privacy", Action::TogglePrivacy),
    ("refresh", Action::Refresh),
    ("help", Action::Help),
    ("quit", Action::Quit),
];

/// Palette commands that take arguments: their name and how they read.
pub const PALETTE_ARGS: &[(&str, &str)] = &[
    ("buy", "buy SYMBOL QTY [PRICE]"),
    ("sell", "sell SYMBOL QTY [PRICE]"),
    ("bot start", "bot start ID"),
    ("bot stop", "bot stop ID"),
    ("bot flatten", "bot flatten ID"),
    ("bot pause", "bot pause ID"),
    ("bot resume", "bot resume ID"),
    ("order cancel", "order cancel ID"),
    ("backtest open", "backtest open ID"),
    ("job cancel", "job cancel ID"),
    ("job retry", "job retry ID"),
    ("alert ack", "alert ack ID"),
];

/// A palette line: what shows, and what it does (`None`: it takes
/// arguments, shown in its usage).
pub type PaletteEntry = (&'static str, Option<Action>);

/// Palette entries matching what was typed (prefix first, then
/// substring); commands with arguments show their usage. Only the command
/// words count: `bot start 3` matches `bot start ID`.
pub fn palette_matches(input: &str) -> Vec<PaletteEntry> {
    let input = input.trim().to_lowercase();
    let all = PALETTE
        .iter()
        .map(|(n, a)| (*n, *n, Some(*a)))
        .chain(PALETTE_ARGS.iter().map(|(n, usage)| (*n, *usage, None)));
    let entries: Vec<(&str, &'static str, Option<Action>)> = all.collect();
    // Typed past a command with arguments: that command alone.
    if let Some((_, usage, _)) = entries
        .iter()
        .find(|(n, _, a)| a.is_none() && input.starts_with(&format!("{n} ")))
    {
        return vec![(*usage, None)];
    }
    let mut out: Vec<PaletteEntry> = entries
        .iter()
        .filter(|(n, _, _)| n.starts_with(&input))
        .map(|(_, shown, a)| (*shown, *a))
        .collect();
    out.extend(
        entries
            .iter()
            .filter(|(n, _, _)| !n.starts_with(&input) && n.contains(&input))
            .map(|(_, shown, a)| (*shown, *a)),
    );
    out
}

/// What a palette line asks: a command with arguments, parsed.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum PaletteCall {
    Order {
        side: Side,
        symbol: String,
        qty: String,
        price: Option<String>,
    },
    Bot(u64, Action),
    CancelOrder(u64),
    OpenBacktest(u64),
    Job(u64, Action),
    Ack(u64),
}

/// Parses a palette line with arguments; `Ok(None)` when it names no
/// command that takes any.
pub(super) fn parse_palette(input: &str) -> Result<Option<PaletteCall>, String> {
    let words: Vec<&str> = input.split_whitespace().collect();
    let Some((name, usage)) = PALETTE_ARGS.iter().find(|(n, _)| {
        let n: Vec<&str> = n.split(' ').collect();
        words.len() >= n.len()
            && words[..n.len()]
                .iter()
                .zip(&n)
                .all(|(w, n)| w.eq_ignore_ascii_case(n))
    }) else {
        return Ok(None);
    };
    let args = &words[name.split(' ').count()..];
    let id = || -> Result<u64, String> {
        match args {
            [id] => id
                .trim_start_matches('#')
                .parse()
                .map_err(|_| format!("`{id}` is not an id: {usage}")),
            _ => Err(format!("usage: {usage}")),
        }
    };
    Ok(Some(match *name {
        "buy" | "sell" => match args {
            [symbol, qty] | [symbol, qty, _] => PaletteCall::Order {
                side: if *name == "buy" {
                    Side::Buy
                } else {
                    Side::Sell
                },
                symbol: symbol.to_uppercase(),
                qty: (*qty).to_owned(),
                price: args.get(2).map(|p| (*p).to_owned()),
            },
            _ => return Err(format!("usage: {usage}")),
        },
        "bot start" => PaletteCall::Bot(id()?, Action::BotStart),
        "bot stop" => PaletteCall::Bot(id()?, Action::BotStop),
        "bot flatten" => PaletteCall::Bot(id()?, Action::BotStopFlatten),
        "bot pause" => PaletteCall::Bot(id()?, Action::BotPause),
        "bot resume" => PaletteCall::Bot(id()?, Action::BotResume),
        "bot enter" => PaletteCall::Bot(id()?, Action::BotEnter),
        "bot exit" => PaletteCall::Bot(id()?, Action::BotExit),
        "order cancel" => PaletteCall::CancelOrder(id()?),
        "backtest open" => PaletteCall::OpenBacktest(id()?),
        "job cancel" => PaletteCall::Job(id()?, Action::JobCancel),
        "job retry" => PaletteCall::Job(id()?, Action::JobRetry),
        _ => PaletteCall::Ack(id()?),
    }))
}

impl App {
    pub(super) fn palette_key(&mut self, key: KeyEvent) -> Command {
        let Some(p) = self.view.palette.as_mut() else {
            return Command::None;
        };
        let found = palette_matches(&p.input);
        match key.code {
            KeyCode::Esc => self.view.palette = None,
            KeyCode::Enter => {
                let input = p.input.trim().to_owned();
                match parse_palette(&input) {
                    Err(e) => {
                        p.error = Some(e);
                        return Command::Redraw;
                    }
                    Ok(Some(call)) => {
                        self.view.palette = None;
                        return self.palette_call(call);
                    }
                    Ok(None) => {}
                }
                let pick = found
                    .get(p.selected.min(found.len().saturating_sub(1)))
                    .copied();
                match pick {
                    Some((_, Some(a))) => {
                        self.view.palette = None;
                        return self.act(a);
                    }
                    Some((usage, None)) => p.error = Some(format!("usage: {usage}")),
                    None => {
                        p.error = Some(format!(
                            "unknown command `{input}`: Tab completes, Backspace edits"
                        ));
                    }
                }
            }
            KeyCode::Tab => {
                if let Some((name, _)) = found.get(p.selected) {
                    // A command with arguments completes to its name.
                    let name = PALETTE_ARGS
                        .iter()
                        .find(|(_, usage)| usage == name)
                        .map_or(*name, |(n, _)| n);
                    p.input = format!(
                        "{name}{}",
                        if found[p.selected].1.is_none() {
                            " "
                        } else {
                            ""
                        }
                    );
                    p.selected = 0;
                }
            }
            KeyCode::Down => p.selected = (p.selected + 1).min(found.len().saturating_sub(1)),
            KeyCode::Up => p.selected = p.selected.saturating_sub(1),
            KeyCode::Backspace => {
                p.input.pop();
                p.selected = 0;
                p.error = None;
            }
            KeyCode::Char(c) => {
                p.input.push(c);
                p.selected = 0;
                p.error = None;
            }
            _ => return Command::None,
        }
        Command::Redraw
    }

    /// Carries out a palette command with arguments, as its key would on
    /// the item it names (the same confirmations).
    pub(super) fn palette_call(&mut self, call: PaletteCall) -> Command {
        match call {
            PaletteCall::Order {
                side,
                symbol,
                qty,
                price,
            } => {
                if !self
                    .daemon
                    .symbols
                    .iter()
                    .any(|s| s.symbol.as_str() == symbol)
                {
                    self.view.notice = Some(format!("no symbol {symbol}"));
                    return Command::Redraw;
                }
                // The ticket, filled in and checked: Enter places it.
                self.open_ticket();
                let Some(form) = self.view.form.as_mut() else {
                    return Command::Redraw;
                };
                for f in &mut form.fields {
                    match f.key.as_str() {
                        "symbol" => f.value.clone_from(&symbol),
                        "side" => side.as_str().clone_into(&mut f.value),
                        "qty" => f.value.clone_from(&qty),
                        "type" if price.is_some() => f.value = "limit".into(),
                        "price" => f.value = price.clone().unwrap_or_default(),
                        _ => {}
                    }
                }
                self.submit()
            }
            PaletteCall::Bot(id, action) => self.on_item(
                Screen::Bots,
                |a| a.bot_rows().iter().position(|b| b.bot.id == id),
                action,
                &format!("bot #{id}"),
            ),
            PaletteCall::CancelOrder(id) => {
                self.view.history = false;
                self.on_item(
                    Screen::Orders,
                    |a| a.order_rows().iter().position(|o| o.id == id),
                    Action::CancelOrder,
                    &format!("open order #{id}"),
                )
            }
            PaletteCall::OpenBacktest(id) => self.on_item(
                Screen::Backtests,
                |a| a.backtest_rows().iter().position(|b| b.id == id),
                Action::Open,
                &format!("backtest #{id}"),
            ),
            PaletteCall::Job(id, action) => {
                self.view.jobs_pane = JobsPane::Queue;
                self.on_item(
                    Screen::Jobs,
                    |a| a.job_rows().iter().position(|j| j.id == id),
                    action,
                    &format!("job #{id}"),
                )
            }
            PaletteCall::Ack(id) => self.on_item(
                Screen::Risk,
                |a| a.alert_rows().iter().position(|x| x.id == id),
                Action::Ack,
                &format!("alert #{id}"),
            ),
        }
    }
}
