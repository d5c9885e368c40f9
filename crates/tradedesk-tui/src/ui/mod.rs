//! Drawing. Everything here takes `&App`: rendering cannot change state.
//! This module draws the frame (tabs, status bar, overlays); each screen
//! has a module of its own.

mod backtests;
mod bots;
pub mod candles;
mod desk;
pub mod fmt;
mod jobs;
mod market;
mod orders;
mod risk;
mod system;
pub mod table;
#[cfg(test)]
pub mod tests;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Chart, Clear, Dataset, GraphType, Paragraph, Row, Table, TableState, Wrap,
};

use self::table::{Cells, Col};
use crate::app::{App, GLOBAL_KEYS, palette_matches, screen_keys};
use crate::state::Link;
use crate::view::{FormKind, Screen};

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

impl App {
    pub fn render(&self, f: &mut Frame) {
        let area = f.area();
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            let msg = format!(
                "window too small: {}×{}, tradedesk needs at least {MIN_WIDTH}×{MIN_HEIGHT}",
                area.width, area.height
            );
            f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
            return;
        }
        let [top, body, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(area);
        self.render_top(f, top);
        if self.daemon.info.is_none() {
            self.render_no_daemon(f, body);
        } else {
            match self.view.screen {
                Screen::Desk => self.render_desk(f, body),
                Screen::Market => self.render_market(f, body),
                Screen::Orders => self.render_orders(f, body),
                Screen::Bots => self.render_bots(f, body),
                Screen::Backtests => self.render_backtests(f, body),
                Screen::Jobs => self.render_jobs(f, body),
                Screen::Risk => self.render_risk(f, body),
                Screen::System => self.render_system(f, body),
            }
        }
        self.render_bottom(f, bottom);
        if self.view.help {
            self.render_help(f, body);
        }
        if self.view.form.is_some() {
            self.render_form(f, body);
        }
        if self.view.palette.is_some() {
            self.render_palette(f, body);
        }
        if self.view.confirm.is_some() {
            self.render_confirm(f, body);
        }
    }

