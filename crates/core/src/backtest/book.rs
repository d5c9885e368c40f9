//! The backtester's book: cash, positions and working orders, and the
//! portfolio view the engine sees of it.

use crate::instrument::{Instrument, Symbol};
use crate::ledger::Position;
use crate::money::price_on_grid;
use crate::money::{Price, Qty};
use crate::order::{Side, Terms};
use crate::portfolio::{OpenOrder, Portfolio, Role};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// An order resting at the simulated broker.
#[derive(Debug, Clone)]
pub(super) struct Working {
    pub(super) tag: String,
    /// The pair's tag, for OCO legs.
    pub(super) pair: Option<String>,
    pub(super) leg: usize,
    pub(super) market: usize,
    pub(super) side: Side,
    pub(super) role: Role,
    pub(super) qty: Qty,
    pub(super) terms: Terms,
    /// The best price since placement (trailing stops).
    pub(super) best: Option<f64>,
    /// Placed at this step: it can fill from the next bar on.
    pub(super) placed: usize,
}

/// The shared portfolio: cash, every leg's positions, working orders.
pub(super) struct Book<'m> {
    pub(super) markets: &'m [Instrument],
    pub(super) cash: Decimal,
    pub(super) cash_f64: f64,
    pub(super) leverage: Decimal,
    pub(super) levered: bool,
    /// `[leg][market]`.
    pub(super) positions: Vec<Vec<Position>>,
    pub(super) qty_f64: Vec<f64>,
    pub(super) last: Vec<f64>,
    /// Each market's tick size as f64.
    pub(super) tick_f64: Vec<f64>,
    /// `last` on the tick grid, worked out when first needed after a bar.
    pub(super) last_exact: Vec<std::cell::Cell<Option<Price>>>,
    pub(super) working: Vec<Working>,
    /// Quote held back for resting buy limits.
    pub(super) reserved: Decimal,
    /// Set when an amount left the decimal range; the run stops with
    /// `BacktestError::Overflow` at the end of the step.
    pub(super) overflow: std::cell::Cell<bool>,
    /// A margin account's terms; `None`: spot (long only).
    pub(super) margin: Option<MarginBook>,
    pub(super) leverage_f64: f64,
    /// Each market's minimum quantity and notional, as f64.
    pub(super) mins: Vec<(f64, f64)>,
}

/// A margin account's terms as the book applies them.
pub(super) struct MarginBook {
    /// The maintenance level, a fraction of gross position value.
    pub(super) maintenance: f64,
    /// Borrow cost per period, a fraction of a short's value.
    pub(super) borrow: Decimal,
    pub(super) period_ms: i64,
    /// The borrow period of the last step (charged up to it).
    pub(super) period: Option<i64>,
    /// When the next period starts (ms): steps before it pass no boundary.
    pub(super) next_at: i64,
}

/// The book as one leg's engine sees it.
pub(super) struct View<'b, 'm> {
    pub(super) book: &'b Book<'m>,
    pub(super) leg: usize,
}

