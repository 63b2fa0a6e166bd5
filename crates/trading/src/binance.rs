//! The live broker for Binance spot: signed REST orders that are never placed twice.
//!
//! Every request is signed (HMAC-SHA256 of the query with the API secret, `recvWindow`,
//! `timestamp` corrected by the measured server-time offset). An order carries the
//! `newClientOrderId` the node derived from its trade and purpose, so before sending it (a
//! restarted node decides the same orders again) and when a response is lost (timeout,
//! connection cut, 5xx) the broker asks `GET /api/v3/order?origClientOrderId=`: an order the
//! venue has is taken as it is, and only an order it does not have (`-2013`) is sent. Rejections (`-2010`, `-1013`, `-2019`, `-1022`) are returned with
//! their code, never retried; `-1021` (timestamp outside the window) re-measures the clock
//! once; 429/418 wait `Retry-After`. Price and amount are brought onto the symbol's
//! `PRICE_FILTER` / `LOT_SIZE` grid and checked against `NOTIONAL` before sending. A LIMIT
//! order not filled within the timeout is cancelled and reported with what did fill.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tradai_core::Pair;

use crate::broker::{Broker, BrokerError};
use crate::order::{OrderPurpose, OrderRecord, OrderSide, OrderStatus};

/// HMAC-SHA256 (RFC 2104) of `msg` under `key`, as lowercase hex: Binance's `signature`.
#[must_use]
pub fn sign(key: &[u8], msg: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// How the broker talks to the venue.
#[derive(Debug, Clone)]
pub struct BinanceConfig {
    /// REST base URL (`https://api.binance.com`, a testnet, a fake).
    pub base_url: String,
    /// API key (sent as `X-MBX-APIKEY`; never logged).
    pub api_key: String,
    /// API secret (signs; never sent, logged or returned).
    pub api_secret: String,
    /// `recvWindow`, ms.
    pub recv_window_ms: u64,
    /// Per-request timeout.
    pub timeout: Duration,
    /// An entry not filled in full within this is cancelled (Freqtrade's `unfilledtimeout`);
    /// exits are never cancelled.
    pub unfilled_timeout: Duration,
    /// Between status polls of an open order.
    pub poll_every: Duration,
    /// Attempts of one request through lost responses and rate limits.
    pub max_attempts: u32,
    /// The longest `Retry-After` waited out.
    pub max_rate_limit_wait: Duration,
}

impl BinanceConfig {
    /// Binance's defaults for `base_url` and the keys.
    #[must_use]
    pub fn new(base_url: &str, api_key: &str, api_secret: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            api_secret: api_secret.to_owned(),
            recv_window_ms: 5_000,
            timeout: Duration::from_secs(10),
            unfilled_timeout: Duration::from_secs(600),
            poll_every: Duration::from_millis(500),
            max_attempts: 5,
            max_rate_limit_wait: Duration::from_secs(60),
        }
    }
}

impl std::fmt::Display for BinanceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "binance spot at {}", self.base_url)
    }
}

/// A symbol's trading filters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SymbolFilters {
    /// `PRICE_FILTER.tickSize`.
    pub tick_size: f64,
    /// `LOT_SIZE.stepSize`.
    pub step_size: f64,
    /// `LOT_SIZE.minQty`.
    pub min_qty: f64,
    /// `NOTIONAL.minNotional` (or `MIN_NOTIONAL`).
    pub min_notional: f64,
}

/// An error answer of the venue.
#[derive(Debug, Deserialize)]
struct ApiError {
    code: i64,
    msg: String,
}

/// An order as the venue reports it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VenueOrder {
    status: String,
    #[serde(default)]
    executed_qty: String,
    #[serde(default)]
    cummulative_quote_qty: String,
    #[serde(default)]
    fills: Vec<VenueFill>,
}

#[derive(Debug, Deserialize)]
struct VenueFill {
    commission: String,
    #[serde(rename = "commissionAsset")]
    commission_asset: String,
    price: String,
}

/// What one request ended in.
enum Answer {
    Ok(serde_json::Value),
    Api {
        status: u16,
        err: ApiError,
    },
    RateLimited(Duration),
    /// The request may or may not have reached the venue.
    Lost(String),
}

/// Binance spot orders.
pub struct BinanceSpotBroker {
    cfg: BinanceConfig,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    offset_ms: i64,
    filters: HashMap<String, SymbolFilters>,
    /// Log of what happened to orders (rejections, lookups, cancels), for the node's log.
    pub events: Vec<String>,
}

impl std::fmt::Debug for BinanceSpotBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceSpotBroker")
            .field("base_url", &self.cfg.base_url)
            .field("offset_ms", &self.offset_ms)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())).unwrap_or(i64::MAX)
}

