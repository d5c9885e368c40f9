//! The Unix-socket transport: newline-delimited JSON-RPC 2.0.
//!
//! Invariants: the socket is mode 0600 from the moment it can be reached
//! (bound in a private staging directory, then renamed into place), in a
//! directory the daemon creates 0700 when it does not exist; a
//! peer whose uid differs from the daemon's is refused and logged; every
//! limit (frame size, batch size, connections, frame timeout) answers with a
//! JSON-RPC error rather than dropping the peer silently or crashing.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tradedesk_core::api::jsonrpc::{Id, Response};
use tradedesk_core::api::{ApiError, Caller, ErrorCode};

use super::rpc::Rpc;
use crate::config::RpcConfig;
use crate::services::sessions::{Outbound, Session};

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("another daemon is already listening on {0}")]
    InUse(String),
    #[error("{0} exists and is not a socket; remove it or choose another path")]
    NotASocket(String),
    #[error(
        "socket directory {path} is {why}: another user could replace the socket; \
         use a directory only you can write (mode 0700)"
    )]
    UnsafeDir { path: String, why: String },
    #[error("socket {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// A bound listening socket that removes its file when the daemon stops
/// (only if the file is still the one it created).
pub struct BoundSocket {
    pub listener: UnixListener,
    pub path: PathBuf,
    ino: u64,
}

impl BoundSocket {
    pub fn bind(path: &Path) -> Result<BoundSocket, SocketError> {
        let io_err = |source| SocketError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err)?;
        }
        check_dir(
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )?;
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(SocketError::NotASocket(path.display().to_string()));
            }
            Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(SocketError::InUse(path.display().to_string())),
                Err(_) => {
                    tracing::info!(path = %path.display(), "replacing stale socket");
                    std::fs::remove_file(path).map_err(io_err)?;
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        let (listener, ino) = bind_private(path).map_err(io_err)?;
        Ok(BoundSocket {
            listener,
            path: path.to_path_buf(),
            ino,
        })
    }

    /// Removes the socket file if it is still ours.
    pub fn remove(&self) {
        match std::fs::metadata(&self.path) {
            Ok(meta) if meta.ino() == self.ino => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot remove socket");
                }
            }
            _ => {}
        }
    }
}

/// Refuses a socket directory that another user could write to (and so
/// swap our socket for theirs), or that is not ours.
fn check_dir(dir: &Path) -> Result<(), SocketError> {
    let meta = std::fs::metadata(dir).map_err(|source| SocketError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let own = rustix::process::geteuid().as_raw();
    let why = if meta.uid() != own {
        Some(format!(
            "owned by uid {}, not by us (uid {own})",
            meta.uid()
        ))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "writable by others (mode {:o})",
            meta.mode() & 0o7777
        ))
    } else {
        None
    };
    match why {
        Some(why) => Err(SocketError::UnsafeDir {
            path: dir.display().to_string(),
            why,
        }),
        None => Ok(()),
    }
}

/// Binds a socket that is never reachable by another user, even for an
/// instant, without touching the process-wide umask: it is bound inside a
/// fresh 0700 directory, made 0600, then renamed into place.
fn bind_private(path: &Path) -> io::Result<(UnixListener, u64)> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Unique per process and per bind: tests run several daemons at once.
    static BINDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = BINDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staging = parent.join(format!(".tradingd-bind-{}-{n}", std::process::id()));
    // A leftover from a crashed start of a process with our pid.
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::DirBuilder::new().mode(0o700).create(&staging)?;
    let result = (|| {
        let tmp = staging.join("s");
        let listener = UnixListener::bind(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, path)?;
        let ino = std::fs::metadata(path)?.ino();
        Ok((listener, ino))
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// How long a connection must have been silent before a newcomer at the
/// connection limit may take its slot.
const EVICT_AFTER_IDLE_MS: u64 = 1_000;

/// Accepts connections until `shutdown`, each served on its own task
/// tracked by `tracker`.
pub async fn serve(
    socket: &BoundSocket,
    rpc: Arc<Rpc>,
    limits: RpcConfig,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let own_uid = rustix::process::geteuid().as_raw();
    let limits = Arc::new(limits);
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = socket.listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Running out of file descriptors must not end the
                    // daemon; back off and try again.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let cred = stream.peer_cred();
        let peer_uid = cred.as_ref().map(tokio::net::unix::UCred::uid).ok();
        if peer_uid != Some(own_uid) {
            let pid = cred.as_ref().ok().and_then(tokio::net::unix::UCred::pid);
            tracing::warn!(
                ?peer_uid,
                ?pid,
                own_uid,
                "refused connection from another user"
            );
            let err = ApiError::new(
                ErrorCode::Forbidden,
                "connection refused: peer uid differs from the daemon's",
            );
            tracker.spawn(refuse(stream, err));
            continue;
        }
        let mut permit = Arc::clone(&slots).try_acquire_owned().ok();
        // At the limit, the connection idle longest gives its slot up.
        if permit.is_none() && rpc.ctx.sessions.evict_idlest(EVICT_AFTER_IDLE_MS) {
            permit = tokio::time::timeout(
                std::time::Duration::from_secs(1),
                Arc::clone(&slots).acquire_owned(),
            )
            .await
            .ok()
            .and_then(Result::ok);
        }
        let Some(permit) = permit else {
            tracing::warn!(
                limit = limits.max_connections,
                "connection refused: rpc.max_connections reached"
            );
            let err = ApiError::new(
                ErrorCode::Overloaded,
                format!("too many connections (rpc.max_connections = {})", limits.max_connections),
            )
            .with_data(serde_json::json!({ "limit": "rpc.max_connections", "max": limits.max_connections }));
            tracker.spawn(refuse(stream, err));
            continue;
        };
        let rpc = Arc::clone(&rpc);
        let limits = Arc::clone(&limits);
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            connection(stream, &rpc, &limits, &shutdown).await;
            drop(permit);
        });
    }
}

