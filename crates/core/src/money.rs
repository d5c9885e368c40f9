//! Exact money: `Price`, `Qty` and `Notional` over `rust_decimal`.
//!
//! Each type is one dimension: a price (quote per base unit), a quantity
//! (base units) and a notional (quote units). Only meaningful arithmetic is
//! offered (`Price × Qty → Notional`, `Notional ÷ Qty → Price`, sums within
//! one type), every operation that can overflow is `checked_*`, and nothing
//! here panics. On the wire each is a decimal string (`"0.015"`): a JSON
//! number is refused, because a float cannot carry money exactly.

#![deny(clippy::arithmetic_side_effects)]

use std::fmt;
use std::str::FromStr;

use rust_decimal::prelude::FromPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most decimal places a value may carry.
pub const MAX_SCALE: u32 = 18;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not a decimal number")]
    NotANumber(String),
    #[error("`{value}` has {scale} decimal places; at most {MAX_SCALE} are allowed")]
    TooPrecise { value: String, scale: u32 },
    #[error("arithmetic overflow")]
    Overflow,
}

/// Parses a decimal string strictly: digits with an optional sign and
/// point; no spaces, no exponent, no NaN or infinity, at most
/// [`MAX_SCALE`] places (the schema's pattern, exactly).
pub fn parse_decimal(text: &str) -> Result<Decimal, MoneyError> {
    let t = text;
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    let valid = !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && body.bytes().filter(|&b| b == b'.').count() <= 1
        && body.bytes().any(|b| b.is_ascii_digit());
    if !valid {
        return Err(MoneyError::NotANumber(text.to_owned()));
    }
    let d = Decimal::from_str(t).map_err(|_| MoneyError::NotANumber(text.to_owned()))?;
    if d.scale() > MAX_SCALE {
        return Err(MoneyError::TooPrecise {
            value: text.to_owned(),
            scale: d.scale(),
        });
    }
    Ok(d.normalize())
}

macro_rules! decimal_type {
    ($(#[doc = $doc:literal])* $name:ident, $what:literal) => {
        $(#[doc = $doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(Decimal);

        impl $name {
            pub const ZERO: $name = $name(Decimal::ZERO);

            pub const fn new(d: Decimal) -> Self {
                $name(d)
            }

            pub const fn get(self) -> Decimal {
                self.0
            }

            pub fn is_zero(self) -> bool {
                self.0.is_zero()
            }

            /// [`Self::is_zero`] by reference (for `skip_serializing_if`).
            #[allow(clippy::trivially_copy_pass_by_ref)]
            pub fn is_zero_ref(&self) -> bool {
                self.0.is_zero()
            }

            pub fn is_positive(self) -> bool {
                self.0 > Decimal::ZERO
            }

            pub fn is_negative(self) -> bool {
                self.0 < Decimal::ZERO
            }

            #[must_use]
            pub fn abs(self) -> Self {
                $name(self.0.abs())
            }

            /// The value with its sign flipped (a sign bit: it cannot overflow).
            #[must_use]
            #[allow(clippy::arithmetic_side_effects)]
            pub fn negated(self) -> Self {
                $name(-self.0)
            }

            pub fn checked_add(self, o: Self) -> Option<Self> {
                self.0.checked_add(o.0).map($name)
            }

            pub fn checked_sub(self, o: Self) -> Option<Self> {
                self.0.checked_sub(o.0).map($name)
            }

            /// Scales by a dimensionless factor (a ratio, a percentage / 100).
            pub fn checked_scale(self, factor: Decimal) -> Option<Self> {
                self.0.checked_mul(factor).map($name)
            }

            #[must_use]
            pub fn min(self, o: Self) -> Self {
                if o < self { o } else { self }
            }

            #[must_use]
            pub fn max(self, o: Self) -> Self {
                if o > self { o } else { self }
            }

            #[must_use]
            pub fn normalize(self) -> Self {
                $name(self.0.normalize())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.normalize(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = MoneyError;
            fn from_str(s: &str) -> Result<Self, MoneyError> {
                parse_decimal(s).map($name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0.normalize())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a ", $what, " as a decimal string such as \"12.5\""))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": "^[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)$",
                    "description": concat!("A ", $what, " as an exact decimal string."),
                })
            }
        }
    };
}

