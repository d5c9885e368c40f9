//! Cuts a stream of closed 1-minute bars into closed bars of a bot's interval.

use tradedesk_core::market::{Bar, Interval};

/// Cuts a stream of closed 1-minute bars into closed bars of an interval.
#[derive(Debug, Clone)]
pub(super) struct Closer {
    pub(super) interval: Interval,
    pub(super) forming: Option<Bar>,
}

impl Closer {
    pub(super) fn new(interval: Interval) -> Closer {
        Closer {
            interval,
            forming: None,
        }
    }

    /// Adds a closed minute; returns the interval bars it completed.
    pub(super) fn push(&mut self, m: &Bar) -> Vec<Bar> {
        let ms = self.interval.millis();
        let start = m.open_time.floor_to(ms);
        let mut out = Vec::new();
        match &mut self.forming {
            Some(f) if f.open_time == start => f.merge(m),
            Some(f) if f.open_time > start => return out,
            _ => {
                // A minute of a later interval: the one forming is complete.
                if let Some(f) = self.forming.take() {
                    out.push(f);
                }
                self.forming = Some(Bar {
                    open_time: start,
                    ..*m
                });
            }
        }
        if m.open_time.millis().saturating_add(60_000) >= start.millis().saturating_add(ms)
            && let Some(f) = self.forming.take()
        {
            out.push(f);
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // expectations are worked out plainly
mod tests {
    use tradedesk_core::money::{Price, Qty};
    use tradedesk_core::time::Timestamp;

    use super::*;

    fn minute(i: i64, close: i64) -> Bar {
        let p = |x: i64| Price::new(x.into());
        Bar {
            open_time: Timestamp(i * 60_000),
            open: p(close - 1),
            high: p(close + 2),
            low: p(close - 2),
            close: p(close),
            volume: Qty::new(1.into()),
            trades: 1,
        }
    }

    #[test]
    fn minutes_close_five_minute_bars_at_their_last_minute() {
        let mut c = Closer::new(Interval::M5);
        let mut closed = Vec::new();
        for i in 0..12 {
            closed.extend(c.push(&minute(i, 100 + i)));
        }
        assert_eq!(closed.len(), 2, "bars 0–4 and 5–9 closed, 10–11 forming");
        let first = &closed[0];
        assert_eq!(first.open_time, Timestamp(0));
        assert_eq!(first.open.get(), 99.into());
        assert_eq!(first.close.get(), 104.into());
        assert_eq!(first.high.get(), 106.into());
        assert_eq!(first.low.get(), 98.into());
        assert_eq!(first.volume.get(), 5.into());
        assert_eq!(closed[1].open_time, Timestamp(5 * 60_000));
        assert_eq!(closed[1].close.get(), 109.into());
    }

    #[test]
    fn a_gap_closes_the_forming_bar_and_a_late_minute_is_ignored() {
        let mut c = Closer::new(Interval::M5);
        assert!(c.push(&minute(0, 100)).is_empty());
        assert!(c.push(&minute(1, 101)).is_empty());
        // The market skipped to minute 7: the 0–4 bar is complete as it is.
        let out = c.push(&minute(7, 107));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].close.get(), 101.into());
        // A minute of an earlier bar changes nothing.
        assert!(c.push(&minute(3, 50)).is_empty());
        let out = c.push(&minute(9, 109));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].open_time, Timestamp(5 * 60_000));
        assert_eq!(out[0].low.get(), 105.into());
    }
}
