//! The quick tier: strategies as Lua 5.4 files.
//!
//! Each strategy instance has its own Lua state with only the `math`,
//! `string` and `table` libraries (no `io`, `os`, `load`, `require`,
//! `dofile`, `string.dump`, `collectgarbage`), a memory limit, and an
//! instruction budget per call. A file declares:
//!
//! ```lua
//! summary = "…"; rules = "…"          -- optional, for the catalogue
//! params = { { name = "fast", type = "int", default = 10, min = 1, max = 1000,
//!              description = "…" }, … }
//! function init(p) … return warmup, lookback end   -- optional
//! function on_start() end                          -- optional
//! function on_bar(time, open, high, low, close, volume) end
//! function on_fill(key, side, qty, price, complete) end  -- optional
//! function save() return "…" end; function restore(s) end  -- optional
//! ```
//!
//! and calls the host: `enter()`, `add()`, `exit()`, `limit(key, side,
//! price [, qty])`, `cancel(key)`, `log(msg)`, `fail(msg)`, `position()`,
//! `last()`, `now()`, and `ta.sma(n)` … (each returns an update function).
//! In `init`, `ta.bind(name, input, …)` attaches an indicator to the bars
//! instead: the host updates it before each `on_bar` and passes its
//! value(s) after `volume`, in binding order (see `Bound`).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};
use tradedesk_core::indicator::Hlcv;
use tradedesk_core::order::Side;
use tradedesk_core::strategy::{Candle, Cx, KeyedFill, ParamError, Strategy};

use crate::calls::{CallState, MAX_KEY, MAX_TEXT, Pending, cut, fill_numbers};
use crate::decl::{Description, ParamDecl, ParamType};
use crate::ta;
use crate::{Limits, LoadError};

/// Instructions between two looks at the budget.
const HOOK_EVERY: u32 = 10_000;

/// A loaded Lua strategy: its source and declarations, ready to build.
#[derive(Debug, Clone)]
pub struct LuaSource {
    pub name: String,
    pub source: Arc<str>,
    pub description: Description,
    pub limits: Limits,
}

/// The first line of a Lua error: `file.lua:12: message`.
fn reason(e: &mlua::Error) -> String {
    let text = match e {
        mlua::Error::CallbackError { cause, .. } => return reason(cause),
        mlua::Error::MemoryError(_) => "the memory limit was reached".to_owned(),
        other => other.to_string(),
    };
    let first = text.lines().next().unwrap_or_default().to_owned();
    cut(
        first
            .strip_prefix("runtime error: ")
            .map_or(first.clone(), str::to_owned),
        MAX_TEXT,
    )
}

/// What the host functions of one state share with the host. The values
/// a strategy reads are atomics (set before every call at the cost of a
/// store); what it asks for takes the lock, only when it acts.
#[derive(Debug, Default)]
struct Shared {
    spent: AtomicU32,
    last: AtomicU64,
    now: AtomicI64,
    position: AtomicU64,
    /// high, low, close, volume of the bar being handled.
    bar: [AtomicU64; 4],
    has_bar: AtomicBool,
    acted: AtomicBool,
    call: Mutex<CallState>,
    /// Open only while `init` runs: `ta.bind` is refused elsewhere.
    binding: AtomicBool,
    /// What `ta.bind` bound, taken by the instance after `init`.
    bound: Mutex<Vec<Bound>>,
}

/// The most values bound indicators may pass to `on_bar`.
const MAX_BOUND_VALUES: usize = 8;

/// Which part of each bar a bound indicator is fed.
#[derive(Debug, Clone, Copy)]
enum Input {
    Open,
    High,
    Low,
    Close,
    Volume,
    /// The whole bar (ATR, stochastic, VWAP).
    Bar,
}

/// An indicator `ta.bind` attached to the bars: the host updates it before
/// each `on_bar` and passes its value(s) as arguments, so reading it costs
/// the strategy no call.
#[derive(Debug)]
struct Bound {
    live: ta::Live,
    input: Input,
}

