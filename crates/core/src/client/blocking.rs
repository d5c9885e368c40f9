//! The blocking client: one request at a time over a std Unix stream.

// Without the `remote` feature the socket is the only link.
#![cfg_attr(not(feature = "remote"), allow(irrefutable_let_patterns))]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::value::RawValue;

use super::{
    ClientError, Received, StreamMessage, decode_frame, decode_result, encode_request,
    too_many_pages,
};
use crate::api::Method;
use crate::api::paging::{MAX_PAGES, Page, PageParams};
use crate::api::streams::{StreamsSubscribe, Subscribed, Topics};

pub struct Client {
    link: Link,
    next_id: u64,
    /// Stream events read while waiting for a response.
    queued: VecDeque<StreamMessage>,
    line: String,
    /// How long a call or `next_event` waits (remote daemons; the socket
    /// keeps it as its read timeout).
    timeout: Option<Duration>,
}

enum Link {
    Unix {
        reader: BufReader<UnixStream>,
        writer: UnixStream,
    },
    /// A daemon over HTTP: calls as REST requests, streams on a WebSocket
    /// opened at the first `subscribe`.
    #[cfg(feature = "remote")]
    Remote {
        rest: Box<super::remote::Rest>,
        ws: Option<Box<super::remote::Ws>>,
    },
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Unreachable {
            path: path.to_path_buf(),
            source,
        })?;
        super::check_peer(&stream, path)?;
        let writer = stream.try_clone()?;
        Ok(Client::over(Link::Unix {
            reader: BufReader::new(stream),
            writer,
        }))
    }

    /// A daemon on another machine, over its HTTP API.
    #[cfg(feature = "remote")]
    pub fn connect_remote(target: super::remote::Target) -> Result<Client, ClientError> {
        Ok(Client::over(Link::Remote {
            rest: Box::new(super::remote::Rest::new(target)?),
            ws: None,
        }))
    }

    fn over(link: Link) -> Client {
        Client {
            link,
            next_id: 1,
            queued: VecDeque::new(),
            line: String::new(),
            timeout: None,
        }
    }

    /// Bounds how long a call waits for its response.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        if let Link::Unix { reader, .. } = &self.link {
            reader.get_ref().set_read_timeout(timeout)?;
        }
        self.timeout = timeout;
        Ok(())
    }

    pub fn call<M: Method>(&mut self, params: &M::Params) -> Result<M::Result, ClientError> {
        let raw = self.request(M::NAME, params)?;
        decode_result::<M>(&raw)
    }

    /// Every item of a paged list, following `next_cursor` page by page.
    pub fn all<M, T>(&mut self) -> Result<Vec<T>, ClientError>
    where
        M: Method<Params = PageParams, Result = Page<T>>,
    {
        self.all_from::<M, T>(PageParams::largest())
    }

    /// Every item of a paged list from the page `params` asks for on.
    pub fn all_from<M, T>(&mut self, mut params: PageParams) -> Result<Vec<T>, ClientError>
    where
        M: Method<Params = PageParams, Result = Page<T>>,
    {
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.call::<M>(&params)?;
            items.extend(page.items);
            match page.next_cursor {
                Some(next) => params.cursor = Some(next),
                None => return Ok(items),
            }
        }
        Err(too_many_pages(M::NAME))
    }

    /// `data.import` of a file on this machine: the socket's daemon reads
    /// its path; a remote daemon is sent the file as the request body.
    pub fn import_file(
        &mut self,
        params: &crate::dataset::ImportParams,
    ) -> Result<crate::job::JobRecord, ClientError> {
        #[cfg(feature = "remote")]
        if let Link::Remote { rest, .. } = &mut self.link {
            let path = params.path.clone().unwrap_or_default();
            let raw = rest.rt.block_on(super::remote::upload_import(
                &rest.http,
                &rest.target,
                params,
                Path::new(&path),
            ))?;
            return decode_result::<crate::api::data::DataImport>(&raw);
        }
        self.call::<crate::api::data::DataImport>(params)
    }

    /// `data.export` into a file on this machine: the socket's daemon
    /// writes its path; a remote daemon's answer is written here.
    pub fn export_file(
        &mut self,
        params: &crate::api::data::ExportParams,
    ) -> Result<crate::api::data::Exported, ClientError> {
        #[cfg(feature = "remote")]
        if let Link::Remote { rest, .. } = &mut self.link {
            let rows = rest.rt.block_on(super::remote::download_export(
                &rest.http,
                &rest.target,
                params.id,
                Path::new(&params.path),
            ))?;
            return Ok(crate::api::data::Exported {
                path: params.path.clone(),
                rows,
            });
        }
        self.call::<crate::api::data::DataExport>(params)
    }

    /// Calls a method by name with untyped params; for `tradectl rpc`.
    pub fn call_raw(
        &mut self,
        method: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let raw = self.request(method, params)?;
        serde_json::from_str(raw.get()).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    fn request<P: serde::Serialize>(
        &mut self,
        method: &str,
        params: &P,
    ) -> Result<Box<RawValue>, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        #[cfg(feature = "remote")]
        if let Link::Remote { rest, ws } = &mut self.link {
            let params =
                serde_json::to_value(params).map_err(|e| ClientError::Protocol(e.to_string()))?;
            // Subscriptions belong to the WebSocket's session.
            if let (Some(ws), true) = (ws.as_mut(), method.starts_with("streams.")) {
                let line = encode_request(method, &params, id)?;
                return remote_ws_request(&rest.rt, ws, line, id, self.timeout, &mut self.queued);
            }
            return rest.request(method, &params, self.timeout);
        }
        let line = encode_request(method, params, id)?;
        let Link::Unix { writer, .. } = &mut self.link else {
            return Err(ClientError::Closed);
        };
        if let Err(e) = writer.write_all(line.as_bytes()) {
            // A daemon at its connection limit answers with one error and
            // closes: that answer says more than the broken pipe.
            return Err(self.refusal().unwrap_or(ClientError::Io(e)));
        }
        loop {
            match self.read_frame()? {
                Received::Response { id: got, outcome } if got == id || got == 0 => {
                    return outcome.map_err(ClientError::Api);
                }
                Received::Response { id: got, .. } => {
                    return Err(ClientError::Protocol(format!(
                        "response to unknown id {got}"
                    )));
                }
                Received::Stream(msg) => self.queued.push_back(msg),
            }
        }
    }

    /// The error the daemon sent before closing, if it sent one.
    fn refusal(&mut self) -> Option<ClientError> {
        let Link::Unix { reader, .. } = &self.link else {
            return None;
        };
        let stream = reader.get_ref();
        let before = stream.read_timeout().ok().flatten();
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let got = self.read_frame();
        if let Link::Unix { reader, .. } = &self.link {
            let _ = reader.get_ref().set_read_timeout(before);
        }
        match got {
            Ok(Received::Response {
                outcome: Err(e), ..
            }) => Some(ClientError::Api(e)),
            _ => None,
        }
    }

    fn read_frame(&mut self) -> Result<Received, ClientError> {
        self.line.clear();
        let reader = match &mut self.link {
            Link::Unix { reader, .. } => reader,
            #[cfg(feature = "remote")]
            Link::Remote { rest, ws } => {
                let Some(ws) = ws.as_mut() else {
                    return Err(ClientError::Protocol(
                        "no stream is subscribed on this connection".into(),
                    ));
                };
                let line = remote_next(&rest.rt, ws, self.timeout)?;
                return decode_frame(line.trim_end());
            }
        };
        match reader.read_line(&mut self.line) {
            Ok(0) => Err(ClientError::Closed),
            Ok(_) => decode_frame(self.line.trim_end()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err(ClientError::Timeout)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn subscribe(&mut self, topics: &[&str]) -> Result<Subscribed, ClientError> {
        let topics = Topics {
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        };
        #[cfg(feature = "remote")]
        if let Link::Remote {
            rest,
            ws: ws @ None,
        } = &mut self.link
        {
            let target = rest.target.clone();
            *ws = Some(Box::new(rest.rt.block_on(super::remote::open_ws(&target))?));
        }
        self.call::<StreamsSubscribe>(&topics)
    }

    /// The next stream message, waiting for it.
    pub fn next_event(&mut self) -> Result<StreamMessage, ClientError> {
        if let Some(msg) = self.queued.pop_front() {
            return Ok(msg);
        }
        match self.read_frame()? {
            Received::Stream(msg) => Ok(msg),
            Received::Response { id, .. } => {
                Err(ClientError::Protocol(format!("unexpected response {id}")))
            }
        }
    }
}

/// The next text frame of a remote daemon's WebSocket, within `timeout`.
#[cfg(feature = "remote")]
fn remote_next(
    rt: &tokio::runtime::Runtime,
    ws: &mut super::remote::Ws,
    timeout: Option<Duration>,
) -> Result<String, ClientError> {
    let next = super::remote::next_text(ws);
    super::remote::block_within(rt, timeout, next)?.unwrap_or(Err(ClientError::Closed))
}

/// A JSON-RPC request on a remote daemon's WebSocket, its answer read
/// past the stream events that arrive first (kept for `next_event`).
#[cfg(feature = "remote")]
fn remote_ws_request(
    rt: &tokio::runtime::Runtime,
    ws: &mut super::remote::Ws,
    line: String,
    id: u64,
    timeout: Option<Duration>,
    queued: &mut VecDeque<StreamMessage>,
) -> Result<Box<RawValue>, ClientError> {
    rt.block_on(super::remote::send_text(ws, line))?;
    loop {
        match decode_frame(remote_next(rt, ws, timeout)?.trim_end())? {
            Received::Response { id: got, outcome } if got == id || got == 0 => {
                return outcome.map_err(ClientError::Api);
            }
            Received::Response { id: got, .. } => {
                return Err(ClientError::Protocol(format!(
                    "response to unknown id {got}"
                )));
            }
            Received::Stream(msg) => queued.push_back(msg),
        }
    }
}
