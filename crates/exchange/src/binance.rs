//! Binance spot (`/api/v3`) and USDⓈ-M futures (`/fapi/v1`) market data, in the response
//! formats Binance documents: klines as arrays, `exchangeInfo` filters, `{"code","msg"}` errors
//! and the `X-MBX-USED-WEIGHT-1M` header.
//!
//! Spot and futures are separate hosts with separate weight budgets, so each has its own
//! limiter; both share one circuit breaker and HTTP connection pool.

use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use tokio::time::Instant;
use tradai_core::{ExchangeId, Instrument, MarketType, Pair, Timeframe};

use crate::client::{check_progress, normalise};
use crate::http::{base_url, excerpt, exchange_id, header_u32, RawResponse, Transport, TransportConfig};
use crate::kline::{decode_list, opt_decimal, KlineList, Ms, Num};
use crate::ratelimit::{LimiterConfig, WindowLimiter};
use crate::{CandlePage, CandleRequest, ExchangeClient, ExchangeError, FundingRate, Market, PriceKind, RateLimitState, VenueSymbol};

/// Binance's production spot REST host.
pub const BINANCE_SPOT_URL: &str = "https://api.binance.com";
/// Binance's production USDⓈ-M futures REST host.
pub const BINANCE_FUTURES_URL: &str = "https://fapi.binance.com";

const EXCHANGE: &str = "binance";
/// Binance's error code for a symbol it does not list.
const INVALID_SYMBOL: i64 = -1121;
/// How long the futures market list (one ~1 MB request) is reused for single-market lookups.
const FUTURES_MARKETS_TTL: Duration = Duration::from_secs(600);

/// Endpoints, budgets and transport settings of a [`BinanceClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinanceConfig {
    /// Spot REST base URL.
    pub spot_url: String,
    /// USDⓈ-M futures REST base URL.
    pub futures_url: String,
    /// Spot weight budget (Binance allows 6000 per minute per IP).
    pub spot_limit: LimiterConfig,
    /// Futures weight budget (Binance allows 2400 per minute per IP).
    pub futures_limit: LimiterConfig,
    /// Candles per kline request (Binance's maximum is 1000 on spot, 1500 on futures; 1000
    /// gives the most candles per unit of weight on both).
    pub page_size: u32,
    /// Timeouts, retries, breaker.
    pub transport: TransportConfig,
}

impl Default for BinanceConfig {
    fn default() -> Self {
        Self {
            spot_url: BINANCE_SPOT_URL.into(),
            futures_url: BINANCE_FUTURES_URL.into(),
            // Below Binance's limits, leaving room for other clients on the same IP.
            spot_limit: LimiterConfig { window: Duration::from_secs(60), budget: 5000 },
            futures_limit: LimiterConfig { window: Duration::from_secs(60), budget: 2000 },
            page_size: 1000,
            transport: TransportConfig::default(),
        }
    }
}

/// The Binance adapter.
#[derive(Debug)]
pub struct BinanceClient {
    id: ExchangeId,
    spot_url: String,
    futures_url: String,
    spot: WindowLimiter,
    futures: WindowLimiter,
    page_size: u32,
    transport: Transport,
    futures_markets: tokio::sync::Mutex<Option<(Instant, Vec<Market>)>>,
}

fn used_weight(h: &HeaderMap) -> Option<u32> {
    header_u32(h, "x-mbx-used-weight-1m")
}

impl BinanceClient {
    /// A client for the configured endpoints.
    ///
    /// # Errors
    /// [`ExchangeError::Config`] for an unusable URL (or https without the `tls` feature).
    pub fn new(config: BinanceConfig) -> Result<Self, ExchangeError> {
        Ok(Self {
            id: exchange_id(EXCHANGE)?,
            spot_url: base_url(EXCHANGE, &config.spot_url)?,
            futures_url: base_url(EXCHANGE, &config.futures_url)?,
            spot: WindowLimiter::new("binance spot", config.spot_limit),
            futures: WindowLimiter::new("binance futures", config.futures_limit),
            page_size: config.page_size.clamp(1, 1500),
            transport: Transport::new(EXCHANGE, config.transport, used_weight)?,
            futures_markets: tokio::sync::Mutex::new(None),
        })
    }

