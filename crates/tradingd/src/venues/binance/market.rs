//! Binance's REST market data read into our types, exactly (decimal text
//! to decimals, never through floats): klines (`GET /api/v3/klines`, arrays
//! of twelve fields) into bars, depth (`GET /api/v3/depth`) into a book with
//! its `lastUpdateId` (the start of the local book's sequence), and the
//! 24-hour ticker (`GET /api/v3/ticker/24hr`) with the best bid and ask.

use serde_json::Value;
use tradedesk_core::instrument::Symbol;
use tradedesk_core::market::{Bar, BookLevel, OrderBook, Ticker};
use tradedesk_core::money::{Price, Qty};
use tradedesk_core::time::Timestamp;

use super::rest::BinanceError;

fn bad(what: &str) -> BinanceError {
    BinanceError::Protocol(format!("market data: {what}"))
}

fn dec<T: std::str::FromStr>(v: &Value, what: &str) -> Result<T, BinanceError> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("{what} is not a decimal string: {v}")))
}

/// `GET /api/v3/klines` rows: `[openTime, open, high, low, close, volume,
/// closeTime, quoteVolume, trades, takerBase, takerQuote, ignore]`.
pub fn klines(v: &Value) -> Result<Vec<Bar>, BinanceError> {
    let rows = v.as_array().ok_or_else(|| bad("klines are not an array"))?;
    rows.iter()
        .map(|r| {
            let f = r
                .as_array()
                .filter(|f| f.len() >= 9)
                .ok_or_else(|| bad(&format!("a kline is not an array of 12: {r}")))?;
            Ok(Bar {
                open_time: Timestamp(f[0].as_i64().ok_or_else(|| bad("kline open time"))?),
                open: dec(&f[1], "open")?,
                high: dec(&f[2], "high")?,
                low: dec(&f[3], "low")?,
                close: dec(&f[4], "close")?,
                volume: dec(&f[5], "volume")?,
                trades: f[8].as_u64().ok_or_else(|| bad("kline trades"))?,
            })
        })
        .collect()
}

fn levels(v: &Value, side: &str) -> Result<Vec<BookLevel>, BinanceError> {
    v.get(side)
        .and_then(Value::as_array)
        .ok_or_else(|| bad(&format!("depth without {side}")))?
        .iter()
        .map(|l| {
            let pair = l
                .as_array()
                .filter(|p| p.len() == 2)
                .ok_or_else(|| bad(&format!("a {side} level is not [price, qty]: {l}")))?;
            Ok(BookLevel {
                price: dec::<Price>(&pair[0], "price")?,
                qty: dec::<Qty>(&pair[1], "qty")?,
            })
        })
        .collect()
}

/// `GET /api/v3/depth`: the book (best first on each side) and its
/// `lastUpdateId`.
pub fn depth(v: &Value) -> Result<(OrderBook, u64), BinanceError> {
    let id = v["lastUpdateId"]
        .as_u64()
        .ok_or_else(|| bad("depth without lastUpdateId"))?;
    Ok((
        OrderBook {
            bids: levels(v, "bids")?,
            asks: levels(v, "asks")?,
        },
        id,
    ))
}

/// `GET /api/v3/ticker/24hr` for one symbol.
pub fn ticker(v: &Value) -> Result<Ticker, BinanceError> {
    let symbol: Symbol = v["symbol"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("ticker without a symbol"))?;
    let positive = |field: &str| -> Result<Option<Price>, BinanceError> {
        let p: Price = dec(&v[field], field)?;
        Ok(p.is_positive().then_some(p))
    };
    Ok(Ticker {
        symbol,
        time: Timestamp(
            v["closeTime"]
                .as_i64()
                .ok_or_else(|| bad("ticker closeTime"))?,
        ),
        last: dec(&v["lastPrice"], "lastPrice")?,
        bid: positive("bidPrice")?,
        ask: positive("askPrice")?,
        open_24h: dec(&v["openPrice"], "openPrice")?,
        high_24h: dec(&v["highPrice"], "highPrice")?,
        low_24h: dec(&v["lowPrice"], "lowPrice")?,
        volume_24h: dec(&v["volume"], "volume")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn klines_depth_and_tickers_read_exactly() {
        // The shapes Binance documents for each endpoint.
        let k = json!([[
            1_499_040_000_000_i64,
            "0.01634790",
            "0.80000000",
            "0.01575800",
            "0.01577100",
            "148976.11427815",
            1_499_644_799_999_i64,
            "2434.19055334",
            308,
            "1756.87402397",
            "28.46694368",
            "0"
        ]]);
        let bars = klines(&k).expect("klines");
        assert_eq!(bars[0].open_time, Timestamp(1_499_040_000_000));
        assert_eq!(bars[0].close.to_string(), "0.015771");
        assert_eq!(bars[0].volume.to_string(), "148976.11427815");
        assert_eq!(bars[0].trades, 308);
        let d = json!({ "lastUpdateId": 1_027_024, "bids": [["4.00000000", "431.00000000"]],
                        "asks": [["4.00000200", "12.00000000"], ["4.1", "1"]] });
        let (book, id) = depth(&d).expect("depth");
        assert_eq!(id, 1_027_024);
        assert_eq!(
            book.best_bid().map(|l| l.qty.to_string()),
            Some("431".into())
        );
        assert_eq!(book.asks.len(), 2);
        assert_eq!(
            book.best_ask().map(|l| l.price.to_string()),
            Some("4.000002".into())
        );
        let t = json!({ "symbol": "BNBBTC", "lastPrice": "4.00000200", "bidPrice": "4.00000000",
                        "askPrice": "0.00000000", "openPrice": "99.00000000", "highPrice": "100.00000000",
                        "lowPrice": "0.10000000", "volume": "8913.30000000", "closeTime": 1_499_869_899_040_i64 });
        let tk = ticker(&t).expect("ticker");
        assert_eq!(
            (tk.last.to_string(), tk.bid.map(|b| b.to_string()), tk.ask),
            ("4.000002".into(), Some("4".into()), None)
        );
        // Malformed answers are errors that say what is wrong, never a panic.
        for bad_one in [
            json!({}),
            json!([[1]]),
            json!([["x", "1", "1", "1", "1", "1", 0, "0", 1]]),
        ] {
            assert!(klines(&bad_one).is_err(), "{bad_one}");
        }
        assert!(depth(&json!({ "lastUpdateId": 1, "bids": [["1"]], "asks": [] })).is_err());
        assert!(
            ticker(&json!({ "symbol": "BNBBTC", "lastPrice": 4.0 })).is_err(),
            "a float is refused"
        );
    }
}
