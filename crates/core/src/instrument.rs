//! Instruments: a validated `Symbol`, and the trading rules (tick size, lot
//! size, minimum quantity and notional) every order is checked against.

#![deny(clippy::arithmetic_side_effects)]

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::money::{Notional, Price, Qty, is_multiple};

/// A market symbol: 2–20 upper-case ASCII letters and digits (`BTCUSDT`).
///
/// Held inline (no heap): symbols are cloned into every order, event and
/// fill, so a clone is a 21-byte copy. Compares, orders and hashes as its
/// text.
#[derive(Clone)]
pub struct Symbol {
    len: u8,
    bytes: [u8; Symbol::MAX],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a symbol (2 to 20 upper-case letters and digits, like BTCUSDT)")]
pub struct InvalidSymbol(String);

impl Symbol {
    const MAX: usize = 20;

    pub fn as_str(&self) -> &str {
        let b = &self.bytes[..usize::from(self.len)];
        // Only ASCII letters and digits are ever stored (see `from_str`).
        std::str::from_utf8(b).unwrap_or_default()
    }
}

impl FromStr for Symbol {
    type Err = InvalidSymbol;
    /// Letters are taken in either case and kept upper case (`btcusdt` is
    /// `BTCUSDT`).
    fn from_str(s: &str) -> Result<Self, InvalidSymbol> {
        let ok =
            (2..=Symbol::MAX).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(InvalidSymbol(s.to_owned()));
        }
        let mut bytes = [0; Symbol::MAX];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        bytes.make_ascii_uppercase();
        Ok(Symbol {
            len: s.len() as u8,
            bytes,
        })
    }
}

impl PartialEq for Symbol {
    fn eq(&self, other: &Symbol) -> bool {
        // Unused bytes are always zero: the whole arrays compare as the text.
        self.len == other.len && self.bytes == other.bytes
    }
}

impl Eq for Symbol {}

impl PartialOrd for Symbol {
    fn partial_cmp(&self, other: &Symbol) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Symbol {
    fn cmp(&self, other: &Symbol) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Symbol {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_str().hash(h);
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Symbol").field(&self.as_str()).finish()
    }
}

impl Serialize for Symbol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Symbol {
    fn inline_schema() -> bool {
        String::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        String::schema_name()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[A-Za-z0-9]{2,20}$",
            "description": "A symbol such as BTCUSDT; letters in either case, kept upper case."
        })
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tradable pair and its rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Instrument {
    pub symbol: Symbol,
    pub base: String,
    pub quote: String,
    /// Prices must be whole multiples of this.
    pub tick_size: Price,
    /// Quantities must be whole multiples of this.
    pub lot_size: Qty,
    pub min_qty: Qty,
    /// The smallest order value, price × quantity, in the quote currency.
    pub min_notional: Notional,
}

/// Why an order does not fit an instrument's rules; always names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("`{field}` must be greater than zero, got {value}")]
    NotPositive { field: &'static str, value: String },
    #[error(
        "`{field}` {value} is not a multiple of the {symbol} {rule} {step} (nearest valid: {below} or {above})"
    )]
    OffGrid {
        field: &'static str,
        symbol: String,
        rule: &'static str,
        value: String,
        step: String,
        below: String,
        above: String,
    },
    #[error("`qty` {value} is below the {symbol} minimum quantity {min}")]
    BelowMinQty {
        symbol: String,
        value: String,
        min: String,
    },
    #[error("order value {value} is below the {symbol} minimum notional {min}")]
    BelowMinNotional {
        symbol: String,
        value: String,
        min: String,
    },
    #[error("`{field}` is too large")]
    Overflow { field: &'static str },
}

impl RuleError {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            RuleError::NotPositive { field, .. }
            | RuleError::OffGrid { field, .. }
            | RuleError::Overflow { field } => field,
            RuleError::BelowMinQty { .. } | RuleError::BelowMinNotional { .. } => "qty",
        }
    }
}

fn grid_error(
    field: &'static str,
    symbol: &Symbol,
    rule: &'static str,
    value: rust_decimal::Decimal,
    step: rust_decimal::Decimal,
) -> RuleError {
    // The nearest valid values, when they can be worked out exactly (a
    // value far too large for its step has none to suggest).
    let below = value
        .checked_div(step)
        .map(|n| n.floor())
        .and_then(|n| n.checked_mul(step));
    let above = below.and_then(|b| b.checked_add(step));
    let show = |d: Option<rust_decimal::Decimal>| {
        d.map_or_else(|| "-".to_owned(), |d| d.normalize().to_string())
    };
    RuleError::OffGrid {
        field,
        symbol: symbol.to_string(),
        rule,
        value: value.normalize().to_string(),
        step: step.normalize().to_string(),
        below: show(below),
        above: show(above),
    }
}

impl Instrument {
    /// A price for `field` (`price`, `stop_price`): positive and on the tick grid.
    pub fn check_price(&self, field: &'static str, p: Price) -> Result<Price, RuleError> {
        if !p.is_positive() {
            return Err(RuleError::NotPositive {
                field,
                value: p.to_string(),
            });
        }
        if !is_multiple(p.get(), self.tick_size.get()) {
            return Err(grid_error(
                field,
                &self.symbol,
                "tick size",
                p.get(),
                self.tick_size.get(),
            ));
        }
        Ok(p.normalize())
    }

