//! Screen 7, risk: trading state per scope, limits with their usage,
//! alerts to acknowledge; the kill switch is a typed confirmation.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::Text;
use ratatui::widgets::{Row, Table};
use tradedesk_core::api::risk::Severity;

use crate::app::App;
use crate::view::Screen;

impl App {
    #[allow(clippy::too_many_lines, reason = "one screen's layout, top to bottom")]
    pub(super) fn render_risk(&self, f: &mut Frame, area: Rect) {
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
        let [alerts, violations] = if area.width >= 110 {
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(bottom)
        } else {
            Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(bottom)
        };
        self.render_violations(f, violations);
        let [states, usage] =
            Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(top);
        let (st, us) = match &self.daemon.risk {
            Some(r) => (r.states.as_slice(), r.usage.as_slice()),
            None => (&[][..], &[][..]),
        };
        let rows: Vec<Row> = st
            .iter()
            .map(|s| {
                Row::new(vec![
                    Text::from(s.scope.to_string()),
                    Text::styled(
                        s.state.as_str().to_uppercase(),
                        self.style(super::state_color(s.state)),
                    ),
                    Text::from(s.reason.clone().unwrap_or_default()),
                ])
            })
            .collect();
        f.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Fill(1),
                    Constraint::Length(9),
                    Constraint::Fill(1),
                ],
            )
            .header(Row::new(vec!["Scope", "Trading", "Reason"]).style(self.bold()))
            .block(self.pane("Trading state (K halt · F halt+flatten · R resume)")),
            states,
        );
        let rows: Vec<Row> = us
            .iter()
            .map(|u| {
                let (p, color) = super::usage(&u.percent);
                let filled = ((p / 10.0).round() as usize).min(10);
                Row::new(vec![
                    Text::from(u.scope.to_string()),
                    Text::from(u.limit.clone()),
                    Text::from(format!("{} / {}", u.value, u.limit_value)),
                    Text::styled(
                        format!(
                            "{}{} {}%",
                            "█".repeat(filled),
                            "░".repeat(10 - filled),
                            u.percent
                        ),
                        self.style(color),
                    ),
                ])
            })
            .collect();
        f.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Length(14),
                    Constraint::Fill(1),
                    Constraint::Fill(1),
                    Constraint::Length(18),
                ],
            )
            .header(Row::new(vec!["Scope", "Limit", "Used / limit", "Usage"]).style(self.bold()))
            .block(self.pane("Limits")),
            usage,
        );
        let rows = self.alert_rows();
        let build = |r: std::ops::Range<usize>| -> Vec<Row<'static>> {
            r.map(|i| {
                let a = rows[i];
                let color = match a.severity {
                    Severity::Critical => Color::Red,
                    Severity::Warning => Color::Yellow,
                    Severity::Info => Color::Reset,
                };
                Row::new(vec![
                    Text::from(format!("#{}", a.id)),
                    Text::from(self.time(a.time)),
                    Text::styled(a.severity.as_str(), self.style(color)),
                    Text::from(if a.acknowledged.is_some() {
                        "ack"
                    } else {
                        "NEW"
                    }),
                    Text::from(a.message.clone()),
                ])
            })
            .collect()
        };
        self.list_for(
            f,
            alerts,
            Screen::Risk,
            "Alerts (a acknowledges)",
            Row::new(vec!["Id", "Time", "Severity", "", "Message"]),
            &[
                Constraint::Length(6),
                Constraint::Length(19),
                Constraint::Length(8),
                Constraint::Length(3),
                Constraint::Fill(1),
            ],
            rows.len(),
            &build,
        );
    }

    fn render_violations(&self, f: &mut Frame, area: Rect) {
        let shown = area.height.saturating_sub(3) as usize;
        let rows: Vec<Row> = self
            .daemon
            .violations
            .iter()
            .take(shown)
            .map(|v| {
                Row::new(vec![
                    Text::from(super::fmt::clock(v.time, self.view.utc)),
                    Text::from(v.source.clone()),
                    Text::from(v.limit.clone()),
                    Text::from(format!("{} > {}", v.value, v.limit_value)),
                ])
            })
            .collect();
        f.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Length(8),
                    Constraint::Length(10),
                    Constraint::Fill(1),
                    Constraint::Fill(1),
                ],
            )
            .header(Row::new(vec!["Time", "Source", "Limit", "Value"]).style(self.bold()))
            .block(self.pane(&format!(
                "Violations (refused orders, {})",
                self.daemon.violations.len()
            ))),
            area,
        );
    }
}