decimal_type! {
    /// Quote currency per unit of base asset.
    Price, "price"
}
decimal_type! {
    /// An amount of the base asset (or of any single asset).
    Qty, "quantity"
}
decimal_type! {
    /// An amount of the quote currency: cost, proceeds, fees, PnL.
    Notional, "notional amount"
}

decimal_type! {
    /// A dimensionless fraction (0.25 is a quarter).
    Ratio, "ratio"
}

impl Price {
    pub fn checked_mul_qty(self, q: Qty) -> Option<Notional> {
        self.0.checked_mul(q.0).map(Notional)
    }
}

impl Qty {
    pub fn checked_mul_price(self, p: Price) -> Option<Notional> {
        p.checked_mul_qty(self)
    }

    /// Rounds down to a multiple of `step` (a lot size); `step` must be positive.
    pub fn floor_to(self, step: Qty) -> Option<Qty> {
        if !step.is_positive() {
            return None;
        }
        // Lots are mostly powers of ten (1, 0.001, 1e-8): flooring to one
        // is cutting decimals, no division.
        if step.0.mantissa() == 1 {
            let cut = self
                .0
                .round_dp_with_strategy(step.0.scale(), RoundingStrategy::ToNegativeInfinity);
            return Some(Qty(cut.normalize()));
        }
        let n = self.0.checked_div(step.0)?.floor();
        n.checked_mul(step.0).map(|d| Qty(d.normalize()))
    }
}

impl Notional {
    /// Average price of a notional spread over a quantity.
    pub fn checked_div_qty(self, q: Qty) -> Option<Price> {
        self.0.checked_div(q.0).map(Price)
    }

    /// How many units of `p` this amount buys.
    pub fn checked_div_price(self, p: Price) -> Option<Qty> {
        self.0.checked_div(p.0).map(Qty)
    }
}

/// True when `value` is a whole multiple of `step`.
pub fn is_multiple(value: Decimal, step: Decimal) -> bool {
    if step <= Decimal::ZERO {
        return false;
    }
    value.checked_rem(step).is_some_and(|r| r.is_zero())
}

/// Rounds an f64 price to the tick grid, exactly.
#[inline]
pub fn price_from_f64(x: f64, tick: Price) -> Price {
    let t = rust_decimal::prelude::ToPrimitive::to_f64(&tick.get()).unwrap_or(0.0);
    price_on_grid(x, tick, t)
}

/// [`price_from_f64`] with the tick also given as f64 (cached by callers).
#[inline]
pub fn price_on_grid(x: f64, tick: Price, tick_f64: f64) -> Price {
    // Fast path: count ticks in f64 (exact while they fit in 2^53).
    if tick_f64 > 0.0 {
        let steps = (x / tick_f64).round();
        if steps.is_finite()
            && steps.abs() < 9.0e15
            && let Some(p) = Decimal::from(steps as i64).checked_mul(tick.get())
        {
            return Price::new(p.normalize());
        }
    }
    // A price beyond what a decimal holds is no price (callers then skip).
    let d = Decimal::from_f64(x).unwrap_or(Decimal::ZERO);
    round_to_tick(d, tick, rust_decimal::RoundingStrategy::MidpointNearestEven)
        .unwrap_or(Price::ZERO)
}

