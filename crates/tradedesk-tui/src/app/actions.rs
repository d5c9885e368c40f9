//! What each action does: the one place a key, a palette command or a
//! confirmation turns into a change of view or a request to the daemon.

use super::{Action, App, BotAction, Command, Request, describe};
use crate::view::{Confirm, JobsPane, Palette, Screen, Then};
use crossterm::event::{KeyCode, KeyEvent};
use tradedesk_core::market::Interval;

impl App {
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
            Action::NextAccount => {
                let names: Vec<&str> = self
                    .daemon
                    .accounts
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect();
                let at = names.iter().position(|n| *n == self.daemon.account);
                let next = at.map_or(0, |i| (i + 1) % names.len().max(1));
                if let Some(a) = self.daemon.accounts.get(next).cloned()
                    && a.name != self.daemon.account
                {
                    // Shown at once; its balances and positions follow.
                    self.daemon
                        .apply(crate::state::Data::Account(a.name.clone(), a.mode));
                    self.daemon.balances.clear();
                    self.daemon.margin = None;
                    self.daemon.positions.clear();
                    return self.send(Request::Account(a.name));
                }
            }
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
            Action::BotEnter | Action::BotExit => {
                let enter = a == Action::BotEnter;
                if let Some(b) = self.bot_rows().get(self.view.selected()) {
                    let (id, name) = (b.bot.id, b.bot.name.clone());
                    self.view.confirm = Some(Confirm {
                        prompt: if enter {
                            format!("Buy now for bot #{id} {name}, at its sizing rule? (y/n)")
                        } else {
                            format!("Sell bot #{id} {name}'s whole position now, at market? (y/n)")
                        },
                        typed: None,
                        then: Then::Send(Request::Bot {
                            id,
                            action: if enter {
                                BotAction::Enter
                            } else {
                                BotAction::Exit
                            },
                        }),
                    });
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

    /// Follows the symbol selected in the watchlist.
    pub(super) fn watch(&mut self) -> Command {
        let Some(symbol) = self.watched() else {
            return Command::Redraw;
        };
        Command::Send(Request::Watch {
            symbol,
            interval: self.view.interval,
        })
    }

    pub(super) fn confirm_key(&mut self, key: KeyEvent) -> Command {
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
    pub(super) fn on_item(
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
}
