//! Trading commands: market data, orders, positions, balances, trades and
//! live streams. Each is one typed call; `--json` prints the daemon's answer.

use clap::{Args, Subcommand};
use tradedesk_core::api::accounts::{
    AccountKind, AccountParam, AccountsBalances, AccountsCreate, MarginRequest, MarginTerms,
    NewAccount,
};
use tradedesk_core::api::market::{
    BookParams, KlinesParams, MarketKlines, MarketOrderbook, MarketSymbols, MarketTicker,
    MarketTickers, MarketTrades, SymbolParam, TapeParams,
};
use tradedesk_core::api::orders::{
    CancelAll, OrderFilter, OrderRef, OrdersCancel, OrdersCancelAll, OrdersGet, OrdersList,
    OrdersPlace,
};
use tradedesk_core::api::paging::Page;
use tradedesk_core::api::positions::PositionsList;
use tradedesk_core::api::trades::{StatsParams, TradeFilter, TradesList, TradesStats};
use tradedesk_core::display::Precision;
use tradedesk_core::instrument::Symbol;
use tradedesk_core::market::Interval;
use tradedesk_core::money::{Price, Qty, Ratio};
use tradedesk_core::order::{
    OrderRecord, OrderRequest, OrderStatus, OrderType, Side, TimeInForce, Trail,
};
use tradedesk_core::time::Timestamp;

use crate::format::{Table, ts};
use crate::{Ctx, Failure};

/// Decimals of each symbol's prices and quantities and each asset's
/// amounts, from the daemon's instruments (tables show them at that).
pub fn precision(c: &mut tradedesk_core::client::Client) -> Result<Precision, Failure> {
    Ok(Precision::new(&c.all::<MarketSymbols, _>()?))
}

#[derive(Subcommand)]
pub enum Market {
    /// Tickers: last price, bid/ask, 24 h range and volume.
    Ticker { symbol: Option<Symbol> },
    /// OHLCV bars, oldest first.
    Klines {
        symbol: Symbol,
        #[arg(long, default_value = "1m", value_parser = parse_interval)]
        interval: Interval,
        #[arg(long)]
        limit: Option<u32>,
        /// RFC 3339 time.
        #[arg(long, value_parser = parse_time)]
        start: Option<Timestamp>,
        #[arg(long, value_parser = parse_time)]
        end: Option<Timestamp>,
    },
    /// The order book.
    Book {
        symbol: Symbol,
        #[arg(long)]
        depth: Option<u32>,
    },
    /// The market's recent trades.
    Trades {
        symbol: Symbol,
        #[arg(long)]
        limit: Option<u32>,
    },
}

#[derive(Args)]
pub struct Place {
    pub symbol: Symbol,
    pub qty: Qty,
    /// Default: limit with --price, market without.
    #[arg(long = "type", value_enum)]
    pub kind: Option<OrderType>,
    #[arg(long)]
    pub price: Option<Price>,
    #[arg(long = "stop")]
    pub stop_price: Option<Price>,
    #[arg(long, conflicts_with = "trail_percent")]
    pub trail_amount: Option<Price>,
    #[arg(long)]
    pub trail_percent: Option<Price>,
    #[arg(long, value_enum)]
    pub tif: Option<TimeInForce>,
    #[arg(long)]
    pub client_id: Option<String>,
    #[arg(long)]
    pub account: Option<String>,
}

/// An order by its id or by its client order id (exactly one).
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct Which {
    /// The order id.
    pub id: Option<u64>,
    /// The client order id instead.
    #[arg(long)]
    pub client_id: Option<String>,
}

#[derive(Subcommand)]
pub enum Order {
    /// Place a buy order.
    Buy(Place),
    /// Place a sell order.
    Sell(Place),
    /// Cancel an open order.
    Cancel(Which),
    /// Cancel every open order (of one symbol).
    CancelAll {
        #[arg(long)]
        symbol: Option<Symbol>,
    },
    /// Orders, newest first.
    List {
        #[arg(long, value_parser = parse_status)]
        status: Option<OrderStatus>,
        #[arg(long)]
        open: bool,
        #[arg(long)]
        symbol: Option<Symbol>,
        /// Only this bot's orders.
        #[arg(long)]
        bot: Option<u64>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One order.
    Show(Which),
}

fn parse_interval(s: &str) -> Result<Interval, String> {
    s.parse()
}

pub(crate) fn parse_time(s: &str) -> Result<Timestamp, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| Timestamp(t.timestamp_millis()))
        .map_err(|e| format!("`{s}`: {e}"))
}