    /// An order quantity: positive, on the lot grid, at least the minimum.
    pub fn check_qty(&self, q: Qty) -> Result<Qty, RuleError> {
        if !q.is_positive() {
            return Err(RuleError::NotPositive {
                field: "qty",
                value: q.to_string(),
            });
        }
        if !is_multiple(q.get(), self.lot_size.get()) {
            return Err(grid_error(
                "qty",
                &self.symbol,
                "lot size",
                q.get(),
                self.lot_size.get(),
            ));
        }
        if q < self.min_qty {
            return Err(RuleError::BelowMinQty {
                symbol: self.symbol.to_string(),
                value: q.to_string(),
                min: self.min_qty.to_string(),
            });
        }
        Ok(q.normalize())
    }

    /// The order's value at `p` must reach the minimum notional.
    pub fn check_notional(&self, q: Qty, p: Price) -> Result<Notional, RuleError> {
        let value = p
            .checked_mul_qty(q)
            .ok_or(RuleError::Overflow { field: "qty" })?;
        if value < self.min_notional {
            return Err(RuleError::BelowMinNotional {
                symbol: self.symbol.to_string(),
                value: value.to_string(),
                min: self.min_notional.to_string(),
            });
        }
        Ok(value)
    }

    /// Rounds a price to the nearest tick (a price too large to round
    /// exactly is returned as it is; validation then refuses it).
    pub fn round_price(&self, p: rust_decimal::Decimal) -> Price {
        let t = self.tick_size.get();
        let rounded = p
            .checked_div(t)
            .map(|n| n.round())
            .and_then(|n| n.checked_mul(t));
        Price::new(rounded.unwrap_or(p).normalize())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// BTCUSDT with a 0.01 tick, minimum notional 5, and lot size (= minimum
    /// quantity) `lot`; shared by the tests of the modules that check orders.
    pub(crate) fn btc_with_lot(lot: &str) -> Instrument {
        Instrument {
            symbol: "BTCUSDT".parse().unwrap(),
            base: "BTC".into(),
            quote: "USDT".into(),
            tick_size: "0.01".parse().unwrap(),
            lot_size: lot.parse().unwrap(),
            min_qty: lot.parse().unwrap(),
            min_notional: "5".parse().unwrap(),
        }
    }

    fn btc() -> Instrument {
        btc_with_lot("0.00001")
    }

    #[test]
    fn symbols_are_validated() {
        assert!("BTCUSDT".parse::<Symbol>().is_ok());
        for bad in ["", "B", "BTC-USDT", "BTC USDT", "ABCDEFGHIJKLMNOPQRSTU"] {
            assert!(bad.parse::<Symbol>().is_err(), "{bad}");
        }
        // Lower case is the same symbol, normalised (as exchanges do).
        assert_eq!("btcusdt".parse::<Symbol>().unwrap().as_str(), "BTCUSDT");
        assert_eq!(
            serde_json::from_str::<Symbol>("\"ethBtc\"")
                .unwrap()
                .as_str(),
            "ETHBTC"
        );
        assert!(serde_json::from_str::<Symbol>("\"b\"").is_err());
    }

    #[test]
    fn symbols_behave_as_their_text() {
        let s = |t: &str| t.parse::<Symbol>().unwrap();
        let longest = "ABCDEFGHIJKLMNOPQRST";
        assert_eq!(s(longest).as_str(), longest);
        assert_eq!(s("BTCUSDT").to_string(), "BTCUSDT");
        assert_eq!(format!("{:?}", s("ETHBTC")), "Symbol(\"ETHBTC\")");
        // Ordered as text, not by length.
        let mut v = [s("ETHUSDT"), s("BTCUSDT"), s("BTC2"), s("AB")];
        v.sort();
        let names: Vec<&str> = v.iter().map(Symbol::as_str).collect();
        assert_eq!(names, ["AB", "BTC2", "BTCUSDT", "ETHUSDT"]);
        assert_ne!(s("BTCUSD"), s("BTCUSDT"));
        let set: std::collections::HashSet<Symbol> =
            [s("BTCUSDT"), s("BTCUSDT"), s("ETHUSDT")].into();
        assert_eq!(set.len(), 2);
        assert_eq!(serde_json::to_string(&s("BTCUSDT")).unwrap(), "\"BTCUSDT\"");
        assert_eq!(
            serde_json::from_str::<Symbol>("\"ETHUSDT\"").unwrap(),
            s("ETHUSDT")
        );
    }

    #[test]
    fn rules_name_the_field_and_the_nearest_valid_values() {
        let i = btc();
        let err = i
            .check_price("price", "100.005".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`price`") && err.contains("100") && err.contains("100.01"),
            "{err}"
        );
        let err = i
            .check_qty("0.000015".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("`qty`") && err.contains("lot size"), "{err}");
        for bad in ["0", "-1"] {
            let err = i.check_qty(bad.parse().unwrap()).unwrap_err();
            assert!(matches!(err, RuleError::NotPositive { field: "qty", .. }));
        }
        let err = i
            .check_price("stop_price", "-5".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("`stop_price`"), "{err}");
        let err = i
            .check_notional("0.0001".parse().unwrap(), "100".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("minimum notional 5"), "{err}");
        assert_eq!(
            i.check_qty("0.001".parse().unwrap()).unwrap().to_string(),
            "0.001"
        );
        assert_eq!(
            i.round_price("100.006".parse().unwrap()).to_string(),
            "100.01"
        );
    }
}