impl Shared {
    fn push(&self, p: Pending) -> mlua::Result<()> {
        let mut c = self.call.lock().unwrap_or_else(PoisonError::into_inner);
        c.push(p).map_err(mlua::Error::runtime)?;
        self.acted.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn bar(&self) -> Option<Hlcv> {
        let f = |i: usize| f64::from_bits(self.bar[i].load(Ordering::Relaxed));
        self.has_bar.load(Ordering::Relaxed).then(|| Hlcv {
            high: f(0),
            low: f(1),
            close: f(2),
            volume: f(3),
        })
    }
}

/// A fresh sandboxed state with the host API, the source run once.
fn state(src: &LuaSource) -> Result<(Lua, Arc<Shared>), String> {
    let lua = Lua::new_with(
        StdLib::MATH | StdLib::STRING | StdLib::TABLE,
        LuaOptions::new(),
    )
    .map_err(|e| reason(&e))?;
    lua.set_memory_limit(src.limits.memory_bytes)
        .map_err(|e| reason(&e))?;
    let shared = Arc::new(Shared::default());
    let budget = src.limits.lua_instructions / HOOK_EVERY;
    let seen = shared.clone();
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| {
            if seen.spent.fetch_add(1, Ordering::Relaxed) >= budget {
                Err(mlua::Error::runtime(format!(
                    "the instruction budget of {} per call was spent",
                    budget.saturating_mul(HOOK_EVERY)
                )))
            } else {
                Ok(VmState::Continue)
            }
        },
    )
    .map_err(|e| reason(&e))?;
    install(&lua, &shared, reads_position(&src.source)).map_err(|e| reason(&e))?;
    lua.load(&*src.source)
        .set_name(format!("@{}.lua", src.name))
        .exec()
        .map_err(|e| reason(&e))?;
    Ok((lua, shared))
}

/// `position()` is defined only for a file that names it, and only then
/// is the position read before each call (a file that does not name it
/// cannot reach it: the global does not exist).
fn reads_position(source: &str) -> bool {
    source.contains("position")
}

fn key(k: String) -> mlua::Result<String> {
    if k.is_empty()
        || k.len() > MAX_KEY
        || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(mlua::Error::runtime(format!(
            "key `{}` must be 1–{MAX_KEY} letters, digits or `_`",
            cut(k, MAX_KEY)
        )));
    }
    Ok(k)
}

/// The host API, and the standard library trimmed to the sandbox.
#[allow(clippy::too_many_lines)] // one definition per host function
fn install(lua: &Lua, sh: &Arc<Shared>, position: bool) -> mlua::Result<()> {
    let g = lua.globals();
    for name in [
        "load",
        "loadstring",
        "dofile",
        "loadfile",
        "require",
        "collectgarbage",
        "print",
        "module",
        "package",
        "io",
        "os",
        "debug",
    ] {
        g.raw_set(name, Value::Nil)?;
    }
    let string: Table = g.get("string")?;
    string.raw_set("dump", Value::Nil)?;
    // Deterministic: the same run draws the same numbers.
    let math: Table = g.get("math")?;
    let seed: Function = math.get("randomseed")?;
    seed.call::<()>(0)?;
    math.raw_set("randomseed", Value::Nil)?;

    let s = sh.clone();
    g.set(
        "enter",
        lua.create_function(move |_, ()| s.push(Pending::Enter))?,
    )?;
    let s = sh.clone();
    g.set(
        "add",
        lua.create_function(move |_, ()| s.push(Pending::Add))?,
    )?;
    let s = sh.clone();
    g.set(
        "exit",
        lua.create_function(move |_, ()| s.push(Pending::Exit))?,
    )?;
    let s = sh.clone();
    g.set(
        "log",
        lua.create_function(move |_, m: mlua::String| {
            s.push(Pending::Log(cut(m.to_string_lossy(), MAX_TEXT)))
        })?,
    )?;
    let s = sh.clone();
    g.set(
        "fail",
        lua.create_function(move |_, m: mlua::String| {
            let m = cut(m.to_string_lossy(), MAX_TEXT);
            s.push(Pending::Fail(m.clone()))?;
            Err::<(), _>(mlua::Error::runtime(m))
        })?,
    )?;
    let s = sh.clone();
    g.set(
        "cancel",
        lua.create_function(move |_, k: String| s.push(Pending::Cancel(key(k)?)))?,
    )?;
    let s = sh.clone();
    g.set(
        "limit",
        lua.create_function(
            move |_, (k, side, price, qty): (String, String, f64, Option<f64>)| {
                let side = match side.as_str() {
                    "buy" => Side::Buy,
                    "sell" => Side::Sell,
                    other => {
                        return Err(mlua::Error::runtime(format!(
                            "side must be \"buy\" or \"sell\", got \"{other}\""
                        )));
                    }
                };
                s.push(Pending::Limit {
                    key: key(k)?,
                    side,
                    price,
                    qty: qty.unwrap_or(0.0),
                })
            },
        )?,
    )?;
    if position {
        let s = sh.clone();
        g.set(
            "position",
            lua.create_function(move |_, ()| {
                Ok(f64::from_bits(s.position.load(Ordering::Relaxed)))
            })?,
        )?;
    }
    let s = sh.clone();
    g.set(
        "last",
        lua.create_function(move |_, ()| Ok(f64::from_bits(s.last.load(Ordering::Relaxed))))?,
    )?;
    let s = sh.clone();
    g.set(
        "now",
        lua.create_function(move |_, ()| Ok(s.now.load(Ordering::Relaxed)))?,
    )?;
    g.set("ta", indicators(lua, sh)?)?;
    Ok(())
}

