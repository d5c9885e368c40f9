//! The OpenAPI 3.1 document of the HTTP API, generated from the catalogue:
//! one operation per method at its verb and route, its params as path,
//! query or body, its result, the error shape and the bearer scheme. The
//! schemas are the catalogue's JSON Schemas (2020-12, which OpenAPI 3.1
//! uses as is); their definitions move to `components/schemas`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{ErrorDescriptor, MethodDescriptor, Scope, Verb, method_descriptors};

/// Moves a schema's `$defs` into `components`, renaming a definition whose
/// name is taken by a different one, and points its `$ref`s there.
fn adopt(schema: &Value, components: &mut Map<String, Value>) -> Value {
    let mut schema = schema.clone();
    let defs = schema
        .as_object_mut()
        .and_then(|o| o.remove("$defs"))
        .and_then(|d| d.as_object().cloned())
        .unwrap_or_default();
    // First choose the names, then rewrite every reference with them.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for name in defs.keys() {
        let mut chosen = name.clone();
        let mut n = 2;
        while components.get(&chosen).is_some_and(|c| c != &defs[name]) {
            chosen = format!("{name}{n}");
            n += 1;
        }
        names.insert(name.clone(), chosen);
    }
    for (name, def) in &defs {
        let mut def = def.clone();
        rewrite(&mut def, &names);
        components.insert(names[name].clone(), def);
    }
    if let Some(o) = schema.as_object_mut() {
        o.remove("$schema");
    }
    rewrite(&mut schema, &names);
    schema
}

fn rewrite(v: &mut Value, names: &BTreeMap<String, String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/$defs/")
            {
                let to = names.get(name).cloned().unwrap_or_else(|| name.to_owned());
                *r = format!("#/components/schemas/{to}");
            }
            for x in o.values_mut() {
                rewrite(x, names);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, names)),
        _ => {}
    }
}

fn operation(m: &MethodDescriptor, components: &mut Map<String, Value>) -> Value {
    let params = adopt(&m.params_schema, components);
    let result = adopt(&m.result_schema, components);
    let in_path: Vec<&str> = m
        .http_path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect();
    let props = params
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let required: Vec<&str> = params
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let with_body = matches!(m.http_verb, Verb::Post | Verb::Put | Verb::Patch);
    let mut parameters = Vec::new();
    let mut body_props = Map::new();
    for (name, schema) in &props {
        if in_path.contains(&name.as_str()) {
            parameters
                .push(json!({ "name": name, "in": "path", "required": true, "schema": schema }));
        } else if with_body {
            body_props.insert(name.clone(), schema.clone());
        } else {
            parameters.push(json!({
                "name": name, "in": "query",
                "required": required.contains(&name.as_str()), "schema": schema,
            }));
        }
    }
    let mut op = json!({
        "operationId": m.name,
        "summary": m.summary,
        "tags": [m.name.split('.').next().unwrap_or_default()],
        "x-scope": m.scope.as_str(),
        "parameters": parameters,
        "responses": {
            "200": { "description": "The method's result.", "content": { "application/json": { "schema": result } } },
            "default": { "description": "An error of the catalogue's table.", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ApiError" } } } }
        }
    });
    if with_body {
        let mut body = params.clone();
        if let Some(o) = body.as_object_mut() {
            o.insert("properties".into(), Value::Object(body_props));
            if let Some(Value::Array(r)) = o.get_mut("required") {
                r.retain(|x| x.as_str().is_some_and(|n| !in_path.contains(&n)));
            }
        }
        op["requestBody"] =
            json!({ "required": true, "content": { "application/json": { "schema": body } } });
    }
    if m.scope != Scope::Public {
        op["security"] = json!([{ "bearer": [] }]);
    }
    op
}

/// The whole document.
pub fn document(version: &str) -> Value {
    let mut components = Map::new();
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for m in method_descriptors() {
        let op = operation(&m, &mut components);
        paths
            .entry(m.http_path.clone())
            .or_default()
            .insert(m.http_verb.as_str().to_ascii_lowercase(), op);
    }
    components.insert(
        "ApiError".into(),
        json!({
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": { "type": "integer", "description": "The catalogue's error code (see x-error-codes)." },
                "message": { "type": "string" },
                "data": { "description": "Details, such as the field at fault." }
            }
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "tradedesk",
            "version": version,
            "description": "The tradingd API: the same methods as the Unix socket's JSON-RPC, at REST routes. Log in with POST /api/v1/auth/login and send `Authorization: Bearer <access_token>`."
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } }
        },
        "x-error-codes": ErrorDescriptor::all(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_is_an_operation_and_every_ref_resolves() {
        let doc = document("test");
        let ops: usize = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|p| p.as_object().map_or(0, Map::len))
            .sum();
        assert_eq!(ops, method_descriptors().len());
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let text = doc.to_string();
        assert!(!text.contains("#/$defs/"), "a reference left unmoved");
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap_or_default();
            assert!(schemas.contains_key(name), "dangling reference to {name}");
        }
        // A path parameter and a body, as the transport reads them.
        let get = &doc["paths"]["/api/v1/orders/{id}"]["get"];
        let id = get["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "id"))
            .expect("the id parameter");
        assert_eq!(id["in"], "path");
        let place = &doc["paths"]["/api/v1/orders"]["post"];
        assert!(
            place["requestBody"]["content"]["application/json"]["schema"]["properties"]["qty"]
                .is_object()
        );
        assert!(
            doc["paths"]["/api/v1/auth/login"]["post"]
                .get("security")
                .is_none()
        );
    }

    /// The committed copy (`docs/openapi.json`) is what the code generates;
    /// `TRADEDESK_UPDATE_OPENAPI=1 cargo test -p tradedesk-core openapi`
    /// rewrites it.
    #[test]
    fn the_committed_document_has_not_drifted() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let doc = serde_json::to_string_pretty(&document(env!("CARGO_PKG_VERSION"))).expect("json")
            + "\n";
        if std::env::var_os("TRADEDESK_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &doc).expect("write docs/openapi.json");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == doc,
            "docs/openapi.json differs from the catalogue: run TRADEDESK_UPDATE_OPENAPI=1 cargo test -p tradedesk-core openapi and commit it"
        );
    }
}
