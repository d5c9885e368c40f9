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
use tradedesk_core::order::{OrderRecord, OrderRequest, OrderType, Side, TimeInForce};

use crate::state::{DaemonState, Data, Link};
use crate::view::{
    Confirm, Field, Form, FormKind, JobsPane, Palette, Screen, Then, ViewState, matches,
};

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
    /// `bots.create` or `backtests.create` from a form.
    Create {
        method: &'static str,
        params: serde_json::Value,
    },
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

/// A key, how help shows it, what it does.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub key: KeyCode,
    pub label: &'static str,
    pub what: &'static str,
    pub action: Action,
}

const fn bind(key: KeyCode, label: &'static str, what: &'static str, action: Action) -> Binding {
    Binding {
        key,
        label,
        what,
        action,
    }
}

const fn ch(c: char) -> KeyCode {
    KeyCode::Char(c)
}

pub const GLOBAL_KEYS: &[Binding] = &[
    bind(ch('1'), "1–8", "switch screen", Action::Goto(Screen::Desk)),
    bind(
        KeyCode::Tab,
        "Tab/S-Tab",
        "next / previous screen",
        Action::NextScreen,
    ),
    bind(KeyCode::BackTab, "", "", Action::PrevScreen),
    bind(ch('j'), "j/k ↓/↑", "move", Action::Down),
    bind(ch('k'), "", "", Action::Up),
    bind(KeyCode::Down, "", "", Action::Down),
    bind(KeyCode::Up, "", "", Action::Up),
    bind(ch('/'), "/", "filter the list", Action::Filter),
    bind(ch(':'), ":", "command palette", Action::Palette),
    bind(ch('u'), "u", "UTC / local time", Action::ToggleUtc),
    bind(
        ch('m'),
        "m",
        "mask balances (privacy)",
        Action::TogglePrivacy,
    ),
    bind(ch('?'), "?", "this help", Action::Help),
    bind(ch('q'), "q", "quit", Action::Quit),
];

const DESK_KEYS: &[Binding] = &[bind(ch('n'), "n", "new order", Action::NewOrder)];
const MARKET_KEYS: &[Binding] = &[
    bind(
        ch('l'),
        "l/→ h/←",
        "next / previous interval",
        Action::NextInterval,
    ),
    bind(KeyCode::Right, "", "", Action::NextInterval),
    bind(ch('h'), "", "", Action::PrevInterval),
    bind(KeyCode::Left, "", "", Action::PrevInterval),
    bind(ch('s'), "s", "SMA(20) overlay", Action::ToggleSma),
    bind(ch('e'), "e", "EMA(50) overlay", Action::ToggleEma),
    bind(
        ch('b'),
        "b",
        "Bollinger(20, 2) overlay",
        Action::ToggleBollinger,
    ),
    bind(
        ch('n'),
        "n / Enter",
        "order ticket for this symbol",
        Action::NewOrder,
    ),
    bind(KeyCode::Enter, "", "", Action::NewOrder),
];
const ORDERS_KEYS: &[Binding] = &[
    bind(ch('n'), "n", "new order (ticket)", Action::NewOrder),
    bind(
        ch('c'),
        "c",
        "cancel the selected order",
        Action::CancelOrder,
    ),
    bind(ch('C'), "C", "cancel all open orders", Action::CancelAll),
    bind(ch('h'), "h", "open orders / history", Action::ToggleHistory),
];
const BOTS_KEYS: &[Binding] = &[
    bind(ch('n'), "n", "new bot", Action::NewBot),
    bind(ch('s'), "s", "start", Action::BotStart),
    bind(ch('x'), "x", "stop (cancels its orders)", Action::BotStop),
    bind(ch('X'), "X", "stop and flatten", Action::BotStopFlatten),
    bind(ch('p'), "p", "pause", Action::BotPause),
    bind(ch('r'), "r", "resume", Action::BotResume),
    bind(
        KeyCode::Enter,
        "Enter",
        "reload the event log",
        Action::Open,
    ),
];
const BACKTESTS_KEYS: &[Binding] = &[
    bind(ch('n'), "n", "new backtest", Action::NewBacktest),
    bind(KeyCode::Enter, "Enter", "open the result", Action::Open),
    bind(ch(' '), "Space", "mark for comparing", Action::Mark),
    bind(
        ch('c'),
        "c",
        "compare marked with selected",
        Action::Compare,
    ),
    bind(
        ch('x'),
        "x",
        "cancel a running backtest",
        Action::CancelBacktest,
    ),
];
const JOBS_KEYS: &[Binding] = &[
    bind(ch('f'), "f", "queue / schedules", Action::SwitchPane),
    bind(ch('e'), "e", "enqueue a job", Action::NewJob),
    bind(ch('c'), "c", "cancel the job", Action::JobCancel),
    bind(ch('r'), "r", "retry the job", Action::JobRetry),
    bind(ch('n'), "n", "run the schedule now", Action::RunNow),
];
const RISK_KEYS: &[Binding] = &[
    bind(ch('a'), "a", "acknowledge the alert", Action::Ack),
    bind(ch('K'), "K", "kill switch: halt trading", Action::Halt),
    bind(
        ch('F'),
        "F",
        "kill switch: halt and flatten",
        Action::HaltFlatten,
    ),
    bind(ch('R'), "R", "resume trading", Action::ResumeTrading),
];
const SYSTEM_KEYS: &[Binding] = &[bind(
    ch('F'),
    "F",
    "flush the daemon's cache",
    Action::FlushCache,
)];