fn parse_status(s: &str) -> Result<OrderStatus, String> {
    OrderStatus::parse(s).ok_or_else(|| format!("`{s}` is not a status (new, pending, accepted, partially_filled, filled, cancelled, rejected, expired)"))
}

#[allow(clippy::too_many_lines)] // one arm per market command, each a call and its table
pub fn market(ctx: &Ctx, cmd: Market) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    match cmd {
        Market::Ticker { symbol } => {
            let tickers = match symbol {
                Some(symbol) => vec![c.call::<MarketTicker>(&SymbolParam { symbol })?],
                None => c.all::<MarketTickers, _>()?,
            };
            ctx.emit_with(&tickers, || {
                let mut t = Table::new(&[
                    "symbol",
                    "last",
                    "bid",
                    "ask",
                    "24h open",
                    "24h high",
                    "24h low",
                    "24h volume",
                ]);
                let pr = precision(&mut c)?;
                for k in &tickers {
                    let s = k.symbol.as_str();
                    let px = |p: Price| pr.price(s, p.get());
                    let opt = |p: Option<Price>| p.map_or_else(|| "-".into(), px);
                    t.row(vec![
                        k.symbol.to_string(),
                        px(k.last),
                        opt(k.bid),
                        opt(k.ask),
                        px(k.open_24h),
                        px(k.high_24h),
                        px(k.low_24h),
                        pr.qty(s, k.volume_24h.get()),
                    ]);
                }
                out!("{t}");
                Ok(())
            })?;
        }
        Market::Klines {
            symbol,
            interval,
            limit,
            start,
            end,
        } => {
            let s = symbol.to_string();
            let k = c.call::<MarketKlines>(&KlinesParams {
                symbol,
                interval: Some(interval),
                start,
                end,
                limit,
            })?;
            ctx.emit_with(&k, || {
                let mut t = Table::new(&[
                    "open time",
                    "open",
                    "high",
                    "low",
                    "close",
                    "volume",
                    "trades",
                ]);
                let pr = precision(&mut c)?;
                let px = |p: Price| pr.price(&s, p.get());
                for b in &k.bars {
                    t.row(vec![
                        ts(b.open_time),
                        px(b.open),
                        px(b.high),
                        px(b.low),
                        px(b.close),
                        pr.qty(&s, b.volume.get()),
                        b.trades.to_string(),
                    ]);
                }
                out!("{t}");
                Ok(())
            })?;
        }
        Market::Book { symbol, depth } => {
            let b = c.call::<MarketOrderbook>(&BookParams { symbol, depth })?;
            ctx.emit_with(&b, || {
                let mut t = Table::new(&["bid qty", "bid", "ask", "ask qty"]);
                let pr = precision(&mut c)?;
                let s = b.symbol.as_str();
                for i in 0..b.bids.len().max(b.asks.len()) {
                    let (bid, ask) = (b.bids.get(i), b.asks.get(i));
                    t.row(vec![
                        bid.map_or_else(String::new, |l| pr.qty(s, l.qty.get())),
                        bid.map_or_else(String::new, |l| pr.price(s, l.price.get())),
                        ask.map_or_else(String::new, |l| pr.price(s, l.price.get())),
                        ask.map_or_else(String::new, |l| pr.qty(s, l.qty.get())),
                    ]);
                }
                out!("{t}");
                Ok(())
            })?;
        }
        Market::Trades { symbol, limit } => {
            let sym = symbol.to_string();
            let tape = c.call::<MarketTrades>(&TapeParams { symbol, limit })?;
            ctx.emit_with(&tape, || {
                let mut t = Table::new(&["time", "side", "price", "qty"]);
                let pr = precision(&mut c)?;
                for x in &tape.trades {
                    let s = sym.as_str();
                    t.row(vec![
                        ts(x.time),
                        x.taker_side.as_str().into(),
                        pr.price(s, x.price.get()),
                        pr.qty(s, x.qty.get()),
                    ]);
                }
                out!("{t}");
                Ok(())
            })?;
        }
    }
    Ok(())
}

