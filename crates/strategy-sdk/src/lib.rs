//! Write tradedesk strategies in Rust, compiled to WebAssembly.
//!
//! A strategy is a type implementing [`Strategy`], exported with
//! [`export_strategy!`] from a `cdylib` crate built for
//! `wasm32-unknown-unknown` (`tradectl strategy new NAME` scaffolds one,
//! `tradectl strategy build` builds it). The daemon runs it through the
//! same engine as its built-in strategies: backtests, sweeps, paper and
//! live bots.
//!
//! ```ignore
//! use tradedesk_strategy_sdk::*;
//!
//! struct SmaCross { fast: Sma, slow: Sma, slow_period: u32, prev: Option<i8> }
//!
//! impl Strategy for SmaCross {
//!     const META: Meta = Meta {
//!         summary: "SMA crossover",
//!         rules: "Enter when SMA(fast) crosses above SMA(slow); exit on the cross below.",
//!         params: &[
//!             Param::int("fast", 10, 1, 1000, "Period of the fast average"),
//!             Param::int("slow", 20, 2, 5000, "Period of the slow average"),
//!         ],
//!     };
//!     fn new(p: &Params) -> Result<Self, String> { /* read p.int("fast"), make Sma::new(..) */ }
//!     fn warmup(&self) -> u32 { self.slow_period + 1 }
//!     fn on_bar(&mut self, bar: &Bar, cx: &mut Cx) { /* cx.enter(), cx.exit() */ }
//! }
//! export_strategy!(SmaCross);
//! ```
//!
//! # The ABI (version 1)
//!
//! A strategy module imports nothing but the functions of the `tradedesk`
//! import module below, and exports `memory` and these functions:
//!
//! | export | signature | what |
//! |---|---|---|
//! | `tradedesk_abi_version` | `() -> i32` | `1` |
//! | `tradedesk_describe` | `() -> i64` | a JSON description (`summary`, `rules`, `params`) at `ptr << 32 \| len` |
//! | `tradedesk_init` | `() -> i32` | builds the strategy from its parameters; `0` = ok, else it called `fail` |
//! | `tradedesk_warmup`, `tradedesk_lookback` | `() -> i32` | bars of warm-up / until its first signal |
//! | `tradedesk_on_start` | `()` | a bot starts or resumes |
//! | `tradedesk_on_bar` | `(time_ms: i64, open, high, low, close, volume: f64)` | a closed bar |
//! | `tradedesk_on_fill` | `(side: i32, qty: f64, price: f64, complete: i32)` | a fill of a keyed order (key via `fill_key`) |
//! | `tradedesk_save` | `() -> i64` | its state, bytes at `ptr << 32 \| len` |
//! | `tradedesk_alloc` | `(len: i32) -> i32` | room for the host to write `len` bytes |
//! | `tradedesk_restore` | `(ptr: i32, len: i32) -> i32` | state written there by the host; `0` = ok |
//! | `tradedesk_free` | `(ptr: i32, len: i32)` | gives back what `describe`/`save`/`alloc` handed out |
//!
//! Host functions (import module `tradedesk`): `enter()`, `add()`,
//! `exit()`, `limit(key_ptr, key_len, side, price: f64, qty: f64)` (qty
//! ≤ 0: sized by the bot's sizing rule), `cancel(key_ptr, key_len)`,
//! `log(ptr, len)`, `fail(ptr, len)`, `position() -> f64`, `last() -> f64`,
//! `now() -> i64`, `param(index) -> f64`, `ind_new(kind, a, b, c: i32, k:
//! f64) -> i32`, `ind_update(handle, x: f64) -> f64` (NaN until the
//! indicator has a value), `ind_value(handle, i) -> f64`, `fill_key(ptr,
//! cap) -> i32`. Sides are `0` buy, `1` sell. Every call runs with a fuel
//! budget and the module's memory is capped; a trap stops the bot that
//! runs it, never the daemon.

use std::cell::RefCell;

/// The daemon's indicators, computed inside the module: the very code the
/// daemon and its built-in strategies run (the `tradedesk-indicators`
/// crate), so a strategy using them decides exactly as a built-in would.
pub use tradedesk_indicators as indicator;

/// The ABI this SDK speaks; the daemon refuses a module of another.
pub const ABI_VERSION: i32 = 1;

