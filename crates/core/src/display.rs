//! Numbers as a trader reads them, the same in the CLI and the dashboard:
//! prices at their tick, quantities at their lot, quote amounts at two
//! decimals (or the asset's own), PnL signed. Only display: the wire and
//! the database keep every decimal exactly.
//!
//! Rounding is half away from zero, and a value is always written whole:
//! `fixed` never drops integer digits (a column too narrow for a number
//! must drop the column, never the digits).

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::instrument::Instrument;

/// `d` with exactly `places` decimals.
pub fn fixed(d: Decimal, places: u32) -> String {
    let r = d.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    // `-0.00` reads as a loss that is not there.
    let r = if r.is_zero() { Decimal::ZERO } else { r };
    format!("{r:.prec$}", prec = places as usize)
}

/// The decimals of a step such as a tick (`0.01` → 2, `0.5` → 1, `1` → 0).
pub fn places(step: Decimal) -> u32 {
    step.normalize().scale()
}

/// A quote amount (cost, PnL, fees, equity) at two decimals.
pub fn money(d: Decimal) -> String {
    fixed(d, 2)
}

/// A gain or loss at two decimals, signed so it reads without colour:
/// `+12.34`, `-0.02`, `0.00`.
pub fn signed_money(d: Decimal) -> String {
    signed(d, 2)
}

/// `d` signed, at `places` decimals.
pub fn signed(d: Decimal, places: u32) -> String {
    let s = fixed(d, places);
    if d.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero) > Decimal::ZERO {
        format!("+{s}")
    } else {
        s
    }
}

/// A fraction as a percentage: `0.1234` → `12.34 %`.
pub fn percent(fraction: Decimal) -> String {
    fraction
        .checked_mul(Decimal::ONE_HUNDRED)
        .map_or_else(|| "-".to_owned(), |p| format!("{} %", fixed(p, 2)))
}

/// A computed figure (a ratio, a percentage) at `places` decimals, `-`
/// when undefined. A figure that is not zero never reads as zero: one
/// too small for `places` is written to two significant digits
/// (`0.00031`), so a series that moves never shows a volatility of 0.00.
pub fn figure(v: Option<f64>, places: usize) -> String {
    let Some(v) = v.filter(|v| v.is_finite()) else {
        return "-".to_owned();
    };
    let unit = 10f64.powi(-i32::try_from(places).unwrap_or(i32::MAX));
    if v != 0.0 && v.abs() < unit / 2.0 {
        // Two significant digits: enough places to reach the first two.
        let magnitude = -v.abs().log10().floor();
        let digits = (magnitude as usize).saturating_add(1);
        if digits > 12 {
            return format!("{v:.1e}");
        }
        return format!("{v:.digits$}");
    }
    let s = format!("{v:.places$}");
    // `-0.00` reads as a loss that is not there.
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        return s[1..].to_owned();
    }
    s
}

/// [`figure`] with a `+` on positive values (returns, PnL in percent).
pub fn signed_figure(v: Option<f64>, places: usize) -> String {
    let s = figure(v, places);
    if v.is_some_and(|v| v > 0.0) {
        format!("+{s}")
    } else {
        s
    }
}

/// A risk limit's value as it reads: quote amounts (notional, exposure,
/// loss) at two decimals, percentages at two, counts whole, quantities
/// exact (never more than eight decimals). Not a number: as given.
pub fn limit_figure(limit: &str, value: &str) -> String {
    let Ok(d) = crate::money::parse_decimal(value) else {
        return value.to_owned();
    };
    let places = if limit.ends_with("_notional")
        || limit.ends_with("_loss_limit")
        || limit.starts_with("max_exposure")
        || limit.ends_with("_pct")
    {
        2
    } else if limit.starts_with("max_open_orders") || limit.starts_with("max_orders_per") {
        0
    } else {
        return d.round_dp(8).normalize().to_string();
    };
    fixed(d, places)
}

/// How many decimals each asset and each symbol's prices are shown with,
/// from the instruments listed.
#[derive(Debug, Clone, Default)]
pub struct Precision {
    assets: BTreeMap<String, u32>,
    prices: BTreeMap<String, u32>,
    qtys: BTreeMap<String, u32>,
}

/// Decimals of assets no instrument describes: quote currencies of the
/// fiat kind at 2, the rest at 8.
fn default_places(asset: &str) -> u32 {
    match asset {
        "USD" | "USDT" | "USDC" | "BUSD" | "FDUSD" | "TUSD" | "DAI" | "EUR" | "GBP" | "JPY" => 2,
        _ => 8,
    }
}

impl Precision {
    pub fn new(instruments: &[Instrument]) -> Precision {
        let mut p = Precision::default();
        for i in instruments {
            p.assets.insert(i.base.clone(), places(i.lot_size.get()));
            p.assets
                .entry(i.quote.clone())
                .or_insert_with(|| default_places(&i.quote));
            p.prices
                .insert(i.symbol.to_string(), places(i.tick_size.get()));
            p.qtys
                .insert(i.symbol.to_string(), places(i.lot_size.get()));
        }
        p
    }

