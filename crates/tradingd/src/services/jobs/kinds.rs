//! What each job kind does: one [`Run`] impl per kind of
//! [`tradedesk_core::job_kinds!`], so a kind without a runner does not
//! compile. The long runners live beside this file (`import`, `backtest`).

use tradedesk_core::job::{
    BacktestRun, BacktestSweep, Backup, BackupPayload, BotPayload, BotStart, BotStop, CancelAll,
    CancelAllPayload, DataImport, Kind, NoPayload, Prune, PrunePayload, RiskReport, Vacuum,
};

use super::{JobError, JobRun, Runner, failed};
use crate::store::jobs as db;

/// A kind's runner: one attempt with its typed payload.
pub trait Run: Kind {
    fn run(run: &JobRun<'_>, payload: Self::Payload) -> Result<serde_json::Value, JobError>;
}

/// One attempt of a job of kind `K`: its payload decoded, then run.
fn attempt<K: Run>(run: &JobRun<'_>) -> Result<serde_json::Value, JobError> {
    run.check()?;
    let payload = serde_json::from_value(run.job.payload.clone())
        .map_err(|e| JobError::Permanent(format!("payload: {e}")))?;
    K::run(run, payload)
}

/// Every built-in kind's runner by name, in the order of
/// [`tradedesk_core::job::KINDS`].
pub(super) fn builtin() -> Vec<(&'static str, Runner)> {
    macro_rules! runners {
        ($($k:path),* $(,)?) => {
            vec![$((<$k as Kind>::NAME, attempt::<$k> as Runner)),*]
        };
    }
    tradedesk_core::job_kinds!(runners)
}

/// A job whose kind this daemon does not know (a kind removed since it
/// was stored): no attempt can succeed.
pub(super) fn unknown(run: &JobRun<'_>) -> Result<serde_json::Value, JobError> {
    Err(JobError::Permanent(format!(
        "no runner for job kind `{}`",
        run.job.kind
    )))
}

/// Refuses a bot the job's owner may not act on.
fn owners_bot(run: &JobRun<'_>, id: u64) -> Result<(), JobError> {
    let caller = run.caller()?;
    let bot = crate::store::bots::bot_by_id(run.ctx.store().conn(), id).map_err(failed)?;
    if bot.is_some_and(|b| caller.sees(&b.owner)) {
        Ok(())
    } else {
        Err(JobError::Permanent(format!(
            "no bot {id} of `{}`",
            caller.user
        )))
    }
}

impl Run for BotStart {
    fn run(run: &JobRun<'_>, p: BotPayload) -> Result<serde_json::Value, JobError> {
        owners_bot(run, p.id)?;
        let ctx = run.ctx;
        let v = ctx
            .bots
            .start(ctx, p.id)
            .map_err(|e| JobError::from_api(&e))?;
        Ok(serde_json::json!({ "bot": p.id, "status": v.bot.status }))
    }
}

impl Run for BotStop {
    fn run(run: &JobRun<'_>, p: BotPayload) -> Result<serde_json::Value, JobError> {
        owners_bot(run, p.id)?;
        let ctx = run.ctx;
        let v = ctx
            .bots
            .stop(ctx, p.id, true, p.flatten, Some("stopped by a job".into()))
            .map_err(|e| JobError::from_api(&e))?;
        Ok(serde_json::json!({ "bot": p.id, "status": v.bot.status }))
    }
}

impl Run for CancelAll {
    fn run(run: &JobRun<'_>, p: CancelAllPayload) -> Result<serde_json::Value, JobError> {
        let ctx = run.ctx;
        let caller = run.caller()?;
        let mut state = ctx.exchange.lock();
        let ids: Vec<u64> = state
            .open
            .values()
            .filter(|o| p.symbol.as_ref().is_none_or(|s| &o.symbol == s))
            .filter(|o| state.sees_account(&caller, &o.account))
            .map(|o| o.id)
            .collect();
        let changes = state
            .cancel_many(&mut ctx.store(), &ids, "cancelled by a job", ctx.now())
            .map_err(|e| failed(e.message))?;
        ctx.publish(&state, &changes);
        Ok(serde_json::json!({ "cancelled": ids.len() }))
    }
}

impl Run for RiskReport {
    fn run(run: &JobRun<'_>, _: NoPayload) -> Result<serde_json::Value, JobError> {
        let state = run.ctx.exchange.lock();
        let now = run.ctx.now();
        let report = state.risk_status(&state.known_scopes(), now);
        Ok(serde_json::json!({ "time": now, "states": report.states, "usage": report.usage }))
    }
}

impl Run for Vacuum {
    fn run(run: &JobRun<'_>, _: NoPayload) -> Result<serde_json::Value, JobError> {
        let store = run.ctx.store();
        let before = store.size_bytes();
        store.checkpoint().map_err(failed)?;
        store.vacuum().map_err(failed)?;
        store.checkpoint().map_err(failed)?;
        Ok(serde_json::json!({ "bytes_before": before, "bytes_after": store.size_bytes() }))
    }
}

impl Run for Backup {
    fn run(run: &JobRun<'_>, p: BackupPayload) -> Result<serde_json::Value, JobError> {
        let dir = std::path::Path::new(&p.dir);
        if !dir.is_dir() {
            return Err(JobError::Permanent(format!(
                "payload.dir: `{}` is not a directory",
                p.dir
            )));
        }
        let name = format!(
            "tradedesk-{}.db",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
        );
        let to = dir.join(name);
        let done =
            crate::maintenance::backup(&run.ctx.config.db_path(), &to).map_err(JobError::Failed)?;
        let deleted =
            crate::maintenance::rotate_backups(dir, p.keep as usize).map_err(JobError::Failed)?;
        Ok(serde_json::json!({
            "path": done.path,
            "bytes": done.bytes,
            "took_ms": done.took_ms,
            "deleted": deleted,
        }))
    }
}

impl Run for Prune {
    fn run(run: &JobRun<'_>, p: PrunePayload) -> Result<serde_json::Value, JobError> {
        let ctx = run.ctx;
        let cutoff = ctx
            .now()
            .millis()
            .saturating_sub(i64::from(p.older_than_days).saturating_mul(86_400_000));
        let mut out = serde_json::Map::new();
        for table in db::Prunable::ALL {
            run.check()?;
            let n = ctx
                .store()
                .write(|tx| db::prune(tx, table, cutoff))
                .map_err(failed)?;
            out.insert(table.name().into(), n.into());
            run.progress(out.len().saturating_mul(20).min(100) as u8, table.name())?;
        }
        Ok(serde_json::Value::Object(out))
    }
}

impl Run for DataImport {
    fn run(
        run: &JobRun<'_>,
        p: tradedesk_core::dataset::ImportParams,
    ) -> Result<serde_json::Value, JobError> {
        let out = super::import::run_import(run, &p);
        // An upload (HTTP) is the daemon's own copy, read by this one
        // attempt: removed however it ended. One a crash left behind is
        // swept at the next start.
        if let Some(path) = &p.path
            && crate::server::files::is_upload(&run.ctx.config.data_dir, path)
        {
            let _ = std::fs::remove_file(path);
        }
        out
    }
}

impl Run for BacktestRun {
    fn run(
        run: &JobRun<'_>,
        p: tradedesk_core::job::BacktestPayload,
    ) -> Result<serde_json::Value, JobError> {
        super::backtest::run_backtest(run, p.backtest)
    }
}

impl Run for BacktestSweep {
    fn run(
        run: &JobRun<'_>,
        p: tradedesk_core::job::BacktestPayload,
    ) -> Result<serde_json::Value, JobError> {
        super::backtest::run_sweep(run, p.backtest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_runner_in_the_catalogues_order() {
        let names: Vec<&str> = builtin().into_iter().map(|(n, _)| n).collect();
        let kinds: Vec<&str> = tradedesk_core::job::KINDS.iter().map(|k| k.name).collect();
        assert_eq!(names, kinds);
    }
}
