//! Screen 1, the desk: equity and today's PnL, balances, positions, bots,
//! risk state and the latest alerts.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Row, Sparkline, Table};
use rust_decimal::Decimal;
use tradedesk_core::risk::TradingState;

use tradedesk_core::money::Notional;

use super::fmt;
use crate::app::App;

impl App {
    /// A bot's PnL: its equity less its allocation, both valued in the
    /// quote asset at last prices.
    pub(super) fn render_desk(&self, f: &mut Frame, area: Rect) {
        let [top, middle, bottom] = Layout::vertical([
            Constraint::Length(7),
            Constraint::Fill(1),
            Constraint::Fill(1),
        ])
        .areas(area);
        let [equity, risk] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(top);
        self.render_equity(f, equity);
        self.render_risk_gauges(f, risk);
        let [balances, positions] =
            Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)])
                .areas(middle);
        self.render_balances(f, balances);
        self.render_positions(f, positions);
        let [bots, alerts] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(bottom);
        self.render_desk_bots(f, bots);
        self.render_desk_alerts(f, alerts);
    }

    fn render_equity(&self, f: &mut Frame, area: Rect) {
        let d = &self.daemon;
        let quote = d.symbols.first().map_or("", |s| s.quote.as_str());
        let block = self.pane(&format!("Account {}", d.account));
        let inner = block.inner(area);
        f.render_widget(block, area);
        let [text, spark] =
            Layout::horizontal([Constraint::Length(34), Constraint::Min(0)]).areas(inner);
        let equity = d
            .account_equity()
            .map_or_else(|| "-".to_owned(), |e| format!("{} {quote}", fmt::money(e)));
        let realized = d
            .today
            .as_ref()
            .map_or(Decimal::ZERO, |t| t.realized_pnl.get());
        let open = d.unrealized();
        let today = realized + open;
        let pnl = |v: Decimal| {
            Span::styled(
                self.private(fmt::signed(v)),
                fmt::pnl_style(v > Decimal::ZERO, v < Decimal::ZERO, self.view.colors),
            )
        };
        let lines = vec![
            Line::from(vec![
                Span::styled("Equity     ", self.style(Color::Cyan)),
                Span::styled(self.private(equity), self.bold()),
            ]),
            Line::from(vec![
                Span::styled("Today PnL  ", self.style(Color::Cyan)),
                pnl(today),
            ]),
            Line::from(vec![Span::raw("  realized "), pnl(realized)]),
            Line::from(vec![Span::raw("  open     "), pnl(open)]),
            Line::from(format!(
                "Fills today {}  fees {}",
                d.today.as_ref().map_or(0, |t| t.count),
                self.private(fmt::money(
                    d.today.as_ref().map_or(Decimal::ZERO, |t| t.fees.get())
                ))
            )),
        ];
        f.render_widget(Paragraph::new(lines), text);
        if !self.view.privacy && spark.width > 4 {
            // Relative to the window's low, so small moves show.
            let w = spark.width as usize;
            let tail: Vec<f64> = d.equity.iter().rev().take(w).rev().copied().collect();
            let lo = tail.iter().copied().fold(f64::INFINITY, f64::min);
            let data: Vec<u64> = tail.iter().map(|e| ((e - lo) * 100.0) as u64 + 1).collect();
            f.render_widget(
                Sparkline::default()
                    .data(&data)
                    .style(self.style(Color::Cyan)),
                spark,
            );
        }
    }

    fn render_risk_gauges(&self, f: &mut Frame, area: Rect) {
        let block = self.pane("Risk");
        let inner = block.inner(area);
        f.render_widget(block, area);
        let Some(risk) = &self.daemon.risk else {
            f.render_widget(Paragraph::new("waiting for the risk status…"), inner);
            return;
        };
        let state = risk
            .states
            .iter()
            .map(|s| s.state)
            .max_by_key(|s| match s {
                TradingState::Active => 0,
                TradingState::Reducing => 1,
                TradingState::Halted => 2,
            })
            .unwrap_or(TradingState::Active);
        let color = super::state_color(state);
        let mut rows = vec![Constraint::Length(1)];
        rows.extend(std::iter::repeat_n(
            Constraint::Length(1),
            inner.height.saturating_sub(1) as usize,
        ));
        let areas = Layout::vertical(rows).split(inner);
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::raw("Trading "),
                Span::styled(
                    state.as_str().to_uppercase(),
                    self.style(color)
                        .add_modifier(ratatui::style::Modifier::BOLD),
                ),
            ])),
            areas[0],
        );
        let mut usage: Vec<_> = risk.usage.iter().collect();
        usage.sort_by(|a, b| {
            super::usage(&b.percent)
                .0
                .total_cmp(&super::usage(&a.percent).0)
        });
        for (u, area) in usage.iter().zip(areas.iter().skip(1)) {
            let (p, color) = super::usage(&u.percent);
            f.render_widget(
                Gauge::default()
                    .ratio((p / 100.0).clamp(0.0, 1.0))
                    .label(format!("{} {}: {}%", u.scope, u.limit, u.percent))
                    .gauge_style(self.style(color)),
                *area,
            );
        }
    }

    pub(super) fn render_balances(&self, f: &mut Frame, area: Rect) {
        let d = &self.daemon;
        let totals = fmt::align(
            &d.balances
                .iter()
                .map(|b| b.total.to_string())
                .collect::<Vec<_>>(),
        );
        let locked = fmt::align(
            &d.balances
                .iter()
                .map(|b| b.locked.to_string())
                .collect::<Vec<_>>(),
        );
        let rows: Vec<Row> = d
            .balances
            .iter()
            .zip(totals)
            .zip(locked)
            .map(|((b, t), l)| Row::new(vec![b.asset.clone(), self.private(t), self.private(l)]))
            .collect();
        let w = [
            Constraint::Length(6),
            Constraint::Fill(2),
            Constraint::Fill(1),
        ];
        f.render_widget(
            Table::new(rows, w)
                .header(Row::new(vec!["Asset", "Total", "Locked"]).style(self.bold()))
                .block(self.pane("Balances")),
            area,
        );
    }

    pub(super) fn render_positions(&self, f: &mut Frame, area: Rect) {
        let ps: Vec<_> = self
            .daemon
            .positions
            .values()
            .filter(|p| !p.qty.is_zero())
            .collect();
        let qty = fmt::align(&ps.iter().map(|p| p.qty.to_string()).collect::<Vec<_>>());
        let avg = fmt::align(&ps.iter().map(|p| fmt::opt(p.avg_price)).collect::<Vec<_>>());
        let upnl: Vec<Decimal> = ps
            .iter()
            .map(|p| {
                p.unrealized_pnl
                    .map_or(Decimal::ZERO, tradedesk_core::money::Notional::get)
            })
            .collect();
        let upnl_s = fmt::align(&upnl.iter().map(|u| fmt::signed(*u)).collect::<Vec<_>>());
        let rows: Vec<Row> = ps
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Row::new(vec![
                    ratatui::text::Text::from(p.symbol.to_string()),
                    ratatui::text::Text::from(self.private(qty[i].clone())),
                    ratatui::text::Text::from(avg[i].clone()),
                    ratatui::text::Text::styled(
                        self.private(upnl_s[i].clone()),
                        fmt::pnl_style(
                            upnl[i] > Decimal::ZERO,
                            upnl[i] < Decimal::ZERO,
                            self.view.colors,
                        ),
                    ),
                ])
            })
            .collect();
        let w = [
            Constraint::Length(9),
            Constraint::Fill(1),
            Constraint::Fill(1),
            Constraint::Fill(1),
        ];
        f.render_widget(
            Table::new(rows, w)
                .header(
                    Row::new(vec!["Symbol", "Qty", "Avg price", "Unrealized"]).style(self.bold()),
                )
                .block(self.pane("Positions")),
            area,
        );
    }

    fn render_desk_bots(&self, f: &mut Frame, area: Rect) {
        let bots: Vec<_> = self.daemon.bots.values().collect();
        let rows: Vec<Row> = bots
            .iter()
            .map(|b| {
                let pnl = b.pnl.map(Notional::get);
                Row::new(vec![
                    ratatui::text::Text::from(format!("#{} {}", b.bot.id, b.bot.name)),
                    ratatui::text::Text::from(b.bot.status.as_str()),
                    ratatui::text::Text::styled(
                        self.private(pnl.map_or("-".into(), fmt::signed)),
                        fmt::pnl_style(
                            pnl.is_some_and(|p| p > Decimal::ZERO),
                            pnl.is_some_and(|p| p < Decimal::ZERO),
                            self.view.colors,
                        ),
                    ),
                ])
            })
            .collect();
        f.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Fill(2),
                    Constraint::Length(8),
                    Constraint::Fill(1),
                ],
            )
            .header(Row::new(vec!["Bot", "Status", "PnL"]).style(self.bold()))
            .block(self.pane("Bots")),
            area,
        );
    }

    fn render_desk_alerts(&self, f: &mut Frame, area: Rect) {
        let lines: Vec<Line> = self
            .daemon
            .alerts
            .values()
            .rev()
            .take(area.height.saturating_sub(2) as usize)
            .map(|a| {
                let st = match a.severity {
                    tradedesk_core::api::risk::Severity::Critical => self.style(Color::Red),
                    tradedesk_core::api::risk::Severity::Warning => self.style(Color::Yellow),
                    tradedesk_core::api::risk::Severity::Info => self.style(Color::Reset),
                };
                let ack = if a.acknowledged.is_some() { " " } else { "!" };
                Line::from(vec![
                    Span::raw(format!("{ack}{} ", fmt::clock(a.time, self.view.utc))),
                    Span::styled(a.message.clone(), st),
                ])
            })
            .collect();
        f.render_widget(Paragraph::new(lines).block(self.pane("Alerts")), area);
    }
}