pub fn screen_keys(screen: Screen) -> &'static [Binding] {
    match screen {
        Screen::Desk => DESK_KEYS,
        Screen::Market => MARKET_KEYS,
        Screen::Orders => ORDERS_KEYS,
        Screen::Bots => BOTS_KEYS,
        Screen::Backtests => BACKTESTS_KEYS,
        Screen::Jobs => JOBS_KEYS,
        Screen::Risk => RISK_KEYS,
        Screen::System => SYSTEM_KEYS,
    }
}

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
enum PaletteCall {
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
fn parse_palette(input: &str) -> Result<Option<PaletteCall>, String> {
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
        "order cancel" => PaletteCall::CancelOrder(id()?),
        "backtest open" => PaletteCall::OpenBacktest(id()?),
        "job cancel" => PaletteCall::Job(id()?, Action::JobCancel),
        "job retry" => PaletteCall::Job(id()?, Action::JobRetry),
        _ => PaletteCall::Ack(id()?),
    }))
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

    fn palette_key(&mut self, key: KeyEvent) -> Command {
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
    fn palette_call(&mut self, call: PaletteCall) -> Command {
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

    fn form_key(&mut self, key: KeyEvent) -> Command {
        let Some(form) = self.view.form.as_mut() else {
            return Command::None;
        };
        // Sent: the form waits for the answer (Esc still closes it).
        if form.pending && key.code != KeyCode::Esc {
            return Command::None;
        }
        let text = form.focused().choices.is_empty();
        match key.code {
            KeyCode::Esc => {
                self.view.form = None;
                self.daemon.check = None;
            }
            KeyCode::Tab | KeyCode::Down => form.focus = (form.focus + 1) % form.fields.len(),
            KeyCode::BackTab | KeyCode::Up => {
                form.focus = (form.focus + form.fields.len() - 1) % form.fields.len();
            }
            KeyCode::Left => form.focused().cycle(-1),
            KeyCode::Right | KeyCode::Char(' ') if !form.focused().choices.is_empty() => {
                form.focused().cycle(1);
            }
            // Choice fields cycle; only text fields are edited.
            KeyCode::Backspace if text => {
                form.focused().value.pop();
            }
            KeyCode::Char(c) if text => form.focused().value.push(c),
            KeyCode::Enter => return self.submit(),
            _ => return Command::None,
        }
        if let Some(form) = self.view.form.as_mut() {
            form.error = None;
            form.error_field = None;
            if form.kind != FormKind::Order {
                self.refresh_param_fields();
            }
        }
        Command::Redraw
    }

    // ---- forms ------------------------------------------------------------

    fn open_ticket(&mut self) {
        let symbols: Vec<String> = self
            .daemon
            .symbols
            .iter()
            .map(|s| s.symbol.to_string())
            .collect();
        if symbols.is_empty() {
            self.view.notice = Some("no symbols yet: is the daemon connected?".into());
            return;
        }
        let symbol = self.watched().unwrap_or_else(|| symbols[0].clone());
        let mut sym = Field::choice("symbol", "Symbol", &[], &symbol);
        sym.choices = symbols;
        let fields = vec![
            sym,
            Field::choice("side", "Side", &["buy", "sell"], "buy"),
            Field::choice(
                "type",
                "Type",
                &[
                    "market",
                    "limit",
                    "stop_market",
                    "stop_limit",
                    "take_profit",
                    "trailing_stop",
                ],
                "market",
            ),
            Field::text("qty", "Quantity", "", "base units, e.g. 0.01"),
            Field::text("price", "Price", "", "limit price (limit, stop-limit)"),
            Field::text("stop", "Stop", "", "trigger price (stop, take-profit)"),
            Field::text("trail", "Trail %", "", "trailing stop distance in percent"),
            Field::choice(
                "tif",
                "Time in force",
                &["gtc", "ioc", "fok", "post_only"],
                "gtc",
            ),
        ];
        self.daemon.check = None;
        self.view.form = Some(Form::new(FormKind::Order, "Order ticket", fields));
    }

    fn open_bot_form(&mut self) {
        let Some(first) = self.daemon.strategies.first() else {
            self.view.notice = Some("no strategy catalogue yet: is the daemon connected?".into());
            return;
        };
        let names: Vec<String> = self
            .daemon
            .strategies
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let symbols: Vec<String> = self
            .daemon
            .symbols
            .iter()
            .map(|s| s.symbol.to_string())
            .collect();
        let quote = self
            .daemon
            .symbols
            .first()
            .map_or("USDT".to_owned(), |s| s.quote.clone());
        let mut strategy = Field::choice("strategy", "Strategy", &[], &first.name);
        strategy.choices = names;
        let mut symbol = Field::choice(
            "symbol",
            "Symbol",
            &[],
            symbols.first().map_or("", String::as_str),
        );
        symbol.choices = symbols;
        let fields = vec![
            Field::text("name", "Name", "", "letters, digits, - _ ."),
            strategy,
            symbol,
            Field::choice(
                "interval",
                "Interval",
                &["1m", "5m", "15m", "1h", "4h", "1d"],
                "1m",
            ),
            Field::text(
                "allocation",
                "Allocation",
                &format!("{quote}=1000"),
                "ASSET=amount, comma separated",
            ),
            Field::choice("start", "Start now", &["yes", "no"], "yes"),
        ]
        .into_iter()
        .chain(option_fields())
        .collect();
        self.view.form = Some(Form::new(FormKind::Bot, "New bot", fields));
        self.refresh_param_fields();
    }

    fn open_backtest_form(&mut self) {
        if self.daemon.datasets.is_empty() {
            self.view.notice =
                Some("no datasets: import one with `tradectl data import FILE`".into());
            return;
        }
        let Some(first) = self.daemon.strategies.first() else {
            self.view.notice = Some("no strategy catalogue yet: is the daemon connected?".into());
            return;
        };
        let mut strategy = Field::choice("strategy", "Strategy", &[], &first.name);
        strategy.choices = self
            .daemon
            .strategies
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let sets: Vec<String> = self
            .daemon
            .datasets
            .iter()
            .map(|d| format!("{} {}", d.id, d.name))
            .collect();
        let mut dataset = Field::choice("dataset", "Dataset", &[], &sets[0]);
        dataset.choices = sets;
        let fields = vec![
            Field::text("name", "Name", "", "optional"),
            dataset,
            strategy,
            Field::text("capital", "Capital", "10000", "quote currency"),
            Field::text(
                "commission",
                "Commission %",
                "",
                "per fill; empty = the daemon's default",
            ),
            Field::choice("fill", "Fill model", &["next_open", "close"], "next_open"),
        ]
        .into_iter()
        .chain(option_fields())
        .collect();
        self.view.form = Some(Form::new(FormKind::Backtest, "New backtest", fields));
        self.refresh_param_fields();
    }

    fn open_job_form(&mut self) {
        let kinds: Vec<String> = self.daemon.kinds.iter().map(|k| k.name.clone()).collect();
        let Some(first) = kinds.first().cloned() else {
            self.view.notice = Some("no job kinds yet: is the daemon connected?".into());
            return;
        };
        let mut kind = Field::choice("kind", "Kind", &[], &first);
        kind.choices = kinds;
        let fields = vec![
            kind,
            Field::text(
                "payload",
                "Payload",
                "{}",
                "a JSON object, as the kind's schema says",
            ),
            Field::text("priority", "Priority", "0", "higher runs first"),
            Field::text(
                "delay",
                "Delay (s)",
                "",
                "run this many seconds from now; empty: now",
            ),
        ];
        self.view.form = Some(Form::new(FormKind::Job, "Enqueue a job", fields));
    }

    /// Keeps a form's `param.*` fields those of the chosen strategy.
    fn refresh_param_fields(&mut self) {
        let Some(form) = self.view.form.as_mut() else {
            return;
        };
        let chosen = form.get("strategy").to_owned();
        let Some(info) = self.daemon.strategies.iter().find(|s| s.name == chosen) else {
            return;
        };
        let keys: Vec<String> = param_fields(&info.params_schema)
            .into_iter()
            .map(|f| f.key)
            .collect();
        let have: Vec<String> = form
            .fields
            .iter()
            .filter(|f| f.key.starts_with("param."))
            .map(|f| f.key.clone())
            .collect();
        if keys == have {
            return;
        }
        form.fields.retain(|f| !f.key.starts_with("param."));
        form.fields.extend(param_fields(&info.params_schema));
        form.focus = form.focus.min(form.fields.len() - 1);
    }

    fn submit(&mut self) -> Command {
        let Some(form) = self.view.form.as_mut() else {
            return Command::None;
        };
        let built = match form.kind {
            FormKind::Order => order_request(form).map(|r| {
                let values = form.values();
                if form.checked.as_ref() == Some(&values) {
                    match &self.daemon.check {
                        Some(c) if c.approved => Some(Request::Place(Box::new(r))),
                        Some(_) => None,
                        None => Some(Request::Check(Box::new(r))),
                    }
                } else {
                    form.checked = Some(values);
                    self.daemon.check = None;
                    Some(Request::Check(Box::new(r)))
                }
            }),
            FormKind::Bot => bot_params(form).map(|p| {
                Some(Request::Create {
                    method: "bots.create",
                    params: p,
                })
            }),
            FormKind::Job => job_params(form).map(|p| {
                Some(Request::Create {
                    method: "jobs.enqueue",
                    params: p,
                })
            }),
            FormKind::Backtest => backtest_params(form).map(|p| {
                Some(Request::Create {
                    method: "backtests.create",
                    params: p,
                })
            }),
        };
        match built {
            Err(e) => {
                form.error = Some(e);
                Command::Redraw
            }
            Ok(None) => {
                form.error = Some("the risk check rejected this order: change it first".into());
                Command::Redraw
            }
            Ok(Some(r @ Request::Check(_))) => Command::Send(r),
            Ok(Some(r)) => {
                // The form stays until the daemon answers: accepted, it
                // closes; refused, it shows why beside the field at fault.
                form.pending = true;
                self.send(r)
            }
        }
    }

    /// A request's failure, shown where its answer was awaited.
    fn failed(&mut self, request: &Request, message: String, field: Option<&str>) {
        if request.is_action() {
            self.view.in_flight = self.view.in_flight.saturating_sub(1);
        }
        let in_form = matches!(
            request,
            Request::Check(_) | Request::Place(_) | Request::Create { .. }
        );
        match (request, self.view.form.as_mut()) {
            (_, Some(form))
                if in_form && (form.pending || matches!(request, Request::Check(_))) =>
            {
                form.pending = false;
                // A failed check is no check: Enter asks again.
                form.checked = None;
                self.daemon.check = None;
                form.fail(message, field);
            }
            (Request::Compare(..), _) => self.daemon.failed.compare = Some(message),
            (Request::OpenBacktest(id), _) => self.daemon.failed.result = Some((*id, message)),
            (Request::BotEvents(id), _) => {
                self.daemon.failed.bot = Some((*id, message.clone()));
                self.view.notice = Some(format!("error: {message}"));
            }
            _ => self.view.notice = Some(format!("error: {message}")),
        }
    }
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

fn parse_opt<T: std::str::FromStr>(v: &str, field: &str) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|e| format!("{field}: {e}"))
}

