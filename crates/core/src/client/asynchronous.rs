//! The async client: many calls in flight on one connection, responses
//! routed by id, stream events delivered on a channel.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot};

use super::{
    ClientError, Received, StreamMessage, decode_frame, decode_result, encode_request,
    too_many_pages,
};
use crate::api::Method;
use crate::api::paging::{MAX_PAGES, Page, PageParams};
use crate::api::streams::{StreamsSubscribe, Subscribed, Topics};

type Pending =
    Arc<Mutex<Option<HashMap<u64, oneshot::Sender<Result<Box<RawValue>, ApiErrorOrClosed>>>>>>;

/// Either the daemon's error or the connection's end.
type ApiErrorOrClosed = Option<crate::api::ApiError>;

/// How many stream messages wait for the consumer before the reader blocks.
const EVENT_BUFFER: usize = 4096;

pub struct AsyncClient {
    writer: tokio::sync::Mutex<Writer>,
    pending: Pending,
    next_id: AtomicU64,
}

/// Where requests are written: the socket, or a remote daemon's WebSocket.
enum Writer {
    Unix(OwnedWriteHalf),
    #[cfg(feature = "remote")]
    Ws(futures_util::stream::SplitSink<super::remote::Ws, tokio_tungstenite::tungstenite::Message>),
}

impl Writer {
    async fn send(&mut self, line: String) -> Result<(), ClientError> {
        match self {
            Writer::Unix(w) => Ok(w.write_all(line.as_bytes()).await?),
            #[cfg(feature = "remote")]
            Writer::Ws(w) => {
                use futures_util::SinkExt as _;
                w.send(tokio_tungstenite::tungstenite::Message::Text(line.into()))
                    .await
                    .map_err(|e| ClientError::Protocol(e.to_string()))
            }
        }
    }
}

/// Where frames are read from, one at a time.
trait Frames: Send + 'static {
    /// The next frame; `None` when the connection ended.
    fn next_frame(&mut self) -> impl std::future::Future<Output = Option<String>> + Send;
}

impl Frames for BufReader<tokio::net::unix::OwnedReadHalf> {
    async fn next_frame(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.read_line(&mut line).await {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line),
        }
    }
}

#[cfg(feature = "remote")]
impl Frames for futures_util::stream::SplitStream<super::remote::Ws> {
    async fn next_frame(&mut self) -> Option<String> {
        // A broken connection ends it, as a close does.
        super::remote::next_text(self).await?.ok()
    }
}

impl AsyncClient {
    /// Connects and returns the client and the receiver of its stream
    /// messages. The receiver ends when the connection does.
    pub async fn connect(
        path: &Path,
    ) -> Result<(AsyncClient, mpsc::Receiver<StreamMessage>), ClientError> {
        let stream =
            UnixStream::connect(path)
                .await
                .map_err(|source| ClientError::Unreachable {
                    path: path.to_path_buf(),
                    source,
                })?;
        super::check_peer(&stream, path)?;
        let (read, write) = stream.into_split();
        Ok(AsyncClient::over(BufReader::new(read), Writer::Unix(write)))
    }

    /// A daemon on another machine: every call and stream on its WebSocket,
    /// which speaks the socket's JSON-RPC.
    #[cfg(feature = "remote")]
    pub async fn connect_remote(
        target: &super::remote::Target,
    ) -> Result<(AsyncClient, mpsc::Receiver<StreamMessage>), ClientError> {
        use futures_util::StreamExt as _;
        let ws = super::remote::open_ws(target).await?;
        let (write, read) = ws.split();
        Ok(AsyncClient::over(read, Writer::Ws(write)))
    }

    fn over(frames: impl Frames, writer: Writer) -> (AsyncClient, mpsc::Receiver<StreamMessage>) {
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let (events_tx, events_rx) = mpsc::channel(EVENT_BUFFER);
        tokio::spawn(read_loop(frames, Arc::clone(&pending), events_tx));
        let client = AsyncClient {
            writer: tokio::sync::Mutex::new(writer),
            pending,
            next_id: AtomicU64::new(1),
        };
        (client, events_rx)
    }

    pub async fn call<M: Method>(&self, params: &M::Params) -> Result<M::Result, ClientError> {
        let raw = self.request(M::NAME, params).await?;
        decode_result::<M>(&raw)
    }

    /// Every item of a paged list, following `next_cursor` page by page.
    pub async fn all<M, T>(&self) -> Result<Vec<T>, ClientError>
    where
        M: Method<Params = PageParams, Result = Page<T>>,
    {
        let mut params = PageParams::largest();
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.call::<M>(&params).await?;
            items.extend(page.items);
            match page.next_cursor {
                Some(next) => params.cursor = Some(next),
                None => return Ok(items),
            }
        }
        Err(too_many_pages(M::NAME))
    }

    pub async fn call_raw(
        &self,
        method: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let raw = self.request(method, params).await?;
        serde_json::from_str(raw.get()).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    pub async fn subscribe(&self, topics: &[&str]) -> Result<Subscribed, ClientError> {
        let topics = Topics {
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        };
        self.call::<StreamsSubscribe>(&topics).await
    }

    async fn request<P: serde::Serialize>(
        &self,
        method: &str,
        params: &P,
    ) -> Result<Box<RawValue>, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let line = encode_request(method, params, id)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut guard = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(map) = guard.as_mut() else {
                return Err(ClientError::Closed);
            };
            map.insert(id, tx);
        }
        let written = self.writer.lock().await.send(line).await;
        if let Err(e) = written {
            self.forget(id);
            return Err(e);
        }
        match rx.await {
            Ok(Ok(raw)) => Ok(raw),
            Ok(Err(Some(api))) => Err(ClientError::Api(api)),
            Ok(Err(None)) | Err(_) => Err(ClientError::Closed),
        }
    }

    fn forget(&self, id: u64) {
        if let Some(map) = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            map.remove(&id);
        }
    }
}

async fn read_loop(mut frames: impl Frames, pending: Pending, events: mpsc::Sender<StreamMessage>) {
    while let Some(line) = frames.next_frame().await {
        match decode_frame(line.trim_end()) {
            Ok(Received::Response { id, outcome }) => {
                let waiter = pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_mut()
                    .and_then(|m| m.remove(&id));
                if let Some(tx) = waiter {
                    let _ = tx.send(outcome.map_err(Some));
                }
            }
            Ok(Received::Stream(msg)) => {
                // A consumer that dropped its receiver no longer wants events.
                let _ = events.send(msg).await;
            }
            // A frame that does not decode means the two sides disagree on
            // the protocol: end the connection so that no call waits forever.
            Err(_) => break,
        }
    }
    // Fail every call still waiting, and refuse new ones.
    let waiting = pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    for (_, tx) in waiting.into_iter().flatten() {
        let _ = tx.send(Err(None));
    }
}
