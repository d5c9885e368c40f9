//! Screen 4, bots: the list with state and PnL; the selected bot's
//! parameters, allocation, positions and event log.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Text};
use ratatui::widgets::{Paragraph, Row, Wrap};
use rust_decimal::Decimal;

use super::fmt;
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
        let build = |r: std::ops::Range<usize>| -> Vec<Row<'static>> {
            r.map(|i| {
                let b = rows[i];
                let p = pnls[i];
                Row::new(vec![
                    Text::from(format!("#{}", b.bot.id)),
                    Text::from(b.bot.name.clone()),
                    Text::from(b.bot.spec.strategy.clone()),
                    Text::from(b.bot.status.as_str()),
                    Text::styled(
                        pnl_s[i].clone(),
                        fmt::pnl_style(
                            p.is_some_and(|p| p > Decimal::ZERO),
                            p.is_some_and(|p| p < Decimal::ZERO),
                            self.view.colors,
                        ),
                    ),
                ])
            })
            .collect()
        };
        self.list_for(
            f,
            list,
            Screen::Bots,
            "Bots",
            Row::new(vec!["Id", "Name", "Strategy", "Status", "PnL"]),
            &[
                Constraint::Length(5),
                Constraint::Fill(2),
                Constraint::Fill(2),
                Constraint::Length(8),
                Constraint::Fill(1),
            ],
            rows.len(),
            &build,
        );
        let Some(b) = rows.get(self.view.selected[Screen::Bots.index()]) else {
            f.render_widget(
                Paragraph::new("No bots yet. n creates one from a strategy.")
                    .block(self.pane("Bot")),
                detail,
            );
            return;
        };
        let [info, chart, lower] = Layout::vertical([
            Constraint::Length(9),
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
        let fill_lines: Vec<Line> = detail.map_or_else(Vec::new, |d| {
            d.fills
                .iter()
                .take(fills.height.saturating_sub(2) as usize)
                .map(|x| {
                    Line::from(format!(
                        "{} {} {} @ {}",
                        fmt::clock(x.time, self.view.utc),
                        x.side.as_str(),
                        self.private(x.qty.to_string()),
                        x.price
                    ))
                })
                .collect()
        });
        let n = detail.map_or(0, |d| d.fills.len());
        f.render_widget(
            Paragraph::new(fill_lines).block(self.pane(&format!("Fills ({n})"))),
            fills,
        );
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
                format!(
                    "{} {} @ {}",
                    p.symbol,
                    self.private(p.qty.to_string()),
                    fmt::opt(p.avg_price)
                )
            })
            .collect();
        let lines = vec![
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
                "equity {}",
                self.private(b.equity.map_or("-".into(), |e| fmt::money(e.get())))
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
        f.render_widget(Paragraph::new(events).block(self.pane("Event log")), log);
    }
}
