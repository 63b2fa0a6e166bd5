//! Bybit v5 market data (spot and USDT perpetuals, `category=spot|linear`): the second adapter
//! behind [`ExchangeClient`], and the proof that the trait is not Binance-shaped.
//!
//! Bybit differs where it matters: klines come newest first and a range larger than one page
//! yields its *newest* candles (so a page here asks for a window that fits in one page), errors
//! arrive as HTTP 200 with a `retCode`, numbers are all strings, there are no 8h or 3d candles,
//! and the rate limit is counted in requests per 5 seconds.

use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use tradai_core::{ExchangeId, Instrument, MarketType, Pair, Timeframe};

use crate::client::{check_progress, normalise};
use crate::http::{base_url, excerpt, exchange_id, header_u32, RawResponse, Transport, TransportConfig};
use crate::kline::{opt_decimal, KlineList, Ms, Num};
use crate::ratelimit::{LimiterConfig, WindowLimiter};
use crate::{CandlePage, CandleRequest, ExchangeClient, ExchangeError, FundingRate, Market, PriceKind, RateLimitState, VenueSymbol};

/// Bybit's production REST host.
pub const BYBIT_URL: &str = "https://api.bybit.com";

const EXCHANGE: &str = "bybit";
/// `retCode`s Bybit documents as "too many visits" and as transient server trouble.
const RATE_LIMITED: [i64; 2] = [10006, 10018];
const SERVER_BUSY: [i64; 2] = [10000, 10016];

/// Endpoint, budget and transport settings of a [`BybitClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BybitConfig {
    /// REST base URL.
    pub url: String,
    /// Request budget (Bybit allows 600 requests per 5 s per IP).
    pub limit: LimiterConfig,
    /// Candles per kline request (Bybit's maximum is 1000).
    pub page_size: u32,
    /// Timeouts, retries, breaker.
    pub transport: TransportConfig,
}

impl Default for BybitConfig {
    fn default() -> Self {
        Self {
            url: BYBIT_URL.into(),
            limit: LimiterConfig { window: Duration::from_secs(5), budget: 400 },
            page_size: 1000,
            transport: TransportConfig::default(),
        }
    }
}

/// The Bybit adapter.
#[derive(Debug)]
pub struct BybitClient {
    id: ExchangeId,
    url: String,
    limiter: WindowLimiter,
    page_size: u32,
    transport: Transport,
}

fn used_weight(h: &HeaderMap) -> Option<u32> {
    // Bybit reports what is left, not what is used.
    let limit = header_u32(h, "x-bapi-limit")?;
    let left = header_u32(h, "x-bapi-limit-status")?;
    Some(limit.saturating_sub(left))
}

/// Bybit's kline interval names.
fn interval(tf: Timeframe) -> Option<&'static str> {
    Some(match tf {
        Timeframe::M1 => "1",
        Timeframe::M3 => "3",
        Timeframe::M5 => "5",
        Timeframe::M15 => "15",
        Timeframe::M30 => "30",
        Timeframe::H1 => "60",
        Timeframe::H2 => "120",
        Timeframe::H4 => "240",
        Timeframe::H6 => "360",
        Timeframe::H12 => "720",
        Timeframe::D1 => "D",
        Timeframe::W1 => "W",
        Timeframe::H8 | Timeframe::D3 => return None,
    })
}

fn category(market: MarketType) -> &'static str {
    match market {
        MarketType::Spot => "spot",
        MarketType::Futures => "linear",
    }
}

/// Bybit's envelope: `{"retCode": 0, "retMsg": "OK", "result": {...}, "time": ms}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<T> {
    ret_code: i64,
    #[serde(default)]
    ret_msg: String,
    #[serde(default = "Option::default")]
    result: Option<T>,
    #[serde(default)]
    time: Option<i64>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
