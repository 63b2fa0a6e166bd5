//! Hyperopt jobs over HTTP on the real in-process executor: bad requests named field by field,
//! a run from 202 to its stored result (best parameters, in-sample and out-of-sample metrics,
//! top epochs, the strategy config with its ROI keys in minute order), progress in epochs,
//! and a cancel that stops a long run between evaluations.

use std::time::Duration;

use axum::http::StatusCode;
use tradai_jobs::JobRepository;

use crate::{call, env, env_local, wait_status};

/// A small run on the two synthetic pairs of the test store.
const RUN: &str = r#"{"strategy":"EmaCross","pairs":["ETH/BTC","LTC/BTC"],"timeframe":"5m","stake_amount":0.05,"dry_run_wallet":1,
"epochs":12,"spaces":["buy","roi","stoploss"],"loss":"profit","sampler":"tpe","seed":3,"jobs":1,"split":0.7,"top":4}"#;

fn with(patch: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(RUN).unwrap();
    let p: serde_json::Value = serde_json::from_str(patch).unwrap();
    for (k, x) in p.as_object().unwrap() {
        v[k] = x.clone();
    }
    v.to_string()
}

#[tokio::test]
async fn bad_hyperopt_requests_get_4xx_naming_the_field_and_value() {
    let e = env(None).await;
    let cases: Vec<(String, &str, &str)> = vec![
        (with(r#"{"spaces": ["buy", "sells"]}"#), "spaces", "'sells'"),
        (with(r#"{"spaces": ["sell"]}"#), "spaces", "'sell'"),
        (with(r#"{"spaces": []}"#), "spaces", "no hyperopt space"),
        (with(r#"{"loss": "sharp"}"#), "loss", "'sharp'"),
        (with(r#"{"sampler": "bayes"}"#), "sampler", "'bayes'"),
        (with(r#"{"strategy": "NoSuchStrategy"}"#), "strategy", "NoSuchStrategy"),
        (with(r#"{"epochs": 0}"#), "epochs", "0"),
        (with(r#"{"epochs": -1}"#), "epochs", "-1"),
        (with(r#"{"jobs": 0}"#), "jobs", "0"),
        (with(r#"{"split": 1.5}"#), "split", "1.5"),
        (with(r#"{"oos_timerange": "20240102-"}"#), "split", "not both"),
        (with(r#"{"walk_forward": 0}"#), "walk_forward", "0"),
        (with(r#"{"stake_amount": -5}"#), "stake_amount", "-5"),
        (with(r#"{"timeframe": "1h"}"#), "timeframe", "1h"),
        (with(r#"{"pairs": ["ETH/BTC", "XMR/USDT"]}"#), "pairs[1]", "XMR/USDT"),
        (with(r#"{"surprise": 1}"#), "surprise", "surprise"),
    ];
    for (body, field, quote) in cases {
        let (status, json) = call(&e.app, "POST", "/api/v1/hyperopt", Some(&body), &[]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {json}");
        assert_eq!(json["error"]["field"], field, "{body} -> {json}");
        assert!(json["error"]["message"].as_str().unwrap().contains(quote), "{body} -> {json}");
    }
    assert_eq!(e.jobs.list(&tradai_jobs::JobFilter::default()).unwrap().total, 0, "nothing was created");
    let (status, _) = call(&e.app, "GET", "/api/v1/hyperopt/00000000-0000-0000-0000-000000000000", None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hyperopt_job_runs_reports_progress_and_stores_its_result() {
    let e = env_local().await;
    let (status, sub) = call(&e.app, "POST", "/api/v1/hyperopt", Some(RUN), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sub}");
    let id = sub["job_id"].as_str().unwrap().to_owned();
    assert_eq!(sub["status_url"], format!("/api/v1/hyperopt/{id}"));
    let done = wait_status(&e.app, &format!("/api/v1/hyperopt/{id}"), "COMPLETED", Duration::from_secs(120)).await;
    assert_eq!(done["job_type"], "hyperopt");
    assert_eq!(done["progress"], 1.0);
    assert_eq!(done["progress_detail"]["epochs_done"], 12, "{done}");
    assert_eq!(done["progress_detail"]["epochs_total"], 12, "{done}");
    assert_eq!(done["request"]["epochs"], 12);
    let r = &done["result"];
    assert_eq!(r["epochs"], 12, "{r}");
    assert_eq!(r["best_loss"], r["best"]["loss"]);
    assert_eq!(done["progress_detail"]["best_loss"], r["best_loss"]);
    for k in ["fast", "slow", "stoploss", "roi_t1"] {
        assert!(r["best_params"].get(k).is_some(), "best params lack {k}: {r}");
    }
    assert_eq!(r["in_sample"], r["best"]["metrics"]);
    assert!(r["out_of_sample"]["out_of_sample"]["trades"].is_u64(), "{r}");
    assert_eq!(r["top"].as_array().unwrap().len(), 4);
    assert_eq!(r["best_config"]["strategy"], "EmaCross");

    // The strategy config as the run wrote it: ROI keys in minute order, not text order.
    let (status, cfg) = call(&e.app, "GET", &format!("/api/v1/hyperopt/{id}/config"), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{cfg}");
    assert_eq!(cfg["params"]["fast"], r["best_params"]["fast"]);
    assert_eq!(cfg["stoploss"], r["best_params"]["stoploss"]);
    let raw = std::fs::read_to_string(e.dir.path().join(format!("state/results/{id}/best_config.json"))).unwrap();
    let roi = cfg["minimal_roi"].as_object().unwrap();
    let mut at: Vec<(usize, i64)> = roi.keys().map(|k| (raw.find(&format!("\"{k}\":")).unwrap(), k.parse().unwrap())).collect();
    at.sort_unstable();
    assert!(at.windows(2).all(|w| w[0].1 < w[1].1), "ROI keys out of minute order in {raw}");
    let (status, epochs) = call(&e.app, "GET", &format!("/api/v1/hyperopt/{id}/epochs"), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(epochs["study"]["epochs"].as_array().unwrap().len(), 12);
    let (status, svg) = call(&e.app, "GET", &format!("/api/v1/hyperopt/{id}/heatmap"), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(svg.as_str().unwrap().starts_with("<svg"));

    // The generic job routes see it; the backtest routes do not.
    let (status, j) = call(&e.app, "GET", &format!("/api/v1/jobs/{id}"), None, &[]).await;
    assert_eq!((status, j["job_type"].as_str()), (StatusCode::OK, Some("hyperopt")));
    let (_, page) = call(&e.app, "GET", "/api/v1/jobs?type=hyperopt&status=COMPLETED", None, &[]).await;
    assert_eq!(page["total"], 1, "{page}");
    let (_, page) = call(&e.app, "GET", "/api/v1/hyperopt?label=EmaCross", None, &[]).await;
    assert_eq!(page["total"], 1, "{page}");
    let (status, _) = call(&e.app, "GET", &format!("/api/v1/backtests/{id}"), None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&e.app, "POST", &format!("/api/v1/hyperopt/{id}/cancel"), None, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "a finished run cannot be cancelled");
    e.pool.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_hyperopt_between_evaluations() {
    let e = env_local().await;
    let body = with(r#"{"epochs": 1000000, "spaces": ["buy"], "split": null}"#);
    let (status, sub) = call(&e.app, "POST", "/api/v1/hyperopt", Some(&body), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sub}");
    let id = sub["job_id"].as_str().unwrap().to_owned();
    let uri = format!("/api/v1/hyperopt/{id}");
    // Running, with epochs counted in the progress.
    let start = std::time::Instant::now();
    let running = loop {
        let (_, j) = call(&e.app, "GET", &uri, None, &[]).await;
        if j["progress_detail"]["epochs_done"].as_u64().is_some_and(|n| n > 0) {
            break j;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no progress reported: {j}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(running["status"], "RUNNING");
    assert_eq!(running["progress_detail"]["epochs_total"], 1_000_000);
    let asked = std::time::Instant::now();
    let (status, c) = call(&e.app, "POST", &format!("{uri}/cancel"), None, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{c}");
    let done = wait_status(&e.app, &uri, "CANCELLED", Duration::from_secs(5)).await;
    assert!(asked.elapsed() < Duration::from_secs(2), "took {:?}", asked.elapsed());
    assert!(done["progress"].as_f64().unwrap() < 1.0);
    e.pool.shutdown();
}
