//! The layout rules of DESIGN.md, checked on the sources so that they
//! cannot quietly come back: no file-level import cycle inside `core`;
//! the daemon's services never reach into its handlers; the clients and
//! `core` depend on no storage, transport or UI crate they must not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn crates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates")
}

/// Every `.rs` file under `src`, by module path (`api::orders`, `` for the
/// crate root), with its test module cut off.
fn modules(src: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, src, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(src).expect("under src").with_extension("");
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("::");
                let name = if name == "lib" || name == "main" {
                    String::new()
                } else {
                    name
                };
                let text = std::fs::read_to_string(&p).expect("readable source");
                let text = match text.find("#[cfg(test)]\nmod tests") {
                    Some(i) => text[..i].to_owned(),
                    None => text,
                };
                out.insert(name, text);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// The longest module path that is a file, for a path like `a::b::Item`.
fn resolve<'a>(files: &'a BTreeMap<String, String>, path: &str) -> Option<&'a str> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|k| parts[..k].join("::"))
        .find_map(|m| files.get_key_value(&m).map(|(k, _)| k.as_str()))
}

/// Identifiers after `prefix` in `text`, with `{a, b::c}` groups expanded
/// one level: `crate::x::{y, z}` gives `x::y` and `x::z`.
fn paths_after(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let head = rest[..end].trim_end_matches(':').to_owned();
        if rest[end..].starts_with('{') && rest[..end].ends_with("::") {
            let close = rest[end..].find('}').map_or(rest.len(), |j| end + j);
            for item in rest[end + 1..close].split([',', '{', ' ', '\n']) {
                let item = item.trim().trim_end_matches(':');
                if !item.is_empty() && item != "self" {
                    out.push(format!("{head}::{item}"));
                }
            }
        }
        out.push(head);
    }
    out
}

/// Which files each file refers to through `crate::` and `super::` paths.
fn edges(files: &BTreeMap<String, String>) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut out = BTreeMap::new();
    for (m, text) in files {
        let text: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let parent = m.rsplit_once("::").map_or("", |(p, _)| p);
        let mut to = BTreeSet::new();
        for p in paths_after(&text, "crate::") {
            if let Some(t) = resolve(files, &p) {
                to.insert(t);
            }
        }
        for p in paths_after(&text, "super::") {
            let full = if parent.is_empty() {
                p
            } else {
                format!("{parent}::{p}")
            };
            if let Some(t) = resolve(files, &full).or_else(|| resolve(files, parent)) {
                to.insert(t);
            }
        }
        to.remove(m.as_str());
        out.insert(m.as_str(), to);
    }
    out
}

/// The strongly connected components with more than one file.
fn cycles<'a>(g: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<Vec<&'a str>> {
    // Reachability closure: small graphs, so plain search from each node.
    let reach = |from: &'a str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(v) = stack.pop() {
            for w in g.get(v).into_iter().flatten() {
                if seen.insert(*w) {
                    stack.push(w);
                }
            }
        }
        seen
    };
    let all: BTreeMap<&str, BTreeSet<&str>> = g.keys().map(|v| (*v, reach(v))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for v in g.keys() {
        if done.contains(v) || !all[v].contains(v) {
            continue;
        }
        let comp: Vec<&str> = all[v]
            .iter()
            .copied()
            .filter(|w| all[w].contains(v))
            .collect();
        done.extend(comp.iter().copied());
        out.push(comp);
    }
    out
}

#[test]
fn core_has_no_import_cycles() {
    let files = modules(&crates().join("core/src"));
    assert!(files.len() > 30, "core's sources were not found");
    let found = cycles(&edges(&files));
    assert!(
        found.is_empty(),
        "file-level import cycles in core: {found:?}"
    );
    println!(
        "figure | structure | core files / import cycles | {} / 0",
        files.len()
    );
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let files: BTreeMap<String, String> = [
        ("a".to_owned(), "use crate::b::X;".to_owned()),
        ("b".to_owned(), "use crate::c::{self, Y};".to_owned()),
        ("c".to_owned(), "fn f() { crate::a::g() }".to_owned()),
        ("d".to_owned(), "use super::a;".to_owned()),
    ]
    .into();
    assert_eq!(cycles(&edges(&files)), vec![vec!["a", "b", "c"]]);
}

