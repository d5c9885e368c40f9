//! Files over HTTP, where the socket names paths on the daemon's machine
//! (which a remote caller must never do):
//!
//! - `data.import`: `POST /api/v1/data?symbol=…` with the file as the body
//!   (any content type but JSON). The body is streamed to a private file in
//!   `<data_dir>/uploads/` (never whole in memory; at most
//!   `data.max_import_bytes`, else 413 and nothing kept), then imported by
//!   the same job as on the socket, which removes the upload when it ends.
//! - `data.export`: `POST /api/v1/data/{id}/export` without a `path`
//!   answers with the CSV as the body, written chunk by chunk as it is sent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncWriteExt as _;
use tradedesk_core::api::{ApiError, Caller, ErrorCode};
use tradedesk_core::dataset::ImportParams;

use crate::context::Ctx;

/// The daemon's own directory of uploads being imported.
pub fn uploads_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("uploads")
}

/// Whether `path` is an upload of this daemon (the import removes it).
pub fn is_upload(data_dir: &Path, path: &str) -> bool {
    Path::new(path).parent() == Some(uploads_dir(data_dir).as_path())
}

/// Streams `body` into a new private file of the uploads directory, at
/// most `max` bytes; removes what it wrote on any failure.
pub async fn receive(ctx: &Ctx, body: Body, max: u64) -> Result<PathBuf, ApiError> {
    use futures_util::StreamExt as _;
    let dir = uploads_dir(&ctx.config.data_dir);
    create_private_dir(&dir).await?;
    let name = format!("{}.upload", crate::services::auth::opaque_token("")?);
    let path = dir.join(name);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .await
        .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
    let mut stream = body.into_data_stream();
    let mut written: u64 = 0;
    let outcome: Result<(), ApiError> = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::invalid_params(format!("invalid params: the request body: {e}"))
            })?;
            written = written.saturating_add(chunk.len() as u64);
            if written > max {
                return Err(ApiError::new(
                    ErrorCode::LimitExceeded,
                    format!("the file is over data.max_import_bytes ({max} bytes)"),
                ));
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
        }
        if written == 0 {
            return Err(ApiError::bad_field(
                "body",
                "send the file as the request body",
            ));
        }
        file.sync_all()
            .await
            .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))
    }
    .await;
    drop(file);
    match outcome {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            Err(e)
        }
    }
}

async fn create_private_dir(dir: &Path) -> Result<(), ApiError> {
    let mut b = tokio::fs::DirBuilder::new();
    b.recursive(true).mode(0o700);
    b.create(dir)
        .await
        .map_err(|e| ApiError::internal(format!("cannot make {}: {e}", dir.display())))
}

/// Imports an upload as the caller: the same job as the socket's.
pub async fn import(
    ctx: &Arc<Ctx>,
    caller: &Caller,
    mut params: ImportParams,
    upload: &Path,
) -> Result<tradedesk_core::job::JobRecord, ApiError> {
    if params.path.is_some() {
        let _ = tokio::fs::remove_file(upload).await;
        return Err(ApiError::bad_field(
            "path",
            "over HTTP the file is the request body, not a path",
        ));
    }
    params.path = Some(upload.display().to_string());
    let job = ctx.import_job(caller, &params).await;
    if job.is_err() {
        let _ = tokio::fs::remove_file(upload).await;
    }
    job
}

/// The dataset as a CSV body, read a chunk at a time as it is sent.
pub fn export(ctx: Arc<Ctx>, caller: &Caller, id: u64) -> Result<Response, ApiError> {
    let dataset = ctx.dataset(caller, id)?;
    let rows = futures_util::stream::unfold(Some(0_u64), move |seq| {
        let ctx = Arc::clone(&ctx);
        async move {
            let seq = seq?;
            let chunk = tokio::task::spawn_blocking(move || ctx.export_chunk(id, seq))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|r| r.map_err(|e| std::io::Error::other(e.message)));
            match chunk {
                Ok(Some(text)) => Some((Ok(text), Some(seq.saturating_add(1)))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    let header_line = futures_util::stream::once(async { Ok(CSV_HEADER.to_owned()) });
    let body = Body::from_stream(futures_util::StreamExt::chain(header_line, rows));
    let file = dataset
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect::<String>();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file}.csv\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv")),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// The first line of an exported dataset.
pub const CSV_HEADER: &str = "timestamp,open,high,low,close,volume\n";

/// Removes uploads no queued or running import will read (left by a crash
/// or a stop in the middle).
pub fn sweep(ctx: &Ctx) {
    let dir = uploads_dir(&ctx.config.data_dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let pending = crate::store::jobs::pending_import_paths(ctx.store().conn()).unwrap_or_default();
    for e in entries.flatten() {
        let path = e.path();
        if !pending.iter().any(|p| Path::new(p) == path) {
            let _ = std::fs::remove_file(&path);
        }
    }
}