    /// Decimals of an amount of `asset`: its lot's when it is a base asset,
    /// two for a fiat-like quote, eight otherwise.
    pub fn asset_places(&self, asset: &str) -> u32 {
        self.assets
            .get(asset)
            .copied()
            .unwrap_or_else(|| default_places(asset))
    }

    /// Decimals of `symbol`'s prices: its tick's (two when unknown).
    pub fn price_places(&self, symbol: &str) -> u32 {
        self.prices.get(symbol).copied().unwrap_or(2)
    }

    pub fn amount(&self, asset: &str, d: Decimal) -> String {
        fixed(d, self.asset_places(asset))
    }

    pub fn price(&self, symbol: &str, d: Decimal) -> String {
        fixed(d, self.price_places(symbol))
    }

    /// Decimals of `symbol`'s quantities: its lot's (eight when unknown).
    pub fn qty_places(&self, symbol: &str) -> u32 {
        self.qtys.get(symbol).copied().unwrap_or(8)
    }

    /// A quantity of `symbol`'s base asset, at its lot.
    pub fn qty(&self, symbol: &str, d: Decimal) -> String {
        fixed(d, self.qty_places(symbol))
    }
}

/// Pads numbers so their decimal points line up in a right-aligned column.
pub fn align<S: AsRef<str>>(values: &[S]) -> Vec<String> {
    let split = |s: &str| -> (usize, usize) {
        match s.find('.') {
            Some(i) => (i, s.len().saturating_sub(i)),
            None => (s.len(), 0),
        }
    };
    let (mut int_w, mut frac_w) = (0, 0);
    for v in values {
        let (i, f) = split(v.as_ref());
        int_w = int_w.max(i);
        frac_w = frac_w.max(f);
    }
    values
        .iter()
        .map(|v| {
            let v = v.as_ref();
            let (i, f) = split(v);
            format!(
                "{}{v}{}",
                " ".repeat(int_w.saturating_sub(i)),
                " ".repeat(frac_w.saturating_sub(f))
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    #[test]
    fn amounts_at_their_precision_signed_and_never_negative_zero() {
        assert_eq!(fixed(d("9650.0000187399"), 2), "9650.00");
        assert_eq!(fixed(d("64925.589191564147627417"), 2), "64925.59");
        assert_eq!(fixed(d("1.39368148"), 2), "1.39");
        assert_eq!(fixed(d("0.005"), 2), "0.01");
        assert_eq!(fixed(d("-0.004"), 2), "0.00");
        assert_eq!(signed_money(d("-0.02")), "-0.02");
        assert_eq!(signed_money(d("3.456")), "+3.46");
        assert_eq!(signed_money(d("-0.001")), "0.00");
        assert_eq!(percent(d("0.92853")), "92.85 %");
        assert_eq!(places(d("0.010")), 2);
        assert_eq!(places(d("0.00001")), 5);
        assert_eq!(places(d("1")), 0);
    }

    #[test]
    fn instruments_decide_the_places() {
        let btc = Instrument {
            symbol: "BTCUSDT".parse().expect("symbol"),
            base: "BTC".into(),
            quote: "USDT".into(),
            tick_size: "0.01".parse().expect("tick"),
            lot_size: "0.00001".parse().expect("lot"),
            min_qty: "0.00001".parse().expect("min"),
            min_notional: "5".parse().expect("notional"),
        };
        let p = Precision::new(&[btc]);
        assert_eq!(p.amount("USDT", d("9650.0000187399")), "9650.00");
        assert_eq!(p.amount("BTC", d("0.0123456")), "0.01235");
        assert_eq!(p.price("BTCUSDT", d("64925.589191")), "64925.59");
        assert_eq!(p.qty("BTCUSDT", d("0.5")), "0.50000");
        assert_eq!(p.amount("ETH", d("1")), "1.00000000");
    }

    #[test]
    fn figures_that_move_never_read_zero() {
        assert_eq!(figure(Some(0.000_312), 2), "0.00031");
        assert_eq!(figure(Some(-0.004_9), 2), "-0.0049");
        assert_eq!(figure(Some(0.005), 2), "0.01");
        assert_eq!(figure(Some(0.0), 2), "0.00");
        assert_eq!(figure(Some(-1.25e-300), 2), "-1.2e-300");
        assert_eq!(figure(Some(1.2345), 3), "1.234");
        assert_eq!(figure(Some(f64::NAN), 2), "-");
        assert_eq!(figure(None, 2), "-");
        assert_eq!(signed_figure(Some(604.137), 2), "+604.14");
        assert_eq!(signed_figure(Some(-3.0), 2), "-3.00");
        assert_eq!(signed_figure(Some(0.0), 2), "0.00");
    }

    #[test]
    fn limits_read_by_their_kind() {
        assert_eq!(limit_figure("max_open_orders", "3"), "3");
        assert_eq!(limit_figure("max_open_orders", "20"), "20");
        assert_eq!(limit_figure("daily_loss_limit", "12.345678"), "12.35");
        assert_eq!(
            limit_figure("max_position_notional", "64925.589191564147627417"),
            "64925.59"
        );
        assert_eq!(
            limit_figure("max_position_qty", "1.39368148000"),
            "1.39368148"
        );
        assert_eq!(limit_figure("max_order_qty", "0.123456789"), "0.12345679");
        assert_eq!(limit_figure("max_drawdown_pct", "5"), "5.00");
        assert_eq!(limit_figure("trading_state", "halted"), "halted");
    }

    #[test]
    fn columns_align_on_the_point() {
        assert_eq!(
            align(&["1.5", "123.25", "7"]),
            ["  1.5 ", "123.25", "  7   "]
        );
    }
}

/// What a backtest ran, as label and value rows, from its stored spec (a
/// sweep's: its runs' spec under `backtest`): the strategies (several legs
/// joined by `+`), their parameters, exits and protections, and the run's
/// settings. Exits and parameters left unset read `-`. The one
/// description the CLI's compare, the HTML report and the dashboard show.
pub fn backtest_spec(spec: &serde_json::Value) -> Vec<(&'static str, String)> {
    use serde_json::Value;
    let spec = if spec["backtest"].is_object() {
        &spec["backtest"]
    } else {
        spec
    };
    let legs = |f: &dyn Fn(&Value) -> String| -> String {
        spec["strategies"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|l| f(&l["spec"]))
                    .collect::<Vec<_>>()
                    .join(" + ")
            })
            .unwrap_or_default()
    };
    fn compact(v: &Value) -> String {
        match v {
            Value::Object(m) => {
                let set: Vec<String> = m
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                        )
                    })
                    .collect();
                if set.is_empty() {
                    "-".into()
                } else {
                    set.join(" ")
                }
            }
            Value::Null => "-".into(),
            other => other.to_string(),
        }
    }
    let setting = |key: &str| {
        let v = &spec["settings"][key];
        v.as_str().map_or_else(|| compact(v), str::to_owned)
    };
    let margin = &spec["settings"]["margin"];
    vec![
        (
            "strategy",
            legs(&|l| l["strategy"].as_str().unwrap_or("?").to_owned()),
        ),
        ("params", legs(&|l| compact(&l["params"]))),
        ("exits", legs(&|l| compact(&l["exits"]))),
        ("protections", legs(&|l| compact(&l["protections"]))),
        (
            "interval",
            legs(&|l| l["interval"].as_str().unwrap_or("-").to_owned()),
        ),
        ("capital", setting("capital")),
        ("commission %", setting("commission_pct")),
        ("slippage bps", setting("slippage_bps")),
        ("fill", setting("fill")),
        ("leverage", setting("leverage")),
        (
            "account",
            if margin.is_null() {
                "spot".into()
            } else {
                format!("margin {}", compact(margin))
                    .trim_end_matches(" -")
                    .to_owned()
            },
        ),
    ]
}

