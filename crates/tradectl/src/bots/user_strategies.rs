//! `tradectl strategy upload|new|build`: traders' own strategies. `new`
//! scaffolds a Rust strategy crate (with the SDK and the indicators
//! vendored into it, so it builds anywhere, offline); `build` compiles it
//! for `wasm32-unknown-unknown`; `upload` sends a `.lua` file or a
//! `.wasm` module to the daemon.

use std::path::{Path, PathBuf};

use crate::{Ctx, Failure};
use tradedesk_core::api::strategies::{
    StrategiesUpload, StrategyTier, StrategyUpload, UserStrategy,
};

/// The files `strategy new` writes: (path in the crate, contents).
const SDK_FILES: [(&str, &str); 5] = [
    (
        "sdk/Cargo.toml",
        include_str!("../../../strategy-sdk/Cargo.toml"),
    ),
    (
        "sdk/src/lib.rs",
        include_str!("../../../strategy-sdk/src/lib.rs"),
    ),
    (
        "indicators/Cargo.toml",
        include_str!("../../../indicators/Cargo.toml"),
    ),
    (
        "indicators/src/lib.rs",
        include_str!("../../../indicators/src/lib.rs"),
    ),
    (
        "indicators/src/tests.rs",
        include_str!("../../../indicators/src/tests.rs"),
    ),
];

/// The strategy a new crate starts from: the SMA crossover example.
const TEMPLATE_LIB: &str =
    include_str!("../../../../examples/strategies/sma_cross_wasm/src/lib.rs");

fn template_manifest(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

# Its own workspace: `tradectl strategy build` compiles it for
# wasm32-unknown-unknown; `tradectl strategy upload` sends the module.
[workspace]

[lib]
crate-type = ["cdylib"]

[dependencies]
tradedesk-strategy-sdk = {{ path = "sdk" }}

[profile.release]
opt-level = 3
lto = true
codegen-units = 1
panic = "abort"
"#
    )
}

/// A crate name: letters, digits, `_`, starting with a letter.
fn check_crate_name(name: &str) -> Result<(), Failure> {
    let ok = name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Failure::Usage(format!(
            "NAME `{name}` must be 1–64 letters, digits or `_`, starting with a letter"
        )))
    }
}

/// `strategy new NAME [--dir DIR]`: writes DIR/NAME (refuses to touch an
/// existing directory).
pub fn new(ctx: &Ctx, name: &str, dir: Option<PathBuf>) -> Result<(), Failure> {
    check_crate_name(name)?;
    let root = dir.unwrap_or_else(|| PathBuf::from(".")).join(name);
    if root.exists() {
        return Err(Failure::Usage(format!(
            "{} exists; choose another NAME or --dir",
            root.display()
        )));
    }
    let io = |p: &Path, e: std::io::Error| Failure::Other(format!("{}: {e}", p.display()));
    let mut files: Vec<(String, String)> = SDK_FILES
        .iter()
        .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
        .collect();
    files.push(("Cargo.toml".into(), template_manifest(name)));
    files.push(("src/lib.rs".into(), TEMPLATE_LIB.to_owned()));
    files.push((".gitignore".into(), "/target\n".into()));
    for (rel, contents) in &files {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&path, contents).map_err(|e| io(&path, e))?;
    }
    let out = serde_json::json!({ "path": root, "files": files.len() });
    ctx.emit(&out, || {
        outln!(
            "created {} (a strategy crate: edit src/lib.rs)",
            root.display()
        );
        outln!("build it:  tradectl strategy build {}", root.display());
        if !tradedesk_core::wasm_build::target_installed() {
            outln!(
                "first add the target: rustup target add {}",
                tradedesk_core::wasm_build::WASM_TARGET
            );
        }
    });
    Ok(())
}

/// `strategy build [DIR] [--upload [--name N]]`.
pub fn build(ctx: &Ctx, dir: &Path, upload: bool, name: Option<String>) -> Result<(), Failure> {
    let module = tradedesk_core::wasm_build::build(dir, None, false)
        .map_err(|e| Failure::Other(e.to_string()))?;
    let size = std::fs::metadata(&module).map_or(0, |m| m.len());
    if upload {
        return self::upload(ctx, &module, name.or_else(|| crate_name(dir)));
    }
    let out = serde_json::json!({ "module": module, "bytes": size });
    ctx.emit(&out, || {
        outln!("built {} ({size} bytes)", module.display());
        outln!(
            "upload it: tradectl strategy upload {} --name NAME",
            module.display()
        );
    });
    Ok(())
}

/// The crate's directory name, as a strategy name.
fn crate_name(dir: &Path) -> Option<String> {
    std::fs::canonicalize(dir)
        .ok()?
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

/// `strategy upload FILE [--name N]`: `.lua` or `.wasm`; the name
/// defaults to the file's stem.
pub fn upload(ctx: &Ctx, file: &Path, name: Option<String>) -> Result<(), Failure> {
    use base64::Engine as _;
    let tier = match file.extension().and_then(|e| e.to_str()) {
        Some("lua") => StrategyTier::Lua,
        Some("wasm") => StrategyTier::Wasm,
        _ => {
            return Err(Failure::Usage(format!(
                "{}: a strategy is a .lua file or a .wasm module",
                file.display()
            )));
        }
    };
    let name = name
        .or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .ok_or_else(|| Failure::Usage("give the strategy a --name".into()))?;
    let bytes =
        std::fs::read(file).map_err(|e| Failure::Other(format!("{}: {e}", file.display())))?;
    let params = match tier {
        StrategyTier::Lua => StrategyUpload {
            name,
            tier,
            source: Some(
                String::from_utf8(bytes)
                    .map_err(|_| Failure::Usage(format!("{}: not UTF-8 text", file.display())))?,
            ),
            module_base64: None,
        },
        StrategyTier::Wasm => StrategyUpload {
            name,
            tier,
            source: None,
            module_base64: Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
        },
    };
    let mut c = ctx.connect()?;
    let r: UserStrategy = c.call::<StrategiesUpload>(&params)?;
    ctx.emit(&r, || {
        let code = r.info.user.as_ref();
        outln!(
            "uploaded {} ({}), {}",
            r.info.name,
            code.map_or("", |u| match u.tier {
                StrategyTier::Lua => "lua",
                StrategyTier::Wasm => "wasm",
            }),
            if r.new_code {
                "new code"
            } else {
                "code already stored"
            }
        );
        if let Some(u) = code {
            outln!("sha256 {}", u.hash);
            outln!(
                "specs naming `{}` now run it; `{}` always will",
                r.info.name,
                u.pinned
            );
        }
        outln!(
            "warm-up {} bars with the default parameters",
            r.info.default_warmup
        );
    });
    Ok(())
}
