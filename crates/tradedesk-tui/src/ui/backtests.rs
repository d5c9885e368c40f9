//! Screen 5, backtests: the list with live progress; an opened result
//! (metrics, equity and drawdown chart, trades); two results compared.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::Text;
use ratatui::widgets::{Paragraph, Row, Table};
use tradedesk_core::analytics::Metrics;
use tradedesk_core::job::JobState;

use super::fmt;
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
        let build = |r: std::ops::Range<usize>| -> Vec<Row<'static>> {
            r.map(|i| {
                let b = rows[i];
                let s = b.summary.as_ref();
                let progress = if b.state == JobState::Running || b.state == JobState::Queued {
                    bar(b.progress)
                } else {
                    b.state.as_str().to_owned()
                };
                let ret = s.map(|s| s.return_pct);
                Row::new(vec![
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
                    Text::from(
                        s.map_or("-".into(), |s| format!("{:.2}%", -s.max_drawdown_pct.abs())),
                    ),
                    Text::from(s.map_or("-".into(), |s| s.trades.to_string())),
                ])
            })
            .collect()
        };
        self.list_for(
            f,
            list,
            Screen::Backtests,
            "Backtests",
            Row::new(vec![
                "Id", "Name", "State", "Return", "Sharpe", "Max DD", "Trades",
            ]),
            &[
                Constraint::Length(6),
                Constraint::Fill(2),
                Constraint::Length(14),
                Constraint::Length(9),
                Constraint::Length(7),
                Constraint::Length(9),
                Constraint::Length(7),
            ],
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
            f.render_widget(
                Paragraph::new("loading the result…").block(self.pane("Result")),
                area,
            );
            return;
        };
        let [metrics, right] =
            Layout::horizontal([Constraint::Length(36), Constraint::Min(0)]).areas(area);
        let rows: Vec<Row> = metric_rows(&d.metrics)
            .into_iter()
            .map(|(k, v)| {
                Row::new(vec![
                    Text::styled(k, self.style(Color::Cyan)),
                    Text::from(v),
                ])
            })
            .collect();
        f.render_widget(
            Table::new(rows, [Constraint::Length(20), Constraint::Min(8)])
                .block(self.pane(&format!("Backtest #{} metrics", d.id))),
            metrics,
        );
        let [chart, trades] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(right);
        self.equity_chart(f, chart, "Equity and drawdown", &d.equity);
        let shown = trades.height.saturating_sub(3) as usize;
        let rows: Vec<Row> = d
            .trades
            .iter()
            .take(shown)
            .map(|t| {
                let pnl = t.pnl.get();
                Row::new(vec![
                    Text::from(t.symbol.to_string()),
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
                ])
            })
            .collect();
        f.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Length(8),
                    Constraint::Length(19),
                    Constraint::Fill(1),
                    Constraint::Fill(1),
                    Constraint::Fill(1),
                    Constraint::Length(9),
                ],
            )
            .header(
                Row::new(vec![
                    "Symbol", "Entry", "Entry px", "Exit px", "PnL", "Return",
                ])
                .style(self.bold()),
            )
            .block(self.pane(&format!("Trades ({})", d.trades.len()))),
            trades,
        );
    }

    fn render_comparison(&self, f: &mut Frame, area: Rect) {
        let runs = &self.daemon.comparison;
        if runs.len() < 2 {
            f.render_widget(Paragraph::new("loading…").block(self.pane("Compare")), area);
            return;
        }
        let (a, b) = (metric_rows(&runs[0].metrics), metric_rows(&runs[1].metrics));
        let rows: Vec<Row> = a
            .into_iter()
            .zip(b)
            .map(|((k, x), (_, y))| {
                Row::new(vec![
                    Text::styled(k, self.style(Color::Cyan)),
                    Text::from(x),
                    Text::from(y),
                ])
            })
            .collect();
        let header = Row::new(vec![
            String::new(),
            format!("#{} {}", runs[0].id, runs[0].name),
            format!("#{} {}", runs[1].id, runs[1].name),
        ])
        .style(self.bold());
        f.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Length(20),
                    Constraint::Fill(1),
                    Constraint::Fill(1),
                ],
            )
            .header(header)
            .block(self.pane("Compare")),
            area,
        );
    }
}

/// A text progress bar: `[#####     ] 50%`.
fn bar(p: u8) -> String {
    let filled = usize::from(p.min(100)) / 10;
    format!("[{}{}]{p:>3}%", "#".repeat(filled), " ".repeat(10 - filled))
}
