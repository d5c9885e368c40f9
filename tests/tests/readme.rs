//! The README's walk-through runs as written: every `sh` block of its
//! Usage section, in order, against a fresh daemon on a private directory
//! (ids as they come), with the built binaries on `PATH` and the example
//! data files in the working directory. A block that exits non-zero fails
//! the test, with its output.
//!
//! Needs `bash` and `../shared/data` (GOOG.csv, the ETHBTC 5-minute dump);
//! skips with a message when either is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use tradedesk_tests::bin;

/// The `sh` blocks of the README's `## Usage` section, in order.
fn usage_blocks(readme: &str) -> Vec<String> {
    let start = readme.find("\n## Usage").expect("a Usage section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    let section = &rest[..end];
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(b), "```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Stops the walk-through's daemon however the test ends.
struct Stop<'a>(&'a dyn Fn() -> Command);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = (self.0)().args(["-c", "tradectl daemon stop"]).output();
    }
}

#[test]
fn the_readme_walk_through_runs_as_written_on_a_fresh_install() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    let files = [
        ("GOOG.csv", "GOOG.csv"),
        ("ETHBTC-5m.binance.csv", "ETHBTC-5m.csv"),
    ];
    if files.iter().any(|(f, _)| !shared.join(f).is_file()) {
        eprintln!("skipped: ../shared/data is absent (the walk-through imports its files)");
        return;
    }
    if Command::new("bash").arg("-c").arg("true").output().is_err() {
        eprintln!("skipped: bash is not installed");
        return;
    }
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let blocks = usage_blocks(&readme);
    assert!(
        blocks.len() >= 7,
        "the Usage section's blocks: {}",
        blocks.len()
    );

    let home = tempfile::tempdir().expect("tempdir");
    let cwd = home.path().join("work");
    let run = home.path().join("run");
    for d in [&cwd, &run] {
        std::fs::create_dir_all(d).expect("dir");
    }
    std::fs::set_permissions(
        &run,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700),
    )
    .expect("run dir mode");
    for (from, to) in files {
        std::fs::copy(shared.join(from), cwd.join(to)).expect("copy the example data");
    }
    let bins: PathBuf = bin("tradectl").parent().expect("bin dir").to_path_buf();
    let path = format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let shell = || {
        let mut c = Command::new("bash");
        c.current_dir(&cwd)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_STATE_HOME", home.path().join("state"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_RUNTIME_DIR", &run)
            .env("NO_COLOR", "1");
        c
    };
    let _stop = Stop(&shell);
    for (i, block) in blocks.iter().enumerate() {
        let started = std::time::Instant::now();
        let out = shell()
            .args(["-e", "-o", "pipefail", "-c", block])
            .output()
            .expect("bash runs");
        let said = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert!(
            out.status.success(),
            "README block {} failed ({}):\n{block}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            i + 1,
            out.status,
            said(&out.stdout),
            said(&out.stderr)
        );
        println!(
            "figure | readme | block {} ({} lines) | ok in {:.1} s",
            i + 1,
            block.lines().count(),
            started.elapsed().as_secs_f64()
        );
    }
    // The walk-through made what it says: the PNG export, the datasets.
    assert!(cwd.join("equity.png").is_file());
}
