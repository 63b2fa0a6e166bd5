//! The platform's request fields on `POST /api/v1/backtests` (and hyperopt): `strategy_name`
//! and `symbols` as aliases, `date_range`, `strategy_version` loading a registered config from
//! the strategy registry, `config` (a hyperopt best config) and `config_overrides` merged over
//! it — each accepted, each refused with the field named, and a registered version's
//! parameters shown to drive the run.

use std::time::Duration;

use axum::http::StatusCode;
use tradai_jobs::JobRepository;
use tradai_tracking::strategy::{register_strategy, StrategyRegistration};
use tradai_tracking::{OtherVersions, Stage};

use crate::{call, env, env_local, wait_status, Env};

/// The run of the tests: the two synthetic pairs, written the platform's way.
const PLATFORM: &str =
    r#"{"strategy_name":"EmaCross","symbols":["ETH/BTC","LTC/BTC"],"timeframe":"5m","stake_amount":0.05,"dry_run_wallet":1}"#;

fn with(patch: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(PLATFORM).unwrap();
    let p: serde_json::Value = serde_json::from_str(patch).unwrap();
    for (k, x) in p.as_object().unwrap() {
        if x.is_null() {
            v.as_object_mut().unwrap().remove(k);
        } else {
            v[k] = x.clone();
        }
    }
    v.to_string()
}

async fn register(e: &Env, config: serde_json::Value) -> u64 {
    let reg = StrategyRegistration {
        name: "EmaCross".into(),
        timeframe: "5m".into(),
        pairs: vec!["ETH/BTC".into()],
        warmup_candles: 30,
        config,
        ..StrategyRegistration::default()
    };
    register_strategy(e.tracking.tracker.as_ref(), e.tracking.registry.as_ref(), &reg).await.unwrap().version
}

