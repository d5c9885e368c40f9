//! Running a desk: `doctor`, `backup`, `logs`, `completions`, `man`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory, ValueEnum};
use tradedesk_core::api::Empty;
use tradedesk_core::api::system::{
    BackupParams, Check, CheckStatus, DoctorReport, SystemBackup, SystemDoctor, SystemInfo,
};
use tradedesk_core::client::launch;
use tradedesk_core::paths;

use crate::{Ctx, Failure};

/// `tradectl doctor`: the daemon's checks when it runs (else the offline
/// ones, by `tradingd doctor`), plus this machine's. Exit code: 0 all ok,
/// 1 a warning, 2 a failure.
pub fn doctor(ctx: &Ctx, config: Option<&Path>, data_dir: Option<&Path>) -> Result<(), Failure> {
    let mut checks = Vec::new();
    match ctx.connect() {
        Ok(mut c) => {
            let info = c.call::<SystemInfo>(&Empty {})?;
            let target = ctx
                .remote
                .as_ref()
                .map_or_else(|| ctx.socket.display().to_string(), |r| r.url.clone());
            checks.push(Check::ok(
                "daemon",
                format!(
                    "tradingd {} (pid {}) answers on {target}, run {}",
                    info.version, info.pid, info.run_number
                ),
            ));
            if ctx.remote.is_none() {
                checks.push(socket_check(&ctx.socket));
            }
            checks.extend(c.call::<SystemDoctor>(&Empty {})?.checks);
        }
        // The client refuses a socket another user serves (`ForeignPeer`).
        Err(Failure::Unreachable(why)) if why.contains("served by uid") => {
            checks.push(Check::fail(
                "daemon",
                why,
                "another user's daemon: set TRADEDESK_SOCKET or --socket to your own",
            ));
        }
        Err(Failure::Unreachable(_)) if ctx.remote.is_none() => {
            checks.push(Check::warn(
                "daemon",
                format!("no daemon answers on {}", ctx.socket.display()),
                "start it: `tradectl daemon start` (offline checks below)",
            ));
            checks.extend(offline_checks(config, data_dir)?);
        }
        Err(e) => return Err(e),
    }
    checks.push(wasm_check());
    let report = DoctorReport { checks };
    let worst = report.worst();
    ctx.emit(
        &serde_json::json!({ "checks": report.checks, "worst": worst }),
        || {
            for c in &report.checks {
                let mark = match c.status {
                    CheckStatus::Ok => "ok  ",
                    CheckStatus::Warn => "WARN",
                    CheckStatus::Fail => "FAIL",
                };
                outln!("{mark}  {:<12} {}", c.name, c.detail);
                if let Some(fix) = &c.fix {
                    outln!("      {:<12} → {fix}", "");
                }
            }
        },
    );
    match worst {
        CheckStatus::Ok => Ok(()),
        CheckStatus::Warn => Err(Failure::Code(1)),
        CheckStatus::Fail => Err(Failure::Code(2)),
    }
}

/// The socket: ours, and reachable by no one else.
fn socket_check(socket: &Path) -> Check {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(meta) = std::fs::metadata(socket) else {
        return Check::warn("socket", "cannot stat the socket", "check TRADEDESK_SOCKET");
    };
    let own = rustix::process::getuid().as_raw();
    let dir_open = socket
        .parent()
        .and_then(|d| std::fs::metadata(d).ok())
        .is_some_and(|m| m.permissions().mode() & 0o077 != 0);
    if meta.uid() != own {
        Check::fail(
            "socket",
            format!(
                "{} belongs to uid {}, not you",
                socket.display(),
                meta.uid()
            ),
            "use your own daemon's socket",
        )
    } else if meta.permissions().mode() & 0o077 != 0 && dir_open {
        Check::warn(
            "socket",
            format!("{} can be reached by other users", socket.display()),
            "chmod 700 its directory (the daemon checks every peer's uid anyway)",
        )
    } else {
        Check::ok(
            "socket",
            format!("{} is yours and private", socket.display()),
        )
    }
}