/// `ta.sma(n)` …: each returns a function that takes the next input (or,
/// for bar-based ones, reads the bar) and returns the value(s), nil until
/// there are any.
fn indicators(lua: &Lua, sh: &Arc<Shared>) -> mlua::Result<Table> {
    type Args = (Option<i64>, Option<f64>, Option<i64>);
    let ta = lua.create_table()?;
    let made = Arc::new(AtomicU32::new(0));
    for &(kind, name) in ta::KINDS {
        let made = made.clone();
        let sh = sh.clone();
        let f = lua.create_function(move |l, (a, b, c): Args| {
            let mut live = new_live(&made, kind, name, (a, b, c))?;
            let opt = |v: f64| (!v.is_nan()).then_some(v);
            let sh = sh.clone();
            let bar_based = ta::reads_bar(kind);
            let input = move |x: Option<f64>| -> mlua::Result<(f64, Hlcv)> {
                if bar_based {
                    let bar = sh.bar().ok_or_else(|| {
                        mlua::Error::runtime(format!(
                            "ta.{name} reads the bar: call it from on_bar"
                        ))
                    })?;
                    return Ok((0.0, bar));
                }
                let x = x.ok_or_else(|| {
                    mlua::Error::runtime(format!("ta.{name}: give it the next value"))
                })?;
                let none = Hlcv {
                    high: 0.0,
                    low: 0.0,
                    close: 0.0,
                    volume: 0.0,
                };
                Ok((x, none))
            };
            if live.outputs() == 1 {
                l.create_function_mut(move |_, x: Option<f64>| {
                    let (x, bar) = input(x)?;
                    Ok(opt(live.update(x, bar)))
                })
            } else {
                l.create_function_mut(move |_, x: Option<f64>| {
                    let (x, bar) = input(x)?;
                    live.update(x, bar);
                    Ok((opt(live.value(0)), opt(live.value(1)), opt(live.value(2))))
                })
            }
        })?;
        ta.set(name, f)?;
    }
    ta.set("bind", bind(lua, sh, made)?)?;
    Ok(ta)
}

