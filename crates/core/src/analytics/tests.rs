use super::calendar::{Period, weekday, year_month};
use super::stats::log_return;
use super::*;
use crate::money::Price;
use crate::order::Side;

fn days(n: usize) -> Vec<Timestamp> {
    // Mondays to Fridays from Monday 2024-01-01.
    let mut out = Vec::new();
    let mut d = 19_723_i64; // 2024-01-01
    while out.len() < n {
        let wd = (d + 3).rem_euclid(7); // 0 = Monday
        if wd < 5 {
            out.push(Timestamp(d * DAY_MS));
        }
        d += 1;
    }
    out
}

fn scan(t: &[Timestamp], e: &[f64]) -> Curve {
    let mut c = Curve::new(0, false);
    for (t, e) in t.iter().zip(e) {
        c.push(*t, *e, f64::NAN);
    }
    c.finish();
    c
}

fn drawdowns(t: &[Timestamp], e: &[f64]) -> (f64, Vec<(f64, i64)>) {
    let s = scan(t, e);
    (s.max_dd, s.dd_periods)
}

#[test]
fn drawdown_periods_run_from_peak_to_recovery() {
    let t = days(7);
    let e = [100.0, 110.0, 99.0, 105.0, 110.0, 120.0, 108.0];
    let (max, periods) = drawdowns(&t, &e);
    assert!((max - 0.1).abs() < 1e-12);
    // 110 -> 99 -> 105 -> 110: one period from step 1 to 4. The last
    // step's dip is the deepest, but a dip of the last step alone is
    // no period (as the reference counts them).
    assert_eq!(periods.len(), 1);
    assert!((periods[0].0 - 0.1).abs() < 1e-12);
    assert_eq!(periods[0].1, t[4].millis() - t[1].millis());
    let (_, open) = drawdowns(&t[..6], &[100.0, 110.0, 99.0, 105.0, 110.0, 100.0]);
    assert_eq!(open.len(), 1);
    let (_, open) = drawdowns(&t, &[100.0, 110.0, 99.0, 110.0, 100.0, 104.0, 105.0]);
    // 110 at step 3, below it to the end: an open period to the last step.
    assert_eq!(open.len(), 2);
    assert_eq!(open[1].1, t[6].millis() - t[3].millis());
}

#[test]
fn calendar_arithmetic_agrees_with_chrono() {
    use chrono::Datelike;
    for days in (-800_000..800_000).step_by(997) {
        let d = chrono::DateTime::from_timestamp(days * 86_400, 0).unwrap();
        assert_eq!(
            year_month(days),
            (i64::from(d.year()), i64::from(d.month())),
            "{days}"
        );
        assert_eq!(weekday(days), i64::from(d.weekday().num_days_from_monday()));
    }
}

#[test]
fn bench_sums_in_lanes_match_step_by_step() {
    let bars: Vec<crate::strategy::Candle> = (0..1003)
        .map(|i| {
            let close =
                100.0 + 10.0 * (f64::from(i) / 7.0).sin() + if i == 500 { 30.0 } else { 0.0 };
            crate::strategy::Candle {
                time: Timestamp(i64::from(i)),
                open: close,
                high: close,
                low: close,
                close,
                volume: 0.0,
            }
        })
        .collect();
    let lanes = BenchSums::of_bars(&bars);
    let steps = BenchSums::of(bars.iter().map(|b| b.close));
    assert_eq!(lanes.n, steps.n);
    assert!((lanes.sum - steps.sum).abs() < 1e-12, "{lanes:?} {steps:?}");
    assert!(
        (lanes.sum_sq - steps.sum_sq).abs() < 1e-12,
        "{lanes:?} {steps:?}"
    );
}

#[test]
fn series_log_returns_match_ln() {
    for (a, b) in [
        (100.0_f64, 100.01_f64),
        (100.0, 99.99),
        (1.0, 1.0009),
        (3.0, 7.0),
        (5.0, 1.0),
    ] {
        let want = (b / a).ln();
        // ln(b / a) itself carries the rounding of b / a: ~1e-16 absolute.
        assert!((log_return(a, b) - want).abs() <= 1e-15, "{a} {b}");
    }
}

