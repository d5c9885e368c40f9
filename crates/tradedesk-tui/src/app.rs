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
use crate::view::{Confirm, JobsPane, Palette, Screen, Then, ViewState, matches};

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
    Stop { flatten: bool },
    Pause,
    Resume,
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

    /// Carries out an action (from a key or the palette).
    #[allow(clippy::too_many_lines)] // one arm per action
    pub fn act(&mut self, a: Action) -> Command {
        match a {
            Action::Goto(s) => {
                self.view.screen = s;
                self.view.help = false;
            }
            Action::NextScreen => self.view.screen = self.view.screen.next(),
            Action::PrevScreen => self.view.screen = self.view.screen.prev(),
            Action::Help => self.view.help = !self.view.help,
            Action::Palette => self.view.palette = Some(Palette::default()),
            Action::Filter => self.view.filtering = true,
            Action::Quit => {
                if self.view.in_flight > 0 {
                    self.view.confirm = Some(Confirm {
                        prompt: format!(
                            "{} action(s) sent and not answered yet. Quit anyway? (y/n)",
                            self.view.in_flight
                        ),
                        typed: None,
                        then: Then::Quit,
                    });
                } else {
                    return Command::Quit;
                }
            }
            Action::ToggleUtc => self.view.utc = !self.view.utc,
            Action::TogglePrivacy => self.view.privacy = !self.view.privacy,
            Action::Up | Action::Down => {
                let n = self.rows();
                let i = self.view.screen.index();
                let s = &mut self.view.selected[i];
                *s = if a == Action::Up {
                    s.saturating_sub(1)
                } else {
                    (*s + 1).min(n.saturating_sub(1))
                };
                if self.view.screen == Screen::Market {
                    return self.watch();
                }
                if self.view.screen == Screen::Bots
                    && let Some(id) = self.bot_rows().get(self.view.selected()).map(|b| b.bot.id)
                {
                    return Command::Send(Request::BotEvents(id));
                }
            }
            Action::Refresh => return Command::Send(Request::Refresh),
            Action::NewOrder => self.open_ticket(),
            Action::CancelOrder => {
                if let Some(o) = self.order_rows().get(self.view.selected()).copied() {
                    if o.status.is_open() {
                        let (id, what) = (o.id, describe(o));
                        self.view.confirm = Some(Confirm {
                            prompt: format!("Cancel order #{id} ({what})? (y/n)"),
                            typed: None,
                            then: Then::Send(Request::Cancel(id)),
                        });
                    } else {
                        self.view.notice = Some(format!("order #{} is not open", o.id));
                    }
                }
            }
            Action::CancelAll => {
                let n = self.daemon.open_orders().count();
                self.view.confirm = Some(Confirm {
                    prompt: format!("Cancel all {n} open orders? (y/n)"),
                    typed: None,
                    then: Then::Send(Request::CancelAll),
                });
            }
            Action::ToggleHistory => {
                self.view.history = !self.view.history;
                self.view.selected[Screen::Orders.index()] = 0;
            }
            Action::NextInterval | Action::PrevInterval => {
                let all = Interval::ALL;
                let at = all
                    .iter()
                    .position(|i| *i == self.view.interval)
                    .unwrap_or(0);
                let by = if a == Action::NextInterval {
                    1
                } else {
                    all.len() - 1
                };
                self.view.interval = all[(at + by) % all.len()];
                return self.watch();
            }
            Action::ToggleSma => self.view.overlays.sma = !self.view.overlays.sma,
            Action::ToggleEma => self.view.overlays.ema = !self.view.overlays.ema,
            Action::ToggleBollinger => self.view.overlays.bollinger = !self.view.overlays.bollinger,
            Action::NewBot => self.open_bot_form(),
            Action::BotStart | Action::BotPause | Action::BotResume => {
                let action = match a {
                    Action::BotStart => BotAction::Start,
                    Action::BotPause => BotAction::Pause,
                    _ => BotAction::Resume,
                };
                if let Some(id) = self.bot_rows().get(self.view.selected()).map(|b| b.bot.id) {
                    return self.send(Request::Bot { id, action });
                }
            }
            Action::BotStop | Action::BotStopFlatten => {
                let flatten = a == Action::BotStopFlatten;
                if let Some(b) = self.bot_rows().get(self.view.selected()) {
                    let (id, name) = (b.bot.id, b.bot.name.clone());
                    self.view.confirm = Some(Confirm {
                        prompt: format!(
                            "Stop bot #{id} {name}{}? (y/n)",
                            if flatten {
                                " and close its positions at market"
                            } else {
                                ""
                            }
                        ),
                        typed: None,
                        then: Then::Send(Request::Bot {
                            id,
                            action: BotAction::Stop { flatten },
                        }),
                    });
                }
            }
            Action::Open => match self.view.screen {
                Screen::Bots => {
                    if let Some(id) = self.bot_rows().get(self.view.selected()).map(|b| b.bot.id) {
                        return Command::Send(Request::BotEvents(id));
                    }
                }
                Screen::Backtests => {
                    if let Some(id) = self.backtest_rows().get(self.view.selected()).map(|b| b.id) {
                        self.view.opened = Some(id);
                        self.view.comparing = false;
                        return Command::Send(Request::OpenBacktest(id));
                    }
                }
                _ => {}
            },
            Action::NewBacktest => self.open_backtest_form(),
            Action::NewJob => self.open_job_form(),
            Action::Mark => {
                if let Some(id) = self.backtest_rows().get(self.view.selected()).map(|b| b.id) {
                    self.view.marked = if self.view.marked == Some(id) {
                        None
                    } else {
                        Some(id)
                    };
                }
            }
            Action::Compare => {
                let sel = self.backtest_rows().get(self.view.selected()).map(|b| b.id);
                match (self.view.marked, sel) {
                    (Some(a), Some(b)) if a != b => {
                        self.view.comparing = true;
                        self.view.opened = None;
                        return Command::Send(Request::Compare(a, b));
                    }
                    _ => {
                        self.view.notice =
                            Some("mark one backtest with Space, select another, then c".into());
                    }
                }
            }
            Action::CancelBacktest => {
                if let Some(id) = self.backtest_rows().get(self.view.selected()).map(|b| b.id) {
                    return self.send(Request::CancelBacktest(id));
                }
            }
            Action::SwitchPane => {
                self.view.jobs_pane = match self.view.jobs_pane {
                    JobsPane::Queue => JobsPane::Schedules,
                    JobsPane::Schedules => JobsPane::Queue,
                };
                self.view.selected[Screen::Jobs.index()] = 0;
            }
            Action::JobCancel | Action::JobRetry => {
                if self.view.jobs_pane == JobsPane::Queue
                    && let Some(id) = self.job_rows().get(self.view.selected()).map(|j| j.id)
                {
                    return self.send(if a == Action::JobCancel {
                        Request::JobCancel(id)
                    } else {
                        Request::JobRetry(id)
                    });
                }
            }
            Action::RunNow => {
                if self.view.jobs_pane == JobsPane::Schedules
                    && let Some(id) = self.schedule_rows().get(self.view.selected()).map(|s| s.id)
                {
                    return self.send(Request::RunNow(id));
                }
            }
            Action::Ack => {
                if let Some(id) = self.alert_rows().get(self.view.selected()).map(|a| a.id) {
                    return self.send(Request::Ack(id));
                }
            }
            Action::Halt | Action::HaltFlatten => {
                let flatten = a == Action::HaltFlatten;
                self.view.confirm = Some(Confirm {
                    prompt: format!(
                        "KILL SWITCH: halt all trading on account {}{}. Type HALT and press Enter:",
                        self.daemon.account,
                        if flatten {
                            ", cancel its orders and close every position at market"
                        } else {
                            " and cancel its orders"
                        }
                    ),
                    typed: Some(("HALT".into(), String::new())),
                    then: Then::Send(Request::Halt { flatten }),
                });
            }
            Action::FlushCache => {
                self.view.confirm = Some(Confirm {
                    prompt: "Empty the daemon's cache? Reads recompute it. (y/n)".into(),
                    typed: None,
                    then: Then::Send(Request::FlushCache),
                });
            }
            Action::ResumeTrading => {
                self.view.confirm = Some(Confirm {
                    prompt: format!("Resume trading on account {}? (y/n)", self.daemon.account),
                    typed: None,
                    then: Then::Send(Request::Resume),
                });
            }
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

    /// Follows the symbol selected in the watchlist.
    fn watch(&mut self) -> Command {
        let Some(symbol) = self.watched() else {
            return Command::Redraw;
        };
        Command::Send(Request::Watch {
            symbol,
            interval: self.view.interval,
        })
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

    fn confirm_key(&mut self, key: KeyEvent) -> Command {
        let Some(c) = self.view.confirm.as_mut() else {
            return Command::None;
        };
        let yes = match (&mut c.typed, key.code) {
            (Some((want, typed)), KeyCode::Enter) => {
                if typed != want {
                    return Command::None;
                }
                true
            }
            (Some((_, typed)), KeyCode::Backspace) => {
                typed.pop();
                return Command::Redraw;
            }
            (Some((_, typed)), KeyCode::Char(ch)) => {
                typed.push(ch);
                return Command::Redraw;
            }
            (None, KeyCode::Char('y' | 'Y') | KeyCode::Enter) => true,
            (None, KeyCode::Char('n' | 'N')) | (_, KeyCode::Esc) => false,
            _ => return Command::None,
        };
        let Some(c) = self.view.confirm.take() else {
            return Command::None;
        };
        if !yes {
            return Command::Redraw;
        }
        match c.then {
            Then::Quit => Command::Quit,
            Then::Send(r) => self.send(r),
        }
    }

    /// Goes to `screen`, selects the row `find` gives (with no filter) and
    /// acts on it; says so when there is no such item.
    fn on_item(
        &mut self,
        screen: Screen,
        find: impl Fn(&App) -> Option<usize>,
        action: Action,
        what: &str,
    ) -> Command {
        let i = screen.index();
        self.view.screen = screen;
        self.view.filter[i].clear();
        let Some(row) = find(self) else {
            self.view.notice = Some(format!("no {what}"));
            return Command::Redraw;
        };
        self.view.selected[i] = row;
        self.act(action)
    }

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
