use super::*;

fn flags_in(dir: &Path) -> Flags {
    Flags {
        config: Some(dir.join("none.toml")),
        data_dir: Some(dir.join("d")),
        ..Flags::default()
    }
}

fn load_with(dir: &Path, file: Option<&str>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut flags = flags_in(dir);
    if let Some(text) = file {
        let path = dir.join("tradingd.toml");
        std::fs::write(&path, text).unwrap();
        flags.config = Some(path);
    } else {
        flags.config = None;
    }
    let mut env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    env.push((
        "TRADEDESK_SOCKET".into(),
        dir.join("s.sock").display().to_string(),
    ));
    load_from(&flags, &env).map(|(_, c)| c)
}

#[test]
fn layers_apply_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let c = load_with(
        dir.path(),
        Some("[rpc]\nmax_batch = 7\nmax_connections = 9\n"),
        &[("TRADEDESK_RPC__MAX_CONNECTIONS", "11")],
    )
    .unwrap();
    assert_eq!(c.rpc.max_batch, 7, "file overrides default");
    assert_eq!(c.rpc.max_connections, 11, "env overrides file");
    assert_eq!(c.data_dir, dir.path().join("d"), "flag wins");
    assert_eq!(c.socket, dir.path().join("s.sock"));
}

#[test]
fn unknown_keys_are_named_with_their_layer() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_with(dir.path(), Some("[rpc]\nmax_batchez = 7\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tradingd.toml") && err.contains("max_batchez"),
        "{err}"
    );
    let err = load_with(dir.path(), None, &[("TRADEDESK_RPC__NOPE", "1")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("TRADEDESK_RPC__NOPE") && err.contains("nope"),
        "{err}"
    );
    let err = load_with(dir.path(), Some("colour = 1\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn out_of_range_values_name_the_key_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_with(dir.path(), Some("[rpc]\nmax_batch = 0\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rpc.max_batch") && err.contains("1..=10000"),
        "{err}"
    );
    let err = load_with(dir.path(), None, &[("TRADEDESK_LOG__LEVEL", "loud")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("log.level") && err.contains("loud"), "{err}");
    let err = load_with(dir.path(), Some("[rpc]\nmax_batch = \"many\"\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("rpc.max_batch"), "{err}");
}

#[test]
fn backtest_defaults_are_checked_with_their_key() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["\"-1\"", "\"10\"", "\"x\""] {
        let text = format!("[backtest]\ncommission_pct = {bad}\n");
        let err = load_with(dir.path(), Some(&text), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("backtest.commission_pct"), "{bad}: {err}");
    }
    let ok = load_with(
        dir.path(),
        Some("[backtest]\ncommission_pct = \"0.075\"\n"),
        &[],
    )
    .unwrap();
    assert_eq!(ok.backtest.commission_pct.to_string(), "0.075");
    let err = load_with(dir.path(), Some("[streams]\nfigures_ms = 60001\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("streams.figures_ms"), "{err}");
}

#[test]
fn sim_settings_are_checked_with_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_with(dir.path(), Some("[sim]\nmaker_fee = \"1.5\"\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("sim.maker_fee"), "{err}");
    let err = load_with(dir.path(), Some("[sim]\ntaker_fee = \"NaN\"\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sim.taker_fee") && err.contains("NaN"),
        "{err}"
    );
    let bad_symbol = "[[sim.symbols]]\nsymbol = \"b-c\"\nbase = \"BTC\"\nquote = \"USDT\"\ntick_size = \"0.01\"\nlot_size = \"0.001\"\nmin_qty = \"0.001\"\nmin_notional = \"5\"\nstart_price = \"100\"\nvolatility = 0.5\ntrade_notional = 100.0\n";
    let err = load_with(dir.path(), Some(bad_symbol), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("sim.symbols[0].symbol"), "{err}");
    let off_tick = bad_symbol
        .replace("\"b-c\"", "\"XYZUSDT\"")
        .replace("\"100\"", "\"100.001\"");
    let err = load_with(dir.path(), Some(&off_tick), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("sim.symbols[0].start_price"), "{err}");
    let c = load_with(dir.path(), None, &[]).unwrap();
    assert_eq!(c.sim.spec.symbols.len(), 3);
    assert_eq!(
        c.sim.initial_balances,
        [("USDT".to_owned(), "10000".parse().unwrap())]
    );
    assert_eq!(c.sim.margin.leverage.to_string(), "2");
    assert_eq!(c.sim.margin.maintenance_pct, None);
    assert_eq!(c.sim.margin.borrow_pct.to_string(), "0.001");
    for (text, key) in [
        ("leverage = \"0\"", "sim.margin.leverage"),
        ("leverage = \"x\"", "sim.margin.leverage"),
        ("maintenance_pct = \"60\"", "sim.margin.maintenance_pct"),
        ("borrow_pct = \"10\"", "sim.margin.borrow_pct"),
        ("borrow_period = \"2h\"", "sim.margin.borrow_period"),
    ] {
        let err = load_with(dir.path(), Some(&format!("[sim.margin]\n{text}\n")), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{text}: {err}");
    }
}

#[test]
fn explicit_missing_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_from(&flags_in(dir.path()), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("none.toml"), "{err}");
}

#[test]
fn the_shipped_config_file_is_the_defaults() {
    let shipped = include_str!("../../../../config/tradingd.toml");
    let parsed: RawConfig = toml::from_str(shipped).expect("config/tradingd.toml parses");
    assert_eq!(
        parsed,
        RawConfig::default(),
        "config/tradingd.toml must document the defaults"
    );
}

#[test]
fn other_machines_are_served_only_with_tls_or_behind_a_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let err = |text: &str| {
        load_with(dir.path(), Some(text), &[])
            .unwrap_err()
            .to_string()
    };
    let open = err("[http]\nbind = \"0.0.0.0:8686\"\n");
    assert!(
        open.contains("http.bind") && open.contains("tls_cert"),
        "{open}"
    );
    assert!(err("[http]\ntls_cert = \"/c.pem\"\n").contains("http.tls_key"));
    assert!(err("[http]\ntls_key = \"/k.pem\"\n").contains("http.tls_cert"));
    assert!(
        err("[http]\nbehind_proxy = true\ntrusted_proxies = [\"proxy\"]\n")
            .contains("http.trusted_proxies[0]")
    );
    let tls = load_with(
        dir.path(),
        Some("[http]\nbind = \"0.0.0.0:8686\"\ntls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\n"),
        &[],
    )
    .unwrap();
    assert!(tls.http.tls.is_some() && !tls.http.behind_proxy);
    let proxied = load_with(
        dir.path(),
        Some("[http]\nbind = \"10.0.0.5:8686\"\nbehind_proxy = true\ntrusted_proxies = [\"10.0.0.1\"]\n"),
        &[],
    )
    .unwrap();
    assert_eq!(
        proxied.http.trusted_proxies,
        vec!["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
}

#[test]
fn the_clients_and_secret_stores_variables_are_not_config_keys() {
    let dir = tempfile::tempdir().unwrap();
    let c = load_with(
        dir.path(),
        None,
        &[
            ("TRADEDESK_SECRET_STORE", "file"),
            ("TRADEDESK_SECRETS_DIR", "/tmp/x"),
            ("TRADEDESK_TOKEN", "t"),
            ("TRADEDESK_REMOTE", "https://desk.example"),
        ],
    );
    assert!(c.is_ok(), "{:?}", c.err().map(|e| e.to_string()));
}

#[test]
fn binance_settings_are_checked_and_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    assert!(load_with(dir.path(), None, &[]).unwrap().binance.is_none());
    let on = load_with(dir.path(), Some("[binance]\nenabled = true\n"), &[]).unwrap();
    let b = on.binance.expect("binance on");
    assert_eq!((b.live, b.symbols.len()), (false, 2));
    for (bad, key) in [
        (
            "[binance]\nenabled = true\nsymbols = [\"btc usdt\"]\n",
            "binance.symbols",
        ),
        (
            "[binance]\nenabled = true\nws_url = \"http://x\"\n",
            "binance.ws_url",
        ),
        (
            "[binance]\nenabled = true\nrotate_after_s = 90000\n",
            "binance.rotate_after_s",
        ),
    ] {
        let err = load_with(dir.path(), Some(bad), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{bad}: {err}");
    }
}
