//! The fast tier: strategies as WebAssembly modules (ABI version 1, see
//! the `tradedesk-strategy-sdk` crate).
//!
//! A module is compiled once (Cranelift) and instantiated per strategy
//! instance, each in its own store with a memory cap and a fuel budget
//! per call. It may import nothing but the `tradedesk` host functions; a
//! trap (its panic, an out-of-bounds access, spent fuel, a memory limit)
//! stops the instance that hit it and nothing else.

use std::sync::{Arc, OnceLock};

use tradedesk_core::indicator::Hlcv;
use tradedesk_core::order::Side;
use tradedesk_core::strategy::{Candle, Cx, KeyedFill, ParamError, Strategy};
use wasmtime::{
    Caller, Config, Engine, Instance, Linker, Memory, Module, Store, StoreLimits,
    StoreLimitsBuilder, TypedFunc,
};

use crate::calls::{CallState, MAX_KEY, MAX_TEXT, Pending, cut};
use crate::decl::Description;
use crate::ta;
use crate::{Limits, LoadError};

/// The ABI version this daemon runs.
pub const ABI_VERSION: i32 = 1;
/// Largest module accepted.
pub const MAX_MODULE_BYTES: usize = 8 << 20;

/// One engine for every module: fuel metering on, native stack bounded.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut c = Config::new();
        c.consume_fuel(true);
        c.max_wasm_stack(512 << 10);
        // The configuration is fixed and valid; should it ever be
        // refused, every module load fails with the reason instead.
        Engine::new(&c).unwrap_or_else(|_| Engine::default())
    })
}

/// A compiled module and its description.
#[derive(Clone)]
pub struct WasmSource {
    pub name: String,
    pub module: Module,
    pub description: Description,
    pub limits: Limits,
    /// It imports `position` (read before each call only then).
    reads_position: bool,
}

impl std::fmt::Debug for WasmSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmSource")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

pub struct Host {
    limits: StoreLimits,
    memory: Option<Memory>,
    params: Arc<[f64]>,
    call: CallState,
    inds: Vec<ta::Live>,
}

fn trap(m: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::msg(m.into())
}

/// Bytes `ptr..ptr+len` of the module's memory, as text.
fn text(caller: &mut Caller<'_, Host>, ptr: i32, len: i32, max: usize) -> wasmtime::Result<String> {
    let mem = caller
        .data()
        .memory
        .ok_or_else(|| trap("the module exports no memory"))?;
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    let data = mem.data(&*caller);
    let bytes = ptr
        .checked_add(len)
        .and_then(|end| data.get(ptr..end))
        .ok_or_else(|| {
            trap(format!(
                "{len} bytes at {ptr} are outside the module's memory"
            ))
        })?;
    Ok(cut(
        String::from_utf8_lossy(&bytes[..len.min(max.saturating_add(4))]).into_owned(),
        max,
    ))
}

fn push(caller: &mut Caller<'_, Host>, p: Pending) -> wasmtime::Result<()> {
    caller.data_mut().call.push(p).map_err(trap)
}

fn checked_key(k: String) -> wasmtime::Result<String> {
    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(trap(format!(
            "key `{k}` must be 1–{MAX_KEY} letters, digits or `_`"
        )));
    }
    Ok(k)
}