struct KlineResult {
    list: KlineList,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct InstrumentsResult {
    list: Vec<InstrumentInfo>,
    next_page_cursor: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct InstrumentInfo {
    symbol: String,
    status: String,
    base_coin: String,
    quote_coin: String,
    settle_coin: String,
    contract_type: String,
    price_filter: PriceFilter,
    lot_size_filter: LotSizeFilter,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PriceFilter {
    #[serde(deserialize_with = "opt_decimal")]
    tick_size: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct LotSizeFilter {
    /// Linear: amount step.
    #[serde(deserialize_with = "opt_decimal")]
    qty_step: Option<f64>,
    /// Spot: amount step.
    #[serde(deserialize_with = "opt_decimal")]
    base_precision: Option<f64>,
    #[serde(deserialize_with = "opt_decimal")]
    min_order_qty: Option<f64>,
    /// Linear: minimum order value.
    #[serde(deserialize_with = "opt_decimal")]
    min_notional_value: Option<f64>,
    /// Spot: minimum order value.
    #[serde(deserialize_with = "opt_decimal")]
    min_order_amt: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FundingResult {
    list: Vec<FundingRow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FundingRow {
    funding_rate: Num,
    funding_rate_timestamp: Ms,
}

impl InstrumentInfo {
    fn into_market(self, market: MarketType) -> Option<Market> {
        let pair = match market {
            MarketType::Spot => Pair::new(&self.base_coin, &self.quote_coin, None).ok()?,
            MarketType::Futures => {
                // Dated linear futures have no `Pair` notation; only perpetuals map.
                if self.contract_type != "LinearPerpetual" {
                    return None;
                }
                Pair::new(&self.base_coin, &self.quote_coin, Some(&self.settle_coin)).ok()?
            }
        };
        let lot = &self.lot_size_filter;
        let instrument = Instrument {
            pair: pair.clone(),
            price_tick: self.price_filter.tick_size.filter(|t| *t > 0.0),
            amount_step: lot.qty_step.or(lot.base_precision).filter(|s| *s > 0.0),
            min_amount: lot.min_order_qty.filter(|q| *q > 0.0),
            min_notional: lot.min_notional_value.or(lot.min_order_amt).filter(|n| *n > 0.0),
            contract_size: (market == MarketType::Futures).then_some(1.0),
            ..Instrument::unknown(pair.clone())
        };
        Some(Market { pair, symbol: VenueSymbol::new(self.symbol), active: self.status == "Trading", instrument })
    }
}

impl BybitClient {
    /// A client for the configured endpoint.
    ///
    /// # Errors
    /// [`ExchangeError::Config`] for an unusable URL (or https without the `tls` feature).
    pub fn new(config: BybitConfig) -> Result<Self, ExchangeError> {
        Ok(Self {
            id: exchange_id(EXCHANGE)?,
            url: base_url(EXCHANGE, &config.url)?,
            limiter: WindowLimiter::new("bybit", config.limit),
            page_size: config.page_size.clamp(1, 1000),
            transport: Transport::new(EXCHANGE, config.transport, used_weight)?,
        })
    }

    fn unsupported(&self, what: String) -> ExchangeError {
        ExchangeError::Unsupported { exchange: EXCHANGE.into(), what }
    }

    /// GETs a v5 endpoint and unwraps the envelope, mapping `retCode`s to errors.
    async fn call<T: for<'de> Deserialize<'de> + Default>(
        &self,
        pq: &str,
        symbol: Option<(&VenueSymbol, &Pair)>,
    ) -> Result<(T, Option<i64>), ExchangeError> {
        self.transport.get(&self.url, pq, &self.limiter, 1, |raw, request| unwrap_envelope::<T>(raw, request, symbol)).await
    }

    async fn fetch_page(&self, req: &CandleRequest) -> Result<CandlePage, ExchangeError> {
        let symbol = self.venue_symbol(&req.pair)?;
        let iv = interval(req.timeframe).ok_or_else(|| self.unsupported(format!("timeframe {}", req.timeframe)))?;
        let market = req.pair.market_type();
        let path = match (market, req.kind) {
            (_, PriceKind::Trade) => "/v5/market/kline",
            (MarketType::Futures, PriceKind::Mark) => "/v5/market/mark-price-kline",
            (MarketType::Spot, PriceKind::Mark) => return Err(self.unsupported(format!("mark-price candles for spot pair {}", req.pair))),
        };
        // Ask only for what fits in one page: with more, Bybit would send the newest candles
        // of the range and leave a hole at its start.
        let span = i64::from(self.page_size) * req.timeframe.millis();
        let window_end = req.end_ms.min(req.start_ms.saturating_add(span));
        let pq = format!(
            "{path}?category={}&symbol={symbol}&interval={iv}&start={}&end={}&limit={}",
            category(market),
            req.start_ms,
            window_end - 1,
            self.page_size
        );
        let (result, _) = self.call::<KlineResult>(&pq, Some((&symbol, &req.pair))).await?;
        let covered_until = check_progress(EXCHANGE, &pq, req.start_ms, req.end_ms, window_end)?;
        Ok(CandlePage { candles: normalise(result.list.0, req.start_ms, covered_until), covered_until })
    }

    async fn fetch_markets(&self, market: MarketType, only: Option<(&VenueSymbol, &Pair)>) -> Result<Vec<Market>, ExchangeError> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut pq = format!("/v5/market/instruments-info?category={}&limit=1000", category(market));
            if let Some((s, _)) = only {
                pq.push_str(&format!("&symbol={s}"));
            }
            if !cursor.is_empty() {
                pq.push_str(&format!("&cursor={cursor}"));
            }
            let (page, _) = self.call::<InstrumentsResult>(&pq, only).await?;
            out.extend(page.list.into_iter().filter_map(|i| i.into_market(market)));
            // Bybit pages instrument lists with an opaque cursor; an empty one ends the list.
            if page.next_page_cursor.is_empty() || page.next_page_cursor == cursor {
                break;
            }
            cursor = page.next_page_cursor;
        }
        Ok(out)
    }

    async fn fetch_funding(&self, pair: &Pair, start_ms: i64, end_ms: i64) -> Result<Vec<FundingRate>, ExchangeError> {
        if pair.market_type() != MarketType::Futures {
            return Err(self.unsupported(format!("funding rates for spot pair {pair}")));
        }
        let symbol = self.venue_symbol(pair)?;
        let mut out: Vec<FundingRate> = Vec::new();
        // Newest first and at most 200 per page: walk backwards from the end.
        let mut end = end_ms;
        while end > start_ms {
            let pq =
                format!("/v5/market/funding/history?category=linear&symbol={symbol}&startTime={start_ms}&endTime={}&limit=200", end - 1);
            let (page, _) = self.call::<FundingResult>(&pq, Some((&symbol, pair))).await?;
            let Some(oldest) = page.list.iter().map(|r| r.funding_rate_timestamp.0).min() else { break };
            let full = page.list.len() >= 200;
            out.extend(page.list.into_iter().map(|r| FundingRate {
                ts: r.funding_rate_timestamp.0,
                rate: r.funding_rate.0,
                mark_price: None,
            }));
            if !full || oldest >= end {
                break;
            }
            end = oldest;
        }
        out.retain(|f| f.ts >= start_ms && f.ts < end_ms);
        out.sort_by_key(|f| f.ts);
        out.dedup_by_key(|f| f.ts);
        Ok(out)
    }
}

/// Unwraps `{"retCode", "retMsg", "result"}`; HTTP 403 is Bybit's IP rate-limit ban.
fn unwrap_envelope<T: for<'de> Deserialize<'de> + Default>(
    raw: &RawResponse,
    request: &str,
    symbol: Option<(&VenueSymbol, &Pair)>,
) -> Result<(T, Option<i64>), ExchangeError> {
    if raw.status == 403 {
        // Bybit bans the IP for 10 minutes on "access too frequent".
        return Err(ExchangeError::RateLimited {
            exchange: EXCHANGE.into(),
            request: request.into(),
            status: 403,
            retry_after: Some(Duration::from_secs(600)),
        });
    }
    let env: Envelope<T> = match serde_json::from_slice(&raw.body) {
        Ok(e) => e,
        Err(e) if (200..300).contains(&raw.status) => {
            return Err(ExchangeError::decode(EXCHANGE, request, "not the documented {retCode, retMsg, result} envelope", Some(e)))
        }
        Err(_) => {
            return Err(ExchangeError::Rejected {
                exchange: EXCHANGE.into(),
                request: request.into(),
                status: raw.status,
                code: None,
                message: excerpt(&raw.body),
            })
        }
    };
    match env.ret_code {
        0 => Ok((env.result.unwrap_or_default(), env.time)),
        c if RATE_LIMITED.contains(&c) => {
            Err(ExchangeError::RateLimited { exchange: EXCHANGE.into(), request: request.into(), status: raw.status, retry_after: None })
        }
        c if SERVER_BUSY.contains(&c) => Err(ExchangeError::Server {
            exchange: EXCHANGE.into(),
            request: request.into(),
            status: raw.status,
            excerpt: format!("retCode {c}: {}", env.ret_msg),
        }),
        10001 if env.ret_msg.to_ascii_lowercase().contains("symbol") => Err(ExchangeError::UnknownSymbol {
            exchange: EXCHANGE.into(),
            symbol: symbol.map(|(s, _)| s.to_string()).unwrap_or_default(),
            pair: symbol.map(|(_, p)| p.clone()),
        }),
        c => Err(ExchangeError::Rejected {
            exchange: EXCHANGE.into(),
            request: request.into(),
            status: raw.status,
            code: Some(c),
            message: env.ret_msg,
        }),
    }
}

impl ExchangeClient for BybitClient {
    fn id(&self) -> &ExchangeId {
        &self.id
    }

    fn venue_symbol(&self, pair: &Pair) -> Result<VenueSymbol, ExchangeError> {
        match pair.settle() {
            None => Ok(VenueSymbol::concatenated(pair)),
            Some("USDT") if pair.quote() == "USDT" => Ok(VenueSymbol::concatenated(pair)),
            Some(_) => Err(self.unsupported(format!("pair {pair} (only USDT perpetuals, BASE/USDT:USDT)"))),
        }
    }

    fn supports_timeframe(&self, timeframe: Timeframe) -> bool {
        interval(timeframe).is_some()
    }

    fn server_time(&self, _market: MarketType) -> BoxFuture<'_, Result<i64, ExchangeError>> {
        Box::pin(async move {
            let pq = "/v5/market/time";
            let (_, time) = self.call::<serde_json::Value>(pq, None).await?;
            time.ok_or_else(|| ExchangeError::decode(EXCHANGE, pq, "no `time` in the answer", None))
        })
    }

    fn markets(&self, market: MarketType) -> BoxFuture<'_, Result<Vec<Market>, ExchangeError>> {
        Box::pin(self.fetch_markets(market, None))
    }

    fn market<'a>(&'a self, pair: &'a Pair) -> BoxFuture<'a, Result<Market, ExchangeError>> {
        Box::pin(async move {
            let symbol = self.venue_symbol(pair)?;
            let markets = self.fetch_markets(pair.market_type(), Some((&symbol, pair))).await?;
            // An unknown symbol is an empty list here, not an error code.
            markets.into_iter().find(|m| &m.pair == pair).ok_or_else(|| ExchangeError::UnknownSymbol {
                exchange: EXCHANGE.into(),
                symbol: symbol.to_string(),
                pair: Some(pair.clone()),
            })
        })
    }

    fn candles<'a>(&'a self, request: &'a CandleRequest) -> BoxFuture<'a, Result<CandlePage, ExchangeError>> {
        Box::pin(self.fetch_page(request))
    }

    fn funding_rates<'a>(&'a self, pair: &'a Pair, start_ms: i64, end_ms: i64) -> BoxFuture<'a, Result<Vec<FundingRate>, ExchangeError>> {
        Box::pin(self.fetch_funding(pair, start_ms, end_ms))
    }

    fn rate_limits(&self) -> Vec<RateLimitState> {
        vec![self.limiter.state()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_symbols() {
        assert_eq!(interval(Timeframe::H1), Some("60"));
        assert_eq!(interval(Timeframe::D1), Some("D"));
        assert_eq!(interval(Timeframe::H8), None);
        let c = BybitClient::new(BybitConfig { url: "http://127.0.0.1:1".into(), ..BybitConfig::default() }).unwrap();
        assert!(!c.supports_timeframe(Timeframe::D3));
        assert_eq!(c.venue_symbol(&"BTC/USDT:USDT".parse().unwrap()).unwrap().as_str(), "BTCUSDT");
        assert!(c.venue_symbol(&"BTC/USD:BTC".parse().unwrap()).is_err());
    }

    #[test]
    fn envelope_errors() {
        let raw = |status, body: &str| RawResponse { status, body: bytes::Bytes::from(body.to_owned()) };
        let pair: Pair = "NOPE/USDT:USDT".parse().unwrap();
        let sym = VenueSymbol::new("NOPEUSDT");
        let e = unwrap_envelope::<KlineResult>(
            &raw(200, r#"{"retCode":10001,"retMsg":"Not supported symbols","result":{},"time":1}"#),
            "GET /k",
            Some((&sym, &pair)),
        )
        .unwrap_err();
        assert!(matches!(e, ExchangeError::UnknownSymbol { .. }), "{e}");
        let e = unwrap_envelope::<KlineResult>(&raw(200, r#"{"retCode":10006,"retMsg":"Too many visits!","result":{}}"#), "GET /k", None)
            .unwrap_err();
        assert!(e.is_retryable());
        let e = unwrap_envelope::<KlineResult>(&raw(200, r#"{"retCode":0,"result":{"list":[["1","1","#), "GET /k", None).unwrap_err();
        assert!(matches!(e, ExchangeError::Decode { .. }));
        let (k, t) = unwrap_envelope::<KlineResult>(
            &raw(200, r#"{"retCode":0,"retMsg":"OK","result":{"list":[["60000","1","2","0.5","1.5","10","15"]]},"time":7}"#),
            "GET /k",
            None,
        )
        .unwrap();
        assert_eq!((k.list.0.ts, t), (vec![60_000], Some(7)));
    }
}
