//! `risk.*` handlers.

use crate::store::risk as db;
use tradedesk_core::api::risk::{
    Alert, AlertFilter, AlertId, AlertPage, CheckParams, CheckResult, HaltParams, LimitsList,
    LimitsSet, RiskAlerts, RiskAlertsAck, RiskAlertsTopic, RiskCheck, RiskHalt, RiskLimitsGet,
    RiskLimitsSet, RiskResume, RiskStatus, RiskStatusView, RiskViolations, ScopeLimits, ScopeParam,
    ScopeState, Severity, ViolationFilter, ViolationPage,
};
use tradedesk_core::api::{ApiError, Caller, ErrorCode, Handle, paging};
use tradedesk_core::risk::{Limits, Refusal, Scope, TradingState};

use crate::context::Ctx;
use crate::services::exchange::store_err;
use crate::services::exchange::{State, refusal_error};

/// Whether a scope exists and the caller may see it: their own account or
/// bot (any, for an admin), or a listed symbol (symbol limits bind
/// everyone, so everyone may read them).
fn sees_scope(ctx: &Ctx, state: &State, caller: &Caller, scope: &Scope) -> Result<bool, ApiError> {
    Ok(match scope {
        Scope::Account(a) => state.sees_account(caller, a),
        Scope::Bot(id) => crate::store::bots::bot_by_id(ctx.store().conn(), *id)
            .map_err(|e| store_err(&e))?
            .is_some_and(|b| caller.sees(&b.owner)),
        Scope::Symbol(s) => state.venue.index_of(s.as_str()).is_some(),
    })
}

/// A scope that exists and that the caller may see; anything else is not
/// found, as if it did not exist.
fn check_scope(ctx: &Ctx, state: &State, caller: &Caller, scope: &Scope) -> Result<(), ApiError> {
    if sees_scope(ctx, state, caller, scope)? {
        Ok(())
    } else {
        Err(ApiError::not_found("scope", scope).with_data(serde_json::json!({ "field": "scope" })))
    }
}

/// Whether a recorded alert or violation is the caller's to read: about
/// their own account or bot. Symbol-wide ones (which may describe other
/// users' orders) are an admin's. An admin's list takes no lock per row.
fn sees_record(ctx: &Ctx, caller: &Caller, scope: &Scope) -> Result<bool, ApiError> {
    if caller.owner_filter().is_none() {
        return Ok(true);
    }
    match scope {
        Scope::Symbol(_) => Ok(false),
        _ => sees_scope(ctx, &ctx.exchange.lock(), caller, scope),
    }
}

/// The scope given, or the caller's own paper account.
fn default_scope(state: &State, caller: &Caller, p: Option<Scope>) -> Result<Scope, ApiError> {
    match p {
        Some(s) => Ok(s),
        None => {
            let i = state.account_for(caller, None)?;
            Ok(Scope::Account(state.accounts[i].row.name.clone()))
        }
    }
}

/// Scopes with a trading state: accounts and bots.
fn stateful(scope: &Scope) -> Result<(), ApiError> {
    if matches!(scope, Scope::Symbol(_)) {
        return Err(ApiError::bad_field(
            "scope",
            "a symbol has limits but no trading state; halt its account or bot",
        ));
    }
    Ok(())
}

impl Handle<RiskLimitsGet> for Ctx {
    async fn handle(&self, caller: &Caller, p: ScopeParam) -> Result<LimitsList, ApiError> {
        let state = self.exchange.lock();
        let scopes = match p.scope {
            Some(s) => {
                check_scope(self, &state, caller, &s)?;
                vec![ScopeLimits {
                    limits: state.risk.limits_of(&s).clone(),
                    scope: s,
                }]
            }
            None => state
                .risk
                .limits
                .iter()
                .filter(|(s, _)| sees_scope(self, &state, caller, s).unwrap_or(false))
                .map(|(s, l)| ScopeLimits {
                    scope: s.clone(),
                    limits: l.clone(),
                })
                .collect(),
        };
        Ok(LimitsList { scopes })
    }
}

