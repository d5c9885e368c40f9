//! A daemon on another machine, over its HTTP API: each call a REST
//! request at the method's verb and route from the catalogue (path
//! segments from the params' fields, the rest as the query of a `GET` or
//! `DELETE`, else as the JSON body: the server merges them back into the
//! same params); streams over the WebSocket, which speaks the socket's
//! JSON-RPC. TLS by rustls (ring), trusting the platform's roots and an
//! optional extra CA (a self-signed daemon's certificate).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::ClientError;
use crate::api::{ApiError, Verb, method_routes};

/// rustls's ring provider. Deprecated upstream for lacking post-quantum
/// key exchange; the provider that has it (aws-lc-rs) needs a C build of
/// its own this project does not take on. TLS 1.3 with X25519 stays sound.
#[allow(deprecated)]
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Where a remote daemon is and how to prove who we are.
#[derive(Clone)]
pub struct Target {
    /// `http://host:port` or `https://host:port` (a path prefix is kept).
    pub url: String,
    /// An access token (JWT) or a personal access token (`pat_…`).
    pub token: String,
    /// A PEM file of certificates to trust beside the platform's roots.
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.url)
            .field("token", &"…")
            .field("ca", &self.ca)
            .finish()
    }
}

impl Target {
    fn base(&self) -> &str {
        self.url.trim_end_matches('/')
    }

    /// The WebSocket endpoint: `ws(s)://…/api/v1/ws`.
    pub fn ws_url(&self) -> Result<String, ClientError> {
        let base = self.base();
        let rest = if let Some(r) = base.strip_prefix("https://") {
            format!("wss://{r}")
        } else if let Some(r) = base.strip_prefix("http://") {
            format!("ws://{r}")
        } else {
            return Err(bad_url(base));
        };
        Ok(format!("{rest}/api/v1/ws"))
    }
}

fn bad_url(url: &str) -> ClientError {
    ClientError::Protocol(format!(
        "`{url}` is not an http:// or https:// URL of a daemon"
    ))
}

/// A transport failure with its causes ("error sending request" alone
/// does not say that the certificate was refused).
fn no_answer(url: &str, e: &(dyn std::error::Error + 'static)) -> ClientError {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    ClientError::NoAnswer {
        url: url.to_owned(),
        message,
    }
}

/// The TLS settings of both transports: rustls with ring, the platform's
/// roots plus those of `ca`.
pub fn tls_config(ca: Option<&Path>) -> Result<rustls::ClientConfig, ClientError> {
    let extra: Vec<rustls::pki_types::CertificateDer<'static>> = match ca {
        None => Vec::new(),
        Some(path) => {
            use rustls::pki_types::pem::PemObject as _;
            rustls::pki_types::CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect)
                .map_err(|e| ClientError::Protocol(format!("{}: {e}", path.display())))?
        }
    };
    let provider = crypto_provider();
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, Arc::clone(&provider))
            .map_err(|e| ClientError::Protocol(format!("TLS roots: {e}")))?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Protocol(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// Calls over REST, with a runtime of its own for the blocking client.
pub(super) struct Rest {
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) http: reqwest::Client,
    pub(super) target: Target,
}

impl Rest {
    pub(super) fn new(target: Target) -> Result<Rest, ClientError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let http = http_client(&target)?;
        Ok(Rest { rt, http, target })
    }

    /// One call. A 429 (the daemon's rate limit, answered before anything
    /// ran) waits its `retry_after_s` and asks again, for at most a minute
    /// in all, so that a script polling a job slows down instead of failing.
    pub(super) fn request(
        &self,
        method: &str,
        params: &Value,
        timeout: Option<Duration>,
    ) -> Result<Box<RawValue>, ClientError> {
        let mut waited = Duration::ZERO;
        loop {
            let call = rest_call(&self.http, &self.target, method, params);
            let answer = block_within(&self.rt, timeout, call)?;
            let retry = match &answer {
                Err(ClientError::Api(e)) if e.kind() == Some(crate::api::ErrorCode::Throttled) => e
                    .data
                    .as_ref()
                    .and_then(|d| d["retry_after_s"].as_u64())
                    .map(|s| Duration::from_secs(s.clamp(1, 60))),
                _ => None,
            };
            match retry {
                Some(wait) if waited.saturating_add(wait) <= Duration::from_mins(1) => {
                    std::thread::sleep(wait);
                    waited = waited.saturating_add(wait);
                }
                _ => return answer,
            }
        }
    }
}

