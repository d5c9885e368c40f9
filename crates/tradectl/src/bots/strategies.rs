//! `tradectl strategy …`: the catalogue and named strategy configs.

use super::SpecArgs;
use crate::format::{Table, ts};
use crate::{Ctx, Failure};
use clap::Subcommand;
use serde_json::Value;
use tradedesk_core::api::Empty;
use tradedesk_core::api::paging::PageParams;
use tradedesk_core::api::strategies::{
    NameOrId, SpecParam, StrategiesCatalog, StrategiesCreate, StrategiesDelete, StrategiesGet,
    StrategiesList, StrategiesUpdate, StrategiesValidate, StrategyCatalog, StrategyCreate,
    StrategyRecord, StrategyUpdate,
};

#[derive(Subcommand)]
pub enum Strategy {
    /// The strategies: built-in and uploaded; with KIND, its rules and parameters.
    Catalog { kind: Option<String> },
    /// Upload your own strategy: a .lua file or a .wasm module (see
    /// `strategy new`). Specs naming it run its newest upload.
    Upload {
        file: std::path::PathBuf,
        /// The strategy's name (default: the file's stem).
        #[arg(long)]
        name: Option<String>,
    },
    /// Create a Rust strategy crate NAME (WebAssembly tier) from the template.
    New {
        name: String,
        /// Where to create it (default: the current directory).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Compile the strategy crate in DIR for wasm32-unknown-unknown.
    Build {
        #[arg(default_value = ".")]
        dir: std::path::PathBuf,
        /// Upload the module once built.
        #[arg(long)]
        upload: bool,
        /// The name to upload it under (default: the crate's directory name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Save a named strategy config.
    Create {
        name: String,
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// Saved strategy configs.
    List {
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One saved config (by name or id).
    Show { name: String },
    /// Change a saved config's spec or name.
    Update {
        name: String,
        #[arg(long)]
        rename: Option<String>,
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// Delete a saved config.
    Delete { name: String },
    /// Check a spec without saving it.
    Validate {
        #[command(flatten)]
        spec: SpecArgs,
    },
}

pub(super) fn name_or_id(s: &str) -> NameOrId {
    match s.parse::<u64>() {
        Ok(id) => NameOrId {
            id: Some(id),
            name: None,
        },
        Err(_) => NameOrId {
            id: None,
            name: Some(s.to_owned()),
        },
    }
}

pub fn strategy(ctx: &Ctx, cmd: Strategy) -> Result<(), Failure> {
    // These need no daemon (or connect themselves).
    let cmd = match cmd {
        Strategy::New { name, dir } => return super::user_strategies::new(ctx, &name, dir),
        Strategy::Build { dir, upload, name } => {
            return super::user_strategies::build(ctx, &dir, upload, name);
        }
        Strategy::Upload { file, name } => return super::user_strategies::upload(ctx, &file, name),
        other => other,
    };
    let mut c = ctx.connect()?;
    match cmd {
        Strategy::New { .. } | Strategy::Build { .. } | Strategy::Upload { .. } => {}
        Strategy::Catalog { kind } => {
            let cat = c.call::<StrategiesCatalog>(&Empty {})?;
            ctx.emit_with(&cat, || print_catalog(&cat, kind.as_deref()))?;
        }
        Strategy::Create { name, spec } => {
            let spec = spec.spec(&mut c)?;
            let r = c.call::<StrategiesCreate>(&StrategyCreate { name, spec })?;
            print_strategy(ctx, &r);
        }
        Strategy::List { limit, cursor } => {
            let page = c.call::<StrategiesList>(&PageParams { limit, cursor })?;
            ctx.emit(&page, || {
                let mut t =
                    Table::new(&["id", "name", "strategy", "interval", "params", "updated"]);
                for s in &page.items {
                    t.row(vec![
                        s.id.to_string(),
                        s.name.clone(),
                        s.spec.strategy.clone(),
                        s.spec.interval.as_str().to_owned(),
                        s.spec.params.to_string(),
                        ts(s.updated),
                    ]);
                }
                out!("{t}");
                if let Some(next) = &page.next_cursor {
                    outln!("more: --cursor {next}");
                }
            });
        }
        Strategy::Show { name } => {
            let r = c.call::<StrategiesGet>(&name_or_id(&name))?;
            print_strategy(ctx, &r);
        }
        Strategy::Update { name, rename, spec } => {
            let spec = if spec.given() {
                Some(spec.spec(&mut c)?)
            } else {
                None
            };
            let r = name_or_id(&name);
            let r = c.call::<StrategiesUpdate>(&StrategyUpdate {
                id: r.id,
                name: r.name,
                new_name: rename,
                spec,
            })?;
            print_strategy(ctx, &r);
        }
        Strategy::Delete { name } => {
            let r = c.call::<StrategiesDelete>(&name_or_id(&name))?;
            ctx.emit(&r, || {
                outln!("deleted strategy {}", r.id);
            });
        }
        Strategy::Validate { spec } => {
            let v = spec.to_json(&mut c)?;
            let r = c.call::<StrategiesValidate>(&SpecParam { spec: v })?;
            ctx.emit_with(&r, || {
                if !r.valid {
                    return Err(Failure::Api(tradedesk_core::api::ApiError::invalid_params(
                        format!(
                            "invalid params: field `{}`: {}",
                            r.field.clone().unwrap_or_default(),
                            r.message.clone().unwrap_or_default()
                        ),
                    )));
                }
                outln!(
                    "valid; warm-up {} bars; spec {}",
                    r.warmup.unwrap_or(0),
                    serde_json::to_string(&r.spec).unwrap_or_default()
                );
                Ok(())
            })?;
        }
    }
    Ok(())
}

pub(super) fn print_catalog(cat: &StrategyCatalog, kind: Option<&str>) -> Result<(), Failure> {
    let Some(kind) = kind else {
        let mut t = Table::new(&["strategy", "kind", "summary"]);
        for s in &cat.strategies {
            let kind = s.user.as_ref().map_or_else(
                || "built-in".to_owned(),
                |u| {
                    let tier = match u.tier {
                        tradedesk_core::api::strategies::StrategyTier::Lua => "lua",
                        tradedesk_core::api::strategies::StrategyTier::Wasm => "wasm",
                    };
                    format!("{tier} {}", u.hash.get(..12).unwrap_or(&u.hash))
                },
            );
            t.row(vec![s.name.clone(), kind, s.summary.clone()]);
        }
        out!("{t}");
        outln!("details: tradectl strategy catalog KIND");
        return Ok(());
    };
    let s = cat
        .strategies
        .iter()
        .find(|s| s.name == kind)
        .ok_or_else(|| Failure::Usage(format!("no strategy `{kind}` in the catalog")))?;
    outln!("{} — {}\n\n{}\n", s.name, s.summary, s.rules);
    if let Some(u) = &s.user {
        outln!("user strategy by {}: {}\n", u.owner, u.pinned);
    }
    let mut t = Table::new(&["param", "type", "default", "meaning"]);
    if let Some(props) = s.params_schema["properties"].as_object() {
        for (name, p) in props {
            let ty = match &p["type"] {
                Value::String(t) => t.clone(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("|"),
                _ => "decimal string".into(),
            };
            t.row(vec![
                name.clone(),
                ty,
                p.get("default")
                    .map_or_else(|| "(required)".into(), Value::to_string),
                p["description"].as_str().unwrap_or_default().to_owned(),
            ]);
        }
    }
    out!("{t}");
    outln!(
        "common options: --sizing percent:100|quote:N|qty:N [--whole-units], --stop-loss PCT, \
         --take-profit PCT, --trailing-stop PCT, --interval 1m"
    );
    Ok(())
}

pub(super) fn print_strategy(ctx: &Ctx, s: &StrategyRecord) {
    ctx.emit(s, || {
        outln!("strategy {} `{}`", s.id, s.name);
        outln!("  {}", serde_json::to_string(&s.spec).unwrap_or_default());
    });
}
