//! The trading node's REST API: status with the open trades' current profit, balance, profit,
//! trades from the node's state database, and the two commands (forced exit, kill switch)
//! handed to the node's control, behind an API key once keys exist.

use std::sync::Arc;

use axum::http::StatusCode;
use tradai_server::auth::ApiKeyStore;
use tradai_server::node_api::{node_app, NodeApiState};
use tradai_trading::{BotId, NodeControl, NodeSnapshot, NodeSpec, OpenTradeView, StateStore, TradingMode};

use crate::call;

fn open_trade(pair: &str, open_rate: f64, current_rate: f64) -> OpenTradeView {
    OpenTradeView {
        trade_id: pair.into(),
        pair: pair.into(),
        is_short: false,
        open_timestamp: 1_515_974_400_000,
        open_rate,
        amount: 1.0,
        stake_amount: 0.05,
        current_rate,
        current_profit_ratio: current_rate / open_rate - 1.0,
        current_profit_abs: 0.05 * (current_rate / open_rate - 1.0),
        stop_order: None,
    }
}

#[tokio::test]
async fn node_routes_show_the_node_and_take_commands_with_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateStore::open_in(dir.path()).unwrap();
    let run: tradai_app::RunSpec = serde_json::from_value(serde_json::json!({"strategy": "EmaCross", "pairs": ["ETH/BTC"]})).unwrap();
    let bot = BotId::new("api-node").unwrap();
    let spec =
        NodeSpec { bot_id: bot.clone(), mode: TradingMode::DryRun, run, strategy_version: None, replay: false, risk: Default::default() };
    db.create(&spec, 0).unwrap();
    let control = Arc::new(NodeControl::new());
    let keys = Arc::new(ApiKeyStore::in_memory().unwrap());
    let app = node_app(NodeApiState {
        bot_id: bot,
        mode: TradingMode::DryRun,
        stake_currency: "BTC".into(),
        state_db: db.path().to_path_buf(),
        control: Arc::clone(&control),
        keys: Arc::clone(&keys),
    });

    let (s, h) = call(&app, "GET", "/api/v1/health", None, &[]).await;
    assert_eq!(
        (s, h["status"].as_str(), h["bot_id"].as_str(), h["mode"].as_str()),
        (StatusCode::OK, Some("ok"), Some("api-node"), Some("dry-run"))
    );
    // No candle stepped yet: no wallet to show.
    let (s, b) = call(&app, "GET", "/api/v1/balance", None, &[]).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");

    control.set_snapshot(NodeSnapshot {
        last_candle_ms: Some(1_515_974_700_000),
        open_trades: vec![
            OpenTradeView {
                stop_order: Some(tradai_trading::StopOrderView {
                    client_order_id: "tb0123456789abcdefs".into(),
                    stop_price: 0.0475,
                    amount: 1.0,
                    status: "open".into(),
                }),
                ..open_trade("ETH/BTC", 0.05, 0.055)
            },
            open_trade("LTC/BTC", 0.01, 0.009),
        ],
        wallet: Some(tradai_engine::WalletState { starting_balance: 1.0, closed_profit: 0.0, tied: 0.1, free: 0.9, total: 1.0 }),
        entries_stopped: false,
    });
    let (s, st) = call(&app, "GET", "/api/v1/status", None, &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(st["open_trades"].as_array().unwrap().len(), 2);
    assert_eq!(st["open_trades"][0]["trade_id"], "ETH/BTC");
    // The stop resting on the exchange, shown with its trade; none for the other.
    let stop = &st["open_trades"][0]["stop_order"];
    assert_eq!((stop["client_order_id"].as_str(), stop["stop_price"].as_f64()), (Some("tb0123456789abcdefs"), Some(0.0475)), "{st}");
    assert!(st["open_trades"][1].get("stop_order").is_none(), "{st}");
    assert!((st["open_trades"][0]["current_profit"].as_f64().unwrap() - 0.1).abs() < 1e-12, "{st}");
    assert!((st["current_profit_abs"].as_f64().unwrap() - (0.005 - 0.005)).abs() < 1e-12, "{st}");
    assert_eq!(st["last_candle"], "2018-01-15T00:05:00+00:00");
    let (_, b) = call(&app, "GET", "/api/v1/balance", None, &[]).await;
    assert_eq!((b["free"].as_f64(), b["used"].as_f64(), b["stake_currency"].as_str()), (Some(0.9), Some(0.1), Some("BTC")));
    let (_, t) = call(&app, "GET", "/api/v1/trades", None, &[]).await;
    assert_eq!(t["total_trades"], 0);
    let (_, p) = call(&app, "GET", "/api/v1/profit", None, &[]).await;
    assert_eq!((p["open_trade_count"].as_u64(), p["closed_trade_count"].as_u64()), (Some(2), Some(0)));

    // Commands: once a key exists, none without it.
    let (_, key) = keys.create("node").unwrap();
    let auth = format!("Bearer {key}");
    let (s, e) = call(&app, "POST", "/api/v1/forceexit", Some(r#"{"tradeid":"ETH/BTC"}"#), &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");
    assert!(control.pending_exits().is_empty());
    let (s, e) = call(&app, "POST", "/api/v1/forceexit", Some(r#"{"tradeid":"XRP/BTC"}"#), &[("authorization", &auth)]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("tradeid") && e.to_string().contains("XRP/BTC"), "{e}");
    let (s, e) = call(&app, "POST", "/api/v1/forceexit", Some(r#"{"tradeid":"not a pair"}"#), &[("authorization", &auth)]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (s, a) = call(&app, "POST", "/api/v1/forceexit", Some(r#"{"tradeid":"ETH/BTC"}"#), &[("authorization", &auth)]).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(a["exiting"], serde_json::json!(["ETH/BTC"]));
    assert_eq!(control.pending_exits(), vec![Some("ETH/BTC".parse().unwrap())]);
    assert!(!control.entries_stop_requested());
    let (s, a) = call(&app, "POST", "/api/v1/stop", Some(r#"{"close_all":true}"#), &[("authorization", &auth)]).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(a["exiting"], serde_json::json!(["ETH/BTC", "LTC/BTC"]));
    assert!(control.entries_stop_requested());
    assert_eq!(control.pending_exits().last(), Some(&None));
    let (s, e) = call(&app, "POST", "/api/v1/stop", Some(r#"{"close_al":true}"#), &[("authorization", &auth)]).await;
    assert!(s.is_client_error() && e.to_string().contains("close_al"), "{s} {e}");

    // The routes are documented.
    let (_, doc) = call(&app, "GET", "/openapi.json", None, &[]).await;
    for path in ["/api/v1/status", "/api/v1/trades", "/api/v1/profit", "/api/v1/balance", "/api/v1/forceexit", "/api/v1/stop"] {
        assert!(doc["paths"][path].is_object(), "{path} not in the OpenAPI document");
    }
    assert!(doc["components"]["schemas"]["OpenTradeBody"]["properties"]["current_profit"].is_object());
}
