//! The key bindings: global ones and each screen's, with the labels the
//! help and the footer show.

use super::Action;
use crate::view::Screen;
use crossterm::event::KeyCode;

/// A key, how help shows it, what it does.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub key: KeyCode,
    pub label: &'static str,
    pub what: &'static str,
    pub action: Action,
}

pub(super) const fn bind(
    key: KeyCode,
    label: &'static str,
    what: &'static str,
    action: Action,
) -> Binding {
    Binding {
        key,
        label,
        what,
        action,
    }
}

pub(super) const fn ch(c: char) -> KeyCode {
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

pub(super) const DESK_KEYS: &[Binding] = &[
    bind(ch('n'), "n", "new order", Action::NewOrder),
    bind(ch('a'), "a", "next account", Action::NextAccount),
];

pub(super) const MARKET_KEYS: &[Binding] = &[
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

pub(super) const ORDERS_KEYS: &[Binding] = &[
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

pub(super) const BOTS_KEYS: &[Binding] = &[
    bind(ch('n'), "n", "new bot", Action::NewBot),
    bind(ch('s'), "s", "start", Action::BotStart),
    bind(ch('x'), "x", "stop (cancels its orders)", Action::BotStop),
    bind(ch('X'), "X", "stop and flatten", Action::BotStopFlatten),
    bind(ch('p'), "p", "pause", Action::BotPause),
    bind(ch('r'), "r", "resume", Action::BotResume),
    bind(
        ch('e'),
        "e",
        "enter now (its sizing rule)",
        Action::BotEnter,
    ),
    bind(ch('E'), "E", "exit its position now", Action::BotExit),
    bind(
        KeyCode::Enter,
        "Enter",
        "reload the event log",
        Action::Open,
    ),
];

pub(super) const BACKTESTS_KEYS: &[Binding] = &[
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

pub(super) const JOBS_KEYS: &[Binding] = &[
    bind(ch('f'), "f", "queue / schedules", Action::SwitchPane),
    bind(ch('e'), "e", "enqueue a job", Action::NewJob),
    bind(ch('c'), "c", "cancel the job", Action::JobCancel),
    bind(ch('r'), "r", "retry the job", Action::JobRetry),
    bind(ch('n'), "n", "run the schedule now", Action::RunNow),
];

pub(super) const RISK_KEYS: &[Binding] = &[
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

pub(super) const SYSTEM_KEYS: &[Binding] = &[bind(
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
