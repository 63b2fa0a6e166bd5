//! A fake Binance venue, spot (`/api/v3`) and USDT-M futures (`/fapi`), axum on 127.0.0.1,
//! for the live broker's tests: it checks the API key, the HMAC signature and the timestamp
//! against `recvWindow`, keeps orders by client id, refuses duplicates, lists open orders,
//! balances and futures positions, refuses a `reduceOnly` order that would grow a position,
//! records leverage, answers a futures order's commissions from `userTrades`, and injects
//! faults on request (a lost response, partial fills, orders that never fill, sells that fill
//! only after some lookups, rejections by code, 429, 418 and 5xx). Stop orders (spot
//! `STOP_LOSS_LIMIT`, futures `STOP_MARKET`) rest until a price passes them
//! ([`FakeState::pass_price`]) or a test fills them ([`FakeState::fill_stop`], or
//! [`FakeState::stops_fill_when_asked`]: filled the moment the node asks about them); one that
//! would trigger at once is refused `-2021`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

pub const KEY: &str = "test-key";
pub const SECRET: &str = "test-secret-0123456789";

/// One stored order.
#[derive(Debug, Clone, Default)]
pub struct StoredOrder {
    /// The venue's order id.
    pub order_id: i64,
    /// Placed on the futures market.
    pub futures: bool,
    /// A futures `reduceOnly` order.
    pub reduce_only: bool,
    pub symbol: String,
    pub side: String,
    pub qty: f64,
    pub price: f64,
    pub executed: f64,
    pub status: &'static str,
    /// Status lookups left before the order fills in full (0: no change on lookups).
    pub fills_after_lookups: u32,
    /// `LIMIT` (also when empty), `STOP_LOSS_LIMIT` or `STOP_MARKET`.
    pub kind: &'static str,
    /// A stop order's trigger price.
    pub stop_price: f64,
    /// The price a stop order filled at (fills of other orders are at `price`).
    pub fill_price: f64,
}

impl StoredOrder {
    /// A stop order still resting.
    pub fn is_resting_stop(&self) -> bool {
        self.kind.starts_with("STOP") && self.status == "NEW"
    }

    /// The average price of what filled.
    fn avg(&self) -> f64 {
        if self.fill_price > 0.0 {
            self.fill_price
        } else {
            self.price
        }
    }
}

/// What the fake holds and which faults it will inject next.
#[derive(Debug, Default)]
pub struct FakeState {
    /// Server clock minus local clock, ms.
    pub clock_offset_ms: i64,
    pub orders: HashMap<String, StoredOrder>,
    /// Times an order was created per client id (the "never placed twice" evidence).
    pub created: HashMap<String, u32>,
    /// POST attempts per client id (accepted or not).
    pub posts: HashMap<String, u32>,
    /// Accept the next order, then answer 500 as if the response were lost.
    pub lose_next_response: bool,
    /// Answer the next requests 503 without doing anything.
    pub unavailable_next: u32,
    /// Answer this many requests normally before the outage of `unavailable_next` starts.
    pub unavailable_after: u32,
    /// Answer the next requests about exit orders (client ids ending in `x`) 503.
    pub unavailable_exit_requests: u32,
    /// Answer the next requests 429 (Retry-After: 0).
    pub rate_limit_next: u32,
    /// Fill these orders by half and leave them open.
    pub partial: HashSet<String>,
    /// Leave these orders open.
    pub never_fill: HashSet<String>,
    /// Fill every BUY by half and leave it open (an entry that partly fills).
    pub partial_buys: bool,
    /// SELL orders open unfilled and fill in full at this many-th status lookup.
    pub sells_fill_after_lookups: u32,
    /// Reject these orders with (code, message).
    pub reject: HashMap<String, (i64, String)>,
    /// Answer the next requests 418 (an IP ban, Retry-After: 0).
    pub banned_next: u32,
    /// Spot balances besides 1 BTC (asset, total).
    pub balances: HashMap<String, f64>,
    /// Futures one-way positions per symbol (negative: short), moved by fills.
    pub positions: HashMap<String, f64>,
    /// Leverage set per futures symbol.
    pub leverage: HashMap<String, u32>,
    /// Futures commission rate charged in USDT.
    pub futures_fee: f64,
    /// Cancel requests per client id.
    pub cancels: HashMap<String, u32>,
    /// The last price passed per symbol ([`FakeState::pass_price`]): a new stop it has
    /// passed already is refused `-2021`.
    pub last_price: HashMap<String, f64>,
    /// Stop orders that fill at this price when the node next asks about them (a look-up or
    /// a cancel): the venue filled them between two candles.
    pub stops_fill_when_asked: HashMap<String, f64>,
    /// Stop orders of which this quantity fills at this price when the node next asks about
    /// them: the market touched the stop and the limit order took part of the position.
    pub stops_fill_part_when_asked: HashMap<String, (f64, f64)>,
}