#[test]
fn overlapping_trades_count_their_steps_once() {
    let t = |a, b| TradeFigures {
        symbol: "XY".parse().unwrap(),
        entry_step: a,
        exit_step: b,
        entry_time: Timestamp(0),
        exit_time: Timestamp(0),
        pnl: 0.0,
        return_frac: 0.0,
        fees: 0.0,
    };
    assert_eq!(
        exposed_steps(&[t(2, 5), t(4, 8), t(10, 10), t(12, 99)], 15),
        4 + 3 + 1 + 3
    );
}

#[test]
fn weekday_data_has_252_periods_a_year_and_weekly_52() {
    let period = |t: &[Timestamp]| scan(t, &vec![1.0; t.len()]).period(t.len());
    assert_eq!(period(&days(30)).1, 252);
    let weekly: Vec<Timestamp> = (0..30).map(|i| Timestamp(i * 7 * DAY_MS)).collect();
    assert_eq!(period(&weekly), (Period::Week, 52));
    let every_day: Vec<Timestamp> = (0..30).map(|i| Timestamp(i * DAY_MS)).collect();
    assert_eq!(period(&every_day).1, 365);
    // Even count, middles in different buckets: 1 day and 61 days
    // average to 31 days: monthly.
    let t = [0, DAY_MS, 62 * DAY_MS].map(Timestamp);
    assert_eq!(period(&t), (Period::Month, 12));
}

#[test]
fn a_round_trip_runs_from_flat_to_flat_at_average_prices() {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let p = |s: &str| s.parse::<Price>().unwrap();
    let mut t = RoundTrip::default();
    assert!(
        t.fill(Side::Buy, d("1"), p("100"), d("0.1"), 3, Timestamp(30))
            .unwrap()
            .is_none()
    );
    assert!(
        t.fill(Side::Buy, d("1"), p("110"), d("0.1"), 4, Timestamp(40))
            .unwrap()
            .is_none()
    );
    assert!(
        t.fill(Side::Sell, d("1.5"), p("120"), d("0.1"), 5, Timestamp(50))
            .unwrap()
            .is_none()
    );
    let c = t
        .fill(Side::Sell, d("0.5"), p("130"), d("0.1"), 6, Timestamp(60))
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.entry_step, c.entry_time, c.qty),
        (3, Timestamp(30), d("2"))
    );
    assert_eq!((c.entry_price, c.exit_price), (p("105"), p("122.5")));
    // Sold 245, bought 210, fees 0.4.
    assert_eq!((c.pnl, c.fees), (d("34.6"), d("0.4")));
    assert!((c.return_frac - 34.6 / 210.0).abs() < 1e-15);
    // The next buy starts a new trip.
    assert!(
        t.fill(Side::Buy, d("1"), p("90"), d("0"), 9, Timestamp(90))
            .unwrap()
            .is_none()
    );
    let c = t
        .fill(Side::Sell, d("1"), p("99"), d("0"), 10, Timestamp(100))
        .unwrap()
        .unwrap();
    assert_eq!((c.entry_step, c.entry_price, c.pnl), (9, p("90"), d("9")));
}

#[test]
fn a_curve_from_zero_serializes_and_reads_back() {
    let t = days(4);
    let m = compute(&Input {
        times: &t,
        equity: &[0.0, 0.0, 10.0, 5.0],
        benchmark: None,
        first_tradable: 0,
        trades: &[],
        total_fees: Decimal::ZERO,
    });
    let text = serde_json::to_string(&m).unwrap();
    let back: Metrics = serde_json::from_str(&text).unwrap();
    assert_eq!(back.return_pct, 0.0);
    assert!((back.max_drawdown_pct + 50.0).abs() < 1e-9, "{text}");
}

/// Two-pass textbook figures of per-step returns, annualised by `n`.
fn two_pass(e: &[f64], n: f64) -> (f64, f64, f64) {
    let r: Vec<f64> = e.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
    let m = r.iter().sum::<f64>() / r.len() as f64;
    let sd = (r.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (r.len() - 1) as f64).sqrt();
    let down = (r.iter().map(|x| x.min(0.0).powi(2)).sum::<f64>() / r.len() as f64).sqrt();
    (
        m / sd * n.sqrt(),
        m / down * n.sqrt(),
        sd * n.sqrt() * 100.0,
    )
}

