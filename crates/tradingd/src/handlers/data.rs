//! `data.*`: datasets — streamed imports, listing, export, deletion.

use crate::services::jobs::import::check_import;
use tradedesk_core::api::paging::{self};

use crate::store::backtests as db;
use crate::store::jobs as jdb;
use tradedesk_core::api::data::{
    BarSeries, BarsQuery, DataBars, DataDelete, DataDownload, DataExport, DataFilter, DataGet,
    DataImport, DataList, Dataset, DatasetId, DatasetList, DownloadParams, ExportParams, Exported,
    MAX_BAR_POINTS, merge_bars,
};
use tradedesk_core::api::{ApiError, Caller, Deleted, ErrorCode, Handle};
use tradedesk_core::dataset::ImportParams;
use tradedesk_core::job::JobRecord;

use crate::context::Ctx;
use crate::services::exchange::store_err;

pub(super) fn not_found_dataset(id: u64) -> ApiError {
    ApiError::not_found("dataset", id)
}

impl Handle<DataImport> for Ctx {
    async fn handle(&self, caller: &Caller, p: ImportParams) -> Result<JobRecord, ApiError> {
        self.import_job(caller, &p).await
    }
}

impl Handle<DataDownload> for Ctx {
    async fn handle(&self, caller: &Caller, p: DownloadParams) -> Result<JobRecord, ApiError> {
        self.import_job(caller, &p.import()).await
    }
}

impl Ctx {
    /// Checks an import and enqueues its job, owned by the caller.
    pub(crate) async fn import_job(
        &self,
        caller: &Caller,
        p: &ImportParams,
    ) -> Result<JobRecord, ApiError> {
        check_import(p, self.config.data.max_import_bytes)?;
        let payload = serde_json::to_value(p).map_err(|e| ApiError::internal(e.to_string()))?;
        let now = self.now();
        self.enqueue_job(
            &jdb::NewJob {
                kind: "data.import",
                payload: &payload,
                priority: 0,
                max_attempts: 1,
                run_at: now,
                idempotency_key: None,
                owner: &caller.user,
            },
            now,
        )
        .await
    }
}

impl Handle<DataList> for Ctx {
    async fn handle(&self, caller: &Caller, f: DataFilter) -> Result<DatasetList, ApiError> {
        let mut all =
            db::datasets(self.store().conn(), f.symbol.as_deref()).map_err(|e| store_err(&e))?;
        all.retain(|d| caller.sees(&d.owner));
        paging::in_memory(all, f.limit, f.cursor.as_deref())
    }
}

impl Handle<DataGet> for Ctx {
    async fn handle(&self, caller: &Caller, p: DatasetId) -> Result<Dataset, ApiError> {
        self.dataset(caller, p.id)
    }
}

impl Handle<DataBars> for Ctx {
    async fn handle(&self, caller: &Caller, p: BarsQuery) -> Result<BarSeries, ApiError> {
        let ds = self.dataset(caller, p.id)?;
        let points = p.points.unwrap_or(1000);
        if !(2..=MAX_BAR_POINTS).contains(&points) {
            return Err(ApiError::bad_field(
                "points",
                format!("must be 2–{MAX_BAR_POINTS}, got {points}"),
            ));
        }
        if let (Some(s), Some(e)) = (p.start, p.end)
            && e < s
        {
            return Err(ApiError::bad_field("end", "must not be before start"));
        }
        self.blocking(move |ctx| {
            let bars =
                db::bars(ctx.store().conn(), p.id, p.start, p.end).map_err(|e| store_err(&e))?;
            let (per_point, merged) = merge_bars(&bars, points as usize);
            Ok(BarSeries {
                id: p.id,
                symbol: ds.symbol.clone(),
                total: bars.len() as u64,
                per_point,
                bars: merged,
            })
        })
    }
}

impl Handle<DataDelete> for Ctx {
    async fn handle(&self, caller: &Caller, p: DatasetId) -> Result<Deleted, ApiError> {
        self.dataset(caller, p.id)?;
        match self
            .store()
            .write(|tx| db::delete_dataset(tx, p.id))
            .map_err(|e| store_err(&e))?
        {
            Ok(deleted) => Ok(Deleted { id: p.id, deleted }),
            Err(users) => Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "dataset {} is read by unfinished backtests {users:?}; cancel them or wait",
                    p.id
                ),
            )),
        }
    }
}