/// The ticket as an order request; errors name the field.
pub fn order_request(form: &Form) -> Result<OrderRequest, String> {
    let symbol = form
        .get("symbol")
        .parse()
        .map_err(|e| format!("symbol: {e}"))?;
    let side = match form.get("side") {
        "buy" => Side::Buy,
        _ => Side::Sell,
    };
    let order_type = [
        OrderType::Market,
        OrderType::Limit,
        OrderType::StopMarket,
        OrderType::StopLimit,
        OrderType::TakeProfit,
        OrderType::TrailingStop,
    ]
    .into_iter()
    .find(|t| t.as_str() == form.get("type"))
    .ok_or_else(|| format!("type: unknown `{}`", form.get("type")))?;
    let qty = parse_opt(form.get("qty"), "quantity")?.ok_or("quantity: required")?;
    let price = parse_opt(form.get("price"), "price")?;
    let stop_price = parse_opt(form.get("stop"), "stop")?;
    if matches!(order_type, OrderType::Limit | OrderType::StopLimit) && price.is_none() {
        return Err(format!(
            "price: required for a {} order",
            order_type.as_str()
        ));
    }
    if matches!(
        order_type,
        OrderType::StopMarket | OrderType::StopLimit | OrderType::TakeProfit
    ) && stop_price.is_none()
    {
        return Err(format!(
            "stop: required for a {} order",
            order_type.as_str()
        ));
    }
    let trail = parse_opt(form.get("trail"), "trail %")?.map(tradedesk_core::order::Trail::Percent);
    if order_type == OrderType::TrailingStop && trail.is_none() {
        return Err("trail %: required for a trailing_stop order".into());
    }
    let time_in_force = [
        TimeInForce::Gtc,
        TimeInForce::Ioc,
        TimeInForce::Fok,
        TimeInForce::PostOnly,
    ]
    .into_iter()
    .find(|t| t.as_str() == form.get("tif"));
    Ok(OrderRequest {
        symbol,
        side,
        order_type,
        qty,
        price,
        stop_price,
        trail,
        time_in_force,
        client_order_id: None,
        account: None,
    })
}