/// Tells a refused peer why, then closes.
async fn refuse(mut stream: UnixStream, err: ApiError) {
    let mut line = Response::encode(&Id::null(), &Err(err));
    line.push('\n');
    let write = async {
        stream.write_all(line.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), write).await;
}

async fn connection(
    stream: UnixStream,
    rpc: &Rpc,
    limits: &RpcConfig,
    shutdown: &CancellationToken,
) {
    let (read, write) = stream.into_split();
    let (tx, rx) = mpsc::channel(limits.outbound_queue);
    let session = rpc.ctx.sessions.open(tx.clone(), None);
    let caller = Caller::local_admin(session.id);
    tracing::debug!(session = session.id, "connection opened");
    let writer = tokio::spawn(write_loop(write, rx));
    if let Err(reason) = read_loop(read, rpc, &caller, &session, limits, shutdown, &tx).await {
        tracing::debug!(
            session = session.id,
            reason,
            "connection closed by the daemon"
        );
    }
    rpc.ctx.sessions.close(session.id);
    drop(session);
    drop(tx);
    // The writer drains what is queued (the last responses) and ends when
    // the last sender is gone.
    let _ = writer.await;
}

async fn write_loop(write: OwnedWriteHalf, mut rx: mpsc::Receiver<Outbound>) {
    let mut w = BufWriter::with_capacity(16 * 1024, write);
    while let Some(msg) = rx.recv().await {
        if w.write_all(msg.as_bytes()).await.is_err() {
            return;
        }
        // Coalesce whatever else is ready into one write.
        while let Ok(msg) = rx.try_recv() {
            if w.write_all(msg.as_bytes()).await.is_err() {
                return;
            }
        }
        if w.flush().await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
}

async fn send_line(tx: &mpsc::Sender<Outbound>, mut line: String) -> Result<(), &'static str> {
    line.push('\n');
    tx.send(Outbound::Owned(line))
        .await
        .map_err(|_| "writer gone")
}

fn error_line(err: ApiError) -> String {
    Response::encode(&Id::null(), &Err(err))
}