impl Handle<RiskLimitsSet> for Ctx {
    async fn handle(&self, caller: &Caller, p: LimitsSet) -> Result<ScopeLimits, ApiError> {
        let serde_json::Value::Object(given) = p.limits else {
            return Err(ApiError::bad_field(
                "limits",
                "must be an object of limit keys",
            ));
        };
        self.blocking(|ctx| {
            let mut state = ctx.exchange.lock();
            check_scope(ctx, &state, caller, &p.scope)?;
            let mut merged = if p.replace {
                serde_json::Map::new()
            } else {
                match serde_json::to_value(state.risk.limits_of(&p.scope)) {
                    Ok(serde_json::Value::Object(m)) => m,
                    _ => serde_json::Map::new(),
                }
            };
            for (k, v) in given {
                if v.is_null() {
                    merged.remove(&k);
                } else {
                    merged.insert(k, v);
                }
            }
            let limits: Limits = serde_path_to_error::deserialize(serde_json::Value::Object(
                merged,
            ))
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner().to_string();
                let field = tradedesk_core::api::serde_field(&inner)
                    .filter(|_| path == ".")
                    .map_or(path, str::to_owned);
                ApiError::bad_field(&format!("limits.{field}"), inner)
            })?;
            limits
                .validate(&p.scope)
                .map_err(|e| ApiError::bad_field(&format!("limits.{}", e.key), e.message))?;
            let now = ctx.now();
            ctx.store()
                .write(|tx| db::save_limits(tx, &p.scope, &limits, now))
                .map_err(|e| store_err(&e))?;
            state.risk.limits.insert(p.scope.clone(), limits.clone());
            Ok(ScopeLimits {
                scope: p.scope.clone(),
                limits,
            })
        })
    }
}

impl Handle<RiskStatus> for Ctx {
    async fn handle(&self, caller: &Caller, p: ScopeParam) -> Result<RiskStatusView, ApiError> {
        let state = self.exchange.lock();
        let scopes = match p.scope {
            Some(s) => {
                check_scope(self, &state, caller, &s)?;
                vec![s]
            }
            None => {
                let mut scopes = state.known_scopes();
                scopes.retain(|s| sees_scope(self, &state, caller, s).unwrap_or(false));
                scopes
            }
        };
        Ok(state.risk_status(&scopes, self.now()))
    }
}

impl Handle<RiskCheck> for Ctx {
    /// A dry run: read-only, under the exchange lock but never on the write
    /// path (no rate window, warning or violation is recorded).
    async fn handle(&self, caller: &Caller, p: CheckParams) -> Result<CheckResult, ApiError> {
        self.blocking(|ctx| {
            let state = ctx.exchange.lock();
            let account = state.account_for(caller, p.order.account.as_deref())?;
            let idx = state.symbol_index(&p.order.symbol)?;
            let valid = p
                .order
                .validate(state.venue.instruments()[idx])
                .map_err(|e| ApiError::bad_field(&format!("order.{}", e.field()), e))?;
            if let Some(bot) = p.bot_id
                && !state.accounts[account].books.bots.contains_key(&bot)
            {
                return Err(ApiError::not_found("bot", bot)
                    .with_data(serde_json::json!({ "field": "bot_id" })));
            }
            match state.risk_check(account, p.bot_id, valid, ctx.now()) {
                Ok(_) => Ok(CheckResult {
                    approved: true,
                    rejection: None,
                }),
                Err(Refusal::Rejected(r)) => Ok(CheckResult {
                    approved: false,
                    rejection: Some(r),
                }),
                Err(Refusal::TooLarge { field, message }) => {
                    Err(refusal_error(&format!("order.{field}"), &message))
                }
            }
        })
    }
}

