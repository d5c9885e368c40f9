//! The HTTP REST transport: every method of the catalogue at its verb and
//! route, built by visiting the catalogue as the socket's dispatcher is, and
//! answered by the same dispatcher and handlers.
//!
//! - A request's path segments, query string and JSON body are merged into
//!   one params object (path and query values typed by the params' schema),
//!   then decoded exactly as on the socket: the field at fault is named. A
//!   path segment `_` leaves an optional field out (`GET
//!   /api/v1/orders/_?client_order_id=…`).
//! - `Authorization: Bearer <access token>` names the caller; `Public`
//!   methods (logging in) ignore it, every other method without a valid
//!   one is answered 401.
//! - Errors are the catalogue's: the status from its error table and a JSON
//!   body `{code, message, data}`; never a stack trace.
//! - Methods that read or write files on the daemon's machine
//!   (`data.import`, `data.export`, import jobs) are refused over HTTP.
//! - Request bodies are limited to `http.max_body_bytes`, requests to
//!   `http.request_timeout_ms`; the server stops with the socket's.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use serde_json::{Map, Value};
use tradedesk_core::api::data::{DataExport, DataImport};
use tradedesk_core::api::{
    ApiError, Caller, ErrorCode, Handle, Handlers, Method, Scope, Verb, Visitor, params_schema,
    visit_methods,
};
use tradedesk_core::dataset::ImportParams;

use super::dispatch::Dispatcher;
use super::rate::{Limiter, Standing};
use crate::context::Ctx;

/// The JSON type of each params field that may come from a path or query.
type Kinds = HashMap<String, &'static str>;

#[derive(Clone)]
struct Route {
    name: &'static str,
    scope: Scope,
    kinds: Arc<Kinds>,
}

struct App {
    ctx: Arc<Ctx>,
    /// The two methods that carry files over HTTP (see `files`).
    import_route: Route,
    export_route: Route,
    dispatcher: Dispatcher<Ctx>,
    limiter: Limiter,
    /// The WebSocket's JSON-RPC, as on the socket.
    rpc: Arc<super::rpc::Rpc>,
}

struct Routes {
    paths: BTreeMap<&'static str, MethodRouter<Arc<App>>>,
}

/// The JSON type a schema gives a top-level property: `integer`, `number`,
/// `boolean`, `array` or `string` (anything else is taken as text).
fn kinds_of(schema: &Value) -> Kinds {
    let mut out = HashMap::new();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return out;
    };
    for (name, p) in props {
        let types: Vec<&str> = match p.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let kind = ["integer", "number", "boolean", "array"]
            .into_iter()
            .find(|k| types.contains(k))
            .unwrap_or("string");
        out.insert(name.clone(), kind);
    }
    out
}

/// A path or query value as the params' schema types it.
fn typed(kinds: &Kinds, field: &str, text: &str) -> Value {
    let number = |v: Option<Value>| v.unwrap_or_else(|| Value::String(text.to_owned()));
    match kinds.get(field).copied() {
        Some("integer") => number(
            text.parse::<i64>()
                .ok()
                .map(Value::from)
                .or_else(|| text.parse::<u64>().ok().map(Value::from)),
        ),
        Some("number") => number(text.parse::<f64>().ok().map(Value::from)),
        Some("boolean") => number(match text {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        }),
        Some("array") => Value::Array(
            text.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<i64>()
                        .map_or_else(|_| Value::String(s.to_owned()), Value::from)
                })
                .collect(),
        ),
        _ => Value::String(text.to_owned()),
    }
}

fn filter(verb: Verb) -> MethodFilter {
    match verb {
        Verb::Get => MethodFilter::GET,
        Verb::Post => MethodFilter::POST,
        Verb::Put => MethodFilter::PUT,
        Verb::Patch => MethodFilter::PATCH,
        Verb::Delete => MethodFilter::DELETE,
    }
}

impl<H: Handlers> Visitor<H> for Routes {
    fn visit<M: Method>(&mut self)
    where
        H: Handle<M>,
    {
        let (verb, path) = M::HTTP;
        let route = route_of::<M>();
        let handler = move |state: State<Arc<App>>,
                            ConnectInfo(peer): ConnectInfo<SocketAddr>,
                            params: Option<Path<HashMap<String, String>>>,
                            RawQuery(query): RawQuery,
                            headers: HeaderMap,
                            body: Bytes| {
            let route = route.clone();
            async move {
                let path = params.map(|Path(p)| p).unwrap_or_default();
                let peer = super::tls::client_addr(&state.0.ctx.config.http, peer, &headers);
                answer(&state.0, &route, peer, path, query, &headers, &body).await
            }
        };
        let entry = self.paths.remove(path).unwrap_or_default();
        // Files travel as bodies over HTTP (see `files`).
        let entry = match M::NAME {
            DataImport::NAME => entry.on(filter(verb), import_upload),
            DataExport::NAME => entry.on(filter(verb), export_download),
            _ => entry.on(filter(verb), handler),
        };
        self.paths.insert(path, entry);
    }
}