/// `tradingd doctor`, for a daemon that is not running.
fn offline_checks(config: Option<&Path>, data_dir: Option<&Path>) -> Result<Vec<Check>, Failure> {
    let bin = launch::daemon_binary();
    let mut cmd = std::process::Command::new(&bin);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    if let Some(d) = data_dir {
        cmd.arg("--data-dir").arg(d);
    }
    cmd.arg("doctor");
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            return Ok(vec![Check::fail(
                "tradingd",
                format!("cannot run {}: {e}", bin.display()),
                "install tradingd on PATH or set TRADEDESK_DAEMON_BIN",
            )]);
        }
    };
    let report: DoctorReport = serde_json::from_slice(&out.stdout).map_err(|e| {
        Failure::Other(format!(
            "`tradingd doctor` answered no report ({e}): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    })?;
    Ok(report.checks)
}

/// The WebAssembly target, for `tradectl strategy build`.
fn wasm_check() -> Check {
    if tradedesk_core::wasm_build::target_installed() {
        Check::ok(
            "wasm_target",
            "wasm32-unknown-unknown installed (for `tradectl strategy build`)",
        )
    } else {
        Check::warn(
            "wasm_target",
            "rustc cannot build wasm32-unknown-unknown (needed only to build WebAssembly strategies)",
            "rustup target add wasm32-unknown-unknown",
        )
    }
}

/// `tradectl backup FILE`: the daemon writes a consistent copy while it runs.
pub fn backup(ctx: &Ctx, file: &Path) -> Result<(), Failure> {
    let path = if file.is_absolute() {
        file.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Failure::Other(format!("the current directory: {e}")))?
            .join(file)
    };
    let done = ctx.connect()?.call::<SystemBackup>(&BackupParams {
        path: path.display().to_string(),
    })?;
    ctx.emit(&done, || {
        outln!(
            "backup written: {} ({:.1} MiB, schema {}, {} ms); restore with `tradingd restore {}` (daemon stopped)",
            done.path,
            done.bytes as f64 / 1_048_576.0,
            done.schema_version,
            done.took_ms,
            done.path
        );
    });
    Ok(())
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Program {
    Tradectl,
    Tradingd,
    Tradedesk,
}

fn command_of(p: Program) -> clap::Command {
    match p {
        Program::Tradectl => crate::Cli::command(),
        Program::Tradingd => tradedesk_core::cli::DaemonCli::command(),
        Program::Tradedesk => tradedesk_core::cli::DeskCli::command(),
    }
}

const PROGRAMS: [Program; 3] = [Program::Tradectl, Program::Tradingd, Program::Tradedesk];

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::Other(e.to_string())),
        _ => Ok(()),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|e| Failure::Other(format!("{}: {e}", path.display())))
}

/// `tradectl completions SHELL`: one program's script on stdout, or all
/// three into `--dir` under the names the shell looks for.
pub fn completions(
    ctx: &Ctx,
    shell: Shell,
    program: Program,
    dir: Option<&Path>,
) -> Result<(), Failure> {
    let script = |p: Program| {
        let mut cmd = command_of(p);
        let name = cmd.get_name().to_owned();
        let mut out = Vec::new();
        match shell {
            Shell::Bash => {
                clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, &name, &mut out);
            }
            Shell::Zsh => {
                clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, &name, &mut out);
            }
            Shell::Fish => {
                clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, &name, &mut out);
            }
        }
        let file = match shell {
            Shell::Bash => name.clone(),
            Shell::Zsh => format!("_{name}"),
            Shell::Fish => format!("{name}.fish"),
        };
        (file, out)
    };
    let Some(dir) = dir else {
        let (_, out) = script(program);
        return write_stdout(&out);
    };
    let mut written = Vec::new();
    for p in PROGRAMS {
        let (file, out) = script(p);
        let path = dir.join(file);
        write_file(&path, &out)?;
        written.push(path.display().to_string());
    }
    ctx.emit(&written, || {
        for w in &written {
            outln!("{w}");
        }
    });
    Ok(())
}

/// Renders a program's page and one per subcommand (`tradectl-order.1`).
fn man_pages(cmd: clap::Command, prefix: Option<&str>, out: &mut Vec<(String, Vec<u8>)>) {
    let name = match prefix {
        Some(p) => format!("{p}-{}", cmd.get_name()),
        None => cmd.get_name().to_owned(),
    };
    let cmd = cmd.name(name.clone());
    let mut page = Vec::new();
    if clap_mangen::Man::new(cmd.clone()).render(&mut page).is_ok() {
        out.push((format!("{name}.1"), page));
    }
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        man_pages(sub.clone(), Some(&name), out);
    }
}

/// `tradectl man`: the program's page on stdout, or with `--dir` every
/// page of all three programs.
pub fn man(ctx: &Ctx, program: Program, dir: Option<&Path>) -> Result<(), Failure> {
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command_of(program))
            .render(&mut page)
            .map_err(|e| Failure::Other(e.to_string()))?;
        return write_stdout(&page);
    };
    let mut pages = Vec::new();
    for p in PROGRAMS {
        let mut cmd = command_of(p);
        cmd.build();
        man_pages(cmd, None, &mut pages);
    }
    let mut written = Vec::new();
    for (file, page) in pages {
        let path = dir.join(file);
        write_file(&path, &page)?;
        written.push(path.display().to_string());
    }
    ctx.emit(&written, || {
        outln!("{} pages in {}", written.len(), dir.display());
    });
    Ok(())
}

/// The daemon's log directory: its own word when it runs, else the
/// default for the default data dir.
fn log_dir(ctx: &Ctx) -> Result<PathBuf, Failure> {
    match ctx.connect() {
        Ok(mut c) => Ok(PathBuf::from(c.call::<SystemInfo>(&Empty {})?.log_dir)),
        Err(Failure::Unreachable(_)) if ctx.remote.is_none() => {
            Ok(paths::default_log_dir(&paths::default_data_dir()?))
        }
        Err(e) => Err(e),
    }
}

