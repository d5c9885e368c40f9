//! Drawing. Everything here takes `&App`: rendering cannot change state.

use chrono::{DateTime, Local, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table};
use tradedesk_core::api::system::PreviousShutdown;

use crate::app::{App, Link};

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

const KEYS: &[(&str, &str)] = &[
    ("q / Esc", "quit"),
    ("?", "toggle this help"),
    ("u", "toggle UTC / local time"),
];

impl App {
    pub fn render(&self, f: &mut Frame) {
        let area = f.area();
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            let msg = format!(
                "window too small: {}×{}, tradedesk needs at least {MIN_WIDTH}×{MIN_HEIGHT}",
                area.width, area.height
            );
            f.render_widget(
                Paragraph::new(msg).wrap(ratatui::widgets::Wrap { trim: true }),
                area,
            );
            return;
        }
        let [top, body, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(area);
        self.render_top(f, top);
        self.render_daemon(f, body);
        self.render_bottom(f, bottom);
        if self.view.help {
            Self::render_help(f, body);
        }
    }

    fn style(&self, color: Color) -> Style {
        if self.view.colors {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    fn time(&self, t: DateTime<Utc>) -> String {
        if self.view.utc {
            t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
        } else {
            t.with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        }
    }

    fn render_top(&self, f: &mut Frame, area: Rect) {
        let link = match &self.daemon.link {
            Link::Connecting => Span::styled("connecting…", self.style(Color::Yellow)),
            Link::Connected => Span::styled("● connected", self.style(Color::Green)),
            Link::Disconnected { since, .. } => Span::styled(
                format!("○ DISCONNECTED since {} — reconnecting", self.time(*since)),
                self.style(Color::Red).add_modifier(Modifier::BOLD),
            ),
        };
        let title = Span::styled(" tradedesk ", Style::default().add_modifier(Modifier::BOLD));
        let clock = format!("{} ", self.time(self.now));
        let [left, right] = Layout::horizontal([
            Constraint::Min(0),
            Constraint::Length(clock.chars().count() as u16),
        ])
        .areas(area);
        f.render_widget(Paragraph::new(Line::from(vec![title, link])), left);
        f.render_widget(
            Paragraph::new(clock).alignment(ratatui::layout::Alignment::Right),
            right,
        );
    }

    fn render_daemon(&self, f: &mut Frame, area: Rect) {
        let stale = matches!(self.daemon.link, Link::Disconnected { .. });
        let title = if stale {
            " Daemon (stale) "
        } else {
            " Daemon "
        };
        let block = Block::default().borders(Borders::ALL).title(title);
        let Some(info) = &self.daemon.info else {
            let text = match &self.daemon.link {
                Link::Disconnected { reason, .. } => {
                    format!("No daemon on {}: {reason}", self.socket)
                }
                _ => format!("Connecting to {}…", self.socket),
            };
            f.render_widget(Paragraph::new(text).block(block), area);
            return;
        };
        let previous = match info.previous_shutdown {
            PreviousShutdown::None => "first start".to_owned(),
            PreviousShutdown::Clean => "clean".to_owned(),
            PreviousShutdown::Unclean => "UNCLEAN (killed or crashed)".to_owned(),
        };
        let beat = self.daemon.last_beat.as_ref().map_or_else(
            || "waiting…".to_owned(),
            |b| format!("#{} at {}", b.seq, self.time(b.time)),
        );
        let uptime = self.uptime_ms().map_or_else(String::new, duration);
        let rows = [
            ("version", format!("tradingd {}", info.version)),
            ("pid", info.pid.to_string()),
            ("started", self.time(info.started_at)),
            ("uptime", uptime),
            ("heartbeat", beat),
            ("socket", info.socket.clone()),
            ("data dir", info.data_dir.clone()),
            (
                "database",
                format!("{} ({} bytes)", info.db_path, info.db_size_bytes),
            ),
            (
                "run",
                format!("#{}, previous shutdown {previous}", info.run_number),
            ),
            ("clients", info.connections.to_string()),
        ];
        let label = self.style(Color::Cyan);
        let table = Table::new(
            rows.into_iter()
                .map(|(k, v)| Row::new(vec![Span::styled(k, label), Span::raw(v)])),
            [Constraint::Length(10), Constraint::Min(10)],
        )
        .block(block);
        f.render_widget(table, area);
    }

    fn render_bottom(&self, f: &mut Frame, area: Rect) {
        let text = match &self.view.notice {
            Some(n) => n.clone(),
            None => " q quit  ? help  u UTC/local".to_owned(),
        };
        f.render_widget(
            Paragraph::new(text).style(self.style(Color::DarkGray)),
            area,
        );
    }

    fn render_help(f: &mut Frame, body: Rect) {
        let w = 44.min(body.width);
        let h = (KEYS.len() as u16 + 2).min(body.height);
        let area = Rect {
            x: body.x + (body.width - w) / 2,
            y: body.y + (body.height - h) / 2,
            width: w,
            height: h,
        };
        let rows = KEYS.iter().map(|(k, v)| Row::new(vec![*k, *v]));
        let table = Table::new(rows, [Constraint::Length(10), Constraint::Min(10)])
            .block(Block::default().borders(Borders::ALL).title(" Keys "));
        f.render_widget(Clear, area);
        f.render_widget(table, area);
    }
}

fn duration(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{}d {:02}:{:02}:{:02}",
        s / 86_400,
        (s % 86_400) / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

#[cfg(test)]
pub mod tests {
    use chrono::TimeZone;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use tradedesk_core::api::system::{HeartbeatEvent, Info};

    use crate::app::{App, Msg};

    fn at(s: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc
            .timestamp_opt(1_795_000_000 + s, 0)
            .single()
            .expect("valid")
    }

    pub fn fixture_info() -> Info {
        Info {
            version: "0.1.0".into(),
            pid: 4242,
            started_at: at(0),
            uptime_ms: 3_723_000,
            data_dir: "/home/me/.local/share/tradedesk".into(),
            socket: "/run/user/1000/tradedesk/tradingd.sock".into(),
            db_path: "/home/me/.local/share/tradedesk/tradedesk.db".into(),
            db_size_bytes: 24_576,
            run_number: 3,
            previous_shutdown: tradedesk_core::api::system::PreviousShutdown::Clean,
            connections: 2,
        }
    }

    fn app() -> App {
        let mut app = App::new("/run/user/1000/tradedesk/tradingd.sock".into(), at(3723));
        app.view.utc = true;
        app.view.colors = false;
        app
    }

    fn draw(app: &App, w: u16, h: u16) -> TestBackend {
        let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        t.draw(|f| app.render(f)).expect("draw");
        t.backend().clone()
    }

    fn connected() -> App {
        let mut a = app();
        a.update(Msg::Connected(Box::new(fixture_info())));
        a.update(Msg::Heartbeat(HeartbeatEvent {
            seq: 3723,
            time: at(3723),
            uptime_ms: 3_723_000,
        }));
        a
    }

    #[test]
    fn connected_120x40() {
        insta::assert_snapshot!(draw(&connected(), 120, 40));
    }

    #[test]
    fn connected_80x24_with_help() {
        let mut a = connected();
        a.view.help = true;
        insta::assert_snapshot!(draw(&a, 80, 24));
    }

    #[test]
    fn disconnected_keeps_stale_data() {
        let mut a = connected();
        a.update(Msg::Disconnected("the daemon closed the connection".into()));
        insta::assert_snapshot!(draw(&a, 80, 24));
    }

    #[test]
    fn no_daemon_yet() {
        let mut a = app();
        a.update(Msg::Disconnected("daemon not reachable".into()));
        insta::assert_snapshot!(draw(&a, 80, 24));
    }

    #[test]
    fn too_small_says_so_without_panicking() {
        let a = connected();
        for (w, h) in [(79, 24), (80, 23), (20, 5), (1, 1)] {
            let text = format!("{}", draw(&a, w, h));
            assert!(text.contains("too") || w < 10, "{w}x{h}: {text}");
        }
    }
}