/// Makes ours the process's default rustls provider, unless the program
/// installed one: reqwest built without a provider of its own (as here)
/// asks for it, and panics without one.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::CryptoProvider::install_default((*crypto_provider()).clone());
}

/// Runs `fut` to its end on `rt`, within `timeout` when there is one.
pub(super) fn block_within<F: std::future::Future>(
    rt: &tokio::runtime::Runtime,
    timeout: Option<Duration>,
    fut: F,
) -> Result<F::Output, ClientError> {
    match timeout {
        None => Ok(rt.block_on(fut)),
        Some(t) => rt
            .block_on(async { tokio::time::timeout(t, fut).await })
            .map_err(|_| ClientError::Timeout),
    }
}

pub(super) fn http_client(target: &Target) -> Result<reqwest::Client, ClientError> {
    install_crypto_provider();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config(target.ca.as_deref())?)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("tradedesk/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| no_answer(&target.url, &e))
}

/// One REST call of the method named `method`.
pub(super) async fn rest_call(
    http: &reqwest::Client,
    target: &Target,
    method: &str,
    params: &Value,
) -> Result<Box<RawValue>, ClientError> {
    let &(_, verb, route) = method_routes()
        .iter()
        .find(|(name, _, _)| *name == method)
        .ok_or_else(|| {
            ClientError::Api(ApiError::new(
                crate::api::ErrorCode::MethodNotFound,
                format!("unknown method `{method}`"),
            ))
        })?;
    let mut fields = match params {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => {
            return Err(ClientError::Protocol(format!(
                "{method}: params must be an object"
            )));
        }
    };
    let mut url = reqwest::Url::parse(target.base()).map_err(|_| bad_url(&target.url))?;
    {
        let mut segments = url.path_segments_mut().map_err(|()| bad_url(&target.url))?;
        segments.pop_if_empty();
        for seg in route.trim_start_matches('/').split('/') {
            match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(field) => {
                    // `_` is the server's "not given", for an optional
                    // field (an order named by its client order id).
                    let Some(value) = fields.remove(field).filter(|v| !v.is_null()) else {
                        segments.push("_");
                        continue;
                    };
                    segments.push(&scalar_text(&value).ok_or_else(|| {
                        ClientError::Api(ApiError::invalid_params(format!(
                            "invalid params: field `{field}` must be a string or a number"
                        )))
                    })?);
                }
                None => {
                    segments.push(seg);
                }
            }
        }
    }
    let in_query = matches!(verb, Verb::Get | Verb::Delete);
    let mut body = Map::new();
    for (k, v) in fields {
        match (in_query, scalar_text(&v)) {
            (_, _) if v.is_null() => {}
            (true, Some(text)) => {
                url.query_pairs_mut().append_pair(&k, &text);
            }
            _ => {
                body.insert(k, v);
            }
        }
    }
    let verb = reqwest::Method::from_bytes(verb.as_str().as_bytes())
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    let mut req = http.request(verb, url).bearer_auth(&target.token);
    if !in_query || !body.is_empty() {
        req = req
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(Value::Object(body).to_string());
    }
    let resp = req.send().await.map_err(|e| no_answer(&target.url, &e))?;
    answer(method, resp, &target.url).await
}

/// A REST answer: its body on success, else the API error it carries.
async fn answer(
    method: &str,
    resp: reqwest::Response,
    url: &str,
) -> Result<Box<RawValue>, ClientError> {
    let status = resp.status();
    let text = resp.text().await.map_err(|e| no_answer(url, &e))?;
    if status.is_success() {
        return RawValue::from_string(text)
            .map_err(|e| ClientError::Protocol(format!("{method}: {e}")));
    }
    match serde_json::from_str::<ApiError>(&text) {
        Ok(e) => Err(ClientError::Api(e)),
        Err(_) => Err(ClientError::Protocol(format!(
            "{method}: HTTP {status} without an error body"
        ))),
    }
}

