//! The dashboard's model and update function. Data received from the
//! daemon ([`DaemonState`]) is kept apart from UI state ([`ViewState`]);
//! [`App::update`] turns a message into a [`Command`] for the main loop,
//! which does all I/O. Rendering (in `ui/`) only reads.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tradedesk_core::api::backtests::Backtest;
use tradedesk_core::api::bots::BotView;
use tradedesk_core::api::risk::Alert;
use tradedesk_core::api::system::{HeartbeatEvent, Info};
use tradedesk_core::job::{JobRecord, JobState, Schedule};
use tradedesk_core::market::Interval;
use tradedesk_core::order::{OrderRecord, OrderRequest};

use crate::state::{DaemonState, Data, Link};
use crate::view::{JobsPane, Screen, ViewState, matches};

mod actions;

mod keys;
pub use keys::{Binding, GLOBAL_KEYS, screen_keys};
mod palette;
pub use palette::{PALETTE, PALETTE_ARGS, PaletteEntry, palette_matches};
mod forms;
pub use forms::{option_fields, order_request, param_fields};

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Resize,
    Tick(DateTime<Utc>),
    Connected(Box<Info>),
    Info(Box<Info>),
    Heartbeat(HeartbeatEvent),
    Disconnected(String),
    Notice(String),
    Data(Data),
    /// An action sent to the daemon was carried out: what to say.
    Done(String),
    /// A request was refused or failed: its answer ends wherever it was
    /// awaited (a form, a panel), else it shows as a notice.
    Failed {
        request: Request,
        message: String,
        /// The request field at fault, when the daemon named one.
        field: Option<String>,
    },
}

/// What the main loop should do after an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    None,
    Redraw,
    Quit,
    /// Ask the daemon (and redraw).
    Send(Request),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotAction {
    Start,
    Stop {
        flatten: bool,
    },
    Pause,
    Resume,
    /// Buy now at its sizing rule (`bots.enter`).
    Enter,
    /// Sell its whole position now (`bots.exit`).
    Exit,
}

/// Everything the dashboard asks of the daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Load candles and the tape of a symbol (and follow it).
    Watch {
        symbol: String,
        interval: Interval,
    },
    Check(Box<OrderRequest>),
    Place(Box<OrderRequest>),
    Cancel(u64),
    CancelAll,
    Bot {
        id: u64,
        action: BotAction,
    },
    /// Show this account on the desk: its balances, positions, margin.
    Account(String),
    BotEvents(u64),
    /// `bots.create` from the new-bot form.
    CreateBot(Box<tradedesk_core::api::bots::BotCreate>),
    /// `backtests.create` from the backtest form.
    CreateBacktest(Box<tradedesk_core::api::backtests::BacktestSpec>),
    /// `jobs.enqueue` from the job form.
    Enqueue(Box<tradedesk_core::api::jobs::Enqueue>),
    JobCancel(u64),
    JobRetry(u64),
    RunNow(u64),
    OpenBacktest(u64),
    Compare(u64, u64),
    CancelBacktest(u64),
    Ack(u64),
    Halt {
        flatten: bool,
    },
    Resume,
    FlushCache,
    Refresh,
}

impl Request {
    /// Actions change something; the rest only read.
    pub fn is_action(&self) -> bool {
        !matches!(
            self,
            Request::Watch { .. }
                | Request::Account(_)
                | Request::Check(_)
                | Request::BotEvents(_)
                | Request::OpenBacktest(_)
                | Request::Compare(..)
                | Request::Refresh
        )
    }
}

/// What a key or a palette entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Goto(Screen),
    NextScreen,
    PrevScreen,
    Help,
    Palette,
    Filter,
    Quit,
    ToggleUtc,
    TogglePrivacy,
    Up,
    Down,
    Open,
    Refresh,
    NewOrder,
    /// Show the next account on the desk.
    NextAccount,
    CancelOrder,
    CancelAll,
    ToggleHistory,
    NextInterval,
    PrevInterval,
    ToggleSma,
    ToggleEma,
    ToggleBollinger,
    NewBot,
    BotStart,
    BotStop,
    BotStopFlatten,
    BotPause,
    BotResume,
    BotEnter,
    BotExit,
    NewBacktest,
    NewJob,
    Mark,
    Compare,
    CancelBacktest,
    SwitchPane,
    JobCancel,
    JobRetry,
    RunNow,
    Ack,
    Halt,
    HaltFlatten,
    ResumeTrading,
    FlushCache,
}

