//! Human output: aligned text for people; `--json` bypasses all of this.

use std::fmt::Write;

use tradedesk_core::api::MethodDescriptor;
use tradedesk_core::api::system::{Info, PreviousShutdown};

pub fn duration_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub fn status(info: &Info) -> String {
    let previous = match info.previous_shutdown {
        PreviousShutdown::None => "first start",
        PreviousShutdown::Clean => "clean",
        PreviousShutdown::Unclean => "UNCLEAN (the previous run was killed or crashed)",
    };
    let rows = [
        (
            "daemon",
            format!("tradingd {} running (pid {})", info.version, info.pid),
        ),
        (
            "uptime",
            format!(
                "{} (since {})",
                duration_ms(info.uptime_ms),
                info.started_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        ),
        ("socket", info.socket.clone()),
        ("data dir", info.data_dir.clone()),
        (
            "database",
            format!("{} ({})", info.db_path, bytes(info.db_size_bytes)),
        ),
        (
            "run",
            format!("#{}, previous shutdown {previous}", info.run_number),
        ),
        ("clients", info.connections.to_string()),
    ];
    let mut out = String::new();
    for (k, v) in rows {
        let _ = writeln!(out, "{k:<10} {v}");
    }
    out
}

pub fn method_table(methods: &[MethodDescriptor]) -> String {
    let name_w = methods.iter().map(|m| m.name.len()).max().unwrap_or(0);
    let route_w = methods
        .iter()
        .map(|m| m.http_verb.as_str().len() + 1 + m.http_path.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for m in methods {
        let route = format!("{} {}", m.http_verb.as_str(), m.http_path);
        let _ = writeln!(
            out,
            "{:<name_w$}  {:<6} {:<route_w$}  {}",
            m.name,
            m.scope.as_str(),
            route,
            m.summary
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_well() {
        assert_eq!(duration_ms(59_999), "59s");
        assert_eq!(duration_ms(61_000), "1m 1s");
        assert_eq!(duration_ms(3_660_000), "1h 1m");
        assert_eq!(duration_ms(90_000_000), "1d 1h");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
