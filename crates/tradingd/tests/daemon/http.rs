//! The HTTP REST API: the catalogue at its routes with the same handlers,
//! users, access and refresh tokens, scopes, throttled logins, and the
//! errors of the catalogue's table.

#![allow(clippy::needless_pass_by_value)]

use base64::Engine;
use serde_json::{Value, json};

use super::support::{TestDaemon, call};

const PASSWORD: &str = "correct horse battery";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message of a WebSocket, as JSON, within 10 s.
fn next_json(rt: &tokio::runtime::Runtime, ws: &mut Ws) -> Value {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    rt.block_on(async {
        loop {
            let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
                .await
                .expect("a message in time")
                .expect("open")
                .expect("a frame");
            if let Message::Text(t) = msg {
                return serde_json::from_str(t.as_str()).expect("json");
            }
        }
    })
}

struct Http {
    d: TestDaemon,
    base: String,
    client: reqwest::Client,
}

/// (status, body) of one request.
type Answer = (u16, Value);

impl Http {
    fn start() -> Http {
        Http::start_with(|_| {})
    }

    fn start_with(tweak: impl FnOnce(&mut tradingd::config::Config)) -> Http {
        let d = TestDaemon::start_with(|c| {
            c.http.enabled = true;
            c.http.bind = "127.0.0.1:0".parse().expect("addr");
            c.http.max_body_bytes = 4096;
            // These tests are about other things than rate limits.
            c.http.rate_per_min = 1_000_000;
            c.http.rate_burst = 10_000;
            c.sim.spec.tick_ms = 60_000;
            c.sim.history_minutes = 0;
            tweak(c);
        });
        let base = format!("http://{}", d.http.expect("http enabled"));
        Http {
            d,
            base,
            client: {
                tradedesk_core::client::remote::install_crypto_provider();
                reqwest::Client::new()
            },
        }
    }

    fn send(&self, verb: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        self.raw(verb, path, token, body.map(|b| b.to_string().into_bytes()))
    }

    fn raw(&self, verb: &str, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> Answer {
        let (status, _, body) = self.full(verb, path, token, body, &[]);
        (status, body)
    }

    /// Status, headers and body, with extra request headers.
    fn full(
        &self,
        verb: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        extra: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let url = format!("{}{path}", self.base);
        let method = reqwest::Method::from_bytes(verb.as_bytes()).expect("verb");
        self.d.runtime().block_on(async {
            let mut req = self.client.request(method, url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.header("content-type", "application/json").body(b);
            }
            for (k, v) in extra {
                req = req.header(*k, *v);
            }
            let resp = req.send().await.expect("the server answers");
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let text = resp.text().await.expect("a body");
            (
                status,
                headers,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        })
    }

    fn user(&self, name: &str, role: &str) -> u64 {
        let mut c = self.d.client();
        let u = call(
            &mut c,
            "users.create",
            json!({ "name": name, "password": PASSWORD, "role": role }),
        );
        u["id"].as_u64().expect("id")
    }

    fn login(&self, name: &str) -> Value {
        let (status, tokens) = self.send(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({ "user": name, "password": PASSWORD })),
        );
        assert_eq!(status, 200, "{tokens}");
        tokens
    }

    fn access(&self, name: &str) -> String {
        self.login(name)["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }
}

#[test]
fn the_catalogue_is_served_with_tokens_scopes_and_the_error_table() {
    let h = Http::start();
    h.user("alice", "trader");
    h.user("bob", "viewer");

    // No token: 401 with the catalogue's code.
    let (status, body) = h.send("GET", "/api/v1/system/health", None, None);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], -32007);

    // A wrong password and an unknown user get the same answer.
    let wrong = json!({ "user": "alice", "password": "not the password" });
    let nobody = json!({ "user": "nobody", "password": "not the password" });
    let a = h.send("POST", "/api/v1/auth/login", None, Some(wrong));
    let b = h.send("POST", "/api/v1/auth/login", None, Some(nobody));
    assert_eq!(a.0, 401);
    assert_eq!(a, b, "no hint whether the user exists");

    let alice = h.access("alice");
    let (status, me) = h.send("GET", "/api/v1/auth/me", Some(&alice), None);
    assert_eq!(status, 200);
    assert_eq!(
        me,
        json!({ "user": "alice", "scope": "trade", "transport": "http" })
    );

    // Query values typed by the params' schema; pages as on the socket.
    let (status, page) = h.send("GET", "/api/v1/market/symbols?limit=1", Some(&alice), None);
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["next_cursor"], "1");

    // Trading: the body, then the order by the id in the path.
    let order = json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" });
    let (status, placed) = h.send("POST", "/api/v1/orders", Some(&alice), Some(order.clone()));
    assert_eq!(status, 200, "{placed}");
    assert_eq!(placed["status"], "filled");
    let id = placed["id"].as_u64().expect("id");
    let (status, got) = h.send("GET", &format!("/api/v1/orders/{id}"), Some(&alice), None);
    assert_eq!((status, &got["id"]), (200, &placed["id"]), "{got}");

