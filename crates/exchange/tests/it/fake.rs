//! A fake exchange on 127.0.0.1: Binance spot and USDⓈ-M futures and Bybit v5 market data in
//! their documented formats, from generated candles and the `test_data/` fixtures, with
//! injectable faults (status codes, malformed bodies, connections killed mid-body, outages).
//!
//! Also compiled into `benches/sync.rs` and tradai-server's sync-job tests (by `#[path]`),
//! which is why it avoids test-only helpers.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use tradai_core::{CandleRow, Candles};

/// Which Binance host a route belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Venue {
    BinanceSpot,
    BinanceFutures,
    Bybit,
}

/// A fault served instead of the next kline answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// An HTTP status with a body and an optional `Retry-After` (seconds).
    Status(u16, &'static str, Option<u64>),
    /// HTTP 200 with a body that is not valid JSON.
    Malformed,
    /// Start a 200 answer, send part of the body, then drop the connection.
    Kill,
}

/// Where a symbol's candles exist.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// First candle time (listing); candles before it do not exist.
    pub first_ms: i64,
    /// Half-open spans the exchange has no candles for (maintenance).
    pub holes: Vec<(i64, i64)>,
}

#[derive(Debug, Default)]
struct Inner {
    faults: VecDeque<Fault>,
    listings: HashMap<(Venue, String), Listing>,
    log: Vec<String>,
    cache: HashMap<String, Bytes>,
}

#[derive(Debug)]
struct Shared {
    now_ms: AtomicI64,
    /// Kline answers still served before every kline connection is killed (-1: never).
    healthy_for: AtomicI64,
    kline_requests: AtomicU64,
    weight_used: AtomicU64,
    report_weight: AtomicBool,
    cache_pages: AtomicBool,
    inner: Mutex<Inner>,
    spot_info: serde_json::Value,
    futures_info: serde_json::Value,
    bybit_info: serde_json::Value,
}

