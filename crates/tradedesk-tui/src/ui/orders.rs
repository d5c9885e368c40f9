//! Screen 3, orders: open orders or the history, with a filter; the
//! selected order in detail. The ticket is a form (see `mod.rs`).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Text;
use ratatui::widgets::{Paragraph, Row};
use tradedesk_core::order::Side;

use super::fmt;
use crate::app::App;
use crate::view::Screen;

impl App {
    #[allow(clippy::too_many_lines, reason = "one screen's layout, top to bottom")]
    pub(super) fn render_orders(&self, f: &mut Frame, area: Rect) {
        let [list, detail] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(5)]).areas(area);
        let rows = self.order_rows();
        let wide = area.width >= 110;
        let build = |r: std::ops::Range<usize>| -> Vec<Row<'static>> {
            let window = &rows[r];
            let qty = fmt::align(&window.iter().map(|o| o.qty.to_string()).collect::<Vec<_>>());
            let px = fmt::align(
                &window
                    .iter()
                    .map(|o| fmt::opt(o.price.or(o.stop_price)))
                    .collect::<Vec<_>>(),
            );
            let filled = fmt::align(
                &window
                    .iter()
                    .map(|o| o.filled.to_string())
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
                    let mut cells = vec![
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
                    ];
                    if wide {
                        cells.push(Text::from(
                            o.bot_id
                                .map_or_else(|| o.owner.clone(), |b| format!("bot #{b}")),
                        ));
                    }
                    Row::new(cells)
                })
                .collect()
        };
        let mut widths = vec![
            Constraint::Length(7),
            Constraint::Length(if wide { 19 } else { 8 }),
            Constraint::Length(8),
            Constraint::Length(4),
            Constraint::Length(11),
            Constraint::Fill(1),
            Constraint::Fill(1),
            Constraint::Fill(1),
            Constraint::Length(10),
        ];
        let mut header = vec![
            "Id",
            "Created",
            "Symbol",
            "Side",
            "Type",
            "Qty",
            "Price/stop",
            "Filled",
            "Status",
        ];
        if wide {
            widths.push(Constraint::Length(10));
            header.push("Owner");
        }
        let title = if self.view.history {
            "Order history"
        } else {
            "Open orders"
        };
        self.list_for(
            f,
            list,
            Screen::Orders,
            title,
            Row::new(header),
            &widths,
            rows.len(),
            &build,
        );
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
                    fmt::opt(o.avg_price),
                    o.fees,
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
