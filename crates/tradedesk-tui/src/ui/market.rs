//! Screen 2, the market: watchlist, candlestick chart with volume and
//! overlays, order-book ladder and trade tape.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::Paragraph;
use rust_decimal::prelude::ToPrimitive;
use tradedesk_core::indicator::{Bollinger, Ema, Sma};
use tradedesk_core::order::Side;

use super::candles::{Candles, Ohlcv, Overlay};
use super::fmt;
use super::table::{Cells, Col};
use crate::app::App;
use crate::view::Screen;

/// Bars before the visible ones fed to the overlays, so they start warm.
const WARMUP: usize = 150;

impl App {
    pub(super) fn render_market(&self, f: &mut Frame, area: Rect) {
        let wide = area.width >= 110;
        let [list, rest] =
            Layout::horizontal([Constraint::Length(30), Constraint::Min(0)]).areas(area);
        self.render_watchlist(f, list);
        if wide {
            let [chart, side] =
                Layout::horizontal([Constraint::Min(0), Constraint::Length(32)]).areas(rest);
            self.render_chart(f, chart);
            let [book, tape] =
                Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(side);
            self.render_book(f, book);
            self.render_tape(f, tape);
        } else {
            self.render_chart(f, rest);
        }
    }

    fn render_watchlist(&self, f: &mut Frame, area: Rect) {
        let rows = self.symbol_rows();
        let tickers = &self.daemon.tickers;
        let prec = &self.daemon.precision;
        let lasts = fmt::align(
            &rows
                .iter()
                .map(|s| {
                    tickers
                        .get(s)
                        .map_or("-".into(), |t| prec.price(s, t.last.get()))
                })
                .collect::<Vec<_>>(),
        );
        let build = |r: std::ops::Range<usize>| -> Vec<Cells> {
            r.map(|i| {
                let s = &rows[i];
                let change = tickers.get(s).and_then(|t| {
                    let o = t.open_24h.get().to_f64()?;
                    let l = t.last.get().to_f64()?;
                    (o > 0.0).then(|| (l / o - 1.0) * 100.0)
                });
                vec![
                    Text::from(s.clone()),
                    Text::from(lasts[i].clone()),
                    Text::styled(
                        change.map_or("-".into(), fmt::signed_pct),
                        fmt::pnl_style(
                            change.is_some_and(|c| c > 0.0),
                            change.is_some_and(|c| c < 0.0),
                            self.view.colors,
                        ),
                    ),
                ]
            })
            .collect()
        };
        const COLS: [Col; 3] = [
            Col::text("Symbol", 6, 9),
            Col::num("Last", 8),
            Col::num("24h", 5),
        ];
        self.list_for(
            f,
            area,
            Screen::Market,
            "Watchlist",
            &COLS,
            rows.len(),
            &build,
        );
    }

