//! A fake Binance spot market-data venue (axum on 127.0.0.1) for the live feed's tests: it
//! serves `/api/v3/time`, `/api/v3/exchangeInfo` and `/api/v3/klines` from prepared candles,
//! only candles closed by a clock the test moves, and it can publish a candle late (withheld
//! from the first requests) or never, and answer 503 for a while.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tradai_core::Candles;
use tradai_trading::Clock;

/// A clock that jumps to where the node wants to sleep to: the loop runs without waiting.
#[derive(Debug, Clone)]
pub struct JumpClock(pub Arc<AtomicI64>);

impl Clock for JumpClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    fn sleep_until(&self, t_ms: i64, _stop: &AtomicBool) {
        self.0.fetch_max(t_ms, Ordering::SeqCst);
    }
}

/// What the fake serves.
#[derive(Debug, Default)]
pub struct KlineState {
    pub tf_ms: i64,
    /// Candles per venue symbol.
    pub series: HashMap<String, Candles>,
    /// (symbol, open ms) withheld from this many more kline requests that reach it.
    pub late: HashMap<(String, i64), u32>,
    /// (symbol, open ms) never published.
    pub never: HashSet<(String, i64)>,
    /// Answer the next kline requests 503.
    pub unavailable_next: u32,
    /// Kline requests served.
    pub kline_requests: u32,
}

pub struct FakeKlines {
    pub url: String,
    pub now: Arc<AtomicI64>,
    pub state: Arc<Mutex<KlineState>>,
}

#[derive(Clone)]
struct Shared {
    now: Arc<AtomicI64>,
    state: Arc<Mutex<KlineState>>,
}

fn base_quote(symbol: &str) -> (&str, &str) {
    symbol.split_at(symbol.len() - 4)
}

async fn time(State(s): State<Shared>) -> Json<serde_json::Value> {
    Json(json!({"serverTime": s.now.load(Ordering::SeqCst)}))
}

async fn exchange_info(Query(q): Query<HashMap<String, String>>) -> Json<serde_json::Value> {
    let symbol = q.get("symbol").cloned().unwrap_or_default();
    let (base, quote) = base_quote(&symbol);
    Json(json!({"symbols": [{
        "symbol": symbol, "status": "TRADING", "baseAsset": base, "quoteAsset": quote,
        "filters": [
            {"filterType": "PRICE_FILTER", "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "stepSize": "0.00001000", "minQty": "0.00001000", "maxQty": "9000.00000000"},
            {"filterType": "NOTIONAL", "minNotional": "1.00000000"}
        ]
    }]}))
}

async fn klines(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let now = s.now.load(Ordering::SeqCst);
    let mut st = s.state.lock().unwrap();
    if st.unavailable_next > 0 {
        st.unavailable_next -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    st.kline_requests += 1;
    let symbol = q.get("symbol").cloned().unwrap_or_default();
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    let (start, end, limit) = (num("startTime").unwrap_or(0), num("endTime").unwrap_or(i64::MAX), num("limit").unwrap_or(500));
    let tf = st.tf_ms;
    let Some(c) = st.series.get(&symbol).cloned() else {
        return (StatusCode::BAD_REQUEST, Json(json!({"code": -1121, "msg": "Invalid symbol."}))).into_response();
    };
    let mut rows = Vec::new();
    for i in 0..c.len() {
        let ts = c.ts[i];
        if ts < start || ts > end || ts + tf > now {
            continue;
        }
        let key = (symbol.clone(), ts);
        if st.never.contains(&key) {
            continue;
        }
        if let Some(n) = st.late.get_mut(&key) {
            if *n > 0 {
                *n -= 1;
                // Not published yet: nothing from it on either.
                break;
            }
        }
        rows.push(json!([
            ts,
            c.open[i].to_string(),
            c.high[i].to_string(),
            c.low[i].to_string(),
            c.close[i].to_string(),
            c.volume[i].to_string(),
            ts + tf - 1,
            "0",
            1,
            "0",
            "0",
            "0"
        ]));
        if rows.len() >= usize::try_from(limit).unwrap_or(500) {
            break;
        }
    }
    Json(serde_json::Value::Array(rows)).into_response()
}

impl FakeKlines {
    /// Starts the fake on an ephemeral port with its clock at `now_ms`.
    pub fn start(tf_ms: i64, series: HashMap<String, Candles>, now_ms: i64) -> Self {
        let now = Arc::new(AtomicI64::new(now_ms));
        let state = Arc::new(Mutex::new(KlineState { tf_ms, series, ..KlineState::default() }));
        let shared = Shared { now: Arc::clone(&now), state: Arc::clone(&state) };
        let app = Router::new()
            .route("/api/v3/time", get(time))
            .route("/api/v3/exchangeInfo", get(exchange_info))
            .route("/api/v3/klines", get(klines))
            .with_state(shared);
        Self { url: crate::fake_binance::serve(app), now, state }
    }

    pub fn clock(&self) -> JumpClock {
        JumpClock(Arc::clone(&self.now))
    }
}
