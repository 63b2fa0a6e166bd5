//! The live broker for Binance spot and USDT-M futures: signed REST orders that are never
//! placed twice.
//!
//! One implementation for both markets ([`BinanceMarket`] picks the paths and the few fields
//! that differ). Every request is signed (HMAC-SHA256 of the query with the API secret,
//! `recvWindow`, `timestamp` corrected by the measured server-time offset). An order carries
//! the `newClientOrderId` the node derived from its trade and purpose, so before sending it (a
//! restarted node decides the same orders again) and when a response is lost (timeout,
//! connection cut, 5xx) the broker asks `GET .../order?origClientOrderId=`: an order the
//! venue has is taken as it is, and only an order it does not have (`-2013`) is sent.
//! Rejections (`-2010`, `-1013`, `-2019`, `-1022`) are returned with their code, never
//! retried; `-1021` (timestamp outside the window) re-measures the clock once; 429/418 wait
//! `Retry-After`. Price and amount are brought onto the symbol's `PRICE_FILTER` / `LOT_SIZE`
//! grid and checked against `NOTIONAL` / `MIN_NOTIONAL` before sending. A LIMIT entry not
//! filled within the timeout is cancelled and reported with what did fill.
//!
//! Stop orders (`stoploss_on_exchange`): spot `STOP_LOSS_LIMIT` with a limit a little beyond
//! the stop ([`BinanceConfig::stop_limit_ratio`]), futures `STOP_MARKET` `reduceOnly`, both
//! with the node's client id, placed (or found) like any order and cancelled with the
//! venue's last word on what filled.
//!
//! Futures orders are one-way (`positionSide=BOTH`), exits `reduceOnly`; an entry's leverage
//! is set (`POST /fapi/v1/leverage`) before it is sent, and fills' commissions come from
//! `GET /fapi/v1/userTrades` (a futures order answer carries none).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tradai_core::Pair;

use crate::broker::{Broker, BrokerError, StopOrders};
use crate::order::{OrderPurpose, OrderRecord, OrderSide, OrderStatus};
use crate::reconcile::{Holdings, VenueAccount, VenueOpenOrder};

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

/// Which Binance market the broker trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinanceMarket {
    /// Spot (`/api/v3`).
    Spot,
    /// USDT-margined perpetual futures (`/fapi`), one-way positions.
    UsdtFutures,
}

impl BinanceMarket {
    /// The REST path of `endpoint` (`order`, `time`, ...) in this market.
    fn path(self, endpoint: &str) -> String {
        match self {
            Self::Spot => format!("/api/v3/{endpoint}"),
            Self::UsdtFutures => format!("/fapi/v1/{endpoint}"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Spot => "binance spot",
            Self::UsdtFutures => "binance usdt-m futures",
        }
    }
}

/// How the broker talks to the venue.
#[derive(Debug, Clone)]
pub struct BinanceConfig {
    /// Spot or USDT-M futures.
    pub market: BinanceMarket,
    /// REST base URL (`https://api.binance.com`, `https://fapi.binance.com`, a testnet, a fake).
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
    /// A spot stop order (`STOP_LOSS_LIMIT`) sells at a limit of the stop price times this
    /// (buys at `2 -` this): Freqtrade's `stoploss_on_exchange_limit_ratio`.
    pub stop_limit_ratio: f64,
}

impl BinanceConfig {
    /// A spot broker's config with Binance's defaults for everything but `base_url` and the keys.
    #[must_use]
    pub fn new(base_url: &str, api_key: &str, api_secret: &str) -> Self {
        Self {
            market: BinanceMarket::Spot,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            api_secret: api_secret.to_owned(),
            recv_window_ms: 5_000,
            timeout: Duration::from_secs(10),
            unfilled_timeout: Duration::from_secs(600),
            poll_every: Duration::from_millis(500),
            max_attempts: 5,
            max_rate_limit_wait: Duration::from_secs(60),
            stop_limit_ratio: 0.99,
        }
    }