    pub(crate) fn style(&self, color: Color) -> Style {
        if self.view.colors {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    #[allow(clippy::unused_self, reason = "styles belong to the app, like `style`")]
    pub(crate) fn bold(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    /// The highlight of a selected row (reversed, so it shows without colour).
    #[allow(clippy::unused_self, reason = "styles belong to the app, like `style`")]
    pub(crate) fn selected_style(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    /// A bordered pane; its title says when the data is stale.
    pub(crate) fn pane(&self, title: &str) -> Block<'static> {
        let title = if self.daemon.stale() {
            format!(" {title} (stale) ")
        } else {
            format!(" {title} ")
        };
        Block::default().borders(Borders::ALL).title(title)
    }

    /// Masks a value in privacy mode.
    pub(crate) fn private(&self, s: String) -> String {
        if self.view.privacy {
            fmt::MASK.to_owned()
        } else {
            s
        }
    }

    pub(crate) fn time(&self, t: tradedesk_core::time::Timestamp) -> String {
        fmt::time(t, self.view.utc)
    }

    /// A table of `rows` (already built for the visible window) with the
    /// list's selection; only the window around the selection is built,
    /// so long lists cost their height, not their length. Columns that do
    /// not fit are dropped whole (see [`table`]).
    #[allow(clippy::too_many_arguments)] // a table's parts
    pub(crate) fn list_for(
        &self,
        f: &mut Frame,
        area: Rect,
        screen: Screen,
        title: &str,
        cols: &[Col],
        total: usize,
        build: &dyn Fn(std::ops::Range<usize>) -> Vec<Cells>,
    ) {
        let visible = area.height.saturating_sub(3) as usize;
        let sel = self.view.selected[screen.index()].min(total.saturating_sub(1));
        let start = if visible == 0 {
            0
        } else {
            sel.saturating_sub(visible - 1)
        };
        let end = (start + visible).min(total);
        let filter = &self.view.filter[screen.index()];
        let title = if filter.is_empty() {
            format!("{title} ({total})")
        } else {
            format!("{title} ({total}, filter “{filter}”)")
        };
        let table = table::table(
            cols,
            build(start..end),
            area.width.saturating_sub(2),
            self.bold(),
        )
        .block(self.pane(&title))
        .row_highlight_style(self.selected_style());
        let mut state = TableState::default();
        if total > 0 {
            state.select(Some(sel - start));
        }
        f.render_stateful_widget(table, area, &mut state);
    }

    /// A table in a pane, its columns fitted to the pane's width.
    pub(crate) fn fitted(
        &self,
        f: &mut Frame,
        area: Rect,
        title: &str,
        cols: &[Col],
        rows: Vec<Cells>,
    ) {
        let table = table::table(cols, rows, area.width.saturating_sub(2), self.bold())
            .block(self.pane(title));
        f.render_widget(table, area);
    }

    fn render_top(&self, f: &mut Frame, area: Rect) {
        let link = match &self.daemon.link {
            Link::Connecting => Span::styled("connecting…", self.style(Color::Yellow)),
            Link::Connected => Span::styled("● connected", self.style(Color::Green)),
            Link::Disconnected { since, .. } => Span::styled(
                format!(
                    "○ DISCONNECTED since {}",
                    fmt::clock_of(*since, self.view.utc)
                ),
                self.style(Color::Red).add_modifier(Modifier::BOLD),
            ),
        };
        // Narrow windows name only the current screen.
        let narrow = area.width < 140;
        let mut spans = vec![Span::styled(
            if narrow { " " } else { " tradedesk " },
            self.bold(),
        )];
        for s in Screen::ALL {
            let label = if narrow && s != self.view.screen {
                format!("{} ", s.index() + 1)
            } else {
                format!("{} {} ", s.index() + 1, s.title())
            };
            if s == self.view.screen {
                spans.push(Span::styled(label, self.selected_style()));
            } else {
                spans.push(Span::raw(label));
            }
        }
        spans.push(Span::raw(" "));
        spans.push(link);
        let zone = if self.view.utc { " UTC" } else { "" };
        let clock = format!("{}{zone} ", fmt::datetime(self.now, self.view.utc));
        if let (Link::Connected, Some(up)) = (&self.daemon.link, self.uptime_ms()) {
            // The uptime only when it fits whole beside the clock.
            let up = format!(" · up {}", fmt::duration(up));
            let used: usize = spans.iter().map(Span::width).sum();
            if used + up.chars().count() + 1 + clock.chars().count() <= usize::from(area.width) {
                spans.push(Span::raw(up));
            }
        }
        let [left, right] = Layout::horizontal([
            Constraint::Min(0),
            Constraint::Length(clock.chars().count() as u16),
        ])
        .areas(area);
        f.render_widget(Paragraph::new(Line::from(spans)), left);
        f.render_widget(Paragraph::new(clock), right);
    }

    fn render_no_daemon(&self, f: &mut Frame, area: Rect) {
        let text = match &self.daemon.link {
            Link::Disconnected { reason, .. } => {
                format!(
                    "No daemon on {}: {reason}\nRetrying every second.",
                    self.socket
                )
            }
            _ => format!("Connecting to {}…", self.socket),
        };
        f.render_widget(Paragraph::new(text).block(self.pane("tradingd")), area);
    }

    fn render_bottom(&self, f: &mut Frame, area: Rect) {
        let v = &self.view;
        let text = if v.filtering {
            format!(" /{}▏  Enter keep · Esc clear", v.filter())
        } else if let Some(n) = &v.notice {
            format!(" {n}")
        } else if let Link::Disconnected { reason, .. } = &self.daemon.link {
            format!(" daemon: {reason}")
        } else {
            let keys: Vec<String> = screen_keys(v.screen)
                .iter()
                .filter(|b| !b.what.is_empty())
                .take(5)
                .map(|b| format!("{} {}", b.label, b.what))
                .collect();
            format!(" {}  · ? help  : commands  q quit", keys.join("  "))
        };
        let pending = if v.in_flight > 0 {
            format!(" {} pending ", v.in_flight)
        } else {
            String::new()
        };
        let masked = if v.privacy { " masked " } else { "" };
        let [left, right] = Layout::horizontal([
            Constraint::Min(0),
            Constraint::Length((pending.len() + masked.len()) as u16),
        ])
        .areas(area);
        f.render_widget(
            Paragraph::new(text).style(self.style(Color::DarkGray)),
            left,
        );
        f.render_widget(Paragraph::new(format!("{pending}{masked}")), right);
    }

    fn render_help(&self, f: &mut Frame, body: Rect) {
        let keys: Vec<(&str, &str)> = screen_keys(self.view.screen)
            .iter()
            .chain(GLOBAL_KEYS)
            .filter(|b| !b.what.is_empty())
            .map(|b| (b.label, b.what))
            .collect();
        let area = centered(body, 54, keys.len() as u16 + 3);
        let rows = keys.into_iter().map(|(k, v)| Row::new(vec![k, v]));
        let table = Table::new(rows, [Constraint::Length(12), Constraint::Min(10)]).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" Keys: {} (Esc closes) ", self.view.screen.title())),
        );
        f.render_widget(Clear, area);
        f.render_widget(table, area);
    }

