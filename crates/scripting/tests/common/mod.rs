//! What the scripting tests share: a WebAssembly module in the text
//! format with the whole ABI (version 1).

/// `extra` comes first (imports, globals, data), `on_bar` is the body of
/// `tradedesk_on_bar`, and `state`, when given, replaces the trivial
/// `tradedesk_save`/`tradedesk_alloc`/`tradedesk_restore`.
pub fn wat_module(extra: &str, on_bar: &str, state: Option<&str>) -> String {
    let desc = r#"{"summary":"t","rules":"t","params":[]}"#;
    let state = state.unwrap_or(
        r#"(func (export "tradedesk_save") (result i64) i64.const 0)
  (func (export "tradedesk_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "tradedesk_restore") (param i32 i32) (result i32) i32.const 0)"#,
    );
    format!(
        r#"(module
  {extra}
  (memory (export "memory") 1)
  (data (i32.const 16) "{}")
  (func (export "tradedesk_abi_version") (result i32) i32.const 1)
  (func (export "tradedesk_describe") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const {})))
  (func (export "tradedesk_init") (result i32) i32.const 0)
  (func (export "tradedesk_warmup") (result i32) i32.const 0)
  (func (export "tradedesk_lookback") (result i32) i32.const 0)
  (func (export "tradedesk_on_start"))
  (func (export "tradedesk_on_bar") (param i64 f64 f64 f64 f64 f64) {on_bar})
  (func (export "tradedesk_on_fill") (param i32 f64 f64 i32))
  {state})"#,
        desc.replace('"', "\\\""),
        desc.len()
    )
}