#[allow(clippy::too_many_lines)] // one definition per host function
fn linker() -> wasmtime::Result<Linker<Host>> {
    let mut l = Linker::new(engine());
    let m = "tradedesk";
    l.func_wrap(m, "enter", |mut c: Caller<'_, Host>| {
        push(&mut c, Pending::Enter)
    })?;
    l.func_wrap(m, "add", |mut c: Caller<'_, Host>| {
        push(&mut c, Pending::Add)
    })?;
    l.func_wrap(m, "exit", |mut c: Caller<'_, Host>| {
        push(&mut c, Pending::Exit)
    })?;
    l.func_wrap(m, "log", |mut c: Caller<'_, Host>, p: i32, n: i32| {
        let t = text(&mut c, p, n, MAX_TEXT)?;
        push(&mut c, Pending::Log(t))
    })?;
    l.func_wrap(m, "fail", |mut c: Caller<'_, Host>, p: i32, n: i32| {
        let t = text(&mut c, p, n, MAX_TEXT)?;
        push(&mut c, Pending::Fail(t))
    })?;
    l.func_wrap(m, "cancel", |mut c: Caller<'_, Host>, p: i32, n: i32| {
        let k = checked_key(text(&mut c, p, n, MAX_KEY)?)?;
        push(&mut c, Pending::Cancel(k))
    })?;
    l.func_wrap(
        m,
        "limit",
        |mut c: Caller<'_, Host>, p: i32, n: i32, side: i32, price: f64, qty: f64| {
            let key = checked_key(text(&mut c, p, n, MAX_KEY)?)?;
            let side = match side {
                0 => Side::Buy,
                1 => Side::Sell,
                s => return Err(trap(format!("side must be 0 (buy) or 1 (sell), got {s}"))),
            };
            push(
                &mut c,
                Pending::Limit {
                    key,
                    side,
                    price,
                    qty,
                },
            )
        },
    )?;
    l.func_wrap(m, "position", |c: Caller<'_, Host>| c.data().call.position)?;
    l.func_wrap(m, "last", |c: Caller<'_, Host>| c.data().call.last)?;
    l.func_wrap(m, "now", |c: Caller<'_, Host>| c.data().call.now)?;
    l.func_wrap(m, "param", |c: Caller<'_, Host>, i: i32| {
        c.data()
            .params
            .get(i as u32 as usize)
            .copied()
            .ok_or_else(|| trap(format!("no parameter {i}")))
    })?;
    l.func_wrap(
        m,
        "ind_new",
        |mut c: Caller<'_, Host>, kind: i32, a: i32, b: i32, cc: i32, k: f64| {
            let h = c.data_mut();
            if h.inds.len() >= ta::MAX_INDICATORS {
                return Err(trap(format!("more than {} indicators", ta::MAX_INDICATORS)));
            }
            let live = ta::Live::new(kind, a.into(), b.into(), cc.into(), k).map_err(trap)?;
            h.inds.push(live);
            Ok((h.inds.len() - 1) as i32)
        },
    )?;
    l.func_wrap(
        m,
        "ind_update",
        |mut c: Caller<'_, Host>, h: i32, x: f64| {
            let host = c.data_mut();
            let bar = host.call.bar.unwrap_or(Hlcv {
                high: 0.0,
                low: 0.0,
                close: 0.0,
                volume: 0.0,
            });
            let ind = host
                .inds
                .get_mut(h as u32 as usize)
                .ok_or_else(|| trap(format!("no indicator {h}")))?;
            Ok(ind.update(x, bar))
        },
    )?;
    l.func_wrap(m, "ind_value", |c: Caller<'_, Host>, h: i32, i: i32| {
        c.data()
            .inds
            .get(h as u32 as usize)
            .map(|ind| ind.value(i.into()))
            .ok_or_else(|| trap(format!("no indicator {h}")))
    })?;
    l.func_wrap(
        m,
        "fill_key",
        |mut c: Caller<'_, Host>, p: i32, cap: i32| {
            let key = c.data().call.fill_key.clone();
            let n = key.len().min(cap as u32 as usize);
            let mem = c
                .data()
                .memory
                .ok_or_else(|| trap("the module exports no memory"))?;
            mem.write(&mut c, p as u32 as usize, &key.as_bytes()[..n])
                .map_err(|_| trap("fill_key: the buffer is outside the module's memory"))?;
            Ok(n as i32)
        },
    )?;
    Ok(l)
}

