//! Screen 5, backtests: the list with live progress; an opened result
//! (metrics, equity and drawdown chart, trades); two results compared.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::Text;
use ratatui::widgets::Paragraph;
use tradedesk_core::analytics::Metrics;
use tradedesk_core::job::JobState;

use super::fmt;
use super::table::{Cells, Col};
use crate::app::App;
use crate::view::Screen;

fn f2(v: Option<f64>) -> String {
    tradedesk_core::display::figure(v, 2)
}

fn pct(v: Option<f64>) -> String {
    match v {
        Some(_) => format!("{}%", tradedesk_core::display::figure(v, 2)),
        None => "-".into(),
    }
}

fn days(ms: Option<i64>) -> String {
    ms.map_or("-".into(), |ms| {
        format!("{:.1} d", ms as f64 / 86_400_000.0)
    })
}

/// The metrics table's rows: label and value.
pub fn metric_rows(m: &Metrics) -> Vec<(&'static str, String)> {
    vec![
        ("Final equity", format!("{:.2}", m.equity_final)),
        ("Return", pct(Some(m.return_pct))),
        ("Buy & hold", pct(m.buy_hold_return_pct)),
        ("Return (ann.)", pct(m.return_ann_pct)),
        ("CAGR", pct(m.cagr_pct)),
        ("Volatility (ann.)", pct(m.volatility_ann_pct)),
        ("Sharpe", f2(m.sharpe)),
        ("Sortino", f2(m.sortino)),
        ("Calmar", f2(m.calmar)),
        ("Sharpe (reference)", f2(m.sharpe_reference)),
        ("Max drawdown", pct(Some(-m.max_drawdown_pct.abs()))),
        ("Avg drawdown", pct(m.avg_drawdown_pct.map(|d| -d.abs()))),
        ("Max DD duration", days(m.max_drawdown_duration_ms)),
        ("Exposure", pct(Some(m.exposure_pct))),
        ("Trades", m.trades.to_string()),
        ("Win rate", pct(m.win_rate_pct)),
        ("Best trade", pct(m.best_trade_pct)),
        ("Worst trade", pct(m.worst_trade_pct)),
        ("Avg trade", pct(m.avg_trade_pct)),
        ("Profit factor", f2(m.profit_factor)),
        ("Expectancy", pct(m.expectancy_pct)),
        ("SQN", f2(m.sqn)),
        ("Kelly", f2(m.kelly)),
        (
            "Alpha / beta",
            format!("{} / {}", pct(m.alpha_pct), f2(m.beta)),
        ),
        ("Fees", format!("{:.2}", m.total_fees)),
        ("Avg trade duration", days(m.avg_trade_duration_ms)),
    ]
}

impl App {
    pub(super) fn render_backtests(&self, f: &mut Frame, area: Rect) {
        let showing = self.view.comparing || self.view.opened.is_some();
        let (list, rest) = if showing {
            let [l, r] = Layout::vertical([Constraint::Length(8), Constraint::Min(0)]).areas(area);
            (l, Some(r))
        } else {
            (area, None)
        };
        let rows = self.backtest_rows();
        let marked = self.view.marked;
        let build = |r: std::ops::Range<usize>| -> Vec<Cells> {
            r.map(|i| {
                let b = rows[i];
                let s = b.summary.as_ref();
                let progress = if b.state == JobState::Running || b.state == JobState::Queued {
                    bar(b.progress)
                } else {
                    b.state.as_str().to_owned()
                };
                let ret = s.map(|s| s.return_pct);
                vec![
                    Text::from(format!(
                        "{}#{}",
                        if marked == Some(b.id) { "*" } else { " " },
                        b.id
                    )),
                    Text::from(b.name.clone()),
                    Text::from(progress),
                    Text::styled(
                        ret.map_or("-".into(), fmt::signed_pct),
                        fmt::pnl_style(
                            ret.is_some_and(|r| r > 0.0),
                            ret.is_some_and(|r| r < 0.0),
                            self.view.colors,
                        ),
                    ),
                    Text::from(f2(s.and_then(|s| s.sharpe))),
                    Text::from(s.map_or("-".into(), |s| pct(Some(-s.max_drawdown_pct.abs())))),
                    Text::from(s.map_or("-".into(), |s| s.trades.to_string())),
                ]
            })
            .collect()
        };
        const COLS: [Col; 7] = [
            Col::num("Id", 9),
            Col::text("Name", 6, 8),
            Col::text("State", 9, 7),
            Col::num("Return", 6),
            Col::num("Sharpe", 5),
            Col::num("Max DD", 4),
            Col::num("Trades", 3),
        ];
        self.list_for(
            f,
            list,
            Screen::Backtests,
            "Backtests",
            &COLS,
            rows.len(),
            &build,
        );
        let Some(rest) = rest else { return };
        if self.view.comparing {
            self.render_comparison(f, rest);
        } else {
            self.render_result(f, rest);
        }
    }

