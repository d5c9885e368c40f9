//! `tradectl data …`: import, list, show, export and delete datasets.

use crate::format::{Table, ts};
use crate::{Ctx, Failure};
use clap::Subcommand;
use std::path::PathBuf;
use tradedesk_core::api::data::{
    DataDelete, DataFilter, DataGet, DataList, Dataset, DatasetId, ExportParams,
};
use tradedesk_core::dataset::ImportFormat;
use tradedesk_core::dataset::ImportParams;

#[derive(Subcommand)]
pub enum Data {
    /// Import bars from a CSV file (generic with a header, or a Binance
    /// kline dump) or from the daemon's recorded klines (`--format klines`).
    Import {
        /// The file (on the daemon's machine; made absolute here).
        path: Option<PathBuf>,
        #[arg(long)]
        symbol: String,
        /// Quote currency (found from the symbol when omitted).
        #[arg(long)]
        quote: Option<String>,
        /// 1m, 5m, 15m, 1h, 4h, 1d (detected when omitted).
        #[arg(long)]
        interval: Option<String>,
        #[arg(long, value_enum)]
        format: Option<ImportFormat>,
        #[arg(long)]
        name: Option<String>,
        /// Return at once instead of waiting for the import job.
        #[arg(long)]
        no_wait: bool,
    },
    /// Download Binance's klines into a dataset (`binance.rest_url`),
    /// page by page within its request-weight budget.
    Download {
        symbol: String,
        /// 1m, 5m, 15m, 1h, 4h or 1d.
        #[arg(long)]
        interval: String,
        /// From, in RFC 3339 (`2024-01-01T00:00:00Z`).
        #[arg(long, value_parser = crate::trading::parse_time)]
        start: tradedesk_core::time::Timestamp,
        /// To (default: now).
        #[arg(long, value_parser = crate::trading::parse_time)]
        end: Option<tradedesk_core::time::Timestamp>,
        #[arg(long)]
        name: Option<String>,
        /// Return at once instead of waiting for the job.
        #[arg(long)]
        no_wait: bool,
    },
    /// The datasets.
    List {
        #[arg(long)]
        symbol: Option<String>,
    },
    /// One dataset with its gaps.
    Show { id: u64 },
    /// Delete a dataset.
    Delete { id: u64 },
    /// Write a dataset to a CSV file.
    Export { id: u64, path: PathBuf },
}

pub(super) fn datasets_table(ds: &[Dataset]) -> String {
    let mut t = Table::new(&[
        "id", "name", "symbol", "quote", "interval", "rows", "from", "to", "gaps",
    ]);
    for d in ds {
        t.row(vec![
            d.id.to_string(),
            d.name.clone(),
            d.symbol.clone(),
            d.quote.clone(),
            d.interval
                .clone()
                .unwrap_or_else(|| format!("{}ms", d.spacing_ms)),
            d.rows.to_string(),
            ts(d.start),
            ts(d.end),
            format!("{} ({} bars)", d.gaps, d.missing_bars),
        ]);
    }
    t.to_string()
}

pub fn data(ctx: &Ctx, cmd: Data) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    match cmd {
        Data::Import {
            path,
            symbol,
            quote,
            interval,
            format,
            name,
            no_wait,
        } => {
            let path = path
                .map(|p| std::path::absolute(&p).unwrap_or(p))
                .map(|p| p.display().to_string());
            let job = c.import_file(&ImportParams {
                path,
                symbol,
                quote,
                interval,
                format,
                name,
                start: None,
                end: None,
            })?;
            let id = job.id;
            if no_wait {
                ctx.emit(&job, || outln!("import queued as job {id}"));
                return Ok(());
            }
            crate::jobs::wait(ctx, &mut c, id)
        }
        Data::Download {
            symbol,
            interval,
            start,
            end,
            name,
            no_wait,
        } => {
            let job = c.call::<tradedesk_core::api::data::DataDownload>(
                &tradedesk_core::api::data::DownloadParams {
                    symbol: symbol.to_ascii_uppercase(),
                    interval,
                    start,
                    end,
                    name,
                },
            )?;
            let id = job.id;
            if no_wait {
                ctx.emit(&job, || outln!("download queued as job {id}"));
                return Ok(());
            }
            crate::jobs::wait(ctx, &mut c, id)
        }
        Data::List { symbol } => {
            let l = c.call::<DataList>(&DataFilter {
                symbol,
                limit: Some(tradedesk_core::api::paging::MAX_LIMIT),
                cursor: None,
            })?;
            ctx.emit(&l, || {
                out!("{}", datasets_table(&l.items));
            });
            Ok(())
        }
        Data::Show { id } => {
            let d = c.call::<DataGet>(&DatasetId { id })?;
            ctx.emit(&d, || {
                out!("{}", datasets_table(std::slice::from_ref(&d)));
                outln!("source {}", d.source);
                for g in &d.largest_gaps {
                    outln!("gap after {}: {} bars missing", ts(g.after), g.missing_bars);
                }
            });
            Ok(())
        }
        Data::Delete { id } => {
            let r = c.call::<DataDelete>(&DatasetId { id })?;
            ctx.emit(&r, || outln!("dataset {id} deleted"));
            Ok(())
        }
        Data::Export { id, path } => {
            let path = std::path::absolute(&path).unwrap_or(path);
            let r = c.export_file(&ExportParams {
                id,
                path: path.display().to_string(),
            })?;
            ctx.emit(&r, || {
                outln!("{} rows written to {}", r.rows, r.path);
            });
            Ok(())
        }
    }
}