fn linker_cached() -> Result<&'static Linker<Host>, String> {
    static LINKER: OnceLock<Result<Linker<Host>, String>> = OnceLock::new();
    LINKER
        .get_or_init(|| linker().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// What a trap or error says, in one line.
fn reason(e: &wasmtime::Error) -> String {
    if let Some(t) = e.downcast_ref::<wasmtime::Trap>() {
        return match t {
            wasmtime::Trap::OutOfFuel => "the fuel budget per call was spent".to_owned(),
            wasmtime::Trap::UnreachableCodeReached => "trap: unreachable (a panic)".to_owned(),
            wasmtime::Trap::StackOverflow => "trap: stack overflow".to_owned(),
            other => format!("trap: {other}"),
        };
    }
    // The root cause says what happened; the outer layers say where.
    let s = e.root_cause().to_string();
    let line = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    cut(line.to_owned(), MAX_TEXT)
}

/// One running instance.
pub struct WasmStrategy {
    store: Store<Host>,
    on_bar: TypedFunc<(i64, f64, f64, f64, f64, f64), ()>,
    on_start: TypedFunc<(), ()>,
    on_fill: TypedFunc<(i32, f64, f64, i32), ()>,
    instance: Instance,
    fuel: u64,
    reads_position: bool,
    warmup: usize,
    lookback: usize,
}

fn instantiate(src: &WasmSource, params: Arc<[f64]>) -> Result<(Store<Host>, Instance), String> {
    let host = Host {
        limits: StoreLimitsBuilder::new()
            .memory_size(src.limits.memory_bytes)
            .memories(1)
            .tables(4)
            .table_elements(100_000)
            .instances(1)
            .trap_on_grow_failure(true)
            .build(),
        memory: None,
        params,
        call: CallState::default(),
        inds: Vec::new(),
    };
    let mut store = Store::new(engine(), host);
    store.limiter(|h| &mut h.limits);
    store
        .set_fuel(src.limits.wasm_fuel)
        .map_err(|e| reason(&e))?;
    let instance = linker_cached()?
        .instantiate(&mut store, &src.module)
        .map_err(|e| reason(&e))?;
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or("the module exports no `memory`")?;
    store.data_mut().memory = Some(memory);
    Ok((store, instance))
}

fn func<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
    store: &mut Store<Host>,
    instance: &Instance,
    name: &str,
) -> Result<TypedFunc<P, R>, String> {
    instance
        .get_typed_func::<P, R>(&mut *store, name)
        .map_err(|e| format!("export `{name}`: {}", reason(&e)))
}

/// Reads bytes handed out by the module at `ptr << 32 | len`, and gives them back.
fn take_bytes(
    store: &mut Store<Host>,
    instance: &Instance,
    packed: i64,
) -> Result<Vec<u8>, String> {
    let (ptr, len) = ((packed >> 32) as u32, packed as u32);
    let mem = store.data().memory.ok_or("no memory")?;
    let mut buf = vec![0u8; len as usize];
    mem.read(&*store, ptr as usize, &mut buf)
        .map_err(|_| "the module handed out bytes outside its memory".to_owned())?;
    if let Ok(free) = func::<(i32, i32), ()>(store, instance, "tradedesk_free") {
        let _ = free.call(&mut *store, (ptr as i32, len as i32));
    }
    Ok(buf)
}