/// The strategy's parameters as form fields (`param.NAME`), from its
/// JSON Schema, with their defaults.
pub fn param_fields(schema: &serde_json::Value) -> Vec<Field> {
    let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, p)| {
            let default = p.get("default").map_or(String::new(), |d| match d {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let hint = p
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or("")
                .to_owned();
            Field::text(&format!("param.{name}"), name, &default, &hint)
        })
        .collect()
}

/// The options every strategy takes (`sizing.*`, `exits.*`) as form
/// fields, from their JSON Schemas: enumerations and booleans become
/// choices, the rest text; defaults and hints from the schema.
pub fn option_fields() -> Vec<Field> {
    let mut out = Vec::new();
    for (group, schema, defaults) in tradedesk_core::strategy::option_schemas() {
        let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else {
            continue;
        };
        let resolve = |p: &serde_json::Value| -> serde_json::Value {
            let target = p
                .get("$ref")
                .or_else(|| p.get("anyOf")?.get(0)?.get("$ref"))
                .and_then(|r| r.as_str())
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .and_then(|name| schema.get("$defs")?.get(name));
            target.cloned().unwrap_or_else(|| p.clone())
        };
        for (name, p) in props {
            let def = resolve(p);
            let key = format!("{group}.{name}");
            let label: String = {
                let words = name.replace("_pct", " %").replace('_', " ");
                let words = if group == "sizing" && !name.contains('_') {
                    format!("sizing {words}")
                } else {
                    words
                };
                let mut c = words.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            };
            let hint = p
                .get("description")
                .or_else(|| def.get("description"))
                .and_then(|d| d.as_str())
                .unwrap_or("")
                .to_owned();
            let default = match defaults.get(name) {
                Some(serde_json::Value::String(v)) => v.clone(),
                Some(serde_json::Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            let consts: Vec<&str> = def
                .get("oneOf")
                .and_then(|o| o.as_array())
                .map(|o| o.iter().filter_map(|v| v.get("const")?.as_str()).collect())
                .unwrap_or_default();
            let mut field = if !consts.is_empty() {
                Field::choice(&key, &label, &consts, &default)
            } else if p.get("type").and_then(|t| t.as_str()) == Some("boolean") {
                Field::choice(&key, &label, &["no", "yes"], &default)
            } else {
                Field::text(&key, &label, &default, "")
            };
            field.hint = hint;
            out.push(field);
        }
    }
    out
}

/// The `sizing.*` and `exits.*` fields as the spec's `sizing` and `exits`
/// objects (empty exits left out).
fn options_of(form: &Form) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    for group in ["sizing", "exits"] {
        let mut m = serde_json::Map::new();
        for f in form
            .fields
            .iter()
            .filter(|f| f.key.split_once('.').is_some_and(|(g, _)| g == group))
        {
            let name = &f.key[group.len() + 1..];
            let v = f.value.trim();
            if v.is_empty() {
                continue;
            }
            let value = match (f.choices.as_slice(), v) {
                ([a, b], "yes" | "no") if a == "no" && b == "yes" => (v == "yes").into(),
                _ => v.into(),
            };
            m.insert(name.to_owned(), value);
        }
        if !m.is_empty() {
            out.insert(group.to_owned(), serde_json::Value::Object(m));
        }
    }
    out
}

/// Form fields `param.*` as a params object: numbers and booleans as such.
fn params_of(form: &Form) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for f in form.fields.iter().filter(|f| f.key.starts_with("param.")) {
        let v = f.value.trim();
        if v.is_empty() {
            continue;
        }
        let value = serde_json::from_str::<serde_json::Value>(v)
            .ok()
            .filter(|j| j.is_number() || j.is_boolean())
            .unwrap_or_else(|| serde_json::Value::String(v.to_owned()));
        m.insert(f.key["param.".len()..].to_owned(), value);
    }
    serde_json::Value::Object(m)
}

