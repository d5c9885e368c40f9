//! What the daemon told us. Only [`DaemonState::apply`] changes it, from
//! [`Data`] that the connection task received; everything is kept (and
//! shown as stale) while the daemon is away.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tradedesk_core::analytics::Metrics;
use tradedesk_core::api::accounts::BalanceView;
use tradedesk_core::api::backtests::{Backtest, ComparedRun, EquityPoint};
use tradedesk_core::api::bots::{BotEvent, BotFigures, BotView};
use tradedesk_core::api::data::Dataset;
use tradedesk_core::api::jobs::{KindInfo, WorkerView};
use tradedesk_core::api::market::{Book, KlineEvent};
use tradedesk_core::api::positions::PositionView;
use tradedesk_core::api::risk::{Alert, CheckResult, RiskStatusView, Violation};
use tradedesk_core::api::strategies::StrategyInfo;
use tradedesk_core::api::system::{HeartbeatEvent, Info};
use tradedesk_core::api::trades::TradeStats;
use tradedesk_core::backtest::Trade as BacktestTrade;
use tradedesk_core::instrument::Instrument;
use tradedesk_core::job::{JobRecord, Schedule};
use tradedesk_core::market::{Bar, Interval, Ticker, TradeTick};
use tradedesk_core::order::{Execution, OrderRecord};

/// How many finished orders, jobs, alerts and bot events are kept.
pub const KEEP_HISTORY: usize = 1_000;
/// Account equity samples for the sparkline (one per market tick).
pub const EQUITY_SAMPLES: usize = 600;
/// Candles kept for the chart.
pub const KEEP_CANDLES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Connected,
    Disconnected {
        reason: String,
        since: DateTime<Utc>,
    },
}

/// One backtest's results, loaded when it is opened.
#[derive(Debug, Clone)]
pub struct BacktestDetail {
    pub id: u64,
    pub metrics: Box<Metrics>,
    pub equity: Vec<EquityPoint>,
    pub trades: Vec<BacktestTrade>,
    /// Its trades by direction and exit reason, its monthly returns.
    pub report: Option<tradedesk_core::backtest::report::Report>,
}

/// A bot's equity curve and latest fills, loaded when it is selected.
#[derive(Debug, Clone)]
pub struct BotDetail {
    pub id: u64,
    pub equity: Vec<EquityPoint>,
    pub fills: Vec<Execution>,
}

/// Everything received from the daemon, one variant per kind of answer
/// or event.
#[derive(Debug, Clone)]
pub enum Data {
    /// The account shown, and whether it is paper or live.
    Account(String, tradedesk_core::api::accounts::AccountMode),
    /// Every account the caller sees (the desk cycles through them).
    Accounts(Vec<tradedesk_core::api::accounts::AccountView>),
    Symbols(Vec<Instrument>),
    Tickers(Vec<Ticker>),
    Ticker(Ticker),
    Klines {
        symbol: String,
        interval: Interval,
        bars: Vec<Bar>,
    },
    Kline(KlineEvent),
    Book(Book),
    Tape {
        symbol: String,
        trades: Vec<TradeTick>,
    },
    Balances(tradedesk_core::api::accounts::Balances),
    Positions(Vec<PositionView>),
    Position(PositionView),
    Orders(Vec<OrderRecord>),
    Order(Box<OrderRecord>),
    Today(TradeStats),
    Bots(Vec<BotView>),
    Bot(Box<BotView>),
    BotFigures(BotFigures),
    BotEvents(u64, Vec<BotEvent>),
    BotEvent(BotEvent),
    BotDetail(BotDetail),
    Strategies(Vec<StrategyInfo>),
    Risk(RiskStatusView),
    Alerts(Vec<Alert>),
    Alert(Alert),
    Violations(Vec<Violation>),
    Kinds(Vec<KindInfo>),
    Jobs(Vec<JobRecord>),
    Job(Box<JobRecord>),
    Schedules(Vec<Schedule>),
    Workers(Vec<WorkerView>),
    Backtests(Vec<Backtest>),
    Backtest(Box<Backtest>),
    BacktestDetail(BacktestDetail),
    Comparison(Vec<ComparedRun>),
    Datasets(Vec<Dataset>),
    Check(CheckResult),
    Cache(tradedesk_core::api::cache::CacheStatsView),
}