#[test]
fn services_never_reach_into_handlers() {
    let files = modules(&crates().join("tradingd/src"));
    let g = edges(&files);
    let wrong: Vec<(&str, &str)> = g
        .iter()
        .filter(|(from, _)| !from.starts_with("handlers"))
        .flat_map(|(from, to)| to.iter().map(move |t| (*from, *t)))
        .filter(|(from, to)| to.starts_with("handlers") && !from.is_empty())
        .collect();
    assert!(
        wrong.is_empty(),
        "the daemon's services, store and transports use handlers: {wrong:?}"
    );
}

#[test]
fn clients_and_core_keep_to_their_dependencies() {
    let deps = |krate: &str| -> BTreeSet<String> {
        let text =
            std::fs::read_to_string(crates().join(krate).join("Cargo.toml")).expect("a manifest");
        let doc: toml::Table = text.parse().expect("a valid manifest");
        ["dependencies", "build-dependencies"]
            .iter()
            .filter_map(|s| doc.get(*s).and_then(|d| d.as_table()))
            .flat_map(|t| t.iter())
            // Optional dependencies (behind a feature, like core's `client`
            // and `clap`) are not built unless asked for.
            .filter(|(_, spec)| spec.get("optional").and_then(toml::Value::as_bool) != Some(true))
            .map(|(name, _)| name.clone())
            .collect()
    };
    for (krate, banned) in [
        (
            "core",
            &[
                "rusqlite",
                "rusqlite_migration",
                "axum",
                "clap",
                "ratatui",
                "crossterm",
            ][..],
        ),
        (
            "tradectl",
            &["rusqlite", "rusqlite_migration", "tradingd"][..],
        ),
        (
            "tradedesk-tui",
            &["rusqlite", "rusqlite_migration", "tradingd"][..],
        ),
    ] {
        let d = deps(krate);
        for b in banned {
            assert!(!d.contains(*b), "{krate} depends on {b}");
        }
    }
}

/// `(file stem, text)` of every `.rs` file directly in `dir`.
fn files_in(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("a source folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            (stem, std::fs::read_to_string(&p).expect("readable source"))
        })
        .collect();
    out.sort();
    out
}

/// The identifiers declared by `method!` blocks in a catalogue file.
fn declared_methods(text: &str) -> Vec<String> {
    text.split("method! {")
        .skip(1)
        .filter_map(|block| {
            block
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with("///"))
                .and_then(|l| l.split_whitespace().next())
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn handler_files_mirror_the_catalogue() {
    let api = files_in(&crates().join("core/src/api"));
    let handlers = files_in(&crates().join("tradingd/src/handlers"));
    let mut group_of = BTreeMap::new();
    for (stem, text) in &api {
        for m in declared_methods(text) {
            group_of.insert(m, stem.clone());
        }
    }
    assert!(
        group_of.len() > 100,
        "the catalogue's methods were not found"
    );
    let mut handled = 0;
    for (stem, text) in &handlers {
        for part in text.split("impl Handle<").skip(1) {
            let m = part.split('>').next().unwrap_or_default();
            let group = group_of
                .get(m)
                .map_or("(not in the catalogue)", String::as_str);
            assert_eq!(
                group, stem,
                "`{m}` is declared in api/{group}.rs but handled in handlers/{stem}.rs"
            );
            handled += 1;
        }
    }
    assert_eq!(handled, group_of.len(), "every method is handled once");
    println!(
        "figure | structure | methods / handler files mirroring api files | {handled} / {}",
        handlers.len()
    );
}
