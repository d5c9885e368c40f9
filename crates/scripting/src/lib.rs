//! User strategies: traders' own code, run by the same engine as the
//! built-in strategies (backtests, sweeps, paper and live bots), in a
//! sandbox it cannot leave.
//!
//! Two tiers: Lua 5.4 files ([`lua`], no toolchain needed) and
//! WebAssembly modules built with the `tradedesk-strategy-sdk` crate
//! ([`wasm`], near-native speed). Both declare a parameter table
//! ([`decl`]), call the built-in indicators as host functions ([`ta`]),
//! and run with a memory limit and a budget per call ([`Limits`]). What a
//! strategy does wrong — an error, a trap, a spent budget — becomes
//! [`tradedesk_core::strategy::Action::Fail`]: its bot stops with the
//! reason, its backtest fails with it, nothing else is touched.
//!
//! A strategy is known by the SHA-256 of its source or module
//! ([`hash`]); [`kind`] turns one into a registry entry.

pub mod calls;
pub mod decl;
pub mod lua;
pub mod ta;
pub mod wasm;

use std::sync::Arc;

use sha2::Digest;
use tradedesk_core::strategy::{Built, ParamError, UserKind};

/// The sandbox's limits, per strategy instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory a Lua state or a module's linear memory may use.
    pub memory_bytes: usize,
    /// Lua VM instructions per call (`on_bar`, `on_fill`, `init`, …).
    pub lua_instructions: u32,
    /// WebAssembly fuel per call (about one unit per instruction).
    pub wasm_fuel: u64,
}

impl Default for Limits {
    /// 64 MiB; about 50 ms of work per call on this kind of machine.
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            lua_instructions: 20_000_000,
            wasm_fuel: 200_000_000,
        }
    }
}

/// The two tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Lua,
    Wasm,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Lua => "lua",
            Tier::Wasm => "wasm",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        match s {
            "lua" => Some(Tier::Lua),
            "wasm" => Some(Tier::Wasm),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The code is not a valid strategy; says why.
    #[error("{0}")]
    Invalid(String),
}

/// Largest Lua source accepted.
pub const MAX_LUA_BYTES: usize = 1 << 20;

/// The content address of a strategy: SHA-256, lowercase hex.
pub fn hash(bytes: &[u8]) -> String {
    let d = sha2::Sha256::digest(bytes);
    d.iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Loads a strategy (compiles and checks it) into a registry entry.
pub fn kind(
    tier: Tier,
    name: &str,
    owner: &str,
    code: &[u8],
    limits: Limits,
) -> Result<UserKind, LoadError> {
    let hash = hash(code);
    match tier {
        Tier::Lua => {
            if code.len() > MAX_LUA_BYTES {
                return Err(LoadError::Invalid(format!(
                    "the source is {} bytes, at most {MAX_LUA_BYTES}",
                    code.len()
                )));
            }
            let text = std::str::from_utf8(code)
                .map_err(|e| LoadError::Invalid(format!("the source is not UTF-8: {e}")))?;
            entry(name, owner, hash, tier, lua::load(name, text, limits)?)
        }
        Tier::Wasm => entry(name, owner, hash, tier, wasm::load(name, code, limits)?),
    }
}

/// Loaded code of either tier: its declarations, and new instances.
trait Source: Send + Sync + 'static {
    fn description(&self) -> &decl::Description;
    /// An instance with these (checked) parameter values.
    fn instance(
        &self,
        values: &[f64],
    ) -> Result<Box<dyn tradedesk_core::strategy::Strategy>, ParamError>;
}

impl Source for lua::LuaSource {
    fn description(&self) -> &decl::Description {
        &self.description
    }
    fn instance(
        &self,
        values: &[f64],
    ) -> Result<Box<dyn tradedesk_core::strategy::Strategy>, ParamError> {
        Ok(Box::new(self.build(values)?))
    }
}

impl Source for wasm::WasmSource {
    fn description(&self) -> &decl::Description {
        &self.description
    }
    fn instance(
        &self,
        values: &[f64],
    ) -> Result<Box<dyn tradedesk_core::strategy::Strategy>, ParamError> {
        Ok(Box::new(self.build(values)?))
    }
}

/// The registry entry; its default parameters must build (that is how
/// the catalogue and forms start).
fn entry(
    name: &str,
    owner: &str,
    hash: String,
    tier: Tier,
    src: impl Source,
) -> Result<UserKind, LoadError> {
    let d = src.description().clone();
    let src = Arc::new(src);
    let build = move |params: &serde_json::Value| -> Built {
        let (values, normalized) = decl::parse(&src.description().params, params)?;
        Ok((src.instance(&values)?, normalized))
    };
    let (s, _) = build(&serde_json::json!({}))
        .map_err(|e| LoadError::Invalid(format!("with its default parameters: {e}")))?;
    Ok(UserKind {
        name: name.to_owned(),
        hash,
        tier: tier.as_str(),
        owner: owner.to_owned(),
        summary: d.summary,
        rules: d.rules,
        schema: decl::schema(&d.params),
        default_warmup: s.warmup(),
        build: Box::new(build),
    })
}
