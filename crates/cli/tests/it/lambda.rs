//! `tradai lambda` through a local stand-in of the Lambda Runtime API (the routes Lambda
//! serves a function: `invocation/next`, `{id}/response`, `{id}/error`): an event goes in,
//! the handler's response comes back in the shape its trigger expects, with an Embedded Metric
//! Format line on stdout; an SQS batch the handler cannot read is a function error.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde_json::{json, Value};

use crate::services::tradai;

#[derive(Clone, Default)]
struct RuntimeApi {
    events: Arc<Mutex<VecDeque<(String, Value)>>>,
    responses: Arc<Mutex<Vec<(String, Value)>>>,
    errors: Arc<Mutex<Vec<(String, Value)>>>,
}

async fn next(State(api): State<RuntimeApi>) -> impl IntoResponse {
    loop {
        let ev = api.events.lock().unwrap().pop_front();
        if let Some((id, body)) = ev {
            let mut h = HeaderMap::new();
            h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
            h.insert("lambda-runtime-deadline-ms", deadline.to_string().parse().unwrap());
            h.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:eu-central-1:123456789012:function:tradai-test".parse().unwrap(),
            );
            h.insert(
                "lambda-runtime-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".parse().unwrap(),
            );
            return (h, body.to_string());
        }
        // A long poll, as Lambda's: the function waits for its next event.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn response(State(api): State<RuntimeApi>, Path(id): Path<String>, body: String) -> impl IntoResponse {
    api.responses.lock().unwrap().push((id, serde_json::from_str(&body).unwrap_or(Value::String(body))));
    (axum::http::StatusCode::ACCEPTED, "{\"status\":\"OK\"}")
}

async fn error(State(api): State<RuntimeApi>, Path(id): Path<String>, body: String) -> impl IntoResponse {
    api.errors.lock().unwrap().push((id, serde_json::from_str(&body).unwrap_or(Value::String(body))));
    (axum::http::StatusCode::ACCEPTED, "{\"status\":\"OK\"}")
}

type Answers = (Vec<(String, Value)>, Vec<(String, Value)>, String);

/// Runs `tradai lambda` for `handler` over `events` with `ENVIRONMENT=test` and no AWS region
/// (the runner's region, which scripts/test.sh sets for the emulator, would switch on the
/// infrastructure drift detector); returns responses, errors and stdout.
fn invoke(handler: &str, events: Vec<Value>) -> Answers {
    invoke_with(handler, events, &[("ENVIRONMENT", "test")])
}

/// [`invoke`] with the variables `env` set over it.
fn invoke_with(handler: &str, events: Vec<Value>, env: &[(&str, &str)]) -> Answers {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let api = RuntimeApi::default();
    let n = events.len();
    api.events.lock().unwrap().extend(events.into_iter().enumerate().map(|(i, e)| (format!("req-{i}"), e)));
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", axum::routing::get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", axum::routing::post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", axum::routing::post(error))
        .with_state(api.clone());
    let l = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = l.local_addr().unwrap();
    rt.spawn(async move { axum::serve(l, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tradai();
    cmd.arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("lambda")
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", format!("tradai-test-{handler}"))
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]abc")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/tradai-test-{handler}"))
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.envs(env.iter().copied());
    let child = cmd.spawn().unwrap();
    let start = Instant::now();
    while api.responses.lock().unwrap().len() + api.errors.lock().unwrap().len() < n {
        assert!(start.elapsed() < Duration::from_secs(60), "the function answered only part of the events");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut child = child;
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let responses = api.responses.lock().unwrap().clone();
    let errors = api.errors.lock().unwrap().clone();
    (responses, errors, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn testdata(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/handlers").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn a_lambda_invocation_round_trips_through_the_runtime_api() {
    let (responses, errors, stdout) = invoke("compare-models", vec![testdata("compare-models"), json!({"champion": {}})]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].0, "req-0");
    // Step Functions shape: the body's fields at the top level.
    assert_eq!(responses[0].1["decision"], "PROMOTE", "{:?}", responses[0]);
    assert_eq!(responses[0].1["environment"], "test");
    // A bad event is the handler's 400 answer, not a crash of the function.
    assert_eq!((responses[1].1["statusCode"].as_u64(), responses[1].1["error_type"].as_str()), (Some(400), Some("ValidationError")));
    // One Embedded Metric Format line per invocation, in the handler's namespace.
    let emf: Vec<Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).filter(|v: &Value| v.get("_aws").is_some()).collect();
    assert_eq!(emf.len(), 2, "{stdout}");
    assert_eq!(emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"], "TradAI/CompareModels");
    assert_eq!((emf[0]["Errors"].as_f64(), emf[1]["Errors"].as_f64()), (Some(0.0), Some(1.0)), "{emf:?}");
}

#[test]
fn an_unreadable_sqs_batch_is_a_function_error_and_a_partial_failure_a_response() {
    let (responses, errors, _) = invoke("backtest-consumer", vec![testdata("backtest-consumer"), json!({"Records": "nope"})]);
    assert_eq!(responses.len(), 1, "{responses:?}");
    let failures = responses[0].1["batchItemFailures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["itemIdentifier"], "059f36b4-87a3-44ab-83d2-661975111802");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "req-1");
    assert!(errors[0].1.to_string().contains("Records"), "{:?}", errors[0]);
}

#[test]
fn an_environment_without_stacks_fails_only_the_drift_detector() {
    // `local` is a fine environment for the handlers, but no stack is rendered for it: with a
    // region set, only pulumi-drift-detector (which diffs the deployed stacks) may fail.
    let env = [("ENVIRONMENT", "local"), ("AWS_REGION", "eu-central-1")];
    let (responses, errors, _) = invoke_with("compare-models", vec![testdata("compare-models")], &env);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(responses[0].1["decision"], "PROMOTE", "{:?}", responses[0]);
    assert_eq!(responses[0].1["environment"], "local");
    let (responses, errors, _) = invoke_with("pulumi-drift-detector", vec![testdata("pulumi-drift-detector")], &env);
    assert!(errors.is_empty(), "{errors:?}");
    let r = &responses[0].1;
    let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!((r["statusCode"].as_u64(), body["error_type"].as_str()), (Some(500), Some("ConfigurationError")), "{r}");
    assert!(body["error"].as_str().unwrap().contains("ENVIRONMENT=\"local\""), "{body}");
    assert_eq!(body["environment"], "local");
}
