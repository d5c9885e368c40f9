//! Screen 3, orders: open orders or the history, with a filter; the
//! selected order in detail. The ticket is a form (see `mod.rs`).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Text;
use ratatui::widgets::Paragraph;
use tradedesk_core::order::Side;

use super::fmt;
use super::table::{Cells, Col};
use crate::app::App;
use crate::view::Screen;

impl App {
    #[allow(clippy::too_many_lines, reason = "one screen's layout, top to bottom")]
    pub(super) fn render_orders(&self, f: &mut Frame, area: Rect) {
        let [list, detail] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(5)]).areas(area);
        let rows = self.order_rows();
        let wide = area.width >= 110;
        let prec = &self.daemon.precision;
        let build = |r: std::ops::Range<usize>| -> Vec<Cells> {
            let window = &rows[r];
            let qty = fmt::align(
                &window
                    .iter()
                    .map(|o| prec.qty(o.symbol.as_str(), o.qty.get()))
                    .collect::<Vec<_>>(),
            );
            let px = fmt::align(
                &window
                    .iter()
                    .map(|o| {
                        o.price
                            .or(o.stop_price)
                            .map_or("-".into(), |p| prec.price(o.symbol.as_str(), p.get()))
                    })
                    .collect::<Vec<_>>(),
            );
            let filled = fmt::align(
                &window
                    .iter()
                    .map(|o| prec.qty(o.symbol.as_str(), o.filled.get()))
                    .collect::<Vec<_>>(),
            );
            window
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    let side = Text::styled(
                        o.side.as_str(),
                        fmt::pnl_style(o.side == Side::Buy, o.side == Side::Sell, self.view.colors),
                    );
                    vec![
                        Text::from(format!("#{}", o.id)),
                        Text::from(if wide {
                            self.time(o.created)
                        } else {
                            fmt::clock(o.created, self.view.utc)
                        }),
                        Text::from(o.symbol.to_string()),
                        side,
                        Text::from(o.order_type.as_str()),
                        Text::from(qty[i].clone()),
                        Text::from(px[i].clone()),
                        Text::from(filled[i].clone()),
                        Text::from(o.status.as_str()),
                        Text::from(
                            o.bot_id
                                .map_or_else(|| o.owner.clone(), |b| format!("bot #{b}")),
                        ),
                    ]
                })
                .collect()
        };
        const COLS: [Col; 10] = [
            Col::num("Id", 9),
            Col::num("Created", 3),
            Col::text("Symbol", 7, 8),
            Col::text("Side", 4, 8),
            Col::text("Type", 6, 6),
            Col::num("Qty", 8),
            Col::num("Price/stop", 7),
            Col::num("Filled", 4),
            Col::text("Status", 6, 6),
            Col::text("Owner", 5, 1),
        ];
        let title = if self.view.history {
            "Order history"
        } else {
            "Open orders"
        };
        self.list_for(f, list, Screen::Orders, title, &COLS, rows.len(), &build);
        let sel = rows.get(self.view.selected[Screen::Orders.index()]);
        let text = sel.map_or_else(
            || "No order selected. n opens the ticket.".to_owned(),
            |o| {
                format!(
                    "#{} {} · {} · tif {} · avg {} · fees {} · updated {}{}",
                    o.id,
                    crate::app::describe(o),
                    o.status.as_str(),
                    o.time_in_force.as_str(),
                    o.avg_price
                        .map_or("-".into(), |p| prec.price(o.symbol.as_str(), p.get())),
                    fmt::money(o.fees.get()),
                    self.time(o.updated),
                    o.reason
                        .as_ref()
                        .map_or(String::new(), |r| format!("\nreason: {r}")),
                )
            },
        );
        f.render_widget(
            Paragraph::new(text)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(self.pane("Order")),
            detail,
        );
    }
}