/// Compiles and checks a module: its ABI version, exports and description.
pub fn load(name: &str, bytes: &[u8], limits: Limits) -> Result<WasmSource, LoadError> {
    if bytes.len() > MAX_MODULE_BYTES {
        return Err(LoadError::Invalid(format!(
            "the module is {} bytes, at most {MAX_MODULE_BYTES}",
            bytes.len()
        )));
    }
    let module = Module::new(engine(), bytes)
        .map_err(|e| LoadError::Invalid(format!("not a WebAssembly module: {}", reason(&e))))?;
    for imp in module.imports() {
        if imp.module() != "tradedesk" {
            return Err(LoadError::Invalid(format!(
                "imports `{}::{}`: a strategy may import only the `tradedesk` host functions",
                imp.module(),
                imp.name()
            )));
        }
    }
    let reads_position = module.imports().any(|i| i.name() == "position");
    let mut src = WasmSource {
        name: name.to_owned(),
        module,
        description: Description::default(),
        limits,
        reads_position,
    };
    let (mut store, instance) =
        instantiate(&src, Arc::from(Vec::new())).map_err(LoadError::Invalid)?;
    let version = func::<(), i32>(&mut store, &instance, "tradedesk_abi_version")
        .and_then(|f| f.call(&mut store, ()).map_err(|e| reason(&e)))
        .map_err(LoadError::Invalid)?;
    if version != ABI_VERSION {
        return Err(LoadError::Invalid(format!(
            "the module speaks ABI version {version}; this daemon runs version {ABI_VERSION}"
        )));
    }
    let packed = func::<(), i64>(&mut store, &instance, "tradedesk_describe")
        .and_then(|f| f.call(&mut store, ()).map_err(|e| reason(&e)))
        .map_err(LoadError::Invalid)?;
    let json = take_bytes(&mut store, &instance, packed).map_err(LoadError::Invalid)?;
    src.description = serde_json::from_slice(&json)
        .map_err(|e| LoadError::Invalid(format!("its description: {e}")))?;
    crate::decl::check(&src.description.params).map_err(LoadError::Invalid)?;
    for export in [
        "tradedesk_init",
        "tradedesk_warmup",
        "tradedesk_lookback",
        "tradedesk_on_start",
        "tradedesk_on_bar",
        "tradedesk_on_fill",
        "tradedesk_save",
        "tradedesk_restore",
        "tradedesk_alloc",
    ] {
        if src.module.get_export(export).is_none() {
            return Err(LoadError::Invalid(format!(
                "the module exports no `{export}`"
            )));
        }
    }
    Ok(src)
}

impl WasmSource {
    /// A new instance with these (checked) parameter values.
    pub fn build(&self, values: &[f64]) -> Result<WasmStrategy, ParamError> {
        let fail = |m: String| ParamError::new("params", m);
        let (mut store, instance) = instantiate(self, Arc::from(values)).map_err(fail)?;
        let call_i32 = |store: &mut Store<Host>, name: &str| -> Result<i32, String> {
            store
                .set_fuel(self.limits.wasm_fuel)
                .map_err(|e| reason(&e))?;
            func::<(), i32>(store, &instance, name)?
                .call(&mut *store, ())
                .map_err(|e| reason(&e))
        };
        let why = |store: &mut Store<Host>, e: String| {
            let told = store.data_mut().call.pending.iter().find_map(|p| match p {
                Pending::Fail(r) => Some(r.clone()),
                _ => None,
            });
            told.unwrap_or(e)
        };
        match call_i32(&mut store, "tradedesk_init") {
            Ok(0) => {}
            Ok(_) => {
                let e = why(&mut store, "the strategy refused its parameters".into());
                return Err(fail(e));
            }
            Err(e) => {
                let e = why(&mut store, e);
                return Err(fail(e));
            }
        }
        store.data_mut().call.pending.clear();
        let warmup = call_i32(&mut store, "tradedesk_warmup").map_err(fail)?;
        let lookback = call_i32(&mut store, "tradedesk_lookback").map_err(fail)?;
        let warmup = warmup.clamp(0, 1_000_000) as usize;
        Ok(WasmStrategy {
            on_bar: func(&mut store, &instance, "tradedesk_on_bar").map_err(fail)?,
            on_start: func(&mut store, &instance, "tradedesk_on_start").map_err(fail)?,
            on_fill: func(&mut store, &instance, "tradedesk_on_fill").map_err(fail)?,
            store,
            instance,
            fuel: self.limits.wasm_fuel,
            reads_position: self.reads_position,
            warmup,
            lookback: (lookback.clamp(0, 1_000_000) as usize).min(warmup),
        })
    }
}

