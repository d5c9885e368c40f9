//! `GET /api/v3/exchangeInfo` read into our instruments: the price tick
//! (`PRICE_FILTER.tickSize`), the quantity step and minimum
//! (`LOT_SIZE.stepSize`, `minQty`) and the smallest order value
//! (`NOTIONAL.minNotional`, or the older `MIN_NOTIONAL`), in exact decimals
//! with Binance's trailing zeros dropped; and the venue's request-weight
//! limit per minute.

use rust_decimal::Decimal;
use serde::Deserialize;
use tradedesk_core::instrument::{Instrument, Symbol};
use tradedesk_core::money::{Notional, Price, Qty};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeInfo {
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
    pub symbols: Vec<SymbolInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub rate_limit_type: String,
    pub interval: String,
    pub interval_num: u32,
    pub limit: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymbolInfo {
    pub symbol: String,
    pub status: String,
    pub base_asset: String,
    pub quote_asset: String,
    #[serde(default)]
    pub order_types: Vec<String>,
    #[serde(default)]
    pub oco_allowed: bool,
    pub filters: Vec<serde_json::Value>,
}

/// What in an `exchangeInfo` answer cannot be used, naming the symbol and
/// the filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("exchangeInfo: {symbol}: {message}")]
pub struct FilterError {
    pub symbol: String,
    pub message: String,
}

impl ExchangeInfo {
    /// The request weight the venue allows per minute (Binance: 6,000).
    pub fn weight_per_minute(&self) -> Option<u32> {
        self.rate_limits
            .iter()
            .find(|r| {
                r.rate_limit_type == "REQUEST_WEIGHT"
                    && r.interval == "MINUTE"
                    && r.interval_num == 1
            })
            .map(|r| r.limit)
    }

    /// The orders the venue allows per 10 seconds and per day (Binance:
    /// 100 and 200,000), when it says.
    pub fn orders_per(&self) -> (Option<u32>, Option<u32>) {
        let find = |interval: &str, n: u32| {
            self.rate_limits
                .iter()
                .find(|r| {
                    r.rate_limit_type == "ORDERS" && r.interval == interval && r.interval_num == n
                })
                .map(|r| r.limit)
        };
        (find("SECOND", 10), find("DAY", 1))
    }

    /// The instruments of `wanted` (all trading symbols when empty), in
    /// the order asked; a wanted symbol the venue does not list, or does
    /// not trade, is an error naming it.
    pub fn instruments(&self, wanted: &[String]) -> Result<Vec<Instrument>, FilterError> {
        let pick: Vec<&SymbolInfo> = if wanted.is_empty() {
            self.symbols
                .iter()
                .filter(|s| s.status == "TRADING")
                .collect()
        } else {
            wanted
                .iter()
                .map(|w| {
                    let s = self
                        .symbols
                        .iter()
                        .find(|s| &s.symbol == w)
                        .ok_or_else(|| FilterError {
                            symbol: w.clone(),
                            message: "not listed by the venue".into(),
                        })?;
                    if s.status == "TRADING" {
                        Ok(s)
                    } else {
                        Err(FilterError {
                            symbol: w.clone(),
                            message: format!("not trading (status {})", s.status),
                        })
                    }
                })
                .collect::<Result<_, _>>()?
        };
        pick.into_iter().map(SymbolInfo::instrument).collect()
    }
}

impl SymbolInfo {
    fn err(&self, message: impl Into<String>) -> FilterError {
        FilterError {
            symbol: self.symbol.clone(),
            message: message.into(),
        }
    }

    fn filter(&self, kind: &str) -> Option<&serde_json::Value> {
        self.filters
            .iter()
            .find(|f| f.get("filterType").and_then(|t| t.as_str()) == Some(kind))
    }

    /// A decimal field of a filter, trailing zeros dropped.
    fn field(&self, kind: &str, name: &str) -> Result<Decimal, FilterError> {
        let text = self
            .filter(kind)
            .and_then(|f| f.get(name))
            .and_then(|v| v.as_str())
            .ok_or_else(|| self.err(format!("no {kind}.{name}")))?;
        let d: Decimal = text
            .parse()
            .map_err(|_| self.err(format!("{kind}.{name} `{text}` is not a decimal")))?;
        Ok(d.normalize())
    }

    pub fn instrument(&self) -> Result<Instrument, FilterError> {
        let tick = self.field("PRICE_FILTER", "tickSize")?;
        let step = self.field("LOT_SIZE", "stepSize")?;
        let min_qty = self.field("LOT_SIZE", "minQty")?;
        let min_notional = self
            .field("NOTIONAL", "minNotional")
            .or_else(|_| self.field("MIN_NOTIONAL", "minNotional"))
            .unwrap_or(Decimal::ZERO);
        if !tick.is_sign_positive() || tick.is_zero() {
            return Err(self.err(format!("PRICE_FILTER.tickSize {tick} must be positive")));
        }
        if !step.is_sign_positive() || step.is_zero() {
            return Err(self.err(format!("LOT_SIZE.stepSize {step} must be positive")));
        }
        let symbol: Symbol = self
            .symbol
            .parse()
            .map_err(|e| self.err(format!("symbol: {e}")))?;
        Ok(Instrument {
            symbol,
            base: self.base_asset.clone(),
            quote: self.quote_asset.clone(),
            tick_size: Price::new(tick),
            lot_size: Qty::new(step),
            min_qty: Qty::new(min_qty),
            min_notional: Notional::new(min_notional),
        })
    }
}

/// An `exchangeInfo` answer in the shape Binance documents (the tests' and
/// the local mock's).
pub const EXAMPLE: &str = r#"{
      "timezone": "UTC", "serverTime": 1565246363776,
      "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100}
      ],
      "exchangeFilters": [],
      "symbols": [
        {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "baseAssetPrecision": 8,
         "quoteAsset": "USDT", "quotePrecision": 8, "quoteAssetPrecision": 8,
         "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
         "icebergAllowed": true, "ocoAllowed": true, "isSpotTradingAllowed": true,
         "filters": [
           {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
           {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
           {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": true,
            "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5}
         ]},
        {"symbol": "ETHBTC", "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "BTC",
         "filters": [
           {"filterType": "PRICE_FILTER", "minPrice": "0.00001000", "maxPrice": "922327.00000000", "tickSize": "0.00001000"},
           {"filterType": "LOT_SIZE", "minQty": "0.00010000", "maxQty": "100000.00000000", "stepSize": "0.00010000"},
           {"filterType": "MIN_NOTIONAL", "minNotional": "0.00010000", "applyToMarket": true, "avgPriceMins": 5}
         ]},
        {"symbol": "OLDBTC", "status": "BREAK", "baseAsset": "OLD", "quoteAsset": "BTC", "filters": []}
      ]
    }"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_info_gives_exact_instrument_rules() {
        let info: ExchangeInfo = serde_json::from_str(EXAMPLE).expect("info");
        assert_eq!(info.weight_per_minute(), Some(6000));
        let all = info.instruments(&[]).expect("instruments");
        assert_eq!(all.len(), 2, "only trading symbols");
        let btc = &all[0];
        assert_eq!(btc.symbol.as_str(), "BTCUSDT");
        assert_eq!(
            (
                btc.tick_size.to_string(),
                btc.lot_size.to_string(),
                btc.min_qty.to_string(),
                btc.min_notional.to_string()
            ),
            (
                "0.01".into(),
                "0.00001".into(),
                "0.00001".into(),
                "5".into()
            )
        );
        // The older MIN_NOTIONAL filter is read too.
        assert_eq!(all[1].min_notional.to_string(), "0.0001");
        let e = info
            .instruments(&["OLDBTC".into()])
            .expect_err("not trading");
        assert!(
            e.to_string().contains("OLDBTC") && e.to_string().contains("BREAK"),
            "{e}"
        );
        let e = info.instruments(&["NOPE".into()]).expect_err("not listed");
        assert!(e.to_string().contains("not listed"), "{e}");
        let asked = info
            .instruments(&["ETHBTC".into(), "BTCUSDT".into()])
            .expect("two");
        assert_eq!(asked[0].symbol.as_str(), "ETHBTC", "in the order asked");
    }
}
