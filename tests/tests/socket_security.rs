//! Socket security: private modes, peers of another user refused both
//! ways (the daemon refuses them; the clients refuse a socket they serve),
//! a second daemon refused before it touches anything, a stale socket and
//! lock after kill -9 taken over cleanly, a socket directory others can
//! write refused. The other-user cases need root (to run a process as
//! `nobody`) and skip with a message otherwise.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tradedesk_tests::{Daemon, bin, figure, wait_ready};

const NOBODY: u32 = 65_534;

fn root() -> bool {
    rustix::process::geteuid().is_root()
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

#[test]
fn the_socket_and_its_directories_are_private() {
    let d = Daemon::start();
    assert_eq!(mode(&d.socket()), 0o600);
    assert_eq!(mode(&d.data_dir()), 0o700);
    assert_eq!(mode(&d.log_dir()), 0o700);
    let db = std::fs::metadata(d.db_path()).expect("db");
    assert_eq!(db.uid(), rustix::process::geteuid().as_raw());
    figure(
        "socket security",
        "modes (socket, data dir, log dir)",
        "0600, 0700, 0700",
    );
}

#[test]
fn a_second_daemon_is_refused_before_it_touches_anything() {
    let d = Daemon::start();
    let before = std::fs::metadata(d.socket()).expect("socket").ino();
    let out = Command::new(bin("tradingd"))
        .arg("--data-dir")
        .arg(d.data_dir())
        .arg("--socket")
        .arg(d.dir.path().join("other.sock"))
        .env("XDG_STATE_HOME", d.dir.path().join("state2"))
        .env("XDG_CONFIG_HOME", d.dir.path().join("config"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already running"), "{err}");
    assert!(
        !d.dir.path().join("other.sock").exists(),
        "it bound nothing"
    );
    // The first daemon is untouched and answers.
    assert_eq!(std::fs::metadata(d.socket()).expect("socket").ino(), before);
    d.client()
        .call_raw("system.health", &json!({}))
        .expect("the first one answers");
}

#[test]
fn a_stale_socket_and_lock_after_kill_9_are_taken_over() {
    let mut d = Daemon::start();
    d.kill9();
    assert!(d.socket().exists(), "kill -9 leaves the socket");
    d.spawn();
    let h = d
        .client()
        .call_raw("system.health", &json!({}))
        .expect("health");
    assert_eq!(h["status"], "ok", "{h}");
}

#[test]
fn a_socket_directory_others_can_write_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open = dir.path().join("open");
    std::fs::create_dir(&open).expect("dir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = Command::new(bin("tradingd"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--socket")
        .arg(open.join("td.sock"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("writable by others"), "{err}");
    assert!(!open.join("td.sock").exists());
}

/// A directory `nobody` owns and can use, with a copy of `name` in it (the
/// target dir may not be reachable by another user).
fn nobodys_dir(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
    let copy = dir.path().join(name);
    std::fs::copy(bin(name), &copy).expect("copy");
    (dir, copy)
}

#[test]
fn a_daemon_refuses_a_peer_of_another_user_and_logs_it() {
    if !root() {
        eprintln!("skipped: needs root to run the daemon as another user");
        return;
    }
    let (dir, tradingd) = nobodys_dir("tradingd");
    let socket = dir.path().join("d.sock");
    let mut child = Command::new(&tradingd)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--socket")
        .arg(&socket)
        .env_clear()
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("HOME", dir.path())
        // Two days of seeded past, as the harness's daemons have.
        .env("TRADEDESK_SIM__HISTORY_MINUTES", "2880")
        .stderr(Stdio::null())
        .uid(NOBODY)
        .gid(NOBODY)
        .spawn()
        .expect("spawn tradingd");
    // The daemon refuses us (root), so readiness is read off the socket.
    let mut stream = None;
    for _ in 0..500 {
        if let Ok(s) = std::os::unix::net::UnixStream::connect(&socket) {
            stream = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let stream = stream.expect("the daemon came up");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).expect("read");
    let r: serde_json::Value = serde_json::from_str(&line).expect("json");
    assert_eq!(r["error"]["code"], -32008, "{r}");
    // Our own client refuses its socket too (another user serves it).
    let err = tradedesk_core::client::Client::connect(&socket)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("served by uid 65534"), "{err}");
    // The doctor fails it, saying whose it is.
    let doctor = Command::new(bin("tradectl"))
        .args(["--json", "--socket"])
        .arg(&socket)
        .arg("doctor")
        .env_clear()
        .env("HOME", dir.path())
        .env("TRADEDESK_DAEMON_BIN", &tradingd)
        .output()
        .expect("doctor");
    assert_eq!(doctor.status.code(), Some(2), "a failure");
    let report: serde_json::Value = serde_json::from_slice(&doctor.stdout).expect("json");
    let daemon = report["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "daemon"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(daemon["status"], "fail", "{report}");
    assert!(
        daemon["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("uid 65534"),
        "{report}"
    );
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id().cast_signed()).expect("pid"),
        rustix::process::Signal::TERM,
    );
    assert!(child.wait().expect("wait").success());
    let text: String = std::fs::read_dir(dir.path().join("state/tradedesk/logs"))
        .expect("log dir")
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        text.contains("refused connection from another user"),
        "{text}"
    );
    figure(
        "socket security",
        "peer of another uid",
        "refused by the daemon and by the client",
    );
}

#[test]
fn tradectl_refuses_a_socket_served_by_another_user_and_sends_nothing() {
    if !root() {
        eprintln!("skipped: needs root to run a fake server as another user");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
    let socket = dir.path().join("fake.sock");
    let log = dir.path().join("received");
    // A fake daemon run as nobody: it records what it receives and answers
    // every request with a "filled" order.
    let script = format!(
        "import socket,os\n\
         s=socket.socket(socket.AF_UNIX)\n\
         s.bind('{sock}')\n\
         os.chmod('{sock}',0o777)\n\
         s.listen(8)\n\
         while True:\n\
         \x20   c,_=s.accept()\n\
         \x20   d=c.recv(65536)\n\
         \x20   open('{log}','ab').write(d)\n\
         \x20   c.sendall(b'{{\"jsonrpc\":\"2.0\",\"result\":{{\"status\":\"filled\"}},\"id\":1}}\\n')\n\
         \x20   c.close()\n",
        sock = socket.display(),
        log = log.display()
    );
    let mut fake = Command::new("python3")
        .args(["-c", &script])
        .uid(NOBODY)
        .gid(NOBODY)
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    for _ in 0..500 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = Command::new(bin("tradectl"))
        .args(["order", "buy", "BTCUSDT", "0.01"])
        .env_clear()
        .env("HOME", dir.path())
        .env("TRADEDESK_SOCKET", &socket)
        .output()
        .expect("tradectl");
    let _ = fake.kill();
    let _ = fake.wait();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("served by uid 65534"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("filled"));
    let received = std::fs::read(&log).unwrap_or_default();
    assert!(received.is_empty(), "nothing was sent: {received:?}");
    let _ = std::io::stdout().flush();
}

#[test]
fn the_daemon_tells_a_busy_client_plainly() {
    let d = Daemon::start_with("[rpc]\nmax_connections = 2\n");
    // Two clients that keep their slots busy with subscriptions.
    // (The readiness probe's connection may still hold a slot for a
    // moment after it closed: retry until both are in.)
    let mut held = Vec::new();
    for _ in 0..200 {
        if held.len() == 2 {
            break;
        }
        let mut c = d.client();
        if c.subscribe(&["system.heartbeat"]).is_ok() {
            held.push(c);
        } else {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    assert_eq!(held.len(), 2, "two subscribers in");
    let out = d.tradectl(&["status"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("daemon busy: 2 connections"), "{err}");
    drop(held);
    wait_ready(&d.socket());
    let mut ok = false;
    for _ in 0..100 {
        if d.tradectl(&["status"]).status.success() {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ok, "served again once the others left");
}
