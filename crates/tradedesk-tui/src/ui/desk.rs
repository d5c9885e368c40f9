//! Screen 1, the desk: equity and today's PnL, balances, positions, bots,
//! risk state and the latest alerts.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Gauge, Paragraph, Sparkline};
use rust_decimal::Decimal;
use tradedesk_core::risk::TradingState;

use tradedesk_core::api::accounts::BalanceView;
use tradedesk_core::money::Notional;

use super::fmt;
use super::table::{Cells, Col};
use crate::app::App;

impl App {
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
        let mode = match d.account_mode {
            tradedesk_core::api::accounts::AccountMode::Paper => "paper",
            tradedesk_core::api::accounts::AccountMode::Live => "LIVE",
        };
        let block = self.pane(&format!("Account {} · {mode}", d.account));
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
            // Scaled to the window's range (with a sensible minimum span),
            // so small moves show and a flat line draws flat at the bottom.
            let w = spark.width as usize;
            let tail: Vec<f64> = d.equity.iter().rev().take(w).rev().copied().collect();
            if let Some((lo, hi)) = super::y_range(tail.iter().copied()) {
                // A flat window sits on the bottom row.
                let (lo, hi) = if tail.iter().all(|e| (e - tail[0]).abs() < f64::EPSILON) {
                    (tail[0], tail[0] + (hi - lo))
                } else {
                    (lo, hi)
                };
                // One level per eighth of a row: the lowest value shows
                // as `▁`, the highest fills the pane.
                let levels = u64::from(spark.height.max(1)) * 8;
                let data: Vec<u64> = tail
                    .iter()
                    .map(|e| {
                        let share = ((e - lo) / (hi - lo)).clamp(0.0, 1.0);
                        1 + (share * (levels - 1) as f64).round() as u64
                    })
                    .collect();
                f.render_widget(
                    Sparkline::default()
                        .data(&data)
                        .max(levels)
                        .style(self.style(Color::Cyan)),
                    spark,
                );
            }
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
            // The longest label that fits whole: the percentage is never cut.
            let width = usize::from(area.width);
            let label = [
                format!("{} {}: {}%", u.scope, u.limit, u.percent),
                format!("{}: {}%", u.limit, u.percent),
                format!("{}%", u.percent),
            ]
            .into_iter()
            .find(|l| l.chars().count() <= width)
            .unwrap_or_default();
            f.render_widget(
                Gauge::default()
                    .ratio((p / 100.0).clamp(0.0, 1.0))
                    .label(label)
                    .gauge_style(self.style(color)),
                *area,
            );
        }
    }

    pub(super) fn render_balances(&self, f: &mut Frame, area: Rect) {
        let d = &self.daemon;
        let p = &d.precision;
        let column = |q: fn(&BalanceView) -> Decimal| {
            fmt::align(
                &d.balances
                    .iter()
                    .map(|b| p.amount(&b.asset, q(b)))
                    .collect::<Vec<_>>(),
            )
        };
        let totals = column(|b| b.total.get());
        let locked = column(|b| b.locked.get());
        // A margin account's loans: a column of their own while any.
        let owes = d.balances.iter().any(|b| b.borrowed.is_positive());
        let owed = column(|b| b.borrowed.get());
        let rows: Vec<Cells> = d
            .balances
            .iter()
            .zip(totals)
            .zip(locked)
            .zip(owed)
            .map(|(((b, t), l), o)| {
                let mut row = vec![
                    Text::from(b.asset.clone()),
                    Text::from(self.private(t)),
                    Text::from(self.private(l)),
                ];
                if owes {
                    row.push(Text::from(self.private(o)));
                }
                row
            })
            .collect();
        const COLS: [Col; 4] = [
            Col::text("Asset", 4, 9),
            Col::num("Total", 8),
            Col::num("Locked", 2),
            Col::num("Owed", 2),
        ];
        let cols = if owes { &COLS[..] } else { &COLS[..3] };
        // The account's name once there is more than one to show; a margin
        // account's level against its liquidation level.
        let mut title = "Balances".to_owned();
        if d.accounts.len() > 1 {
            title = format!("Balances · {} (a: next)", d.account);
        }
        if let Some(m) = &d.margin {
            let level = m
                .level_pct
                .map_or_else(|| "flat".to_owned(), |l| format!("{l} %"));
            title = format!("{title} · margin {level}, liq {} %", m.maintenance_pct);
        }
        self.fitted(f, area, &title, cols, rows);
    }

    pub(super) fn render_positions(&self, f: &mut Frame, area: Rect) {
        let p = &self.daemon.precision;
        let ps: Vec<_> = self
            .daemon
            .positions
            .values()
            .filter(|p| !p.qty.is_zero())
            .collect();
        let qty = fmt::align(
            &ps.iter()
                .map(|x| p.qty(x.symbol.as_str(), x.qty.get()))
                .collect::<Vec<_>>(),
        );
        let avg = fmt::align(
            &ps.iter()
                .map(|x| {
                    x.avg_price
                        .map_or("-".into(), |a| p.price(x.symbol.as_str(), a.get()))
                })
                .collect::<Vec<_>>(),
        );
        let upnl: Vec<Option<Decimal>> = ps
            .iter()
            .map(|x| x.unrealized_pnl.map(Notional::get))
            .collect();
        let upnl_s = fmt::align(
            &upnl
                .iter()
                .map(|u| u.map_or("-".into(), fmt::signed))
                .collect::<Vec<_>>(),
        );
        let rows: Vec<Cells> = ps
            .iter()
            .enumerate()
            .map(|(i, x)| {
                vec![
                    Text::from(x.symbol.to_string()),
                    Text::from(self.private(qty[i].clone())),
                    Text::from(avg[i].clone()),
                    Text::styled(
                        self.private(upnl_s[i].clone()),
                        fmt::pnl_style(
                            upnl[i].is_some_and(|u| u > Decimal::ZERO),
                            upnl[i].is_some_and(|u| u < Decimal::ZERO),
                            self.view.colors,
                        ),
                    ),
                ]
            })
            .collect();
        const COLS: [Col; 4] = [
            Col::text("Symbol", 6, 9),
            Col::num("Qty", 8),
            Col::num("Avg price", 3),
            Col::num("Unrealized", 7),
        ];
        self.fitted(f, area, "Positions (PnL after fees)", &COLS, rows);
    }

    fn render_desk_bots(&self, f: &mut Frame, area: Rect) {
        let bots: Vec<_> = self.daemon.bots.values().collect();
        let pnls: Vec<Option<Decimal>> = bots.iter().map(|b| b.pnl.map(Notional::get)).collect();
        let pnl_s = fmt::align(
            &pnls
                .iter()
                .map(|p| self.private(p.map_or("-".into(), fmt::signed)))
                .collect::<Vec<_>>(),
        );
        let rows: Vec<Cells> = bots
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let pnl = pnls[i];
                vec![
                    Text::from(format!("#{} {}", b.bot.id, b.bot.name)),
                    Text::from(b.bot.status.as_str()),
                    Text::styled(
                        pnl_s[i].clone(),
                        fmt::pnl_style(
                            pnl.is_some_and(|p| p > Decimal::ZERO),
                            pnl.is_some_and(|p| p < Decimal::ZERO),
                            self.view.colors,
                        ),
                    ),
                ]
            })
            .collect();
        const COLS: [Col; 3] = [
            Col::text("Bot", 6, 9),
            Col::text("Status", 7, 5),
            Col::num("PnL", 8),
        ];
        self.fitted(f, area, "Bots", &COLS, rows);
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