    // Bad input names its field and changes nothing.
    let bad = json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "abc" });
    let (status, err) = h.send("POST", "/api/v1/orders", Some(&alice), Some(bad));
    assert_eq!(status, 400, "{err}");
    assert!(
        err["message"].as_str().is_some_and(|m| m.contains("qty")),
        "{err}"
    );
    let (status, err) = h.raw(
        "POST",
        "/api/v1/orders",
        Some(&alice),
        Some(b"{not json".to_vec()),
    );
    assert_eq!((status, &err["code"]), (400, &json!(-32700)), "{err}");

    // Scopes: a viewer cannot trade, a trader cannot manage users.
    let bob = h.access("bob");
    let (status, err) = h.send("POST", "/api/v1/orders", Some(&bob), Some(order));
    assert_eq!((status, &err["code"]), (403, &json!(-32008)), "{err}");
    let (status, _) = h.send("GET", "/api/v1/users", Some(&alice), None);
    assert_eq!(status, 403);

    // Files on the daemon's machine are not reachable over HTTP.
    let import =
        json!({ "path": "/etc/passwd", "format": "ohlcv", "symbol": "BTCUSDT", "interval": "1m" });
    let (status, err) = h.send("POST", "/api/v1/data", Some(&alice), Some(import.clone()));
    assert_eq!(status, 403, "{err}");
    let job = json!({ "kind": "data.import", "payload": import });
    let (status, err) = h.send("POST", "/api/v1/jobs", Some(&alice), Some(job));
    assert_eq!(status, 403, "{err}");

    // The OpenAPI document, without a token.
    let (status, doc) = h.send("GET", "/openapi.json", None, None);
    assert_eq!((status, &doc["openapi"]), (200, &json!("3.1.0")));
    assert!(doc["paths"]["/api/v1/orders/{id}"]["get"].is_object());
    // Swagger UI, from the binary.
    let (status, page) = h.send("GET", "/docs/", None, None);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.as_str().is_some_and(|p| p.contains("swagger")),
        "{page}"
    );
    // ReDoc, from the binary too: the page inlines its bundle and points at
    // the document above.
    let (status, page) = h.send("GET", "/redoc", None, None);
    assert_eq!(status, 200);
    let page = page.as_str().expect("an HTML page");
    assert!(
        page.contains("Redoc.init(\"/openapi.json\""),
        "{}",
        &page[..200]
    );
    assert!(
        page.len() > 500_000 && !page.contains("<script src"),
        "the bundle is inlined, not loaded from elsewhere"
    );

    // No route, and a body over the limit.
    let (status, err) = h.send("GET", "/api/v1/nothing/here", Some(&alice), None);
    assert_eq!((status, &err["code"]), (404, &json!(-32601)), "{err}");
    let big = vec![b' '; 10_000];
    let (status, _) = h.raw("POST", "/api/v1/orders", Some(&alice), Some(big));
    assert_eq!(status, 413);
}

#[test]
fn a_refresh_token_works_once_and_a_replay_ends_the_session() {
    let h = Http::start();
    h.user("carol", "trader");
    let first = h.login("carol");
    let rt1 = first["refresh_token"].clone();
    let (status, second) = h.send(
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({ "refresh_token": rt1 })),
    );
    assert_eq!(status, 200, "{second}");
    let rt2 = second["refresh_token"].clone();
    assert_ne!(rt1, rt2);
    let (status, me) = h.send(
        "GET",
        "/api/v1/auth/me",
        second["access_token"].as_str(),
        None,
    );
    assert_eq!((status, &me["user"]), (200, &json!("carol")));

    // The first token again: refused, and the session it belongs to ends.
    let (status, _) = h.send(
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({ "refresh_token": rt1 })),
    );
    assert_eq!(status, 401);
    let (status, _) = h.send(
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({ "refresh_token": rt2 })),
    );
    assert_eq!(
        status, 401,
        "the newest token of a replayed session is revoked too"
    );

    // Logout ends a session; its refresh token no longer works.
    let third = h.login("carol");
    let rt3 = third["refresh_token"].clone();
    let (status, out) = h.send(
        "POST",
        "/api/v1/auth/logout",
        None,
        Some(json!({ "refresh_token": rt3 })),
    );
    assert_eq!((status, &out["revoked"]), (200, &json!(true)));
    let (status, _) = h.send(
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({ "refresh_token": rt3 })),
    );
    assert_eq!(status, 401);
}

/// A token signed with the daemon's secret, with the claims given.
fn forged(h: &Http, alg: jsonwebtoken::Algorithm, claims: Value) -> String {
    let text = std::fs::read_to_string(h.d.data_dir.join("jwt.secret")).expect("secret");
    let secret: Vec<u8> = (0..text.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text.trim()[i..i + 2], 16).expect("hex"))
        .collect();
    let key = jsonwebtoken::EncodingKey::from_secret(&secret).expect("key");
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &key).expect("token")
}

#[test]
fn bad_tokens_are_refused_and_user_changes_apply_at_once() {
    let h = Http::start();
    let id = h.user("dave", "trader");
    let now = chrono::Utc::now().timestamp();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let claims = |exp: i64, nbf: i64, typ: &str| {
        json!({ "sub": id.to_string(), "typ": typ, "iss": "tradingd", "aud": "tradedesk",
                "exp": exp, "nbf": nbf, "iat": now, "iat_ms": now_ms })
    };
    let me = |t: &str| h.send("GET", "/api/v1/auth/me", Some(t), None).0;
    let hs256 = jsonwebtoken::Algorithm::HS256;
    // The forger's well-formed token works: the checks below are the ones refusing.
    assert_eq!(me(&forged(&h, hs256, claims(now + 60, now, "access"))), 200);
    assert_eq!(
        me(&forged(&h, hs256, claims(now - 120, now - 300, "access"))),
        401,
        "expired"
    );
    assert_eq!(
        me(&forged(&h, hs256, claims(now + 600, now + 300, "access"))),
        401,
        "not yet valid"
    );
    assert_eq!(
        me(&forged(&h, hs256, claims(now + 60, now, "refresh"))),
        401,
        "not an access token"
    );
    let hs512 = jsonwebtoken::Algorithm::HS512;
    assert_eq!(
        me(&forged(&h, hs512, claims(now + 60, now, "access"))),
        401,
        "wrong algorithm"
    );
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims(now + 60, now, "access").to_string())
    );
    assert_eq!(me(&none), 401, "alg none");
    let good = h.access("dave");
    let tampered = format!("{}x", &good[..good.len() - 1]);
    assert_eq!(me(&tampered), 401, "wrong signature");
    let refresh = h.login("dave")["refresh_token"]
        .as_str()
        .expect("rt")
        .to_owned();
    assert_eq!(me(&refresh), 401, "a refresh token is not an access token");

    // A role change or a disabled user ends the tokens issued before.
    assert_eq!(me(&good), 200);
    let mut c = h.d.client();
    std::thread::sleep(std::time::Duration::from_millis(5));
    call(
        &mut c,
        "users.set_role",
        json!({ "id": id, "role": "viewer" }),
    );
    assert_eq!(me(&good), 401, "issued before the role changed");
    let viewer = h.access("dave");
    let (_, who) = h.send("GET", "/api/v1/auth/me", Some(&viewer), None);
    assert_eq!(who["scope"], "read");
    call(&mut c, "users.disable", json!({ "id": id }));
    assert_eq!(me(&viewer), 401, "disabled");
    let (status, _) = h.send(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({ "user": "dave", "password": PASSWORD })),
    );
    assert_eq!(status, 401, "a disabled user cannot log in");
}

