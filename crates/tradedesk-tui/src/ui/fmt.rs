//! Formatting shared by every screen: money aligned on the decimal point,
//! signed PnL, masked values, times in local time or UTC.

use chrono::{Local, Utc};
use ratatui::style::{Color, Style};
use rust_decimal::Decimal;
use tradedesk_core::time::Timestamp;

/// What masked values show.
pub const MASK: &str = "•••••";

/// Pads numbers so their decimal points line up in a right-aligned
/// column (the same rule as the CLI's tables).
pub fn align<S: AsRef<str>>(values: &[S]) -> Vec<String> {
    tradedesk_core::display::align(values)
}

/// A quote amount for display: two decimals, half away from zero.
pub fn money(d: Decimal) -> String {
    tradedesk_core::display::money(d)
}

/// Signed, so a gain and a loss read apart without colour.
pub fn signed(d: Decimal) -> String {
    tradedesk_core::display::signed_money(d)
}

pub fn signed_pct(p: f64) -> String {
    format!("{}%", tradedesk_core::display::signed_figure(Some(p), 2))
}

/// Green for gains, red for losses (when colours are on).
pub fn pnl_style(positive: bool, negative: bool, colors: bool) -> Style {
    if !colors {
        return Style::default();
    }
    if positive {
        Style::default().fg(Color::Green)
    } else if negative {
        Style::default().fg(Color::Red)
    } else {
        Style::default()
    }
}

pub fn time(t: Timestamp, utc: bool) -> String {
    let Some(dt) = t.to_datetime() else {
        return "-".into();
    };
    if utc {
        dt.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        dt.with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }
}

/// Time of day only (tapes, logs).
pub fn clock(t: Timestamp, utc: bool) -> String {
    let Some(dt) = t.to_datetime() else {
        return "-".into();
    };
    if utc {
        dt.format("%H:%M:%S").to_string()
    } else {
        dt.with_timezone(&Local).format("%H:%M:%S").to_string()
    }
}

pub fn clock_of(t: chrono::DateTime<Utc>, utc: bool) -> String {
    clock(Timestamp::from_datetime(t), utc)
}

pub fn datetime(t: chrono::DateTime<Utc>, utc: bool) -> String {
    time(Timestamp::from_datetime(t), utc)
}

pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Seconds as `1d 02:03:04`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{}d {:02}:{:02}:{:02}",
        s / 86_400,
        (s % 86_400) / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_points_line_up() {
        let got = align(&["1.5", "1234", "12.345", "-0.25"]);
        assert_eq!(got, vec!["   1.5  ", "1234    ", "  12.345", "  -0.25 "]);
        let dots: Vec<usize> = got.iter().filter_map(|s| s.find('.')).collect();
        assert!(dots.iter().all(|d| *d == 4), "{got:?}");
    }

    #[test]
    fn pnl_is_signed() {
        assert_eq!(signed("12.345".parse().expect("d")), "+12.35");
        assert_eq!(signed("-3".parse().expect("d")), "-3.00");
        assert_eq!(signed(Decimal::ZERO), "0.00");
        assert_eq!(signed_pct(-1.234), "-1.23%");
        assert_eq!(signed_pct(2.0), "+2.00%");
    }
}
