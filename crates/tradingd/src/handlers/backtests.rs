//! `data.*`, `backtests.*` and `analytics.performance` handlers, and the
//! `data.import`, `backtest.run` and `backtest.sweep` job runners.

use super::data::not_found_dataset;
use crate::services::jobs::backtest::metrics_bytes;

use crate::store::backtests as db;
use crate::store::jobs as jdb;
use tradedesk_core::analytics::Metrics;
use tradedesk_core::api::backtests::{
    Backtest, BacktestFilter, BacktestId, BacktestKind, BacktestPage, BacktestSpec,
    BacktestsCancel, BacktestsCompare, BacktestsCreate, BacktestsDelete, BacktestsEquity,
    BacktestsGet, BacktestsList, BacktestsReport, BacktestsResults, BacktestsSweep,
    BacktestsTrades, CompareParams, ComparedRun, Comparison, EquityCurve, EquityPoint, EquityQuery,
    SweepSpec, TradePage, TradesQuery,
};
use tradedesk_core::api::cache::Namespace;
use tradedesk_core::api::data::Dataset;
use tradedesk_core::api::jobs::JobEvents;
use tradedesk_core::api::{ApiError, Caller, Deleted, ErrorCode, Handle, paging};
use tradedesk_core::time::Timestamp;

use crate::context::Ctx;
use crate::services::exchange::store_err;

fn not_found_backtest(id: u64) -> ApiError {
    ApiError::not_found("backtest", id)
}

impl Ctx {
    pub(crate) fn dataset(&self, caller: &Caller, id: u64) -> Result<Dataset, ApiError> {
        db::dataset(self.store().conn(), id)
            .map_err(|e| store_err(&e))?
            .filter(|d| caller.sees(&d.owner))
            .ok_or_else(|| not_found_dataset(id))
    }

    pub(super) fn backtest(&self, caller: &Caller, id: u64) -> Result<Backtest, ApiError> {
        db::backtest(self.store().conn(), id)
            .map_err(|e| store_err(&e))?
            .filter(|b| caller.sees(&b.owner))
            .ok_or_else(|| not_found_backtest(id))
    }