fn unavailable(cid: &str, msg: impl Into<String>) -> BrokerError {
    BrokerError::Unavailable { client_order_id: cid.to_owned(), source: msg.into().into() }
}

/// `x` on the grid of `step`, rounded down (amounts, and prices of buys) or to nearest
/// (prices), in decimal digits of the step so that `0.1 + 0.2` style errors do not leak.
fn to_grid(x: f64, step: f64, nearest: bool) -> f64 {
    if step <= 0.0 {
        return x;
    }
    let q = x / step;
    let n = if nearest { q.round() } else { (q + 1e-9).floor() };
    let decimals = format!("{step}").split('.').nth(1).map_or(0, str::len);
    format!("{:.*}", decimals, n * step).parse().unwrap_or(n * step)
}

impl BinanceSpotBroker {
    /// A broker; measures the server-time offset.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] when the venue cannot be reached.
    pub fn connect(cfg: BinanceConfig) -> Result<Self, BrokerError> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| unavailable("-", e.to_string()))?;
        let http = reqwest::Client::builder().timeout(cfg.timeout).build().map_err(|e| unavailable("-", e.to_string()))?;
        let mut b = Self { cfg, http, rt, offset_ms: 0, filters: HashMap::new(), events: Vec::new() };
        b.sync_time()?;
        Ok(b)
    }

    /// The measured `server time - local time`, ms.
    #[must_use]
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    /// Re-measures the server-time offset (`GET /api/v3/time`, halfway through the round trip).
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`].
    pub fn sync_time(&mut self) -> Result<(), BrokerError> {
        let t0 = now_ms();
        let v = match self.request(reqwest::Method::GET, "/api/v3/time", "", false) {
            Answer::Ok(v) => v,
            Answer::Api { err, .. } => return Err(unavailable("-", format!("server time: {} {}", err.code, err.msg))),
            Answer::RateLimited(_) => return Err(unavailable("-", "server time: rate limited")),
            Answer::Lost(m) => return Err(unavailable("-", format!("server time: {m}"))),
        };
        let t1 = now_ms();
        let server = v["serverTime"].as_i64().ok_or_else(|| unavailable("-", "server time: no serverTime"))?;
        self.offset_ms = server - (t0 + t1) / 2;
        Ok(())
    }

    /// Whether the venue accepts the keys: a signed `GET /api/v3/account`. `Ok(Err(reason))`
    /// when it refused them (the code and message, never the key).
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] when the venue did not answer.
    pub fn check_account(&mut self) -> Result<Result<(), String>, BrokerError> {
        match self.request(reqwest::Method::GET, "/api/v3/account", "", true) {
            Answer::Ok(_) => Ok(Ok(())),
            Answer::Api { status, err } => Ok(Err(format!("http {status}: {} {}", err.code, err.msg))),
            Answer::RateLimited(_) => Err(unavailable("-", "account: rate limited")),
            Answer::Lost(m) => Err(unavailable("-", format!("account: {m}"))),
        }
    }

    /// The symbol's filters (`GET /api/v3/exchangeInfo?symbol=`), cached.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`], or [`BrokerError::Rejected`] for an unknown symbol.
    pub fn filters(&mut self, symbol: &str) -> Result<SymbolFilters, BrokerError> {
        if let Some(f) = self.filters.get(symbol) {
            return Ok(*f);
        }
        let v = match self.request(reqwest::Method::GET, "/api/v3/exchangeInfo", &format!("symbol={symbol}"), false) {
            Answer::Ok(v) => v,
            Answer::Api { err, .. } => {
                return Err(BrokerError::Rejected { client_order_id: "-".into(), reason: format!("{} {} ({symbol})", err.code, err.msg) })
            }
            Answer::RateLimited(_) | Answer::Lost(_) => return Err(unavailable("-", format!("exchangeInfo of {symbol} unavailable"))),
        };
        let mut f = SymbolFilters { tick_size: 0.0, step_size: 0.0, min_qty: 0.0, min_notional: 0.0 };
        let num = |x: &serde_json::Value| x.as_str().and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        for flt in v["symbols"][0]["filters"].as_array().into_iter().flatten() {
            match flt["filterType"].as_str() {
                Some("PRICE_FILTER") => f.tick_size = num(&flt["tickSize"]),
                Some("LOT_SIZE") => {
                    f.step_size = num(&flt["stepSize"]);
                    f.min_qty = num(&flt["minQty"]);
                }
                Some("NOTIONAL" | "MIN_NOTIONAL") => f.min_notional = num(&flt["minNotional"]),
                _ => {}
            }
        }
        self.filters.insert(symbol.to_owned(), f);
        Ok(f)
    }

    /// One HTTP request; signed requests get `recvWindow`, `timestamp` and `signature`.
    fn request(&self, method: reqwest::Method, path: &str, query: &str, signed: bool) -> Answer {
        let mut q = query.to_owned();
        if signed {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(&format!("recvWindow={}&timestamp={}", self.cfg.recv_window_ms, now_ms() + self.offset_ms));
            let sig = sign(self.cfg.api_secret.as_bytes(), q.as_bytes());
            q.push_str(&format!("&signature={sig}"));
        }
        let url = if q.is_empty() { format!("{}{path}", self.cfg.base_url) } else { format!("{}{path}?{q}", self.cfg.base_url) };
        let req = self.http.request(method, url).header("X-MBX-APIKEY", &self.cfg.api_key);
        self.rt.block_on(async move {
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => return Answer::Lost(format!("no answer: {}", if e.is_timeout() { "timeout" } else { "connection failed" })),
            };
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.parse::<u64>().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs);
            let body = match resp.bytes().await {
                Ok(b) => b,
                Err(_) => return Answer::Lost(format!("http {status}, body cut")),
            };
            if status == 429 || status == 418 {
                return Answer::RateLimited(retry_after);
            }
            if status >= 500 {
                return Answer::Lost(format!("http {status}"));
            }
            if status >= 400 {
                return match serde_json::from_slice::<ApiError>(&body) {
                    Ok(err) => Answer::Api { status, err },
                    Err(_) => Answer::Lost(format!("http {status} without an error body")),
                };
            }
            serde_json::from_slice(&body).map_or_else(|_| Answer::Lost(format!("http {status}, body not JSON")), Answer::Ok)
        })
    }

    /// Looks an order up by its client id: `Ok(None)` when the venue does not have it.
    fn lookup(&mut self, symbol: &str, cid: &str) -> Result<Option<VenueOrder>, BrokerError> {
        for _ in 0..self.cfg.max_attempts {
            match self.request(reqwest::Method::GET, "/api/v3/order", &format!("symbol={symbol}&origClientOrderId={cid}"), true) {
                Answer::Ok(v) => return serde_json::from_value(v).map(Some).map_err(|e| unavailable(cid, format!("order answer: {e}"))),
                Answer::Api { err, .. } if err.code == -2013 => return Ok(None),
                Answer::Api { err, .. } if err.code == -1021 => {
                    self.events.push(format!("{cid}: -1021 {}; clock re-measured", err.msg));
                    self.sync_time()?;
                }
                Answer::Api { err, .. } => {
                    return Err(BrokerError::Rejected { client_order_id: cid.into(), reason: format!("{} {}", err.code, err.msg) })
                }
                Answer::RateLimited(wait) => self.wait(wait, cid)?,
                Answer::Lost(m) => self.events.push(format!("{cid}: lookup answer lost ({m}); asking again")),
            }
        }
        Err(unavailable(cid, "venue unavailable while looking the order up"))
    }

    fn wait(&mut self, wait: Duration, cid: &str) -> Result<(), BrokerError> {
        if wait > self.cfg.max_rate_limit_wait {
            return Err(unavailable(cid, format!("rate limited for {}s", wait.as_secs())));
        }
        self.events.push(format!("{cid}: rate limited, waiting {} ms", wait.as_millis()));
        std::thread::sleep(wait);
        Ok(())
    }

    /// Sends a new order; after a lost answer, looks it up before sending again.
    fn submit(&mut self, symbol: &str, query: &str, cid: &str) -> Result<VenueOrder, BrokerError> {
        let mut synced = false;
        for _ in 0..self.cfg.max_attempts {
            match self.request(reqwest::Method::POST, "/api/v3/order", query, true) {
                Answer::Ok(v) => return serde_json::from_value(v).map_err(|e| unavailable(cid, format!("order answer: {e}"))),
                Answer::Api { err, .. } if err.code == -1021 && !synced => {
                    self.events.push(format!("{cid}: -1021 {}; clock re-measured, sending once more", err.msg));
                    self.sync_time()?;
                    synced = true;
                }
                Answer::Api { err, status } => {
                    let reason = format!("{} {} (http {status})", err.code, err.msg);
                    self.events.push(format!("{cid}: rejected {reason}"));
                    return Err(BrokerError::Rejected { client_order_id: cid.into(), reason });
                }
                Answer::RateLimited(wait) => self.wait(wait, cid)?,
                Answer::Lost(m) => {
                    self.events.push(format!("{cid}: answer lost ({m}); looking the order up"));
                    if let Some(o) = self.lookup(symbol, cid)? {
                        self.events.push(format!("{cid}: the venue has it ({}); not sent again", o.status));
                        return Ok(o);
                    }
                }
            }
        }
        Err(unavailable(cid, "venue unavailable; the order was not placed"))
    }

    /// Fills `order` from the venue's report.
    fn apply(order: &mut OrderRecord, v: &VenueOrder, quote: &str) {
        let filled: f64 = v.executed_qty.parse().unwrap_or(0.0);
        let quote_qty: f64 = v.cummulative_quote_qty.parse().unwrap_or(0.0);
        order.filled = filled;
        order.average = if filled > 0.0 { quote_qty / filled } else { 0.0 };
        // Commissions in the quote currency count as they are; in the base, at the fill price.
        order.fee = v
            .fills
            .iter()
            .map(|f| {
                let c: f64 = f.commission.parse().unwrap_or(0.0);
                if f.commission_asset == quote {
                    c
                } else {
                    c * f.price.parse::<f64>().unwrap_or(0.0)
                }
            })
            .sum();
        order.status = match v.status.as_str() {
            "FILLED" => OrderStatus::Filled,
            "PARTIALLY_FILLED" => OrderStatus::PartiallyFilled,
            "CANCELED" | "EXPIRED" | "EXPIRED_IN_MATCH" => OrderStatus::Cancelled,
            "REJECTED" => OrderStatus::Rejected,
            _ => OrderStatus::Open,
        };
    }
}