#[derive(Debug)]
pub struct App {
    pub socket: String,
    pub now: DateTime<Utc>,
    pub daemon: DaemonState,
    pub view: ViewState,
}

impl App {
    pub fn new(socket: String, now: DateTime<Utc>) -> Self {
        let colors = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        App {
            socket,
            now,
            daemon: DaemonState::new(),
            view: ViewState::new(colors),
        }
    }

    pub fn update(&mut self, msg: Msg) -> Command {
        match msg {
            Msg::Key(key) => return self.key(key),
            Msg::Resize => {}
            Msg::Tick(now) => self.now = now,
            Msg::Connected(info) => {
                self.daemon.link = Link::Connected;
                self.daemon.info = Some(*info);
                // What was asked before the outage will not be answered.
                self.view.in_flight = 0;
            }
            Msg::Info(info) => self.daemon.info = Some(*info),
            Msg::Heartbeat(beat) => {
                self.now = beat.time.max(self.now);
                self.daemon.last_beat = Some(beat);
            }
            Msg::Disconnected(reason) => {
                // Keep the first moment of an outage, not the latest retry.
                if !matches!(self.daemon.link, Link::Disconnected { .. }) {
                    self.daemon.link = Link::Disconnected {
                        reason,
                        since: self.now,
                    };
                }
            }
            Msg::Notice(text) => self.view.notice = Some(text),
            Msg::Data(d) => {
                let first_symbols = matches!(d, Data::Symbols(_)) && self.daemon.symbols.is_empty();
                self.daemon.apply(d);
                if first_symbols {
                    return self.watch();
                }
            }
            Msg::Done(said) => {
                self.view.in_flight = self.view.in_flight.saturating_sub(1);
                // A form waiting for this answer closes: it was accepted.
                if self.view.form.as_ref().is_some_and(|f| f.pending) {
                    self.view.form = None;
                    self.daemon.check = None;
                }
                self.view.notice = Some(said);
            }
            Msg::Failed {
                request,
                message,
                field,
            } => self.failed(&request, message, field.as_deref()),
        }
        Command::Redraw
    }

    /// Sends a request; actions count as pending until answered.
    fn send(&mut self, r: Request) -> Command {
        if r.is_action() {
            self.view.in_flight += 1;
        }
        Command::Send(r)
    }

