//! Screen 4, bots: the list with state and PnL; the selected bot's
//! parameters, allocation, positions and event log.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Text};
use ratatui::widgets::{Paragraph, Wrap};
use rust_decimal::Decimal;

use super::fmt;
use super::table::{Cells, Col};
use crate::app::App;
use crate::view::Screen;

impl App {
    #[allow(clippy::too_many_lines, reason = "one screen's layout, top to bottom")]
    pub(super) fn render_bots(&self, f: &mut Frame, area: Rect) {
        let [list, detail] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(area);
        let rows = self.bot_rows();
        // The daemon's figure (equity less allocation), kept live by `bots.figures`.
        let pnls: Vec<Option<Decimal>> = rows
            .iter()
            .map(|b| b.pnl.map(tradedesk_core::money::Notional::get))
            .collect();
        let pnl_s = fmt::align(
            &pnls
                .iter()
                .map(|p| self.private(p.map_or("-".into(), fmt::signed)))
                .collect::<Vec<_>>(),
        );
        let equity = fmt::align(
            &rows
                .iter()
                .map(|b| self.private(b.equity.map_or("-".into(), |e| fmt::money(e.get()))))
                .collect::<Vec<_>>(),
        );
        let build = |r: std::ops::Range<usize>| -> Vec<Cells> {
            r.map(|i| {
                let b = rows[i];
                let p = pnls[i];
                vec![
                    Text::from(format!("#{}", b.bot.id)),
                    Text::from(b.bot.name.clone()),
                    Text::from(b.bot.spec.strategy.clone()),
                    Text::from(b.bot.status.as_str()),
                    Text::from(equity[i].clone()),
                    Text::styled(
                        pnl_s[i].clone(),
                        fmt::pnl_style(
                            p.is_some_and(|p| p > Decimal::ZERO),
                            p.is_some_and(|p| p < Decimal::ZERO),
                            self.view.colors,
                        ),
                    ),
                ]
            })
            .collect()
        };
        const COLS: [Col; 6] = [
            Col::num("Id", 9),
            Col::text("Name", 6, 8),
            Col::text("Strategy", 6, 3),
            Col::text("Status", 7, 6),
            Col::num("Equity", 4),
            Col::num("PnL", 7),
        ];
        self.list_for(f, list, Screen::Bots, "Bots", &COLS, rows.len(), &build);
        let Some(b) = rows.get(self.view.selected[Screen::Bots.index()]) else {
            f.render_widget(
                Paragraph::new("No bots yet. n creates one from a strategy.")
                    .block(self.pane("Bot")),
                detail,
            );
            return;
        };
        // Seven lines, and one per open trade (up to three) where the
        // window is tall enough to keep the chart readable.
        let trades = if detail.height >= 30 {
            u16::try_from(b.open_trades.len().min(3)).unwrap_or(3)
        } else {
            0
        };
        let [info, chart, lower] = Layout::vertical([
            Constraint::Length(trades.saturating_add(9)),
            Constraint::Fill(1),
            Constraint::Fill(1),
        ])
        .areas(detail);
        let [log, fills] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(lower);
        let detail = self.daemon.bot.as_ref().filter(|d| d.id == b.bot.id);
        match detail {
            Some(d) => self.equity_chart(f, chart, "Equity", &d.equity),
            None => f.render_widget(
                Paragraph::new("Enter loads the equity curve").block(self.pane("Equity")),
                chart,
            ),
        }
        let prec = &self.daemon.precision;
        let fill_rows: Vec<Cells> = detail.map_or_else(Vec::new, |d| {
            d.fills
                .iter()
                .take(fills.height.saturating_sub(3) as usize)
                .map(|x| {
                    vec![
                        Text::from(fmt::clock(x.time, self.view.utc)),
                        Text::from(x.side.as_str()),
                        Text::from(self.private(prec.qty(x.symbol.as_str(), x.qty.get()))),
                        Text::from(prec.price(x.symbol.as_str(), x.price.get())),
                    ]
                })
                .collect()
        });
        let n = detail.map_or(0, |d| d.fills.len());
        const FILLS: [Col; 4] = [
            Col::num("Time", 3),
            Col::text("Side", 4, 7),
            Col::num("Qty", 8),
            Col::num("Price", 6),
        ];
        self.fitted(f, fills, &format!("Fills ({n})"), &FILLS, fill_rows);
        let alloc: Vec<String> = b
            .bot
            .allocation
            .iter()
            .map(|(a, q)| format!("{a} {}", self.private(q.to_string())))
            .collect();
        let positions: Vec<String> = b
            .positions
            .iter()
            .filter(|p| !p.qty.is_zero())
            .map(|p| {
                let prec = &self.daemon.precision;
                format!(
                    "{} {} @ {} (unrealized {})",
                    p.symbol,
                    self.private(prec.qty(p.symbol.as_str(), p.qty.get())),
                    p.avg_price
                        .map_or("-".into(), |a| prec.price(p.symbol.as_str(), a.get())),
                    self.private(
                        p.unrealized_pnl
                            .map_or("-".into(), |u| fmt::signed(u.get()))
                    ),
                )
            })
            .collect();
        // Each open trade: entry, PnL after fees, its exits and how far.
        let level = |name: &str, l: &Option<tradedesk_core::api::bots::ExitLevel>| {
            l.as_ref().map(|l| match (l.price, l.distance_pct) {
                (Some(p), Some(d)) => format!("{name} {p} ({d:+.2}%)"),
                (Some(p), None) => format!("{name} {p}"),
                (None, _) => format!("{name} working"),
            })
        };
        let trades: Vec<String> = b
            .open_trades
            .iter()
            .map(|t| {
                let mut parts = vec![format!(
                    "{} {} @ {} · PnL {}{}",
                    t.symbol,
                    self.private(t.qty.to_string()),
                    t.entry_price.map_or("-".into(), |p| p.to_string()),
                    self.private(t.pnl.map_or("-".into(), |p| fmt::signed(p.get()))),
                    t.pnl_pct.map_or(String::new(), |p| format!(" ({p:+.2}%)")),
                )];
                parts.extend(
                    [
                        level("SL", &t.stop_loss),
                        level("TP", &t.take_profit),
                        level("trail", &t.trailing_stop),
                    ]
                    .into_iter()
                    .flatten(),
                );
                parts.join(" · ")
            })
            .collect();
        let mut lines = vec![
            Line::from(format!(
                "#{} {} · {} · {}",
                b.bot.id,
                b.bot.name,
                b.bot.status.as_str(),
                b.bot.reason.clone().unwrap_or_default()
            )),
            Line::from(format!(
                "strategy {} {} · {}",
                b.bot.spec.strategy,
                b.bot.spec.params,
                b.bot.spec.interval.as_str()
            )),
            Line::from(format!(
                "symbols {} · account {}",
                b.bot
                    .symbols
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                b.bot.account
            )),
            Line::from(format!("allocation {}", alloc.join(", "))),
            Line::from(format!(
                "equity {} · PnL {} (after fees)",
                self.private(b.equity.map_or("-".into(), |e| fmt::money(e.get()))),
                self.private(b.pnl.map_or("-".into(), |p| fmt::signed(p.get())))
            )),
            Line::from(format!(
                "positions {}",
                if positions.is_empty() {
                    "none".into()
                } else {
                    positions.join(", ")
                }
            )),
            Line::from(format!(
                "started {}",
                b.bot.started.map_or("-".into(), |t| self.time(t))
            )),
        ];
        for t in trades {
            lines.push(Line::from(format!("open trade {t}")));
        }
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .block(self.pane("Bot")),
            info,
        );
        let events: Vec<Line> = self.daemon.bot_events.get(&b.bot.id).map_or_else(
            || vec![Line::from("Enter loads the event log")],
            |evs| {
                evs.iter()
                    .take(log.height.saturating_sub(2) as usize)
                    .map(|e| {
                        Line::from(format!(
                            "{} {:<6} {}",
                            fmt::clock(e.time, self.view.utc),
                            e.kind.as_str(),
                            e.message
                        ))
                    })
                    .collect()
            },
        );
        // Wrapped at words: a message's numbers are never cut.
        f.render_widget(
            Paragraph::new(events)
                .wrap(Wrap { trim: false })
                .block(self.pane("Event log")),
            log,
        );
    }
}