/// The daemon's log files, oldest first (`tradingd.YYYY-MM-DD.log`).
fn log_files(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        Failure::Other(format!(
            "{}: {e} (give the directory with --dir)",
            dir.display()
        ))
    })?;
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("tradingd."))
                && p.extension().is_some_and(|e| e == "log")
        })
        .collect();
    files.sort();
    Ok(files)
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// A line's level, if it starts a record (`<time>  INFO target: …`).
fn level_of(line: &str) -> Option<Level> {
    let mut words = line.split_whitespace();
    words.next()?;
    match words.next()? {
        "TRACE" => Some(Level::Trace),
        "DEBUG" => Some(Level::Debug),
        "INFO" => Some(Level::Info),
        "WARN" => Some(Level::Warn),
        "ERROR" => Some(Level::Error),
        _ => None,
    }
}

/// Keeps records at `min` or above; a record's continuation lines go with it.
struct LevelFilter {
    min: Level,
    keeping: bool,
}

impl LevelFilter {
    fn keep(&mut self, line: &str) -> bool {
        if let Some(l) = level_of(line) {
            self.keeping = l >= self.min;
        }
        self.keeping
    }
}

/// `tradectl logs`: the last `lines` records at `level` or above of the
/// newest log file, then (`--follow`) new ones as they are written,
/// following the daily rotation.
pub fn logs(
    ctx: &Ctx,
    dir: Option<PathBuf>,
    level: Level,
    lines: usize,
    follow: bool,
) -> Result<(), Failure> {
    let dir = match dir {
        Some(d) => d,
        None => log_dir(ctx)?,
    };
    let mut filter = LevelFilter {
        min: level,
        keeping: true,
    };
    let files = log_files(&dir)?;
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    // The newest files, enough of them for `lines` records.
    for f in files.iter().rev().take(2).rev() {
        let text = std::fs::read(f).map_err(|e| Failure::Other(format!("{}: {e}", f.display())))?;
        for line in String::from_utf8_lossy(&text).lines() {
            if filter.keep(line) {
                tail.push_back(line.to_owned());
                if tail.len() > lines {
                    tail.pop_front();
                }
            }
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for l in &tail {
        if writeln!(out, "{l}").is_err() {
            return Ok(());
        }
    }
    let _ = out.flush();
    drop(out);
    if !follow {
        return Ok(());
    }
    let mut current = files.last().cloned();
    let mut offset = current
        .as_ref()
        .and_then(|f| std::fs::metadata(f).ok())
        .map_or(0, |m| m.len());
    let mut partial = String::new();
    loop {
        let newest = log_files(&dir)?.pop();
        if newest != current {
            // Rotated: finish nothing more of the old one; read the new from its start.
            current = newest;
            offset = 0;
            partial.clear();
        }
        if let Some(f) = &current
            && let Ok(mut file) = std::fs::File::open(f)
        {
            let len = file.metadata().map_or(0, |m| m.len());
            if len < offset {
                offset = 0;
            }
            if len > offset && file.seek(SeekFrom::Start(offset)).is_ok() {
                let mut chunk = Vec::new();
                let _ = Read::by_ref(&mut file)
                    .take(len - offset)
                    .read_to_end(&mut chunk);
                offset += chunk.len() as u64;
                partial.push_str(&String::from_utf8_lossy(&chunk));
                let mut out = std::io::stdout().lock();
                while let Some(nl) = partial.find('\n') {
                    let line: String = partial.drain(..=nl).collect();
                    let line = line.trim_end_matches('\n');
                    if filter.keep(line) && writeln!(out, "{line}").is_err() {
                        return Ok(());
                    }
                }
                let _ = out.flush();
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A text's lines through the filter (for its tests).
#[cfg(test)]
fn filtered(text: &str, min: Level) -> Vec<String> {
    let mut f = LevelFilter { min, keeping: true };
    text.lines()
        .filter(|l| f.keep(l))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_filter_keeps_records_at_or_above_and_their_continuations() {
        let text = "2026-12-06T10:00:00Z  INFO tradingd: started\n\
                    2026-12-06T10:00:01Z DEBUG tradingd: detail\n  more detail\n\
                    2026-12-06T10:00:02Z  WARN tradingd: careful\n  why: reasons\n\
                    2026-12-06T10:00:03Z ERROR tradingd: broke\n";
        assert_eq!(
            filtered(text, Level::Warn),
            vec![
                "2026-12-06T10:00:02Z  WARN tradingd: careful",
                "  why: reasons",
                "2026-12-06T10:00:03Z ERROR tradingd: broke"
            ]
        );
        assert_eq!(filtered(text, Level::Debug).len(), 6);
        assert_eq!(filtered(text, Level::Info).len(), 4);
    }
}
