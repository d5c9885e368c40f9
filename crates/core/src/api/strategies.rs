//! `strategies.*`: the built-in strategy catalogue and named strategy
//! configs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::method::method;
use super::paging::Page;
use super::paging::PageParams;
use super::{Deleted, Empty};
use crate::strategy::StrategySpec;
use crate::time::Timestamp;

method! {
    /// The built-in strategies with their rules and parameter schemas.
    StrategiesCatalog = "strategies.catalog", Get "/api/v1/strategies/catalog", Read, Empty => StrategyCatalog
}

method! {
    /// Saves a named strategy config (strategy, params, sizing, exits, interval).
    StrategiesCreate = "strategies.create", Post "/api/v1/strategies", Trade, StrategyCreate => StrategyRecord
}

method! {
    /// Saved strategy configs, newest first.
    StrategiesList = "strategies.list", Get "/api/v1/strategies", Read, PageParams => StrategyPage
}

method! {
    /// One saved strategy config, by id or name.
    StrategiesGet = "strategies.get", Get "/api/v1/strategies/{id}", Read, NameOrId => StrategyRecord
}

method! {
    /// Changes a saved config's spec or name; bots keep the copy they were created with.
    StrategiesUpdate = "strategies.update", Patch "/api/v1/strategies/{id}", Trade, StrategyUpdate => StrategyRecord
}

method! {
    /// Deletes a saved strategy config.
    StrategiesDelete = "strategies.delete", Delete "/api/v1/strategies/{id}", Trade, NameOrId => Deleted
}

method! {
    /// Uploads a user strategy (a Lua source or a WebAssembly module): checked, compiled, stored by the SHA-256 of its content, and listed by the catalogue; specs name it `name` (its newest upload) or `name@hash` (exactly this code).
    StrategiesUpload = "strategies.upload", Post "/api/v1/strategies/upload", Trade, StrategyUpload => UserStrategy
}

method! {
    /// Checks a strategy spec without saving it; the answer says what is wrong.
    StrategiesValidate = "strategies.validate", Post "/api/v1/strategies/validate", Read, SpecParam => Validation
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StrategyInfo {
    pub name: String,
    pub summary: String,
    /// Exact entry and exit rules.
    pub rules: String,
    /// JSON Schema of `params`.
    pub params_schema: serde_json::Value,
    /// Warm-up bars with the default parameters.
    pub default_warmup: usize,
    /// A user strategy's code (absent for the built-ins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserCode>,
}

/// Which code a user strategy is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserCode {
    pub tier: StrategyTier,
    /// SHA-256 of the source or module, lowercase hex.
    pub hash: String,
    /// `name@hash`: what a spec records to run exactly this code.
    pub pinned: String,
    pub owner: String,
}

/// The two kinds of user strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StrategyTier {
    /// A Lua 5.4 file.
    Lua,
    /// A WebAssembly module built with the tradedesk strategy SDK.
    Wasm,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategyUpload {
    /// 1–64 letters, digits, `-`, `_`, `.`; not a built-in's name. A name
    /// belongs to the user who first uploaded it.
    pub name: String,
    pub tier: StrategyTier,
    /// The Lua source (tier `lua`).
    #[serde(default)]
    pub source: Option<String>,
    /// The module, base64 (tier `wasm`).
    #[serde(default)]
    pub module_base64: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserStrategy {
    /// As the catalogue lists it.
    pub info: StrategyInfo,
    /// False when exactly this code was already stored (the upload made
    /// it the name's newest version again).
    pub new_code: bool,
    pub uploaded: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StrategyCatalog {
    pub strategies: Vec<StrategyInfo>,
    /// JSON Schema of a whole spec (strategy, params, sizing, exits, interval).
    pub spec_schema: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategyCreate {
    /// 1–64 characters: letters, digits, `-`, `_`, `.`.
    pub name: String,
    pub spec: StrategySpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StrategyRecord {
    pub id: u64,
    pub name: String,
    pub owner: String,
    /// Normalized: every parameter's value, defaults filled in.
    pub spec: StrategySpec,
    pub created: Timestamp,
    pub updated: Timestamp,
}

pub type StrategyPage = Page<StrategyRecord>;

/// Names a saved strategy config by `id` or by `name` (exactly one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameOrId {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategyUpdate {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub new_name: Option<String>,
    #[serde(default)]
    pub spec: Option<StrategySpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecParam {
    /// The spec to check, as JSON (checked field by field).
    pub spec: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Validation {
    pub valid: bool,
    /// The field at fault (`params.fast`, `sizing.value`, …).
    pub field: Option<String>,
    pub message: Option<String>,
    /// The normalized spec when valid.
    pub spec: Option<StrategySpec>,
    /// Warm-up bars the strategy needs, when valid.
    pub warmup: Option<usize>,
    /// What to know about it with the default venue's fees.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
