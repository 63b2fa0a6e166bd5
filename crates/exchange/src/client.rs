//! The [`ExchangeClient`] trait every adapter implements, the values it trades in, and the
//! exchange-neutral pagination built on it.

use std::fmt::Debug;

use futures::future::BoxFuture;
use serde::Serialize;
use tradai_core::{Candles, ExchangeId, Instrument, MarketType, Pair, Timeframe};

use crate::{ExchangeError, RateLimitState, VenueSymbol};

/// Which price a candle series follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PriceKind {
    /// Traded prices (the usual OHLCV).
    Trade,
    /// Futures mark price (volume is zero).
    Mark,
}

/// One page of candles to fetch: those whose open time lies in `[start_ms, end_ms)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandleRequest {
    /// The pair.
    pub pair: Pair,
    /// The candle interval.
    pub timeframe: Timeframe,
    /// Inclusive start, epoch ms.
    pub start_ms: i64,
    /// Exclusive end, epoch ms.
    pub end_ms: i64,
    /// Trade or mark price.
    pub kind: PriceKind,
}

/// What one request returned.
///
/// Exchanges page differently (Binance returns the oldest candles of a range, Bybit the
/// newest), so a page says how far it is complete rather than leaving the caller to guess from
/// the last candle: every candle with open time in `[request.start_ms, covered_until)` that the
/// exchange has is in `candles`. The next page starts at `covered_until`.
#[derive(Debug, Clone, PartialEq)]
pub struct CandlePage {
    /// Candles in ascending time order, no duplicates, all inside the requested range.
    pub candles: Candles,
    /// Exclusive end of the time span this page covers completely; greater than the request's
    /// start and at most its end.
    pub covered_until: i64,
}

/// A market as the exchange lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Market {
    /// The internal pair.
    pub pair: Pair,
    /// The exchange's symbol for it.
    pub symbol: VenueSymbol,
    /// Whether it trades now (Binance `TRADING`, Bybit `Trading`).
    pub active: bool,
    /// Tick size, lot step and minimums.
    pub instrument: Instrument,
}

/// One futures funding event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FundingRate {
    /// Funding time, epoch ms.
    pub ts: i64,
    /// The rate (0.0001 = 0.01 %).
    pub rate: f64,
    /// Mark price at funding time, when the exchange reports it.
    pub mark_price: Option<f64>,
}

/// A market-data client of one exchange: markets, candles, server time, rate-limit state.
///
/// Methods return boxed futures so that the trait is object-safe: entry points pick the
/// exchange at run time and hold an `Arc<dyn ExchangeClient>`. Implementations are shared by
/// concurrent tasks; their rate limiter and circuit breaker are shared with them.
pub trait ExchangeClient: Send + Sync + Debug {
    /// The exchange id candles are stored under (`binance`, `bybit`).
    fn id(&self) -> &ExchangeId;

    /// The exchange's symbol for `pair`, without a network call.
    ///
    /// # Errors
    /// [`ExchangeError::Unsupported`] for pairs this adapter cannot trade (e.g. coin-margined).
    fn venue_symbol(&self, pair: &Pair) -> Result<VenueSymbol, ExchangeError>;

    /// Whether the exchange serves candles of this timeframe.
    fn supports_timeframe(&self, timeframe: Timeframe) -> bool;

    /// The exchange's clock, epoch ms: what decides which candle is still open.
    ///
    /// # Errors
    /// Any [`ExchangeError`] of the request.
    fn server_time(&self, market: MarketType) -> BoxFuture<'_, Result<i64, ExchangeError>>;

    /// Every market of a type the adapter can map to a [`Pair`].
    ///
    /// # Errors
    /// Any [`ExchangeError`] of the request.
    fn markets(&self, market: MarketType) -> BoxFuture<'_, Result<Vec<Market>, ExchangeError>>;

    /// One market.
    ///
    /// # Errors
    /// [`ExchangeError::UnknownSymbol`] when the exchange does not list it; any other
    /// [`ExchangeError`] of the request.
    fn market<'a>(&'a self, pair: &'a Pair) -> BoxFuture<'a, Result<Market, ExchangeError>>;

    /// One page of candles (one request, retried as configured).
    ///
    /// # Errors
    /// [`ExchangeError::UnknownSymbol`], [`ExchangeError::Unsupported`] (timeframe or price
    /// kind), and any other [`ExchangeError`] of the request.
    fn candles<'a>(&'a self, request: &'a CandleRequest) -> BoxFuture<'a, Result<CandlePage, ExchangeError>>;

    /// Funding events of a perpetual with time in `[start_ms, end_ms)`, oldest first.
    ///
    /// # Errors
    /// [`ExchangeError::Unsupported`] by default; any [`ExchangeError`] of the requests.
    fn funding_rates<'a>(&'a self, pair: &'a Pair, start_ms: i64, end_ms: i64) -> BoxFuture<'a, Result<Vec<FundingRate>, ExchangeError>> {
        let _ = (start_ms, end_ms);
        Box::pin(
            async move { Err(ExchangeError::Unsupported { exchange: self.id().to_string(), what: format!("funding rates ({pair})") }) },
        )
    }

    /// The state of every rate limiter this client keeps.
    fn rate_limits(&self) -> Vec<RateLimitState>;
}

/// Fetches every candle of `request`'s range, page after page.
///
/// # Errors
/// The first page that fails; see [`ExchangeClient::candles`]. A page that makes no progress
/// is an [`ExchangeError::Decode`].
pub async fn fetch_candles(client: &dyn ExchangeClient, request: &CandleRequest) -> Result<Candles, ExchangeError> {
    let mut out = Candles::default();
    let mut page_req = request.clone();
    while page_req.start_ms < request.end_ms {
        let page = client.candles(&page_req).await?;
        out.extend_from(&page.candles);
        page_req.start_ms = page.covered_until;
    }
    Ok(out)
}

/// Puts a decoded page in order and inside `[start, end)`; the adapters call it so every page
/// meets [`CandlePage`]'s contract whatever order the exchange sent.
pub(crate) fn normalise(mut candles: Candles, start: i64, end: i64) -> Candles {
    if candles.ts.windows(2).any(|w| w[0] >= w[1]) {
        candles.sort_dedup_last_wins();
    }
    let r = candles.index_range(Some(start), Some(end));
    if r.start == 0 && r.end == candles.len() {
        candles
    } else {
        candles.slice(r)
    }
}

/// Checks that a page moved forward, as the trait promises.
pub(crate) fn check_progress(exchange: &str, request: &str, start: i64, end: i64, covered_until: i64) -> Result<i64, ExchangeError> {
    if covered_until <= start {
        return Err(ExchangeError::decode(exchange, request, format!("page ends at {covered_until}, not after its start {start}"), None));
    }
    Ok(covered_until.min(end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradai_core::CandleRow;

    #[test]
    fn normalise_sorts_and_clips() {
        let mut c = Candles::default();
        for ts in [40, 30, 20, 10, 0] {
            c.push(CandleRow { ts, open: 1.0, high: 1.0, low: 1.0, close: 1.0, volume: 1.0 });
        }
        assert_eq!(normalise(c, 10, 40).ts, vec![10, 20, 30]);
        assert!(check_progress("x", "GET /", 10, 40, 10).is_err());
        assert_eq!(check_progress("x", "GET /", 10, 40, 50).unwrap(), 40);
    }
}