#[tokio::test]
async fn aliases_and_date_range_are_accepted_and_stored_as_the_one_spec() {
    let e = env(None).await;
    let body = with(r#"{"date_range": {"start": "2020-01-01", "end": "2020-01-03"}}"#);
    let (status, j) = call(&e.app, "POST", "/api/v1/backtests", Some(&body), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{j}");
    let (_, job) = call(&e.app, "GET", j["status_url"].as_str().unwrap(), None, &[]).await;
    assert_eq!(job["strategy"], "EmaCross", "{job}");
    assert_eq!(job["request"]["strategy"], "EmaCross", "{job}");
    assert_eq!(job["request"]["pairs"], serde_json::json!(["ETH/BTC", "LTC/BTC"]));
    // date_range is start_date/end_date: the same window as --timerange 20200101-20200103.
    assert_eq!(job["request"]["timerange"], "20200101-20200103");
    // A window that ended long ago is not synced by default.
    let stored = e.jobs.get(j["job_id"].as_str().unwrap()).unwrap();
    assert!(stored.config.get("ensure_data").is_none(), "{}", stored.config);
    // The canonical names still work.
    let canonical = with(r#"{"strategy_name": null, "symbols": null, "strategy": "EmaCross", "pairs": ["ETH/BTC"]}"#);
    let (status, j) = call(&e.app, "POST", "/api/v1/backtests", Some(&canonical), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{j}");
}

#[tokio::test]
async fn a_field_with_its_alias_or_a_bad_new_field_is_refused_by_name() {
    let e = env(None).await;
    // Both a name and its alias: 400 naming both.
    for (patch, alias, name) in [
        (r#"{"strategy": "EmaCross"}"#, "strategy_name", "strategy"),
        (r#"{"pairs": ["ETH/BTC"]}"#, "symbols", "pairs"),
        (r#"{"start_date": "2020-01-01", "date_range": {"start": "2020-01-01"}}"#, "date_range", "start_date"),
    ] {
        let body = with(patch);
        let (status, j) = call(&e.app, "POST", "/api/v1/backtests", Some(&body), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {j}");
        assert_eq!(j["error"]["field"], alias, "{j}");
        let msg = j["error"]["message"].as_str().unwrap();
        assert!(msg.contains(alias) && msg.contains(name), "{msg}");
    }
    let version = register(&e, serde_json::json!({"strategy": "EmaCross", "params": {"fast": 5}})).await;
    assert_eq!(version, 1);
    let cases: Vec<(String, &str, &str)> = vec![
        (with(r#"{"symbols": ["ETHBTC"]}"#), "symbols[0]", "ETHBTC"),
        (with(r#"{"symbols": []}"#), "symbols", "at least one"),
        (with(r#"{"strategy_name": null}"#), "strategy", "strategy name"),
        (with(r#"{"date_range": {"start": "2020-02-01", "end": "2020-01-01"}}"#), "date_range.end", "date_range.start"),
        (with(r#"{"date_range": {"start": "2020-13-01"}}"#), "date_range.start", "2020-13-01"),
        (with(r#"{"date_range": {"from": "2020-01-01"}}"#), "date_range.from", "from"),
        (with(r#"{"date_range": {"start": "2020-01-01"}, "timerange": "20200101-"}"#), "timerange", "date_range.start"),
        (with(r#"{"strategy_version": 7}"#), "strategy_version", "'7'"),
        (with(r#"{"strategy_version": "-3"}"#), "strategy_version", "-3"),
        (with(r#"{"strategy_version": "challenger"}"#), "strategy_version", "challenger"),
        (with(r#"{"config_overrides": {"stoploss": 0.5}}"#), "stoploss", "0.5"),
        (with(r#"{"config_overrides": {"stop_loss": -0.1}}"#), "config_overrides", "stop_loss"),
        (with(r#"{"config_overrides": [1]}"#), "config_overrides", "object"),
        (with(r#"{"config": {"strategy": "Other", "params": {}}}"#), "config", "'Other'"),
        (with(r#"{"config": {"params": {"fast": 1000}}}"#), "parameters.fast", "1000"),
        (with(r#"{"config": {"params": 3}}"#), "config", "params"),
        (with(r#"{"ensure_data": true}"#), "ensure_data", "start"),
        (with(r#"{"strategyname": "EmaCross"}"#), "strategyname", "strategyname"),
    ];
    for (body, field, quote) in cases {
        let (status, j) = call(&e.app, "POST", "/api/v1/backtests", Some(&body), &[]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {j}");
        assert_eq!(j["error"]["field"], field, "{body} -> {j}");
        assert!(j["error"]["message"].as_str().unwrap().contains(quote), "{body} -> {j}");
    }
    // Hyperopt shares the fields and their checks; it does not sync.
    let (status, j) = call(&e.app, "POST", "/api/v1/hyperopt", Some(&with(r#"{"strategy": "EmaCross", "epochs": 2}"#)), &[]).await;
    assert_eq!((status, j["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("strategy_name")), "{j}");
    let (status, j) = call(&e.app, "POST", "/api/v1/hyperopt", Some(&with(r#"{"ensure_data": true, "epochs": 2}"#)), &[]).await;
    assert_eq!((status, j["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("ensure_data")), "{j}");
    assert_eq!(e.jobs.list(&tradai_jobs::JobFilter::default()).unwrap().total, 0, "nothing was created");
}

/// The summary numbers that tell two runs apart.
fn outcome(job: &serde_json::Value) -> (serde_json::Value, serde_json::Value) {
    let r = &job["result"];
    (r["trade_count"].clone(), r["summary"]["profit_total_abs"].clone())
}

async fn run(e: &Env, body: &str) -> serde_json::Value {
    let (status, j) = call(&e.app, "POST", "/api/v1/backtests", Some(body), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body} -> {j}");
    wait_status(&e.app, j["status_url"].as_str().unwrap(), "COMPLETED", Duration::from_secs(120)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_version_config_drives_the_run_and_overrides_merge_over_it() {
    let e = env_local().await;
    let v1 = serde_json::json!({"strategy": "EmaCross", "params": {"fast": 5, "slow": 30}, "minimal_roi": {"0": 0.004}, "stoploss": -0.01});
    let v2 = serde_json::json!({"strategy": "EmaCross", "params": {"fast": 20, "slow": 60}});
    assert_eq!(register(&e, v1.clone()).await, 1);
    assert_eq!(register(&e, v2).await, 2);
    e.tracking.registry.promote("EmaCross", 1).await.unwrap();
    e.tracking.registry.transition_stage("EmaCross", 2, Stage::Staging, OtherVersions::Keep).await.unwrap();

    let plain = run(&e, PLATFORM).await;
    let by_number = run(&e, &with(r#"{"strategy_version": 1}"#)).await;
    let spec = &by_number["request"];
    assert_eq!(spec["params"], serde_json::json!({"fast": 5, "slow": 30}), "{by_number}");
    assert_eq!(spec["overrides"]["stoploss"], -0.01);
    assert_eq!(spec["overrides"]["minimal_roi"], serde_json::json!({"0": 0.004}));
    assert_ne!(outcome(&by_number), outcome(&plain), "the registered config changes the run");
    // The same config submitted as `config` (what a hyperopt result's best config is) gives
    // the same run; so does the production stage, which version 1 is in.
    let as_config = run(&e, &with(&serde_json::json!({"config": v1}).to_string())).await;
    assert_eq!(outcome(&as_config), outcome(&by_number));
    let production = run(&e, &with(r#"{"strategy_version": "production"}"#)).await;
    assert_eq!(production["request"]["params"], spec["params"]);
    assert_eq!(outcome(&production), outcome(&by_number));
    // A stage picks its newest version.
    let staging = run(&e, &with(r#"{"strategy_version": "staging"}"#)).await;
    assert_eq!(staging["request"]["params"], serde_json::json!({"fast": 20, "slow": 60}), "{staging}");
    // Overrides merge over the registered config: objects key by key.
    let merged = run(&e, &with(r#"{"strategy_version": 1, "config_overrides": {"params": {"fast": 8}, "stoploss": -0.05}}"#)).await;
    let spec = &merged["request"];
    assert_eq!(spec["params"], serde_json::json!({"fast": 8, "slow": 30}), "{merged}");
    assert_eq!(spec["overrides"]["stoploss"], -0.05);
    assert_eq!(spec["overrides"]["minimal_roi"], serde_json::json!({"0": 0.004}), "kept from the version");
}