/// A method's route: its query and path fields typed by its params schema,
/// made for that method alone (all the catalogue's schemas at once would
/// be megabytes at start, most of them never freed back to the system).
fn route_of<M: Method>() -> Route {
    Route {
        name: M::NAME,
        scope: M::SCOPE,
        kinds: Arc::new(kinds_of(&params_schema::<M>())),
    }
}

fn error_response(e: &ApiError) -> Response {
    let status = e.kind().map_or(StatusCode::INTERNAL_SERVER_ERROR, |k| {
        StatusCode::from_u16(k.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    });
    let mut r = (status, axum::Json(e)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

/// A path segment that gives no value.
pub const ABSENT: &str = "_";

/// Path, query and body merged into one params object.
fn merge(
    route: &Route,
    path: HashMap<String, String>,
    query: Option<String>,
    body: &Bytes,
) -> Result<Value, ApiError> {
    let mut params: Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(ApiError::invalid_params(
                    "invalid params: the request body must be a JSON object",
                ));
            }
            Err(e) => {
                return Err(ApiError::new(
                    ErrorCode::ParseError,
                    format!("the request body is not valid JSON: {e}"),
                ));
            }
        }
    };
    let mut put = |field: String, value: Value, from: &str| {
        if let Some(old) = params.get(&field)
            && old != &value
        {
            return Err(ApiError::bad_field(
                &field,
                format!("given in the {from} as {value} and elsewhere as {old}"),
            ));
        }
        params.insert(field, value);
        Ok(())
    };
    if let Some(q) = query {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&q).map_err(|e| {
            ApiError::invalid_params(format!("invalid params: the query string: {e}"))
        })?;
        for (k, v) in pairs {
            let value = typed(&route.kinds, &k, &v);
            put(k, value, "query")?;
        }
    }
    for (k, v) in path {
        // `_` leaves an optional path field out, for a call that names its
        // object another way (`GET /api/v1/orders/_?client_order_id=…`).
        if v == ABSENT {
            continue;
        }
        let value = typed(&route.kinds, &k, &v);
        put(k, value, "path")?;
    }
    Ok(Value::Object(params))
}

/// The rate-limit headers of an answer.
fn with_standing(mut r: Response, s: &Standing) -> Response {
    let h = r.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", s.limit),
        ("x-ratelimit-remaining", s.remaining),
        ("x-ratelimit-reset", s.reset_s),
    ] {
        h.insert(name, HeaderValue::from(value));
    }
    if !s.allowed {
        h.insert(header::RETRY_AFTER, HeaderValue::from(s.retry_after_s));
    }
    r
}

async fn answer(
    app: &Arc<App>,
    route: &Route,
    peer: SocketAddr,
    path: HashMap<String, String>,
    query: Option<String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    guarded(app, route, peer, headers, |caller| {
        call(app, route, caller, path, query, body)
    })
    .await
}

/// Authenticates and rate-limits a request, then answers it with `run`;
/// the rate-limit headers on every answer.
async fn guarded<F: std::future::Future<Output = Response>>(
    app: &Arc<App>,
    route: &Route,
    peer: SocketAddr,
    headers: &HeaderMap,
    run: impl FnOnce(Caller) -> F,
) -> Response {
    let caller = authenticate(app, route, peer, headers);
    // Counted per user once the token is good, per address before.
    let (key, admin) = match &caller {
        Ok(c) if c.scope != Scope::Public => (format!("user:{}", c.user), c.scope == Scope::Admin),
        _ => (format!("ip:{}", peer.ip()), false),
    };
    let standing = app.limiter.take(&key, admin, std::time::Instant::now());
    let response = if standing.allowed {
        match caller {
            Ok(caller) if !caller.allows(route.scope) => {
                error_response(&super::dispatch::needs_scope(route.name, route.scope))
            }
            Ok(caller) => run(caller).await,
            Err(e) => error_response(&e),
        }
    } else {
        error_response(
            &ApiError::new(
                ErrorCode::Throttled,
                format!(
                    "more than {} requests a minute; retry in {} s",
                    standing.limit, standing.retry_after_s
                ),
            )
            .with_data(serde_json::json!({ "retry_after_s": standing.retry_after_s })),
        )
    };
    with_standing(response, &standing)
}