#[cfg_attr(target_arch = "wasm32", link(wasm_import_module = "tradedesk"))]
unsafe extern "C" {
    fn enter();
    fn add();
    fn exit();
    fn limit(key_ptr: *const u8, key_len: usize, side: i32, price: f64, qty: f64);
    fn cancel(key_ptr: *const u8, key_len: usize);
    fn log(ptr: *const u8, len: usize);
    fn fail(ptr: *const u8, len: usize);
    fn position() -> f64;
    fn last() -> f64;
    fn now() -> i64;
    fn param(index: i32) -> f64;
    fn ind_new(kind: i32, a: i32, b: i32, c: i32, k: f64) -> i32;
    fn ind_update(handle: i32, x: f64) -> f64;
    fn ind_value(handle: i32, i: i32) -> f64;
    fn fill_key(ptr: *mut u8, cap: usize) -> i32;
}

/// A parameter's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Int,
    Float,
    Bool,
}

/// A declared parameter: its type, default and range (what the daemon
/// checks and what forms and sweeps offer).
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    pub description: &'static str,
}

impl Param {
    pub const fn int(
        name: &'static str,
        default: i32,
        min: i32,
        max: i32,
        description: &'static str,
    ) -> Param {
        Param {
            name,
            kind: ParamKind::Int,
            default: default as f64,
            min: min as f64,
            max: max as f64,
            description,
        }
    }

    pub const fn float(
        name: &'static str,
        default: f64,
        min: f64,
        max: f64,
        description: &'static str,
    ) -> Param {
        Param {
            name,
            kind: ParamKind::Float,
            default,
            min,
            max,
            description,
        }
    }

    pub const fn bool(name: &'static str, default: bool, description: &'static str) -> Param {
        Param {
            name,
            kind: ParamKind::Bool,
            default: if default { 1.0 } else { 0.0 },
            min: 0.0,
            max: 1.0,
            description,
        }
    }
}

/// What the catalogue shows of a strategy.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub summary: &'static str,
    /// Its exact entry and exit rules.
    pub rules: &'static str,
    pub params: &'static [Param],
}

/// A closed bar. `time` is its open time in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

/// A fill of one of the strategy's keyed limit orders.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fill<'a> {
    pub key: &'a str,
    pub side: Side,
    pub qty: f64,
    pub price: f64,
    /// The order has nothing left to fill.
    pub complete: bool,
}