impl WasmStrategy {
    #[inline]
    fn begin(&mut self, cx: &Cx<'_>, bar: Option<Hlcv>) -> Result<(), String> {
        self.store
            .data_mut()
            .call
            .begin(cx, bar, self.reads_position);
        self.store.set_fuel(self.fuel).map_err(|e| reason(&e))
    }

    #[inline]
    fn end(&mut self, cx: &mut Cx<'_>, r: wasmtime::Result<()>) {
        let call = &mut self.store.data_mut().call;
        if r.is_ok() && call.pending.is_empty() {
            return;
        }
        call.finish(cx, r.err().map(|e| reason(&e)));
    }
}

impl Strategy for WasmStrategy {
    fn warmup(&self) -> usize {
        self.warmup
    }

    fn lookback(&self) -> usize {
        self.lookback
    }

    #[inline]
    fn on_bar(&mut self, bar: &Candle, cx: &mut Cx<'_>) {
        if let Err(e) = self.begin(cx, Some(bar.hlcv())) {
            cx.fail(e);
            return;
        }
        let r = self.on_bar.call(
            &mut self.store,
            (
                bar.time.millis(),
                bar.open,
                bar.high,
                bar.low,
                bar.close,
                bar.volume,
            ),
        );
        self.end(cx, r);
    }

    fn on_start(&mut self, cx: &mut Cx<'_>) {
        if let Err(e) = self.begin(cx, None) {
            cx.fail(e);
            return;
        }
        let r = self.on_start.call(&mut self.store, ());
        self.end(cx, r);
    }

    fn on_fill(&mut self, fill: &KeyedFill, cx: &mut Cx<'_>) {
        if let Err(e) = self.begin(cx, None) {
            cx.fail(e);
            return;
        }
        self.store.data_mut().call.fill_key.clone_from(&fill.key);
        let (buy, qty, price) = crate::calls::fill_numbers(fill);
        let side = i32::from(!buy);
        let r = self.on_fill.call(
            &mut self.store,
            (side, qty, price, i32::from(fill.complete)),
        );
        self.end(cx, r);
    }

    fn save(&mut self) -> serde_json::Value {
        use base64::Engine as _;
        let saved = (|| -> Result<Vec<u8>, String> {
            self.store.set_fuel(self.fuel).map_err(|e| reason(&e))?;
            let packed = func::<(), i64>(&mut self.store, &self.instance, "tradedesk_save")?
                .call(&mut self.store, ())
                .map_err(|e| reason(&e))?;
            take_bytes(&mut self.store, &self.instance, packed)
        })();
        match saved {
            Ok(b) if !b.is_empty() => {
                serde_json::json!({ "wasm": base64::engine::general_purpose::STANDARD.encode(b) })
            }
            // A strategy whose save fails is rebuilt by warm-up alone.
            _ => serde_json::Value::Null,
        }
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        use base64::Engine as _;
        let Some(b64) = state.get("wasm").and_then(|v| v.as_str()) else {
            return Ok(());
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("saved state: {e}"))?;
        let len = i32::try_from(bytes.len()).map_err(|_| "saved state too large".to_owned())?;
        self.store.set_fuel(self.fuel).map_err(|e| reason(&e))?;
        let ptr = func::<i32, i32>(&mut self.store, &self.instance, "tradedesk_alloc")?
            .call(&mut self.store, len)
            .map_err(|e| reason(&e))?;
        let mem = self.store.data().memory.ok_or("no memory")?;
        mem.write(&mut self.store, ptr as u32 as usize, &bytes)
            .map_err(|_| "the module gave room outside its memory".to_owned())?;
        let r = func::<(i32, i32), i32>(&mut self.store, &self.instance, "tradedesk_restore")?
            .call(&mut self.store, (ptr, len))
            .map_err(|e| reason(&e))?;
        if r == 0 {
            Ok(())
        } else {
            Err("the strategy refused its saved state".to_owned())
        }
    }
}