/// `POST /api/v1/data`: a file as the body (params from the query), or
/// JSON params naming a path on the daemon's machine (refused over HTTP).
async fn import_upload(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let peer = super::tls::client_addr(&app.ctx.config.http, peer, &headers);
    let route = app.import_route.clone();
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    guarded(&app, &route, peer, &headers, |caller| {
        let (app, route) = (Arc::clone(&app), route.clone());
        async move {
            if json {
                return local_only(route.name);
            }
            let params = match merge(&route, HashMap::new(), query, &Bytes::new()).and_then(|v| {
                serde_json::from_value::<ImportParams>(v)
                    .map_err(|e| ApiError::invalid_params(format!("invalid params: {e}")))
            }) {
                Ok(p) => p,
                Err(e) => return error_response(&e),
            };
            let max = app.ctx.config.data.max_import_bytes;
            let upload = match super::files::receive(&app.ctx, body, max).await {
                Ok(p) => p,
                Err(e) => return error_response(&e),
            };
            match super::files::import(&app.ctx, &caller, params, &upload).await {
                Ok(job) => axum::Json(job).into_response(),
                Err(e) => error_response(&e),
            }
        }
    })
    .await
}

/// `POST /api/v1/data/{id}/export`: the CSV as the answer's body (a
/// `path` on the daemon's machine is refused over HTTP).
async fn export_download(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(path): Path<HashMap<String, String>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let peer = super::tls::client_addr(&app.ctx.config.http, peer, &headers);
    let route = app.export_route.clone();
    guarded(&app, &route, peer, &headers, |caller| {
        let (app, route) = (Arc::clone(&app), route.clone());
        async move {
            let params = match merge(&route, path, query, &body) {
                Ok(p) => p,
                Err(e) => return error_response(&e),
            };
            if params.get("path").is_some_and(|p| !p.is_null()) {
                return local_only(route.name);
            }
            let Some(id) = params.get("id").and_then(Value::as_u64) else {
                return error_response(&ApiError::bad_field("id", "must be a dataset id"));
            };
            match super::files::export(Arc::clone(&app.ctx), &caller, id) {
                Ok(r) => r,
                Err(e) => error_response(&e),
            }
        }
    })
    .await
}

fn local_only(name: &str) -> Response {
    error_response(&ApiError::new(
        ErrorCode::Forbidden,
        format!(
            "`{name}` names a file on the daemon's machine, which only the local socket may; over HTTP send the file as the body (import) or take it as the answer (export)"
        ),
    ))
}

async fn call(
    app: &Arc<App>,
    route: &Route,
    caller: Caller,
    path: HashMap<String, String>,
    query: Option<String>,
    body: &Bytes,
) -> Response {
    let params = match merge(route, path, query, body).and_then(|v| {
        serde_json::value::to_raw_value(&v).map_err(|e| ApiError::internal(e.to_string()))
    }) {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    match app
        .dispatcher
        .call(&app.ctx, caller, route.name, Some(&params))
        .await
    {
        Ok(raw) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            raw.get().to_owned(),
        )
            .into_response(),
        Err(e) => error_response(&e),
    }
}

fn authenticate(
    app: &Arc<App>,
    route: &Route,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    if route.scope == Scope::Public {
        return Ok(Caller::anonymous_http(Some(peer.ip())));
    }
    let token = super::ws::bearer(headers).ok_or_else(|| {
        crate::services::auth::unauthenticated(
            "send `Authorization: Bearer <access token>` (auth.login gives one)",
        )
    })?;
    super::ws::open(&app.rpc, token, peer).map(|link| link.caller)
}

async fn not_found() -> Response {
    error_response(&ApiError::new(
        ErrorCode::MethodNotFound,
        "no such route (`GET /api/v1/system/methods` lists them)",
    ))
}

/// The router: every method at its route.
pub fn router(ctx: Arc<Ctx>) -> Router {
    let max_body = ctx.config.http.max_body_bytes;
    let timeout = ctx.config.http.request_timeout;
    let mut routes = Routes {
        paths: BTreeMap::new(),
    };
    visit_methods::<Ctx, _>(&mut routes);
    let cfg = &ctx.config.http;
    let limiter = Limiter::new(cfg.rate_per_min, cfg.rate_burst, cfg.admin_rate_factor);
    let cors = cors(&cfg.cors_origins);
    let rpc = Arc::new(super::rpc::Rpc {
        dispatcher: Dispatcher::new(),
        ctx: Arc::clone(&ctx),
        max_batch: ctx.config.rpc.max_batch,
    });
    let app = Arc::new(App {
        ctx,
        import_route: route_of::<DataImport>(),
        export_route: route_of::<DataExport>(),
        dispatcher: Dispatcher::new(),
        limiter,
        rpc,
    });
    // The OpenAPI document at /openapi.json, Swagger UI at /docs and ReDoc
    // at /redoc, all served from the binary (the UIs' files come from
    // registry crates at build time; nothing is fetched at run time).
    let mut router = Router::new().merge(
        utoipa_swagger_ui::SwaggerUi::new("/docs")
            .config(utoipa_swagger_ui::Config::from("/openapi.json")),
    );
    router = router
        .route("/openapi.json", axum::routing::get(openapi))
        .route("/redoc", axum::routing::get(redoc))
        .route("/api/v1/ws", axum::routing::get(websocket))
        .route("/metrics", axum::routing::get(metrics));
    for (path, r) in routes.paths {
        router = router.route(path, r);
    }
    let router = router
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(app);
    match cors {
        Some(c) => router.layer(c),
        None => router,
    }
}