    fn finished_backtest(&self, caller: &Caller, id: u64) -> Result<Backtest, ApiError> {
        let b = self.backtest(caller, id)?;
        if b.kind != BacktestKind::Run {
            return Err(ApiError::bad_field(
                "id",
                format!("backtest {id} is a sweep, not a run"),
            ));
        }
        if b.summary.is_none() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("backtest {id} has no results: it is {}", b.state.as_str()),
            ));
        }
        Ok(b)
    }

    /// Writes a backtest row and enqueues its job, in one transaction.
    fn create_backtest(
        &self,
        caller: &Caller,
        name: &str,
        kind: BacktestKind,
        spec: &serde_json::Value,
        datasets: &[u64],
    ) -> Result<Backtest, ApiError> {
        let now = self.now();
        let job_kind = match kind {
            BacktestKind::Run => "backtest.run",
            BacktestKind::Sweep => "backtest.sweep",
        };
        let id = self
            .store()
            .write(|tx| -> Result<u64, crate::store::StoreError> {
                let id = db::insert_backtest(tx, name, kind, &caller.user, spec, datasets, now)?;
                let payload = serde_json::json!({ "backtest": id });
                let (job, _) = jdb::enqueue(
                    tx,
                    &jdb::NewJob {
                        kind: job_kind,
                        payload: &payload,
                        priority: 0,
                        max_attempts: 1,
                        run_at: now,
                        idempotency_key: None,
                        owner: &caller.user,
                    },
                    now,
                )?;
                db::set_job(tx, id, job.id)?;
                Ok(id)
            })
            .map_err(|e| store_err(&e))?;
        let b = self.backtest(caller, id)?;
        if let Ok(Some(j)) = jdb::get(self.store().conn(), b.job_id) {
            self.hub.publish_to::<JobEvents>(Some(&j.owner), &j);
        }
        self.jobs.wake();
        Ok(b)
    }

    /// Checks a backtest spec against the datasets and strategies, filling
    /// in the configured defaults it leaves out (so the stored spec says
    /// what ran); returns the dataset ids it reads.
    fn check_spec(
        &self,
        caller: &Caller,
        spec: &mut BacktestSpec,
        prefix: &str,
    ) -> Result<Vec<u64>, ApiError> {
        let at = |f: &str| format!("{prefix}{f}");
        spec.settings
            .commission_pct
            .get_or_insert(self.config.backtest.commission_pct);
        if spec.strategies.is_empty() || spec.strategies.len() > 16 {
            return Err(ApiError::bad_field(
                &at("strategies"),
                "must hold 1–16 strategies",
            ));
        }
        spec.settings
            .validate()
            .map_err(|(f, m)| ApiError::bad_field(&at(&format!("settings.{f}")), m))?;
        if let (Some(s), Some(e)) = (spec.start, spec.end)
            && e <= s
        {
            return Err(ApiError::bad_field(&at("end"), "must be after start"));
        }
        if let Some(n) = &spec.name
            && !(1..=64).contains(&n.len())
        {
            return Err(ApiError::bad_field(&at("name"), "must be 1–64 characters"));
        }
        let mut ids = Vec::new();
        let mut quote: Option<String> = None;
        for (i, leg) in spec.strategies.iter_mut().enumerate() {
            // The run records exactly which code it ran.
            leg.spec.strategy = self.pin_strategy(
                caller,
                &leg.spec.strategy,
                &at(&format!("strategies[{i}].spec.")),
            )?;
            if leg.datasets.is_empty() || leg.datasets.len() > 64 {
                return Err(ApiError::bad_field(
                    &at(&format!("strategies[{i}].datasets")),
                    "must name 1–64 datasets",
                ));
            }
            let (built, _) = self.bots.registry.build(&leg.spec).map_err(|e| {
                ApiError::bad_field(&at(&format!("strategies[{i}].spec.{}", e.field)), e.message)
            })?;
            if built.shorts() && spec.settings.margin.is_none() {
                return Err(ApiError::bad_field(
                    &at(&format!("strategies[{i}].spec.params.allow_short")),
                    "a spot account is long only: shorts need a margin account (settings.margin)",
                ));
            }
            for d in &leg.datasets {
                let ds = self.dataset(caller, *d).map_err(|_| {
                    ApiError::bad_field(
                        &at(&format!("strategies[{i}].datasets")),
                        format!("no dataset {d}"),
                    )
                })?;
                match &quote {
                    Some(q) if q != &ds.quote => {
                        return Err(ApiError::bad_field(
                            &at(&format!("strategies[{i}].datasets")),
                            format!(
                                "dataset {d} is quoted in {}, the others in {q}: one portfolio has one quote currency",
                                ds.quote
                            ),
                        ));
                    }
                    _ => quote = Some(ds.quote.clone()),
                }
                if !ids.contains(d) {
                    ids.push(*d);
                }
            }
        }
        Ok(ids)
    }
}

impl Handle<BacktestsCreate> for Ctx {
    async fn handle(&self, caller: &Caller, mut spec: BacktestSpec) -> Result<Backtest, ApiError> {
        let ids = self.check_spec(caller, &mut spec, "")?;
        let name = spec.name.clone().unwrap_or_else(|| {
            let legs: Vec<&str> = spec
                .strategies
                .iter()
                .map(|l| l.spec.strategy.as_str())
                .collect();
            legs.join("+")
        });
        let value = serde_json::to_value(&spec).map_err(|e| ApiError::internal(e.to_string()))?;
        self.create_backtest(caller, &name, BacktestKind::Run, &value, &ids)
    }
}

impl Handle<BacktestsSweep> for Ctx {
    async fn handle(&self, caller: &Caller, mut spec: SweepSpec) -> Result<Backtest, ApiError> {
        let ids = self.check_spec(caller, &mut spec.backtest, "backtest.")?;
        if spec.grid.is_empty() {
            return Err(ApiError::bad_field(
                "grid",
                "must name at least one parameter",
            ));
        }
        let mut combos: usize = 1;
        for (i, a) in spec.grid.iter().enumerate() {
            if a.values.is_empty() {
                return Err(ApiError::bad_field(
                    &format!("grid[{i}].values"),
                    "is empty",
                ));
            }
            combos = combos.saturating_mul(a.values.len());
        }
        if combos > 10_000 {
            return Err(ApiError::bad_field(
                "grid",
                format!("{combos} combinations; at most 10,000"),
            ));
        }
        if !Metrics::field_names().contains(&spec.rank_by) {
            return Err(ApiError::bad_field(
                "rank_by",
                format!(
                    "`{}` is not a metric (e.g. sharpe, return_pct, cagr_pct)",
                    spec.rank_by
                ),
            ));
        }
        let name = spec
            .backtest
            .name
            .clone()
            .unwrap_or_else(|| format!("sweep {}", spec.backtest.strategies[0].spec.strategy));
        let value = serde_json::to_value(&spec).map_err(|e| ApiError::internal(e.to_string()))?;
        self.create_backtest(caller, &name, BacktestKind::Sweep, &value, &ids)
    }
}

