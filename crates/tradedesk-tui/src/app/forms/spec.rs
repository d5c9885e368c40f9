//! The strategy spec's fields in the new-bot and new-backtest forms: the
//! parameters from the strategy's JSON Schema, the sizing and exit options from
//! theirs, and the values read back as the spec's JSON.

use crate::view::{Field, Form};

/// The strategy's parameters as form fields (`param.NAME`), from its
/// JSON Schema, with their defaults.
pub fn param_fields(schema: &serde_json::Value) -> Vec<Field> {
    let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, p)| {
            let default = p.get("default").map_or(String::new(), |d| match d {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let hint = p
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or("")
                .to_owned();
            Field::text(&format!("param.{name}"), name, &default, &hint)
        })
        .collect()
}

/// The options every strategy takes (`sizing.*`, `exits.*`) as form
/// fields, from their JSON Schemas: enumerations and booleans become
/// choices, the rest text; defaults and hints from the schema.
pub fn option_fields() -> Vec<Field> {
    let mut out = Vec::new();
    for (group, schema, defaults) in tradedesk_core::strategy::option_schemas() {
        let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else {
            continue;
        };
        let resolve = |p: &serde_json::Value| -> serde_json::Value {
            let target = p
                .get("$ref")
                .or_else(|| p.get("anyOf")?.get(0)?.get("$ref"))
                .and_then(|r| r.as_str())
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .and_then(|name| schema.get("$defs")?.get(name));
            target.cloned().unwrap_or_else(|| p.clone())
        };
        for (name, p) in props {
            let def = resolve(p);
            let key = format!("{group}.{name}");
            let label: String = {
                let words = name.replace("_pct", " %").replace('_', " ");
                let words = if group == "sizing" && !name.contains('_') {
                    format!("sizing {words}")
                } else {
                    words
                };
                let mut c = words.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            };
            let hint = p
                .get("description")
                .or_else(|| def.get("description"))
                .and_then(|d| d.as_str())
                .unwrap_or("")
                .to_owned();
            let default = match defaults.get(name) {
                Some(serde_json::Value::String(v)) => v.clone(),
                Some(serde_json::Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            let consts: Vec<&str> = def
                .get("oneOf")
                .and_then(|o| o.as_array())
                .map(|o| o.iter().filter_map(|v| v.get("const")?.as_str()).collect())
                .unwrap_or_default();
            let mut field = if !consts.is_empty() {
                Field::choice(&key, &label, &consts, &default)
            } else if p.get("type").and_then(|t| t.as_str()) == Some("boolean") {
                Field::choice(&key, &label, &["no", "yes"], &default)
            } else {
                Field::text(&key, &label, &default, "")
            };
            field.hint = hint;
            out.push(field);
        }
    }
    out
}

/// The `sizing.*` and `exits.*` fields as the spec's `sizing` and `exits`
/// objects (empty exits left out).
pub(super) fn options_of(form: &Form) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    for group in ["sizing", "exits"] {
        let mut m = serde_json::Map::new();
        for f in form
            .fields
            .iter()
            .filter(|f| f.key.split_once('.').is_some_and(|(g, _)| g == group))
        {
            let name = &f.key[group.len() + 1..];
            let v = f.value.trim();
            if v.is_empty() {
                continue;
            }
            let value = match (f.choices.as_slice(), v) {
                ([a, b], "yes" | "no") if a == "no" && b == "yes" => (v == "yes").into(),
                _ => v.into(),
            };
            m.insert(name.to_owned(), value);
        }
        if !m.is_empty() {
            out.insert(group.to_owned(), serde_json::Value::Object(m));
        }
    }
    out
}

/// Form fields `param.*` as a params object: numbers and booleans as such.
pub(super) fn params_of(form: &Form) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for f in form.fields.iter().filter(|f| f.key.starts_with("param.")) {
        let v = f.value.trim();
        if v.is_empty() {
            continue;
        }
        let value = serde_json::from_str::<serde_json::Value>(v)
            .ok()
            .filter(|j| j.is_number() || j.is_boolean())
            .unwrap_or_else(|| serde_json::Value::String(v.to_owned()));
        m.insert(f.key["param.".len()..].to_owned(), value);
    }
    serde_json::Value::Object(m)
}