/// Reads bound to a panel that the daemon refused: the panel shows the
/// error rather than waiting for ever. Cleared when the read is asked
/// again or its answer arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failed {
    pub compare: Option<String>,
    /// The opened backtest's result: (id, error).
    pub result: Option<(u64, String)>,
    /// The selected bot's detail: (id, error).
    pub bot: Option<(u64, String)>,
}

#[derive(Debug)]
pub struct DaemonState {
    pub failed: Failed,
    pub link: Link,
    pub info: Option<Info>,
    pub last_beat: Option<HeartbeatEvent>,
    pub account: String,
    /// Paper or live: shown beside the account everywhere it is named.
    pub account_mode: tradedesk_core::api::accounts::AccountMode,
    pub symbols: Vec<Instrument>,
    /// Decimals of each asset and symbol, from `symbols`.
    pub precision: tradedesk_core::display::Precision,
    pub tickers: BTreeMap<String, Ticker>,
    /// Candles of the watched symbol and interval, oldest first.
    pub candles: Candles,
    pub books: BTreeMap<String, Book>,
    /// The watched symbol's latest trades, newest first.
    pub tape: Vec<TradeTick>,
    pub balances: Vec<BalanceView>,
    /// The shown account's margin standing (a margin account).
    pub margin: Option<tradedesk_core::api::accounts::MarginStatus>,
    pub accounts: Vec<tradedesk_core::api::accounts::AccountView>,
    pub positions: BTreeMap<String, PositionView>,
    pub orders: BTreeMap<u64, OrderRecord>,
    pub today: Option<TradeStats>,
    /// Account equity in the quote asset, sampled at each ticker update.
    pub equity: VecDeque<f64>,
    pub bots: BTreeMap<u64, BotView>,
    pub bot_events: BTreeMap<u64, VecDeque<BotEvent>>,
    pub bot: Option<BotDetail>,
    pub strategies: Vec<StrategyInfo>,
    pub risk: Option<RiskStatusView>,
    pub alerts: BTreeMap<u64, Alert>,
    pub violations: Vec<Violation>,
    pub kinds: Vec<KindInfo>,
    pub jobs: BTreeMap<u64, JobRecord>,
    pub schedules: Vec<Schedule>,
    pub workers: Vec<WorkerView>,
    pub backtests: BTreeMap<u64, Backtest>,
    pub backtest: Option<BacktestDetail>,
    pub comparison: Vec<ComparedRun>,
    pub datasets: Vec<Dataset>,
    /// The last pre-trade check of the order ticket.
    pub check: Option<CheckResult>,
    pub cache: Option<tradedesk_core::api::cache::CacheStatsView>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candles {
    pub symbol: String,
    pub interval: Interval,
    pub bars: Vec<Bar>,
}

impl DaemonState {
    pub fn new() -> Self {
        DaemonState {
            failed: Failed::default(),
            link: Link::Connecting,
            info: None,
            last_beat: None,
            account: "paper".into(),
            account_mode: tradedesk_core::api::accounts::AccountMode::Paper,
            symbols: Vec::new(),
            precision: tradedesk_core::display::Precision::default(),
            tickers: BTreeMap::new(),
            candles: Candles {
                symbol: String::new(),
                interval: Interval::M1,
                bars: Vec::new(),
            },
            books: BTreeMap::new(),
            tape: Vec::new(),
            balances: Vec::new(),
            margin: None,
            accounts: Vec::new(),
            positions: BTreeMap::new(),
            orders: BTreeMap::new(),
            today: None,
            equity: VecDeque::new(),
            bots: BTreeMap::new(),
            bot_events: BTreeMap::new(),
            bot: None,
            strategies: Vec::new(),
            risk: None,
            alerts: BTreeMap::new(),
            violations: Vec::new(),
            kinds: Vec::new(),
            jobs: BTreeMap::new(),
            schedules: Vec::new(),
            workers: Vec::new(),
            backtests: BTreeMap::new(),
            backtest: None,
            comparison: Vec::new(),
            datasets: Vec::new(),
            check: None,
            cache: None,
        }
    }

    pub fn stale(&self) -> bool {
        matches!(self.link, Link::Disconnected { .. })
    }