/// `ta.bind(name, input, …)`: in `init` only, an indicator fed each bar's
/// `input` whose value(s) `on_bar` receives after `volume` (see `Bound`).
fn bind(lua: &Lua, sh: &Arc<Shared>, made: Arc<AtomicU32>) -> mlua::Result<Function> {
    type Args = (String, String, Option<i64>, Option<f64>, Option<i64>);
    let sh = sh.clone();
    lua.create_function(move |_, (name, input, a, b, c): Args| {
        if !sh.binding.load(Ordering::Relaxed) {
            return Err(mlua::Error::runtime("ta.bind: bind indicators in init(p)"));
        }
        let Some(&(kind, name)) = ta::KINDS.iter().find(|(_, n)| *n == name) else {
            return Err(mlua::Error::runtime(format!(
                "ta.bind: no indicator `{}`",
                cut(name, MAX_KEY)
            )));
        };
        let input = match (input.as_str(), ta::reads_bar(kind)) {
            ("open", false) => Input::Open,
            ("high", false) => Input::High,
            ("low", false) => Input::Low,
            ("close", false) => Input::Close,
            ("volume", false) => Input::Volume,
            ("bar", true) => Input::Bar,
            (_, bar_based) => {
                return Err(mlua::Error::runtime(format!(
                    "ta.bind: `{name}` is fed {}",
                    if bar_based {
                        "\"bar\""
                    } else {
                        "\"open\", \"high\", \"low\", \"close\" or \"volume\""
                    }
                )));
            }
        };
        let live = new_live(&made, kind, name, (a, b, c))?;
        let mut bound = sh.bound.lock().unwrap_or_else(PoisonError::into_inner);
        let values: usize = bound.iter().map(|b| b.live.outputs()).sum();
        if values.saturating_add(live.outputs()) > MAX_BOUND_VALUES {
            return Err(mlua::Error::runtime(format!(
                "ta.bind: at most {MAX_BOUND_VALUES} bound values reach on_bar"
            )));
        }
        bound.push(Bound { live, input });
        Ok(())
    })
}

/// An indicator of `kind` from a strategy's arguments (Bollinger takes
/// (period, k), the others whole periods), counted against the instance's
/// `ta::MAX_INDICATORS`.
fn new_live(
    made: &AtomicU32,
    kind: i32,
    name: &str,
    (a, b, c): (Option<i64>, Option<f64>, Option<i64>),
) -> mlua::Result<ta::Live> {
    if made.fetch_add(1, Ordering::Relaxed) as usize >= ta::MAX_INDICATORS {
        return Err(mlua::Error::runtime(format!(
            "more than {} indicators",
            ta::MAX_INDICATORS
        )));
    }
    let (b, k) = if kind == 6 {
        (0, b.unwrap_or(2.0))
    } else {
        (b.map_or(0, |b| b as i64), 0.0)
    };
    ta::Live::new(kind, a.unwrap_or(0), b, c.unwrap_or(0), k)
        .map_err(|e| mlua::Error::runtime(format!("ta.{name}: {e}")))
}

/// Reads the file's declarations (running it once, with the budget).
pub fn load(name: &str, source: &str, limits: Limits) -> Result<LuaSource, LoadError> {
    let mut src = LuaSource {
        name: name.to_owned(),
        source: Arc::from(source),
        description: Description::default(),
        limits,
    };
    let (lua, _) = state(&src).map_err(LoadError::Invalid)?;
    let g = lua.globals();
    let text = |k: &str| -> Result<String, LoadError> {
        match g
            .get::<Value>(k)
            .map_err(|e| LoadError::Invalid(reason(&e)))?
        {
            Value::Nil => Ok(String::new()),
            Value::String(s) => Ok(s.to_string_lossy()),
            _ => Err(LoadError::Invalid(format!("`{k}` must be a string"))),
        }
    };
    src.description.summary = text("summary")?;
    src.description.rules = text("rules")?;
    if !matches!(g.get::<Value>("on_bar"), Ok(Value::Function(_))) {
        return Err(LoadError::Invalid(
            "the file defines no function `on_bar(time, open, high, low, close, volume)`".into(),
        ));
    }
    match g.get::<Value>("params") {
        Ok(Value::Nil) => {}
        Ok(Value::Table(t)) => {
            for (i, entry) in t.sequence_values::<Table>().enumerate() {
                let entry = entry.map_err(|_| {
                    LoadError::Invalid(format!("params[{}] must be a table", i + 1))
                })?;
                src.description.params.push(decl(i + 1, &entry)?);
            }
        }
        _ => {
            return Err(LoadError::Invalid(
                "`params` must be a list of tables".into(),
            ));
        }
    }
    crate::decl::check(&src.description.params).map_err(LoadError::Invalid)?;
    Ok(src)
}