fn request(side: Side, p: Place) -> OrderRequest {
    let order_type = p.kind.unwrap_or(if p.price.is_some() {
        OrderType::Limit
    } else {
        OrderType::Market
    });
    let trail = p
        .trail_amount
        .map(Trail::Amount)
        .or(p.trail_percent.map(Trail::Percent));
    let time_in_force = p.tif;
    OrderRequest {
        symbol: p.symbol,
        side,
        order_type,
        qty: p.qty,
        price: p.price,
        stop_price: p.stop_price,
        trail,
        time_in_force,
        client_order_id: p.client_id,
        account: p.account,
    }
}

fn order_ref(w: Which) -> OrderRef {
    OrderRef {
        id: w.id,
        client_order_id: w.client_id,
    }
}

fn orders_table(pr: &Precision, orders: &[OrderRecord]) -> Table {
    let mut t = Table::new(&[
        "id",
        "time",
        "symbol",
        "side",
        "type",
        "qty",
        "price",
        "stop",
        "filled",
        "avg price",
        "status",
    ]);
    for o in orders {
        let s = o.symbol.as_str();
        let opt = |p: Option<Price>| p.map_or_else(String::new, |p| pr.price(s, p.get()));
        t.row(vec![
            o.id.to_string(),
            ts(o.created),
            o.symbol.to_string(),
            o.side.as_str().into(),
            o.order_type.as_str().into(),
            pr.qty(s, o.qty.get()),
            opt(o.price),
            opt(o.stop_price),
            pr.qty(s, o.filled.get()),
            opt(o.avg_price),
            o.status.as_str().into(),
        ]);
    }
    t
}

fn print_order(
    ctx: &Ctx,
    c: &mut tradedesk_core::client::Client,
    o: &OrderRecord,
) -> Result<(), Failure> {
    ctx.emit_with(o, || {
        out!("{}", orders_table(&precision(c)?, std::slice::from_ref(o)));
        if let Some(r) = &o.reason {
            outln!("reason: {r}");
        }
        Ok(())
    })?;
    Ok(())
}