/// `d` rounded to the tick grid; `None` when too large to do exactly.
#[inline]
pub(crate) fn round_to_tick(
    d: Decimal,
    tick: Price,
    how: rust_decimal::RoundingStrategy,
) -> Option<Price> {
    let t = tick.get();
    if t <= Decimal::ZERO {
        return Some(Price::new(d));
    }
    let steps = d.checked_div(t)?.round_dp_with_strategy(0, how);
    Some(Price::new(steps.checked_mul(t)?.normalize()))
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // expectations are worked out plainly
mod tests {
    use proptest::prelude::*;
    use rust_decimal::prelude::FromPrimitive;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn parsing_is_strict() {
        for ok in ["1", "0.5", "-3.25", "+7", ".5", "5.", "000.10"] {
            assert!(parse_decimal(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "-", ".", "NaN", "inf", "1e5", "1,5", "1.2.3", " ", "0x10", "١", " 0.001", "1 ",
            "\t1", "1\n",
        ] {
            assert!(
                matches!(parse_decimal(bad), Err(MoneyError::NotANumber(_))),
                "{bad}"
            );
        }
        let too = format!("0.{}1", "0".repeat(18));
        assert!(matches!(
            parse_decimal(&too),
            Err(MoneyError::TooPrecise { scale: 19, .. })
        ));
        assert_eq!(parse_decimal("1.50").unwrap().to_string(), "1.5");
    }

    #[test]
    fn wire_form_is_a_string_and_numbers_are_refused() {
        let q: Qty = serde_json::from_str("\"0.015\"").unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), "\"0.015\"");
        let err = serde_json::from_str::<Qty>("0.015")
            .unwrap_err()
            .to_string();
        assert!(err.contains("decimal string"), "{err}");
        assert!(serde_json::from_str::<Price>("\"NaN\"").is_err());
    }

    #[test]
    fn dimensions_multiply_exactly() {
        let p = Price::new(d("0.1"));
        let q = Qty::new(d("0.2"));
        assert_eq!(p.checked_mul_qty(q), Some(Notional::new(d("0.02"))));
        assert_eq!(
            Notional::new(d("10")).checked_div_qty(Qty::new(d("4"))),
            Some(Price::new(d("2.5")))
        );
        assert_eq!(
            Qty::new(d("1.2345")).floor_to(Qty::new(d("0.01"))),
            Some(Qty::new(d("1.23")))
        );
        assert_eq!(Qty::new(d("1")).floor_to(Qty::ZERO), None);
        assert!(is_multiple(d("1.25"), d("0.05")));
        assert!(!is_multiple(d("1.26"), d("0.05")));
        assert_eq!(
            Notional::new(Decimal::MAX).checked_add(Notional::new(Decimal::ONE)),
            None
        );
    }

    proptest! {
        #[test]
        fn addition_round_trips(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000, s in 0u32..8) {
            let x = Notional::new(Decimal::new(a, s));
            let y = Notional::new(Decimal::new(b, s));
            let sum = x.checked_add(y).unwrap();
            prop_assert_eq!(sum.checked_sub(y).unwrap(), x);
        }

        #[test]
        fn display_parses_back(a in any::<i64>(), s in 0u32..18) {
            let x = Price::new(Decimal::new(a, s));
            let back: Price = x.to_string().parse().unwrap();
            prop_assert_eq!(back, x);
            let json = serde_json::to_string(&x).unwrap();
            prop_assert_eq!(serde_json::from_str::<Price>(&json).unwrap(), x);
        }

        #[test]
        fn floor_to_never_exceeds_and_is_a_multiple(q in 0u64..10_000_000, step in 1u64..1000) {
            let qty = Qty::new(Decimal::new(q as i64, 4));
            let lot = Qty::new(Decimal::new(step as i64, 5));
            let f = qty.floor_to(lot).unwrap();
            prop_assert!(f <= qty);
            prop_assert!(is_multiple(f.get(), lot.get()));
            prop_assert!(qty.checked_sub(f).unwrap() < lot);
        }

        #[test]
        fn floor_to_a_power_of_ten_cuts_as_the_division_would(q in any::<i64>(), s in 0u32..20, lot in 0u32..12) {
            let qty = Qty::new(Decimal::new(q, s));
            let step = Decimal::new(1, lot);
            let cut = qty.floor_to(Qty::new(step)).unwrap();
            prop_assert!(cut <= qty && qty.checked_sub(cut).unwrap().get() < step);
            // Where the division fits, it gives the same.
            if let Some(n) = qty.get().checked_div(step) {
                let by_division = n.floor().checked_mul(step).map(|d| Qty::new(d.normalize()));
                prop_assert_eq!(Some(cut), by_division);
            }
        }

        #[test]
        fn float_inputs_never_sneak_in(x in any::<f64>()) {
            // Whatever a float prints as, the wire form refuses a number.
            let json = serde_json::to_string(&x).unwrap();
            prop_assert!(serde_json::from_str::<Qty>(&json).is_err());
            let _ = Decimal::from_f64(x);
        }
    }
}