    /// The same for USDT-M futures.
    #[must_use]
    pub fn futures(base_url: &str, api_key: &str, api_secret: &str) -> Self {
        Self { market: BinanceMarket::UsdtFutures, ..Self::new(base_url, api_key, api_secret) }
    }
}

impl std::fmt::Display for BinanceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}", self.market.name(), self.base_url)
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
    /// `NOTIONAL.minNotional` (or `MIN_NOTIONAL`; futures: `MIN_NOTIONAL.notional`).
    pub min_notional: f64,
}

/// An error answer of the venue.
#[derive(Debug, Deserialize)]
struct ApiError {
    code: i64,
    msg: String,
}

/// An order as the venue reports it (spot and futures spell a few fields differently).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VenueOrder {
    #[serde(default)]
    symbol: String,
    #[serde(default)]
    order_id: i64,
    #[serde(default)]
    client_order_id: String,
    #[serde(default)]
    side: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    orig_qty: String,
    /// A stop order's trigger price ("0" or absent otherwise).
    #[serde(default)]
    stop_price: String,
    status: String,
    #[serde(default)]
    executed_qty: String,
    #[serde(default, alias = "cumQuote")]
    cummulative_quote_qty: String,
    #[serde(default)]
    fills: Vec<VenueFill>,
}

/// A fill of a spot order answer, or a futures `userTrades` row.
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

/// Binance orders, spot or USDT-M futures.
pub struct BinanceBroker {
    cfg: BinanceConfig,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    offset_ms: i64,
    filters: HashMap<String, SymbolFilters>,
    /// The leverage set per futures symbol by this broker.
    leverage: HashMap<String, u32>,
    /// Log of what happened to orders (rejections, lookups, cancels), for the node's log.
    pub events: Vec<String>,
}

impl std::fmt::Debug for BinanceBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceBroker")
            .field("market", &self.cfg.market)
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

fn rejected(cid: &str, err: &ApiError, status: u16) -> BrokerError {
    BrokerError::Rejected { client_order_id: cid.to_owned(), reason: format!("{} {} (http {status})", err.code, err.msg) }
}