#[test]
fn failed_logins_are_throttled_per_user() {
    let h = Http::start();
    h.user("erin", "trader");
    for _ in 0..5 {
        let (status, _) = h.send(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({ "user": "erin", "password": "wrong wrong wrong" })),
        );
        assert_eq!(status, 401);
    }
    // Even the right password waits now.
    let (status, err) = h.send(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({ "user": "erin", "password": PASSWORD })),
    );
    assert_eq!((status, &err["code"]), (429, &json!(-32002)), "{err}");
    assert!(
        err["data"]["retry_after_s"]
            .as_i64()
            .is_some_and(|s| s >= 1),
        "{err}"
    );
}

#[test]
fn users_are_checked_and_admin_is_reserved() {
    let h = Http::start();
    let mut c = h.d.client();
    let err = super::support::call_err(
        &mut c,
        "users.create",
        json!({ "name": "admin", "password": PASSWORD }),
    );
    assert!(err.1.contains("name"), "{err:?}");
    let err = super::support::call_err(
        &mut c,
        "users.create",
        json!({ "name": "frank", "password": "short" }),
    );
    assert!(
        err.1.contains("password") && err.1.contains("12"),
        "{err:?}"
    );
    h.user("frank", "admin");
    let err = super::support::call_err(
        &mut c,
        "users.create",
        json!({ "name": "frank", "password": PASSWORD }),
    );
    assert!(err.1.contains("exists"), "{err:?}");
    // An HTTP admin manages users over HTTP.
    let frank = h.access("frank");
    let (status, page) = h.send("GET", "/api/v1/users", Some(&frank), None);
    assert_eq!(status, 200);
    let names: Vec<_> = page["items"]
        .as_array()
        .expect("list")
        .iter()
        .map(|u| (u["name"].clone(), u["role"].clone()))
        .collect();
    assert_eq!(
        names,
        [
            (json!("admin"), json!("admin")),
            (json!("frank"), json!("admin"))
        ]
    );
    assert!(page["items"][1].get("password_hash").is_none());
    // The local administrator is not a user users.* change.
    let (status, err) = h.send("POST", "/api/v1/users/1/disable", Some(&frank), None);
    assert_eq!(status, 400, "{err}");
}

#[test]
fn requests_are_rate_limited_per_user_with_headers() {
    let h = Http::start_with(|c| {
        c.http.rate_per_min = 60;
        c.http.rate_burst = 3;
    });
    h.user("gina", "trader");
    let gina = h.access("gina");
    let header = |hs: &reqwest::header::HeaderMap, k: &str| {
        hs.get(k).and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    let mut left = Vec::new();
    for _ in 0..3 {
        let (status, hs, _) = h.full("GET", "/api/v1/auth/me", Some(&gina), None, &[]);
        assert_eq!(status, 200);
        assert_eq!(header(&hs, "x-ratelimit-limit").as_deref(), Some("60"));
        left.push(header(&hs, "x-ratelimit-remaining").expect("remaining"));
    }
    assert_eq!(left, ["2", "1", "0"]);
    let (status, hs, err) = h.full("GET", "/api/v1/auth/me", Some(&gina), None, &[]);
    assert_eq!((status, &err["code"]), (429, &json!(-32002)), "{err}");
    assert_eq!(header(&hs, "retry-after").as_deref(), Some("1"));
    // At 60 a minute, one more a second later.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(h.send("GET", "/api/v1/auth/me", Some(&gina), None).0, 200);
}

#[test]
fn browsers_may_call_from_the_configured_origins_only() {
    let h = Http::start_with(|c| c.http.cors_origins = vec!["https://desk.example.com".into()]);
    let preflight = |origin: &str| {
        let (status, hs, _) = h.full(
            "OPTIONS",
            "/api/v1/orders",
            None,
            None,
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,content-type",
                ),
            ],
        );
        (status, hs.get("access-control-allow-origin").cloned())
    };
    let (status, allowed) = preflight("https://desk.example.com");
    assert_eq!(status, 200);
    assert_eq!(
        allowed.as_ref().and_then(|v| v.to_str().ok()),
        Some("https://desk.example.com")
    );
    let (_, refused) = preflight("https://evil.example.com");
    assert!(refused.is_none(), "{refused:?}");
}

#[test]
fn a_user_cannot_see_another_users_bot() {
    let h = Http::start();
    h.user("hank", "trader");
    let mut c = h.d.client();
    let bot = call(
        &mut c,
        "bots.create",
        json!({
            "name": "admins-bot",
            "spec": { "strategy": "dca", "params": { "every_bars": 5 } },
            "symbols": ["BTCUSDT"],
            "allocation": { "USDT": "100" }
        }),
    );
    let hank = h.access("hank");
    let (status, err) = h.send(
        "GET",
        &format!("/api/v1/bots/{}", bot["id"]),
        Some(&hank),
        None,
    );
    assert_eq!(
        (status, &err["code"]),
        (404, &json!(-32006)),
        "not 403: no hint it exists {err}"
    );
    let (status, list) = h.send("GET", "/api/v1/bots", Some(&hank), None);
    assert_eq!(status, 200);
    assert_eq!(list["items"], json!([]));
}

