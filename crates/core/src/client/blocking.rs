//! The blocking client: one request at a time over a std Unix stream.

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
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    /// Stream events read while waiting for a response.
    queued: VecDeque<StreamMessage>,
    line: String,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Unreachable {
            path: path.to_path_buf(),
            source,
        })?;
        super::check_peer(&stream, path)?;
        let writer = stream.try_clone()?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
            queued: VecDeque::new(),
            line: String::new(),
        })
    }

    /// Bounds how long a call waits for its response.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.reader.get_ref().set_read_timeout(timeout)?;
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
        let line = encode_request(method, params, id)?;
        if let Err(e) = self.writer.write_all(line.as_bytes()) {
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
        let stream = self.reader.get_ref();
        let before = stream.read_timeout().ok().flatten();
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let got = self.read_frame();
        let _ = self.reader.get_ref().set_read_timeout(before);
        match got {
            Ok(Received::Response {
                outcome: Err(e), ..
            }) => Some(ClientError::Api(e)),
            _ => None,
        }
    }

    fn read_frame(&mut self) -> Result<Received, ClientError> {
        self.line.clear();
        match self.reader.read_line(&mut self.line) {
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