/// A number the venue sent as text (0 when absent).
fn num(x: &serde_json::Value) -> f64 {
    x.as_str().and_then(|s| s.parse::<f64>().ok()).or_else(|| x.as_f64()).unwrap_or(0.0)
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

impl BinanceBroker {
    /// A broker; measures the server-time offset.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] when the venue cannot be reached.
    pub fn connect(cfg: BinanceConfig) -> Result<Self, BrokerError> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| unavailable("-", e.to_string()))?;
        let http = reqwest::Client::builder().timeout(cfg.timeout).build().map_err(|e| unavailable("-", e.to_string()))?;
        let mut b = Self { cfg, http, rt, offset_ms: 0, filters: HashMap::new(), leverage: HashMap::new(), events: Vec::new() };
        b.sync_time()?;
        Ok(b)
    }

    /// The market traded.
    #[must_use]
    pub fn market(&self) -> BinanceMarket {
        self.cfg.market
    }

    /// The measured `server time - local time`, ms.
    #[must_use]
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    /// Re-measures the server-time offset (`GET .../time`, halfway through the round trip).
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`].
    pub fn sync_time(&mut self) -> Result<(), BrokerError> {
        let t0 = now_ms();
        let v = match self.request(reqwest::Method::GET, &self.cfg.market.path("time"), "", false) {
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

    /// The account endpoint: `/api/v3/account` or `/fapi/v2/account`.
    fn account_path(&self) -> &'static str {
        match self.cfg.market {
            BinanceMarket::Spot => "/api/v3/account",
            BinanceMarket::UsdtFutures => "/fapi/v2/account",
        }
    }

    /// Whether the venue accepts the keys: a signed account call. `Ok(Err(reason))` when it
    /// refused them (the code and message, never the key).
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] when the venue did not answer.
    pub fn check_account(&mut self) -> Result<Result<(), String>, BrokerError> {
        match self.request(reqwest::Method::GET, self.account_path(), "", true) {
            Answer::Ok(_) => Ok(Ok(())),
            Answer::Api { status, err } => Ok(Err(format!("http {status}: {} {}", err.code, err.msg))),
            Answer::RateLimited(_) => Err(unavailable("-", "account: rate limited")),
            Answer::Lost(m) => Err(unavailable("-", format!("account: {m}"))),
        }
    }

    /// The symbol's filters (`GET .../exchangeInfo`), cached.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`], or [`BrokerError::Rejected`] for an unknown symbol.
    pub fn filters(&mut self, symbol: &str) -> Result<SymbolFilters, BrokerError> {
        if let Some(f) = self.filters.get(symbol) {
            return Ok(*f);
        }
        // Spot answers one symbol; futures always answer all of them.
        let query = if self.cfg.market == BinanceMarket::Spot { format!("symbol={symbol}") } else { String::new() };
        let v = self.read(reqwest::Method::GET, &self.cfg.market.path("exchangeInfo"), &query, false, "-", None)?.unwrap_or_default();
        let info = v["symbols"].as_array().and_then(|all| all.iter().find(|s| s["symbol"].as_str() == Some(symbol))).ok_or_else(|| {
            BrokerError::Rejected {
                client_order_id: "-".into(),
                reason: format!("-1121 Invalid symbol ({symbol} not listed on {})", self.cfg.market.name()),
            }
        })?;
        let mut f = SymbolFilters { tick_size: 0.0, step_size: 0.0, min_qty: 0.0, min_notional: 0.0 };
        for flt in info["filters"].as_array().into_iter().flatten() {
            match flt["filterType"].as_str() {
                Some("PRICE_FILTER") => f.tick_size = num(&flt["tickSize"]),
                Some("LOT_SIZE") => {
                    f.step_size = num(&flt["stepSize"]);
                    f.min_qty = num(&flt["minQty"]);
                }
                Some("NOTIONAL" | "MIN_NOTIONAL") => f.min_notional = num(&flt["minNotional"]).max(num(&flt["notional"])),
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

    /// A request that changes nothing the node cannot ask again about (reads, cancels,
    /// leverage), through lost answers, rate limits and one clock re-measure. `Ok(None)` when
    /// the venue answered the `absent` code (an order it does not have).
    fn read(
        &mut self,
        method: reqwest::Method,
        path: &str,
        query: &str,
        signed: bool,
        cid: &str,
        absent: Option<i64>,
    ) -> Result<Option<serde_json::Value>, BrokerError> {
        let mut synced = false;
        for _ in 0..self.cfg.max_attempts {
            match self.request(method.clone(), path, query, signed) {
                Answer::Ok(v) => return Ok(Some(v)),
                Answer::Api { err, .. } if Some(err.code) == absent => return Ok(None),
                Answer::Api { err, .. } if err.code == -1021 && !synced => {
                    self.events.push(format!("{cid}: -1021 {}; clock re-measured", err.msg));
                    self.sync_time()?;
                    synced = true;
                }
                Answer::Api { err, status } => {
                    self.events.push(format!("{cid}: rejected {} {} (http {status}) on {path}", err.code, err.msg));
                    return Err(rejected(cid, &err, status));
                }
                Answer::RateLimited(wait) => self.wait(wait, cid)?,
                Answer::Lost(m) => self.events.push(format!("{cid}: answer to {path} lost ({m}); asking again")),
            }
        }
        Err(unavailable(cid, format!("venue unavailable ({path})")))
    }

    /// Looks an order up by its client id: `Ok(None)` when the venue does not have it.
    fn lookup(&mut self, symbol: &str, cid: &str) -> Result<Option<VenueOrder>, BrokerError> {
        let path = self.cfg.market.path("order");
        let v = self.read(reqwest::Method::GET, &path, &format!("symbol={symbol}&origClientOrderId={cid}"), true, cid, Some(-2013))?;
        v.map(|v| serde_json::from_value(v).map_err(|e| unavailable(cid, format!("order answer: {e}")))).transpose()
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
        let path = self.cfg.market.path("order");
        for _ in 0..self.cfg.max_attempts {
            match self.request(reqwest::Method::POST, &path, query, true) {
                Answer::Ok(v) => return serde_json::from_value(v).map_err(|e| unavailable(cid, format!("order answer: {e}"))),
                Answer::Api { err, .. } if err.code == -1021 && !synced => {
                    self.events.push(format!("{cid}: -1021 {}; clock re-measured, sending once more", err.msg));
                    self.sync_time()?;
                    synced = true;
                }
                Answer::Api { err, status } => {
                    self.events.push(format!("{cid}: rejected {} {} (http {status})", err.code, err.msg));
                    return Err(rejected(cid, &err, status));
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

    /// Sets the symbol's leverage before a futures entry, once per symbol and value.
    fn set_leverage(&mut self, symbol: &str, leverage: f64, cid: &str) -> Result<(), BrokerError> {
        let want = u32::try_from(leverage.round().max(1.0) as i64).unwrap_or(1);
        if self.leverage.get(symbol) == Some(&want) {
            return Ok(());
        }
        self.read(reqwest::Method::POST, "/fapi/v1/leverage", &format!("symbol={symbol}&leverage={want}"), true, cid, None)?;
        self.events.push(format!("{cid}: leverage of {symbol} set to {want}"));
        self.leverage.insert(symbol.to_owned(), want);
        Ok(())
    }

    /// A futures order's fills (`GET /fapi/v1/userTrades`), for their commissions.
    fn futures_fills(&mut self, symbol: &str, order_id: i64, cid: &str) -> Result<Vec<VenueFill>, BrokerError> {
        let v = self.read(reqwest::Method::GET, "/fapi/v1/userTrades", &format!("symbol={symbol}&orderId={order_id}"), true, cid, None)?;
        serde_json::from_value(v.unwrap_or_default()).map_err(|e| unavailable(cid, format!("userTrades answer: {e}")))
    }

    /// Fills `order` from the venue's report (a settled futures order's commissions asked
    /// for first).
    fn apply(&mut self, order: &mut OrderRecord, v: &mut VenueOrder, symbol: &str) -> Result<(), BrokerError> {
        let filled: f64 = v.executed_qty.parse().unwrap_or(0.0);
        let quote_qty: f64 = v.cummulative_quote_qty.parse().unwrap_or(0.0);
        order.status = status_of(&v.status);
        let settled = !matches!(order.status, OrderStatus::Open | OrderStatus::PartiallyFilled);
        if self.cfg.market == BinanceMarket::UsdtFutures && settled && filled > 0.0 && v.fills.is_empty() {
            v.fills = self.futures_fills(symbol, v.order_id, &order.client_order_id)?;
        }
        order.filled = filled;
        order.average = if filled > 0.0 { quote_qty / filled } else { 0.0 };
        // Commissions in the quote currency count as they are; in the base, at the fill price.
        let quote = order.pair.quote().to_owned();
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
        Ok(())
    }

    /// Cancels an order by its client id; the venue's last word on it (`None` when it has
    /// no such order, or it was settled already: `-2011`).
    fn cancel_order(&mut self, symbol: &str, cid: &str) -> Result<Option<VenueOrder>, BrokerError> {
        let path = self.cfg.market.path("order");
        match self.read(reqwest::Method::DELETE, &path, &format!("symbol={symbol}&origClientOrderId={cid}"), true, cid, Some(-2011)) {
            Ok(v) => Ok(v.and_then(|v| serde_json::from_value(v).ok())),
            // Settled meanwhile, or unknown: the caller's lookup says which.
            Err(BrokerError::Rejected { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl BinanceBroker {
    /// Refuses, before sending, an order the symbol's `LOT_SIZE` / `NOTIONAL` filters would
    /// refuse (`-1013`).
    fn check_filters(&mut self, cid: &str, qty: f64, price: f64, f: &SymbolFilters) -> Result<(), BrokerError> {
        if qty < f.min_qty || price * qty < f.min_notional {
            let reason = format!("-1013 Filter failure: {qty} at {price} is below minQty {} / minNotional {}", f.min_qty, f.min_notional);
            self.events.push(format!("{cid}: refused before sending: {reason}"));
            return Err(BrokerError::Rejected { client_order_id: cid.to_owned(), reason });
        }
        Ok(())
    }

    /// `order`'s symbol, client id and symbol filters, with its price (to the nearest tick)
    /// and amount (down to the lot step) on the symbol's grid.
    fn on_grid(&mut self, order: &OrderRecord) -> Result<(String, String, SymbolFilters, f64, f64), BrokerError> {
        let symbol = symbol_of(&order.pair);
        let f = self.filters(&symbol)?;
        let (price, qty) = (to_grid(order.price, f.tick_size, true), to_grid(order.amount, f.step_size, false));
        Ok((symbol, order.client_order_id.clone(), f, price, qty))
    }

    /// The order of `cid` the venue has (`Some`), adopted as it is, or `None`.
    fn adopt(&mut self, symbol: &str, cid: &str) -> Result<Option<VenueOrder>, BrokerError> {
        let found = self.lookup(symbol, cid)?;
        if let Some(existing) = &found {
            self.events.push(format!("{cid}: already on the venue ({}); adopted", existing.status));
        }
        Ok(found)
    }
}

impl StopOrders for BinanceBroker {
    fn place_stop(&mut self, mut order: OrderRecord) -> Result<OrderRecord, BrokerError> {
        let (symbol, cid, f, stop, qty) = self.on_grid(&order)?;
        let side = side_of(order.side);
        let (query, what) = match self.cfg.market {
            BinanceMarket::Spot => {
                // Triggered, the order sells (buys) at no worse than a little beyond the stop.
                let r = self.cfg.stop_limit_ratio;
                let limit = match order.side {
                    OrderSide::Sell => to_grid(stop * r, f.tick_size, false),
                    OrderSide::Buy => to_grid(stop * (2.0 - r), f.tick_size, true),
                };
                self.check_filters(&cid, qty, limit, &f)?;
                (
                    format!(
                        "symbol={symbol}&side={side}&type=STOP_LOSS_LIMIT&timeInForce=GTC&quantity={qty}&price={limit}&stopPrice={stop}&newClientOrderId={cid}"
                    ),
                    format!("STOP_LOSS_LIMIT {side} {qty} at stop {stop}, limit {limit}"),
                )
            }
            BinanceMarket::UsdtFutures => {
                self.check_filters(&cid, qty, stop, &f)?;
                (
                    format!(
                        "symbol={symbol}&side={side}&type=STOP_MARKET&quantity={qty}&stopPrice={stop}&reduceOnly=true&positionSide=BOTH&newClientOrderId={cid}"
                    ),
                    format!("STOP_MARKET {side} {qty} at stop {stop}, reduceOnly"),
                )
            }
        };
        let mut v = match self.adopt(&symbol, &cid)? {
            Some(existing) => existing,
            None => {
                let v = self.submit(&symbol, &query, &cid)?;
                self.events.push(format!("{cid}: stop placed: {what}"));
                v
            }
        };
        // The record keeps the node's stop price (the rules'), which the next candle compares.
        self.apply(&mut order, &mut v, &symbol)?;
        Ok(order)
    }

    fn cancel_stop(&mut self, order: &OrderRecord) -> Result<OrderRecord, BrokerError> {
        let symbol = symbol_of(&order.pair);
        let cid = order.client_order_id.clone();
        let mut now = order.clone();
        let Some(mut v) = self.lookup(&symbol, &cid)? else {
            self.events.push(format!("{cid}: stop unknown to the venue; nothing to cancel"));
            return Ok(OrderRecord { status: OrderStatus::Cancelled, error: Some("unknown to the venue".into()), ..now });
        };
        self.apply(&mut now, &mut v, &symbol)?;
        if matches!(now.status, OrderStatus::Open | OrderStatus::PartiallyFilled) {
            self.cancel_order(&symbol, &cid)?;
            // The venue's last word: cancelled, or filled in the meantime.
            if let Some(mut last) = self.lookup(&symbol, &cid)? {
                self.apply(&mut now, &mut last, &symbol)?;
            }
            if matches!(now.status, OrderStatus::Open | OrderStatus::PartiallyFilled) {
                now.status = OrderStatus::Cancelled;
            }
        }
        self.events.push(format!("{cid}: stop taken off the venue: {} ({} of {} filled)", now.status.as_str(), now.filled, now.amount));
        Ok(now)
    }
}

/// `BUY` or `SELL`.
fn side_of(side: OrderSide) -> &'static str {
    match side {
        OrderSide::Buy => "BUY",
        OrderSide::Sell => "SELL",
    }
}

/// The venue's order status as the node records it.
fn status_of(s: &str) -> OrderStatus {
    match s {
        "FILLED" => OrderStatus::Filled,
        "PARTIALLY_FILLED" => OrderStatus::PartiallyFilled,
        "CANCELED" | "EXPIRED" | "EXPIRED_IN_MATCH" => OrderStatus::Cancelled,
        "REJECTED" => OrderStatus::Rejected,
        _ => OrderStatus::Open,
    }
}

/// `ETH/BTC` → `ETHBTC`, `XRP/USDT:USDT` → `XRPUSDT`.
fn symbol_of(pair: &Pair) -> String {
    format!("{}{}", pair.base(), pair.quote())
}

impl Broker for BinanceBroker {
    fn name(&self) -> &str {
        "binance"
    }

    fn events(&self) -> &[String] {
        &self.events
    }

    fn account(&mut self) -> Option<&mut dyn VenueAccount> {
        Some(self)
    }

    fn stop_orders(&mut self) -> Option<&mut dyn StopOrders> {
        Some(self)
    }

    fn place(&mut self, mut order: OrderRecord) -> Result<OrderRecord, BrokerError> {
        let (symbol, cid, f, price, qty) = self.on_grid(&order)?;
        self.check_filters(&cid, qty, price, &f)?;
        let side = side_of(order.side);
        let mut query =
            format!("symbol={symbol}&side={side}&type=LIMIT&timeInForce=GTC&quantity={qty}&price={price}&newClientOrderId={cid}");
        if self.cfg.market == BinanceMarket::UsdtFutures {
            query.push_str("&positionSide=BOTH");
            if order.purpose == OrderPurpose::Exit {
                query.push_str("&reduceOnly=true");
            }
        }
        // A node that restarts decides the same orders again: one the venue already has (sent
        // before the crash) is adopted, not sent a second time.
        let mut v = match self.adopt(&symbol, &cid)? {
            Some(existing) => existing,
            None => {
                if let (BinanceMarket::UsdtFutures, Some(l)) = (self.cfg.market, order.leverage) {
                    self.set_leverage(&symbol, l, &cid)?;
                }
                self.submit(&symbol, &query, &cid)?
            }
        };
        self.apply(&mut order, &mut v, &symbol)?;
        let started = Instant::now();
        while matches!(order.status, OrderStatus::Open | OrderStatus::PartiallyFilled) {
            // Freqtrade's `unfilledtimeout` for entries: the rest is cancelled and the trade
            // holds what filled. An exit is never cancelled: the position must go, so it is
            // polled until the venue fills it.
            if order.purpose == OrderPurpose::Entry && started.elapsed() >= self.cfg.unfilled_timeout {
                self.events.push(format!("{cid}: not filled within {:?}; cancelling", self.cfg.unfilled_timeout));
                if let Some(c) = self.cancel_order(&symbol, &cid)? {
                    v = c;
                }
                if let Some(last) = self.lookup(&symbol, &cid)? {
                    v = last;
                }
                self.apply(&mut order, &mut v, &symbol)?;
                if order.status == OrderStatus::Open || order.status == OrderStatus::PartiallyFilled {
                    order.status = OrderStatus::Cancelled;
                }
                break;
            }
            std::thread::sleep(self.cfg.poll_every);
            if let Some(mut now) = self.lookup(&symbol, &cid)? {
                self.apply(&mut order, &mut now, &symbol)?;
            }
        }
        Ok(order)
    }
}

impl VenueAccount for BinanceBroker {
    fn open_orders(&mut self) -> Result<Vec<VenueOpenOrder>, BrokerError> {
        let path = self.cfg.market.path("openOrders");
        let v = self.read(reqwest::Method::GET, &path, "", true, "-", None)?.unwrap_or_default();
        let orders: Vec<VenueOrder> = serde_json::from_value(v).map_err(|e| unavailable("-", format!("openOrders answer: {e}")))?;
        Ok(orders
            .into_iter()
            .map(|o| VenueOpenOrder {
                symbol: o.symbol,
                client_order_id: o.client_order_id,
                side: o.side,
                price: o.price.parse().unwrap_or(0.0),
                amount: o.orig_qty.parse().unwrap_or(0.0),
                filled: o.executed_qty.parse().unwrap_or(0.0),
                stop_price: o.stop_price.parse().ok().filter(|p: &f64| *p > 0.0),
            })
            .collect())
    }

    fn holdings(&mut self) -> Result<Holdings, BrokerError> {
        let mut h = Holdings::default();
        match self.cfg.market {
            BinanceMarket::Spot => {
                let v = self.read(reqwest::Method::GET, "/api/v3/account", "", true, "-", None)?.unwrap_or_default();
                for b in v["balances"].as_array().into_iter().flatten() {
                    let asset = b["asset"].as_str().unwrap_or_default().to_owned();
                    h.assets.insert(asset, num(&b["free"]) + num(&b["locked"]));
                }
            }
            BinanceMarket::UsdtFutures => {
                let v = self.read(reqwest::Method::GET, "/fapi/v2/balance", "", true, "-", None)?.unwrap_or_default();
                for b in v.as_array().into_iter().flatten() {
                    h.assets.insert(b["asset"].as_str().unwrap_or_default().to_owned(), num(&b["balance"]));
                }
                let v = self.read(reqwest::Method::GET, "/fapi/v2/positionRisk", "", true, "-", None)?.unwrap_or_default();
                for p in v.as_array().into_iter().flatten() {
                    h.positions.insert(p["symbol"].as_str().unwrap_or_default().to_owned(), num(&p["positionAmt"]));
                }
            }
        }
        Ok(h)
    }

    fn settle(&mut self, order: &OrderRecord) -> Result<Option<OrderRecord>, BrokerError> {
        let symbol = symbol_of(&order.pair);
        let Some(mut v) = self.lookup(&symbol, &order.client_order_id)? else { return Ok(None) };
        let mut now = order.clone();
        self.apply(&mut now, &mut v, &symbol)?;
        Ok(Some(now))
    }

    fn cancel(&mut self, symbol: &str, client_order_id: &str) -> Result<(), BrokerError> {
        self.cancel_order(symbol, client_order_id).map(|_| ())
    }

    fn symbol(&self, pair: &Pair) -> String {
        symbol_of(pair)
    }

    fn is_futures(&self) -> bool {
        self.cfg.market == BinanceMarket::UsdtFutures
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