pub fn order(ctx: &Ctx, cmd: Order) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    match cmd {
        Order::Buy(p) => {
            let o = c.call::<OrdersPlace>(&request(Side::Buy, p))?;
            print_order(ctx, &mut c, &o)?;
        }
        Order::Sell(p) => {
            let o = c.call::<OrdersPlace>(&request(Side::Sell, p))?;
            print_order(ctx, &mut c, &o)?;
        }
        Order::Cancel(w) => {
            let o = c.call::<OrdersCancel>(&order_ref(w))?;
            print_order(ctx, &mut c, &o)?;
        }
        Order::Show(w) => {
            let o = c.call::<OrdersGet>(&order_ref(w))?;
            print_order(ctx, &mut c, &o)?;
        }
        Order::CancelAll { symbol } => {
            let r = c.call::<OrdersCancelAll>(&CancelAll { symbol })?;
            ctx.emit(&r, || {
                outln!("cancelled {} order(s)", r.cancelled.len());
            });
        }
        Order::List {
            status,
            open,
            symbol,
            bot,
            limit,
            cursor,
        } => {
            let page = c.call::<OrdersList>(&OrderFilter {
                status,
                open: open.then_some(true),
                symbol,
                bot_id: bot,
                limit,
                cursor,
            })?;
            ctx.emit_with(&page, || {
                out!("{}", orders_table(&precision(&mut c)?, &page.items));
                if let Some(next) = &page.next_cursor {
                    outln!("more: --cursor {next}");
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

pub fn positions(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    let list = Page::whole(c.all::<PositionsList, _>()?);
    ctx.emit_with(&list, || {
        let mut t = Table::new(&[
            "account",
            "symbol",
            "qty",
            "avg price",
            "mark",
            "unrealized",
            "realized",
            "fees",
        ]);
        let pr = precision(&mut c)?;
        for p in &list.items {
            let s = p.symbol.as_str();
            let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            t.row(vec![
                p.account.clone(),
                p.symbol.to_string(),
                pr.qty(s, p.qty.get()),
                opt(p.avg_price.map(|x| pr.price(s, x.get()))),
                opt(p.mark_price.map(|x| pr.price(s, x.get()))),
                opt(p.unrealized_pnl.map(|x| crate::format::signed(x.get()))),
                crate::format::signed(p.realized_pnl.get()),
                crate::format::money(p.fees.get()),
            ]);
        }
        out!("{t}");
        Ok(())
    })
}

#[derive(Subcommand)]
pub enum AccountCmd {
    /// Open a paper account of your own on the simulator: spot (long
    /// only) or, with --margin, a margin account that may sell short.
    Create {
        name: String,
        /// A margin account: sells beyond what is held borrow (shorts),
        /// with leverage, borrow interest and liquidation.
        #[arg(long)]
        margin: bool,
        /// Gross position value may reach this many times equity. Terms
        /// left out are the daemon's `sim.margin` (as shipped: 2, half the
        /// initial margin, 0.001 % per 1h).
        #[arg(long, requires = "margin")]
        leverage: Option<Ratio>,
        /// Liquidation when equity falls to this percent of the gross
        /// position value (default: half the initial margin, 50 / leverage).
        #[arg(long, requires = "margin")]
        maintenance_pct: Option<Ratio>,
        /// Interest on what is borrowed, percent of its value per period.
        #[arg(long, requires = "margin")]
        borrow_pct: Option<Ratio>,
        /// How often interest is charged (1m … 1d; default 1h).
        #[arg(long, requires = "margin")]
        borrow_period: Option<Interval>,
        /// Starting balance `ASSET=AMOUNT` (repeatable; default: the
        /// simulator's starting balances).
        #[arg(long = "balance", value_name = "ASSET=AMOUNT")]
        balances: Vec<String>,
    },
}

pub fn account_cmd(ctx: &Ctx, cmd: AccountCmd) -> Result<(), Failure> {
    let AccountCmd::Create {
        name,
        margin,
        leverage,
        maintenance_pct,
        borrow_pct,
        borrow_period,
        balances,
    } = cmd;
    let terms = margin.then_some(MarginRequest {
        leverage,
        maintenance_pct,
        borrow_pct,
        borrow_period,
    });
    let p = NewAccount {
        name,
        kind: if margin {
            AccountKind::Margin
        } else {
            AccountKind::Spot
        },
        margin: terms,
        balances: (!balances.is_empty())
            .then(|| crate::bots::amounts(&balances, "--balance"))
            .transpose()?,
    };
    let mut c = ctx.connect()?;
    let a = c.call::<AccountsCreate>(&p)?;
    ctx.emit(&a, || {
        outln!("account {} ({}, {})", a.name, a.kind, a.venue);
        if let Some(m) = &a.margin {
            outln!("{}", margin_terms(m));
        }
    });
    Ok(())
}

/// A margin account's terms in one line.
fn margin_terms(m: &MarginTerms) -> String {
    let maintenance = m
        .maintenance()
        .saturating_mul(rust_decimal::Decimal::ONE_HUNDRED)
        .round_dp(4)
        .normalize();
    format!(
        "leverage {}, maintenance {maintenance} %, borrow {} % per {}",
        m.leverage,
        m.borrow_pct,
        m.borrow_period.as_str()
    )
}

pub fn accounts(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    let list = tradedesk_core::api::paging::Page::whole(
        c.all::<tradedesk_core::api::accounts::AccountsList, _>()?,
    );
    ctx.emit(&list, || {
        let mut t = Table::new(&["account", "mode", "kind", "venue", "owner"]);
        for a in &list.items {
            let mode = match a.mode {
                tradedesk_core::api::accounts::AccountMode::Paper => "paper",
                tradedesk_core::api::accounts::AccountMode::Live => "LIVE",
            };
            let kind = match &a.margin {
                Some(m) => format!("margin ×{}", m.leverage),
                None => a.kind.to_string(),
            };
            t.row(vec![
                a.name.clone(),
                mode.into(),
                kind,
                a.venue.clone(),
                a.owner.clone(),
            ]);
        }
        out!("{t}");
    });
    Ok(())
}

pub fn balances(ctx: &Ctx, account: Option<String>) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    let b = c.call::<AccountsBalances>(&AccountParam { account })?;
    ctx.emit_with(&b, || {
        let owes = b.balances.iter().any(|x| x.borrowed.is_positive());
        let mut head = vec!["asset", "free", "locked", "bots", "total"];
        if owes {
            head.push("borrowed");
        }
        let mut t = Table::new(&head);
        let pr = precision(&mut c)?;
        for x in &b.balances {
            let a = |q: Qty| pr.amount(&x.asset, q.get());
            let mut row = vec![
                x.asset.clone(),
                a(x.free),
                a(x.locked),
                a(x.bots),
                a(x.total),
            ];
            if owes {
                row.push(a(x.borrowed));
            }
            t.row(row);
        }
        outln!("account {}", b.account);
        out!("{t}");
        if let Some(m) = &b.margin {
            let level = m
                .level_pct
                .map_or_else(|| "-".to_owned(), |l| format!("{l} %"));
            outln!(
                "margin: equity {}, gross {}, level {level} (liquidation at {} %), room {}",
                crate::format::money(m.equity.get()),
                crate::format::money(m.gross.get()),
                m.maintenance_pct,
                crate::format::money(m.available.get())
            );
        }
        Ok(())
    })
}

#[derive(Args)]
pub struct Trades {
    #[arg(long)]
    pub symbol: Option<Symbol>,
    /// Only this bot's trades.
    #[arg(long)]
    pub bot: Option<u64>,
    #[arg(long, value_parser = parse_time)]
    pub start: Option<Timestamp>,
    #[arg(long, value_parser = parse_time)]
    pub end: Option<Timestamp>,
    #[arg(long)]
    pub limit: Option<u32>,
    #[arg(long)]
    pub cursor: Option<String>,
    /// Totals instead of the list: count, volume, fees, realized PnL, win rate.
    #[arg(long)]
    pub stats: bool,
}

pub fn trades(ctx: &Ctx, a: Trades) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    if a.stats {
        let s = c.call::<TradesStats>(&StatsParams {
            symbol: a.symbol,
            bot_id: a.bot,
            start: a.start,
            end: a.end,
        })?;
        ctx.emit(&s, || {
            let rate = s.win_rate.map_or_else(
                || "-".into(),
                |r| format!("{:.2} %", r.get() * rust_decimal::Decimal::ONE_HUNDRED),
            );
            outln!(
                "fills {}  volume {}  fees {}  realized after fees {}  trades {} (won {}, lost {})  win rate {rate}",
                s.count,
                crate::format::money(s.volume.get()),
                crate::format::money(s.fees.get()),
                crate::format::signed(s.realized_pnl.get()),
                s.trades,
                s.wins,
                s.losses
            );
        });
        return Ok(());
    }
    let page = c.call::<TradesList>(&TradeFilter {
        symbol: a.symbol,
        bot_id: a.bot,
        start: a.start,
        end: a.end,
        limit: a.limit,
        cursor: a.cursor,
    })?;
    ctx.emit_with(&page, || {
        let mut t = Table::new(&[
            "trade",
            "time",
            "order",
            "symbol",
            "side",
            "qty",
            "price",
            "fee",
            "liquidity",
            "realized",
        ]);
        let pr = precision(&mut c)?;
        for f in &page.items {
            let s = f.symbol.as_str();
            t.row(vec![
                f.trade_id.to_string(),
                ts(f.time),
                f.order_id.to_string(),
                f.symbol.to_string(),
                f.side.as_str().into(),
                pr.qty(s, f.qty.get()),
                pr.price(s, f.price.get()),
                pr.amount(&f.fee_asset, f.fee.get()),
                format!("{:?}", f.liquidity).to_lowercase(),
                crate::format::signed(f.realized_pnl.get()),
            ]);
        }
        out!("{t}");
        if let Some(next) = &page.next_cursor {
            outln!("more: --cursor {next}");
        }
        Ok(())
    })
}
