//! update-status, cleanup-resources, validate-strategy, notify-completion.

use serde_json::json;
use tradai_jobs::{JobRepository, JobStatus};

use crate::harness::{error_of, event, harness, serve};

#[tokio::test]
async fn update_status_moves_a_job_and_refuses_illegal_moves() {
    let h = harness(&[], |_| {}).await;
    let id = h.job("backtest", "EmaCross", true);
    let r = h.run("update-status", event("update-status", Some(&id))).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    let sfn = r.to_step_functions();
    assert_eq!(
        (sfn["previous_status"].as_str(), sfn["job"]["status"].as_str(), sfn["changed"].as_bool()),
        (Some("RUNNING"), Some("COMPLETED"), Some(true))
    );
    let job = h.db.get(&id).unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.result.unwrap()["summary"]["profit_total_abs"], 41.5);
    // A Step Functions retry of the same update is a no-op; a finished job cannot reopen.
    assert_eq!(h.run("update-status", event("update-status", Some(&id))).await.body["changed"], false);
    let back = h.run("update-status", json!({"job_id": id, "status": "RUNNING"})).await;
    assert_eq!(back.status_code, 400, "{:?}", back.body);
    let unknown = h.run("update-status", json!({"job_id": "nope", "status": "FAILED"})).await;
    assert_eq!((unknown.status_code, unknown.body["error_type"].as_str()), (404, Some("NotFoundError")));
    let bad = h.run("update-status", json!({"job_id": id, "status": "DONE"})).await;
    assert!(error_of(&bad).contains("'DONE' is not a job status"), "{:?}", bad.body);
}

#[tokio::test]
async fn cleanup_stops_the_tasks_and_fails_the_job() {
    let h = harness(&[], |_| {}).await;
    let running = h.job("backtest", "EmaCross", true);
    let r = h.run("cleanup-resources", event("cleanup-resources", Some(&running))).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    assert_eq!(r.body["stopped_tasks"], json!([running]));
    assert!(h.db.get(&running).unwrap().cancel_requested, "the running job's worker is told to stop");

    let pending = h.job("backtest", "EmaCross", false);
    let r = h.run("cleanup-resources", json!({"job_id": pending})).await;
    assert_eq!(h.db.get(&pending).unwrap().status, JobStatus::Cancelled, "{:?}", r.body);
}

#[tokio::test]
async fn validate_strategy_asks_the_strategy_service() {
    let state = tradai_server::strategy_service::StrategyState {
        registry: std::sync::Arc::new(tradai_engine::StrategyRegistry::builtin()),
        config_dir: std::env::temp_dir(),
        tracking: None,
    };
    let url = serve(tradai_server::strategy_app(state, tradai_server::middleware::Limits::default())).await;
    let h = harness(&[("STRATEGY_SERVICE_URL", url.as_str())], |_| {}).await;
    let ok = h.run("validate-strategy", event("validate-strategy", None)).await;
    assert_eq!((ok.status_code, ok.body["valid"].as_bool()), (200, Some(true)), "{:?}", ok.body);
    let bad = h.run("validate-strategy", json!({"strategy": "EmaCross", "pairs": ["BTCUSDT"], "timeframe": "5m"})).await;
    assert_eq!(bad.body["valid"], false, "{:?}", bad.body);
    assert_eq!(bad.body["validation"]["errors"][0]["field"], "pairs[0]");
    let unknown = h.run("validate-strategy", json!({"strategy": "NoSuchStrategy"})).await;
    assert_eq!(unknown.status_code, 400, "{:?}", unknown.body);
    assert!(error_of(&unknown).contains("strategy-service refused"), "{:?}", unknown.body);
}

#[tokio::test]
async fn notify_completion_sends_one_notice_per_finished_job() {
    let h = harness(&[], |_| {}).await;
    let id = h.job("backtest", "EmaCross", true);
    h.db.transition(&id, JobStatus::Completed, Some(json!({"summary": {"profit_total_abs": 41.5}})), None).unwrap();
    let r = h.run("notify-completion", event("notify-completion", Some(&id))).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    assert_eq!(r.body["notification"], json!({"sent": 1}));
    // Step Functions may retry the state: the same completion is not announced twice.
    assert_eq!(h.run("notify-completion", event("notify-completion", Some(&id))).await.body["notification"], "deduplicated");
    let got = h.hook.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0]["severity"].as_str(), got[0]["details"]["job_id"].as_str()), (Some("INFO"), Some(id.as_str())));
    assert!(got[0]["message"].as_str().unwrap().contains("(profit 41.5)"), "{got:?}");
    let running = h.job("backtest", "EmaCross", true);
    assert_eq!(h.run("notify-completion", json!({"job_id": running})).await.status_code, 400);
}