#[test]
fn each_user_trades_their_own_paper_account_and_sees_only_their_own() {
    let h = Http::start();
    h.user("ann", "trader");
    h.user("bob", "trader");
    let (ann, bob) = (h.access("ann"), h.access("bob"));
    let mut admin = h.d.client();
    // Each user was given a paper account of their own, funded as `paper`.
    for (token, name) in [(&ann, "paper-ann"), (&bob, "paper-bob")] {
        let (status, list) = h.send("GET", "/api/v1/accounts", Some(token), None);
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
        assert_eq!(list["items"][0]["name"], name);
        let (_, bal) = h.send("GET", "/api/v1/accounts/balances", Some(token), None);
        assert_eq!(bal["account"], name, "{bal}");
        let paper = call(&mut admin, "accounts.balances", json!({}));
        assert_eq!(
            bal["balances"], paper["balances"],
            "the configured starting balances"
        );
    }
    let all = call(&mut admin, "accounts.list", json!({}));
    assert_eq!(all["items"].as_array().map(Vec::len), Some(3), "{all}");

    // Ann's resting order, on her account by default.
    let order = json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.1", "price": "1000" });
    let (status, placed) = h.send("POST", "/api/v1/orders", Some(&ann), Some(order.clone()));
    assert_eq!(status, 200, "{placed}");
    assert_eq!(placed["account"], "paper-ann");
    let path = format!("/api/v1/orders/{}", placed["id"]);
    // Bob cannot read, cancel or list it, nor trade her account: 404, not 403.
    for (verb, p) in [("GET", path.as_str()), ("DELETE", path.as_str())] {
        let (status, err) = h.send(verb, p, Some(&bob), None);
        assert_eq!(
            (status, &err["code"]),
            (404, &json!(-32006)),
            "{verb} {err}"
        );
    }
    let (_, none) = h.send("DELETE", "/api/v1/orders", Some(&bob), None);
    assert_eq!(
        none["cancelled"],
        json!([]),
        "cancel_all is Bob's orders only"
    );
    let (_, open) = h.send("GET", "/api/v1/orders?open=true", Some(&bob), None);
    assert_eq!(open["items"], json!([]));
    let (_, history) = h.send("GET", "/api/v1/orders", Some(&bob), None);
    assert_eq!(history["items"], json!([]));
    let mut on_hers = order.clone();
    on_hers["account"] = json!("paper-ann");
    let (status, err) = h.send("POST", "/api/v1/orders", Some(&bob), Some(on_hers));
    assert_eq!(
        (status, &err["data"]["field"]),
        (404, &json!("account")),
        "{err}"
    );
    let (status, err) = h.send(
        "POST",
        "/api/v1/risk/halt",
        Some(&bob),
        Some(json!({ "scope": "account:paper-ann" })),
    );
    assert_eq!(status, 404, "Bob cannot halt Ann's account: {err}");
    // Ann sees hers; the admin sees everyone's.
    let (_, open) = h.send("GET", "/api/v1/orders?open=true", Some(&ann), None);
    assert_eq!(open["items"][0]["id"], placed["id"], "{open}");
    let all = call(&mut admin, "orders.list", json!({ "open": true }));
    assert!(
        all["items"]
            .as_array()
            .is_some_and(|o| o.iter().any(|o| o["id"] == placed["id"])),
        "{all}"
    );

    // A fill of Ann's is in her trades and positions only.
    let buy = json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" });
    let (status, filled) = h.send("POST", "/api/v1/orders", Some(&ann), Some(buy));
    assert_eq!(
        (status, &filled["status"]),
        (200, &json!("filled")),
        "{filled}"
    );
    let (_, mine) = h.send("GET", "/api/v1/trades", Some(&ann), None);
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1), "{mine}");
    for p in ["/api/v1/trades", "/api/v1/positions"] {
        let (_, theirs) = h.send("GET", p, Some(&bob), None);
        assert_eq!(theirs["items"], json!([]), "{p}: {theirs}");
    }
    let (_, stats) = h.send("GET", "/api/v1/trades/stats", Some(&bob), None);
    assert_eq!(stats["count"], 0, "{stats}");
    let (_, pos) = h.send("GET", "/api/v1/positions", Some(&ann), None);
    assert_eq!(pos["items"][0]["account"], "paper-ann", "{pos}");
}

#[test]
fn a_users_jobs_act_on_their_own_objects_only() {
    let h = Http::start();
    h.user("ann", "trader");
    h.user("bob", "trader");
    let (ann, bob) = (h.access("ann"), h.access("bob"));
    let (status, err) = h.send(
        "POST",
        "/api/v1/jobs",
        Some(&bob),
        Some(json!({ "kind": "maintenance.vacuum" })),
    );
    assert_eq!(status, 403, "whole-daemon jobs are an admin's: {err}");
    // Bob's jobs cannot name Ann's bot, and he cannot see hers.
    let (status, bot) = h.send(
        "POST",
        "/api/v1/bots",
        Some(&ann),
        Some(json!({
            "name": "anns-dca",
            "spec": { "strategy": "dca", "params": { "every_bars": 5 } },
            "symbols": ["BTCUSDT"],
            "allocation": { "USDT": "100" }
        })),
    );
    assert_eq!(
        (status, &bot["account"]),
        (200, &json!("paper-ann")),
        "{bot}"
    );
    let (status, err) = h.send(
        "POST",
        "/api/v1/jobs",
        Some(&bob),
        Some(json!({ "kind": "bot.start", "payload": { "id": bot["id"] } })),
    );
    assert_eq!(
        (status, &err["data"]["field"]),
        (400, &json!("payload.id")),
        "{err}"
    );
    let (_, job) = h.send(
        "POST",
        "/api/v1/jobs",
        Some(&ann),
        Some(json!({ "kind": "bot.stop", "payload": { "id": bot["id"] } })),
    );
    let (status, _) = h.send(
        "GET",
        &format!("/api/v1/jobs/{}", job["id"]),
        Some(&bob),
        None,
    );
    assert_eq!(status, 404);
    let (_, jobs) = h.send("GET", "/api/v1/jobs", Some(&bob), None);
    assert_eq!(jobs["items"], json!([]), "{jobs}");
}

#[test]
fn the_websocket_carries_a_users_own_order_events_only() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let h = Http::start();
    h.user("ann", "trader");
    h.user("bob", "trader");
    let (ann, bob) = (h.access("ann"), h.access("bob"));
    let rt = h.d.runtime();
    let mut req = format!("ws://{}/api/v1/ws", h.d.http.expect("http"))
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {bob}").parse().expect("header"),
    );
    let (mut ws, _) = rt
        .block_on(tokio_tungstenite::connect_async(req))
        .expect("upgrade");
    let next = |ws: &mut Ws| next_json(rt, ws);
    rt.block_on(
        ws.send(Message::Text(
            json!({ "jsonrpc": "2.0", "id": 1, "method": "streams.subscribe",
                "params": { "topics": ["orders.updates", "trades.executions"] } })
            .to_string()
            .into(),
        )),
    )
    .expect("send");
    assert!(next(&mut ws)["result"]["topics"].is_array());
    // Ann trades first, then Bob: the first event Bob's stream carries is his.
    let buy = json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" });
    for token in [&ann, &bob] {
        let (status, o) = h.send("POST", "/api/v1/orders", Some(token), Some(buy.clone()));
        assert_eq!(status, 200, "{o}");
    }
    let first = next(&mut ws);
    assert_eq!(first["params"]["event"]["account"], "paper-bob", "{first}");
}

