//! backtest-consumer and sqs-consumer: SQS batches with partial batch failure.

use serde_json::json;
use tradai_jobs::{JobFilter, JobRepository};

use crate::harness::{event, harness};

#[tokio::test]
async fn one_bad_message_in_five_is_the_only_batch_item_failure() {
    let h = harness(&[], |_| {}).await;
    let ev = event("backtest-consumer", None);
    let r = h.run("backtest-consumer", ev.clone()).await;
    assert_eq!(r.status_code, 200);
    let sfn = r.to_step_functions();
    // Lambda's partial batch response: only the third message (not JSON) is retried.
    let failures = sfn["batchItemFailures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{sfn}");
    assert_eq!(failures[0]["itemIdentifier"], "059f36b4-87a3-44ab-83d2-661975111802");
    assert!(failures[0]["error"].as_str().unwrap().contains("not JSON"), "{sfn}");
    assert_eq!((sfn["processed"].as_u64(), sfn["succeeded"].as_u64()), (Some(5), Some(4)));
    let jobs = h.db.list(&JobFilter { job_type: Some("backtest".into()), ..JobFilter::default() }).unwrap();
    assert_eq!(jobs.total, 4, "one job per good message");
    let mut labels: Vec<_> = jobs.items.iter().filter_map(|j| j.label.clone()).collect();
    labels.sort();
    assert_eq!(labels, ["BollingerBreakout", "EmaCross", "EmaCross", "RsiReversion"]);

    // SQS delivers at least once: the same batch again starts nothing new.
    let again = h.run("backtest-consumer", ev).await.to_step_functions();
    assert!(again["tasks"].as_array().unwrap().iter().all(|t| t["created"] == false), "{again}");
    assert_eq!(h.db.list(&JobFilter::default()).unwrap().total, 4);
}

#[tokio::test]
async fn a_message_naming_an_existing_job_launches_it_and_a_strategyless_one_fails() {
    let h = harness(&[], |_| {}).await;
    let id = h.job("backtest", "EmaCross", false);
    let body = |b: serde_json::Value| b.to_string();
    let ev = json!({"Records": [
        {"messageId": "m-1", "body": body(json!({"job_id": id, "config": {"strategy": "EmaCross"}}))},
        {"messageId": "m-2", "body": body(json!({"config": {"pairs": ["BTC/USDT"]}}))},
        {"messageId": "m-3", "body": body(json!({"job_id": "no-such-job", "config": {"strategy": "EmaCross"}}))},
    ]});
    let r = h.run("backtest-consumer", ev).await.to_step_functions();
    assert_eq!(r["tasks"][0]["job_id"], id.as_str());
    let f: Vec<_> = r["batchItemFailures"].as_array().unwrap().iter().map(|f| f["itemIdentifier"].as_str().unwrap().to_owned()).collect();
    assert_eq!(f, ["m-2", "m-3"]);
    assert!(r["batchItemFailures"][0]["error"].as_str().unwrap().contains("config.strategy"), "{r}");
}

#[tokio::test]
async fn sqs_consumer_queues_retraining_and_rejects_empty_batches() {
    let h = harness(&[], |_| {}).await;
    let r = h.run("sqs-consumer", event("sqs-consumer", None)).await;
    assert_eq!(r.status_code, 200);
    let job_id = r.body["tasks"][0]["job_id"].as_str().unwrap().to_owned();
    let job = h.db.get(&job_id).unwrap();
    assert_eq!((job.job_type.as_str(), job.label.as_deref()), ("retrain", Some("PascalModel")));
    assert_eq!(job.config["reason"], "drift in rsi_14");
    assert_eq!(r.to_step_functions()["batchItemFailures"], json!([]));

    let empty = h.run("sqs-consumer", json!({"Records": []})).await;
    assert_eq!(empty.status_code, 400);
    let none = h.run("sqs-consumer", json!({})).await;
    assert_eq!(none.status_code, 400);
    assert!(crate::harness::error_of(&none).contains("missing field `Records`"), "{:?}", none.body);
}