    fn host(&self, market: MarketType) -> (&str, &WindowLimiter) {
        match market {
            MarketType::Spot => (&self.spot_url, &self.spot),
            MarketType::Futures => (&self.futures_url, &self.futures),
        }
    }

    /// Futures kline weight by page size, as Binance documents it.
    fn futures_kline_weight(limit: u32) -> u32 {
        match limit {
            0..100 => 1,
            100..500 => 2,
            500..=1000 => 5,
            _ => 10,
        }
    }

    async fn fetch_page(&self, req: &CandleRequest) -> Result<CandlePage, ExchangeError> {
        let symbol = self.venue_symbol(&req.pair)?;
        if !self.supports_timeframe(req.timeframe) {
            return Err(self.unsupported(format!("timeframe {}", req.timeframe)));
        }
        let market = req.pair.market_type();
        let (path, weight) = match (market, req.kind) {
            (MarketType::Spot, PriceKind::Trade) => ("/api/v3/klines", 2),
            (MarketType::Futures, PriceKind::Trade) => ("/fapi/v1/klines", Self::futures_kline_weight(self.page_size)),
            (MarketType::Futures, PriceKind::Mark) => ("/fapi/v1/markPriceKlines", Self::futures_kline_weight(self.page_size)),
            (MarketType::Spot, PriceKind::Mark) => return Err(self.unsupported(format!("mark-price candles for spot pair {}", req.pair))),
        };
        // Binance's endTime is inclusive.
        let pq = format!(
            "{path}?symbol={symbol}&interval={}&startTime={}&endTime={}&limit={}",
            req.timeframe.as_str(),
            req.start_ms,
            req.end_ms - 1,
            self.page_size
        );
        let (base, limiter) = self.host(market);
        let page_size = self.page_size as usize;
        let tf = req.timeframe.millis();
        self.transport
            .get(base, &pq, limiter, weight, |raw, request| {
                check_error(raw, request, &symbol, Some(&req.pair))?;
                let list = KlineList(
                    decode_list(&raw.body)
                        .map_err(|e| ExchangeError::decode(EXCHANGE, request, "klines are not the documented array of arrays", Some(e)))?,
                );
                let sent = list.0.len();
                // A full page may have more after it; a short one ends the range.
                let covered = if sent < page_size { req.end_ms } else { list.0.ts.iter().max().map_or(req.end_ms, |t| t + tf) };
                let covered_until = check_progress(EXCHANGE, request, req.start_ms, req.end_ms, covered)?;
                Ok(CandlePage { candles: normalise(list.0, req.start_ms, covered_until), covered_until })
            })
            .await
    }

    async fn fetch_markets(&self, market: MarketType, symbol: Option<(&VenueSymbol, &Pair)>) -> Result<Vec<Market>, ExchangeError> {
        let (base, limiter) = self.host(market);
        let (pq, weight) = match (market, symbol) {
            (MarketType::Spot, Some((s, _))) => (format!("/api/v3/exchangeInfo?symbol={s}"), 20),
            (MarketType::Spot, None) => ("/api/v3/exchangeInfo".to_owned(), 20),
            (MarketType::Futures, _) => ("/fapi/v1/exchangeInfo".to_owned(), 1),
        };
        self.transport
            .get(base, &pq, limiter, weight, |raw, request| {
                if let Some((s, p)) = symbol {
                    check_error(raw, request, s, Some(p))?;
                } else {
                    check_error(raw, request, &VenueSymbol::new(""), None)?;
                }
                let info: ExchangeInfo = serde_json::from_slice(&raw.body)
                    .map_err(|e| ExchangeError::decode(EXCHANGE, request, "exchangeInfo is not the documented object", Some(e)))?;
                Ok(info.symbols.into_iter().filter_map(|s| s.into_market(market)).collect())
            })
            .await
    }