#[test]
fn the_websocket_speaks_json_rpc_with_streams_for_a_logged_in_user() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let h = Http::start();
    h.user("ivy", "viewer");
    let token = h.access("ivy");
    let url = format!("ws://{}/api/v1/ws", h.d.http.expect("http"));
    let rt = h.d.runtime();
    // A bad token on the upgrade is refused there.
    let mut bad = url.clone().into_client_request().expect("request");
    bad.headers_mut()
        .insert("authorization", "Bearer nonsense".parse().expect("header"));
    let refused = rt.block_on(tokio_tungstenite::connect_async(bad));
    assert!(
        matches!(&refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401),
        "{refused:?}"
    );
    // Without one, the first message must carry it: a bad one closes (4001).
    let (mut anon, _) = rt
        .block_on(tokio_tungstenite::connect_async(url.clone()))
        .expect("upgrade");
    rt.block_on(anon.send(Message::Text(
        json!({ "token": "nonsense" }).to_string().into(),
    )))
    .expect("send");
    let closed = rt.block_on(anon.next());
    assert!(
        matches!(&closed, Some(Ok(Message::Close(Some(f)))) if u16::from(f.code) == 4001),
        "{closed:?}"
    );
    // A browser's way: the token as a subprotocol.
    let mut req = url.clone().into_client_request().expect("request");
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("bearer, {token}").parse().expect("header"),
    );
    let (mut ws, resp) = rt
        .block_on(tokio_tungstenite::connect_async(req))
        .expect("upgrade");
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("bearer")
    );
    let next_text = |ws: &mut Ws| next_json(rt, ws);
    let send = |ws: &mut tokio_tungstenite::WebSocketStream<_>, v: Value| {
        rt.block_on(ws.send(Message::Text(v.to_string().into())))
            .expect("send");
    };
    send(
        &mut ws,
        json!({ "jsonrpc": "2.0", "id": 1, "method": "auth.me" }),
    );
    let me = next_text(&mut ws);
    assert_eq!(
        me["result"],
        json!({ "user": "ivy", "scope": "read", "transport": "http" })
    );
    // Scopes hold here too: a viewer cannot trade.
    send(
        &mut ws,
        json!({ "jsonrpc": "2.0", "id": 2, "method": "orders.place",
        "params": { "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" } }),
    );
    assert_eq!(next_text(&mut ws)["error"]["code"], -32008);
    send(
        &mut ws,
        json!({ "jsonrpc": "2.0", "id": 3, "method": "streams.subscribe",
        "params": { "topics": ["market.tickers"] } }),
    );
    assert_eq!(
        next_text(&mut ws)["result"]["topics"],
        json!(["market.tickers"])
    );
    h.d.step();
    let event = next_text(&mut ws);
    assert_eq!(event["params"]["topic"], "market.tickers", "{event}");
    // A good token as the first message.
    let (mut late, _) = rt
        .block_on(tokio_tungstenite::connect_async(url.clone()))
        .expect("upgrade");
    send(&mut late, json!({ "token": token }));
    assert_eq!(next_text(&mut late)["method"], "auth.authenticated");
    send(
        &mut late,
        json!({ "jsonrpc": "2.0", "id": 1, "method": "auth.me" }),
    );
    assert_eq!(next_text(&mut late)["result"]["user"], "ivy");
}