impl Book<'_> {
    #[inline]
    pub(super) fn set_last(&mut self, m: usize, close: f64) {
        self.last[m] = close;
        self.last_exact[m].set(None);
    }

    #[inline]
    pub(super) fn market_of(&self, symbol: &Symbol) -> Option<usize> {
        self.markets.iter().position(|m| &m.symbol == symbol)
    }

    /// `a` op `b`, or `fallback` with the overflow flag set.
    #[inline]
    pub(super) fn checked(&self, r: Option<Decimal>, fallback: Decimal) -> Decimal {
        r.unwrap_or_else(|| {
            self.overflow.set(true);
            fallback
        })
    }

    /// What every leg together holds of market `m`.
    #[inline]
    pub(super) fn held(&self, m: usize) -> Decimal {
        let sum = self
            .positions
            .iter()
            .try_fold(Decimal::ZERO, |s, p| s.checked_add(p[m].qty.get()));
        self.checked(sum, Decimal::MAX)
    }

    /// Market `m`'s last close on its tick grid.
    #[inline]
    pub(super) fn last_price(&self, m: usize) -> Price {
        let cell = &self.last_exact[m];
        cell.get().unwrap_or_else(|| {
            let p = price_on_grid(self.last[m], self.markets[m].tick_size, self.tick_f64[m]);
            cell.set(Some(p));
            p
        })
    }

    #[inline]
    pub(super) fn equity(&self) -> Decimal {
        let mut e = self.cash;
        for m in 0..self.markets.len() {
            let held = self.held(m);
            if !held.is_zero() {
                let p = self.last_price(m);
                e = self.checked(
                    held.checked_mul(p.get()).and_then(|v| e.checked_add(v)),
                    Decimal::MAX,
                );
            }
        }
        e
    }

    /// Equity and the positions' gross value (longs and shorts) at the
    /// last closes, in one pass.
    pub(super) fn equity_and_gross(&self) -> (Decimal, Decimal) {
        let (mut e, mut g) = (self.cash, Decimal::ZERO);
        for m in 0..self.markets.len() {
            let held = self.held(m);
            if !held.is_zero() {
                let v = held.checked_mul(self.last_price(m).get());
                e = self.checked(v.and_then(|v| e.checked_add(v)), Decimal::MAX);
                g = self.checked(v.and_then(|v| g.checked_add(v.abs())), Decimal::MAX);
            }
        }
        (e, g)
    }

    /// Whether no sizing rule could reach market `m`'s minimum order at
    /// `px`: an upper bound of every rule's budget (free funds are at most
    /// `max(cash, equity) × leverage`, and the fee only lowers what they
    /// buy) is below the minimum by more than f64 rounding could hide (a
    /// millionth). An entry of an account that has run dry then skips
    /// exact sizing, which would refuse it anyway.
    #[inline]
    pub(super) fn clearly_unaffordable(&self, m: usize, px: f64) -> bool {
        const MARGIN: f64 = 1.0 - 1e-6;
        let funds = self.cash_f64.max(self.equity_f64()).max(0.0) * self.leverage_f64;
        let (min_qty, min_notional) = self.mins[m];
        funds < MARGIN * min_notional || funds < MARGIN * min_qty * px
    }

    /// The gross position value in f64, for the per-step margin check.
    #[inline]
    pub(super) fn gross_f64(&self) -> f64 {
        let mut g = 0.0;
        for (q, p) in self.qty_f64.iter().zip(&self.last) {
            if *q != 0.0 {
                g += q.abs() * p;
            }
        }
        g
    }

    /// Whether a margin account's equity is at its maintenance level (or
    /// a levered spot account's equity is gone): time for a margin call.
    #[inline]
    pub(super) fn margin_call(&self, equity: f64) -> bool {
        match &self.margin {
            Some(m) => {
                let gross = self.gross_f64();
                gross > 0.0 && equity <= m.maintenance * gross
            }
            None => self.levered && equity <= 0.0,
        }
    }

    #[inline]
    pub(super) fn equity_f64(&self) -> f64 {
        let mut e = self.cash_f64;
        for (q, p) in self.qty_f64.iter().zip(&self.last) {
            if *q != 0.0 {
                e += q * p;
            }
        }
        e
    }
}

impl Portfolio for View<'_, '_> {
    fn position(&self, symbol: &Symbol) -> Position {
        self.book
            .market_of(symbol)
            .map(|m| self.book.positions[self.leg][m])
            .unwrap_or_default()
    }