    /// Folds one piece of news in.
    #[allow(clippy::too_many_lines, reason = "one arm per kind of news")]
    pub fn apply(&mut self, data: Data) {
        match data {
            Data::Account(a, mode) => {
                self.account = a;
                self.account_mode = mode;
            }
            Data::Symbols(s) => {
                self.precision = tradedesk_core::display::Precision::new(&s);
                self.symbols = s;
            }
            Data::Tickers(ts) => {
                for t in ts {
                    self.tickers.insert(t.symbol.to_string(), t);
                }
                self.sample_equity();
            }
            Data::Ticker(t) => {
                self.tickers.insert(t.symbol.to_string(), t);
                self.sample_equity();
            }
            Data::Klines {
                symbol,
                interval,
                mut bars,
            } => {
                trim_front(&mut bars, KEEP_CANDLES);
                self.candles = Candles {
                    symbol,
                    interval,
                    bars,
                };
            }
            Data::Kline(k) => self.fold_kline(&k),
            Data::Book(b) => {
                self.books.insert(b.symbol.to_string(), b);
            }
            Data::Tape { symbol, trades } => {
                if symbol == self.candles.symbol {
                    self.tape = trades;
                }
            }
            Data::Accounts(a) => self.accounts = a,
            Data::Balances(b) => {
                // An answer for an account no longer shown is dropped.
                if b.account == self.account {
                    self.balances = b.balances;
                    self.margin = b.margin;
                    self.sample_equity();
                }
            }
            Data::Positions(ps) => {
                self.positions = ps
                    .into_iter()
                    .filter(|p| p.account == self.account)
                    .map(|p| (p.symbol.to_string(), p))
                    .collect();
            }
            Data::Position(p) => {
                if p.account == self.account {
                    if p.qty.is_zero() && p.realized_pnl.is_zero() {
                        self.positions.remove(p.symbol.as_str());
                    } else {
                        self.positions.insert(p.symbol.to_string(), p);
                    }
                }
            }
            Data::Orders(os) => {
                for o in os {
                    self.orders.insert(o.id, o);
                }
                self.trim_orders();
            }
            Data::Order(o) => {
                self.orders.insert(o.id, *o);
                self.trim_orders();
            }
            Data::Today(t) => self.today = Some(t),
            Data::Bots(bs) => self.bots = bs.into_iter().map(|b| (b.bot.id, b)).collect(),
            Data::Bot(b) => {
                let id = b.bot.id;
                if b.bot.deleted.is_some() {
                    self.bots.remove(&id);
                    self.bot_events.remove(&id);
                    if self.bot.as_ref().is_some_and(|d| d.id == id) {
                        self.bot = None;
                    }
                } else {
                    self.bots.insert(id, *b);
                }
            }
            Data::BotFigures(f) => {
                if let Some(b) = self.bots.get_mut(&f.id) {
                    b.balances = f.balances;
                    b.positions = f.positions;
                    b.equity = f.equity;
                    b.pnl = f.pnl;
                }
            }
            Data::BotEvents(id, evs) => {
                self.bot_events.insert(id, evs.into_iter().collect());
            }
            Data::BotEvent(e) => {
                let log = self.bot_events.entry(e.bot_id).or_default();
                log.push_front(e);
                log.truncate(KEEP_HISTORY);
            }
            Data::BotDetail(d) => {
                self.failed.bot = None;
                self.bot = Some(d);
            }
            Data::Violations(v) => self.violations = v,
            Data::Kinds(k) => self.kinds = k,
            Data::Strategies(s) => self.strategies = s,
            Data::Risk(r) => self.risk = Some(r),
            Data::Alerts(a) => self.alerts = a.into_iter().map(|a| (a.id, a)).collect(),
            Data::Alert(a) => {
                self.alerts.insert(a.id, a);
                trim_map(&mut self.alerts, KEEP_HISTORY);
            }
            Data::Jobs(js) => {
                for j in js {
                    self.jobs.insert(j.id, j);
                }
                trim_map(&mut self.jobs, KEEP_HISTORY);
            }
            Data::Job(j) => {
                if let Some(b) = self.backtests.values_mut().find(|b| b.job_id == j.id) {
                    b.progress = j.progress;
                    b.state = j.state;
                }
                self.jobs.insert(j.id, *j);
                trim_map(&mut self.jobs, KEEP_HISTORY);
            }
            Data::Schedules(s) => self.schedules = s,
            Data::Workers(w) => self.workers = w,
            Data::Backtests(bs) => self.backtests = bs.into_iter().map(|b| (b.id, b)).collect(),
            Data::Backtest(b) => {
                self.backtests.insert(b.id, *b);
            }
            Data::BacktestDetail(d) => {
                self.failed.result = None;
                self.backtest = Some(d);
            }
            Data::Comparison(c) => {
                self.failed.compare = None;
                self.comparison = c;
            }
            Data::Datasets(d) => self.datasets = d,
            Data::Check(c) => self.check = Some(c),
            Data::Cache(c) => self.cache = Some(c),
        }
    }

