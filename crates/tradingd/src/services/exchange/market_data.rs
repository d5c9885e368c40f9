//! Market data kept in memory per symbol: the recent tape, the last day of
//! 1-minute bars, and the bar still forming. Closed bars are also written
//! to SQLite by the caller.

use std::collections::VecDeque;

use tradedesk_core::instrument::Symbol;
use tradedesk_core::market::{Bar, Ticker, TradeTick};
use tradedesk_core::money::{Price, Qty};
use tradedesk_core::time::Timestamp;

const TAPE: usize = 1000;
const DAY_OF_MINUTES: usize = 1440;
const MINUTE: i64 = 60_000;

pub struct SymbolData {
    pub recent: VecDeque<TradeTick>,
    /// Closed 1-minute bars, oldest first, at most a day.
    pub bars: VecDeque<Bar>,
    pub forming: Option<Bar>,
    pub last: Price,
    pub last_time: Timestamp,
}

impl SymbolData {
    pub fn new(last: Price, bars: Vec<Bar>) -> Self {
        let mut bars: VecDeque<Bar> = bars.into();
        while bars.len() > DAY_OF_MINUTES {
            bars.pop_front();
        }
        SymbolData {
            recent: VecDeque::with_capacity(TAPE),
            bars,
            forming: None,
            last,
            last_time: Timestamp(0),
        }
    }

    /// Takes the venue's own closed bar for a minute: it replaces the one
    /// built from trades (some may have been missed across a reconnect);
    /// true when a stored bar changed. The minute still forming takes the
    /// venue's figures and closes with them; a minute after it is left to
    /// the trades.
    pub fn correct(&mut self, bar: Bar) -> bool {
        if let Some(f) = &mut self.forming {
            if f.open_time == bar.open_time {
                *f = bar;
                return false;
            }
            if bar.open_time > f.open_time {
                return false;
            }
        }
        match self
            .bars
            .binary_search_by_key(&bar.open_time, |b| b.open_time)
        {
            Ok(i) if self.bars[i] == bar => false,
            Ok(i) => {
                self.bars[i] = bar;
                true
            }
            Err(0) if self.bars.len() == DAY_OF_MINUTES => false,
            Err(i) => {
                self.bars.insert(i, bar);
                if self.bars.len() > DAY_OF_MINUTES {
                    self.bars.pop_front();
                }
                true
            }
        }
    }

    /// Adds a trade; returns the bar it closed, if it opened a new minute.
    pub fn on_trade(&mut self, t: &TradeTick) -> Option<Bar> {
        if self.recent.len() == TAPE {
            self.recent.pop_back();
        }
        self.recent.push_front(*t);
        self.last = t.price;
        self.last_time = t.time;
        let minute = t.time.floor_to(MINUTE);
        match &mut self.forming {
            Some(bar) if bar.open_time == minute => {
                bar.add_trade(t);
                None
            }
            _ => {
                let closed = self.forming.replace(Bar::from_trade(minute, t));
                if let Some(c) = closed {
                    if self.bars.len() == DAY_OF_MINUTES {
                        self.bars.pop_front();
                    }
                    self.bars.push_back(c);
                }
                closed
            }
        }
    }

    /// The ticker as of the last trade: 24-hour figures from the bars.
    pub fn ticker(&self, symbol: &Symbol, bid: Option<Price>, ask: Option<Price>) -> Ticker {
        let since = Timestamp(self.last_time.millis().saturating_sub(86_400_000));
        let window = self
            .bars
            .iter()
            .filter(|b| b.open_time >= since)
            .chain(self.forming.iter());
        let mut open = None;
        let (mut high, mut low, mut volume) = (self.last, self.last, Qty::ZERO);
        for b in window {
            open.get_or_insert(b.open);
            high = high.max(b.high);
            low = low.min(b.low);
            volume = volume.checked_add(b.volume).unwrap_or(volume);
        }
        Ticker {
            symbol: symbol.clone(),
            time: self.last_time,
            last: self.last,
            bid,
            ask,
            open_24h: open.unwrap_or(self.last),
            high_24h: high,
            low_24h: low,
            volume_24h: volume,
        }
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // expectations are worked out plainly
mod tests {
    use tradedesk_core::order::Side;

    use super::*;

    fn t(ms: i64, price: &str) -> TradeTick {
        TradeTick {
            id: 1,
            time: Timestamp(ms),
            price: price.parse().unwrap(),
            qty: "1".parse().unwrap(),
            taker_side: Side::Buy,
        }
    }

    #[test]
    fn bars_close_on_the_minute_and_tickers_span_the_day() {
        let mut d = SymbolData::new("100".parse().unwrap(), Vec::new());
        assert!(d.on_trade(&t(0, "100")).is_none());
        assert!(d.on_trade(&t(59_999, "105")).is_none());
        let closed = d.on_trade(&t(60_000, "99")).expect("minute closed");
        assert_eq!(
            (
                closed.open.to_string(),
                closed.high.to_string(),
                closed.close.to_string()
            ),
            ("100".into(), "105".into(), "105".into())
        );
        assert_eq!(closed.volume, "2".parse().unwrap());
        let tk = d.ticker(&"BTCUSDT".parse().unwrap(), None, None);
        assert_eq!(
            (
                tk.open_24h.to_string(),
                tk.high_24h.to_string(),
                tk.low_24h.to_string(),
                tk.last.to_string()
            ),
            ("100".into(), "105".into(), "99".into(), "99".into())
        );
        assert_eq!(tk.volume_24h, "3".parse().unwrap());
        assert_eq!(
            d.recent.front().map(|x| x.price.to_string()),
            Some("99".into())
        );
    }
}
