//! Building a WebAssembly strategy crate (made by `tradectl strategy
//! new`, using the `tradedesk-strategy-sdk` crate) with the machine's
//! cargo: `cargo build --release --target wasm32-unknown-unknown`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "the {WASM_TARGET} target is not installed; add it with `rustup target add {WASM_TARGET}`"
    )]
    TargetMissing,
    #[error("{0} has no Cargo.toml")]
    NotACrate(PathBuf),
    #[error("cannot run cargo: {0}")]
    Cargo(std::io::Error),
    #[error("cargo build failed (its messages are above)")]
    Failed,
    #[error("cargo built no .wasm file: is the crate's type `cdylib`?")]
    NoModule,
}

/// Whether rustc can build for `wasm32-unknown-unknown` (its standard
/// library is installed).
pub fn target_installed() -> bool {
    let Ok(out) = Command::new(rustc())
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .stderr(Stdio::null())
        .output()
    else {
        return false;
    };
    // rustc names the directory whether or not the target is there.
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    out.status.success()
        && std::fs::read_dir(&dir).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd")))
        })
}

fn rustc() -> std::ffi::OsString {
    std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into())
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Builds the crate in `dir` for wasm (release); the module's path.
/// `target_dir` overrides where cargo builds; `offline` builds without
/// touching a registry (the SDK needs none).
pub fn build(dir: &Path, target_dir: Option<&Path>, offline: bool) -> Result<PathBuf, BuildError> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.exists() {
        return Err(BuildError::NotACrate(dir.to_owned()));
    }
    if !target_installed() {
        return Err(BuildError::TargetMissing);
    }
    let mut cmd = Command::new(cargo());
    cmd.args([
        "build",
        "--release",
        "--message-format=json-render-diagnostics",
        "--target",
        WASM_TARGET,
    ])
    .arg("--manifest-path")
    .arg(&manifest)
    .stdout(Stdio::piped());
    if let Some(t) = target_dir {
        cmd.arg("--target-dir").arg(t);
    }
    if offline {
        cmd.arg("--offline");
    }
    let out = cmd.output().map_err(BuildError::Cargo)?;
    if !out.status.success() {
        return Err(BuildError::Failed);
    }
    // The last artifact with a .wasm file is the crate's module.
    let mut module = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        if let Some(files) = msg["filenames"].as_array() {
            for f in files.iter().filter_map(|f| f.as_str()) {
                if Path::new(f).extension().is_some_and(|e| e == "wasm") {
                    module = Some(PathBuf::from(f));
                }
            }
        }
    }
    module.ok_or(BuildError::NoModule)
}