#[test]
fn intraday_figures_are_annualised_by_the_bars_own_spacing() {
    // Three days of 5-minute bars around the clock (weekend included),
    // a slow loss with wiggles: the reference's annualisation explodes
    // on such data; the default figures must not.
    let start = 19_724_i64 * DAY_MS; // Tuesday 2024-01-02
    let n: i32 = 3 * 288 + 1;
    let times: Vec<Timestamp> = (0..n)
        .map(|i| Timestamp(start + i64::from(i) * 300_000))
        .collect();
    let e: Vec<f64> = (0..n)
        .map(|i| {
            let x = f64::from(i);
            10_000.0 - 0.05 * x + 3.0 * (x / 5.0).sin()
        })
        .collect();
    let m = compute(&Input {
        times: &times,
        equity: &e,
        benchmark: None,
        first_tradable: 0,
        trades: &[],
        total_fees: Decimal::ZERO,
    });
    // Weekdays only: read as a market of 252 sessions a year, each of
    // the bars it has per day. The figures are the two-pass ones.
    assert_eq!(m.periods_per_year, 252);
    let per_year = m.bars_per_year;
    let (sharpe, sortino, vol) = two_pass(&e, per_year);
    assert!(
        (m.sharpe.unwrap() - sharpe).abs() < 1e-9 * sharpe.abs().max(1.0),
        "{m:?}"
    );
    assert!((m.sortino.unwrap() - sortino).abs() < 1e-9 * sortino.abs().max(1.0));
    assert!((m.volatility_ann_pct.unwrap() - vol).abs() < 1e-9 * vol);
    assert!(vol > 0.1, "a moving series has a volatility: {vol}");
    assert!(m.sharpe.unwrap().abs() < 100.0, "{:?}", m.sharpe);

    // The same bars over a weekend: 24/7 data, 365 days of 288 bars.
    let start = 19_727_i64 * DAY_MS; // Friday 2024-01-05
    let times: Vec<Timestamp> = (0..n)
        .map(|i| Timestamp(start + i64::from(i) * 300_000))
        .collect();
    let m = compute(&Input {
        times: &times,
        equity: &e,
        benchmark: None,
        first_tradable: 0,
        trades: &[],
        total_fees: Decimal::ZERO,
    });
    assert_eq!(m.periods_per_year, 365);
    assert!(
        (m.bars_per_year - 365.0 * 288.0).abs() < 1e-9,
        "{}",
        m.bars_per_year
    );
    let (sharpe, _, vol) = two_pass(&e, m.bars_per_year);
    assert!((m.sharpe.unwrap() - sharpe).abs() < 1e-9 * sharpe.abs().max(1.0));
    assert!((m.volatility_ann_pct.unwrap() - vol).abs() < 1e-9 * vol);
    // The reference figures are still there, labelled, and as wild.
    assert!(m.sharpe_reference.is_some());
}

#[test]
fn session_intraday_data_annualises_by_252_sessions() {
    // Ten weekdays of 78 five-minute bars (a 6.5-hour session).
    let mut times = Vec::new();
    for d in days(10) {
        for k in 0..78 {
            times.push(Timestamp(d.millis() + 14 * 3_600_000 + k * 300_000));
        }
    }
    let e: Vec<f64> = (0..times.len())
        .map(|i| 100.0 + (i as f64 / 9.0).sin() + i as f64 * 0.001)
        .collect();
    let m = compute(&Input {
        times: &times,
        equity: &e,
        benchmark: None,
        first_tradable: 0,
        trades: &[],
        total_fees: Decimal::ZERO,
    });
    assert_eq!(m.periods_per_year, 252);
    assert!(
        (m.bars_per_year - 252.0 * 78.0).abs() < 1e-9,
        "{}",
        m.bars_per_year
    );
    let (sharpe, _, _) = two_pass(&e, m.bars_per_year);
    assert!((m.sharpe.unwrap() - sharpe).abs() < 1e-9 * sharpe.abs().max(1.0));
}

#[test]
fn a_flat_run_has_no_ratios_and_no_panic() {
    let t = days(5);
    let e = [100.0; 5];
    let m = compute(&Input {
        times: &t,
        equity: &e,
        benchmark: None,
        first_tradable: 0,
        trades: &[],
        total_fees: Decimal::ZERO,
    });
    assert_eq!(m.return_pct, 0.0);
    assert_eq!(m.sharpe, None);
    assert_eq!(m.trades, 0);
    assert_eq!(m.win_rate_pct, None);
    assert_eq!(m.max_drawdown_pct, 0.0);
    assert!(serde_json::to_string(&m).is_ok());
}