    #[allow(clippy::too_many_lines, reason = "one screen's layout, top to bottom")]
    fn render_result(&self, f: &mut Frame, area: Rect) {
        let Some(d) = self
            .daemon
            .backtest
            .as_ref()
            .filter(|d| Some(d.id) == self.view.opened)
        else {
            let text = match &self.daemon.failed.result {
                Some((id, e)) if Some(*id) == self.view.opened => format!("error: {e}"),
                _ => "loading the result…".to_owned(),
            };
            f.render_widget(
                Paragraph::new(text)
                    .wrap(ratatui::widgets::Wrap { trim: true })
                    .block(self.pane("Result")),
                area,
            );
            return;
        };
        let [metrics, right] =
            Layout::horizontal([Constraint::Length(40), Constraint::Min(0)]).areas(area);
        let rows: Vec<Cells> = metric_rows(&d.metrics)
            .into_iter()
            .map(|(k, v)| vec![Text::styled(k, self.style(Color::Cyan)), Text::from(v)])
            .collect();
        const METRICS: [Col; 2] = [Col::text("", 12, 9), Col::num("", 8)];
        self.fitted(
            f,
            metrics,
            &format!("Backtest #{} metrics", d.id),
            &METRICS,
            rows,
        );
        let [chart, bottom] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(right);
        self.equity_chart(f, chart, "Equity and drawdown", &d.equity);
        let (report, trades) = match &d.report {
            Some(_) if bottom.width >= 100 => {
                let [r, t] =
                    Layout::horizontal([Constraint::Length(44), Constraint::Min(0)]).areas(bottom);
                (Some(r), t)
            }
            _ => (None, bottom),
        };
        if let (Some(area), Some(r)) = (report, &d.report) {
            self.render_report(f, area, r);
        }
        let shown = trades.height.saturating_sub(3) as usize;
        let rows: Vec<Cells> = d
            .trades
            .iter()
            .take(shown)
            .map(|t| {
                let pnl = t.pnl.get();
                vec![
                    Text::from(t.symbol.to_string()),
                    Text::from(t.direction.name()),
                    Text::from(self.time(t.entry_time)),
                    Text::from(t.entry_price.to_string()),
                    Text::from(t.exit_price.to_string()),
                    Text::styled(
                        fmt::signed(pnl),
                        fmt::pnl_style(
                            pnl.is_sign_positive() && !pnl.is_zero(),
                            pnl.is_sign_negative(),
                            self.view.colors,
                        ),
                    ),
                    Text::from(fmt::signed_pct(t.return_pct)),
                    Text::from(t.exit_reason.map_or("-", |r| r.name())),
                ]
            })
            .collect();
        const TRADES: [Col; 8] = [
            Col::text("Symbol", 4, 8),
            Col::text("Side", 5, 5),
            Col::num("Entry", 3),
            Col::num("Entry px", 5),
            Col::num("Exit px", 4),
            Col::num("PnL", 9),
            Col::num("Return", 7),
            Col::text("Why", 6, 11),
        ];
        self.fitted(
            f,
            trades,
            &format!("Trades ({})", d.trades.len()),
            &TRADES,
            rows,
        );
    }