impl Handle<DataExport> for Ctx {
    async fn handle(&self, caller: &Caller, p: ExportParams) -> Result<Exported, ApiError> {
        self.dataset(caller, p.id)?;
        self.blocking(|ctx| {
            let mut file = ctx.export_file(&p.path)?;
            let written = ctx.write_export(&mut file, p.id);
            drop(file);
            match written {
                Ok(rows) => Ok(Exported { path: p.path, rows }),
                Err(e) => {
                    // Only ever our own new file: it was created above.
                    let _ = std::fs::remove_file(&p.path);
                    Err(e)
                }
            }
        })
    }
}

impl Ctx {
    /// Creates an export's file: an absolute path, outside the daemon's own
    /// data, run and log directories, created new (never replacing
    /// anything, never through a symlink), readable by the user only.
    fn export_file(&self, path: &str) -> Result<std::io::BufWriter<std::fs::File>, ApiError> {
        use std::os::unix::fs::OpenOptionsExt;
        let p = std::path::Path::new(path);
        if !p.is_absolute() {
            return Err(ApiError::bad_field("path", "must be an absolute path"));
        }
        let bad = |why: String| ApiError::bad_field("path", why);
        let parent = p
            .parent()
            .and_then(|d| std::fs::canonicalize(d).ok())
            .ok_or_else(|| bad(format!("the directory of `{path}` does not exist")))?;
        let own = [
            Some(self.config.data_dir.as_path()),
            self.config.socket.parent(),
            Some(self.config.log.dir.as_path()),
        ];
        for dir in own.into_iter().flatten() {
            if let Ok(dir) = std::fs::canonicalize(dir)
                && parent.starts_with(&dir)
            {
                return Err(bad(format!(
                    "`{path}` is inside the daemon's own directory {}; choose another place",
                    dir.display()
                )));
            }
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(p)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    bad(format!("`{path}` exists; nothing was written"))
                }
                k => bad(format!("cannot create `{path}`: {k}")),
            })?;
        Ok(std::io::BufWriter::with_capacity(256 * 1024, file))
    }

    /// Writes a dataset as CSV, a chunk at a time (bounded memory, short
    /// reads of the store); the rows written.
    fn write_export(
        &self,
        out: &mut std::io::BufWriter<std::fs::File>,
        id: u64,
    ) -> Result<u64, ApiError> {
        use std::io::Write as _;
        let io =
            |e: std::io::Error| ApiError::bad_field("path", format!("cannot write: {}", e.kind()));
        out.write_all(crate::server::files::CSV_HEADER.as_bytes())
            .map_err(io)?;
        let mut rows: u64 = 0;
        for seq in 0.. {
            let Some((text, n)) = self.export_rows(id, seq)? else {
                break;
            };
            out.write_all(text.as_bytes()).map_err(io)?;
            rows = rows.saturating_add(n);
        }
        out.flush().map_err(io)?;
        Ok(rows)
    }

    /// Chunk `seq` of a dataset as CSV lines, or `None` past the last.
    pub(crate) fn export_chunk(&self, id: u64, seq: u64) -> Result<Option<String>, ApiError> {
        Ok(self.export_rows(id, seq)?.map(|(text, _)| text))
    }

    fn export_rows(&self, id: u64, seq: u64) -> Result<Option<(String, u64)>, ApiError> {
        use std::fmt::Write as _;
        let chunk = db::chunk(self.store().conn(), id, seq).map_err(|e| store_err(&e))?;
        let Some(chunk) = chunk else {
            return Ok(None);
        };
        let mut text = String::with_capacity(chunk.len().saturating_mul(64));
        for b in &chunk {
            let t = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(b.time.millis())
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                .unwrap_or_default();
            let _ = writeln!(
                text,
                "{t},{},{},{},{},{}",
                b.open, b.high, b.low, b.close, b.volume
            );
        }
        Ok(Some((text, chunk.len() as u64)))
    }
}