/// Reads frames until EOF, shutdown, or a fatal protocol condition (the
/// `Err` names it). Nothing holds a connection forever: a partial frame
/// must finish within `rpc.frame_timeout_ms`, the first frame must come
/// within `rpc.first_frame_ms`, a connection without subscriptions is
/// closed after `rpc.idle_timeout_ms` of silence, and one idle at the
/// connection limit gives its slot to a newcomer.
async fn read_loop(
    mut read: OwnedReadHalf,
    rpc: &Rpc,
    caller: &Caller,
    session: &Session,
    limits: &RpcConfig,
    shutdown: &CancellationToken,
    tx: &mpsc::Sender<Outbound>,
) -> Result<(), &'static str> {
    let max = limits.max_frame_bytes;
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    // Bytes of `buf` already searched for a newline.
    let mut scanned = 0;
    // Inside a frame that exceeded the limit: drop bytes until its newline.
    let mut discarding = false;
    // When the frame being read must be complete: a slow trickle of bytes
    // cannot keep a connection busy forever.
    let mut deadline: Option<tokio::time::Instant> = None;
    let opened = tokio::time::Instant::now();
    let mut framed = false;
    loop {
        while let Some(offset) = buf[scanned..].iter().position(|&b| b == b'\n') {
            let end = scanned.saturating_add(offset);
            framed = true;
            session.touch();
            if discarding {
                discarding = false;
            } else if end > max {
                send_line(tx, error_line(frame_too_large(max))).await?;
            } else {
                let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
                if !line.iter().all(u8::is_ascii_whitespace) {
                    session.set_busy(true);
                    let resp = rpc.handle_frame(caller, line).await;
                    session.set_busy(false);
                    session.touch();
                    if let Some(resp) = resp {
                        send_line(tx, resp).await?;
                    }
                }
            }
            buf.drain(..=end);
            scanned = 0;
            deadline = None;
            if shutdown.is_cancelled() {
                return Ok(());
            }
        }
        scanned = buf.len();
        if !discarding && buf.len() > max {
            send_line(tx, error_line(frame_too_large(max))).await?;
            discarding = true;
        }
        if discarding {
            buf.clear();
            scanned = 0;
        }
        if buf.is_empty() && !discarding {
            deadline = None;
        } else if deadline.is_none() {
            deadline = tokio::time::Instant::now().checked_add(limits.frame_timeout);
        }
        let (wait_until, why) = Silence::deadline(deadline, framed, opened, session, limits);
        buf.reserve(8 * 1024);
        let n = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            () = session.evicted.cancelled() => {
                let err = ApiError::new(
                    ErrorCode::Overloaded,
                    "closed: the daemon is at rpc.max_connections and this connection was the idlest",
                );
                let _ = send_line(tx, error_line(err)).await;
                return Err("evicted at the connection limit");
            }
            r = read_more(&mut read, &mut buf, wait_until) => r,
        };
        match n {
            Ok(0) => {
                // EOF: a last frame without its newline is still answered.
                if !buf.is_empty()
                    && !discarding
                    && !buf.iter().all(u8::is_ascii_whitespace)
                    && let Some(resp) = rpc.handle_frame(caller, &buf).await
                {
                    send_line(tx, resp).await?;
                }
                return Ok(());
            }
            Ok(_) => {}
            Err(ReadError::Timeout) => {
                send_line(tx, error_line(why.error(limits))).await?;
                return Err("timeout");
            }
            Err(ReadError::Io) => return Err("read error"),
        }
    }
}

/// Why a connection's silence ends it.
#[derive(Debug, Clone, Copy)]
enum Silence {
    /// A frame started and did not finish.
    Frame,
    /// Nothing was ever sent.
    First,
    /// Nothing sent for a while, and nothing subscribed.
    Idle,
}

impl Silence {
    /// What ends a wait for more bytes, and what that would mean.
    fn deadline(
        frame: Option<tokio::time::Instant>,
        framed: bool,
        opened: tokio::time::Instant,
        session: &Session,
        limits: &RpcConfig,
    ) -> (Option<tokio::time::Instant>, Silence) {
        match frame {
            Some(d) => (Some(d), Silence::Frame),
            None if !framed => (opened.checked_add(limits.first_frame), Silence::First),
            None if !session.has_subscriptions() => (
                tokio::time::Instant::now().checked_add(limits.idle_timeout),
                Silence::Idle,
            ),
            None => (None, Silence::Frame),
        }
    }

    /// The error a connection ended by this silence is told.
    fn error(self, limits: &RpcConfig) -> ApiError {
        let (key, ms, what) = match self {
            Silence::Frame => (
                "rpc.frame_timeout_ms",
                limits.frame_timeout,
                "frame not completed",
            ),
            Silence::First => ("rpc.first_frame_ms", limits.first_frame, "no request"),
            Silence::Idle => (
                "rpc.idle_timeout_ms",
                limits.idle_timeout,
                "idle without subscriptions",
            ),
        };
        ApiError::new(
            ErrorCode::Timeout,
            format!("{what} within {key} ({} ms); closing", ms.as_millis()),
        )
        .with_data(serde_json::json!({ "limit": key }))
    }
}

fn frame_too_large(max: usize) -> ApiError {
    ApiError::new(
        ErrorCode::LimitExceeded,
        format!("frame exceeds rpc.max_frame_bytes ({max} bytes)"),
    )
    .with_data(serde_json::json!({ "limit": "rpc.max_frame_bytes", "max": max }))
}

enum ReadError {
    Timeout,
    Io,
}

async fn read_more(
    read: &mut OwnedReadHalf,
    buf: &mut Vec<u8>,
    deadline: Option<tokio::time::Instant>,
) -> Result<usize, ReadError> {
    match deadline {
        None => read.read_buf(buf).await.map_err(|_| ReadError::Io),
        Some(t) => match tokio::time::timeout_at(t, read.read_buf(buf)).await {
            Ok(r) => r.map_err(|_| ReadError::Io),
            Err(_) => Err(ReadError::Timeout),
        },
    }
}
