//! Screen 7, risk: trading state per scope, limits with their usage,
//! alerts to acknowledge; the kill switch is a typed confirmation.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::Text;

use tradedesk_core::api::risk::Severity;

use super::table::{Cells, Col};
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
        let rows: Vec<Cells> = st
            .iter()
            .map(|s| {
                vec![
                    Text::from(s.scope.to_string()),
                    Text::styled(
                        s.state.as_str().to_uppercase(),
                        self.style(super::state_color(s.state)),
                    ),
                    Text::from(s.reason.clone().unwrap_or_default()),
                ]
            })
            .collect();
        const STATES: [Col; 3] = [
            Col::text("Scope", 8, 9),
            Col::text("Trading", 8, 8),
            Col::text("Reason", 6, 3),
        ];
        self.fitted(
            f,
            states,
            "Trading state (K halt · F halt+flatten · R resume)",
            &STATES,
            rows,
        );
        let rows: Vec<Cells> = us
            .iter()
            .map(|u| {
                let (p, color) = super::usage(&u.percent);
                let filled = ((p / 10.0).round() as usize).min(10);
                vec![
                    Text::from(u.scope.to_string()),
                    Text::from(u.limit.clone()),
                    Text::from(format!(
                        "{} / {}",
                        limit_figure(&u.limit, &u.value),
                        limit_figure(&u.limit, &u.limit_value)
                    )),
                    Text::styled(format!("{}%", u.percent), self.style(color)),
                    Text::styled(
                        format!("{}{}", "█".repeat(filled), "░".repeat(10 - filled)),
                        self.style(color),
                    ),
                ]
            })
            .collect();
        const USAGE: [Col; 5] = [
            Col::text("Scope", 13, 4),
            Col::text("Limit", 15, 8),
            Col::num("Used / limit", 9),
            Col::num("Usage", 7),
            Col::text("", 10, 2),
        ];
        self.fitted(f, usage, "Limits", &USAGE, rows);
        let rows = self.alert_rows();
        let build = |r: std::ops::Range<usize>| -> Vec<Cells> {
            r.map(|i| {
                let a = rows[i];
                let color = match a.severity {
                    Severity::Critical => Color::Red,
                    Severity::Warning => Color::Yellow,
                    Severity::Info => Color::Reset,
                };
                vec![
                    Text::from(format!("#{}", a.id)),
                    Text::from(self.time(a.time)),
                    Text::styled(a.severity.as_str(), self.style(color)),
                    Text::from(if a.acknowledged.is_some() {
                        "ack"
                    } else {
                        "NEW"
                    }),
                    Text::from(a.message.clone()),
                ]
            })
            .collect()
        };
        const ALERTS: [Col; 5] = [
            Col::num("Id", 9),
            Col::num("Time", 4),
            Col::text("Severity", 4, 6),
            Col::text("", 3, 7),
            Col::text("Message", 12, 8),
        ];
        self.list_for(
            f,
            alerts,
            Screen::Risk,
            "Alerts (a acknowledges)",
            &ALERTS,
            rows.len(),
            &build,
        );
    }

    fn render_violations(&self, f: &mut Frame, area: Rect) {
        let shown = area.height.saturating_sub(3) as usize;
        let rows: Vec<Cells> = self
            .daemon
            .violations
            .iter()
            .take(shown)
            .map(|v| {
                vec![
                    Text::from(super::fmt::clock(v.time, self.view.utc)),
                    Text::from(v.source.clone()),
                    Text::from(v.limit.clone()),
                    Text::from(format!(
                        "{} > {}",
                        limit_figure(&v.limit, &v.value),
                        limit_figure(&v.limit, &v.limit_value)
                    )),
                ]
            })
            .collect();
        const COLS: [Col; 4] = [
            Col::num("Time", 6),
            Col::text("Source", 6, 5),
            Col::text("Limit", 8, 8),
            Col::num("Value", 9),
        ];
        self.fitted(
            f,
            area,
            &format!(
                "Violations (refused orders, {})",
                self.daemon.violations.len()
            ),
            &COLS,
            rows,
        );
    }
}

/// A limit's figure as it reads (see [`tradedesk_core::display::limit_figure`]).
fn limit_figure(limit: &str, value: &str) -> String {
    tradedesk_core::display::limit_figure(limit, value)
}