    async fn cached_futures_markets(&self) -> Result<Vec<Market>, ExchangeError> {
        let mut cache = self.futures_markets.lock().await;
        if let Some((at, markets)) = cache.as_ref() {
            if at.elapsed() < FUTURES_MARKETS_TTL {
                return Ok(markets.clone());
            }
        }
        let markets = self.fetch_markets(MarketType::Futures, None).await?;
        *cache = Some((Instant::now(), markets.clone()));
        Ok(markets)
    }

    async fn fetch_funding(&self, pair: &Pair, start_ms: i64, end_ms: i64) -> Result<Vec<FundingRate>, ExchangeError> {
        if pair.market_type() != MarketType::Futures {
            return Err(self.unsupported(format!("funding rates for spot pair {pair}")));
        }
        let symbol = self.venue_symbol(pair)?;
        const LIMIT: usize = 1000;
        let mut out: Vec<FundingRate> = Vec::new();
        let mut cursor = start_ms;
        while cursor < end_ms {
            let pq = format!("/fapi/v1/fundingRate?symbol={symbol}&startTime={cursor}&endTime={}&limit={LIMIT}", end_ms - 1);
            let page: Vec<FundingRate> = self
                .transport
                .get(&self.futures_url, &pq, &self.futures, 1, |raw, request| {
                    check_error(raw, request, &symbol, Some(pair))?;
                    let rows: Vec<FundingRow> = serde_json::from_slice(&raw.body)
                        .map_err(|e| ExchangeError::decode(EXCHANGE, request, "funding rates are not the documented array", Some(e)))?;
                    Ok(rows
                        .into_iter()
                        .map(|r| FundingRate { ts: r.funding_time.0, rate: r.funding_rate.0, mark_price: r.mark_price })
                        .collect())
                })
                .await?;
            let Some(last) = page.iter().map(|f| f.ts).max() else { break };
            let full = page.len() >= LIMIT;
            out.extend(page.into_iter().filter(|f| f.ts >= cursor && f.ts < end_ms));
            if !full || last < cursor {
                break;
            }
            cursor = last + 1;
        }
        out.sort_by_key(|f| f.ts);
        out.dedup_by_key(|f| f.ts);
        Ok(out)
    }

    fn unsupported(&self, what: String) -> ExchangeError {
        ExchangeError::Unsupported { exchange: EXCHANGE.into(), what }
    }
}

/// Maps a non-2xx answer to an error: Binance's `{"code": -1121, "msg": "Invalid symbol."}` on 400
/// and friends. Rate limits and 5xx were handled by the transport.
fn check_error(raw: &RawResponse, request: &str, symbol: &VenueSymbol, pair: Option<&Pair>) -> Result<(), ExchangeError> {
    if (200..300).contains(&raw.status) {
        return Ok(());
    }
    #[derive(Deserialize)]
    struct ApiError {
        code: i64,
        #[serde(default)]
        msg: String,
    }
    match serde_json::from_slice::<ApiError>(&raw.body) {
        Ok(e) if e.code == INVALID_SYMBOL => {
            Err(ExchangeError::UnknownSymbol { exchange: EXCHANGE.into(), symbol: symbol.to_string(), pair: pair.cloned() })
        }
        Ok(e) => Err(ExchangeError::Rejected {
            exchange: EXCHANGE.into(),
            request: request.into(),
            status: raw.status,
            code: Some(e.code),
            message: e.msg,
        }),
        Err(_) => Err(ExchangeError::Rejected {
            exchange: EXCHANGE.into(),
            request: request.into(),
            status: raw.status,
            code: None,
            message: excerpt(&raw.body),
        }),
    }
}