impl Handle<RiskHalt> for Ctx {
    async fn handle(&self, caller: &Caller, p: HaltParams) -> Result<ScopeState, ApiError> {
        self.blocking(|ctx| {
            let mut state = ctx.exchange.lock();
            let scope = default_scope(&state, caller, p.scope.clone())?;
            stateful(&scope)?;
            check_scope(ctx, &state, caller, &scope)?;
            let now = ctx.now();
            let current = state.risk.state_of(&scope);
            let (to, severity) = if p.reduce_only {
                (TradingState::Reducing, Severity::Warning)
            } else {
                (TradingState::Halted, Severity::Critical)
            };
            let loosens = current == TradingState::Halted && to == TradingState::Reducing;
            if loosens && !p.force {
                return Err(ApiError::new(
                    ErrorCode::IllegalTransition,
                    format!(
                        "{scope} is halted; reduce-only would loosen it to reducing \
                         (pass force to do that, or risk.resume first)"
                    ),
                ));
            }
            let mut reason = p.reason.clone().unwrap_or_else(|| {
                if p.reduce_only {
                    "reduce-only set by hand".into()
                } else {
                    "kill switch".into()
                }
            });
            if loosens {
                reason.push_str(" (loosened from halted, with force)");
            }
            let mut store = ctx.store();
            // The state change cancels, in its own transaction, every order
            // that would grow a position.
            let (alert, mut changes) =
                state.set_risk_state(&mut store, &scope, to, Some(reason), severity, now)?;
            if p.flatten {
                // Selling needs what the remaining (protective) sells hold.
                changes.absorb(state.cancel_scope(
                    &mut store,
                    &scope,
                    "kill switch: orders cancelled",
                    now,
                )?);
                changes.absorb(state.flatten(&mut store, &scope, now)?);
            }
            let cause = if p.reduce_only {
                "reduce-only"
            } else {
                "kill switch"
            };
            crate::services::bots::record_external(ctx, &mut store, &changes, cause);
            drop(store);
            ctx.publish(&state, &changes);
            ctx.hub
                .publish_to::<RiskAlertsTopic>(state.scope_owner(&alert.scope), &alert);
            Ok(state.risk.view(&scope))
        })
    }
}

impl Handle<RiskResume> for Ctx {
    async fn handle(&self, caller: &Caller, p: ScopeParam) -> Result<ScopeState, ApiError> {
        self.blocking(|ctx| {
            let mut state = ctx.exchange.lock();
            let scope = default_scope(&state, caller, p.scope.clone())?;
            stateful(&scope)?;
            check_scope(ctx, &state, caller, &scope)?;
            if state.risk.state_of(&scope) == TradingState::Active {
                return Err(ApiError::new(
                    ErrorCode::IllegalTransition,
                    format!("{scope} is already active"),
                ));
            }
            let (alert, _) = state.set_risk_state(
                &mut ctx.store(),
                &scope,
                TradingState::Active,
                Some("resumed by hand".into()),
                Severity::Info,
                ctx.now(),
            )?;
            ctx.hub
                .publish_to::<RiskAlertsTopic>(state.scope_owner(&alert.scope), &alert);
            Ok(state.risk.view(&scope))
        })
    }
}

impl Handle<RiskViolations> for Ctx {
    async fn handle(&self, caller: &Caller, p: ViolationFilter) -> Result<ViolationPage, ApiError> {
        let limit = paging::limit(p.limit)?;
        let before = paging::cursor(p.cursor.as_deref())?;
        self.blocking(|ctx| {
            paging::filtered(
                before,
                limit,
                |v: &tradedesk_core::api::risk::Violation| v.id,
                |before, n| {
                    db::list_violations(ctx.store().conn(), p.name.as_deref(), p.since, before, n)
                        .map_err(|e| store_err(&e))
                },
                |v| sees_record(ctx, caller, &v.scope),
            )
        })
    }
}

impl Handle<RiskAlerts> for Ctx {
    async fn handle(&self, caller: &Caller, p: AlertFilter) -> Result<AlertPage, ApiError> {
        let limit = paging::limit(p.limit)?;
        let before = paging::cursor(p.cursor.as_deref())?;
        self.blocking(|ctx| {
            paging::filtered(
                before,
                limit,
                |a: &Alert| a.id,
                |before, n| {
                    db::list_alerts(ctx.store().conn(), p.unacknowledged, before, n)
                        .map_err(|e| store_err(&e))
                },
                |a| sees_record(ctx, caller, &a.scope),
            )
        })
    }
}

impl Handle<RiskAlertsAck> for Ctx {
    async fn handle(&self, caller: &Caller, p: AlertId) -> Result<Alert, ApiError> {
        self.blocking(|ctx| {
            let alert = db::alert_by_id(ctx.store().conn(), p.id).map_err(|e| store_err(&e))?;
            match alert {
                Some(a) if sees_record(ctx, caller, &a.scope)? => {}
                _ => return Err(ApiError::not_found("alert", p.id)),
            }
            let now = ctx.now();
            ctx.store()
                .write(|tx| db::ack_alert(tx, p.id, now))
                .map_err(|e| store_err(&e))?
                .ok_or_else(|| ApiError::not_found("alert", p.id))
        })
    }
}