impl Handle<BacktestsGet> for Ctx {
    async fn handle(&self, caller: &Caller, p: BacktestId) -> Result<Backtest, ApiError> {
        self.backtest(caller, p.id)
    }
}

impl Handle<BacktestsList> for Ctx {
    async fn handle(&self, caller: &Caller, f: BacktestFilter) -> Result<BacktestPage, ApiError> {
        let limit = paging::limit(f.limit)?;
        let before = paging::cursor(f.cursor.as_deref())?;
        let backtests = db::list_backtests(
            self.store().conn(),
            f.kind,
            caller.owner_filter(),
            before,
            limit,
        )
        .map_err(|e| store_err(&e))?;
        let next_cursor = paging::next_cursor(&backtests, limit, |b| b.id);
        Ok(BacktestPage {
            items: backtests,
            next_cursor,
        })
    }
}

impl Handle<BacktestsCancel> for Ctx {
    async fn handle(&self, caller: &Caller, p: BacktestId) -> Result<Backtest, ApiError> {
        let b = self.backtest(caller, p.id)?;
        if b.state.is_final() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "backtest {} is {}: nothing to cancel",
                    p.id,
                    b.state.as_str()
                ),
            ));
        }
        self.cancel_job(caller, b.job_id)?;
        self.backtest(caller, p.id)
    }
}

impl Handle<BacktestsDelete> for Ctx {
    async fn handle(&self, caller: &Caller, p: BacktestId) -> Result<Deleted, ApiError> {
        let b = self.backtest(caller, p.id)?;
        if !b.state.is_final() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("backtest {} is {}: cancel it first", p.id, b.state.as_str()),
            ));
        }
        let deleted = self
            .store()
            .write(|tx| db::delete_backtest(tx, p.id))
            .map_err(|e| store_err(&e))?;
        self.cache
            .delete_prefix(Namespace::Backtests, &format!("{}:", p.id));
        Ok(Deleted { id: p.id, deleted })
    }
}

impl Handle<BacktestsResults> for Ctx {
    async fn handle(&self, caller: &Caller, p: BacktestId) -> Result<Metrics, ApiError> {
        // A finished backtest's metrics never change; deleting it drops them.
        let key = format!("{}:metrics", p.id);
        let now = self.now().millis();
        if let Some(m) = self.cache.get::<Metrics>(Namespace::Backtests, &key, now) {
            return Ok((*m).clone());
        }
        let epoch = self.cache.epoch(Namespace::Backtests);
        self.finished_backtest(caller, p.id)?;
        let m = db::metrics(self.store().conn(), p.id)
            .map_err(|e| store_err(&e))?
            .ok_or_else(|| not_found_backtest(p.id))?;
        let bytes = metrics_bytes(&m);
        self.cache.put_unless_changed(
            Namespace::Backtests,
            &key,
            m.clone(),
            bytes,
            None,
            now,
            epoch,
        );
        Ok(m)
    }
}

impl Handle<BacktestsTrades> for Ctx {
    async fn handle(&self, caller: &Caller, q: TradesQuery) -> Result<TradePage, ApiError> {
        self.finished_backtest(caller, q.id)?;
        let limit = paging::limit(q.limit)?;
        // The cursor is the index of the next trade.
        let from = match q.cursor.as_deref() {
            None => 0,
            Some(c) => c.parse::<usize>().map_err(|_| {
                ApiError::bad_field(
                    "cursor",
                    format!("`{c}` is not a cursor from a previous page"),
                )
            })?,
        };
        let all = db::trades(self.store().conn(), q.id)
            .map_err(|e| store_err(&e))?
            .unwrap_or_default();
        let end = from.saturating_add(limit as usize).min(all.len());
        let trades = all.get(from..end).map(<[_]>::to_vec).unwrap_or_default();
        Ok(TradePage {
            next_cursor: (end < all.len()).then(|| end.to_string()),
            items: trades,
        })
    }
}