    fn key(&mut self, key: KeyEvent) -> Command {
        if key.kind != KeyEventKind::Press {
            return Command::None;
        }
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return Command::Quit;
        }
        if self.view.confirm.is_some() {
            return self.confirm_key(key);
        }
        if self.view.form.is_some() {
            return self.form_key(key);
        }
        if self.view.palette.is_some() {
            return self.palette_key(key);
        }
        if self.view.filtering {
            return self.filter_key(key);
        }
        if key.code == KeyCode::Esc {
            return self.escape();
        }
        if let KeyCode::Char(c @ '1'..='8') = key.code {
            let i = c as usize - '1' as usize;
            return self.act(Action::Goto(Screen::ALL[i]));
        }
        let found = screen_keys(self.view.screen)
            .iter()
            .chain(GLOBAL_KEYS)
            .find(|b| b.key == key.code)
            .map(|b| b.action);
        match found {
            Some(a) => self.act(a),
            None => Command::None,
        }
    }

    fn escape(&mut self) -> Command {
        let v = &mut self.view;
        if v.help {
            v.help = false;
        } else if v.screen == Screen::Backtests && (v.comparing || v.opened.is_some()) {
            v.comparing = false;
            v.opened = None;
        } else if !v.filter().is_empty() {
            let i = v.screen.index();
            v.filter[i].clear();
        } else if v.notice.is_some() {
            v.notice = None;
        } else {
            return Command::None;
        }
        Command::Redraw
    }

    /// The daemon's uptime as of the latest news from it.
    pub fn uptime_ms(&self) -> Option<u64> {
        match (&self.daemon.last_beat, &self.daemon.info) {
            (Some(b), _) => Some(b.uptime_ms),
            (None, Some(i)) => Some(i.uptime_ms),
            (None, None) => None,
        }
    }

    /// The watchlist's selected symbol.
    pub fn watched(&self) -> Option<String> {
        let rows = self.symbol_rows();
        let i = self.view.selected[Screen::Market.index()].min(rows.len().saturating_sub(1));
        rows.get(i).cloned()
    }

    // ---- list rows (shared by update and render) ------------------------

    /// Rows of the current screen's list.
    pub fn rows(&self) -> usize {
        match self.view.screen {
            Screen::Desk | Screen::System => 0,
            Screen::Market => self.symbol_rows().len(),
            Screen::Orders => self.order_rows().len(),
            Screen::Bots => self.bot_rows().len(),
            Screen::Backtests => self.backtest_rows().len(),
            Screen::Jobs => match self.view.jobs_pane {
                JobsPane::Queue => self.job_rows().len(),
                JobsPane::Schedules => self.schedule_rows().len(),
            },
            Screen::Risk => self.alert_rows().len(),
        }
    }

    fn filter_of(&self, s: Screen) -> &str {
        &self.view.filter[s.index()]
    }

    pub fn symbol_rows(&self) -> Vec<String> {
        let f = self.filter_of(Screen::Market);
        self.daemon
            .symbols
            .iter()
            .map(|s| s.symbol.to_string())
            .filter(|s| matches(f, s))
            .collect()
    }

    /// `items` that screen `s`'s filter matches, by their `text` (only
    /// worked out while a filter is set).
    fn filtered<'a, T: 'a>(
        &self,
        s: Screen,
        items: impl Iterator<Item = &'a T>,
        text: impl Fn(&T) -> String,
    ) -> Vec<&'a T> {
        let f = self.filter_of(s);
        items
            .filter(|x| f.is_empty() || matches(f, &text(x)))
            .collect()
    }

    /// Open orders (or the history), newest first.
    pub fn order_rows(&self) -> Vec<&OrderRecord> {
        let history = self.view.history;
        let orders = self.daemon.orders.values().rev();
        self.filtered(
            Screen::Orders,
            orders.filter(|o| o.status.is_open() != history),
            order_text,
        )
    }

    pub fn bot_rows(&self) -> Vec<&BotView> {
        self.filtered(Screen::Bots, self.daemon.bots.values(), |b| {
            let status = b.bot.status.as_str();
            format!("{} {} {status}", b.bot.name, b.bot.spec.strategy)
        })
    }

    pub fn backtest_rows(&self) -> Vec<&Backtest> {
        self.filtered(
            Screen::Backtests,
            self.daemon.backtests.values().rev(),
            |b| format!("{} {}", b.name, b.state.as_str()),
        )
    }

    pub fn job_rows(&self) -> Vec<&JobRecord> {
        self.filtered(Screen::Jobs, self.daemon.jobs.values().rev(), |j| {
            format!("{} {}", j.kind, j.state.as_str())
        })
    }

    pub fn schedule_rows(&self) -> Vec<&Schedule> {
        self.filtered(Screen::Jobs, self.daemon.schedules.iter(), |s| {
            format!("{} {}", s.name, s.kind)
        })
    }

    pub fn alert_rows(&self) -> Vec<&Alert> {
        self.filtered(Screen::Risk, self.daemon.alerts.values().rev(), |a| {
            format!("{} {}", a.kind, a.message)
        })
    }

    // ---- modals -----------------------------------------------------------

    fn filter_key(&mut self, key: KeyEvent) -> Command {
        let i = self.view.screen.index();
        match key.code {
            KeyCode::Esc => {
                self.view.filter[i].clear();
                self.view.filtering = false;
            }
            KeyCode::Enter => self.view.filtering = false,
            KeyCode::Backspace => {
                self.view.filter[i].pop();
            }
            KeyCode::Char(c) => self.view.filter[i].push(c),
            _ => return Command::None,
        }
        self.view.selected[i] = 0;
        Command::Redraw
    }

    // ---- forms ------------------------------------------------------------
}

/// One line describing an order, for filters and prompts.
pub fn describe(o: &OrderRecord) -> String {
    let px = o
        .price
        .or(o.stop_price)
        .map_or(String::new(), |p| format!(" @ {p}"));
    format!(
        "{} {} {} {}{px}",
        o.side.as_str(),
        o.qty,
        o.symbol,
        o.order_type.as_str()
    )
}

fn order_text(o: &OrderRecord) -> String {
    format!("#{} {} {}", o.id, describe(o), o.status.as_str())
}

/// Whether a job can be retried or cancelled, for hints.
pub fn job_actions(j: &JobRecord) -> &'static str {
    match j.state {
        JobState::Queued | JobState::Running => "c cancel",
        JobState::Failed | JobState::Dead | JobState::Cancelled => "r retry",
        JobState::Succeeded => "",
    }
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
