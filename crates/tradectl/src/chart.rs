//! The equity and drawdown chart of a backtest, as SVG or PNG (plotters,
//! with a bundled font: DejaVu Sans, see `assets/DejaVuSans.LICENSE`).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::FontStyle;
use tradedesk_core::api::backtests::EquityPoint;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Only fails for a font that does not parse; the bundled one does.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Draws equity (top, 70 %) and drawdown (bottom) against time.
pub fn equity(title: &str, points: &[EquityPoint], out: &Path, png: bool) -> Result<(), String> {
    register_font();
    if points.len() < 2 {
        return Err("the curve has fewer than 2 points".into());
    }
    let size = (1200, 700);
    if png {
        let root = BitMapBackend::new(out, size).into_drawing_area();
        draw(&root, title, points)?;
        root.present().map_err(|e| e.to_string())
    } else {
        let root = SVGBackend::new(out, size).into_drawing_area();
        draw(&root, title, points)?;
        root.present().map_err(|e| e.to_string())
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    points: &[EquityPoint],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = root.split_vertically(490);
    let days = |t: tradedesk_core::time::Timestamp| t.millis() as f64 / 86_400_000.0;
    let (x0, x1) = (days(points[0].time), days(points[points.len() - 1].time));
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
            (l.min(p.equity), h.max(p.equity))
        });
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-6).max(1e-9);
    let date = |x: &f64| {
        chrono::DateTime::from_timestamp((*x * 86_400.0) as i64, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    };
    let mut eq = ChartBuilder::on(&top)
        .caption(format!("{title}: equity"), ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, (lo - pad)..(hi + pad))
        .map_err(err)?;
    eq.configure_mesh()
        .x_label_formatter(&date)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_labels(8)
        .draw()
        .map_err(err)?;
    eq.draw_series(LineSeries::new(
        points.iter().map(|p| (days(p.time), p.equity)),
        BLUE.stroke_width(2),
    ))
    .map_err(err)?;
    let worst = points
        .iter()
        .map(|p| p.drawdown_pct)
        .fold(0.0_f64, f64::min);
    let mut dd = ChartBuilder::on(&bottom)
        .caption("drawdown %", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, (worst * 1.05 - 1e-9)..0.0)
        .map_err(err)?;
    dd.configure_mesh()
        .x_label_formatter(&date)
        .y_label_formatter(&|y| format!("{y:.1}"))
        .x_labels(8)
        .draw()
        .map_err(err)?;
    dd.draw_series(AreaSeries::new(
        points.iter().map(|p| (days(p.time), p.drawdown_pct)),
        0.0,
        RED.mix(0.3),
    ))
    .map_err(err)?;
    Ok(())
}

/// [`equity`] as an SVG document in a string (for an HTML report).
pub fn equity_svg(title: &str, points: &[EquityPoint]) -> Result<String, String> {
    register_font();
    if points.len() < 2 {
        return Err("the curve has fewer than 2 points".into());
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1200, 700)).into_drawing_area();
        draw(&root, title, points)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// A trade's entry or exit on a candle chart.
pub struct Mark {
    pub time: tradedesk_core::time::Timestamp,
    pub price: f64,
    /// A buy (drawn as ▲ in green) or a sell (▼ in red).
    pub buy: bool,
}

/// Candlesticks of `bars` with the trades' entries and exits, as SVG.
pub fn candles_svg(
    title: &str,
    bars: &[tradedesk_core::api::data::BarPoint],
    marks: &[Mark],
) -> Result<String, String> {
    register_font();
    if bars.len() < 2 {
        return Err("fewer than 2 bars to draw".into());
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1200, 600)).into_drawing_area();
        draw_candles(&root, title, bars, marks)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn draw_candles<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    bars: &[tradedesk_core::api::data::BarPoint],
    marks: &[Mark],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let days = |t: tradedesk_core::time::Timestamp| t.millis() as f64 / 86_400_000.0;
    let (x0, x1) = (days(bars[0].time), days(bars[bars.len() - 1].time));
    let step = (x1 - x0) / (bars.len() - 1) as f64;
    let (x0, x1) = (x0 - step, x1 + step);
    let (lo, hi) = bars
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), b| {
            (l.min(b.low), h.max(b.high))
        });
    let (lo, hi) = marks
        .iter()
        .fold((lo, hi), |(l, h), m| (l.min(m.price), h.max(m.price)));
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-6).max(1e-9);
    let date = |x: &f64| {
        chrono::DateTime::from_timestamp((*x * 86_400.0) as i64, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    };
    let (width, _) = root.dim_in_pixel();
    let body =
        ((f64::from(width.saturating_sub(100)) / bars.len() as f64) * 0.6).clamp(1.0, 12.0) as u32;
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, (lo - pad)..(hi + pad))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_label_formatter(&date)
        .y_label_formatter(&|y| format!("{y:.2}"))
        .x_labels(8)
        .draw()
        .map_err(err)?;
    chart
        .draw_series(bars.iter().map(|b| {
            CandleStick::new(
                days(b.time),
                b.open,
                b.high,
                b.low,
                b.close,
                GREEN.filled(),
                RED.filled(),
                body,
            )
        }))
        .map_err(err)?;
    // Entries and exits: a buy ▲ under its price in blue, a sell ▼ over
    // it in black, so they stand apart from the candles' colours.
    chart
        .draw_series(
            marks
                .iter()
                .filter(|m| m.buy)
                .map(|m| TriangleMarker::new((days(m.time), m.price), 7, BLUE.filled())),
        )
        .map_err(err)?;
    chart
        .draw_series(marks.iter().filter(|m| !m.buy).map(|m| {
            EmptyElement::at((days(m.time), m.price))
                + Polygon::new(vec![(-6, -8), (6, -8), (0, 0)], BLACK.filled())
        }))
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradedesk_core::api::data::BarPoint;
    use tradedesk_core::time::Timestamp;

    #[test]
    fn candles_with_marks_draw_as_svg_with_every_candle() {
        let bars: Vec<BarPoint> = (0..50)
            .map(|i| {
                let x = 100.0 + (f64::from(i) / 5.0).sin() * 10.0;
                BarPoint {
                    time: Timestamp(i64::from(i) * 86_400_000),
                    open: x,
                    high: x + 2.0,
                    low: x - 2.0,
                    close: x + if i % 2 == 0 { 1.0 } else { -1.0 },
                    volume: 1.0,
                }
            })
            .collect();
        let marks = [
            Mark {
                time: Timestamp(5 * 86_400_000),
                price: 105.0,
                buy: true,
            },
            Mark {
                time: Timestamp(20 * 86_400_000),
                price: 95.0,
                buy: false,
            },
        ];
        let svg = candles_svg("ABC", &bars, &marks).expect("drawn");
        assert!(svg.contains("<svg") && svg.contains("ABC"));
        // Each candle is a body rectangle (plus the background's).
        assert!(
            svg.matches("<rect").count() > 50,
            "{}",
            svg.matches("<rect").count()
        );
        if let Ok(path) = std::env::var("TRADEDESK_CHART_PNG") {
            let root = BitMapBackend::new(&path, (1200, 600)).into_drawing_area();
            draw_candles(&root, "ABC", &bars, &marks).expect("png");
            root.present().expect("written");
        }
        assert!(candles_svg("ABC", &bars[..1], &[]).is_err());
    }
}
