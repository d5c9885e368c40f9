//! A user strategy's declared parameters: their JSON Schema (for the
//! catalogue, forms and sweeps) and the strict check of a spec's `params`
//! against them, the same way for both tiers.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tradedesk_core::strategy::ParamError;

/// What the catalogue shows of a strategy besides its name.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Description {
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub rules: String,
    #[serde(default)]
    pub params: Vec<ParamDecl>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Int,
    Float,
    Bool,
}

/// One declared parameter. Booleans are 0 or 1 in `default`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamDecl {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ParamType,
    pub default: f64,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub description: String,
}

/// Most parameters a strategy may declare.
pub const MAX_PARAMS: usize = 64;

/// Checks the declarations themselves (at upload): names, ranges, defaults.
pub fn check(decls: &[ParamDecl]) -> Result<(), String> {
    if decls.len() > MAX_PARAMS {
        return Err(format!(
            "declares {} parameters, at most {MAX_PARAMS}",
            decls.len()
        ));
    }
    for (i, d) in decls.iter().enumerate() {
        let at = format!("params[{i}]");
        if d.name.is_empty()
            || d.name.len() > 64
            || !d
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(format!(
                "{at}: name `{}` must be 1–64 letters, digits or `_`",
                d.name
            ));
        }
        if decls[..i].iter().any(|e| e.name == d.name) {
            return Err(format!("{at}: `{}` is declared twice", d.name));
        }
        if let (Some(lo), Some(hi)) = (d.min, d.max)
            && lo > hi
        {
            return Err(format!("{at} `{}`: min {lo} is above max {hi}", d.name));
        }
        value_in(d, d.default).map_err(|m| format!("{at} `{}`: default {m}", d.name))?;
    }
    Ok(())
}

#[allow(clippy::float_cmp)] // exactly 0 or 1 is what a boolean is
fn value_in(d: &ParamDecl, v: f64) -> Result<(), String> {
    if !v.is_finite() {
        return Err(format!("must be a finite number, got {v}"));
    }
    match d.kind {
        ParamType::Int if v.fract() != 0.0 || v.abs() > 9.0e15 => {
            return Err(format!("must be a whole number, got {v}"));
        }
        ParamType::Bool if v != 0.0 && v != 1.0 => {
            return Err(format!("must be true or false, got {v}"));
        }
        _ => {}
    }
    if let Some(lo) = d.min
        && v < lo
    {
        return Err(format!("must be at least {lo}, got {v}"));
    }
    if let Some(hi) = d.max
        && v > hi
    {
        return Err(format!("must be at most {hi}, got {v}"));
    }
    Ok(())
}

fn typed(d: &ParamDecl, v: f64) -> Value {
    match d.kind {
        ParamType::Int => json!(v as i64),
        ParamType::Float => json!(v),
        ParamType::Bool => json!(v != 0.0),
    }
}

/// The JSON Schema of the parameters object.
pub fn schema(decls: &[ParamDecl]) -> Value {
    let mut props = Map::new();
    for d in decls {
        let mut p = Map::new();
        let t = match d.kind {
            ParamType::Int => "integer",
            ParamType::Float => "number",
            ParamType::Bool => "boolean",
        };
        p.insert("type".into(), json!(t));
        p.insert("default".into(), typed(d, d.default));
        if d.kind != ParamType::Bool {
            if let Some(lo) = d.min {
                p.insert("minimum".into(), typed(d, lo));
            }
            if let Some(hi) = d.max {
                p.insert("maximum".into(), typed(d, hi));
            }
        }
        if !d.description.is_empty() {
            p.insert("description".into(), json!(d.description));
        }
        props.insert(d.name.clone(), Value::Object(p));
    }
    json!({
        "type": "object",
        "properties": props,
        "additionalProperties": false,
    })
}