impl FakeState {
    /// The market trades at `price` on `symbol`: the resting stops it passes trigger (a sell
    /// stop at or above the price, a buy stop at or below it) and fill at the price (a spot
    /// stop-limit only when its limit allows it). The ids of the filled stops.
    // The CLI's tests include this file too and do not move prices.
    #[allow(dead_code)]
    pub fn pass_price(&mut self, symbol: &str, price: f64) -> Vec<String> {
        self.last_price.insert(symbol.to_owned(), price);
        let hit: Vec<String> = self
            .orders
            .iter()
            .filter(|(_, o)| o.symbol == symbol && o.is_resting_stop())
            .filter(|(_, o)| if o.side == "SELL" { price <= o.stop_price } else { price >= o.stop_price })
            .filter(|(_, o)| o.kind == "STOP_MARKET" || if o.side == "SELL" { price >= o.price } else { price <= o.price })
            .map(|(cid, _)| cid.clone())
            .collect();
        for cid in &hit {
            self.fill_stop(cid, Some(price));
        }
        hit
    }

    /// The market passes the resting stop whose id starts with `stem` (a trade's), at its
    /// stop price × `ratio`: it fills there. Its id and the price.
    // The CLI's tests include this file too and do not move prices.
    #[allow(dead_code)]
    pub fn pass_stop_of(&mut self, stem: &str, ratio: f64) -> (String, f64) {
        let (cid, o) = self.orders.iter().find(|(c, o)| c.starts_with(stem) && o.is_resting_stop()).expect("no resting stop of the trade");
        let (cid, symbol, price) = (cid.clone(), o.symbol.clone(), o.stop_price * ratio);
        assert_eq!(self.pass_price(&symbol, price), vec![cid.clone()]);
        (cid, price)
    }

    /// Fills the resting stop `cid` in full at `price` (its stop price with `None`); `false`
    /// when there is no such resting stop.
    pub fn fill_stop(&mut self, cid: &str, price: Option<f64>) -> bool {
        let Some(o) = self.orders.get_mut(cid).filter(|o| o.is_resting_stop()) else { return false };
        o.fill_price = price.unwrap_or(o.stop_price);
        (o.executed, o.status) = (o.qty, "FILLED");
        let o = o.clone();
        move_position(self, &o, o.qty);
        true
    }

    /// A stop of [`FakeState::stops_fill_when_asked`] fills now; one of
    /// [`FakeState::stops_fill_part_when_asked`] fills in part and rests on.
    fn fill_asked_stop(&mut self, cid: &str) {
        if self.orders.get(cid).is_some_and(StoredOrder::is_resting_stop) {
            if let Some(price) = self.stops_fill_when_asked.remove(cid) {
                self.fill_stop(cid, Some(price));
            } else if let Some((qty, price)) = self.stops_fill_part_when_asked.remove(cid) {
                let Some(o) = self.orders.get_mut(cid) else { return };
                (o.fill_price, o.executed, o.status) = (price, qty.min(o.qty), "PARTIALLY_FILLED");
                let o = o.clone();
                move_position(self, &o, o.executed);
            }
        }
    }
}

pub struct FakeBinance {
    pub url: String,
    pub state: Arc<Mutex<FakeState>>,
}

fn now_ms() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn api_error(status: StatusCode, code: i64, msg: &str) -> Response {
    (status, Json(json!({"code": code, "msg": msg}))).into_response()
}