    /// A result's report: trades by direction and by exit reason.
    fn render_report(
        &self,
        f: &mut Frame,
        area: Rect,
        r: &tradedesk_core::backtest::report::Report,
    ) {
        let mut rows: Vec<Cells> = Vec::new();
        for (title, groups) in [("direction", &r.by_direction), ("exit", &r.by_exit_reason)] {
            for g in groups {
                let pnl = g.pnl.get();
                rows.push(vec![
                    Text::styled(format!("{title}: {}", g.key), self.style(Color::Cyan)),
                    Text::from(g.trades.to_string()),
                    Text::from(format!("{:.0}%", g.win_rate_pct)),
                    Text::styled(
                        fmt::signed(pnl.round_dp(2)),
                        fmt::pnl_style(
                            pnl.is_sign_positive() && !pnl.is_zero(),
                            pnl.is_sign_negative(),
                            self.view.colors,
                        ),
                    ),
                ]);
            }
        }
        const COLS: [Col; 4] = [
            Col::text("Trades by", 2, 20),
            Col::num("N", 1),
            Col::num("Win", 3),
            Col::num("PnL", 4),
        ];
        self.fitted(f, area, "Report", &COLS, rows);
    }

    fn render_comparison(&self, f: &mut Frame, area: Rect) {
        let runs = &self.daemon.comparison;
        if let Some(e) = &self.daemon.failed.compare {
            f.render_widget(
                Paragraph::new(format!("error: {e}"))
                    .wrap(ratatui::widgets::Wrap { trim: true })
                    .block(self.pane("Compare")),
                area,
            );
            return;
        }
        if runs.len() < 2 {
            f.render_widget(Paragraph::new("loading…").block(self.pane("Compare")), area);
            return;
        }
        let (a, b) = (metric_rows(&runs[0].metrics), metric_rows(&runs[1].metrics));
        // A rule between the runs: wide values (parameters) never run
        // into each other.
        let rule = || Text::styled("│", self.style(Color::DarkGray));
        let mut rows: Vec<Cells> = vec![vec![
            Text::from(""),
            Text::styled(format!("#{} {}", runs[0].id, runs[0].name), self.bold()),
            rule(),
            Text::styled(format!("#{} {}", runs[1].id, runs[1].name), self.bold()),
        ]];
        // What ran, above what it made.
        let (sa, sb) = (
            tradedesk_core::display::backtest_spec(&runs[0].spec),
            tradedesk_core::display::backtest_spec(&runs[1].spec),
        );
        if !runs[0].spec.is_null() || !runs[1].spec.is_null() {
            // Options neither run set say nothing: left out.
            rows.extend(
                sa.into_iter()
                    .zip(sb)
                    .filter(|((_, x), (_, y))| x != "-" || y != "-")
                    .map(|((k, x), (_, y))| {
                        vec![
                            Text::styled(k, self.style(Color::Yellow)),
                            Text::from(x),
                            rule(),
                            Text::from(y),
                        ]
                    }),
            );
        }
        rows.extend(a.into_iter().zip(b).map(|((k, x), (_, y))| {
            vec![
                Text::styled(k, self.style(Color::Cyan)),
                Text::from(x),
                rule(),
                Text::from(y),
            ]
        }));
        const COLS: [Col; 4] = [
            Col::text("", 12, 9),
            Col::num("", 8),
            Col::text("", 1, 8),
            Col::num("", 7),
        ];
        self.fitted(f, area, "Compare", &COLS, rows);
    }
}

/// A text progress bar: `[#####     ] 50%`.
fn bar(p: u8) -> String {
    let filled = usize::from(p.min(100)) / 10;
    format!("[{}{}]{p:>3}%", "#".repeat(filled), " ".repeat(10 - filled))
}