    fn render_palette(&self, f: &mut Frame, body: Rect) {
        let Some(p) = &self.view.palette else { return };
        let found = palette_matches(&p.input);
        let area = centered(body, 52, 13);
        let mut lines = vec![Line::from(format!(":{}▏", p.input)), Line::from("")];
        for (i, (name, _)) in found.iter().enumerate().take(8) {
            let st = if i == p.selected {
                self.selected_style()
            } else {
                Style::default()
            };
            lines.push(Line::styled(format!(" {name}"), st));
        }
        if let Some(e) = &p.error {
            lines.push(Line::styled(format!(" ✗ {e}"), self.style(Color::Red)));
        } else if found.is_empty() {
            lines.push(Line::styled(
                " unknown command".to_owned(),
                self.style(Color::Red),
            ));
        }
        f.render_widget(Clear, area);
        f.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Command (Tab completes, Enter runs) "),
            ),
            area,
        );
    }

    fn render_confirm(&self, f: &mut Frame, body: Rect) {
        let Some(c) = &self.view.confirm else { return };
        let area = centered(body, 60, 7);
        let mut lines = vec![Line::from(c.prompt.clone())];
        if let Some((want, typed)) = &c.typed {
            lines.push(Line::from(""));
            lines.push(Line::from(format!(
                "> {typed}▏   (type {want}; Esc cancels)"
            )));
        }
        f.render_widget(Clear, area);
        f.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: true }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Confirm ")
                    .border_style(self.style(Color::Yellow)),
            ),
            area,
        );
    }

    #[allow(clippy::too_many_lines, reason = "one dialog, top to bottom")]
    fn render_form(&self, f: &mut Frame, body: Rect) {
        let Some(form) = &self.view.form else { return };
        let extra = if form.kind == FormKind::Order { 4 } else { 2 };
        let area = centered(body, 76, form.fields.len() as u16 + extra + 6);
        // Fields beyond the room scroll: a window around the focused one.
        let room = usize::from(area.height.saturating_sub(2 + 6)).max(1);
        let start = form
            .focus
            .saturating_sub(room - 1)
            .min(form.fields.len().saturating_sub(room));
        let shown = start..(start + room).min(form.fields.len());
        let mut lines = Vec::new();
        if start > 0 {
            lines.push(Line::styled(
                format!("  ↑ {start} more"),
                self.style(Color::DarkGray),
            ));
        }
        for (i, field) in form.fields.iter().enumerate() {
            if !shown.contains(&i) {
                continue;
            }
            let focused = i == form.focus;
            let value = if field.choices.is_empty() {
                if focused {
                    format!("{}▏", field.value)
                } else {
                    field.value.clone()
                }
            } else {
                format!("‹ {} ›", field.value)
            };
            let marker = if focused { "▶ " } else { "  " };
            let mut spans = vec![
                Span::raw(marker),
                Span::styled(format!("{:<16}", field.label), self.style(Color::Cyan)),
                Span::styled(
                    value,
                    if focused {
                        self.bold()
                    } else {
                        Style::default()
                    },
                ),
            ];
            if form.error_field.as_deref() == Some(field.key.as_str()) {
                spans.push(Span::styled("  ✗ here", self.style(Color::Red)));
            } else if focused && !field.hint.is_empty() {
                spans.push(Span::styled(
                    format!("  {}", field.hint),
                    self.style(Color::DarkGray),
                ));
            }
            lines.push(Line::from(spans));
        }
        let below = form.fields.len().saturating_sub(shown.end);
        if below > 0 {
            lines.push(Line::styled(
                format!("  ↓ {below} more"),
                self.style(Color::DarkGray),
            ));
        } else {
            lines.push(Line::from(""));
        }
        if let Some(e) = &form.error {
            lines.push(Line::styled(format!("✗ {e}"), self.style(Color::Red)));
        }
        if form.pending {
            lines.push(Line::from("sending…"));
        }
        if form.kind == FormKind::Order {
            let current = form.checked.as_ref() == Some(&form.values());
            let line = match (&self.daemon.check, current) {
                (Some(c), true) if c.approved => Line::styled(
                    "✓ risk check passed: Enter places the order".to_owned(),
                    self.style(Color::Green),
                ),
                (Some(c), true) => Line::styled(
                    format!(
                        "✗ risk check: {}",
                        c.rejection
                            .as_ref()
                            .map_or("rejected", |r| r.message.as_str())
                    ),
                    self.style(Color::Red),
                ),
                (None, true) => Line::from("checking…"),
                _ => Line::from("Enter runs the pre-trade risk check"),
            };
            lines.push(line);
        }
        lines.push(Line::styled(
            "Tab/↑↓ field · ←/→ choice · Enter submit · Esc close".to_owned(),
            self.style(Color::DarkGray),
        ));
        f.render_widget(Clear, area);
        f.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" {} ", form.title)),
            ),
            area,
        );
    }
}