/// A running fake exchange. Dropping it stops the server.
pub struct FakeExchange {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeExchange {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn fixture(name: &str) -> serde_json::Value {
    // Through `crates/`, so the file also works where another crate includes it by path.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../exchange/test_data").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The generated candle at `ts` of an interval of `tf_ms`: values exactly representable in
/// binary so that what the client parses equals what the test expects, bit for bit.
#[allow(clippy::cast_precision_loss)]
pub fn candle(ts: i64, tf_ms: i64, salt: i64) -> CandleRow {
    let i = ts / tf_ms + salt;
    let open = 100.0 + (i.rem_euclid(1000)) as f64 * 0.25;
    CandleRow { ts, open, high: open + 1.5, low: open - 1.25, close: open + 0.5, volume: 10.0 + (i.rem_euclid(7)) as f64 }
}

/// Distinct candles per venue and symbol, so a spot series stored as futures would be caught.
fn salt(venue: Venue, symbol: &str) -> i64 {
    let v = match venue {
        Venue::BinanceSpot => 0,
        Venue::BinanceFutures => 11,
        Venue::Bybit => 23,
    };
    v + symbol.bytes().map(i64::from).sum::<i64>()
}

/// What the fake exchange holds for `symbol` in `[start, end)`, closed candles only, as the
/// client should store it.
pub fn expected(fake: &FakeExchange, venue: Venue, symbol: &str, tf_ms: i64, start: i64, end: i64) -> Candles {
    let now = fake.now_ms();
    let listing = fake.listing(venue, symbol);
    let mut c = Candles::default();
    let mut ts = align_up(start.max(listing.first_ms), tf_ms);
    while ts < end && ts + tf_ms <= now {
        if !listing.holes.iter().any(|&(a, b)| ts >= a && ts < b) {
            c.push(candle(ts, tf_ms, salt(venue, symbol)));
        }
        ts += tf_ms;
    }
    c
}

fn align_up(ts: i64, tf: i64) -> i64 {
    (ts + tf - 1).div_euclid(tf) * tf
}

fn interval_ms(s: &str) -> Option<i64> {
    let (n, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = n.parse().ok()?;
    Some(
        n * match unit {
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return None,
        },
    )
}

fn bybit_interval_ms(s: &str) -> Option<i64> {
    match s {
        "D" => Some(86_400_000),
        "W" => Some(604_800_000),
        n => n.parse::<i64>().ok().map(|m| m * 60_000),
    }
}

impl FakeExchange {
    /// Starts the server on 127.0.0.1 with the clock at `now_ms`.
    pub async fn start(now_ms: i64) -> Self {
        let shared = Arc::new(Shared {
            now_ms: AtomicI64::new(now_ms),
            healthy_for: AtomicI64::new(-1),
            kline_requests: AtomicU64::new(0),
            weight_used: AtomicU64::new(0),
            report_weight: AtomicBool::new(true),
            cache_pages: AtomicBool::new(false),
            inner: Mutex::new(Inner::default()),
            spot_info: fixture("binance_spot_exchange_info.json"),
            futures_info: fixture("binance_futures_exchange_info.json"),
            bybit_info: fixture("bybit_instruments_linear.json"),
        });
        let app = Router::new()
            .route("/api/v3/time", get(spot_time))
            .route("/fapi/v1/time", get(spot_time))
            .route("/api/v3/exchangeInfo", get(spot_info))
            .route("/fapi/v1/exchangeInfo", get(futures_info))
            .route("/api/v3/klines", get(|s, q| binance_klines(s, q, Venue::BinanceSpot, false)))
            .route("/fapi/v1/klines", get(|s, q| binance_klines(s, q, Venue::BinanceFutures, false)))
            .route("/fapi/v1/markPriceKlines", get(|s, q| binance_klines(s, q, Venue::BinanceFutures, true)))
            .route("/fapi/v1/fundingRate", get(funding))
            .route("/v5/market/time", get(bybit_time))
            .route("/v5/market/instruments-info", get(bybit_instruments))
            .route("/v5/market/kline", get(|s, q| bybit_klines(s, q, false)))
            .route("/v5/market/mark-price-kline", get(|s, q| bybit_klines(s, q, true)))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn now_ms(&self) -> i64 {
        self.shared.now_ms.load(Ordering::SeqCst)
    }

    pub fn set_now(&self, ms: i64) {
        self.shared.now_ms.store(ms, Ordering::SeqCst);
    }

    /// Queues faults for the next kline requests, in order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.inner.lock().unwrap().faults.extend(faults);
    }

    /// After `n` more kline answers, kill every kline connection until [`FakeExchange::heal`].
    pub fn die_after(&self, n: i64) {
        self.shared.healthy_for.store(n, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.shared.healthy_for.store(-1, Ordering::SeqCst);
    }

    pub fn set_listing(&self, venue: Venue, symbol: &str, listing: Listing) {
        self.shared.inner.lock().unwrap().listings.insert((venue, symbol.to_owned()), listing);
    }

    pub fn listing(&self, venue: Venue, symbol: &str) -> Listing {
        self.shared.inner.lock().unwrap().listings.get(&(venue, symbol.to_owned())).cloned().unwrap_or_default()
    }

    /// Kline requests answered so far (faults included).
    pub fn kline_requests(&self) -> u64 {
        self.shared.kline_requests.load(Ordering::SeqCst)
    }

    /// Every request's path and query, in arrival order.
    pub fn log(&self) -> Vec<String> {
        self.shared.inner.lock().unwrap().log.clone()
    }

    /// Keep rendered kline pages and serve them again (for the benchmark, so it measures the
    /// client rather than the fake's JSON rendering).
    pub fn cache_pages(&self, on: bool) {
        self.shared.cache_pages.store(on, Ordering::SeqCst);
    }

    pub fn report_weight(&self, on: bool) {
        self.shared.report_weight.store(on, Ordering::SeqCst);
    }

    /// Sets the weight the next answers report as used.
    pub fn set_weight_used(&self, w: u64) {
        self.shared.weight_used.store(w, Ordering::SeqCst);
    }
}

type Q = Query<HashMap<String, String>>;
type S = State<Arc<Shared>>;

/// Logs a request as `path?k=v&...` with sorted keys, and returns that line.
fn record(s: &Shared, path: &str, q: &HashMap<String, String>) -> String {
    let mut keys: Vec<_> = q.iter().collect();
    keys.sort();
    let qs: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let line = format!("{path}?{}", qs.join("&"));
    s.inner.lock().unwrap().log.push(line.clone());
    line
}

fn json_response(status: StatusCode, body: impl Into<Body>, s: &Shared, weight: u64) -> Response {
    let used = s.weight_used.fetch_add(weight, Ordering::SeqCst) + weight;
    let mut r = (status, [("content-type", "application/json")], body.into()).into_response();
    if s.report_weight.load(Ordering::SeqCst) {
        r.headers_mut().insert("x-mbx-used-weight-1m", HeaderValue::from(used));
    }
    r
}

fn binance_error(code: i64, msg: &str) -> String {
    format!(r#"{{"code":{code},"msg":"{msg}"}}"#)
}

async fn spot_time(State(s): S) -> Response {
    json_response(StatusCode::OK, format!(r#"{{"serverTime":{}}}"#, s.now_ms.load(Ordering::SeqCst)), &s, 1)
}

fn symbols_of(info: &serde_json::Value) -> Vec<String> {
    info["symbols"].as_array().unwrap().iter().map(|s| s["symbol"].as_str().unwrap().to_owned()).collect()
}

async fn spot_info(State(s): S, Query(q): Q) -> Response {
    record(&s, "/api/v3/exchangeInfo", &q);
    let mut info = s.spot_info.clone();
    if let Some(sym) = q.get("symbol") {
        let list: Vec<serde_json::Value> =
            info["symbols"].as_array().unwrap().iter().filter(|x| x["symbol"] == sym.as_str()).cloned().collect();
        if list.is_empty() {
            return json_response(StatusCode::BAD_REQUEST, binance_error(-1121, "Invalid symbol."), &s, 20);
        }
        info["symbols"] = serde_json::Value::Array(list);
    }
    json_response(StatusCode::OK, info.to_string(), &s, 20)
}

async fn futures_info(State(s): S, Query(q): Q) -> Response {
    record(&s, "/fapi/v1/exchangeInfo", &q);
    json_response(StatusCode::OK, s.futures_info.to_string(), &s, 1)
}

/// Takes the next fault, or the kill that `die_after` scheduled.
fn next_fault(s: &Shared) -> Option<Fault> {
    s.kline_requests.fetch_add(1, Ordering::SeqCst);
    let h = s.healthy_for.load(Ordering::SeqCst);
    if h == 0 {
        return Some(Fault::Kill);
    }
    if h > 0 {
        s.healthy_for.fetch_sub(1, Ordering::SeqCst);
    }
    s.inner.lock().unwrap().faults.pop_front()
}

fn fault_response(f: Fault, s: &Shared) -> Response {
    match f {
        Fault::Status(code, body, retry_after) => {
            let mut r = json_response(StatusCode::from_u16(code).unwrap(), body, s, 1);
            if let Some(secs) = retry_after {
                r.headers_mut().insert("retry-after", HeaderValue::from(secs));
            }
            r
        }
        Fault::Malformed => json_response(StatusCode::OK, r#"[[1704067200000,"42000.1","42100.0","41900.5""#, s, 1),
        Fault::Kill => {
            // Half a body, then an error: hyper aborts the connection mid-response.
            let parts: Vec<Result<Bytes, std::io::Error>> =
                vec![Ok(Bytes::from_static(br#"[[1704067200000,"42000.1","#)), Err(std::io::Error::other("connection killed by the test"))];
            (StatusCode::OK, [("content-type", "application/json")], Body::from_stream(futures::stream::iter(parts))).into_response()
        }
    }
}

fn listed(s: &Shared, venue: Venue, symbol: &str) -> bool {
    let info = match venue {
        Venue::BinanceSpot => &s.spot_info,
        Venue::BinanceFutures => &s.futures_info,
        Venue::Bybit => &s.bybit_info["result"]["list"],
    };
    let list = if venue == Venue::Bybit { info.as_array().unwrap().clone() } else { info["symbols"].as_array().unwrap().clone() };
    list.iter().any(|x| x["symbol"] == symbol)
}

/// The candles a query asks for: open times in `[start, end]` (inclusive, as the exchanges
/// take them), up to `now` — the still-open candle included, as the real exchanges do.
fn select(s: &Shared, venue: Venue, symbol: &str, tf: i64, start: i64, end: i64) -> Vec<i64> {
    let now = s.now_ms.load(Ordering::SeqCst);
    let listing = s.inner.lock().unwrap().listings.get(&(venue, symbol.to_owned())).cloned().unwrap_or_default();
    let mut out = Vec::new();
    let mut ts = align_up(start.max(listing.first_ms), tf);
    while ts <= end && ts <= now {
        if !listing.holes.iter().any(|&(a, b)| ts >= a && ts < b) {
            out.push(ts);
        }
        ts += tf;
    }
    out
}

fn num(q: &HashMap<String, String>, k: &str) -> Option<i64> {
    q.get(k).and_then(|v| v.parse().ok())
}

async fn binance_klines(State(s): S, Query(q): Q, venue: Venue, mark: bool) -> Response {
    let path = if venue == Venue::BinanceSpot {
        "/api/v3/klines"
    } else if mark {
        "/fapi/v1/markPriceKlines"
    } else {
        "/fapi/v1/klines"
    };
    let key = record(&s, path, &q);
    if let Some(f) = next_fault(&s) {
        return fault_response(f, &s);
    }
    if s.cache_pages.load(Ordering::SeqCst) {
        if let Some(b) = s.inner.lock().unwrap().cache.get(&key).cloned() {
            return json_response(StatusCode::OK, b, &s, 2);
        }
    }
    let symbol = q.get("symbol").cloned().unwrap_or_default();
    if !listed(&s, venue, &symbol) {
        return json_response(StatusCode::BAD_REQUEST, binance_error(-1121, "Invalid symbol."), &s, 2);
    }
    let Some(tf) = q.get("interval").and_then(|i| interval_ms(i)) else {
        return json_response(StatusCode::BAD_REQUEST, binance_error(-1120, "Invalid interval."), &s, 2);
    };
    let max = if venue == Venue::BinanceSpot { 1000 } else { 1500 };
    let limit = num(&q, "limit").unwrap_or(500);
    if limit > max {
        return json_response(StatusCode::BAD_REQUEST, binance_error(-1130, "Data sent for parameter 'limit' is not valid."), &s, 2);
    }
    let start = num(&q, "startTime").unwrap_or(0);
    let end = num(&q, "endTime").unwrap_or(i64::MAX);
    let ts = select(&s, venue, &symbol, tf, start, end);
    let salt = salt(venue, &symbol) + i64::from(mark) * 3;
    let mut body = String::with_capacity(160 * ts.len().min(1500) + 2);
    body.push('[');
    for (i, &t) in ts.iter().take(usize::try_from(limit).unwrap()).enumerate() {
        let c = candle(t, tf, salt);
        if i > 0 {
            body.push(',');
        }
        let vol = if mark { 0.0 } else { c.volume };
        write!(
            body,
            r#"[{},"{:.8}","{:.8}","{:.8}","{:.8}","{:.8}",{},"{:.8}",{},"{:.8}","{:.8}","0"]"#,
            c.ts,
            c.open,
            c.high,
            c.low,
            c.close,
            vol,
            c.ts + tf - 1,
            vol * c.close,
            100 + i,
            vol / 2.0,
            vol * c.close / 2.0
        )
        .unwrap();
    }
    body.push(']');
    let bytes = Bytes::from(body);
    if s.cache_pages.load(Ordering::SeqCst) {
        s.inner.lock().unwrap().cache.insert(key, bytes.clone());
    }
    json_response(StatusCode::OK, bytes, &s, 2)
}

async fn funding(State(s): S, Query(q): Q) -> Response {
    record(&s, "/fapi/v1/fundingRate", &q);
    let symbol = q.get("symbol").cloned().unwrap_or_default();
    if !listed(&s, Venue::BinanceFutures, &symbol) {
        return json_response(StatusCode::BAD_REQUEST, binance_error(-1121, "Invalid symbol."), &s, 1);
    }
    let limit = usize::try_from(num(&q, "limit").unwrap_or(100)).unwrap();
    let ts = select(
        &s,
        Venue::BinanceFutures,
        &symbol,
        8 * 3_600_000,
        num(&q, "startTime").unwrap_or(0),
        num(&q, "endTime").unwrap_or(i64::MAX),
    );
    let rows: Vec<String> = ts
        .iter()
        .take(limit)
        .map(|&t| {
            #[allow(clippy::cast_precision_loss)]
            let rate = ((t / (8 * 3_600_000)).rem_euclid(5) - 2) as f64 * 0.0001;
            format!(
                r#"{{"symbol":"{symbol}","fundingTime":{t},"fundingRate":"{rate:.8}","markPrice":"{:.8}"}}"#,
                candle(t, 3_600_000, 0).open
            )
        })
        .collect();
    json_response(StatusCode::OK, format!("[{}]", rows.join(",")), &s, 1)
}

fn bybit_ok(s: &Shared, result: &str) -> Response {
    let now = s.now_ms.load(Ordering::SeqCst);
    json_response(StatusCode::OK, format!(r#"{{"retCode":0,"retMsg":"OK","result":{result},"retExtInfo":{{}},"time":{now}}}"#), s, 1)
}

async fn bybit_time(State(s): S) -> Response {
    let now = s.now_ms.load(Ordering::SeqCst);
    bybit_ok(&s, &format!(r#"{{"timeSecond":"{}","timeNano":"{}"}}"#, now / 1000, now * 1_000_000))
}

async fn bybit_instruments(State(s): S, Query(q): Q) -> Response {
    record(&s, "/v5/market/instruments-info", &q);
    let mut result = s.bybit_info["result"].clone();
    if let Some(sym) = q.get("symbol") {
        let list: Vec<serde_json::Value> =
            result["list"].as_array().unwrap().iter().filter(|x| x["symbol"] == sym.as_str()).cloned().collect();
        result["list"] = serde_json::Value::Array(list);
    }
    bybit_ok(&s, &result.to_string())
}

async fn bybit_klines(State(s): S, Query(q): Q, mark: bool) -> Response {
    record(&s, if mark { "/v5/market/mark-price-kline" } else { "/v5/market/kline" }, &q);
    if let Some(f) = next_fault(&s) {
        return fault_response(f, &s);
    }
    let symbol = q.get("symbol").cloned().unwrap_or_default();
    let now = s.now_ms.load(Ordering::SeqCst);
    if !listed(&s, Venue::Bybit, &symbol) {
        return json_response(
            StatusCode::OK,
            format!(r#"{{"retCode":10001,"retMsg":"Not supported symbols","result":{{}},"retExtInfo":{{}},"time":{now}}}"#),
            &s,
            1,
        );
    }
    let tf = q.get("interval").and_then(|i| bybit_interval_ms(i)).unwrap();
    let limit = usize::try_from(num(&q, "limit").unwrap_or(200)).unwrap();
    let ts = select(&s, Venue::Bybit, &symbol, tf, num(&q, "start").unwrap_or(0), num(&q, "end").unwrap_or(i64::MAX));
    // Bybit: newest first, and the newest `limit` of the range when it holds more.
    let rows: Vec<String> = ts
        .iter()
        .rev()
        .take(limit)
        .map(|&t| {
            let c = candle(t, tf, salt(Venue::Bybit, &symbol) + i64::from(mark) * 3);
            if mark {
                format!(r#"["{}","{}","{}","{}","{}"]"#, c.ts, c.open, c.high, c.low, c.close)
            } else {
                format!(r#"["{}","{}","{}","{}","{}","{}","{}"]"#, c.ts, c.open, c.high, c.low, c.close, c.volume, c.volume * c.close)
            }
        })
        .collect();
    bybit_ok(&s, &format!(r#"{{"category":"linear","symbol":"{symbol}","list":[{}]}}"#, rows.join(",")))
}