#[test]
fn metrics_are_exposed_to_admins() {
    let h = Http::start();
    h.user("ops", "admin");
    h.user("jay", "trader");
    let jay = h.access("jay");
    let order = json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" });
    assert_eq!(
        h.send("POST", "/api/v1/orders", Some(&jay), Some(order)).0,
        200
    );
    assert_eq!(h.send("GET", "/api/v1/auth/me", Some(&jay), None).0, 200);
    assert_eq!(h.send("GET", "/metrics", None, None).0, 401);
    assert_eq!(h.send("GET", "/metrics", Some(&jay), None).0, 403);
    let ops = h.access("ops");
    let (status, text) = h.send("GET", "/metrics", Some(&ops), None);
    assert_eq!(status, 200);
    let text = text.as_str().expect("text");
    for line in [
        "tradingd_requests_total{method=\"auth.me\",transport=\"http\"}",
        "tradingd_request_seconds_bucket{method=\"orders.place\",transport=\"http\",le=\"+Inf\"}",
        "tradingd_orders{status=\"filled\"} 1",
        "tradingd_fills_total ",
        "tradingd_cache_hits_total{namespace=\"market.ticker\"}",
        "tradingd_sessions ",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

/// Every route with inputs made from its params' schema — nothing, wrong
/// types, huge and negative numbers, odd strings — as an admin (the widest
/// reach): never a 5xx, never a dropped connection, and the daemon answers
/// after.
#[test]
fn no_route_answers_5xx_to_generated_input() {
    let h = Http::start();
    h.user("root2", "admin");
    let admin = h.access("root2");
    let mut c = h.d.client();
    let methods = call(&mut c, "system.methods", json!({}));
    let odd = [
        json!(null),
        json!(-1),
        json!(1e300),
        json!("x"),
        json!(""),
        json!([]),
        json!({}),
        json!(true),
        json!(18_446_744_073_709_551_615u64),
        json!("0".repeat(300)),
    ];
    let mut calls = 0;
    for m in methods["methods"].as_array().expect("methods") {
        let name = m["name"].as_str().unwrap_or_default();
        if [
            "system.shutdown",
            "users.disable",
            "users.set_role",
            "users.reset_password",
            "auth.password",
        ]
        .contains(&name)
        {
            continue; // would end the test's own session or daemon
        }
        let verb = m["http_verb"].as_str().unwrap_or("GET");
        let props: Vec<String> = m["params_schema"]["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let fill = |v: &Value| {
            let path = m["http_path"].as_str().unwrap_or_default().to_owned();
            let path = props
                .iter()
                .fold(path, |p, k| p.replace(&format!("{{{k}}}"), "1"));
            let body = Value::Object(props.iter().map(|k| (k.clone(), v.clone())).collect());
            (path, body)
        };
        for v in &odd {
            let (path, body) = fill(v);
            let with_body = verb != "GET" && verb != "DELETE";
            let path = if with_body {
                path
            } else {
                let q: Vec<String> = props
                    .iter()
                    .map(|k| format!("{k}={}", v.to_string().trim_matches('"')))
                    .collect();
                format!("{path}?{}", q.join("&"))
            };
            let (status, resp) = h.send(verb, &path, Some(&admin), with_body.then(|| body.clone()));
            assert!(status < 500, "{verb} {path} {body} → {status} {resp}");
            calls += 1;
        }
    }
    assert!(calls > 500, "only {calls} calls made");
    assert_eq!(h.send("GET", "/api/v1/auth/me", Some(&admin), None).0, 200);
}

#[test]
fn personal_access_tokens_for_scripts_are_scoped_expiring_and_revocable() {
    let h = Http::start();
    h.user("kim", "trader");
    let kim = h.access("kim");
    // No wider than the caller's scope.
    let (status, err) = h.send(
        "POST",
        "/api/v1/auth/tokens",
        Some(&kim),
        Some(json!({ "name": "too wide", "scope": "admin", "expires_days": 30 })),
    );
    assert_eq!(status, 400, "{err}");
    assert!(
        err["message"].as_str().is_some_and(|m| m.contains("scope")),
        "{err}"
    );
    let (status, err) = h.send(
        "POST",
        "/api/v1/auth/tokens",
        Some(&kim),
        Some(json!({ "name": "forever", "expires_days": 1000 })),
    );
    assert!(
        status == 400
            && err["message"]
                .as_str()
                .is_some_and(|m| m.contains("expires_days")),
        "{err}"
    );
    let (status, made) = h.send(
        "POST",
        "/api/v1/auth/tokens",
        Some(&kim),
        Some(json!({ "name": "cron reader", "scope": "read", "expires_days": 30 })),
    );
    assert_eq!(status, 200, "{made}");
    let pat = made["token"].as_str().expect("token").to_owned();
    assert!(pat.starts_with("pat_"));
    let (status, me) = h.send("GET", "/api/v1/auth/me", Some(&pat), None);
    assert_eq!((status, &me["scope"]), (200, &json!("read")), "{me}");
    let order = json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" });
    assert_eq!(
        h.send("POST", "/api/v1/orders", Some(&pat), Some(order)).0,
        403,
        "a read token cannot trade"
    );
    // Listed without the token itself; revoked, it stops at once.
    let (_, list) = h.send("GET", "/api/v1/auth/tokens", Some(&kim), None);
    assert_eq!(list["items"][0]["name"], "cron reader");
    assert!(list["items"][0].get("token").is_none());
    let id = made["id"].as_u64().expect("id");
    let (status, gone) = h.send(
        "DELETE",
        &format!("/api/v1/auth/tokens/{id}"),
        Some(&kim),
        None,
    );
    assert_eq!((status, &gone["revoked"]), (200, &json!(true)));
    assert_eq!(h.send("GET", "/api/v1/auth/me", Some(&pat), None).0, 401);
    // Another user's token is not found; a made-up one is refused.
    h.user("lee", "trader");
    let lee = h.access("lee");
    assert_eq!(
        h.send(
            "DELETE",
            &format!("/api/v1/auth/tokens/{id}"),
            Some(&lee),
            None
        )
        .0,
        404
    );
    assert_eq!(
        h.send("GET", "/api/v1/auth/me", Some("pat_made-up"), None)
            .0,
        401
    );
}

#[test]
fn users_made_before_accounts_were_per_user_get_theirs_at_start() {
    use tradedesk_core::api::auth::Role;
    use tradedesk_core::time::Timestamp;
    use tradingd::store::Store;

    let d = TestDaemon::start();
    let db_path = d.ctx.config.db_path();
    let dir = d.stop();
    // As an older daemon left it: a user with no account.
    Store::open(&db_path)
        .expect("store")
        .write(|tx| tradingd::store::users::insert(tx, "olga", "x", Role::Viewer, Timestamp(0)))
        .expect("seed");
    let d = TestDaemon::start_in(dir, |_| {});
    let mut c = d.client();
    let all = call(&mut c, "accounts.list", json!({}));
    let owners: Vec<(&str, &str)> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap_or(""),
                a["owner"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        owners,
        [("paper", "admin"), ("paper-olga", "olga")],
        "{all}"
    );
}

#[test]
fn a_users_datasets_and_backtests_are_their_own() {
    use super::backtests::{import, sine_csv, spec, wait_backtest};

    let h = Http::start();
    h.user("ann", "trader");
    let ann = h.access("ann");
    let mut admin = h.d.client();
    let dir = tempfile::tempdir().expect("dir");
    let path = sine_csv(dir.path(), "sine.csv", 120);
    let job = import(&mut admin, json!({ "path": path, "symbol": "SINEUSD" }));
    let ds = job["result"]["dataset"].clone();
    let created = call(&mut admin, "backtests.create", spec(&ds, 5, 20));
    let run = wait_backtest(&mut admin, &created);
    assert_eq!(
        (&run["state"], &run["owner"]),
        (&json!("succeeded"), &json!("admin"))
    );
    // Ann sees neither, by list or by id, and cannot backtest on the dataset.
    for p in ["/api/v1/data", "/api/v1/backtests"] {
        let (status, list) = h.send("GET", p, Some(&ann), None);
        assert_eq!((status, &list["items"]), (200, &json!([])), "{p}");
    }
    for p in [
        format!("/api/v1/data/{ds}"),
        format!("/api/v1/backtests/{}", run["id"]),
        format!("/api/v1/backtests/{}/results", run["id"]),
    ] {
        let (status, err) = h.send("GET", &p, Some(&ann), None);
        assert_eq!(status, 404, "{p}: {err}");
    }
    let (status, err) = h.send(
        "POST",
        "/api/v1/backtests",
        Some(&ann),
        Some(spec(&ds, 5, 20)),
    );
    assert_eq!(
        (status, &err["data"]["field"]),
        (400, &json!("strategies[0].datasets")),
        "{err}"
    );
    // The admin sees them with their owner.
    let list = call(&mut admin, "data.list", json!({}));
    assert_eq!(list["items"][0]["owner"], "admin", "{list}");
}

#[test]
fn https_serves_the_api_with_the_configured_certificate() {
    use std::io::{Read as _, Write as _};
    use tradedesk_core::api::auth::{AuthLogin, Credentials, Secret};
    use tradedesk_core::client::remote::Target;
    use tradedesk_core::client::{Client, ClientError};

    let dir = tempfile::tempdir().expect("dir");
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("cert");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("key");
    let h = Http::start_with(|c| {
        c.http.tls = Some(tradingd::config::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
    });
    let port = h.d.http.expect("http").port();
    let target = |ca: Option<std::path::PathBuf>| Target {
        url: format!("https://localhost:{port}"),
        token: String::new(),
        ca,
    };
    h.user("tess", "viewer");
    let login = Credentials {
        user: "tess".into(),
        password: Secret::new(PASSWORD),
    };
    // Trusting the daemon's certificate: the API answers over TLS.
    let mut c = Client::connect_remote(target(Some(cert.clone()))).expect("client");
    let tokens = c.call::<AuthLogin>(&login).expect("a login over https");
    assert!(!tokens.access_token.expose().is_empty());
    // An unknown certificate is refused by the client, before the password
    // is sent.
    let mut stranger = Client::connect_remote(target(None)).expect("client");
    let refused = stranger.call::<AuthLogin>(&login);
    assert!(
        matches!(&refused, Err(e @ ClientError::NoAnswer { .. }) if e.to_string().contains("certificate")),
        "{refused:?}"
    );
    // Plain HTTP on the TLS port gets no API.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    tcp.write_all(b"GET /api/v1/system/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    assert!(
        !got.starts_with(b"HTTP/1.1"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn a_bad_certificate_fails_the_start_naming_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "not a certificate").expect("write");
    let mut config = tradingd::config::Config::for_dir(dir.path());
    config.http.enabled = true;
    config.http.bind = "127.0.0.1:0".parse().expect("addr");
    config.http.tls = Some(tradingd::config::TlsFiles {
        cert: cert.clone(),
        key: cert.clone(),
    });
    let err = TestDaemon::try_start_in(dir, config)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("cert.pem"), "{err}");
}

#[test]
fn open_registration_profiles_and_preferences() {
    // Closed by default: 403, and no user is made.
    let closed = Http::start();
    let me = json!({ "user": "newcomer", "password": PASSWORD });
    let (status, err) = closed.send("POST", "/api/v1/auth/register", None, Some(me.clone()));
    assert_eq!(status, 403, "{err}");
    let (status, _) = closed.send("POST", "/api/v1/auth/login", None, Some(me.clone()));
    assert_eq!(status, 401);

    let h = Http::start_with(|c| {
        c.auth.open_registration = true;
        c.auth.registration_role = tradedesk_core::api::auth::Role::Trader;
    });
    let (status, user) = h.send("POST", "/api/v1/auth/register", None, Some(me.clone()));
    assert_eq!((status, &user["role"]), (200, &json!("trader")), "{user}");
    for (body, field) in [
        (json!({ "user": "admin", "password": PASSWORD }), "user"),
        (json!({ "user": "x y", "password": PASSWORD }), "user"),
        (json!({ "user": "shorty", "password": "short" }), "password"),
    ] {
        let (status, err) = h.send("POST", "/api/v1/auth/register", None, Some(body));
        assert_eq!(
            (status, &err["data"]["field"]),
            (400, &json!(field)),
            "{err}"
        );
    }
    let (status, _) = h.send("POST", "/api/v1/auth/register", None, Some(me));
    assert_eq!(status, 409, "a name is taken once");
    let token = h.access("newcomer");
    let (_, bal) = h.send("GET", "/api/v1/accounts/balances", Some(&token), None);
    assert_eq!(
        bal["account"], "paper-newcomer",
        "a registered user trades paper too"
    );

    // The profile: fields checked by name, "" clears one.
    let (status, p) = h.send(
        "PATCH",
        "/api/v1/auth/profile",
        Some(&token),
        Some(json!({ "display_name": "New Comer", "email": "nc@example.com", "timezone": "Asia/Tokyo" })),
    );
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["timezone"], "Asia/Tokyo");
    for (body, field) in [
        (json!({ "email": "not-an-address" }), "email"),
        (json!({ "timezone": "Mars/Olympus" }), "timezone"),
        (json!({ "display_name": "x".repeat(65) }), "display_name"),
    ] {
        let (status, err) = h.send("PATCH", "/api/v1/auth/profile", Some(&token), Some(body));
        assert_eq!(
            (status, &err["data"]["field"]),
            (400, &json!(field)),
            "{err}"
        );
    }
    let (_, p) = h.send(
        "PATCH",
        "/api/v1/auth/profile",
        Some(&token),
        Some(json!({ "email": "" })),
    );
    assert_eq!(
        (&p["display_name"], &p["email"]),
        (&json!("New Comer"), &Value::Null),
        "{p}"
    );
    // Preferences: a frontend's object, replaced whole, bounded.
    let prefs = json!({ "preferences": { "theme": "dark", "watch": ["BTCUSDT"] } });
    let (status, _) = h.send(
        "PUT",
        "/api/v1/auth/preferences",
        Some(&token),
        Some(prefs.clone()),
    );
    assert_eq!(status, 200);
    let (_, got) = h.send("GET", "/api/v1/auth/preferences", Some(&token), None);
    assert_eq!(got, prefs);
    let big = json!({ "preferences": { "blob": "x".repeat(17 * 1024) } });
    let h2 = &h;
    let (status, err) = h2.raw(
        "PUT",
        "/api/v1/auth/preferences",
        Some(&token),
        Some(big.to_string().into_bytes()),
    );
    assert!(status == 400 || status == 413, "{status} {err}");
    // Another user's profile is their own.
    h.user("other", "viewer");
    let other = h.access("other");
    let (_, p) = h.send("GET", "/api/v1/auth/profile", Some(&other), None);
    assert_eq!(
        p,
        json!({ "display_name": null, "email": null, "timezone": null })
    );
}

impl Http {
    /// A request with a raw body of the given content type: status,
    /// content type and body text.
    fn upload(
        &self,
        verb: &str,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, String, String) {
        let url = format!("{}{path}", self.base);
        let method = reqwest::Method::from_bytes(verb.as_bytes()).expect("verb");
        self.d.runtime().block_on(async {
            let resp = self
                .client
                .request(method, url)
                .bearer_auth(token)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .expect("an answer");
            let status = resp.status().as_u16();
            let ct = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (status, ct, resp.text().await.expect("a body"))
        })
    }
}

#[test]
fn files_travel_as_bodies_over_http_never_as_paths() {
    use super::backtests::sine_csv;

    let h = Http::start_with(|c| c.data.max_import_bytes = 64 * 1024);
    h.user("ann", "trader");
    h.user("bob", "trader");
    let (ann, bob) = (h.access("ann"), h.access("bob"));
    let dir = tempfile::tempdir().expect("dir");
    let csv = std::fs::read(sine_csv(dir.path(), "s.csv", 200)).expect("csv");
    let uploads = h.d.ctx.config.data_dir.join("uploads");

    // The file as the body; params in the query.
    let (status, _, job) = h.upload(
        "POST",
        "/api/v1/data?symbol=SINEUSD&name=ann-sine",
        &ann,
        "text/csv",
        csv.clone(),
    );
    assert_eq!(status, 200, "{job}");
    let job: Value = serde_json::from_str(&job).expect("json");
    let mut admin = h.d.client();
    let done = super::support::settled(&mut admin, &job["id"]);
    assert_eq!(done["state"], "succeeded", "{done}");
    let id = done["result"]["dataset"].clone();
    let (_, ds) = h.send("GET", &format!("/api/v1/data/{id}"), Some(&ann), None);
    assert_eq!(
        (&ds["rows"], &ds["owner"], &ds["source"]),
        (&json!(200), &json!("ann"), &json!("upload")),
        "{ds}"
    );
    let left = std::fs::read_dir(&uploads).map_or(0, Iterator::count);
    assert_eq!(left, 0, "the upload is removed once imported");

    // Naming a path on the daemon's machine is refused; a file over the
    // limit is refused and nothing of it is kept.
    let path = json!({ "path": dir.path().join("s.csv"), "symbol": "X" });
    let (status, err) = h.send("POST", "/api/v1/data", Some(&ann), Some(path));
    assert_eq!(status, 403, "{err}");
    let (status, _, err) = h.upload(
        "POST",
        "/api/v1/data?symbol=BIG",
        &ann,
        "text/csv",
        vec![b'1'; 65 * 1024],
    );
    assert_eq!(status, 413, "{err}");
    assert_eq!(std::fs::read_dir(&uploads).map_or(0, Iterator::count), 0);
    let (status, _, err) = h.upload(
        "POST",
        "/api/v1/data?symbol=X",
        &ann,
        "text/csv",
        Vec::new(),
    );
    assert_eq!(status, 400, "an empty body: {err}");

    // The export is the answer's body, the owner's only.
    let export = format!("/api/v1/data/{id}/export");
    let (status, ct, text) = h.upload("POST", &export, &ann, "application/json", b"{}".to_vec());
    assert_eq!((status, ct.as_str()), (200, "text/csv"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 201, "a header and every row");
    assert!(lines[0].starts_with("timestamp,open"), "{}", lines[0]);
    let (status, _, _) = h.upload("POST", &export, &bob, "application/json", b"{}".to_vec());
    assert_eq!(status, 404, "another user's dataset");
    let to_file = json!({ "path": dir.path().join("out.csv") })
        .to_string()
        .into_bytes();
    let (status, _, _) = h.upload("POST", &export, &ann, "application/json", to_file);
    assert_eq!(status, 403, "no file written on the daemon's machine");
    // What the socket exports to a file is the same text.
    let out = dir.path().join("socket.csv");
    call(&mut admin, "data.export", json!({ "id": id, "path": out }));
    assert_eq!(std::fs::read_to_string(out).expect("file"), text);
}

#[test]
fn uploads_a_crash_left_behind_are_swept_at_start() {
    let d = TestDaemon::start();
    let uploads = d.ctx.config.data_dir.join("uploads");
    let dir = d.stop();
    std::fs::create_dir_all(&uploads).expect("dir");
    std::fs::write(uploads.join("orphan.upload"), "timestamp,open\n").expect("file");
    let _d = TestDaemon::start_in(dir, |_| {});
    assert_eq!(std::fs::read_dir(&uploads).map_or(0, Iterator::count), 0);
}

#[test]
fn a_websocket_closes_when_its_token_expires_or_its_user_is_disabled() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let h = Http::start_with(|c| c.streams.heartbeat = std::time::Duration::from_millis(100));
    let id = h.user("wes", "viewer");
    let rt = h.d.runtime();
    let open = |token: &str| {
        let mut req = format!("ws://{}/api/v1/ws", h.d.http.expect("http"))
            .into_client_request()
            .expect("request");
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        rt.block_on(tokio_tungstenite::connect_async(req))
            .expect("upgrade")
            .0
    };
    // The close a socket ends with within 10 s, past pings and the rest.
    let closed_with = |ws: &mut tokio_tungstenite::WebSocketStream<_>| -> Option<u16> {
        rt.block_on(async {
            let close = async {
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => return None,
                    }
                }
            };
            tokio::time::timeout(std::time::Duration::from_secs(10), close)
                .await
                .expect("closed within 10 s")
        })
    };
    // A token that expires in two seconds: the socket ends with it.
    let now = chrono::Utc::now();
    let short = forged(
        &h,
        jsonwebtoken::Algorithm::HS256,
        json!({ "sub": id.to_string(), "typ": "access", "iss": "tradingd", "aud": "tradedesk",
                "exp": now.timestamp() + 2, "nbf": now.timestamp(), "iat": now.timestamp(),
                "iat_ms": now.timestamp_millis() }),
    );
    let mut ws = open(&short);
    assert_eq!(closed_with(&mut ws), Some(4001), "closed at expiry");
    // A good token: the socket ends when an admin disables the user.
    let mut ws = open(&h.access("wes"));
    let mut admin = h.d.client();
    call(&mut admin, "users.disable", json!({ "id": id }));
    assert_eq!(closed_with(&mut ws), Some(4001), "closed once disabled");
}