/// The y-range of a series: its low and high, widened about their middle
/// to at least 0.1 % of its level (and at least 0.01) so a flat or nearly
/// flat series draws as a level line, not as magnified noise.
pub(crate) fn y_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !lo.is_finite() {
        return None;
    }
    let min_span = (hi.abs().max(lo.abs()) * 0.001).max(0.01);
    if hi - lo >= min_span {
        return Some((lo, hi));
    }
    let mid = f64::midpoint(lo, hi);
    Some((mid - min_span / 2.0, mid + min_span / 2.0))
}

impl App {
    /// An equity curve with its drawdown drawn in a band beneath it (0 %
    /// at the band's top); x is real time, labelled at both ends and the
    /// middle. No legend over the data: the title names the lines.
    pub(crate) fn equity_chart(
        &self,
        f: &mut Frame,
        area: Rect,
        title: &str,
        points: &[tradedesk_core::api::backtests::EquityPoint],
    ) {
        let long = format!("{title} · equity above, drawdown below");
        let title = if long.chars().count() + 4 <= usize::from(area.width) {
            long
        } else {
            title.to_owned()
        };
        if points.len() < 2 {
            f.render_widget(
                Paragraph::new("no equity samples yet").block(self.pane(&title)),
                area,
            );
            return;
        }
        let t0 = points[0].time.millis();
        let x = |t: i64| (t - t0) as f64;
        let equity: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (x(p.time.millis()), p.equity))
            .collect();
        let Some((lo, hi)) = y_range(equity.iter().map(|p| p.1)) else {
            return;
        };
        let span = hi - lo;
        // The band runs from 0 % (its top) to the deepest drawdown.
        let deepest = points
            .iter()
            .map(|p| p.drawdown_pct.abs())
            .fold(0.0, f64::max);
        let dd: Vec<(f64, f64)> = points
            .iter()
            .map(|p| {
                let depth = if deepest > 0.0 {
                    p.drawdown_pct.abs() / deepest
                } else {
                    0.0
                };
                (x(p.time.millis()), lo - depth * span / 2.0)
            })
            .collect();
        let last = points[points.len() - 1].time;
        let last_x = x(last.millis()).max(1.0);
        // Times as they read: a date for runs over days, else the time.
        let days = last_x >= 2.0 * 86_400_000.0;
        let label = |ms: f64| {
            let t = tradedesk_core::time::Timestamp(t0 + ms as i64);
            let full = self.time(t);
            if days {
                full.get(..10).unwrap_or(&full).to_owned()
            } else {
                full.get(11..16).unwrap_or(&full).to_owned()
            }
        };
        // As many whole labels as fit under the plot (never a cut date).
        let room = usize::from(area.width.saturating_sub(14));
        let wide = label(0.0).chars().count() + 2;
        let x_labels = if room >= 3 * wide {
            vec![label(0.0), label(last_x / 2.0), label(last_x)]
        } else if room >= 2 * wide {
            vec![label(0.0), label(last_x)]
        } else {
            Vec::new()
        };
        let x_axis = Axis::default().bounds([0.0, last_x]).labels(x_labels);
        let chart = Chart::new(vec![
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(self.style(Color::Cyan))
                .data(&equity),
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(self.style(Color::Red))
                .data(&dd),
        ])
        .legend_position(None)
        .block(self.pane(&title))
        .x_axis(x_axis)
        .y_axis(Axis::default().bounds([lo - span / 2.0, hi]).labels(vec![
            format!("dd {deepest:.1}%"),
            tradedesk_core::display::figure(Some(lo), 0),
            tradedesk_core::display::figure(Some(hi), 0),
        ]));
        f.render_widget(chart, area);
    }
}

/// How a trading state shows: active green, reducing yellow, halted red.
pub(crate) fn state_color(s: tradedesk_core::risk::TradingState) -> Color {
    match s {
        tradedesk_core::risk::TradingState::Active => Color::Green,
        tradedesk_core::risk::TradingState::Reducing => Color::Yellow,
        tradedesk_core::risk::TradingState::Halted => Color::Red,
    }
}

/// A limit's use as a number (its `percent` is a decimal string) and its
/// colour: green below 80 %, yellow to 100 %, red at or beyond.
pub(crate) fn usage(percent: &str) -> (f64, Color) {
    let p: f64 = percent.parse().unwrap_or(0.0);
    let color = if p >= 100.0 {
        Color::Red
    } else if p >= 80.0 {
        Color::Yellow
    } else {
        Color::Green
    };
    (p, color)
}

/// A box of at most `w`×`h` centred in `r`.
pub fn centered(r: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(r.width);
    let h = h.min(r.height);
    Rect {
        x: r.x + (r.width - w) / 2,
        y: r.y + (r.height - h) / 2,
        width: w,
        height: h,
    }
}