#[cfg(test)]
mod spec_tests {
    use super::backtest_spec;

    #[test]
    fn a_backtest_spec_reads_as_rows_with_unset_options_as_dashes() {
        let spec = serde_json::json!({
            "strategies": [
                { "spec": { "strategy": "sma_cross", "params": { "fast": 5, "slow": 20 },
                            "exits": { "stop_loss_pct": "2", "take_profit_pct": null },
                            "interval": "1d" }, "datasets": [1] },
                { "spec": { "strategy": "macd", "params": {}, "interval": "1h" }, "datasets": [2] }
            ],
            "settings": { "capital": "10000", "commission_pct": "0.1", "leverage": "2",
                          "margin": { "borrow_pct": "0.01", "borrow_period": "1h" } }
        });
        let rows = backtest_spec(&spec);
        let get = |k: &str| rows.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("strategy"), Some("sma_cross + macd"));
        assert_eq!(get("params"), Some("fast=5 slow=20 + -"));
        assert_eq!(get("exits"), Some("stop_loss_pct=2 + -"));
        assert_eq!(get("protections"), Some("- + -"));
        assert_eq!(get("interval"), Some("1d + 1h"));
        assert_eq!(get("capital"), Some("10000"));
        assert_eq!(
            get("account"),
            Some("margin borrow_pct=0.01 borrow_period=1h")
        );
        // A sweep's record keeps its runs' spec under `backtest`.
        let sweep = serde_json::json!({ "backtest": spec });
        assert_eq!(backtest_spec(&sweep), rows);
    }
}
