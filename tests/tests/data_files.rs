//! Files the daemon reads and writes for datasets: an import streams a
//! large file in bounded memory with progress by bytes, refuses what is
//! over its limit or not a regular file, and never shows a file's content
//! in an error; an export creates a new private file and will not replace
//! anything, follow a symlink, or write into the daemon's own directories.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tradedesk_tests::{Daemon, figure, rss_kib};

fn call(d: &Daemon, method: &str, p: &Value) -> Result<Value, tradedesk_core::client::ClientError> {
    d.client().call_raw(method, p)
}

fn settle(d: &Daemon, id: &Value) -> Value {
    let until = Instant::now() + Duration::from_mins(5);
    loop {
        let j = call(d, "jobs.get", &json!({ "id": id })).expect("job");
        if !matches!(j["state"].as_str(), Some("queued" | "running")) {
            return j;
        }
        assert!(Instant::now() < until, "job never settled: {j}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_large_import_streams_in_bounded_memory_with_progress_by_bytes() {
    let d = Daemon::start();
    let path = d.dir.path().join("big.csv");
    let rows = 1_000_000_i64;
    let mut text = String::with_capacity(60 * rows as usize);
    text.push_str("time,open,high,low,close,volume\n");
    for i in 0..rows {
        let p = 100 + (i * 7919) % 50;
        let _ = writeln!(
            text,
            "{},{p}.25,{}.5,{}.5,{p}.75,12.5",
            1_500_000_000_000 + i * 60_000,
            p + 1,
            p - 1
        );
    }
    std::fs::write(&path, &text).expect("write");
    let size = text.len();
    drop(text);
    let pid = d.pid().expect("pid");
    let base = rss_kib(pid).unwrap_or(0);
    let job = call(
        &d,
        "data.import",
        &json!({ "path": path, "symbol": "BIGUSD" }),
    )
    .expect("queued");
    let mut peak = base;
    let mut progress = Vec::new();
    let started = Instant::now();
    let done = loop {
        peak = peak.max(rss_kib(pid).unwrap_or(0));
        let j = call(&d, "jobs.get", &json!({ "id": job["id"] })).expect("job");
        if let Some(p) = j["progress"].as_u64()
            && progress.last() != Some(&p)
        {
            progress.push(p);
        }
        if !matches!(j["state"].as_str(), Some("queued" | "running")) {
            break j;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(done["state"], "succeeded", "{done}");
    let ds = call(&d, "data.get", &json!({ "id": done["result"]["dataset"] })).expect("dataset");
    assert_eq!(ds["rows"], rows);
    assert_eq!(ds["interval"], "1m");
    figure(
        "data files",
        "import of a 1M-row file",
        format!(
            "{} MB in {:.1} s",
            size / 1_000_000,
            started.elapsed().as_secs_f64()
        ),
    );
    figure(
        "data files",
        "daemon RSS before / peak during the import",
        format!("{} / {} MiB", base / 1024, peak / 1024),
    );
    figure("data files", "progress seen", format!("{progress:?}"));
    // The whole file in memory (as before) would add its size and the
    // bars' (48 bytes each) to the daemon.
    assert!(
        peak.saturating_sub(base) < 40 * 1024,
        "memory grew by {} KiB importing {size} bytes",
        peak.saturating_sub(base)
    );
    assert!(progress.len() >= 3, "progress moves by bytes: {progress:?}");
}

#[test]
fn an_import_refuses_what_it_must_not_read_and_never_shows_a_file() {
    let d = Daemon::start_with("[data]\nmax_import_bytes = 4096\n");
    let dir = d.dir.path();
    // Over the limit.
    let big = dir.join("big.csv");
    std::fs::write(&big, "x".repeat(5000)).expect("write");
    let e = call(&d, "data.import", &json!({ "path": big, "symbol": "X" })).expect_err("refused");
    assert!(
        e.to_string().contains("data.max_import_bytes (4096)"),
        "{e}"
    );
    // Not a regular file: a directory, a FIFO (which would block a reader).
    let fifo = dir.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    for p in [dir.to_path_buf(), fifo] {
        let e = call(&d, "data.import", &json!({ "path": p, "symbol": "X" })).expect_err("refused");
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
    // Files that are not data: the error names the line and column and
    // never repeats what the file says.
    let secrets = [
        (
            "shadow",
            "root:$6$saltsalt$hashhash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
        ),
        (
            "environ",
            "SECRET_TOKEN=abc123\0PATH=/usr/bin\0HOME=/root\0",
        ),
        (
            "bad-cell",
            "time,open,high,low,close\n2024-01-01,1,2,0.5,hunter2\n",
        ),
    ];
    for (name, content) in secrets {
        let p = dir.join(name);
        std::fs::write(&p, content).expect("write");
        let job = call(&d, "data.import", &json!({ "path": p, "symbol": "X" })).expect("queued");
        let done = settle(&d, &job["id"]);
        assert_eq!(done["state"], "dead", "{done}");
        let error = done["error"].as_str().unwrap_or_default();
        assert!(error.contains("line "), "{error}");
        for word in ["root", "salt", "SECRET", "abc123", "hunter2", "/usr/bin"] {
            assert!(!error.contains(word), "{name}: {error}");
        }
        let shown = serde_json::to_string(&done).expect("json");
        assert!(
            !shown.contains("abc123") && !shown.contains("hashhash"),
            "{shown}"
        );
    }
    // The daemon's own environment is not read into an error either.
    let job = call(
        &d,
        "data.import",
        &json!({ "path": "/proc/self/environ", "symbol": "X" }),
    );
    if let Ok(job) = job {
        let done = settle(&d, &job["id"]);
        let shown = serde_json::to_string(&done).expect("json");
        assert!(!shown.contains("XDG_STATE_HOME"), "{shown}");
    }
    let e = call(
        &d,
        "data.import",
        &json!({ "path": "relative.csv", "symbol": "X" }),
    )
    .expect_err("refused");
    assert!(e.to_string().contains("absolute path"), "{e}");
}

#[test]
fn an_export_creates_a_new_private_file_outside_the_daemons_own_directories() {
    let d = Daemon::start();
    let dir = d.dir.path();
    let csv = dir.join("in.csv");
    std::fs::write(
        &csv,
        "date,open,high,low,close\n2024-01-01,1,2,0.5,1\n2024-01-02,1,2,0.5,1.5\n",
    )
    .expect("csv");
    let job = call(
        &d,
        "data.import",
        &json!({ "path": csv, "symbol": "EXUSD" }),
    )
    .expect("queued");
    let done = settle(&d, &job["id"]);
    let id = done["result"]["dataset"].clone();
    let refuse = |path: &std::path::Path, why: &str| {
        let e = call(&d, "data.export", &json!({ "id": id, "path": path })).expect_err("refused");
        assert!(e.to_string().contains(why), "{}: {e}", path.display());
    };
    // Into the daemon's own directories.
    refuse(&d.data_dir().join("x.csv"), "daemon's own directory");
    refuse(&d.log_dir().join("x.csv"), "daemon's own directory");
    refuse(&dir.join("run/x.csv"), "daemon's own directory");
    // Over an existing file, or through a symlink (even a dangling one).
    let existing = dir.join("existing.csv");
    std::fs::write(&existing, "keep me").expect("write");
    refuse(&existing, "exists");
    assert_eq!(std::fs::read_to_string(&existing).expect("read"), "keep me");
    let target = dir.join("target.csv");
    let link = dir.join("link.csv");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    refuse(&link, "exists");
    assert!(!target.exists(), "nothing written through the link");
    // A relative path means nothing to the daemon.
    let e = call(&d, "data.export", &json!({ "id": id, "path": "out.csv" })).expect_err("refused");
    assert!(e.to_string().contains("absolute path"), "{e}");
    // And a new file where the user may write: private.
    let out = dir.join("out.csv");
    let r = call(&d, "data.export", &json!({ "id": id, "path": out })).expect("exported");
    assert_eq!(r["rows"], 2);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&out).expect("stat").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}