fn params(raw: &str) -> HashMap<String, String> {
    raw.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// Checks key, signature and timestamp; the parsed parameters or the venue's error.
// The error is the handler's response, returned as it is: boxing it would buy nothing.
#[allow(clippy::result_large_err)]
fn authenticate(st: &FakeState, headers: &HeaderMap, raw: &str) -> Result<HashMap<String, String>, Response> {
    if headers.get("X-MBX-APIKEY").and_then(|v| v.to_str().ok()) != Some(KEY) {
        return Err(api_error(StatusCode::UNAUTHORIZED, -2015, "Invalid API-key, IP, or permissions for action."));
    }
    let Some((payload, sig)) = raw.rsplit_once("&signature=") else {
        return Err(api_error(StatusCode::BAD_REQUEST, -1102, "Mandatory parameter 'signature' was not sent."));
    };
    if tradai_trading::binance::sign(SECRET.as_bytes(), payload.as_bytes()) != sig {
        return Err(api_error(StatusCode::BAD_REQUEST, -1022, "Signature for this request is not valid."));
    }
    let p = params(payload);
    let ts: i64 = p.get("timestamp").and_then(|t| t.parse().ok()).unwrap_or(0);
    let window: i64 = p.get("recvWindow").and_then(|t| t.parse().ok()).unwrap_or(5000);
    let server = now_ms() + st.clock_offset_ms;
    if ts > server + 1000 || server - ts > window {
        return Err(api_error(StatusCode::BAD_REQUEST, -1021, "Timestamp for this request is outside of the recvWindow."));
    }
    Ok(p)
}

fn order_json(cid: &str, o: &StoredOrder) -> serde_json::Value {
    let quote = o.executed * o.avg();
    let kind = if o.kind.is_empty() { "LIMIT" } else { o.kind };
    if o.futures {
        // A futures answer has no fills: commissions come from userTrades.
        return json!({
            "orderId": o.order_id, "symbol": o.symbol, "clientOrderId": cid, "side": o.side, "type": kind, "status": o.status,
            "price": o.price.to_string(), "origQty": o.qty.to_string(), "executedQty": o.executed.to_string(),
            "cumQuote": quote.to_string(), "avgPrice": o.avg().to_string(), "reduceOnly": o.reduce_only, "positionSide": "BOTH",
            "stopPrice": o.stop_price.to_string()
        });
    }
    let fills = if o.executed > 0.0 {
        json!([{"price": o.avg().to_string(), "qty": o.executed.to_string(), "commission": (quote * 0.001).to_string(), "commissionAsset": quote_asset(&o.symbol)}])
    } else {
        json!([])
    };
    json!({
        "orderId": o.order_id, "symbol": o.symbol, "clientOrderId": cid, "side": o.side, "type": kind, "status": o.status,
        "price": o.price.to_string(), "origQty": o.qty.to_string(), "executedQty": o.executed.to_string(),
        "cummulativeQuoteQty": quote.to_string(), "fills": fills, "stopPrice": o.stop_price.to_string()
    })
}

/// The quote asset of a spot symbol of the fake (`ETHBTC` → `BTC`, `BTCUSDT` → `USDT`): the
/// asset spot commissions are charged in.
fn quote_asset(symbol: &str) -> &'static str {
    if symbol.ends_with("USDT") {
        "USDT"
    } else {
        "BTC"
    }
}

/// Faults that answer before anything is looked at.
fn early_fault(st: &mut FakeState) -> Option<Response> {
    if st.banned_next > 0 {
        st.banned_next -= 1;
        return Some(
            (StatusCode::IM_A_TEAPOT, [("Retry-After", "0")], Json(json!({"code": -1003, "msg": "Way too many requests; IP banned"})))
                .into_response(),
        );
    }
    if st.rate_limit_next > 0 {
        st.rate_limit_next -= 1;
        return Some(
            (StatusCode::TOO_MANY_REQUESTS, [("Retry-After", "0")], Json(json!({"code": -1003, "msg": "Too many requests"})))
                .into_response(),
        );
    }
    if st.unavailable_next > 0 && st.unavailable_after > 0 {
        st.unavailable_after -= 1;
    } else if st.unavailable_next > 0 {
        st.unavailable_next -= 1;
        return Some((StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response());
    }
    None
}

async fn time(State(s): State<Arc<Mutex<FakeState>>>) -> Response {
    let st = s.lock().unwrap();
    Json(json!({"serverTime": now_ms() + st.clock_offset_ms})).into_response()
}

/// `GET /api/v3/account`: balances of a signed caller (what a go-live check asks).
async fn account(State(s): State<Arc<Mutex<FakeState>>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let st = s.lock().unwrap();
    match authenticate(&st, &headers, &q.unwrap_or_default()) {
        Ok(_) => {
            let mut balances = vec![json!({"asset": "BTC", "free": "1.00000000", "locked": "0.00000000"})];
            balances.extend(st.balances.iter().map(|(a, v)| json!({"asset": a, "free": v.to_string(), "locked": "0"})));
            Json(json!({"canTrade": true, "balances": balances})).into_response()
        }
        Err(r) => r,
    }
}

async fn exchange_info(RawQuery(q): RawQuery) -> Response {
    let symbol = params(&q.unwrap_or_default()).get("symbol").cloned().unwrap_or_default();
    Json(json!({"symbols": [{"symbol": symbol, "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.00000100", "maxPrice": "100000.00000000", "tickSize": "0.00000100"},
        {"filterType": "LOT_SIZE", "minQty": "0.00100000", "maxQty": "100000.00000000", "stepSize": "0.00100000"},
        {"filterType": "NOTIONAL", "minNotional": "0.00010000"}
    ]}]}))
    .into_response()
}