/// Checks `params` strictly (unknown fields refused, types and ranges
/// checked, the field at fault named); the values in declaration order
/// and the normalized object (defaults filled in).
pub fn parse(decls: &[ParamDecl], params: &Value) -> Result<(Vec<f64>, Value), ParamError> {
    let empty = Map::new();
    let given = match params {
        Value::Object(m) => m,
        Value::Null => &empty,
        other => {
            return Err(ParamError::new(
                "params",
                format!("must be an object, got {other}"),
            ));
        }
    };
    if let Some(k) = given.keys().find(|k| !decls.iter().any(|d| &d.name == *k)) {
        let known: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();
        return Err(ParamError::new(
            format!("params.{k}"),
            format!("unknown parameter (declared: {})", known.join(", ")),
        ));
    }
    let mut values = Vec::with_capacity(decls.len());
    let mut normalized = Map::new();
    for d in decls {
        let field = format!("params.{}", d.name);
        let v = match given.get(&d.name) {
            None => d.default,
            Some(v) => match (d.kind, v) {
                (ParamType::Bool, Value::Bool(b)) => f64::from(u8::from(*b)),
                (ParamType::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => {
                    n.as_f64().unwrap_or(f64::NAN)
                }
                (ParamType::Float, Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
                (kind, v) => {
                    return Err(ParamError::new(
                        field,
                        format!("must be {}, got {v}", kind_name(kind)),
                    ));
                }
            },
        };
        value_in(d, v).map_err(|m| ParamError::new(field, m))?;
        values.push(v);
        normalized.insert(d.name.clone(), typed(d, v));
    }
    Ok((values, Value::Object(normalized)))
}

fn kind_name(k: ParamType) -> &'static str {
    match k {
        ParamType::Int => "a whole number",
        ParamType::Float => "a number",
        ParamType::Bool => "true or false",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls() -> Vec<ParamDecl> {
        vec![
            ParamDecl {
                name: "fast".into(),
                kind: ParamType::Int,
                default: 10.0,
                min: Some(1.0),
                max: Some(1000.0),
                description: "fast".into(),
            },
            ParamDecl {
                name: "k".into(),
                kind: ParamType::Float,
                default: 2.0,
                min: None,
                max: None,
                description: String::new(),
            },
            ParamDecl {
                name: "on".into(),
                kind: ParamType::Bool,
                default: 1.0,
                min: None,
                max: None,
                description: String::new(),
            },
        ]
    }

    #[test]
    fn params_are_checked_field_by_field_and_defaults_filled() {
        let d = decls();
        let (v, n) = parse(&d, &json!({ "fast": 5 })).expect("valid");
        assert_eq!(v, vec![5.0, 2.0, 1.0]);
        assert_eq!(n, json!({ "fast": 5, "k": 2.0, "on": true }));
        let e = parse(&d, &json!({ "fast": 0 })).expect_err("below min");
        assert_eq!(e.field, "params.fast");
        assert!(e.message.contains("at least 1"), "{e}");
        let e = parse(&d, &json!({ "fast": 2.5 })).expect_err("not whole");
        assert_eq!(e.field, "params.fast");
        let e = parse(&d, &json!({ "slow": 3 })).expect_err("unknown");
        assert_eq!(e.field, "params.slow");
        let e = parse(&d, &json!({ "on": 1 })).expect_err("bool");
        assert_eq!(e.field, "params.on");
        assert!(parse(&d, &json!([1])).is_err());
    }

    #[test]
    fn declarations_are_checked() {
        let mut d = decls();
        assert!(check(&d).is_ok());
        d[0].default = 0.0;
        assert!(
            check(&d)
                .expect_err("default out of range")
                .contains("default")
        );
        let mut d = decls();
        d[1].name = "fast".into();
        assert!(check(&d).expect_err("twice").contains("twice"));
        let mut d = decls();
        d[2].name = "bad name".into();
        assert!(check(&d).is_err());
        let s = schema(&decls());
        assert_eq!(s["properties"]["fast"]["maximum"], json!(1000));
        assert_eq!(s["properties"]["on"]["type"], json!("boolean"));
    }
}