fn decl(i: usize, t: &Table) -> Result<ParamDecl, LoadError> {
    let bad = |m: String| LoadError::Invalid(format!("params[{i}]: {m}"));
    let name: String = t
        .get("name")
        .map_err(|_| bad("`name` must be a string".into()))?;
    let kind = match t
        .get::<String>("type")
        .map_err(|_| bad("`type` must be a string".into()))?
        .as_str()
    {
        "int" => ParamType::Int,
        "float" => ParamType::Float,
        "bool" => ParamType::Bool,
        other => {
            return Err(bad(format!(
                "type must be int, float or bool, got `{other}`"
            )));
        }
    };
    let default = match t.get::<Value>("default").map_err(|e| bad(reason(&e)))? {
        Value::Boolean(b) => f64::from(u8::from(b)),
        Value::Integer(n) => n as f64,
        Value::Number(n) => n,
        _ => return Err(bad(format!("`{name}` needs a default"))),
    };
    let num = |k: &str| -> Result<Option<f64>, LoadError> {
        match t.get::<Value>(k).map_err(|e| bad(reason(&e)))? {
            Value::Nil => Ok(None),
            Value::Integer(n) => Ok(Some(n as f64)),
            Value::Number(n) => Ok(Some(n)),
            _ => Err(bad(format!("`{k}` must be a number"))),
        }
    };
    Ok(ParamDecl {
        name,
        kind,
        default,
        min: num("min")?,
        max: num("max")?,
        description: t
            .get::<Option<String>>("description")
            .ok()
            .flatten()
            .unwrap_or_default(),
    })
}

/// One running instance.
pub struct LuaStrategy {
    /// The state its functions live in (they hold it only weakly).
    _lua: Lua,
    shared: Arc<Shared>,
    reads_position: bool,
    on_bar: Function,
    on_start: Option<Function>,
    on_fill: Option<Function>,
    save: Option<Function>,
    restore: Option<Function>,
    warmup: usize,
    lookback: usize,
    /// Indicators bound in `init`, updated natively before each `on_bar`.
    bound: Vec<Bound>,
}

fn optional(g: &Table, name: &str) -> Option<Function> {
    match g.get::<Value>(name) {
        Ok(Value::Function(f)) => Some(f),
        _ => None,
    }
}

impl LuaSource {
    /// A new instance with these (checked) parameter values.
    pub fn build(&self, values: &[f64]) -> Result<LuaStrategy, ParamError> {
        let fail = |m: String| ParamError::new("params", m);
        let (lua, shared) = state(self).map_err(fail)?;
        let g = lua.globals();
        let on_bar = optional(&g, "on_bar").ok_or_else(|| fail("no on_bar".into()))?;
        let (mut warmup, mut lookback) = (0usize, None);
        if let Some(init) = optional(&g, "init") {
            let p = lua.create_table().map_err(|e| fail(reason(&e)))?;
            for (d, v) in self.description.params.iter().zip(values) {
                let r = match d.kind {
                    ParamType::Int => p.set(d.name.as_str(), *v as i64),
                    ParamType::Float => p.set(d.name.as_str(), *v),
                    ParamType::Bool => p.set(d.name.as_str(), *v != 0.0),
                };
                r.map_err(|e| fail(reason(&e)))?;
            }
            shared.spent.store(0, Ordering::Relaxed);
            shared.binding.store(true, Ordering::Relaxed);
            let r = init.call(p);
            shared.binding.store(false, Ordering::Relaxed);
            let (w, l): (Option<i64>, Option<i64>) = r.map_err(|e| fail(reason(&e)))?;
            warmup = w.unwrap_or(0).clamp(0, 1_000_000) as usize;
            lookback = l.map(|l| l.clamp(0, 1_000_000) as usize);
        }
        let bound =
            std::mem::take(&mut *shared.bound.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(LuaStrategy {
            bound,
            on_start: optional(&g, "on_start"),
            on_fill: optional(&g, "on_fill"),
            save: optional(&g, "save"),
            restore: optional(&g, "restore"),
            on_bar,
            shared,
            reads_position: reads_position(&self.source),
            warmup,
            lookback: lookback.unwrap_or(warmup).min(warmup),
            _lua: lua,
        })
    }
}

impl LuaStrategy {
    #[inline]
    fn begin(&self, cx: &Cx<'_>, bar: Option<Hlcv>) {
        let sh = &*self.shared;
        sh.spent.store(0, Ordering::Relaxed);
        let last = bar.map_or_else(|| cx.last_f64(), |b| b.close);
        sh.last.store(last.to_bits(), Ordering::Relaxed);
        sh.now.store(cx.now().millis(), Ordering::Relaxed);
        sh.has_bar.store(bar.is_some(), Ordering::Relaxed);
        if let Some(b) = bar {
            for (slot, v) in sh.bar.iter().zip([b.high, b.low, b.close, b.volume]) {
                slot.store(v.to_bits(), Ordering::Relaxed);
            }
        }
        if self.reads_position {
            let p = rust_decimal::prelude::ToPrimitive::to_f64(&cx.position().get()).unwrap_or(0.0);
            sh.position.store(p.to_bits(), Ordering::Relaxed);
        }
    }

