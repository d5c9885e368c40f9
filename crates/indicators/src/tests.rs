use super::*;

/// The series TA-Lib computed the expected values on (regenerated here
/// from the same formula).
fn series() -> Vec<Hlcv> {
    (0..200)
        .map(|i| {
            let x = f64::from(i);
            let close =
                ((100.0 + 10.0 * (x / 7.0).sin() + 3.0 * (x / 3.0).cos() + x * 0.05) * 100.0 + 0.5)
                    .floor()
                    / 100.0;
            Hlcv {
                close,
                high: close + 1.0 + f64::from(i % 5) * 0.3,
                low: close - 1.0 - f64::from(i % 3) * 0.4,
                volume: 1000.0 + f64::from((i * 37) % 500),
            }
        })
        .collect()
}

/// Runs an indicator over the series; `None` until it has a value.
fn run<T>(f: impl FnMut(Hlcv) -> Option<T>) -> Vec<Option<T>> {
    series().into_iter().map(f).collect()
}

/// Checks the first index with a value, the first two values and the
/// last four against TA-Lib 0.6 (TA-Lib Python 0.8.2).
fn check_ref(name: &str, got: &[Option<f64>], first: usize, head: [f64; 2], tail: [f64; 4]) {
    assert!(
        got[..first].iter().all(Option::is_none),
        "{name}: a value before index {first}"
    );
    let values: Vec<f64> = got[first..].iter().map(|v| v.unwrap_or(f64::NAN)).collect();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    for (i, want) in head.iter().enumerate() {
        assert!(
            close(values[i], *want),
            "{name}[{}] = {} want {want}",
            first + i,
            values[i]
        );
    }
    for (i, want) in tail.iter().enumerate() {
        let v = values[values.len() - 4 + i];
        assert!(close(v, *want), "{name} tail[{i}] = {v} want {want}");
    }
}

#[test]
fn moving_averages_match_talib() {
    let mut s = Sma::new(5).unwrap();
    check_ref(
        "sma5",
        &run(|b| s.update(b.close)),
        4,
        [104.966, 105.668],
        [114.204, 112.212, 110.306, 108.582],
    );
    let mut e = Ema::new(5).unwrap();
    check_ref(
        "ema5",
        &run(|b| e.update(b.close)),
        4,
        [104.966, 105.480666666667],
        [
            113.701065970314,
            111.900710646876,
            110.197140431250,
            108.668093620834,
        ],
    );
    let mut w = Wma::new(5).unwrap();
    check_ref(
        "wma5",
        &run(|b| w.update(b.close)),
        4,
        [105.515333333333, 106.03],
        [112.835333333333, 110.867333333333, 109.06, 107.494666666667],
    );
}

#[test]
fn oscillators_match_talib() {
    let mut r = Rsi::new(14).unwrap();
    check_ref(
        "rsi14",
        &run(|b| r.update(b.close)),
        14,
        [100.0, 100.0],
        [
            39.338070936804,
            35.596438645448,
            32.779726316782,
            30.733128705262,
        ],
    );
    let mut m = Macd::new(12, 26, 9).unwrap();
    let macd = run(|b| m.update(b.close));
    check_ref(
        "macd",
        &macd.iter().map(|v| v.map(|x| x.macd)).collect::<Vec<_>>(),
        33,
        [-4.374298055227, -4.206146709280],
        [
            1.668790201886,
            0.966154025631,
            0.284189454199,
            -0.347482953097,
        ],
    );
    check_ref(
        "macd_signal",
        &macd.iter().map(|v| v.map(|x| x.signal)).collect::<Vec<_>>(),
        33,
        [-3.129401238581, -3.344750332721],
        [
            2.995169633422,
            2.589366511864,
            2.128331100331,
            1.633168289645,
        ],
    );
    check_ref(
        "macd_hist",
        &macd
            .iter()
            .map(|v| v.map(|x| x.histogram))
            .collect::<Vec<_>>(),
        33,
        [-1.244896816646, -0.861396376559],
        [
            -1.326379431536,
            -1.623212486233,
            -1.844141646132,
            -1.980651242742,
        ],
    );
    let mut st = Stochastic::new(14, 3, 3).unwrap();
    let s = run(|b| st.update(b));
    check_ref(
        "stoch_k",
        &s.iter().map(|v| v.map(|x| x.0)).collect::<Vec<_>>(),
        17,
        [75.018831605944, 69.883449883450],
        [
            11.942659458087,
            8.964499604004,
            8.225742460139,
            7.547160560291,
        ],
    );
    check_ref(
        "stoch_d",
        &s.iter().map(|v| v.map(|x| x.1)).collect::<Vec<_>>(),
        17,
        [76.231708874427, 73.714897994574],
        [
            25.356973998552,
            14.608940583230,
            9.710967174076,
            8.245800874811,
        ],
    );
}