#[derive(Deserialize)]
struct ExchangeInfo {
    symbols: Vec<SymbolInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SymbolInfo {
    symbol: String,
    status: String,
    base_asset: String,
    quote_asset: String,
    #[serde(default)]
    margin_asset: Option<String>,
    #[serde(default)]
    contract_type: Option<String>,
    #[serde(default)]
    filters: Vec<Filter>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Filter {
    filter_type: String,
    #[serde(deserialize_with = "opt_decimal")]
    tick_size: Option<f64>,
    #[serde(deserialize_with = "opt_decimal")]
    step_size: Option<f64>,
    #[serde(deserialize_with = "opt_decimal")]
    min_qty: Option<f64>,
    #[serde(deserialize_with = "opt_decimal")]
    max_qty: Option<f64>,
    /// Spot `MIN_NOTIONAL` and `NOTIONAL` filters.
    #[serde(deserialize_with = "opt_decimal")]
    min_notional: Option<f64>,
    /// Futures `MIN_NOTIONAL` filter.
    #[serde(deserialize_with = "opt_decimal")]
    notional: Option<f64>,
}

impl SymbolInfo {
    fn into_market(self, market: MarketType) -> Option<Market> {
        let pair = match market {
            MarketType::Spot => Pair::new(&self.base_asset, &self.quote_asset, None).ok()?,
            MarketType::Futures => {
                // Delivery contracts (`BTCUSDT_240628`) are not perpetuals and have no CCXT
                // notation in `Pair`; skip them.
                if self.contract_type.as_deref() != Some("PERPETUAL") {
                    return None;
                }
                let settle = self.margin_asset.as_deref().unwrap_or(&self.quote_asset);
                Pair::new(&self.base_asset, &self.quote_asset, Some(settle)).ok()?
            }
        };
        let mut instrument = Instrument::unknown(pair.clone());
        for f in &self.filters {
            match f.filter_type.as_str() {
                "PRICE_FILTER" => instrument.price_tick = f.tick_size.filter(|t| *t > 0.0),
                "LOT_SIZE" => {
                    instrument.amount_step = f.step_size.filter(|s| *s > 0.0);
                    instrument.min_amount = f.min_qty.filter(|q| *q > 0.0);
                    instrument.max_amount = f.max_qty.filter(|q| *q > 0.0);
                }
                "MIN_NOTIONAL" | "NOTIONAL" => {
                    instrument.min_notional = f.min_notional.or(f.notional).filter(|n| *n > 0.0).or(instrument.min_notional);
                }
                _ => {}
            }
        }
        if market == MarketType::Futures {
            instrument.contract_size = Some(1.0);
        }
        Some(Market { pair, symbol: VenueSymbol::new(self.symbol), active: self.status == "TRADING", instrument })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FundingRow {
    funding_time: Ms,
    funding_rate: Num,
    #[serde(default, deserialize_with = "opt_decimal")]
    mark_price: Option<f64>,
}

#[derive(Deserialize)]
struct ServerTime {
    #[serde(rename = "serverTime")]
    server_time: i64,
}

impl ExchangeClient for BinanceClient {
    fn id(&self) -> &ExchangeId {
        &self.id
    }

    fn venue_symbol(&self, pair: &Pair) -> Result<VenueSymbol, ExchangeError> {
        match pair.settle() {
            None => Ok(VenueSymbol::concatenated(pair)),
            // USDⓈ-M perpetuals settle in their quote asset; coin-margined ones live on dapi.
            Some(s) if s == pair.quote() && matches!(s, "USDT" | "USDC") => Ok(VenueSymbol::concatenated(pair)),
            Some(_) => Err(self.unsupported(format!("pair {pair} (only USDT- and USDC-margined futures, BASE/USDT:USDT)"))),
        }
    }

    fn supports_timeframe(&self, _timeframe: Timeframe) -> bool {
        // Every core timeframe is a Binance kline interval with the same name.
        true
    }

    fn server_time(&self, market: MarketType) -> BoxFuture<'_, Result<i64, ExchangeError>> {
        Box::pin(async move {
            let (base, limiter) = self.host(market);
            let pq = match market {
                MarketType::Spot => "/api/v3/time",
                MarketType::Futures => "/fapi/v1/time",
            };
            self.transport
                .get(base, pq, limiter, 1, |raw, request| {
                    check_error(raw, request, &VenueSymbol::new(""), None)?;
                    let t: ServerTime = serde_json::from_slice(&raw.body)
                        .map_err(|e| ExchangeError::decode(EXCHANGE, request, "expected {\"serverTime\": ms}", Some(e)))?;
                    Ok(t.server_time)
                })
                .await
        })
    }

    fn markets(&self, market: MarketType) -> BoxFuture<'_, Result<Vec<Market>, ExchangeError>> {
        Box::pin(async move {
            match market {
                MarketType::Spot => self.fetch_markets(market, None).await,
                MarketType::Futures => self.cached_futures_markets().await,
            }
        })
    }

    fn market<'a>(&'a self, pair: &'a Pair) -> BoxFuture<'a, Result<Market, ExchangeError>> {
        Box::pin(async move {
            let symbol = self.venue_symbol(pair)?;
            let unknown =
                || ExchangeError::UnknownSymbol { exchange: EXCHANGE.into(), symbol: symbol.to_string(), pair: Some(pair.clone()) };
            // Spot exchangeInfo takes a symbol filter; futures exchangeInfo has no parameters,
            // so its full list is fetched once and reused.
            let markets = match pair.market_type() {
                MarketType::Spot => self.fetch_markets(MarketType::Spot, Some((&symbol, pair))).await?,
                MarketType::Futures => self.cached_futures_markets().await?,
            };
            markets.into_iter().find(|m| &m.pair == pair && m.symbol == symbol).ok_or_else(unknown)
        })
    }

    fn candles<'a>(&'a self, request: &'a CandleRequest) -> BoxFuture<'a, Result<CandlePage, ExchangeError>> {
        Box::pin(self.fetch_page(request))
    }

    fn funding_rates<'a>(&'a self, pair: &'a Pair, start_ms: i64, end_ms: i64) -> BoxFuture<'a, Result<Vec<FundingRate>, ExchangeError>> {
        Box::pin(self.fetch_funding(pair, start_ms, end_ms))
    }

    fn rate_limits(&self) -> Vec<RateLimitState> {
        vec![self.spot.state(), self.futures.state()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> BinanceClient {
        BinanceClient::new(BinanceConfig {
            spot_url: "http://127.0.0.1:1".into(),
            futures_url: "http://127.0.0.1:1".into(),
            ..BinanceConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn symbols_map_both_ways() {
        let c = client();
        assert_eq!(c.venue_symbol(&"BTC/USDT".parse().unwrap()).unwrap().as_str(), "BTCUSDT");
        assert_eq!(c.venue_symbol(&"ETH/USDT:USDT".parse().unwrap()).unwrap().as_str(), "ETHUSDT");
        let e = c.venue_symbol(&"BTC/USD:BTC".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("BTC/USD:BTC"), "{e}");
        let info: SymbolInfo = serde_json::from_str(
            r#"{"symbol":"1000PEPEUSDT","status":"TRADING","baseAsset":"1000PEPE","quoteAsset":"USDT","marginAsset":"USDT","contractType":"PERPETUAL",
                "filters":[{"filterType":"PRICE_FILTER","maxPrice":"200","minPrice":"0.0000001","tickSize":"0.0000001"},
                           {"filterType":"LOT_SIZE","maxQty":"80000000","minQty":"1","stepSize":"1"},
                           {"filterType":"MIN_NOTIONAL","notional":"5"}]}"#,
        )
        .unwrap();
        let m = info.into_market(MarketType::Futures).unwrap();
        assert_eq!(m.pair.to_string(), "1000PEPE/USDT:USDT");
        assert_eq!(c.venue_symbol(&m.pair).unwrap(), m.symbol);
        assert_eq!((m.instrument.price_tick, m.instrument.amount_step, m.instrument.min_notional), (Some(1e-7), Some(1.0), Some(5.0)));
        assert_eq!(m.instrument.max_amount, Some(80_000_000.0));
    }

    #[test]
    fn kline_weights() {
        assert_eq!(BinanceClient::futures_kline_weight(99), 1);
        assert_eq!(BinanceClient::futures_kline_weight(1000), 5);
        assert_eq!(BinanceClient::futures_kline_weight(1500), 10);
    }
}
