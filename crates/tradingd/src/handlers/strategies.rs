//! `strategies.*`: the catalogue and named strategy configs.

use super::bots::checks::check_name;

use crate::store::bots as db;
use tradedesk_core::api::bots::Deleted;
use tradedesk_core::api::paging::PageParams;
use tradedesk_core::api::strategies::{
    NameOrId, SpecParam, StrategiesCatalog, StrategiesCreate, StrategiesDelete, StrategiesGet,
    StrategiesList, StrategiesUpdate, StrategiesValidate, StrategyCatalog, StrategyCreate,
    StrategyInfo, StrategyPage, StrategyRecord, StrategyUpdate, Validation,
};
use tradedesk_core::api::strategies::{
    StrategiesUpload, StrategyTier, StrategyUpload, UserCode, UserStrategy,
};
use tradedesk_core::api::{ApiError, Caller, Empty, ErrorCode, Handle, paging};
use tradedesk_core::strategy::{StrategySpec, UserKind};
use tradedesk_scripting::{Limits, Tier};

use crate::store::strategies as sdb;

use crate::context::Ctx;
use crate::services::exchange::store_err;

impl Handle<StrategiesCatalog> for Ctx {
    async fn handle(&self, caller: &Caller, _: Empty) -> Result<StrategyCatalog, ApiError> {
        let registry = &self.bots.registry;
        let mut strategies: Vec<StrategyInfo> = registry
            .kinds()
            .iter()
            .map(|k| StrategyInfo {
                name: k.name.to_owned(),
                summary: k.summary.to_owned(),
                rules: k.rules.to_owned(),
                params_schema: (k.schema)(),
                default_warmup: (k.build)(&serde_json::json!({})).map_or(0, |(s, _)| s.warmup()),
                user: None,
            })
            .collect();
        strategies.extend(
            registry
                .user_kinds()
                .iter()
                .filter(|k| caller.sees(&k.owner))
                .map(|k| user_info(k)),
        );
        Ok(StrategyCatalog {
            strategies,
            spec_schema: tradedesk_core::strategy::spec_schema(),
        })
    }
}

/// A user strategy as the catalogue lists it.
fn user_info(k: &UserKind) -> StrategyInfo {
    StrategyInfo {
        name: k.name.clone(),
        summary: k.summary.clone(),
        rules: k.rules.clone(),
        params_schema: k.schema.clone(),
        default_warmup: k.default_warmup,
        user: Some(UserCode {
            tier: if k.tier == "wasm" {
                StrategyTier::Wasm
            } else {
                StrategyTier::Lua
            },
            hash: k.hash.clone(),
            pinned: k.pinned(),
            owner: k.owner.clone(),
        }),
    }
}

impl Handle<StrategiesUpload> for Ctx {
    async fn handle(&self, caller: &Caller, p: StrategyUpload) -> Result<UserStrategy, ApiError> {
        use base64::Engine as _;
        check_name("name", &p.name)?;
        if tradedesk_core::strategy::builtin::find(&p.name).is_some() {
            return Err(ApiError::bad_field(
                "name",
                format!("`{}` is a built-in strategy's name", p.name),
            ));
        }
        let (tier, field, code) = match (p.tier, p.source, p.module_base64) {
            (StrategyTier::Lua, Some(s), None) => (Tier::Lua, "source", s.into_bytes()),
            (StrategyTier::Wasm, None, Some(b)) => {
                let code = base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .map_err(|e| {
                        ApiError::bad_field("module_base64", format!("not base64: {e}"))
                    })?;
                (Tier::Wasm, "module_base64", code)
            }
            (StrategyTier::Lua, ..) => {
                return Err(ApiError::bad_field(
                    "source",
                    "a Lua strategy is uploaded as `source` (and no `module_base64`)",
                ));
            }
            (StrategyTier::Wasm, ..) => {
                return Err(ApiError::bad_field(
                    "module_base64",
                    "a wasm strategy is uploaded as `module_base64` (and no `source`)",
                ));
            }
        };
        self.blocking(|ctx| {
            // Compiling and checking it runs its code (in the sandbox).
            let kind = tradedesk_scripting::kind(tier, &p.name, &caller.user, &code, Limits::default())
                .map_err(|e| ApiError::bad_field(field, e.to_string()))?;
            let now = ctx.now();
            let mut store = ctx.store();
            if let Some(owner) =
                sdb::name_owner(store.conn(), &p.name).map_err(|e| store_err(&e))?
                && owner != caller.user
            {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("the strategy name `{}` belongs to another user", p.name),
                )
                .with_data(serde_json::json!({ "field": "name" })));
            }
            let new_code = store
                .write(|tx| {
                    sdb::insert_version(tx, &p.name, tier.as_str(), &kind.hash, &code, &caller.user, now)
                })
                .map_err(|e| store_err(&e))?;
            // Under the store's lock: the registry's newest version of a
            // name is the database's.
            let kind = ctx.bots.registry.add_user(kind);
            drop(store);
            tracing::info!(name = %p.name, hash = %kind.hash, tier = tier.as_str(), owner = %caller.user, "strategy uploaded");
            Ok(UserStrategy {
                info: user_info(&kind),
                new_code,
                uploaded: now,
            })
        })
    }
}

