//! Retraining jobs over HTTP on the real in-process executor and the embedded registry: bad
//! requests named field by field, a first run that makes the first champion, a second whose
//! challenger is compared and promoted (the registry shows it), an `if_needed` run that stops
//! after the check, every step in the job's progress and the decision in its result and in
//! the tracker.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use tradai_core::{ExchangeId, Timeframe};
use tradai_executor::{BackendJobs, ExecutorFactory};
use tradai_jobs::JobRepository;
use tradai_store::{BlockingCandleStore, SeriesKey, SynthSpec};
use tradai_tracking::{RunQuery, Stage, Tracking};

use crate::{call, env, env_with_state, settings, wait_status, Env};

/// 1h candles of both test pairs from 2024-01-01, 120 days: enough rows to train on.
fn add_hourly(loc: &str) {
    let store = BlockingCandleStore::open(loc).unwrap();
    let spec = SynthSpec::new(vec!["ETH/BTC".parse().unwrap(), "LTC/BTC".parse().unwrap()], Timeframe::H1, 120, 11);
    for (pair, candles) in tradai_store::synth(&spec) {
        store.append(&SeriesKey::new(ExchangeId::new("binance").unwrap(), pair, Timeframe::H1), &candles).unwrap();
    }
}

async fn env_retraining(tracking: Tracking) -> Env {
    let t = tracking.clone();
    let e = env_with_state(
        move |loc, jobs, results| {
            // The store blocks on its own runtime: off this async test's thread.
            let l = loc.to_owned();
            std::thread::spawn(move || add_hourly(&l)).join().unwrap();
            ExecutorFactory::create_backend(settings(loc, 1), jobs, results, Vec::new(), BackendJobs { endpoints: None, tracking: Some(t) })
                .unwrap()
        },
        |s, _| s.with_retraining(tradai_settings::MlSettings::default(), "binance".into()),
    )
    .await;
    e
}

/// A request on the hourly candles; `patch` overrides fields.
fn body(patch: &serde_json::Value) -> String {
    let mut v = serde_json::json!({
        "model": "momo", "pairs": ["ETH/BTC", "LTC/BTC"], "timeframe": "1h",
        "train_timerange": "20240101-20240310", "timerange": "20240311-",
        "features": "ret_1,ret_3,rsi_14,vol_24", "folds": 2, "entry_threshold": 0.5,
    });
    for (k, x) in patch.as_object().unwrap() {
        v[k] = x.clone();
    }
    v.to_string()
}

async fn run_to_end(e: &Env, patch: serde_json::Value) -> serde_json::Value {
    let (status, sub) = call(&e.app, "POST", "/api/v1/retraining", Some(&body(&patch)), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sub}");
    let id = sub["job_id"].as_str().unwrap().to_owned();
    assert_eq!(sub["status_url"], format!("/api/v1/retraining/{id}"));
    wait_status(&e.app, &format!("/api/v1/jobs/{id}"), "COMPLETED", Duration::from_secs(180)).await
}

fn steps(job: &serde_json::Value) -> Vec<(String, String)> {
    job["progress_detail"]["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps in {job}"))
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_owned(), s["state"].as_str().unwrap().to_owned()))
        .collect()
}

fn all(states: [&str; 6]) -> Vec<(String, String)> {
    ["check", "train", "backtest", "compare", "promote", "notify"].iter().zip(states).map(|(a, b)| ((*a).into(), b.into())).collect()
}

