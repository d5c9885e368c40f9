//! A candlestick chart with volume and line overlays (ratatui has none).
//! One column per bar, newest at the right; only the bars that fit are
//! looked at, so drawing costs the width, not the history.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::widgets::Widget;

/// One bar as the chart sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ohlcv {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// A line drawn over the candles: one value per bar (None before it
/// is defined).
#[derive(Debug, Clone)]
pub struct Overlay<'a> {
    pub values: &'a [Option<f64>],
    pub glyph: char,
    pub color: Color,
}

#[derive(Debug, Clone)]
pub struct Candles<'a> {
    bars: &'a [Ohlcv],
    overlays: Vec<Overlay<'a>>,
    colors: bool,
    /// Decimals of the price axis.
    decimals: usize,
}

/// Width of the price axis on the right.
const AXIS: u16 = 11;

impl<'a> Candles<'a> {
    pub fn new(bars: &'a [Ohlcv]) -> Self {
        Candles {
            bars,
            overlays: Vec::new(),
            colors: true,
            decimals: 2,
        }
    }

    #[must_use]
    pub fn overlay(mut self, o: Overlay<'a>) -> Self {
        self.overlays.push(o);
        self
    }

    #[must_use]
    pub fn colors(mut self, on: bool) -> Self {
        self.colors = on;
        self
    }

    #[must_use]
    pub fn decimals(mut self, d: usize) -> Self {
        self.decimals = d;
        self
    }
}

impl Widget for Candles<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width <= AXIS + 2 || area.height < 4 || self.bars.is_empty() {
            return;
        }
        let plot_w = (area.width - AXIS) as usize;
        let vol_h = (area.height / 5).max(1);
        let price_h = area.height - vol_h;
        let n = self.bars.len().min(plot_w);
        let first = self.bars.len() - n;
        let shown = &self.bars[first..];
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for b in shown {
            lo = lo.min(b.low);
            hi = hi.max(b.high);
        }
        for o in &self.overlays {
            for v in o.values.get(first..).unwrap_or(&[]).iter().flatten() {
                lo = lo.min(*v);
                hi = hi.max(*v);
            }
        }
        if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
            hi = lo + 1.0;
        }
        let rows = f64::from(price_h - 1);
        // Row 0 is the top (hi).
        let row_of =
            |p: f64| -> u16 { (((hi - p) / (hi - lo)) * rows).round().clamp(0.0, rows) as u16 };
        let style = |up: bool| {
            if self.colors {
                Style::default().fg(if up { Color::Green } else { Color::Red })
            } else {
                Style::default()
            }
        };
        // Price axis: top, middle, bottom.
        let ax = area.x + area.width - AXIS + 1;
        for (row, price) in [
            (0, hi),
            (price_h / 2, f64::midpoint(hi, lo)),
            (price_h - 1, lo),
        ] {
            let label = format!("{price:>9.*}", self.decimals);
            buf.set_stringn(
                ax,
                area.y + row,
                label,
                (AXIS - 1) as usize,
                Style::default(),
            );
        }
        let max_vol = shown.iter().map(|b| b.volume).fold(0.0_f64, f64::max);
        const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        for (i, b) in shown.iter().enumerate() {
            let x = area.x + (plot_w - n + i) as u16;
            let up = b.close >= b.open;
            let st = style(up);
            let (wick_top, wick_bot) = (row_of(b.high), row_of(b.low));
            let (body_top, body_bot) = (row_of(b.open.max(b.close)), row_of(b.open.min(b.close)));
            for r in wick_top..=wick_bot {
                let body = r >= body_top && r <= body_bot;
                // Without colour, rising bodies are hollow.
                let glyph = if !body {
                    '│'
                } else if up && !self.colors {
                    '░'
                } else {
                    '█'
                };
                buf[(x, area.y + r)].set_char(glyph).set_style(st);
            }
            if max_vol > 0.0 {
                let eighths = ((b.volume / max_vol) * f64::from(vol_h) * 8.0).round() as u16;
                for k in 0..vol_h {
                    let fill = eighths.saturating_sub(k * 8).min(8);
                    if fill == 0 {
                        break;
                    }
                    let y = area.y + area.height - 1 - k;
                    buf[(x, y)]
                        .set_char(LEVELS[fill as usize - 1])
                        .set_style(if self.colors { st } else { Style::default() });
                }
            }
        }
        for o in &self.overlays {
            for (i, v) in o.values.get(first..).unwrap_or(&[]).iter().enumerate() {
                let Some(v) = v else { continue };
                let x = area.x + (plot_w - n + i) as u16;
                let y = area.y + row_of(*v);
                let st = if self.colors {
                    Style::default().fg(o.color)
                } else {
                    Style::default()
                };
                buf[(x, y)].set_char(o.glyph).set_style(st);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(o: f64, c: f64) -> Ohlcv {
        Ohlcv {
            open: o,
            high: o.max(c) + 1.0,
            low: o.min(c) - 1.0,
            close: c,
            volume: 1.0 + c,
        }
    }

    #[test]
    fn draws_rising_and_falling_bars_and_volume() {
        let bars = [bar(10.0, 20.0), bar(20.0, 12.0), bar(12.0, 15.0)];
        let mut buf = Buffer::empty(Rect::new(0, 0, 20, 10));
        Candles::new(&bars).colors(false).render(buf.area, &mut buf);
        let text: Vec<String> = (0..10)
            .map(|y| (0..20).map(|x| buf[(x, y)].symbol().to_owned()).collect())
            .collect();
        let col = |x: u16| -> String { (0..8).map(|y| buf[(x, y)].symbol().to_owned()).collect() };
        // The three bars sit in the last three plot columns (20 - 11 = 9).
        assert!(col(6).contains('░'), "rising body is hollow: {text:#?}");
        assert!(col(7).contains('█'), "falling body is solid: {text:#?}");
        assert!(
            text[0].contains("21.00"),
            "top of the axis is the high: {text:#?}"
        );
        assert!(
            text[7].contains("9.00"),
            "bottom of the price rows is the low: {text:#?}"
        );
        assert!(
            text[9].chars().any(|c| "▁▂▃▄▅▆▇█".contains(c)),
            "volume row: {text:#?}"
        );
    }

    #[test]
    fn tiny_areas_and_flat_prices_do_not_panic() {
        let bars = [bar(5.0, 5.0); 3];
        for (w, h) in [(0, 0), (12, 3), (13, 4), (200, 60)] {
            let mut buf = Buffer::empty(Rect::new(0, 0, w, h));
            Candles::new(&bars).render(buf.area, &mut buf);
        }
    }
}
