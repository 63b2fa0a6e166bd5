//! The backend router: validation errors that name the field, durable and idempotent
//! submissions, cancellation, API keys, readiness and the OpenAPI document.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use tradai_executor::results::ResultStore;
use tradai_jobs::{JobRepository, JobStatus, SqliteJobRepository};
use tradai_server::auth::ApiKeyStore;
use tradai_server::backend::BackendState;
use tradai_server::clients::{BreakerConfig, DataCollectionClient, RetryPolicy, StrategyServiceClient};
use tradai_server::middleware::{Limits, Metrics};

use crate::{call, env, GOOD};

#[tokio::test]
async fn bad_requests_get_4xx_naming_the_field() {
    let e = env(None).await;
    let with = |patch: &str| {
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        let p: serde_json::Value = serde_json::from_str(patch).unwrap();
        for (k, x) in p.as_object().unwrap() {
            v[k] = x.clone();
        }
        v.to_string()
    };
    let cases: Vec<(String, StatusCode, &str)> = vec![
        (r#"{"strategy": "EmaCross", "pairs": ["#.to_owned(), StatusCode::BAD_REQUEST, "body"),
        (with(r#"{"strategy": "NoSuchStrategy"}"#), StatusCode::UNPROCESSABLE_ENTITY, "strategy"),
        (with(r#"{"pairs": ["ETH/BTC", "XMR/USDT"]}"#), StatusCode::UNPROCESSABLE_ENTITY, "pairs[1]"),
        (with(r#"{"pairs": ["ETHBTC"]}"#), StatusCode::UNPROCESSABLE_ENTITY, "pairs[0]"),
        (with(r#"{"timeframe": "7x"}"#), StatusCode::UNPROCESSABLE_ENTITY, "timeframe"),
        (with(r#"{"timeframe": "1h"}"#), StatusCode::UNPROCESSABLE_ENTITY, "timeframe"),
        (with(r#"{"stake_amount": -5}"#), StatusCode::UNPROCESSABLE_ENTITY, "stake_amount"),
        (with(r#"{"stake_amount": "lots"}"#), StatusCode::UNPROCESSABLE_ENTITY, "stake_amount"),
        (with(r#"{"max_open_trades": 0}"#), StatusCode::UNPROCESSABLE_ENTITY, "max_open_trades"),
        (with(r#"{"fee": "x"}"#), StatusCode::UNPROCESSABLE_ENTITY, "fee"),
        (with(r#"{"timerange": "2018-01-01"}"#), StatusCode::UNPROCESSABLE_ENTITY, "timerange"),
        (with(r#"{"start_date": "2018-02-01", "end_date": "2018-01-01"}"#), StatusCode::UNPROCESSABLE_ENTITY, "end_date"),
        (with(r#"{"trading_mode": "margin"}"#), StatusCode::UNPROCESSABLE_ENTITY, "trading_mode"),
        // Money is bounded like stake and fee: an absurd wallet is refused, naming the field.
        (with(r#"{"dry_run_wallet": 1e308}"#), StatusCode::UNPROCESSABLE_ENTITY, "dry_run_wallet"),
        (with(r#"{"stake_amount": 1e308, "dry_run_wallet": 1e308}"#), StatusCode::UNPROCESSABLE_ENTITY, "stake_amount"),
        (with(r#"{"leverage": 3}"#), StatusCode::UNPROCESSABLE_ENTITY, "leverage"),
        (with(r#"{"surprise": 1}"#), StatusCode::UNPROCESSABLE_ENTITY, "surprise"),
        (r#"{"pairs": ["ETH/BTC"]}"#.to_owned(), StatusCode::UNPROCESSABLE_ENTITY, "strategy"),
    ];
    for (body, want, field) in cases {
        let (status, json) = call(&e.app, "POST", "/api/v1/backtests", Some(&body), &[]).await;
        assert_eq!(status, want, "{body} -> {json}");
        assert_eq!(json["error"]["field"], field, "{body} -> {json}");
        assert!(json["error"]["message"].as_str().unwrap().contains(field.split('[').next().unwrap()) || field == "body", "{json}");
    }
    // 10 MB body.
    let big = format!(r#"{{"strategy": "{}"}}"#, "x".repeat(10 * 1024 * 1024));
    let (status, json) = call(&e.app, "POST", "/api/v1/backtests", Some(&big), &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert_eq!(json["error"]["field"], "body");
    // Not JSON at all.
    let (status, json) = call(&e.app, "POST", "/api/v1/backtests", None, &[("content-type", "text/plain")]).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{json}");
    // Unknown job ids.
    for uri in ["/api/v1/backtests/00000000-0000-0000-0000-000000000000", "/api/v1/backtests/nope/trades", "/api/v1/backtests/x/report"] {
        let (status, json) = call(&e.app, "GET", uri, None, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri} {json}");
        assert_eq!(json["error"]["code"], "not_found");
    }
    let (status, _) = call(&e.app, "POST", "/api/v1/backtests/nope/cancel", None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Bad query parameters.
    let (status, json) = call(&e.app, "GET", "/api/v1/backtests?status=DONE", None, &[]).await;
    assert_eq!((status, json["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("status")), "{json}");
    let (status, json) = call(&e.app, "GET", "/api/v1/backtests?limit=0", None, &[]).await;
    assert_eq!((status, json["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("limit")), "{json}");
    let (status, json) = call(&e.app, "GET", "/api/v1/backtests?limit=abc", None, &[]).await;
    assert_eq!((status, json["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("limit")), "{json}");
    // Nothing was created by any of these.
    assert_eq!(e.jobs.list(&tradai_jobs::JobFilter::default()).unwrap().total, 0);
}

#[tokio::test]
async fn a_job_is_durable_before_202_and_keys_are_idempotent() {
    let e = env(None).await;
    let (status, first) = call(&e.app, "POST", "/api/v1/backtests", Some(GOOD), &[("idempotency-key", "k-1")]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let id = first["job_id"].as_str().unwrap().to_owned();
    assert_eq!(first["status"], "PENDING");
    assert_eq!(first["status_url"], format!("/api/v1/backtests/{id}"));
    // Committed: a fresh connection to the file sees it.
    let other = SqliteJobRepository::open(&e.dir.path().join("state/tradai.sqlite")).unwrap();
    assert_eq!(other.get(&id).unwrap().status, JobStatus::Pending);
    // Same key, even with another body: the first job, nothing new.
    let (status, again) =
        call(&e.app, "POST", "/api/v1/backtests", Some(GOOD.replace("0.05", "0.07").as_str()), &[("idempotency-key", "k-1")]).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["job_id"], id.as_str());
    assert_eq!(again["created"], false);
    let (_, page) = call(&e.app, "GET", "/api/v1/backtests?strategy=EmaCross&status=PENDING", None, &[]).await;
    assert_eq!(page["total"], 1, "{page}");
    let (status, job) = call(&e.app, "GET", &format!("/api/v1/backtests/{id}"), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["request"]["stake_amount"], 0.05);
    assert_eq!(job["request"]["timeframe"], "5m");
    assert_eq!(job["progress"], 0.0);
    // Not finished: no trades yet.
    let (status, json) = call(&e.app, "GET", &format!("/api/v1/backtests/{id}/trades"), None, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{json}");
    // Many concurrent submissions all commit (group commit) and are distinct.
    let mut handles = Vec::new();
    for _ in 0..40 {
        let app = e.app.clone();
        handles.push(tokio::spawn(async move { call(&app, "POST", "/api/v1/backtests", Some(GOOD), &[]).await }));
    }
    let mut ids = std::collections::HashSet::new();
    for h in handles {
        let (s, j) = h.await.unwrap();
        assert_eq!(s, StatusCode::ACCEPTED);
        ids.insert(j["job_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 40);
    assert_eq!(other.list(&tradai_jobs::JobFilter::default()).unwrap().total, 41);
}

#[tokio::test]
async fn pending_jobs_cancel_at_once_and_finished_ones_refuse() {
    let e = env(None).await;
    let (_, j) = call(&e.app, "POST", "/api/v1/backtests", Some(GOOD), &[]).await;
    let id = j["job_id"].as_str().unwrap();
    let (status, c) = call(&e.app, "POST", &format!("/api/v1/backtests/{id}/cancel"), None, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{c}");
    assert_eq!(c["status"], "CANCELLED");
    let (status, c) = call(&e.app, "POST", &format!("/api/v1/backtests/{id}/cancel"), None, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{c}");
}

#[tokio::test]
async fn api_keys_guard_state_changing_routes() {
    let e = env(None).await;
    let (_, key) = e.keys.create("test").unwrap();
    let (status, json) = call(&e.app, "POST", "/api/v1/backtests", Some(GOOD), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
    let (status, _) = call(&e.app, "POST", "/api/v1/backtests", Some(GOOD), &[("authorization", "Bearer tdk_00000000_wrong")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let bearer = format!("Bearer {key}");
    let (status, j) = call(&e.app, "POST", "/api/v1/backtests", Some(GOOD), &[("authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{j}");
    let id = j["job_id"].as_str().unwrap();
    let (status, _) = call(&e.app, "POST", &format!("/api/v1/backtests/{id}/cancel"), None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Reads stay open.
    let (status, _) = call(&e.app, "GET", &format!("/api/v1/backtests/{id}"), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn readiness_names_unreachable_dependencies_and_metrics_render() {
    let e = env(None).await;
    let (status, r) = call(&e.app, "GET", "/api/v1/ready", None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    // A backend whose dependencies are not there (closed loopback ports).
    let retry = RetryPolicy { max_attempts: 1, attempt_timeout: Some(Duration::from_millis(300)), ..RetryPolicy::default() };
    let st = BackendState::new(
        Arc::clone(&e.jobs) as Arc<dyn JobRepository>,
        Arc::clone(&e.pool) as Arc<dyn tradai_executor::BacktestJobSubmitter>,
        DataCollectionClient::new("http://127.0.0.1:9", retry, BreakerConfig::default()),
        StrategyServiceClient::new("http://127.0.0.1:9", retry, BreakerConfig::default()),
        ResultStore::new(e.dir.path().join("r")),
        Arc::new(ApiKeyStore::in_memory().unwrap()),
        Arc::new(Metrics::new("backend-api")),
    );
    let app = tradai_server::backend::app(st, Limits::default());
    let (status, r) = call(&app, "GET", "/api/v1/ready", None, &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{r}");
    assert_eq!(r["checks"]["data_collection"]["ok"], false);
    assert_eq!(r["checks"]["strategy_service"]["ok"], false);
    assert_eq!(r["checks"]["jobs_db"]["ok"], true);
    let (status, h) = call(&app, "GET", "/api/v1/health", None, &[]).await;
    assert_eq!((status, h["status"].as_str()), (StatusCode::OK, Some("healthy")));
    // A submission cannot be checked: 503, not 500, and nothing is created.
    let (status, j) = call(&app, "POST", "/api/v1/backtests", Some(GOOD), &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{j}");
    let (status, m) = call(&e.app, "GET", "/metrics", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let m = m.as_str().unwrap();
    assert!(
        m.contains("tradai_http_requests_total{service=\"backend-api\",method=\"GET\",route=\"/api/v1/ready\",status=\"200\"} 1"),
        "{m}"
    );
    assert!(m.contains("tradai_jobs{status=\"PENDING\"}"), "{m}");
    assert!(m.contains("tradai_circuit_state{service=\"data-collection\"} 0"), "{m}");
}

#[tokio::test]
async fn openapi_and_docs_are_served() {
    let e = env(None).await;
    let (status, spec) = call(&e.app, "GET", "/openapi.json", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    for p in [
        "/api/v1/backtests",
        "/api/v1/backtests/{id}",
        "/api/v1/backtests/{id}/cancel",
        "/api/v1/hyperopt",
        "/api/v1/hyperopt/{id}",
        "/api/v1/hyperopt/{id}/cancel",
        "/api/v1/hyperopt/{id}/config",
        "/api/v1/jobs",
        "/api/v1/jobs/{id}",
        "/api/v1/jobs/{id}/cancel",
        "/api/v1/ready",
        "/metrics",
    ] {
        assert!(spec["paths"].get(p).is_some(), "{p} missing from the spec");
    }
    // The platform's request fields are documented.
    let props = &spec["components"]["schemas"]["BacktestSubmission"]["properties"];
    for f in ["strategy_name", "strategy_version", "config", "config_overrides", "symbols", "date_range", "ensure_data"] {
        assert!(props.get(f).is_some(), "{f} missing from BacktestSubmission: {props}");
    }
    // The window's end means what the CLI's --timerange end means, in both spellings, and
    // the wallet default is the run spec's (one coin for a BTC stake, not 1000).
    let range_end = &spec["components"]["schemas"]["DateRange"]["properties"]["end"]["description"];
    for (name, d) in [("end_date", &props["end_date"]["description"]), ("date_range.end", range_end)] {
        let d = d.as_str().unwrap_or_default();
        assert!(d.contains("00:00 UTC") && d.contains("last one tested") && !d.contains("exclusive"), "{name}: {d}");
    }
    let wallet = props["dry_run_wallet"]["description"].as_str().unwrap_or_default();
    assert!(wallet.contains("1 for a coin"), "{wallet}");
    for p in ["/api/v1/backtests", "/api/v1/hyperopt"] {
        let answers = &spec["paths"][p]["post"]["responses"];
        assert!(answers.get("202").is_some() && answers.get("422").is_some(), "{p}: {answers}");
    }
    let (status, page) = call(&e.app, "GET", "/docs", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.as_str().unwrap().contains("/openapi.json"));
    let (status, _) = call(&e.app, "GET", "/api/v1/strategies/EmaCross", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&e.app, "GET", "/api/v1/strategies/Nope", None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn submissions_are_rate_limited_per_client() {
    let e = env(None).await;
    let app = tradai_server::backend::app(e.state.clone(), Limits { rate_per_sec: 1, ..Limits::default() });
    let mut codes = Vec::new();
    for _ in 0..4 {
        let (s, j) = call(&app, "POST", "/api/v1/backtests", Some(GOOD), &[]).await;
        codes.push(s);
        if s == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(j["error"]["code"], "rate_limited");
        }
    }
    // A burst of two, then 429; reads are not limited.
    assert_eq!(codes, vec![StatusCode::ACCEPTED, StatusCode::ACCEPTED, StatusCode::TOO_MANY_REQUESTS, StatusCode::TOO_MANY_REQUESTS]);
    let (s, _) = call(&app, "GET", "/api/v1/backtests", None, &[]).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn listing_parameters_are_checked_and_named() {
    let e = env(None).await;
    let (status, b) = call(&e.app, "GET", "/api/v1/jobs?type=../../x", None, &[]).await;
    assert_eq!((status, b["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("type")), "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("'../../x'"), "{b}");
    let (status, b) = call(&e.app, "GET", "/api/v1/jobs?offset=-1", None, &[]).await;
    assert_eq!((status, b["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("offset")), "{b}");
    let msg = b["error"]["message"].as_str().unwrap();
    assert_eq!(msg.matches("offset").count(), 1, "the parameter is named once: {msg}");
    let (status, _) = call(&e.app, "GET", "/api/v1/jobs?type=sync", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
}

/// The job record holds the normalised spec (every default filled in), and the API's
/// `start_date`/`end_date` mean exactly what the CLI's `--timerange` means: both convert into
/// the same [`tradai_app::RunSpec`], so both runs read the same candles.
#[tokio::test]
async fn dates_and_timerange_store_the_same_normalised_spec_as_the_cli() {
    let e = env(None).await;
    let base: serde_json::Value = serde_json::from_str(GOOD).unwrap();
    let submit = |patch: serde_json::Value| {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let app = e.app.clone();
        async move {
            let (status, j) = call(&app, "POST", "/api/v1/backtests", Some(&body.to_string()), &[]).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body} -> {j}");
            j["job_id"].as_str().unwrap().to_owned()
        }
    };
    let by_dates = submit(serde_json::json!({"start_date": "2018-01-15", "end_date": "2018-01-25"})).await;
    let by_range = submit(serde_json::json!({"timerange": "20180115-20180125"})).await;
    let stored = |id: &str| e.jobs.get(id).unwrap().config["request"].clone();
    let (dates, range) = (stored(&by_dates), stored(&by_range));
    assert_eq!(dates, range, "the two API forms of one window differ");
    // Normalised: the defaults the body left out are written into the record.
    assert_eq!(dates["exchange"], "binance", "{dates}");
    assert_eq!(dates["trading_mode"], "spot", "{dates}");
    // The CLI's conversion of `--timerange 20180115-20180125` with the same values.
    let cli = tradai_app::BacktestRequest {
        strategy: Some("EmaCross".into()),
        pairs: Some(vec!["ETH/BTC".into(), "LTC/BTC".into()]),
        timeframe: Some("5m".into()),
        timerange: Some("20180115-20180125".into()),
        stake_amount: Some(tradai_core::StakeAmount::Fixed(0.05)),
        dry_run_wallet: Some(1.0),
        max_open_trades: Some(3),
        fee: Some(0.001),
        ..tradai_app::BacktestRequest::default()
    };
    let cli = tradai_app::RunSpec::try_from(cli).unwrap();
    let api: tradai_app::RunSpec = serde_json::from_value(dates).unwrap();
    assert_eq!(api, cli);
    // Freqtrade's end: the candle opening at the end date's midnight is the last one kept.
    assert_eq!(api.timerange.end_ms, Some(tradai_core::parse_date_ms("2018-01-25").unwrap()));
}