    #[inline]
    fn end(&self, cx: &mut Cx<'_>, r: mlua::Result<()>) {
        if r.is_ok() && !self.shared.acted.load(Ordering::Relaxed) {
            return;
        }
        self.shared.acted.store(false, Ordering::Relaxed);
        let mut call = self
            .shared
            .call
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        call.finish(cx, r.err().map(|e| reason(&e)));
    }
}

/// Each bound indicator updated with this bar, its value(s) in binding
/// order (nil until it has one).
#[inline]
fn bound_values(bound: &mut [Bound], bar: &Candle, hlcv: Hlcv) -> [Option<f64>; MAX_BOUND_VALUES] {
    let opt = |v: f64| (!v.is_nan()).then_some(v);
    let mut out = [None; MAX_BOUND_VALUES];
    let mut at = 0;
    for b in bound {
        let x = match b.input {
            Input::Open => bar.open,
            Input::High => bar.high,
            Input::Low => bar.low,
            Input::Close => bar.close,
            Input::Volume => bar.volume,
            Input::Bar => 0.0,
        };
        let first = b.live.update(x, hlcv);
        let n = b.live.outputs();
        for i in 0..n {
            if let Some(slot) = out.get_mut(at + i) {
                *slot = opt(if i == 0 {
                    first
                } else {
                    b.live.value(i as i64)
                });
            }
        }
        at += n;
    }
    out
}

impl Strategy for LuaStrategy {
    fn warmup(&self) -> usize {
        self.warmup
    }

    fn lookback(&self) -> usize {
        self.lookback
    }

    #[inline]
    fn on_bar(&mut self, bar: &Candle, cx: &mut Cx<'_>) {
        let hlcv = bar.hlcv();
        self.begin(cx, Some(hlcv));
        let (t, o, h, l, c, v) = (
            bar.time.millis(),
            bar.open,
            bar.high,
            bar.low,
            bar.close,
            bar.volume,
        );
        let r = if self.bound.is_empty() {
            self.on_bar.call::<()>((t, o, h, l, c, v))
        } else {
            // Always eight more: Lua drops what `on_bar` does not name.
            let x = bound_values(&mut self.bound, bar, hlcv);
            self.on_bar.call::<()>((
                t, o, h, l, c, v, x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7],
            ))
        };
        self.end(cx, r);
    }

    fn on_start(&mut self, cx: &mut Cx<'_>) {
        if let Some(f) = &self.on_start {
            self.begin(cx, None);
            let r = f.call::<()>(());
            self.end(cx, r);
        }
    }

    fn on_fill(&mut self, fill: &KeyedFill, cx: &mut Cx<'_>) {
        if let Some(f) = &self.on_fill {
            self.begin(cx, None);
            let (buy, qty, price) = fill_numbers(fill);
            let side = if buy { "buy" } else { "sell" };
            let r = f.call::<()>((fill.key.as_str(), side, qty, price, fill.complete));
            self.end(cx, r);
        }
    }

    fn save(&mut self) -> serde_json::Value {
        let Some(f) = &self.save else {
            return serde_json::Value::Null;
        };
        self.shared.spent.store(0, Ordering::Relaxed);
        match f.call::<Option<String>>(()) {
            Ok(Some(s)) => serde_json::json!({ "lua": s }),
            _ => serde_json::Value::Null,
        }
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        let (Some(f), Some(s)) = (&self.restore, state.get("lua").and_then(|v| v.as_str())) else {
            return Ok(());
        };
        self.shared.spent.store(0, Ordering::Relaxed);
        f.call::<()>(s).map_err(|e| reason(&e))
    }
}
