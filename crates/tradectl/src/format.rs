//! Human output: aligned text for people; `--json` bypasses all of this.

use std::fmt::Write;

use tradedesk_core::api::MethodDescriptor;
use tradedesk_core::api::system::{ComponentStatus, Health, HealthStatus, Info, PreviousShutdown};

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

/// A time for tables: UTC, to the second.
pub fn ts(t: tradedesk_core::time::Timestamp) -> String {
    t.to_datetime().map_or_else(
        || t.to_string(),
        |d| d.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// A gain or loss in the quote currency: `+` for gains, so the sign reads
/// without colour; two decimals (see `core::display`).
pub fn signed(d: rust_decimal::Decimal) -> String {
    tradedesk_core::display::signed_money(d)
}

/// A quote amount at two decimals.
pub fn money(d: rust_decimal::Decimal) -> String {
    tradedesk_core::display::money(d)
}

/// A text table. Columns whose cells are all numbers are right-aligned on
/// the decimal point; others are left-aligned.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn is_number(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    !t.is_empty()
        && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && t.bytes().filter(|&b| b == b'.').count() <= 1
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as HTML, cells escaped; numbers aligned right.
    pub fn html(&self) -> String {
        let mut out = String::from("<table><thead><tr>");
        for h in &self.headers {
            out.push_str("<th>");
            out.push_str(&escape(h));
            out.push_str("</th>");
        }
        out.push_str("</tr></thead><tbody>\n");
        for r in &self.rows {
            out.push_str("<tr>");
            for i in 0..self.headers.len() {
                let c = r.get(i).map_or("", String::as_str);
                out.push_str(if is_number(c) || c == "-" {
                    "<td class=\"n\">"
                } else {
                    "<td>"
                });
                out.push_str(&escape(c));
                out.push_str("</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n");
        out
    }
}

/// Text for HTML: `&`, `<`, `>` and quotes escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.headers.len();
        let mut cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                (0..n)
                    .map(|i| r.get(i).cloned().unwrap_or_default())
                    .collect()
            })
            .collect();
        for col in 0..n {
            let numeric = !cells.is_empty()
                && cells
                    .iter()
                    .all(|r| r[col].is_empty() || r[col] == "-" || is_number(&r[col]));
            if !numeric {
                continue;
            }
            // Pad fractions so the points line up.
            let frac = cells
                .iter()
                .map(|r| r[col].find('.').map_or(0, |i| r[col].len() - i))
                .max()
                .unwrap_or(0);
            for r in &mut cells {
                let c = &mut r[col];
                if is_number(c) {
                    let have = c.find('.').map_or(0, |i| c.len() - i);
                    c.push_str(&" ".repeat(frac - have));
                }
            }
        }
        let widths: Vec<usize> = (0..n)
            .map(|i| {
                cells
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([self.headers[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric: Vec<bool> = (0..n)
            .map(|i| {
                !cells.is_empty()
                    && cells
                        .iter()
                        .all(|r| r[i].trim().is_empty() || r[i] == "-" || is_number(r[i].trim()))
            })
            .collect();
        let line = |f: &mut std::fmt::Formatter<'_>, row: &[String]| -> std::fmt::Result {
            let parts: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if numeric[i] {
                        format!("{c:>w$}", w = widths[i])
                    } else {
                        format!("{c:<w$}", w = widths[i])
                    }
                })
                .collect();
            writeln!(f, "{}", parts.join("  ").trim_end())
        };
        line(f, &self.headers)?;
        for r in &cells {
            line(f, r)?;
        }
        Ok(())
    }
}

pub fn status(info: &Info, health: &Health) -> String {
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
        ("health", health_line(health)),
    ];
    let mut out = String::new();
    for (k, v) in rows {
        let _ = writeln!(out, "{k:<10} {v}");
    }
    for c in health
        .components
        .iter()
        .filter(|c| c.status != ComponentStatus::Ok)
    {
        let _ = writeln!(
            out,
            "{:<10} {}: {} {}",
            "",
            c.name,
            match c.status {
                ComponentStatus::Ok => "ok",
                ComponentStatus::Stalled => "STALLED",
                ComponentStatus::Suspended => "SUSPENDED",
                ComponentStatus::Disconnected => "DISCONNECTED",
            },
            c.detail.as_deref().unwrap_or_default()
        );
    }
    out
}

fn health_line(h: &Health) -> String {
    match h.status {
        HealthStatus::Ok => format!("ok ({} components making progress)", h.components.len()),
        HealthStatus::Degraded => "DEGRADED".to_owned(),
        HealthStatus::ShuttingDown => "shutting down".to_owned(),
    }
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
    fn tables_align_money_on_the_decimal_point() {
        let mut t = Table::new(&["asset", "free"]);
        t.row(vec!["USDT".into(), "9349.3184685".into()]);
        t.row(vec!["BTC".into(), "0.01".into()]);
        t.row(vec!["SOL".into(), "12".into()]);
        let text = t.to_string();
        let points: Vec<usize> = text
            .lines()
            .skip(1)
            .map(|l| l.find('.').unwrap_or_else(|| l.trim_end().len()))
            .collect();
        assert_eq!(points[0], points[1], "{text}");
        assert_eq!(
            points[2], points[0],
            "an integer ends where the points are:\n{text}"
        );
        assert_eq!(signed("1.5".parse().unwrap()), "+1.50");
        assert_eq!(signed("-2".parse().unwrap()), "-2.00");
    }

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
