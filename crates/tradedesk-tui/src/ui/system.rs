//! Screen 8, system: the daemon (version, uptime, files, clients) and its
//! cache (per-namespace figures).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Span, Text};
use ratatui::widgets::{Row, Table};
use tradedesk_core::api::system::PreviousShutdown;

use super::fmt;
use super::table::{Cells, Col};
use crate::app::App;

impl App {
    #[allow(clippy::too_many_lines, reason = "one screen's layout, top to bottom")]
    pub(super) fn render_system(&self, f: &mut Frame, area: Rect) {
        let [daemon, cache] =
            Layout::vertical([Constraint::Length(12), Constraint::Min(0)]).areas(area);
        let label = self.style(Color::Cyan);
        let rows: Vec<Row> = match &self.daemon.info {
            None => Vec::new(),
            Some(info) => {
                let previous = match info.previous_shutdown {
                    PreviousShutdown::None => "first start",
                    PreviousShutdown::Clean => "clean",
                    PreviousShutdown::Unclean => "UNCLEAN (killed or crashed)",
                };
                let beat = self.daemon.last_beat.as_ref().map_or_else(
                    || "waiting…".to_owned(),
                    |b| format!("#{} at {}", b.seq, fmt::datetime(b.time, self.view.utc)),
                );
                [
                    ("version", format!("tradingd {}", info.version)),
                    ("pid", info.pid.to_string()),
                    ("started", fmt::datetime(info.started_at, self.view.utc)),
                    (
                        "uptime",
                        self.uptime_ms().map_or_else(String::new, fmt::duration),
                    ),
                    ("heartbeat", beat),
                    ("socket", info.socket.clone()),
                    (
                        "database",
                        format!("{} ({} bytes)", info.db_path, info.db_size_bytes),
                    ),
                    (
                        "run",
                        format!("#{}, previous shutdown {previous}", info.run_number),
                    ),
                    ("clients", info.connections.to_string()),
                ]
                .into_iter()
                .map(|(k, v)| Row::new(vec![Span::styled(k, label), Span::raw(v)]))
                .collect()
            }
        };
        f.render_widget(
            Table::new(rows, [Constraint::Length(10), Constraint::Min(10)])
                .block(self.pane("Daemon")),
            daemon,
        );
        let Some(c) = &self.daemon.cache else {
            f.render_widget(
                Table::new(Vec::<Row>::new(), [Constraint::Min(1)]).block(self.pane("Cache")),
                cache,
            );
            return;
        };
        let rate = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{:.1}%", r * 100.0));
        let mut rows: Vec<Cells> = c
            .namespaces
            .iter()
            .map(|n| {
                let s = &n.stats;
                vec![
                    Text::from(n.namespace.to_string()),
                    Text::from(format!("{} s", n.ttl_s)),
                    Text::from(s.entries.to_string()),
                    Text::from(s.bytes.to_string()),
                    Text::from(s.hits.to_string()),
                    Text::from(s.misses.to_string()),
                    Text::from(rate(s.hit_rate)),
                    Text::from(s.evictions.to_string()),
                    Text::from(s.expirations.to_string()),
                ]
            })
            .collect();
        let t = &c.total;
        let bold = |v: String| Text::styled(v, self.bold());
        rows.push(vec![
            bold("total".to_owned()),
            bold(String::new()),
            bold(t.entries.to_string()),
            bold(t.bytes.to_string()),
            bold(t.hits.to_string()),
            bold(t.misses.to_string()),
            bold(rate(t.hit_rate)),
            bold(t.evictions.to_string()),
            bold(t.expirations.to_string()),
        ]);
        let used = t.bytes as f64 / c.max_bytes.max(1) as f64 * 100.0;
        const COLS: [Col; 9] = [
            Col::text("Namespace", 8, 9),
            Col::num("TTL", 3),
            Col::num("Entries", 7),
            Col::num("Bytes", 6),
            Col::num("Hits", 5),
            Col::num("Misses", 4),
            Col::num("Hit rate", 8),
            Col::num("Evicted", 2),
            Col::num("Expired", 1),
        ];
        self.fitted(
            f,
            cache,
            &format!(
                "Cache ({used:.1}% of {} MiB; F flushes)",
                c.max_bytes / (1024 * 1024)
            ),
            &COLS,
            rows,
        );
    }
}