/// The faults injected before anything else, then the signature checks.
#[allow(clippy::result_large_err)]
fn admit(st: &mut FakeState, headers: &HeaderMap, q: Option<String>) -> Result<HashMap<String, String>, Response> {
    if let Some(r) = early_fault(st) {
        return Err(r);
    }
    let q = q.unwrap_or_default();
    let exit = params(&q).iter().any(|(k, v)| (k == "newClientOrderId" || k == "origClientOrderId") && v.ends_with('x'));
    if exit && st.unavailable_exit_requests > 0 {
        st.unavailable_exit_requests -= 1;
        return Err((StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response());
    }
    authenticate(st, headers, &q)
}

async fn post_spot_order(State(s): State<Arc<Mutex<FakeState>>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    post_order(&s, &headers, q, false)
}

async fn post_futures_order(State(s): State<Arc<Mutex<FakeState>>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    post_order(&s, &headers, q, true)
}

/// Moves a futures position by a fill of `qty` (a buy lengthens, a sell shortens).
fn move_position(st: &mut FakeState, o: &StoredOrder, qty: f64) {
    if o.futures && qty > 0.0 {
        let signed = if o.side == "BUY" { qty } else { -qty };
        *st.positions.entry(o.symbol.clone()).or_default() += signed;
    }
}

fn post_order(s: &Mutex<FakeState>, headers: &HeaderMap, q: Option<String>, futures: bool) -> Response {
    let mut st = s.lock().unwrap();
    let p = match admit(&mut st, headers, q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let cid = p.get("newClientOrderId").cloned().unwrap_or_default();
    *st.posts.entry(cid.clone()).or_default() += 1;
    if let Some((code, msg)) = st.reject.get(&cid).cloned() {
        return api_error(StatusCode::BAD_REQUEST, code, &msg);
    }
    if st.orders.contains_key(&cid) {
        return api_error(StatusCode::BAD_REQUEST, -2010, "Duplicate order sent.");
    }
    let qty: f64 = p.get("quantity").and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let price: f64 = p.get("price").and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let sell = p.get("side").is_some_and(|s| s == "SELL");
    let symbol = p.get("symbol").cloned().unwrap_or_default();
    let reduce_only = p.get("reduceOnly").is_some_and(|v| v == "true");
    let kind: &'static str = match (p.get("type").map(String::as_str), futures) {
        (Some("LIMIT"), _) => "LIMIT",
        (Some("STOP_LOSS_LIMIT"), false) => "STOP_LOSS_LIMIT",
        (Some("STOP_MARKET"), true) => "STOP_MARKET",
        _ => return api_error(StatusCode::BAD_REQUEST, -1116, "Invalid orderType."),
    };
    let stop_price: f64 = p.get("stopPrice").and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let stop = kind != "LIMIT";
    if stop {
        if stop_price <= 0.0 {
            return api_error(
                StatusCode::BAD_REQUEST,
                -1102,
                "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.",
            );
        }
        if kind == "STOP_LOSS_LIMIT" && (price <= 0.0 || !p.contains_key("timeInForce")) {
            return api_error(StatusCode::BAD_REQUEST, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.");
        }
        let passed = st.last_price.get(&symbol).is_some_and(|&last| if sell { last <= stop_price } else { last >= stop_price });
        if passed {
            return api_error(StatusCode::BAD_REQUEST, -2021, "Order would immediately trigger.");
        }
    }
    if futures {
        if p.get("positionSide").is_some_and(|v| v != "BOTH") {
            return api_error(StatusCode::BAD_REQUEST, -4061, "Order's position side does not match user's setting.");
        }
        let pos = st.positions.get(&symbol).copied().unwrap_or(0.0);
        let grows = if sell { pos - qty < -1e-12 } else { pos + qty > 1e-12 };
        if reduce_only && (grows || pos == 0.0) {
            return api_error(StatusCode::BAD_REQUEST, -2022, "ReduceOnly Order is rejected.");
        }
    }
    let fills_after_lookups = if sell && !stop { st.sells_fill_after_lookups } else { 0 };
    let (executed, status) = if stop || st.never_fill.contains(&cid) || fills_after_lookups > 0 {
        (0.0, "NEW")
    } else if st.partial.contains(&cid) || (st.partial_buys && !sell) {
        // Half, on the 0.001 lot grid the venue fills on.
        ((qty / 2.0 * 1000.0).floor() / 1000.0, "PARTIALLY_FILLED")
    } else {
        (qty, "FILLED")
    };
    let order_id = i64::from(st.created.values().sum::<u32>()) + 1;
    let order = StoredOrder {
        order_id,
        futures,
        reduce_only,
        symbol,
        side: p.get("side").cloned().unwrap_or_default(),
        qty,
        price,
        executed,
        status,
        fills_after_lookups,
        kind,
        stop_price,
        fill_price: 0.0,
    };
    *st.created.entry(cid.clone()).or_default() += 1;
    let body = order_json(&cid, &order);
    move_position(&mut st, &order, order.executed);
    st.orders.insert(cid, order);
    if st.lose_next_response {
        st.lose_next_response = false;
        return (StatusCode::INTERNAL_SERVER_ERROR, "upstream timeout").into_response();
    }
    Json(body).into_response()
}

async fn get_order(State(s): State<Arc<Mutex<FakeState>>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let mut st = s.lock().unwrap();
    let p = match admit(&mut st, &headers, q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let cid = p.get("origClientOrderId").cloned().unwrap_or_default();
    st.fill_asked_stop(&cid);
    let Some(o) = st.orders.get_mut(&cid) else { return api_error(StatusCode::BAD_REQUEST, -2013, "Order does not exist.") };
    let mut filled_now = 0.0;
    if o.fills_after_lookups > 0 && o.status == "NEW" {
        o.fills_after_lookups -= 1;
        if o.fills_after_lookups == 0 {
            filled_now = o.qty - o.executed;
            (o.executed, o.status) = (o.qty, "FILLED");
        }
    }
    let o = o.clone();
    move_position(&mut st, &o, filled_now);
    Json(order_json(&cid, &o)).into_response()
}

/// `GET .../openOrders`: the account's open orders (of one symbol when asked).
async fn open_orders(State(s): State<Arc<Mutex<FakeState>>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let mut st = s.lock().unwrap();
    let p = match admit(&mut st, &headers, q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let open: Vec<_> = st
        .orders
        .iter()
        .filter(|(_, o)| matches!(o.status, "NEW" | "PARTIALLY_FILLED"))
        .filter(|(_, o)| p.get("symbol").is_none_or(|s| *s == o.symbol))
        .map(|(cid, o)| order_json(cid, o))
        .collect();
    Json(open).into_response()
}

/// `POST /fapi/v1/leverage`.
async fn leverage(State(s): State<Arc<Mutex<FakeState>>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let mut st = s.lock().unwrap();
    let p = match admit(&mut st, &headers, q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let symbol = p.get("symbol").cloned().unwrap_or_default();
    let Some(n) = p.get("leverage").and_then(|v| v.parse::<u32>().ok()).filter(|n| (1..=125).contains(n)) else {
        return api_error(StatusCode::BAD_REQUEST, -4028, "Leverage is not valid.");
    };
    st.leverage.insert(symbol.clone(), n);
    Json(json!({"symbol": symbol, "leverage": n, "maxNotionalValue": "1000000"})).into_response()
}

/// `GET /fapi/v1/userTrades?orderId=`: the fills of a futures order with their commission.
async fn user_trades(State(s): State<Arc<Mutex<FakeState>>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let mut st = s.lock().unwrap();
    let p = match admit(&mut st, &headers, q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id: i64 = p.get("orderId").and_then(|v| v.parse().ok()).unwrap_or(-1);
    let fee = st.futures_fee;
    let fills: Vec<_> = st
        .orders
        .values()
        .filter(|o| o.order_id == id && o.executed > 0.0)
        .map(|o| {
            json!({"orderId": id, "symbol": o.symbol, "price": o.avg().to_string(), "qty": o.executed.to_string(),
                   "commission": (o.executed * o.avg() * fee).to_string(), "commissionAsset": "USDT"})
        })
        .collect();
    Json(fills).into_response()
}

/// `GET /fapi/v2/balance`, `/fapi/v2/positionRisk` and `/fapi/v2/account`.
async fn futures_balance(State(s): State<Arc<Mutex<FakeState>>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let mut st = s.lock().unwrap();
    match admit(&mut st, &headers, q) {
        Ok(_) => Json(json!([{"asset": "USDT", "balance": "10000", "availableBalance": "10000"}])).into_response(),
        Err(r) => r,
    }
}

async fn position_risk(State(s): State<Arc<Mutex<FakeState>>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let mut st = s.lock().unwrap();
    if let Err(r) = admit(&mut st, &headers, q) {
        return r;
    }
    Json(
        st.positions
            .iter()
            .map(|(sym, amt)| json!({"symbol": sym, "positionAmt": amt.to_string(), "positionSide": "BOTH"}))
            .collect::<Vec<_>>(),
    )
    .into_response()
}

async fn futures_account(State(s): State<Arc<Mutex<FakeState>>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let mut st = s.lock().unwrap();
    match admit(&mut st, &headers, q) {
        Ok(_) => Json(json!({"canTrade": true, "assets": [{"asset": "USDT", "walletBalance": "10000"}]})).into_response(),
        Err(r) => r,
    }
}

/// `GET /fapi/v1/exchangeInfo`: every listed perpetual (no `symbol` parameter on futures).
async fn futures_exchange_info() -> Response {
    let symbols: Vec<_> = ["XRPUSDT", "BTCUSDT", "ETHUSDT"]
        .iter()
        .map(|s| {
            json!({"symbol": s, "contractType": "PERPETUAL", "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.0001", "maxPrice": "100000", "tickSize": "0.0001"},
                {"filterType": "LOT_SIZE", "minQty": "0.1", "maxQty": "1000000", "stepSize": "0.1"},
                {"filterType": "MIN_NOTIONAL", "notional": "5"}
            ]})
        })
        .collect();
    Json(json!({"symbols": symbols})).into_response()
}

async fn delete_order(State(s): State<Arc<Mutex<FakeState>>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let mut st = s.lock().unwrap();
    let p = match authenticate(&st, &headers, &q.unwrap_or_default()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let cid = p.get("origClientOrderId").cloned().unwrap_or_default();
    *st.cancels.entry(cid.clone()).or_default() += 1;
    st.fill_asked_stop(&cid);
    match st.orders.get_mut(&cid) {
        Some(o) if o.status == "NEW" || o.status == "PARTIALLY_FILLED" => {
            o.status = "CANCELED";
            let o = o.clone();
            Json(order_json(&cid, &o)).into_response()
        }
        _ => api_error(StatusCode::BAD_REQUEST, -2011, "Unknown order sent."),
    }
}

/// Starts the fake on a free port; it runs until the test process ends.
pub fn start() -> FakeBinance {
    let state = Arc::new(Mutex::new(FakeState { futures_fee: 0.0005, ..FakeState::default() }));
    let app = Router::new()
        .route("/api/v3/time", get(time))
        .route("/api/v3/exchangeInfo", get(exchange_info))
        .route("/api/v3/account", get(account))
        .route("/api/v3/order", get(get_order).post(post_spot_order).delete(delete_order))
        .route("/api/v3/openOrders", get(open_orders))
        .route("/fapi/v1/time", get(time))
        .route("/fapi/v1/exchangeInfo", get(futures_exchange_info))
        .route("/fapi/v1/order", get(get_order).post(post_futures_order).delete(delete_order))
        .route("/fapi/v1/openOrders", get(open_orders))
        .route("/fapi/v1/leverage", post(leverage))
        .route("/fapi/v1/userTrades", get(user_trades))
        .route("/fapi/v2/balance", get(futures_balance))
        .route("/fapi/v2/positionRisk", get(position_risk))
        .route("/fapi/v2/account", get(futures_account))
        .with_state(Arc::clone(&state));
    FakeBinance { url: serve(app), state }
}

/// Serves `app` on a free loopback port from a thread of its own (until the test process
/// ends); its base URL.
pub fn serve(app: Router) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}