    fn fold_kline(&mut self, k: &KlineEvent) {
        if k.symbol.as_str() != self.candles.symbol {
            return;
        }
        // The stream carries 1-minute bars; longer intervals fold them in.
        let span = self.candles.interval.millis();
        let open = k.bar.open_time.floor_to(span);
        let bars = &mut self.candles.bars;
        match bars.last_mut() {
            Some(last) if last.open_time == open => {
                if span == Interval::M1.millis() {
                    *last = k.bar;
                } else if k.closed || k.bar.open_time >= last.open_time {
                    last.high = last.high.max(k.bar.high);
                    last.low = last.low.min(k.bar.low);
                    last.close = k.bar.close;
                    if k.closed {
                        last.volume = last.volume.checked_add(k.bar.volume).unwrap_or(last.volume);
                        last.trades += k.bar.trades;
                    }
                }
            }
            Some(last) if last.open_time > open => {}
            _ => {
                let mut bar = k.bar;
                bar.open_time = open;
                if !k.closed && span != Interval::M1.millis() {
                    bar.volume = tradedesk_core::money::Qty::ZERO;
                    bar.trades = 0;
                }
                bars.push(bar);
                trim_front(bars, KEEP_CANDLES);
            }
        }
    }

    /// Open orders stay; of the finished ones the newest are kept.
    fn trim_orders(&mut self) {
        let finished: Vec<u64> = self
            .orders
            .values()
            .filter(|o| !o.status.is_open())
            .map(|o| o.id)
            .collect();
        if finished.len() > KEEP_HISTORY {
            for id in &finished[..finished.len() - KEEP_HISTORY] {
                self.orders.remove(id);
            }
        }
    }

    /// The account's equity in its quote asset: quote balances plus every
    /// other asset at its last price, less what is owed.
    pub fn account_equity(&self) -> Option<Decimal> {
        let quote = self.symbols.first().map(|s| s.quote.as_str())?;
        let mut total = Decimal::ZERO;
        let mut any = false;
        for b in &self.balances {
            // What is held less what is owed (a margin account's loans).
            let net = b.total.get() - b.borrowed.get();
            if b.asset == quote {
                total += net;
                any = true;
            } else if !net.is_zero() {
                let sym = format!("{}{quote}", b.asset);
                let px = self.tickers.get(&sym)?.last.get();
                total += net * px;
                any = true;
            }
        }
        any.then_some(total)
    }

    fn sample_equity(&mut self) {
        if let Some(e) = self.account_equity() {
            let e = rust_decimal::prelude::ToPrimitive::to_f64(&e).unwrap_or(0.0);
            self.equity.push_back(e);
            while self.equity.len() > EQUITY_SAMPLES {
                self.equity.pop_front();
            }
        }
    }

    /// Unrealized PnL of every open position.
    pub fn unrealized(&self) -> Decimal {
        self.positions
            .values()
            .filter_map(|p| p.unrealized_pnl)
            .map(tradedesk_core::money::Notional::get)
            .sum()
    }

    pub fn open_orders(&self) -> impl DoubleEndedIterator<Item = &OrderRecord> {
        self.orders.values().filter(|o| o.status.is_open())
    }
}

impl Default for DaemonState {
    fn default() -> Self {
        Self::new()
    }
}

fn trim_front<T>(v: &mut Vec<T>, keep: usize) {
    if v.len() > keep {
        v.drain(..v.len() - keep);
    }
}

/// Keeps the `keep` highest ids.
fn trim_map<T>(m: &mut BTreeMap<u64, T>, keep: usize) {
    while m.len() > keep {
        m.pop_first();
    }
}
