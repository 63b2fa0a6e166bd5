//! The data-collection routes over a store with a damaged file (issue 15): `/symbols`,
//! `/freshness` and `/validate` report the damaged series and answer for the others, where
//! they used to answer 500 for everything.

use std::sync::Arc;

use axum::http::StatusCode;
use tradai_server::data_service::{DataState, StoreHandle};
use tradai_server::middleware::Limits;

use crate::{call, store_with_data};

#[tokio::test]
async fn a_damaged_file_is_reported_and_the_other_series_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let (loc, store) = tokio::task::spawn_blocking(move || store_with_data(&path)).await.unwrap();
    let ltc = std::path::Path::new(&loc).join("binance/spot/LTC_BTC/5m/2024-01.parquet");
    let len = std::fs::metadata(&ltc).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&ltc).unwrap().set_len(len / 2).unwrap();
    let app = tradai_server::data_app(DataState { store: Arc::new(StoreHandle::new(store)), sync: None }, Limits::default());

    let (status, s) = call(&app, "GET", "/api/v1/data/symbols?exchange=binance", None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    let sym = |name: &str| s["symbols"].as_array().unwrap().iter().find(|x| x["symbol"] == name).unwrap().clone();
    assert_eq!(sym("ETH/BTC")["row_count"], 576);
    assert!(sym("ETH/BTC").get("corrupt").is_none(), "{s}");
    assert!(sym("LTC/BTC")["corrupt"][0].as_str().unwrap().contains("LTC_BTC/5m/2024-01.parquet"), "{s}");

    let body = r#"{"symbols": ["ETH/BTC", "LTC/BTC"], "timeframe": "5m", "stale_threshold_hours": 1000000}"#;
    let (status, f) = call(&app, "POST", "/api/v1/data/freshness", Some(body), &[]).await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert_eq!(f["results"]["ETH/BTC"]["is_fresh"], true, "{f}");
    assert_eq!(f["results"]["LTC/BTC"]["is_fresh"], false);
    assert!(f["results"]["LTC/BTC"]["error"].as_str().unwrap().contains("LTC_BTC/5m/2024-01.parquet"), "{f}");
    assert_eq!(f["stale_symbols"], serde_json::json!(["LTC/BTC"]));

    let (status, v) = call(&app, "POST", "/api/v1/data/validate", Some(r#"{"timeframe": "5m"}"#), &[]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let rep = |name: &str| v["reports"].as_array().unwrap().iter().find(|x| x["symbol"] == name).unwrap().clone();
    assert_eq!(rep("ETH/BTC")["clean"], true);
    assert_eq!(rep("LTC/BTC")["clean"], false);
    assert!(rep("LTC/BTC")["corrupt"][0].as_str().unwrap().contains("LTC_BTC/5m/2024-01.parquet"), "{v}");
    assert_eq!(v["all_clean"], false);
}
