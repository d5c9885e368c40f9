//! `jobs.schedules.*`: cron schedules — created, listed, changed, paused,
//! run now and previewed.

use super::jobs::check_kind_payload;
use crate::context::Ctx;
use crate::services::exchange::store_err;
use crate::store::jobs as db;
use crate::store::schedules as sdb;
use tradedesk_core::api::schedules::{
    Preview, PreviewParams, ScheduleCreate, ScheduleId, ScheduleList, SchedulePage, ScheduleUpdate,
    SchedulesCreate, SchedulesDelete, SchedulesGet, SchedulesList, SchedulesPause,
    SchedulesPreview, SchedulesResume, SchedulesRunNow, SchedulesUpdate,
};
use tradedesk_core::api::{ApiError, Caller, Deleted, ErrorCode, Handle, paging};
use tradedesk_core::job::{CronSpec, JobRecord, Schedule};

fn cron_error((field, message): (String, String)) -> ApiError {
    ApiError::bad_field(&field, message)
}

impl Ctx {
    pub(super) fn schedule(&self, caller: &Caller, id: u64) -> Result<Schedule, ApiError> {
        sdb::get(self.store().conn(), id)
            .map_err(|e| store_err(&e))?
            .filter(|s| caller.sees(&s.owner))
            .ok_or_else(|| ApiError::not_found("schedule", id))
    }

    fn save_schedule(&self, s: &Schedule) -> Result<Schedule, ApiError> {
        let id = self
            .store()
            .write(|tx| sdb::save(tx, s))
            .map_err(|e| store_err(&e))?;
        self.jobs.schedules_changed.ring();
        sdb::get(self.store().conn(), id)
            .map_err(|e| store_err(&e))?
            .ok_or_else(|| ApiError::not_found("schedule", id))
    }
}

impl Handle<SchedulesCreate> for Ctx {
    async fn handle(&self, caller: &Caller, p: ScheduleCreate) -> Result<Schedule, ApiError> {
        if !(1..=64).contains(&p.name.len()) {
            return Err(ApiError::bad_field("name", "must be 1–64 characters"));
        }
        let spec = CronSpec::parse(&p.cron, &p.tz).map_err(cron_error)?;
        let payload = check_kind_payload(self, caller, &p.kind, &p.payload)?;
        let priority = p.priority.unwrap_or(0);
        if !(-1000..=1000).contains(&priority) {
            return Err(ApiError::bad_field(
                "priority",
                format!("must be between -1000 and 1000, got {priority}"),
            ));
        }
        if sdb::by_name(self.store().conn(), &caller.user, &p.name)
            .map_err(|e| store_err(&e))?
            .is_some()
        {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("a schedule named `{}` exists", p.name),
            ));
        }
        let now = self.now();
        self.save_schedule(&Schedule {
            id: 0,
            name: p.name.clone(),
            owner: caller.user.clone(),
            cron: p.cron.trim().to_owned(),
            tz: p.tz.clone(),
            kind: p.kind.clone(),
            payload,
            priority,
            missed: p.missed,
            paused: p.paused,
            next_run: (!p.paused).then(|| spec.next_after(now)).flatten(),
            last_run: None,
            created: now,
            updated: now,
        })
    }
}

impl Handle<SchedulesList> for Ctx {
    async fn handle(&self, caller: &Caller, p: SchedulePage) -> Result<ScheduleList, ApiError> {
        let limit = paging::limit(p.limit)?;
        let before = paging::cursor(p.cursor.as_deref())?;
        let schedules = sdb::list(self.store().conn(), caller.owner_filter(), before, limit)
            .map_err(|e| store_err(&e))?;
        let next_cursor = paging::next_cursor(&schedules, limit, |s| s.id);
        Ok(ScheduleList {
            items: schedules,
            next_cursor,
        })
    }
}

impl Handle<SchedulesGet> for Ctx {
    async fn handle(&self, caller: &Caller, p: ScheduleId) -> Result<Schedule, ApiError> {
        self.schedule(caller, p.id)
    }
}