#[tokio::test]
async fn bad_retraining_requests_get_4xx_naming_the_field_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let e = env_retraining(tradai_tracking::open_embedded(dir.path()).unwrap()).await;
    let cases = [
        (serde_json::json!({"model": "two words"}), "model", "two words"),
        (serde_json::json!({"pairs": []}), "pairs", "no pair"),
        (serde_json::json!({"pairs": ["ETH/BTC", "XMR/USDT"]}), "pairs[1]", "XMR/USDT"),
        (serde_json::json!({"timeframe": "7x"}), "timeframe", "7x"),
        (serde_json::json!({"algo": "svm"}), "algo", "svm"),
        (serde_json::json!({"features": "ret_1,foo_3"}), "features", "foo_3"),
        (serde_json::json!({"train_timerange": "20240101-20240320"}), "train_timerange", "20240320"),
        (serde_json::json!({"timerange": "soon"}), "timerange", "soon"),
        (serde_json::json!({"folds": 0}), "folds", "0"),
        (serde_json::json!({"entry_threshold": 0.99}), "entry_threshold", "0.99"),
        (serde_json::json!({"min_confidence": 2.0}), "min_confidence", "2"),
        (serde_json::json!({"surprise": 1}), "surprise", "surprise"),
    ];
    for (patch, field, quote) in cases {
        let b = body(&patch);
        let (status, json) = call(&e.app, "POST", "/api/v1/retraining", Some(&b), &[]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b} -> {json}");
        assert_eq!(json["error"]["field"], field, "{b} -> {json}");
        assert!(json["error"]["message"].as_str().unwrap().contains(quote), "{b} -> {json}");
    }
    assert_eq!(e.jobs.list(&tradai_jobs::JobFilter::default()).unwrap().total, 0, "nothing was created");
    e.pool.shutdown();

    // Without a registry the route says so instead of queueing jobs nobody runs.
    let off = env(None).await;
    let (status, json) = call(&off.app, "POST", "/api/v1/retraining", Some(&body(&serde_json::json!({}))), &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert!(json["error"]["message"].as_str().unwrap().contains("tracking.uri"), "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retraining_jobs_train_compare_promote_and_record_the_decision() {
    let dir = tempfile::tempdir().unwrap();
    let tracking = tradai_tracking::open_embedded(dir.path()).unwrap();
    let e = env_retraining(tracking.clone()).await;
    let registry = Arc::clone(&tracking.registry);

    // 1. No champion yet: the check is skipped, version 1 becomes the first champion.
    let first = run_to_end(&e, serde_json::json!({})).await;
    assert_eq!(first["job_type"], "retraining");
    assert_eq!(first["progress"], 1.0);
    assert_eq!(steps(&first), all(["skipped", "done", "done", "skipped", "done", "done"]), "{first}");
    let r = &first["result"];
    assert_eq!(r["decision"], "FIRST_CHAMPION", "{r}");
    assert_eq!((r["challenger"]["version"].as_u64(), r["champion_after"].as_u64()), (Some(1), Some(1)), "{r}");
    let v1 = registry.get_model_version("momo", 1).await.unwrap();
    assert_eq!(v1.current_stage, Stage::Production);

    // 2. The same training again, with rules that promote any challenger not worse in
    // drawdown: the challenger (the same model) is compared and promoted.
    let lenient = serde_json::json!({"min_trades": 0, "min_improvement": -1000.0, "min_confidence": 0.0});
    let second = run_to_end(&e, lenient).await;
    assert_eq!(steps(&second), all(["done"; 6]), "{second}");
    let r = &second["result"];
    assert_eq!(r["decision"], "PROMOTE", "{r}");
    assert_eq!(r["comparison"]["decision"], "PROMOTE", "{r}");
    assert_eq!(r["comparison"]["champion"]["version"], 1);
    assert_eq!(r["comparison"]["challenger"]["version"], 2);
    assert_eq!(r["comparison"]["champion"]["sharpe"], r["comparison"]["challenger"]["sharpe"], "same model, same backtest");
    assert_eq!((r["promotion"]["previous_champion"].as_u64(), r["champion_after"].as_u64()), (Some(1), Some(2)));
    assert!(r["check"]["drift"]["features"].as_array().is_some_and(|f| f.len() == 4), "{r}");
    let model = registry.get_registered_model("momo").await.unwrap();
    // Promotion moves the champion alias and clears the challenger one.
    assert_eq!((model.aliases.get("champion"), model.aliases.get("challenger")), (Some(&2), None));
    assert_eq!(registry.get_model_version("momo", 2).await.unwrap().current_stage, Stage::Production);
    assert_eq!(registry.get_model_version("momo", 1).await.unwrap().current_stage, Stage::Archived);

    // The decision is recorded in the tracker, one run per workflow.
    let exp = tracking.tracker.get_experiment_by_name("retraining/momo").await.unwrap().unwrap();
    let runs = tracking.tracker.search_runs(&RunQuery::experiment(exp.experiment_id)).await.unwrap();
    let decisions: Vec<Option<&String>> = runs.iter().map(|r| r.params.get("decision")).collect();
    assert_eq!(runs.len(), 2);
    assert!(decisions.contains(&Some(&"PROMOTE".to_owned())), "{decisions:?}");
    assert_eq!(r["record_run_id"].as_str().map(|id| runs.iter().any(|run| run.info.run_id == id)), Some(true));

    // 3. `if_needed` with a young champion, no drift possible and no AUC floor: nothing trained.
    let calm = serde_json::json!({"if_needed": true, "psi_threshold": 100.0, "ks_threshold": 1.0, "min_auc": 0.0});
    let third = run_to_end(&e, calm).await;
    assert_eq!(steps(&third), all(["done", "skipped", "skipped", "skipped", "skipped", "skipped"]), "{third}");
    assert_eq!(third["result"]["decision"], "NOT_NEEDED");
    assert_eq!(third["result"]["champion_after"], 2);
    assert_eq!(registry.list_model_versions("momo").await.unwrap().len(), 2, "no version was added");

    // The retraining routes list them; the other job routes do not.
    let (_, page) = call(&e.app, "GET", "/api/v1/retraining?label=momo", None, &[]).await;
    assert_eq!(page["total"], 3, "{page}");
    let id = first["job_id"].as_str().unwrap();
    let (status, _) = call(&e.app, "GET", &format!("/api/v1/hyperopt/{id}"), None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    e.pool.shutdown();
}