/// `GET /openapi.json`: the document, generated from the catalogue on the
/// first request and kept as text (as a JSON tree it would hold megabytes
/// for the daemon's whole life, asked for or not).
async fn openapi() -> Response {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let doc = DOC.get_or_init(|| {
        tradedesk_core::api::openapi::document(env!("CARGO_PKG_VERSION")).to_string()
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        doc.as_str(),
    )
        .into_response()
}

/// `GET /redoc`: ReDoc over `/openapi.json`. The page inlines the ~1 MB
/// bundle, so it is built on the first request and kept, not at start.
async fn redoc() -> axum::response::Html<&'static str> {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    axum::response::Html(PAGE.get_or_init(|| {
        aide::redoc::Redoc::new("/openapi.json")
            .with_title("tradingd API")
            .html()
    }))
}

/// `GET /api/v1/ws`: the upgrade, counted against the address's rate.
async fn websocket(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: axum::extract::WebSocketUpgrade,
) -> Response {
    let peer = super::tls::client_addr(&app.ctx.config.http, peer, &headers);
    let key = format!("ip:{}", peer.ip());
    let standing = app.limiter.take(&key, false, std::time::Instant::now());
    if !standing.allowed {
        let e = ApiError::new(ErrorCode::Throttled, "too many requests; retry later");
        return with_standing(error_response(&e), &standing);
    }
    match super::ws::upgrade(Arc::clone(&app.rpc), ws, peer, &headers) {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

/// `GET /metrics`: the Prometheus text, for an admin's token.
async fn metrics(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let peer = super::tls::client_addr(&app.ctx.config.http, peer, &headers);
    let route = Route {
        name: "metrics",
        scope: Scope::Admin,
        kinds: Arc::default(),
    };
    let caller = authenticate(&app, &route, peer, &headers).and_then(|c| {
        if c.allows(Scope::Admin) {
            Ok(c)
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                "metrics need scope `admin`",
            ))
        }
    });
    match caller {
        Ok(_) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            )],
            app.ctx.blocking(crate::services::metrics::render),
        )
            .into_response(),
        Err(e) => error_response(&e),
    }
}

/// Browsers may call from the configured origins only (none by default).
/// Tokens travel in `Authorization`, never in cookies: no credentials mode.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(list))
            .allow_methods([
                axum::http::Method::GET,
                axum::http::Method::POST,
                axum::http::Method::PUT,
                axum::http::Method::PATCH,
                axum::http::Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([
                header::RETRY_AFTER,
                axum::http::HeaderName::from_static("x-ratelimit-limit"),
                axum::http::HeaderName::from_static("x-ratelimit-remaining"),
                axum::http::HeaderName::from_static("x-ratelimit-reset"),
            ])
            .max_age(std::time::Duration::from_mins(10)),
    )
}

/// A bound HTTP listener with its TLS settings, made at start so that a
/// port in use or a bad certificate fails the start rather than the first
/// request.
pub struct BoundHttp {
    pub listener: tokio::net::TcpListener,
    pub addr: SocketAddr,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

pub async fn bind(
    addr: SocketAddr,
    tls: Option<&crate::config::TlsFiles>,
) -> Result<BoundHttp, crate::StartError> {
    let tls = tls.map(super::tls::acceptor).transpose()?;
    let io = |source| crate::StartError::Http {
        addr: addr.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(io)?;
    let addr = listener.local_addr().map_err(io)?;
    Ok(BoundHttp {
        listener,
        addr,
        tls,
    })
}

/// Serves until the daemon shuts down.
pub async fn serve(bound: BoundHttp, ctx: Arc<Ctx>) {
    use axum::serve::ListenerExt as _;
    let shutdown = ctx.shutdown.clone();
    let stop = ctx.shutdown.clone();
    let app = router(ctx).into_make_service_with_connect_info::<SocketAddr>();
    let served = match bound.tls {
        Some(acceptor) => {
            tracing::info!(addr = %bound.addr, "http api listening (https)");
            let listener = super::tls::TlsListener::new(bound.listener, acceptor, stop);
            // `tap_io` gives the connection's address to the handlers.
            axum::serve(listener.tap_io(|_| {}), app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
        }
        None => {
            tracing::info!(addr = %bound.addr, "http api listening");
            axum::serve(bound.listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
        }
    };
    if let Err(e) = served {
        tracing::error!(error = %e, "the http server stopped");
    }
}