impl Handle<SchedulesUpdate> for Ctx {
    async fn handle(&self, caller: &Caller, p: ScheduleUpdate) -> Result<Schedule, ApiError> {
        let mut s = self.schedule(caller, p.id)?;
        if let Some(n) = &p.name {
            if !(1..=64).contains(&n.len()) {
                return Err(ApiError::bad_field("name", "must be 1–64 characters"));
            }
            s.name.clone_from(n);
        }
        if let Some(c) = &p.cron {
            c.trim().clone_into(&mut s.cron);
        }
        if let Some(tz) = &p.tz {
            s.tz.clone_from(tz);
        }
        let spec = CronSpec::parse(&s.cron, &s.tz).map_err(cron_error)?;
        if let Some(payload) = &p.payload {
            s.payload = check_kind_payload(self, caller, &s.kind, payload)?;
        }
        if let Some(pr) = p.priority {
            if !(-1000..=1000).contains(&pr) {
                return Err(ApiError::bad_field(
                    "priority",
                    format!("must be between -1000 and 1000, got {pr}"),
                ));
            }
            s.priority = pr;
        }
        if let Some(m) = p.missed {
            s.missed = m;
        }
        let now = self.now();
        s.updated = now;
        if !s.paused {
            s.next_run = spec.next_after(now);
        }
        self.save_schedule(&s)
    }
}

impl Handle<SchedulesDelete> for Ctx {
    async fn handle(&self, caller: &Caller, p: ScheduleId) -> Result<Deleted, ApiError> {
        let s = self.schedule(caller, p.id)?;
        let deleted = self
            .store()
            .write(|tx| sdb::delete(tx, s.id))
            .map_err(|e| store_err(&e))?;
        Ok(Deleted { id: s.id, deleted })
    }
}

impl Handle<SchedulesPause> for Ctx {
    async fn handle(&self, caller: &Caller, p: ScheduleId) -> Result<Schedule, ApiError> {
        let mut s = self.schedule(caller, p.id)?;
        if s.paused {
            return Err(ApiError::new(
                ErrorCode::IllegalTransition,
                format!("schedule {} is paused already", s.id),
            ));
        }
        s.paused = true;
        s.next_run = None;
        s.updated = self.now();
        self.save_schedule(&s)
    }
}

impl Handle<SchedulesResume> for Ctx {
    async fn handle(&self, caller: &Caller, p: ScheduleId) -> Result<Schedule, ApiError> {
        let mut s = self.schedule(caller, p.id)?;
        if !s.paused {
            return Err(ApiError::new(
                ErrorCode::IllegalTransition,
                format!("schedule {} is not paused", s.id),
            ));
        }
        let spec = CronSpec::parse(&s.cron, &s.tz).map_err(cron_error)?;
        let now = self.now();
        s.paused = false;
        s.next_run = spec.next_after(now);
        s.updated = now;
        self.save_schedule(&s)
    }
}

impl Handle<SchedulesRunNow> for Ctx {
    async fn handle(&self, caller: &Caller, p: ScheduleId) -> Result<JobRecord, ApiError> {
        let s = self.schedule(caller, p.id)?;
        let now = self.now();
        let max_attempts = self
            .jobs
            .kinds
            .find(&s.kind)
            .map_or(1, |(k, _)| k.max_attempts);
        self.enqueue_job(
            &db::NewJob {
                kind: &s.kind,
                payload: &s.payload,
                priority: s.priority,
                max_attempts,
                run_at: now,
                idempotency_key: None,
                owner: &s.owner,
            },
            now,
        )
        .await
    }
}

impl Handle<SchedulesPreview> for Ctx {
    async fn handle(&self, caller: &Caller, p: PreviewParams) -> Result<Preview, ApiError> {
        let count = p.count.unwrap_or(5);
        if !(1..=100).contains(&count) {
            return Err(ApiError::bad_field(
                "count",
                format!("must be between 1 and 100, got {count}"),
            ));
        }
        let (cron, tz) = match (p.id, &p.cron) {
            (Some(id), None) => {
                let s = self.schedule(caller, id)?;
                (s.cron, s.tz)
            }
            (None, Some(c)) => (c.clone(), p.tz.clone().unwrap_or_else(|| "UTC".into())),
            _ => {
                return Err(ApiError::bad_field(
                    "id",
                    "give a schedule `id` or a `cron` expression",
                ));
            }
        };
        let spec = CronSpec::parse(&cron, &tz).map_err(cron_error)?;
        Ok(Preview {
            runs: spec.preview(self.now(), count as usize),
            tz,
        })
    }
}