/// Keeps at most `max` points: the curve cut into buckets, each giving its
/// lowest point and its last (so the deepest drawdowns survive), in time
/// order; the first point is always kept.
fn downsample(equity: &[f64], max: usize) -> Vec<usize> {
    let n = equity.len();
    if n <= max || max < 2 {
        return (0..n).collect();
    }
    if max == 2 {
        return vec![0, n.saturating_sub(1)];
    }
    // The first point, then each bucket's low and last: at most `max`.
    // (`n > max >= 3` here: every index below stays within 1..n.)
    let buckets = max.saturating_sub(1) / 2;
    let edge = |b: usize| {
        b.saturating_mul(n.saturating_sub(1))
            .checked_div(buckets)
            .unwrap_or(0)
            .saturating_add(1)
    };
    let mut keep = vec![0usize];
    for b in 0..buckets {
        let (lo, hi) = (edge(b), edge(b.saturating_add(1)));
        if lo >= hi {
            continue;
        }
        let low = (lo..hi)
            .min_by(|&a, &c| equity[a].total_cmp(&equity[c]))
            .unwrap_or(lo);
        for i in [low, hi.saturating_sub(1)] {
            if keep.last() != Some(&i) {
                keep.push(i);
            }
        }
    }
    keep.sort_unstable();
    keep.dedup();
    keep
}

impl Handle<BacktestsEquity> for Ctx {
    async fn handle(&self, caller: &Caller, q: EquityQuery) -> Result<EquityCurve, ApiError> {
        check_downsample(q.downsample)?;
        self.finished_backtest(caller, q.id)?;
        let (times, equity) = db::curve(self.store().conn(), q.id)
            .map_err(|e| store_err(&e))?
            .unwrap_or_default();
        Ok(equity_curve(&times, &equity, q.downsample))
    }
}

impl Handle<BacktestsReport> for Ctx {
    async fn handle(
        &self,
        caller: &Caller,
        p: BacktestId,
    ) -> Result<tradedesk_core::backtest::report::Report, ApiError> {
        self.finished_backtest(caller, p.id)?;
        let conn = self.store();
        let trades = db::trades(conn.conn(), p.id)
            .map_err(|e| store_err(&e))?
            .unwrap_or_default();
        let (times, equity) = db::curve(conn.conn(), p.id)
            .map_err(|e| store_err(&e))?
            .unwrap_or_default();
        drop(conn);
        Ok(tradedesk_core::backtest::report::report(
            &trades, &times, &equity,
        ))
    }
}

/// Checks an `downsample` parameter (2–100,000).
pub(super) fn check_downsample(d: Option<u32>) -> Result<(), ApiError> {
    match d {
        Some(d) if !(2..=100_000).contains(&d) => Err(ApiError::bad_field(
            "downsample",
            format!("must be between 2 and 100000, got {d}"),
        )),
        _ => Ok(()),
    }
}

/// An equity curve with its drawdown, worked out on every point before
/// any is dropped by downsampling.
pub(super) fn equity_curve(
    times: &[Timestamp],
    equity: &[f64],
    downsample_to: Option<u32>,
) -> EquityCurve {
    let mut peak = f64::NEG_INFINITY;
    let dd: Vec<f64> = equity
        .iter()
        .map(|e| {
            peak = peak.max(*e);
            (e / peak - 1.0) * 100.0
        })
        .collect();
    let idx = downsample(equity, downsample_to.map_or(usize::MAX, |d| d as usize));
    EquityCurve {
        total: equity.len() as u64,
        points: idx
            .into_iter()
            .map(|i| EquityPoint {
                time: times[i],
                equity: equity[i],
                drawdown_pct: dd[i],
            })
            .collect(),
    }
}

impl Handle<BacktestsCompare> for Ctx {
    async fn handle(&self, caller: &Caller, p: CompareParams) -> Result<Comparison, ApiError> {
        if !(2..=20).contains(&p.ids.len()) {
            return Err(ApiError::bad_field("ids", "must name 2–20 backtests"));
        }
        let mut out = Vec::new();
        for id in &p.ids {
            let b = self
                .finished_backtest(caller, *id)
                .map_err(|e| ApiError::bad_field("ids", e.message))?;
            let metrics = db::metrics(self.store().conn(), *id)
                .map_err(|e| store_err(&e))?
                .ok_or_else(|| not_found_backtest(*id))?;
            out.push(ComparedRun {
                id: *id,
                name: b.name,
                spec: b.spec,
                metrics,
            });
        }
        Ok(Comparison { backtests: out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_keeps_the_lows_and_the_ends() {
        let equity: Vec<f64> = (0..1000)
            .map(|i| if i == 500 { 1.0 } else { 100.0 + f64::from(i) })
            .collect();
        let keep = downsample(&equity, 20);
        assert!(keep.len() <= 21, "{}", keep.len());
        assert!(keep.contains(&500) && keep.contains(&0) && keep.contains(&999));
        assert!(keep.windows(2).all(|w| w[0] < w[1]));
    }
}