    #[allow(clippy::too_many_lines, reason = "one screen's layout, top to bottom")]
    fn render_chart(&self, f: &mut Frame, area: Rect) {
        let c = &self.daemon.candles;
        let o = &self.view.overlays;
        // An overlay that cannot be drawn yet says why.
        let have = c.bars.len();
        let mut names = Vec::new();
        for (on, name, need) in [
            (o.sma, "SMA20", 20),
            (o.ema, "EMA50", 50),
            (o.bollinger, "BB20,2", 20),
        ] {
            if on {
                names.push(if have >= need {
                    name.to_owned()
                } else {
                    format!("{name} needs {need} bars")
                });
            }
        }
        let title = format!(
            "{} {} · {} bars {}",
            if c.symbol.is_empty() {
                "-"
            } else {
                c.symbol.as_str()
            },
            self.view.interval.as_str(),
            c.bars.len(),
            names.join(" ")
        );
        let block = self.pane(&title);
        let inner = block.inner(area);
        f.render_widget(block, area);
        if c.bars.is_empty() || c.interval != self.view.interval {
            f.render_widget(Paragraph::new("loading candles…"), inner);
            return;
        }
        // Only the bars that fit, plus a warm-up for the overlays.
        let fit = inner.width as usize;
        let from = c.bars.len().saturating_sub(fit + WARMUP);
        let bars: Vec<Ohlcv> = c.bars[from..]
            .iter()
            .map(|b| Ohlcv {
                open: b.open.get().to_f64().unwrap_or(0.0),
                high: b.high.get().to_f64().unwrap_or(0.0),
                low: b.low.get().to_f64().unwrap_or(0.0),
                close: b.close.get().to_f64().unwrap_or(0.0),
                volume: b.volume.get().to_f64().unwrap_or(0.0),
            })
            .collect();
        let closes = || bars.iter().map(|b| b.close);
        let sma: Vec<Option<f64>> = if o.sma {
            let mut s = Sma::new(20).ok();
            closes()
                .map(|x| s.as_mut().and_then(|s| s.update(x)))
                .collect()
        } else {
            Vec::new()
        };
        let ema: Vec<Option<f64>> = if o.ema {
            let mut s = Ema::new(50).ok();
            closes()
                .map(|x| s.as_mut().and_then(|s| s.update(x)))
                .collect()
        } else {
            Vec::new()
        };
        let (mut upper, mut lower) = (Vec::new(), Vec::new());
        if o.bollinger {
            let mut bb = Bollinger::new(20, 2.0).ok();
            for x in closes() {
                let b = bb.as_mut().and_then(|bb| bb.update(x));
                upper.push(b.map(|b| b.upper));
                lower.push(b.map(|b| b.lower));
            }
        }
        let decimals = self
            .daemon
            .symbols
            .iter()
            .find(|s| s.symbol.as_str() == c.symbol)
            .map_or(2, |s| s.tick_size.get().normalize().scale() as usize);
        let mut chart = Candles::new(&bars)
            .colors(self.view.colors)
            .decimals(decimals);
        if o.sma {
            chart = chart.overlay(Overlay {
                values: &sma,
                glyph: '•',
                color: Color::Yellow,
            });
        }
        if o.ema {
            chart = chart.overlay(Overlay {
                values: &ema,
                glyph: '∙',
                color: Color::Magenta,
            });
        }
        if o.bollinger {
            for band in [&upper, &lower] {
                chart = chart.overlay(Overlay {
                    values: band,
                    glyph: '·',
                    color: Color::Cyan,
                });
            }
        }
        f.render_widget(chart, inner);
    }

    fn render_book(&self, f: &mut Frame, area: Rect) {
        let block = self.pane("Order book");
        let inner = block.inner(area);
        f.render_widget(block, area);
        let Some(book) = self.daemon.books.get(&self.daemon.candles.symbol) else {
            f.render_widget(Paragraph::new("no book yet"), inner);
            return;
        };
        let half = (inner.height.saturating_sub(1) / 2) as usize;
        let asks: Vec<_> = book.asks.iter().take(half).rev().collect();
        let bids: Vec<_> = book.bids.iter().take(half).collect();
        let prices = fmt::align(
            &asks
                .iter()
                .chain(bids.iter())
                .map(|l| l.price.to_string())
                .collect::<Vec<_>>(),
        );
        let qtys = fmt::align(
            &asks
                .iter()
                .chain(bids.iter())
                .map(|l| l.qty.to_string())
                .collect::<Vec<_>>(),
        );
        let mut lines = Vec::new();
        for i in 0..asks.len() {
            lines.push(Line::styled(
                format!("ask {} {}", prices[i], qtys[i]),
                self.style(Color::Red),
            ));
        }
        let spread = match (book.asks.first(), book.bids.first()) {
            (Some(a), Some(b)) => format!("── spread {} ──", a.price.get() - b.price.get()),
            _ => "──".into(),
        };
        lines.push(Line::from(spread));
        for i in asks.len()..asks.len() + bids.len() {
            lines.push(Line::styled(
                format!("bid {} {}", prices[i], qtys[i]),
                self.style(Color::Green),
            ));
        }
        f.render_widget(Paragraph::new(lines), inner);
    }

    fn render_tape(&self, f: &mut Frame, area: Rect) {
        let block = self.pane("Trades");
        let inner = block.inner(area);
        f.render_widget(block, area);
        let shown: Vec<_> = self
            .daemon
            .tape
            .iter()
            .take(inner.height as usize)
            .collect();
        let prices = fmt::align(
            &shown
                .iter()
                .map(|t| t.price.to_string())
                .collect::<Vec<_>>(),
        );
        let lines: Vec<Line> = shown
            .iter()
            .zip(prices)
            .map(|(t, p)| {
                let (side, color) = match t.taker_side {
                    Side::Buy => ("B", Color::Green),
                    Side::Sell => ("S", Color::Red),
                };
                Line::from(vec![
                    Span::raw(format!("{} ", fmt::clock(t.time, self.view.utc))),
                    Span::styled(format!("{side} {p} "), self.style(color)),
                    Span::raw(t.qty.to_string()),
                ])
            })
            .collect();
        f.render_widget(Paragraph::new(lines), inner);
    }
}