/// `ETH/BTC` → `ETHBTC`.
fn symbol_of(pair: &Pair) -> String {
    format!("{}{}", pair.base(), pair.quote())
}

impl Broker for BinanceSpotBroker {
    fn name(&self) -> &str {
        "binance"
    }

    fn place(&mut self, mut order: OrderRecord) -> Result<OrderRecord, BrokerError> {
        let symbol = symbol_of(&order.pair);
        let cid = order.client_order_id.clone();
        let f = self.filters(&symbol)?;
        let price = to_grid(order.price, f.tick_size, true);
        let qty = to_grid(order.amount, f.step_size, false);
        if qty < f.min_qty || price * qty < f.min_notional {
            let reason = format!("-1013 Filter failure: {qty} at {price} is below minQty {} / minNotional {}", f.min_qty, f.min_notional);
            self.events.push(format!("{cid}: refused before sending: {reason}"));
            return Err(BrokerError::Rejected { client_order_id: cid, reason });
        }
        let side = match order.side {
            OrderSide::Buy => "BUY",
            OrderSide::Sell => "SELL",
        };
        let query = format!("symbol={symbol}&side={side}&type=LIMIT&timeInForce=GTC&quantity={qty}&price={price}&newClientOrderId={cid}");
        // A node that restarts decides the same orders again: one the venue already has (sent
        // before the crash) is adopted, not sent a second time.
        let mut v = match self.lookup(&symbol, &cid)? {
            Some(existing) => {
                self.events.push(format!("{cid}: already on the venue ({}); adopted", existing.status));
                existing
            }
            None => self.submit(&symbol, &query, &cid)?,
        };
        let quote = order.pair.quote().to_owned();
        Self::apply(&mut order, &v, &quote);
        let started = Instant::now();
        while matches!(order.status, OrderStatus::Open | OrderStatus::PartiallyFilled) {
            // Freqtrade's `unfilledtimeout` for entries: the rest is cancelled and the trade
            // holds what filled. An exit is never cancelled: the position must go, so it is
            // polled until the venue fills it.
            if order.purpose == OrderPurpose::Entry && started.elapsed() >= self.cfg.unfilled_timeout {
                self.events.push(format!("{cid}: not filled within {:?}; cancelling", self.cfg.unfilled_timeout));
                // Any other answer (-2011: filled meanwhile) is settled by the lookup below.
                let path = format!("symbol={symbol}&origClientOrderId={cid}");
                if let Answer::Ok(val) = self.request(reqwest::Method::DELETE, "/api/v3/order", &path, true) {
                    if let Ok(c) = serde_json::from_value::<VenueOrder>(val) {
                        v = c;
                    }
                }
                if let Some(last) = self.lookup(&symbol, &cid)? {
                    v = last;
                }
                Self::apply(&mut order, &v, &quote);
                if order.status == OrderStatus::Open || order.status == OrderStatus::PartiallyFilled {
                    order.status = OrderStatus::Cancelled;
                }
                break;
            }
            std::thread::sleep(self.cfg.poll_every);
            if let Some(now) = self.lookup(&symbol, &cid)? {
                v = now;
                Self::apply(&mut order, &v, &quote);
            }
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_binance_documentation() {
        // The example of Binance's "SIGNED endpoint security" documentation.
        let secret = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let query = b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(sign(secret, query), "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71");
    }

    #[test]
    fn grid_rounding() {
        assert_eq!(to_grid(0.123_456_789, 0.000_01, true), 0.123_46);
        assert_eq!(to_grid(1.999_999, 0.001, false), 1.999);
        assert_eq!(to_grid(3.0, 0.001, false), 3.0);
        assert_eq!(to_grid(0.1 + 0.2, 0.1, true), 0.3);
        assert_eq!(to_grid(5.5, 0.0, true), 5.5);
    }
}