#[test]
fn bands_ranges_and_extremes_match_talib() {
    let mut bb = Bollinger::new(20, 2.0).unwrap();
    let b = run(|x| bb.update(x.close));
    check_ref(
        "bb_upper",
        &b.iter().map(|v| v.map(|x| x.upper)).collect::<Vec<_>>(),
        19,
        [111.232673830569, 110.859161119072],
        [
            125.435274503923,
            125.406321284502,
            125.677156662638,
            126.179245812591,
        ],
    );
    check_ref(
        "bb_middle",
        &b.iter().map(|v| v.map(|x| x.middle)).collect::<Vec<_>>(),
        19,
        [107.425, 107.6045],
        [116.1115, 116.1235, 116.013, 115.7835],
    );
    check_ref(
        "bb_lower",
        &b.iter().map(|v| v.map(|x| x.lower)).collect::<Vec<_>>(),
        19,
        [103.617326169431, 104.349838880928],
        [
            106.787725496077,
            106.840678715498,
            106.348843337363,
            105.387754187409,
        ],
    );
    let mut a = Atr::new(14).unwrap();
    check_ref(
        "atr14",
        &run(|x| a.update(x)),
        14,
        [3.071428571429, 2.994897959184],
        [
            3.166509877264,
            3.197473457460,
            3.176225353356,
            3.206494970973,
        ],
    );
    let mut hi = Extreme::highest(10).unwrap();
    check_ref(
        "max10",
        &run(|x| hi.update(x.close)),
        9,
        [107.08, 107.45],
        [122.24, 122.24, 121.97, 121.18],
    );
    let mut lo = Extreme::lowest(10).unwrap();
    check_ref(
        "min10",
        &run(|x| lo.update(x.close)),
        9,
        [103.0, 104.31],
        [110.1, 108.3, 106.79, 105.61],
    );
}

#[test]
fn rsi_matches_the_published_reference() {
    // ../shared/reference/README.md: TA-Lib RSI(14) on these 20 closes.
    let closes = [
        44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61,
        46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64,
    ];
    let mut r = Rsi::new(14).unwrap();
    let out: Vec<f64> = closes.iter().filter_map(|c| r.update(*c)).collect();
    let last3: Vec<f64> = out[out.len() - 3..]
        .iter()
        .map(|v| (v * 1e4).round() / 1e4)
        .collect();
    assert_eq!(last3, [69.3469, 66.2947, 57.9150]);
}

#[test]
fn vwap_weights_by_volume_and_resets() {
    let mut v = Vwap::new();
    let bar = |h: f64, l: f64, c: f64, volume: f64| Hlcv {
        high: h,
        low: l,
        close: c,
        volume,
    };
    assert_eq!(
        v.update(bar(12.0, 9.0, 9.0, 0.0)),
        None,
        "no volume, no price"
    );
    assert_eq!(v.update(bar(12.0, 9.0, 9.0, 100.0)), Some(10.0));
    assert_eq!(v.update(bar(21.0, 21.0, 21.0, 300.0)), Some(18.25));
    v.reset();
    assert_eq!(v.update(bar(3.0, 3.0, 3.0, 1.0)), Some(3.0));
}

#[test]
fn bad_periods_are_refused_with_the_parameter_named() {
    assert_eq!(
        Sma::new(0).unwrap_err().to_string(),
        "sma: `period` must be at least 1, got 0"
    );
    assert!(
        Macd::new(26, 12, 9)
            .unwrap_err()
            .to_string()
            .contains("`slow` must be at least 27")
    );
    assert!(
        Stochastic::new(14, 0, 3)
            .unwrap_err()
            .to_string()
            .contains("k_smooth")
    );
}
