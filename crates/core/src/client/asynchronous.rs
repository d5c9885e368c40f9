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
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Pending,
    next_id: AtomicU64,
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
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let (events_tx, events_rx) = mpsc::channel(EVENT_BUFFER);
        tokio::spawn(read_loop(
            BufReader::new(read),
            Arc::clone(&pending),
            events_tx,
        ));
        let client = AsyncClient {
            writer: tokio::sync::Mutex::new(write),
            pending,
            next_id: AtomicU64::new(1),
        };
        Ok((client, events_rx))
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
        let written = self.writer.lock().await.write_all(line.as_bytes()).await;
        if let Err(e) = written {
            self.forget(id);
            return Err(e.into());
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

async fn read_loop(
    mut reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    pending: Pending,
    events: mpsc::Sender<StreamMessage>,
) {
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
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