impl Handle<StrategiesCreate> for Ctx {
    async fn handle(&self, caller: &Caller, p: StrategyCreate) -> Result<StrategyRecord, ApiError> {
        check_name("name", &p.name)?;
        let spec = self.normalize(caller, &p.spec, "spec.")?;
        self.blocking(|ctx| {
            let mut store = ctx.store();
            if db::strategy_by_name(store.conn(), &caller.user, &p.name)
                .map_err(|e| store_err(&e))?
                .is_some()
            {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("a strategy named `{}` exists", p.name),
                ));
            }
            let now = ctx.now();
            let id = store
                .write(|tx| db::insert_strategy(tx, &p.name, &caller.user, &spec, now))
                .map_err(|e| store_err(&e))?;
            Ok(StrategyRecord {
                id,
                name: p.name.clone(),
                owner: caller.user.clone(),
                spec,
                created: now,
                updated: now,
            })
        })
    }
}

impl Handle<StrategiesList> for Ctx {
    async fn handle(&self, caller: &Caller, p: PageParams) -> Result<StrategyPage, ApiError> {
        let limit = paging::limit(p.limit)?;
        let before = paging::cursor(p.cursor.as_deref())?;
        let strategies =
            db::list_strategies(self.store().conn(), caller.owner_filter(), before, limit)
                .map_err(|e| store_err(&e))?;
        let next_cursor = paging::next_cursor(&strategies, limit, |s| s.id);
        Ok(StrategyPage {
            items: strategies,
            next_cursor,
        })
    }
}

impl Handle<StrategiesGet> for Ctx {
    async fn handle(&self, caller: &Caller, p: NameOrId) -> Result<StrategyRecord, ApiError> {
        self.strategy_ref(caller, &p)
    }
}

impl Handle<StrategiesUpdate> for Ctx {
    async fn handle(&self, caller: &Caller, p: StrategyUpdate) -> Result<StrategyRecord, ApiError> {
        let mut rec = self.strategy_ref(
            caller,
            &NameOrId {
                id: p.id,
                name: p.name.clone(),
            },
        )?;
        if let Some(n) = &p.new_name {
            check_name("new_name", n)?;
        }
        if let Some(spec) = &p.spec {
            rec.spec = self.normalize(caller, spec, "spec.")?;
        }
        self.blocking(|ctx| {
            let mut store = ctx.store();
            if let Some(n) = &p.new_name {
                if n != &rec.name
                    && db::strategy_by_name(store.conn(), &caller.user, n)
                        .map_err(|e| store_err(&e))?
                        .is_some()
                {
                    return Err(ApiError::new(
                        ErrorCode::Conflict,
                        format!("a strategy named `{n}` exists"),
                    ));
                }
                rec.name.clone_from(n);
            }
            rec.updated = ctx.now();
            store
                .write(|tx| db::update_strategy(tx, rec.id, &rec.name, &rec.spec, rec.updated))
                .map_err(|e| store_err(&e))?;
            Ok(rec)
        })
    }
}

impl Handle<StrategiesDelete> for Ctx {
    async fn handle(&self, caller: &Caller, p: NameOrId) -> Result<Deleted, ApiError> {
        let rec = self.strategy_ref(caller, &p)?;
        let deleted = self
            .store()
            .write(|tx| db::delete_strategy(tx, rec.id))
            .map_err(|e| store_err(&e))?;
        Ok(Deleted {
            id: rec.id,
            deleted,
        })
    }
}

impl Handle<StrategiesValidate> for Ctx {
    async fn handle(&self, caller: &Caller, p: SpecParam) -> Result<Validation, ApiError> {
        let invalid = |field: String, message: String| Validation {
            valid: false,
            field: Some(field),
            message: Some(message),
            spec: None,
            warmup: None,
            warnings: Vec::new(),
        };
        let spec: StrategySpec = match serde_path_to_error::deserialize(p.spec) {
            Ok(s) => s,
            Err(e) => {
                let path = e.path().to_string();
                return Ok(invalid(
                    if path == "." {
                        "spec".into()
                    } else {
                        format!("spec.{path}")
                    },
                    e.into_inner().to_string(),
                ));
            }
        };
        let spec = match self.pinned(caller, &spec.strategy) {
            Ok(strategy) => StrategySpec { strategy, ..spec },
            Err(message) => return Ok(invalid("spec.strategy".into(), message)),
        };
        let fees = self.exchange.lock().fee_rates();
        Ok(match self.bots.registry.build(&spec) {
            Ok((strategy, params)) => Validation {
                valid: true,
                field: None,
                message: None,
                warmup: Some(strategy.warmup()),
                warnings: strategy.warnings(fees),
                spec: Some(StrategySpec { params, ..spec }),
            },
            Err(e) => invalid(format!("spec.{}", e.field), e.message),
        })
    }
}
