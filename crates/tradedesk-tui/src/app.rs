//! The dashboard's model and update function. Data received from the
//! daemon ([`DaemonState`]) is kept apart from UI state ([`ViewState`]);
//! [`App::update`] turns a message into a [`Command`] for the main loop,
//! which does all I/O. Rendering (in `render.rs`) only reads.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tradedesk_core::api::system::{HeartbeatEvent, Info};

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
}

/// What the main loop should do after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    None,
    Redraw,
    Quit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Connected,
    Disconnected {
        reason: String,
        since: DateTime<Utc>,
    },
}

/// Everything the daemon told us; kept (and shown as stale) while
/// disconnected.
#[derive(Debug)]
pub struct DaemonState {
    pub link: Link,
    pub info: Option<Info>,
    pub last_beat: Option<HeartbeatEvent>,
}

/// State of the interface itself.
#[derive(Debug)]
pub struct ViewState {
    pub help: bool,
    /// Show times in UTC instead of local time.
    pub utc: bool,
    pub colors: bool,
    pub notice: Option<String>,
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
            daemon: DaemonState {
                link: Link::Connecting,
                info: None,
                last_beat: None,
            },
            view: ViewState {
                help: false,
                utc: false,
                colors,
                notice: None,
            },
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
        }
        Command::Redraw
    }

    fn key(&mut self, key: KeyEvent) -> Command {
        if key.kind != KeyEventKind::Press {
            return Command::None;
        }
        match key.code {
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Command::Quit,
            KeyCode::Esc if self.view.help => {
                self.view.help = false;
                Command::Redraw
            }
            KeyCode::Char('q') | KeyCode::Esc => Command::Quit,
            KeyCode::Char('?') => {
                self.view.help = !self.view.help;
                Command::Redraw
            }
            KeyCode::Char('u') => {
                self.view.utc = !self.view.utc;
                Command::Redraw
            }
            _ => Command::None,
        }
    }

    /// The daemon's uptime as of the latest news from it.
    pub fn uptime_ms(&self) -> Option<u64> {
        match (&self.daemon.last_beat, &self.daemon.info) {
            (Some(b), _) => Some(b.uptime_ms),
            (None, Some(i)) => Some(i.uptime_ms),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(c: KeyCode) -> Msg {
        Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
    }

    fn app() -> App {
        App::new("/tmp/s.sock".into(), DateTime::UNIX_EPOCH)
    }

    #[test]
    fn keys() {
        let mut a = app();
        assert_eq!(a.update(press(KeyCode::Char('x'))), Command::None);
        assert_eq!(a.update(press(KeyCode::Char('?'))), Command::Redraw);
        assert!(a.view.help);
        assert_eq!(
            a.update(press(KeyCode::Esc)),
            Command::Redraw,
            "Esc closes help first"
        );
        assert!(!a.view.help);
        assert_eq!(a.update(press(KeyCode::Char('u'))), Command::Redraw);
        assert!(a.view.utc);
        assert_eq!(a.update(press(KeyCode::Char('q'))), Command::Quit);
        assert_eq!(a.update(press(KeyCode::Esc)), Command::Quit);
        let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(a.update(ctrl_c), Command::Quit);
    }

    #[test]
    fn an_outage_keeps_its_start_and_the_last_data() {
        let mut a = app();
        a.update(Msg::Connected(Box::new(
            crate::render::tests::fixture_info(),
        )));
        let t1 = DateTime::UNIX_EPOCH + chrono::Duration::seconds(10);
        a.update(Msg::Tick(t1));
        a.update(Msg::Disconnected("gone".into()));
        a.update(Msg::Tick(t1 + chrono::Duration::seconds(5)));
        a.update(Msg::Disconnected("still gone".into()));
        assert_eq!(
            a.daemon.link,
            Link::Disconnected {
                reason: "gone".into(),
                since: t1
            }
        );
        assert!(a.daemon.info.is_some(), "stale data is kept");
        a.update(Msg::Connected(Box::new(
            crate::render::tests::fixture_info(),
        )));
        assert_eq!(a.daemon.link, Link::Connected);
    }
}
