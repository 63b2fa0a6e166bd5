//! data-collection and strategy-service routers, driven with `oneshot`.

use std::sync::Arc;

use axum::http::StatusCode;
use tradai_server::data_service::{DataState, StoreHandle};
use tradai_server::middleware::Limits;
use tradai_server::strategy_service::StrategyState;

use crate::{call, store_with_data};

#[tokio::test]
async fn data_collection_lists_checks_freshness_and_validates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let (_, store) = tokio::task::spawn_blocking(move || store_with_data(&path)).await.unwrap();
    let app = tradai_server::data_app(DataState { store: Arc::new(StoreHandle::new(store)), sync: None }, Limits::default());

    let (status, s) = call(&app, "GET", "/api/v1/data/symbols?exchange=binance&timeframe=5m", None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    let names: Vec<&str> = s["symbols"].as_array().unwrap().iter().map(|x| x["symbol"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["ETH/BTC", "LTC/BTC"]);
    assert_eq!(s["symbols"][0]["row_count"], 576);
    let (status, e) = call(&app, "GET", "/api/v1/data/symbols?timeframe=7x", None, &[]).await;
    assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("timeframe")), "{e}");

    let body = r#"{"symbols": ["ETH/BTC", "XRP/BTC", "bad"], "timeframe": "5m", "stale_threshold_hours": 24}"#;
    let (status, f) = call(&app, "POST", "/api/v1/data/freshness", Some(body), &[]).await;
    assert_eq!(status, StatusCode::OK, "{f}");
    let eth = &f["results"]["ETH/BTC"];
    assert!(eth["age_hours"].as_f64().unwrap() > 24.0, "synthetic 2024 data is old: {eth}");
    assert_eq!(eth["is_fresh"], false);
    assert_eq!(eth["row_count"], 576);
    assert!(eth["last_update"].as_str().unwrap().starts_with("2024-01-03"), "{eth}");
    assert!(f["results"]["XRP/BTC"]["error"].as_str().unwrap().contains("no stored candles"));
    assert_eq!(f["all_fresh"], false);
    assert_eq!(f["stale_symbols"].as_array().unwrap().len(), 3);
    let (status, _) =
        call(&app, "POST", "/api/v1/data/freshness", Some(r#"{"symbols": [], "timeframe": "5m", "stale_threshold_hours": -1}"#), &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, v) = call(&app, "POST", "/api/v1/data/validate", Some(r#"{"symbols": ["ETH/BTC"], "timeframe": "5m"}"#), &[]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["reports"][0]["rows"], 576);
    assert_eq!(v["all_clean"], true);
    let (status, e) = call(&app, "POST", "/api/v1/data/validate", Some(r#"{"symbols": ["ADA/BTC"]}"#), &[]).await;
    assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("symbols[0]")), "{e}");
    let (status, _) = call(&app, "GET", "/api/v1/health", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, spec) = call(&app, "GET", "/openapi.json", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["paths"].get("/api/v1/data/freshness").is_some());
    for p in ["/api/v1/data/sync", "/api/v1/data/sync/{id}", "/api/v1/data/sync/{id}/cancel"] {
        assert!(spec["paths"].get(p).is_some(), "{p} missing from the spec");
    }
}

#[tokio::test]
async fn strategy_service_lists_validates_and_prepares_layered_configs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("EmaCross.toml"), "[settings]\nstoploss = -0.2\n[parameters]\n").unwrap();
    let app = tradai_server::strategy_app(
        StrategyState {
            registry: Arc::new(tradai_engine::StrategyRegistry::builtin()),
            config_dir: dir.path().to_owned(),
            tracking: None,
            strategy_dir: None,
        },
        Limits::default(),
    );
    let (status, l) = call(&app, "GET", "/api/v1/strategies", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let ema = l["strategies"].as_array().unwrap().iter().find(|s| s["name"] == "EmaCross").unwrap().clone();
    assert_eq!(ema["timeframe"], "5m");
    assert!(!ema["parameters"].as_array().unwrap().is_empty(), "{ema}");
    let (status, _) = call(&app, "GET", "/api/v1/strategies/Nope", None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, v) =
        call(&app, "POST", "/api/v1/strategies/EmaCross/validate", Some(r#"{"timeframe": "5m", "pairs": ["ETH/BTC"]}"#), &[]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["valid"], true);
    let (_, v) = call(
        &app,
        "POST",
        "/api/v1/strategies/EmaCross/validate",
        Some(r#"{"timeframe": "1h", "pairs": ["ETH/BTC", "XRP/USDT:USDT"]}"#),
        &[],
    )
    .await;
    assert_eq!(v["valid"], false);
    let fields: Vec<&str> = v["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["timeframe", "pairs[1]"], "{v}");
    let (status, _) = call(&app, "POST", "/api/v1/strategies/Nope/validate", Some("{}"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let first_param = ema["parameters"][0]["name"].as_str().unwrap().to_owned();
    let body = serde_json::json!({"strategy": "EmaCross", "config_overrides": {"settings": {"use_exit_signal": false}}, "run_id": "r-1"})
        .to_string();
    let (status, p) = call(&app, "POST", "/api/v1/configs/prepare", Some(&body), &[]).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["config"]["settings"]["stoploss"], -0.2, "base file layer");
    assert_eq!(p["config"]["settings"]["use_exit_signal"], false, "override layer");
    assert_eq!(p["config"]["run_id"], "r-1");
    assert_eq!(p["layers"], serde_json::json!(["strategy defaults", "file EmaCross.toml", "overrides"]));
    assert_eq!(p["config_hash"].as_str().unwrap().len(), 64);
    let bad = serde_json::json!({"strategy": "EmaCross", "config_overrides": {"parameters": {first_param.clone(): 100000}}}).to_string();
    let (status, e) = call(&app, "POST", "/api/v1/configs/prepare", Some(&bad), &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["field"], format!("parameters.{first_param}"));
}
