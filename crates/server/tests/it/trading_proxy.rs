//! backend-api's routes to a trading node: the address the node registered is listed, its open
//! trades and profit and the kill switch go through to the node's real API on 127.0.0.1 (the
//! caller's key forwarded to a node sharing the key store), the validation report is built
//! from the trading database, and a node that does not answer is a 502 naming it.

use std::sync::Arc;

use axum::http::StatusCode;
use tradai_server::node_api::{spawn_node_api, NodeApiState};
use tradai_trading::{BotId, Heartbeat, NodeControl, NodeSnapshot, NodeSpec, OpenTradeView, StateStore, TradingMode};

use crate::{call, env_with_state};

fn spec(bot: &str) -> NodeSpec {
    let run: tradai_app::RunSpec = serde_json::from_value(serde_json::json!({"strategy": "EmaCross", "pairs": ["ETH/BTC"]})).unwrap();
    NodeSpec {
        bot_id: BotId::new(bot).unwrap(),
        mode: TradingMode::DryRun,
        run,
        strategy_version: None,
        replay: false,
        risk: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_reaches_a_node_through_its_registered_address() {
    let e = env_with_state(
        |loc, jobs, results| tradai_executor::WorkerPool::start(crate::settings(loc, 0), jobs, results, Vec::new(), Vec::new()).unwrap(),
        |s, dir| s.with_trading_db(dir.join("state/trading.sqlite")),
    )
    .await;
    let db_path = e.dir.path().join("state/trading.sqlite");
    let db = StateStore::open(&db_path).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    for bot in ["served", "silent", "replayed"] {
        db.create(&spec(bot), now).unwrap();
    }
    db.heartbeat(
        &BotId::new("served").unwrap(),
        &Heartbeat { ts_ms: now, interval_ms: 60_000, last_candle_ms: None, open_trades: 1, status: "running".into() },
    )
    .unwrap();

    // The node serves its API with the key store backend-api uses (one data dir).
    let control = Arc::new(NodeControl::new());
    control.set_snapshot(NodeSnapshot {
        last_candle_ms: Some(1_515_974_700_000),
        open_trades: vec![OpenTradeView {
            trade_id: "ETH/BTC".into(),
            pair: "ETH/BTC".into(),
            is_short: false,
            open_timestamp: 1_515_974_400_000,
            open_rate: 0.05,
            amount: 1.0,
            stake_amount: 0.05,
            current_rate: 0.055,
            current_profit_ratio: 0.1,
            current_profit_abs: 0.005,
            stop_order: None,
        }],
        wallet: None,
        entries_stopped: false,
    });
    let node_state = NodeApiState {
        bot_id: BotId::new("served").unwrap(),
        mode: TradingMode::DryRun,
        stake_currency: "BTC".into(),
        state_db: db_path.clone(),
        control: Arc::clone(&control),
        keys: Arc::clone(&e.keys),
    };
    // Its own runtime on its own thread, as `tradai trade` runs it.
    let server = tokio::task::spawn_blocking(move || spawn_node_api(node_state, 0).unwrap()).await.unwrap();
    let url = format!("http://{}", server.addr);
    db.set_api_url(&BotId::new("served").unwrap(), Some(&url), now).unwrap();
    // An address nothing listens on any more: a node that crashed without withdrawing it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    db.set_api_url(&BotId::new("silent").unwrap(), Some(&format!("http://{dead}")), now).unwrap();

    let (s, list) = call(&e.app, "GET", "/api/v1/trading", None, &[]).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let api = |bot: &str| list["nodes"].as_array().unwrap().iter().find(|n| n["bot_id"] == bot).unwrap()["api_url"].clone();
    assert_eq!(api("served"), serde_json::json!(url));
    assert!(api("replayed").is_null());

    let (s, st) = call(&e.app, "GET", "/api/v1/trading/served/status", None, &[]).await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(st["status"]["open_trades"][0]["trade_id"], "ETH/BTC", "{st}");
    assert!((st["status"]["open_trades"][0]["current_profit"].as_f64().unwrap() - 0.1).abs() < 1e-12, "{st}");
    assert_eq!(st["profit"]["open_trade_count"], 1, "{st}");
    assert!((st["profit"]["profit_open_abs"].as_f64().unwrap() - 0.005).abs() < 1e-12, "{st}");

    let (s, err) = call(&e.app, "GET", "/api/v1/trading/silent/status", None, &[]).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("'silent'"), "{err}");
    let (s, err) = call(&e.app, "GET", "/api/v1/trading/replayed/status", None, &[]).await;
    assert_eq!(s, StatusCode::CONFLICT, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("'replayed'"), "{err}");
    let (s, _) = call(&e.app, "GET", "/api/v1/trading/nobody/status", None, &[]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The kill switch: without keys open, as every mutating route; once a key exists, it is
    // needed, and the node takes the forwarded one.
    let (_, key) = e.keys.create("dash").unwrap();
    let (s, _) = call(&e.app, "POST", "/api/v1/trading/served/stop", Some(r#"{"close_all":true}"#), &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(!control.entries_stop_requested());
    let auth = format!("Bearer {key}");
    let (s, a) = call(&e.app, "POST", "/api/v1/trading/served/stop", Some(r#"{"close_all":true}"#), &[("authorization", &auth)]).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(a["exiting"], serde_json::json!(["ETH/BTC"]));
    assert!(control.entries_stop_requested());
    assert_eq!(control.pending_exits(), vec![None]);
    // The node shows the switch on at once; the page reads it through backend-api.
    let (_, st) = call(&e.app, "GET", "/api/v1/trading/served/status", None, &[]).await;
    assert_eq!(st["status"]["entries_stopped"], true, "{st}");
    let (s, err) = call(&e.app, "POST", "/api/v1/trading/silent/stop", Some(r#"{"close_all":false}"#), &[("authorization", &auth)]).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("'silent'"), "{err}");
    let (s, err) = call(&e.app, "POST", "/api/v1/trading/served/stop", Some(r#"{"close_al":true}"#), &[("authorization", &auth)]).await;
    assert!(s.is_client_error() && err.to_string().contains("close_al"), "{s} {err}");

    // The report, built from the recorded state.
    let (s, r) = call(&e.app, "GET", "/api/v1/trading/served/report", None, &[]).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["bot_id"], "served");
    assert!(r["overall_passed"].is_boolean(), "{r}");
    let checks = r["checks"].as_array().unwrap();
    assert!(checks.iter().any(|c| c["name"] == "dry_run_mode" && c["passed"] == true && c["severity"].is_string()), "{r}");
    assert_eq!(r["heartbeat_metrics"]["total_received"], 1, "{r}");
    let (s, _) = call(&e.app, "GET", "/api/v1/trading/nobody/report", None, &[]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (_, doc) = call(&e.app, "GET", "/openapi.json", None, &[]).await;
    for p in ["/api/v1/trading/{bot_id}/status", "/api/v1/trading/{bot_id}/stop", "/api/v1/trading/{bot_id}/report"] {
        assert!(doc["paths"][p].is_object(), "{p} not documented");
    }
    tokio::task::spawn_blocking(move || drop(server)).await.unwrap();
}