/// A strategy. The engine sizes and places the orders it asks for, and
/// keeps the bot's protective exits in place.
pub trait Strategy: Sized {
    const META: Meta;
    /// Builds it from its parameters (already checked against their
    /// declared types and ranges); an `Err` names what is wrong.
    fn new(params: &Params) -> Result<Self, String>;
    /// Bars it needs before its signals mean anything.
    fn warmup(&self) -> u32;
    /// Bars until its indicators have a first value (at most `warmup`).
    fn lookback(&self) -> u32 {
        self.warmup()
    }
    fn on_start(&mut self, _cx: &mut Cx) {}
    fn on_bar(&mut self, bar: &Bar, cx: &mut Cx);
    fn on_fill(&mut self, _fill: &Fill<'_>, _cx: &mut Cx) {}
    /// State that warm-up replay cannot rebuild, saved with the bot.
    fn save(&self) -> Vec<u8> {
        Vec::new()
    }
    fn restore(&mut self, _state: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// The strategy's parameters, by their declared names.
#[derive(Debug)]
pub struct Params {
    decl: &'static [Param],
}

impl Params {
    fn value(&self, name: &str) -> f64 {
        match self.decl.iter().position(|p| p.name == name) {
            // SAFETY: a host call with plain values.
            Some(i) => unsafe { param(i as i32) },
            None => panic!("no parameter `{name}` is declared"),
        }
    }

    pub fn int(&self, name: &str) -> i64 {
        self.value(name) as i64
    }

    pub fn float(&self, name: &str) -> f64 {
        self.value(name)
    }

    pub fn bool(&self, name: &str) -> bool {
        self.value(name) != 0.0
    }
}

/// What a strategy can see and do during a call.
#[derive(Debug)]
pub struct Cx {
    _private: (),
}

impl Cx {
    /// Open a long position with a market buy (if flat and no entry is working).
    pub fn enter(&mut self) {
        // SAFETY: host calls with plain values or a live slice.
        unsafe { enter() }
    }
    /// Buy more at market, whatever is held.
    pub fn add(&mut self) {
        unsafe { add() }
    }
    /// Close the position at market.
    pub fn exit(&mut self) {
        unsafe { exit() }
    }
    /// A limit order kept under `key` (letters, digits, `_`); `qty: None`
    /// sizes it with the bot's sizing rule.
    pub fn limit(&mut self, key: &str, side: Side, price: f64, qty: Option<f64>) {
        let side = match side {
            Side::Buy => 0,
            Side::Sell => 1,
        };
        unsafe { limit(key.as_ptr(), key.len(), side, price, qty.unwrap_or(0.0)) }
    }
    pub fn cancel(&mut self, key: &str) {
        unsafe { cancel(key.as_ptr(), key.len()) }
    }
    /// A line in the bot's log.
    pub fn log(&mut self, message: &str) {
        unsafe { log(message.as_ptr(), message.len()) }
    }
    /// Stops the strategy for good: the bot stops with status `error`
    /// and this reason; a backtest fails with it.
    pub fn fail(&mut self, reason: &str) {
        unsafe { fail(reason.as_ptr(), reason.len()) }
    }
    /// The bot's position in this symbol (base units).
    pub fn position(&self) -> f64 {
        unsafe { position() }
    }
    /// The last price (the bar's close during `on_bar`).
    pub fn last(&self) -> f64 {
        unsafe { last() }
    }
    /// The time of the event (a bar's close time), Unix milliseconds.
    pub fn now(&self) -> i64 {
        unsafe { now() }
    }
}

/// The built-in indicators as host functions: computed by the daemon,
/// natively and incrementally. [`indicator`] has the same indicators
/// computed inside the module (the same code, so the same values to the
/// bit, without a host call per update: the faster choice for a strategy
/// that updates several indicators on every bar).
pub mod host {
    use super::{ind_new, ind_update, ind_value};

    /// A host indicator: computed natively and incrementally by the daemon,
    /// exactly as the built-in strategies compute it.
    #[derive(Debug, Clone, Copy)]
    struct Handle(i32);

    fn indicator(kind: i32, a: u32, b: u32, c: u32, k: f64) -> Handle {
        // SAFETY: a host call with plain values.
        let h = unsafe { ind_new(kind, a as i32, b as i32, c as i32, k) };
        assert!(
            h >= 0,
            "the host refused indicator kind {kind} ({a}, {b}, {c}, {k})"
        );
        Handle(h)
    }

    impl Handle {
        #[inline]
        fn update(self, x: f64) -> Option<f64> {
            // SAFETY: a host call with plain values.
            let v = unsafe { ind_update(self.0, x) };
            (!v.is_nan()).then_some(v)
        }
        #[inline]
        fn value(self, i: i32) -> f64 {
            unsafe { ind_value(self.0, i) }
        }
    }

    macro_rules! scalar_indicator {
        ($(#[$doc:meta])* $name:ident, $kind:expr) => {
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name(Handle);
            impl $name {
                pub fn new(period: u32) -> $name {
                    $name(indicator($kind, period, 0, 0, 0.0))
                }
                /// The next input; `None` until it has `period` of them.
                #[inline]
                pub fn update(&mut self, x: f64) -> Option<f64> {
                    self.0.update(x)
                }
            }
        };
    }

    scalar_indicator!(
        /// Simple moving average.
        Sma, 1);
    scalar_indicator!(
        /// Exponential moving average, seeded with the SMA of its first `period` inputs.
        Ema, 2);
    scalar_indicator!(
        /// Weighted moving average (weights 1..=period).
        Wma, 3);
    scalar_indicator!(
        /// Wilder's RSI.
        Rsi, 4);
    scalar_indicator!(
        /// Highest of the last `period` inputs.
        Highest, 8);
    scalar_indicator!(
        /// Lowest of the last `period` inputs.
        Lowest, 9);

    /// MACD: (macd, signal, histogram).
    #[derive(Debug, Clone, Copy)]
    pub struct Macd(Handle);
    impl Macd {
        pub fn new(fast: u32, slow: u32, signal: u32) -> Macd {
            Macd(indicator(5, fast, slow, signal, 0.0))
        }
        pub fn update(&mut self, x: f64) -> Option<(f64, f64, f64)> {
            let m = self.0.update(x)?;
            Some((m, self.0.value(1), self.0.value(2)))
        }
    }

    /// Bollinger Bands of `period` closes at `k` standard deviations:
    /// (upper, middle, lower).
    #[derive(Debug, Clone, Copy)]
    pub struct Bollinger(Handle);
    impl Bollinger {
        pub fn new(period: u32, k: f64) -> Bollinger {
            Bollinger(indicator(6, period, 0, 0, k))
        }
        pub fn update(&mut self, x: f64) -> Option<(f64, f64, f64)> {
            let upper = self.0.update(x)?;
            Some((upper, self.0.value(1), self.0.value(2)))
        }
    }

    /// Average true range of the bars (Wilder).
    #[derive(Debug, Clone, Copy)]
    pub struct Atr(Handle);
    impl Atr {
        pub fn new(period: u32) -> Atr {
            Atr(indicator(7, period, 0, 0, 0.0))
        }
        /// Reads the bar being handled.
        pub fn update(&mut self) -> Option<f64> {
            self.0.update(0.0)
        }
    }

    /// Stochastic oscillator: (%K, %D).
    #[derive(Debug, Clone, Copy)]
    pub struct Stochastic(Handle);
    impl Stochastic {
        pub fn new(k_period: u32, k_smooth: u32, d_period: u32) -> Stochastic {
            Stochastic(indicator(10, k_period, k_smooth, d_period, 0.0))
        }
        /// Reads the bar being handled.
        pub fn update(&mut self) -> Option<(f64, f64)> {
            let k = self.0.update(0.0)?;
            Some((k, self.0.value(1)))
        }
    }
}

/// The module's one strategy and what the host reads from it.
#[doc(hidden)]
pub mod __rt {
    use super::{Bar, Cx, Fill, Meta, ParamKind, Params, RefCell, Side, Strategy};

    pub type Slot<T> = RefCell<Option<T>>;

    fn hand_out(bytes: Vec<u8>) -> i64 {
        let bytes = bytes.into_boxed_slice();
        let len = bytes.len() as i64;
        let ptr = Box::into_raw(bytes).cast::<u8>() as usize as i64;
        (ptr << 32) | len
    }

    pub fn alloc(len: i32) -> i32 {
        let b = vec![0u8; len.max(0) as usize].into_boxed_slice();
        Box::into_raw(b).cast::<u8>() as usize as i32
    }

    /// # Safety
    /// `ptr`, `len` were handed out by `alloc`, `describe` or `save`.
    pub unsafe fn free(ptr: i32, len: i32) {
        let slice = std::ptr::slice_from_raw_parts_mut(ptr as usize as *mut u8, len as usize);
        // SAFETY: the caller's promise.
        drop(unsafe { Box::from_raw(slice) });
    }

    fn escape(s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }

    pub fn describe(meta: &Meta) -> i64 {
        let mut s = String::from("{\"summary\":");
        escape(meta.summary, &mut s);
        s.push_str(",\"rules\":");
        escape(meta.rules, &mut s);
        s.push_str(",\"params\":[");
        for (i, p) in meta.params.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"name\":");
            escape(p.name, &mut s);
            let kind = match p.kind {
                ParamKind::Int => "int",
                ParamKind::Float => "float",
                ParamKind::Bool => "bool",
            };
            s.push_str(&format!(
                ",\"type\":\"{kind}\",\"default\":{:?},\"min\":{:?},\"max\":{:?},\"description\":",
                p.default, p.min, p.max
            ));
            escape(p.description, &mut s);
            s.push('}');
        }
        s.push_str("]}");
        hand_out(s.into_bytes())
    }

    pub fn init<T: Strategy>(slot: &Slot<T>) -> i32 {
        std::panic::set_hook(Box::new(|info| {
            let msg = info.to_string();
            // SAFETY: a host call with a live slice.
            unsafe { super::fail(msg.as_ptr(), msg.len()) }
        }));
        match T::new(&Params {
            decl: T::META.params,
        }) {
            Ok(s) => {
                *slot.borrow_mut() = Some(s);
                0
            }
            Err(e) => {
                // SAFETY: as above.
                unsafe { super::fail(e.as_ptr(), e.len()) };
                1
            }
        }
    }

    fn with<T: Strategy, R>(slot: &Slot<T>, f: impl FnOnce(&mut T) -> R) -> R {
        let mut s = slot.borrow_mut();
        f(s.as_mut().expect("tradedesk_init was not called"))
    }

    pub fn warmup<T: Strategy>(slot: &Slot<T>) -> i32 {
        with(slot, |s| s.warmup() as i32)
    }

    pub fn lookback<T: Strategy>(slot: &Slot<T>) -> i32 {
        with(slot, |s| s.lookback() as i32)
    }

    pub fn on_start<T: Strategy>(slot: &Slot<T>) {
        with(slot, |s| s.on_start(&mut Cx { _private: () }));
    }

    #[inline]
    pub fn on_bar<T: Strategy>(slot: &Slot<T>, bar: Bar) {
        with(slot, |s| s.on_bar(&bar, &mut Cx { _private: () }));
    }

    pub fn on_fill<T: Strategy>(slot: &Slot<T>, side: i32, qty: f64, price: f64, complete: i32) {
        let mut buf = [0u8; 64];
        // SAFETY: the host writes at most `buf.len()` bytes.
        let n = unsafe { super::fill_key(buf.as_mut_ptr(), buf.len()) };
        let key = std::str::from_utf8(&buf[..n.clamp(0, 64) as usize]).unwrap_or("");
        let fill = Fill {
            key,
            side: if side == 0 { Side::Buy } else { Side::Sell },
            qty,
            price,
            complete: complete != 0,
        };
        with(slot, |s| s.on_fill(&fill, &mut Cx { _private: () }));
    }

    pub fn save<T: Strategy>(slot: &Slot<T>) -> i64 {
        hand_out(with(slot, |s| s.save()))
    }

    /// # Safety
    /// `ptr`, `len` were handed out by `alloc`.
    pub unsafe fn restore<T: Strategy>(slot: &Slot<T>, ptr: i32, len: i32) -> i32 {
        let slice = std::ptr::slice_from_raw_parts_mut(ptr as usize as *mut u8, len as usize);
        // SAFETY: the caller's promise.
        let bytes = unsafe { Box::from_raw(slice) };
        match with(slot, |s| s.restore(&bytes)) {
            Ok(()) => 0,
            Err(e) => {
                // SAFETY: a host call with a live slice.
                unsafe { super::fail(e.as_ptr(), e.len()) };
                1
            }
        }
    }
}

/// Exports a [`Strategy`] type as the module's strategy (the ABI's
/// functions). Use it once, in a `cdylib` crate.
#[macro_export]
macro_rules! export_strategy {
    ($t:ty) => {
        thread_local! {
            static __TRADEDESK_STRATEGY: $crate::__rt::Slot<$t> =
                const { ::std::cell::RefCell::new(None) };
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn tradedesk_abi_version() -> i32 {
            $crate::ABI_VERSION
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn tradedesk_describe() -> i64 {
            $crate::__rt::describe(&<$t as $crate::Strategy>::META)
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn tradedesk_init() -> i32 {
            __TRADEDESK_STRATEGY.with(|s| $crate::__rt::init::<$t>(s))
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn tradedesk_warmup() -> i32 {
            __TRADEDESK_STRATEGY.with(|s| $crate::__rt::warmup::<$t>(s))
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn tradedesk_lookback() -> i32 {
            __TRADEDESK_STRATEGY.with(|s| $crate::__rt::lookback::<$t>(s))
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn tradedesk_on_start() {
            __TRADEDESK_STRATEGY.with(|s| $crate::__rt::on_start::<$t>(s))
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn tradedesk_on_bar(
            time: i64,
            open: f64,
            high: f64,
            low: f64,
            close: f64,
            volume: f64,
        ) {
            let bar = $crate::Bar {
                time,
                open,
                high,
                low,
                close,
                volume,
            };
            __TRADEDESK_STRATEGY.with(|s| $crate::__rt::on_bar::<$t>(s, bar))
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn tradedesk_on_fill(side: i32, qty: f64, price: f64, complete: i32) {
            __TRADEDESK_STRATEGY
                .with(|s| $crate::__rt::on_fill::<$t>(s, side, qty, price, complete))
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn tradedesk_save() -> i64 {
            __TRADEDESK_STRATEGY.with(|s| $crate::__rt::save::<$t>(s))
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn tradedesk_alloc(len: i32) -> i32 {
            $crate::__rt::alloc(len)
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn tradedesk_restore(ptr: i32, len: i32) -> i32 {
            // SAFETY: the host writes the state where `tradedesk_alloc` said.
            __TRADEDESK_STRATEGY.with(|s| unsafe { $crate::__rt::restore::<$t>(s, ptr, len) })
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn tradedesk_free(ptr: i32, len: i32) {
            // SAFETY: the host gives back only what the module handed out.
            unsafe { $crate::__rt::free(ptr, len) }
        }
    };
}
