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
