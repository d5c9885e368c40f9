//! The checks the bots' and strategies' handlers share: names, specs and
//! their parameters, allocations, and the lookups of a caller's strategy or bot.

use crate::context::Ctx;
use crate::services::exchange::State;
use crate::services::exchange::store_err;
use crate::store::bots as db;
use std::collections::BTreeMap;
use tradedesk_core::api::bots::BotRecord;
use tradedesk_core::api::strategies::{NameOrId, StrategyRecord};
use tradedesk_core::api::{ApiError, Caller, ErrorCode};
use tradedesk_core::money::Qty;
use tradedesk_core::strategy::{ParamError, StrategySpec};

pub(super) fn param_error(prefix: &str, e: &ParamError) -> ApiError {
    let field = format!("{prefix}{}", e.field);
    ApiError::invalid_params(format!("invalid params: field `{field}`: {}", e.message))
        .with_data(serde_json::json!({ "field": field }))
}

/// Names of strategies and bots: 1–64 of letters, digits, `-`, `_`, `.`.
pub(in crate::handlers) fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_field(
            field,
            format!("`{name}` must be 1–64 letters, digits, `-`, `_` or `.`"),
        ))
    }
}

impl Ctx {
    /// Checks a spec and returns it normalized (parameter defaults filled
    /// in, a user strategy pinned to its code: `name@hash`).
    pub(in crate::handlers) fn normalize(
        &self,
        caller: &Caller,
        spec: &StrategySpec,
        prefix: &str,
    ) -> Result<StrategySpec, ApiError> {
        let strategy = self.pin_strategy(caller, &spec.strategy, prefix)?;
        let spec = StrategySpec {
            strategy,
            ..spec.clone()
        };
        let (_, params) = self
            .bots
            .registry
            .build(&spec)
            .map_err(|e| param_error(prefix, &e))?;
        Ok(StrategySpec { params, ..spec })
    }

    /// Refuses a spec whose strategy may sell short on a spot account
    /// (`margin` false): spot accounts are long only; margin accounts
    /// (`accounts.create` with `kind: margin`) may short.
    pub(in crate::handlers) fn shorts_allowed(
        &self,
        spec: &StrategySpec,
        prefix: &str,
        account: &str,
        margin: bool,
    ) -> Result<(), ApiError> {
        // User strategies have no way to sell short.
        if margin || self.bots.registry.find(&spec.strategy).is_none() {
            return Ok(());
        }
        let shorts = self
            .bots
            .registry
            .build(spec)
            .map_err(|e| param_error(prefix, &e))?
            .0
            .shorts();
        if shorts {
            return Err(param_error(
                prefix,
                &ParamError::new(
                    "params.allow_short",
                    format!(
                        "account `{account}` is a spot account and cannot sell short; \
                         shorts need a margin account (accounts.create with kind margin; \
                         in backtests: settings.margin)"
                    ),
                ),
            ));
        }
        Ok(())
    }

    /// What a spec should record for `strategy`: a built-in as it is, a
    /// user strategy the caller may use as `name@hash` (its newest
    /// version when no hash is given). Another user's strategy is as
    /// unknown as one that does not exist.
    pub(in crate::handlers) fn pin_strategy(
        &self,
        caller: &Caller,
        strategy: &str,
        prefix: &str,
    ) -> Result<String, ApiError> {
        self.pinned(caller, strategy).map_err(|message| {
            let field = format!("{prefix}strategy");
            ApiError::invalid_params(format!("invalid params: field `{field}`: {message}"))
                .with_data(serde_json::json!({ "field": field }))
        })
    }

    /// [`Self::pin_strategy`], with the bare reason when it is unknown.
    pub(in crate::handlers) fn pinned(
        &self,
        caller: &Caller,
        strategy: &str,
    ) -> Result<String, String> {
        let registry = &self.bots.registry;
        if registry.find(strategy).is_some() {
            return Ok(strategy.to_owned());
        }
        match registry.user(strategy) {
            Some(k) if caller.sees(&k.owner) => Ok(k.pinned()),
            _ => Err(format!(
                "unknown strategy `{strategy}` (known: {})",
                registry.known_names(|k| caller.sees(&k.owner)).join(", ")
            )),
        }
    }

    pub(in crate::handlers) fn strategy_ref(
        &self,
        caller: &Caller,
        r: &NameOrId,
    ) -> Result<StrategyRecord, ApiError> {
        let store = self.store();
        let found = match (r.id, r.name.as_deref()) {
            (Some(id), None) => db::strategy_by_id(store.conn(), id)
                .map_err(|e| store_err(&e))?
                .filter(|s| caller.sees(&s.owner)),
            (None, Some(name)) => {
                db::strategy_by_name(store.conn(), &caller.user, name).map_err(|e| store_err(&e))?
            }
            _ => {
                return Err(ApiError::bad_field(
                    "id",
                    "give exactly one of `id` and `name`",
                ));
            }
        };
        found.ok_or_else(|| {
            ApiError::not_found(
                "strategy",
                r.id.map_or_else(|| r.name.clone().unwrap_or_default(), |i| i.to_string()),
            )
        })
    }

    pub(in crate::handlers) fn bot(&self, caller: &Caller, id: u64) -> Result<BotRecord, ApiError> {
        if let Some(rec) = self.bots.live_record(id).filter(|r| caller.sees(&r.owner)) {
            return Ok(rec);
        }
        db::bot_by_id(self.store().conn(), id)
            .map_err(|e| store_err(&e))?
            .filter(|b| caller.sees(&b.owner))
            .ok_or_else(|| ApiError::not_found("bot", id))
    }
}

/// Checks a bot's allocation against the account's assets; amounts > 0.
pub(super) fn check_allocation(
    state: &State,
    allocation: &BTreeMap<String, Qty>,
) -> Result<(), ApiError> {
    if allocation.is_empty() {
        return Err(ApiError::bad_field(
            "allocation",
            "give the capital the bot may use, e.g. {\"USDT\": \"1000\"}",
        ));
    }
    check_amounts(state, "allocation", allocation)
}

/// Amounts by asset (`field`: an allocation, a deposit, a withdrawal):
/// at least one, each asset traded here, each > 0.
pub(super) fn check_amounts(
    state: &State,
    field: &str,
    amounts: &BTreeMap<String, Qty>,
) -> Result<(), ApiError> {
    if amounts.is_empty() {
        return Err(ApiError::bad_field(field, "give at least one asset"));
    }
    let instruments = state.venue.instruments();
    for (asset, amount) in amounts {
        if !instruments
            .iter()
            .any(|i| &i.base == asset || &i.quote == asset)
        {
            return Err(ApiError::bad_field(
                &format!("{field}.{asset}"),
                format!("`{asset}` is not traded on {}", state.venue.name()),
            ));
        }
        if !amount.is_positive() {
            return Err(ApiError::bad_field(
                &format!("{field}.{asset}"),
                format!("must be greater than zero, got {amount}"),
            ));
        }
    }
    Ok(())
}

pub(super) fn funds_error(account: &str, e: &tradedesk_core::ledger::LedgerError) -> ApiError {
    ApiError::new(
        ErrorCode::InsufficientFunds,
        format!("field `allocation`: {e} (the free, unallocated balance of account `{account}`)"),
    )
    .with_data(serde_json::json!({ "field": "allocation" }))
}
