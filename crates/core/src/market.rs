//! Market data: trades, order books, tickers and bars (klines), and the
//! aggregation of 1-minute bars into longer intervals.

use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::instrument::Symbol;
use crate::money::{Price, Qty};
use crate::order::Side;
use crate::time::Timestamp;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Interval {
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "5m")]
    M5,
    #[serde(rename = "15m")]
    M15,
    #[serde(rename = "1h")]
    H1,
    #[serde(rename = "4h")]
    H4,
    #[serde(rename = "1d")]
    D1,
}

impl Interval {
    pub const ALL: [Interval; 6] = [
        Interval::M1,
        Interval::M5,
        Interval::M15,
        Interval::H1,
        Interval::H4,
        Interval::D1,
    ];

    pub const fn millis(self) -> i64 {
        const MIN: i64 = 60_000;
        match self {
            Interval::M1 => MIN,
            Interval::M5 => 5 * MIN,
            Interval::M15 => 15 * MIN,
            Interval::H1 => 60 * MIN,
            Interval::H4 => 240 * MIN,
            Interval::D1 => 1440 * MIN,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Interval::M1 => "1m",
            Interval::M5 => "5m",
            Interval::M15 => "15m",
            Interval::H1 => "1h",
            Interval::H4 => "4h",
            Interval::D1 => "1d",
        }
    }
}

impl FromStr for Interval {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Interval::ALL
            .into_iter()
            .find(|i| i.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not an interval (1m, 5m, 15m, 1h, 4h, 1d)"))
    }
}

/// One trade on the market's tape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TradeTick {
    pub id: u64,
    pub time: Timestamp,
    pub price: Price,
    pub qty: Qty,
    /// The side that took liquidity.
    pub taker_side: Side,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BookLevel {
    pub price: Price,
    pub qty: Qty,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct OrderBook {
    /// Best (highest) first.
    pub bids: Vec<BookLevel>,
    /// Best (lowest) first.
    pub asks: Vec<BookLevel>,
}

impl OrderBook {
    pub fn best_bid(&self) -> Option<BookLevel> {
        self.bids.first().copied()
    }

    pub fn best_ask(&self) -> Option<BookLevel> {
        self.asks.first().copied()
    }

    /// The levels a taker on `side` consumes: asks for a buy, bids for a sell.
    pub fn opposite(&self, side: Side) -> &[BookLevel] {
        match side {
            Side::Buy => &self.asks,
            Side::Sell => &self.bids,
        }
    }
}

/// An OHLCV bar opening at `open_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Bar {
    pub open_time: Timestamp,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: Qty,
    pub trades: u64,
}

impl Bar {
    pub fn from_trade(open_time: Timestamp, t: &TradeTick) -> Bar {
        Bar {
            open_time,
            open: t.price,
            high: t.price,
            low: t.price,
            close: t.price,
            volume: t.qty,
            trades: 1,
        }
    }

    /// Adds a trade to the bar. Volume saturates rather than overflow.
    pub fn add_trade(&mut self, t: &TradeTick) {
        self.high = self.high.max(t.price);
        self.low = self.low.min(t.price);
        self.close = t.price;
        self.volume = self.volume.checked_add(t.qty).unwrap_or(self.volume);
        self.trades += 1;
    }

    /// Merges a later bar into this one.
    pub fn merge(&mut self, later: &Bar) {
        self.high = self.high.max(later.high);
        self.low = self.low.min(later.low);
        self.close = later.close;
        self.volume = self.volume.checked_add(later.volume).unwrap_or(self.volume);
        self.trades += later.trades;
    }
}

/// Aggregates bars (sorted by time, of a shorter interval) into bars of
/// `interval`, aligned to UTC multiples of its length. Gaps stay gaps.
pub fn aggregate(bars: &[Bar], interval: Interval) -> Vec<Bar> {
    let mut agg = Aggregator::new(interval, usize::MAX);
    for b in bars {
        agg.push(b);
    }
    agg.into_bars()
}

/// Aggregates a stream of shorter bars into bars of `interval`, keeping
/// only the newest `keep` (memory stays bounded however long the stream).
#[derive(Debug, Clone)]
pub struct Aggregator {
    interval: Interval,
    keep: usize,
    bars: std::collections::VecDeque<Bar>,
}

impl Aggregator {
    pub fn new(interval: Interval, keep: usize) -> Self {
        Aggregator {
            interval,
            keep: keep.max(1),
            bars: std::collections::VecDeque::new(),
        }
    }

    /// Adds the next bar (bars must come oldest first).
    pub fn push(&mut self, b: &Bar) {
        let start = b.open_time.floor_to(self.interval.millis());
        match self.bars.back_mut() {
            Some(last) if last.open_time == start => last.merge(b),
            Some(last) if last.open_time > start => {}
            _ => {
                if self.bars.len() == self.keep {
                    self.bars.pop_front();
                }
                self.bars.push_back(Bar {
                    open_time: start,
                    ..*b
                });
            }
        }
    }

    pub fn last_open(&self) -> Option<Timestamp> {
        self.bars.back().map(|b| b.open_time)
    }

    pub fn into_bars(self) -> Vec<Bar> {
        self.bars.into()
    }
}

/// A ticker: last price, best bid/ask and the last 24 hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ticker {
    pub symbol: Symbol,
    pub time: Timestamp,
    pub last: Price,
    pub bid: Option<Price>,
    pub ask: Option<Price>,
    pub open_24h: Price,
    pub high_24h: Price,
    pub low_24h: Price,
    pub volume_24h: Qty,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(min: i64, o: &str, h: &str, l: &str, c: &str, v: &str) -> Bar {
        Bar {
            open_time: Timestamp(min * 60_000),
            open: o.parse().unwrap(),
            high: h.parse().unwrap(),
            low: l.parse().unwrap(),
            close: c.parse().unwrap(),
            volume: v.parse().unwrap(),
            trades: 1,
        }
    }

    #[test]
    fn aggregation_aligns_to_utc_and_keeps_gaps() {
        let bars = [
            bar(3, "10", "12", "9", "11", "1"),
            bar(4, "11", "15", "10", "14", "2"),
            bar(5, "14", "14", "8", "9", "3"),
            bar(11, "9", "10", "9", "10", "1"),
        ];
        let five = aggregate(&bars, Interval::M5);
        assert_eq!(five.len(), 3);
        assert_eq!(
            five[0],
            Bar {
                trades: 2,
                ..bar(0, "10", "15", "9", "14", "3")
            }
        );
        assert_eq!(five[1], bar(5, "14", "14", "8", "9", "3"));
        assert_eq!(five[2].open_time, Timestamp(10 * 60_000));
        let mut agg = Aggregator::new(Interval::M5, 2);
        for b in &bars {
            agg.push(b);
        }
        assert_eq!(
            agg.into_bars(),
            five[1..],
            "the streaming aggregator keeps the newest bars"
        );
        assert_eq!("4h".parse::<Interval>(), Ok(Interval::H4));
        assert!("2m".parse::<Interval>().is_err());
    }
}