fn bot_params(form: &Form) -> Result<serde_json::Value, String> {
    let name = form.get("name").trim();
    if name.is_empty() {
        return Err("name: required".into());
    }
    let mut allocation = serde_json::Map::new();
    for part in form
        .get("allocation")
        .split(',')
        .filter(|p| !p.trim().is_empty())
    {
        let (asset, amount) = part
            .split_once('=')
            .ok_or_else(|| format!("allocation: `{}` is not ASSET=amount", part.trim()))?;
        allocation.insert(asset.trim().to_uppercase(), amount.trim().into());
    }
    let mut spec = serde_json::json!({
        "strategy": form.get("strategy"),
        "params": params_of(form),
        "interval": form.get("interval"),
    });
    if let Some(s) = spec.as_object_mut() {
        s.extend(options_of(form));
    }
    Ok(serde_json::json!({
        "name": name,
        "spec": spec,
        "symbols": [form.get("symbol")],
        "allocation": allocation,
        "start": form.get("start") == "yes",
    }))
}

fn job_params(form: &Form) -> Result<serde_json::Value, String> {
    let payload: serde_json::Value = serde_json::from_str(form.get("payload").trim())
        .map_err(|e| format!("payload: not JSON: {e}"))?;
    if !payload.is_object() {
        return Err("payload: must be a JSON object".into());
    }
    let priority: i32 = form.get("priority").trim().parse().map_err(|_| {
        format!(
            "priority: `{}` is not a whole number",
            form.get("priority").trim()
        )
    })?;
    let mut p = serde_json::json!({
        "kind": form.get("kind"),
        "payload": payload,
        "priority": priority,
    });
    if let Some(delay) = parse_opt::<u32>(form.get("delay"), "delay")? {
        let at = chrono::Utc::now() + chrono::Duration::seconds(i64::from(delay));
        p["run_at"] = serde_json::to_value(tradedesk_core::time::Timestamp::from_datetime(at))
            .map_err(|e| format!("delay: {e}"))?;
    }
    Ok(p)
}

fn backtest_params(form: &Form) -> Result<serde_json::Value, String> {
    let dataset: u64 = form
        .get("dataset")
        .split_whitespace()
        .next()
        .and_then(|d| d.parse().ok())
        .ok_or("dataset: choose one")?;
    let mut strategy =
        serde_json::json!({"strategy": form.get("strategy"), "params": params_of(form)});
    if let Some(s) = strategy.as_object_mut() {
        s.extend(options_of(form));
    }
    let mut spec = serde_json::json!({
        "strategies": [{
            "spec": strategy,
            "datasets": [dataset],
        }],
        "settings": {
            "capital": form.get("capital").trim(),
            "fill": form.get("fill"),
        },
    });
    // Left empty, the daemon's configured default applies (as in the CLI).
    let commission = form.get("commission").trim();
    if !commission.is_empty() {
        spec["settings"]["commission_pct"] = commission.into();
    }
    let name = form.get("name").trim();
    if !name.is_empty() {
        spec["name"] = name.into();
    }
    Ok(spec)
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