    fn free(&self, asset: &str) -> Qty {
        if let Some(m) = self.book.markets.iter().position(|i| i.base == asset) {
            return self.book.positions[self.leg][m].qty;
        }
        let b = self.book;
        if b.margin.is_some() {
            // Buying power: equity × leverage less what the positions and
            // resting buys already use.
            let (e, gross) = b.equity_and_gross();
            let power = if b.levered {
                e.max(Decimal::ZERO).checked_mul(b.leverage)
            } else {
                Some(e.max(Decimal::ZERO))
            };
            let free = power
                .and_then(|p| p.checked_sub(gross))
                .and_then(|p| p.checked_sub(b.reserved));
            return Qty::new(b.checked(free, Decimal::ZERO).max(Decimal::ZERO));
        }
        let extra = if b.levered {
            let e = b.equity().max(Decimal::ZERO);
            b.checked(
                b.leverage
                    .checked_sub(Decimal::ONE)
                    .and_then(|l| l.checked_mul(e)),
                Decimal::ZERO,
            )
        } else {
            Decimal::ZERO
        };
        let free = b
            .cash
            .checked_sub(b.reserved)
            .and_then(|c| c.checked_add(extra));
        Qty::new(b.checked(free, Decimal::ZERO).max(Decimal::ZERO))
    }

    fn equity(&self) -> Decimal {
        self.book.equity()
    }

    fn any_open(&self, symbol: &Symbol, f: &mut dyn FnMut(&str) -> bool) -> bool {
        if self.book.working.is_empty() {
            return false;
        }
        let Some(m) = self.book.market_of(symbol) else {
            return false;
        };
        self.book
            .working
            .iter()
            .any(|w| w.leg == self.leg && w.market == m && f(&w.tag))
    }

    fn open_orders(&self, symbol: &Symbol) -> Vec<OpenOrder> {
        let Some(m) = self.book.market_of(symbol) else {
            return Vec::new();
        };
        self.book
            .working
            .iter()
            .filter(|w| w.leg == self.leg && w.market == m)
            .map(|w| OpenOrder {
                tag: w.tag.clone(),
                side: w.side,
                order_type: w.terms.order_type(),
                price: w.terms.price().or(w.terms.stop_price()),
                open_qty: w.qty,
            })
            .collect()
    }
}

/// What a resting buy limit may spend, fee included; `None` on overflow.
#[inline]
pub(super) fn reserve_of(w: &Working, fee_rate: Decimal) -> Option<Decimal> {
    w.terms.price().map_or(Some(Decimal::ZERO), |p| {
        p.get()
            .checked_mul(w.qty.get())?
            .checked_mul(Decimal::ONE.checked_add(fee_rate)?)
    })
}

/// The book a run starts with: the capital in cash, nothing held.
pub(super) fn new<'m>(
    instruments: &'m [Instrument],
    legs: usize,
    settings: &super::Settings,
) -> Book<'m> {
    let n_markets = instruments.len();
    let capital = settings.capital.get();
    Book {
        markets: instruments,
        cash: capital,
        cash_f64: capital.to_f64().unwrap_or(0.0),
        leverage: settings.leverage.get(),
        levered: settings.leverage.get() > Decimal::ONE,
        positions: vec![vec![Position::default(); n_markets]; legs],
        qty_f64: vec![0.0; n_markets],
        last: vec![0.0; n_markets],
        tick_f64: instruments
            .iter()
            .map(|i| i.tick_size.get().to_f64().unwrap_or(0.0))
            .collect(),
        last_exact: (0..n_markets).map(|_| std::cell::Cell::new(None)).collect(),
        working: Vec::new(),
        reserved: Decimal::ZERO,
        overflow: std::cell::Cell::new(false),
        margin: settings.margin.as_ref().map(|m| MarginBook {
            maintenance: m
                .maintenance(settings.leverage.get())
                .to_f64()
                .unwrap_or(0.0),
            borrow: m
                .borrow_pct
                .get()
                .checked_div(Decimal::ONE_HUNDRED)
                .unwrap_or(Decimal::ZERO),
            period_ms: m.borrow_period.millis().max(1),
            period: None,
            next_at: i64::MIN,
        }),
        leverage_f64: settings.leverage.get().to_f64().unwrap_or(1.0),
        mins: instruments
            .iter()
            .map(|i| {
                (
                    i.min_qty.get().to_f64().unwrap_or(0.0),
                    i.min_notional.get().to_f64().unwrap_or(0.0),
                )
            })
            .collect(),
    }
}