/// `data.import` of a local file: the file is the request body (streamed),
/// the other params the query.
pub(super) async fn upload_import(
    http: &reqwest::Client,
    target: &Target,
    params: &crate::dataset::ImportParams,
    file: &Path,
) -> Result<Box<RawValue>, ClientError> {
    let body = tokio::fs::File::open(file)
        .await
        .map_err(|e| ClientError::Protocol(format!("{}: {e}", file.display())))?;
    let mut url = reqwest::Url::parse(&format!("{}/api/v1/data", target.base()))
        .map_err(|_| bad_url(&target.url))?;
    let fields = serde_json::to_value(params).map_err(|e| ClientError::Protocol(e.to_string()))?;
    if let Value::Object(m) = fields {
        for (k, v) in m {
            if k == "path" {
                continue;
            }
            if let Some(text) = scalar_text(&v) {
                url.query_pairs_mut().append_pair(&k, &text);
            }
        }
    }
    let resp = http
        .post(url)
        .bearer_auth(&target.token)
        .header(reqwest::header::CONTENT_TYPE, "text/csv")
        .body(reqwest::Body::from(body))
        .send()
        .await
        .map_err(|e| no_answer(&target.url, &e))?;
    answer("data.import", resp, &target.url).await
}

/// `data.export` into a new local file (`0600`, never replacing one): the
/// CSV is the answer's body, written as it arrives. The rows written.
pub(super) async fn download_export(
    http: &reqwest::Client,
    target: &Target,
    id: u64,
    file: &Path,
) -> Result<u64, ClientError> {
    use tokio::io::AsyncWriteExt as _;
    let mut resp = http
        .post(format!("{}/api/v1/data/{id}/export", target.base()))
        .bearer_auth(&target.token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .map_err(|e| no_answer(&target.url, &e))?;
    if !resp.status().is_success() {
        return answer("data.export", resp, &target.url).await.map(|_| 0);
    }
    let local = |e: std::io::Error| ClientError::Protocol(format!("{}: {e}", file.display()));
    let mut out = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .await
        .map_err(local)?;
    let mut lines: u64 = 0;
    let written: Result<(), ClientError> = async {
        while let Some(chunk) = resp.chunk().await.map_err(|e| no_answer(&target.url, &e))? {
            // A chunk at a time, as it streams: no crate for counting bytes.
            #[allow(clippy::naive_bytecount)]
            let n = chunk.iter().filter(|b| **b == b'\n').count() as u64;
            lines = lines.saturating_add(n);
            out.write_all(&chunk).await.map_err(local)?;
        }
        out.flush().await.map_err(local)
    }
    .await;
    if let Err(e) = written {
        drop(out);
        let _ = tokio::fs::remove_file(file).await;
        return Err(e);
    }
    // The header line is not a row.
    Ok(lines.saturating_sub(1))
}

/// A path or query value as text: strings as they are, numbers and
/// booleans as JSON writes them.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The WebSocket, opened with the token in the `Authorization` header.
pub(super) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(super) async fn open_ws(target: &Target) -> Result<Ws, ClientError> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let url = target.ws_url()?;
    let mut req = url
        .as_str()
        .into_client_request()
        .map_err(|e| no_answer(&url, &e))?;
    let bearer = format!("Bearer {}", target.token)
        .parse()
        .map_err(|_| ClientError::Protocol("the token is not a valid header value".into()))?;
    req.headers_mut().insert("authorization", bearer);
    let connector =
        tokio_tungstenite::Connector::Rustls(Arc::new(tls_config(target.ca.as_deref())?));
    let (ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector))
            .await
            .map_err(|e| match e {
                tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 401 => {
                    ClientError::Api(ApiError::new(
                        crate::api::ErrorCode::Unauthenticated,
                        "the daemon refused the token; log in again (`tradectl login`)",
                    ))
                }
                e => no_answer(&url, &e),
            })?;
    Ok(ws)
}

/// The next text frame of a WebSocket (or its read half); `None` when it
/// closed.
pub(super) async fn next_text<S>(ws: &mut S) -> Option<Result<String, ClientError>>
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => return Some(Ok(t.as_str().to_owned())),
            Ok(Message::Close(_)) => return None,
            Ok(_) => {}
            Err(e) => return Some(Err(ClientError::Protocol(e.to_string()))),
        }
    }
}

pub(super) async fn send_text(ws: &mut Ws, line: String) -> Result<(), ClientError> {
    use futures_util::SinkExt as _;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(line.into()))
        .await
        .map_err(|e| ClientError::Protocol(e.to_string()))
}
