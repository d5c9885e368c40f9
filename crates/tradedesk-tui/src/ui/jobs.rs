//! Screen 6, jobs: workers, the queue by state, schedules with their
//! next run.

use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Text;
use ratatui::widgets::Paragraph;

use super::table::{Cells, Col};
use crate::app::{App, job_actions};
use crate::view::{JobsPane, Screen};

impl App {
    pub(super) fn render_jobs(&self, f: &mut Frame, area: Rect) {
        let [top, list] = Layout::vertical([Constraint::Length(4), Constraint::Min(0)]).areas(area);
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for j in self.daemon.jobs.values() {
            *counts.entry(j.state.as_str()).or_default() += 1;
        }
        let by_state: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
        let workers: Vec<String> = self
            .daemon
            .workers
            .iter()
            .map(|w| match (&w.job, &w.kind) {
                (Some(j), Some(k)) => format!(
                    "w{}: #{j} {k} since {}",
                    w.worker,
                    w.since
                        .map_or("-".into(), |t| super::fmt::clock(t, self.view.utc))
                ),
                _ => format!("w{}: idle", w.worker),
            })
            .collect();
        f.render_widget(
            Paragraph::new(format!(
                "Jobs (last {}): {}\nWorkers: {}",
                self.daemon.jobs.len(),
                if by_state.is_empty() {
                    "none".into()
                } else {
                    by_state.join(" · ")
                },
                if workers.is_empty() {
                    "none".into()
                } else {
                    workers.join(" · ")
                }
            ))
            .block(self.pane("Queue")),
            top,
        );
        match self.view.jobs_pane {
            JobsPane::Queue => self.render_queue(f, list),
            JobsPane::Schedules => self.render_schedules(f, list),
        }
    }

    fn render_queue(&self, f: &mut Frame, area: Rect) {
        let rows = self.job_rows();
        let build = |r: std::ops::Range<usize>| -> Vec<Cells> {
            r.map(|i| {
                let j = rows[i];
                let note = j
                    .error
                    .clone()
                    .or_else(|| j.message.clone())
                    .unwrap_or_default();
                vec![
                    Text::from(format!("#{}", j.id)),
                    Text::from(j.kind.clone()),
                    Text::from(j.state.as_str()),
                    Text::from(format!("{}%", j.progress)),
                    Text::from(format!("{}/{}", j.attempts, j.max_attempts)),
                    Text::from(self.time(j.run_at)),
                    Text::from(job_actions(j)),
                    Text::from(note),
                ]
            })
            .collect()
        };
        const COLS: [Col; 8] = [
            Col::num("Id", 9),
            Col::text("Kind", 8, 8),
            Col::text("State", 9, 7),
            Col::num("Done", 5),
            Col::num("Tries", 2),
            Col::num("Run at", 3),
            Col::text("Keys", 7, 1),
            Col::text("Message", 8, 4),
        ];
        self.list_for(
            f,
            area,
            Screen::Jobs,
            "Jobs (f: schedules)",
            &COLS,
            rows.len(),
            &build,
        );
    }

    fn render_schedules(&self, f: &mut Frame, area: Rect) {
        let rows = self.schedule_rows();
        let build = |r: std::ops::Range<usize>| -> Vec<Cells> {
            r.map(|i| {
                let s = rows[i];
                vec![
                    Text::from(format!("#{}", s.id)),
                    Text::from(s.name.clone()),
                    Text::from(format!("{} {}", s.cron, s.tz)),
                    Text::from(s.kind.clone()),
                    Text::from(if s.paused {
                        "paused".to_owned()
                    } else {
                        s.next_run.map_or("-".into(), |t| self.time(t))
                    }),
                    Text::from(s.last_run.map_or("-".into(), |t| self.time(t))),
                ]
            })
            .collect()
        };
        const COLS: [Col; 6] = [
            Col::num("Id", 9),
            Col::text("Name", 6, 8),
            Col::text("Cron", 9, 6),
            Col::text("Kind", 8, 5),
            Col::num("Next run", 7),
            Col::num("Last run", 3),
        ];
        let zone = if self.view.utc { "UTC" } else { "local time" };
        self.list_for(
            f,
            area,
            Screen::Jobs,
            &format!("Schedules, times in {zone} (f: queue, n: run now)"),
            &COLS,
            rows.len(),
            &build,
        );
    }
}
