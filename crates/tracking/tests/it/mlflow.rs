//! The MLflow client's own cases: unreachable, misspelled and slow servers, basic auth, a
//! tracking URI with a path prefix (through a reverse proxy, since `mlflow server` serves its
//! API at the root only), and MLflow's Python client reading back a run TradAI logged.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tradai_tracking::{
    Artifact, ExperimentTracker, Metric, MlflowClient, MlflowConfig, ModelRegistry, NewModelVersion, NewRegisteredModel, RunRecord,
    TrackingError,
};

use crate::harness::{mlflow_uri, mlflow_venv, uniq, workspace_root};

fn client(uri: &str) -> MlflowClient {
    MlflowClient::new(MlflowConfig::new(uri)).unwrap()
}

/// Serves `app` on a free 127.0.0.1 port for the rest of the test; returns `http://127.0.0.1:port`.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_unreachable_server_is_named_and_retryable() {
    let c = client("http://127.0.0.1:1");
    let e = c.get_run("abc").await.unwrap_err();
    assert!(matches!(e, TrackingError::Unreachable { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert_eq!(e.to_string(), "cannot reach the tracking server at http://127.0.0.1:1");
    let e = c.ping().await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    let mut rec = RunRecord::new("job-1", "backtests/x");
    rec.metrics.push(Metric::new("sharpe", 1.0));
    let e = c.log_run(&rec).await.unwrap_err();
    assert!(e.is_retryable(), "an outbox keeps this record: {e:?}");
    let e = c.promote("m", 1).await.unwrap_err();
    assert!(e.is_retryable() && e.to_string().contains("127.0.0.1:1"), "{e}");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // The kernel accepts the connection into the backlog; nobody ever answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    let mut cfg = MlflowConfig::new(&uri);
    cfg.timeout = Duration::from_millis(300);
    let e = MlflowClient::new(cfg).unwrap().get_run("abc").await.unwrap_err();
    assert!(matches!(e, TrackingError::Timeout { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert!(e.to_string().contains(&uri) && e.to_string().contains("GET runs/get"), "{e}");
    drop(listener);
}

#[tokio::test]
async fn a_misspelled_uri_says_no_mlflow_api_there() {
    let uri = format!("{}/mlfow", mlflow_uri());
    let e = client(&uri).get_experiment_by_name("x").await.unwrap_err();
    assert!(matches!(e, TrackingError::NoApi { status: 404, .. }), "{e:?}");
    assert!(!e.is_retryable(), "a wrong URI does not fix itself");
    let msg = e.to_string();
    assert!(msg.contains("/mlfow/api/2.0/mlflow/experiments/get-by-name") && msg.contains("path prefix"), "{msg}");
}

#[tokio::test]
async fn server_failures_are_retryable_and_html_is_not_taken_for_json() {
    let app = axum::Router::new()
        .route("/api/2.0/mlflow/runs/get", axum::routing::get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "upstream down") }))
        .route("/api/2.0/mlflow/experiments/get-by-name", axum::routing::get(|| async { "<html>login page</html>" }));
    let uri = serve(app).await;
    let c = client(&uri);
    let e = c.get_run("abc").await.unwrap_err();
    assert!(matches!(e, TrackingError::Server { status: 503, .. }) && e.is_retryable(), "{e:?}");
    assert!(e.to_string().contains("upstream down"), "{e}");
    let e = c.get_experiment_by_name("x").await.unwrap_err();
    assert!(matches!(e, TrackingError::BadResponse { .. }) && e.to_string().contains("is this an MLflow server"), "{e}");
}

#[tokio::test]
async fn basic_auth_is_sent_and_never_shown() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let app = axum::Router::new().fallback(|State(seen): State<Arc<Mutex<Vec<String>>>>, headers: HeaderMap| async move {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        seen.lock().unwrap().push(auth);
        if headers.get("authorization").is_none() {
            return (StatusCode::UNAUTHORIZED, "").into_response();
        }
        (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"}))).into_response()
    });
    let uri = serve(app.with_state(Arc::clone(&seen))).await;

    let e = client(&uri).get_experiment_by_name("x").await.unwrap_err();
    assert!(matches!(e, TrackingError::Unauthorized { status: 401, .. }), "{e:?}");
    assert!(e.to_string().contains("MLFLOW_TRACKING_USERNAME"), "{e}");

    let mut cfg = MlflowConfig::new(&uri);
    cfg.username = Some("alice".into());
    cfg.password = Some(tradai_settings::Secret::new("s3cret"));
    let shown = format!("{cfg:?}");
    let c = MlflowClient::new(cfg).unwrap();
    assert!(c.get_experiment_by_name("x").await.unwrap().is_none());
    assert_eq!(seen.lock().unwrap().last().unwrap(), "Basic YWxpY2U6czNjcmV0", "base64 of alice:s3cret");
    let shown = format!("{shown} {c:?}");
    assert!(!shown.contains("s3cret") && shown.contains("alice"), "{shown}");

    // Credentials in the URI work too and are dropped from it.
    let with_user = uri.replace("http://", "http://bob:pw@");
    let c = client(&with_user);
    assert!(c.get_experiment_by_name("x").await.unwrap().is_none());
    assert_eq!(seen.lock().unwrap().last().unwrap(), "Basic Ym9iOnB3");
    assert_eq!(ExperimentTracker::uri(&c), uri);
}

/// A reverse proxy serving the real MLflow server under `/mlflow`, as a load balancer would.
async fn prefix_proxy(upstream: String) -> String {
    async fn forward(State(upstream): State<Arc<String>>, req: Request) -> Response {
        let path_query = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
        let Some(rest) = path_query.strip_prefix("/mlflow/") else {
            return (StatusCode::NOT_FOUND, "<html>no such path</html>").into_response();
        };
        let method = req.method().clone();
        let content_type = req.headers().get("content-type").cloned();
        let body = axum::body::to_bytes(req.into_body(), usize::MAX).await.unwrap();
        let mut r = reqwest::Client::new().request(method, format!("{upstream}/{rest}")).body(body);
        if let Some(ct) = content_type {
            r = r.header("content-type", ct);
        }
        let resp = r.send().await.unwrap();
        let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
        (status, Body::from(resp.bytes().await.unwrap())).into_response()
    }
    let app = axum::Router::new().fallback(forward).with_state(Arc::new(upstream));
    format!("{}/mlflow", serve(app).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_prefixed_tracking_uri_reaches_every_endpoint() {
    let uri = prefix_proxy(mlflow_uri()).await;
    let t = tradai_tracking::open(&format!("{uri}/")).unwrap();
    assert_eq!(t.tracker.uri(), uri);
    t.tracker.ping().await.unwrap();

    let mut rec = RunRecord::new(uniq("job"), uniq("backtests/prefixed"));
    rec.params.insert("strategy".into(), "EmaCross".into());
    rec.metrics.push(Metric::new("sharpe", 1.1));
    rec.artifacts.push(Artifact { path: "plots/equity.svg".into(), content: b"<svg/>".to_vec() });
    let id = t.tracker.log_run(&rec).await.unwrap();
    assert_eq!(t.tracker.log_run(&rec).await.unwrap(), id);
    let run = t.tracker.get_run(&id).await.unwrap();
    assert_eq!(run.metric("sharpe"), Some(1.1));
    assert_eq!(t.tracker.list_artifacts(&id, Some("plots")).await.unwrap()[0].path, "plots/equity.svg");
    assert_eq!(t.tracker.download_artifact(&id, "plots/equity.svg").await.unwrap(), b"<svg/>");

    let name = uniq("Prefixed");
    t.registry.create_registered_model(&NewRegisteredModel { name: name.clone(), ..Default::default() }).await.unwrap();
    let v = t
        .registry
        .create_model_version(&NewModelVersion {
            name: name.clone(),
            source: format!("runs:/{id}/model"),
            run_id: Some(id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(t.registry.promote(&name, v.version).await.unwrap().version, 1);

    // Without the prefix the proxy has nothing: the error says to check the prefix.
    let e = client(uri.trim_end_matches("/mlflow")).get_run(&id).await.unwrap_err();
    assert!(matches!(e, TrackingError::NoApi { .. }) && e.to_string().contains("path prefix"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mlflows_python_client_reads_what_tradai_logged() {
    let uri = mlflow_uri();
    let t = tradai_tracking::open(&uri).unwrap();
    let mut rec = RunRecord::new(uniq("job"), uniq("backtests/EmaCross"));
    rec.run_name = Some("EmaCross BTC 1h".into());
    for (k, v) in [("strategy", "EmaCross"), ("pairs", "BTC/USDT,ETH/USDT"), ("timeframe", "1h"), ("stake_amount", "100")] {
        rec.params.insert(k.into(), v.into());
    }
    rec.metrics.push(Metric::new("sharpe", 1.75));
    rec.metrics.push(Metric::new("total_trades", 42.0));
    rec.metrics.push(Metric::new("sortino", f64::NAN));
    rec.metrics.push(Metric { key: "equity".into(), value: 100.0, timestamp: 1, step: 0 });
    rec.metrics.push(Metric { key: "equity".into(), value: 104.5, timestamp: 2, step: 1 });
    rec.tags.insert("job_id".into(), "job-42".into());
    rec.tags.insert("tradai.version".into(), "0.1.0".into());
    let trades = r#"[{"pair": "BTC/USDT", "profit_ratio": 0.01}]"#;
    rec.artifacts.push(Artifact { path: "trades.json".into(), content: trades.as_bytes().to_vec() });
    rec.artifacts.push(Artifact { path: "plots/equity.svg".into(), content: b"<svg></svg>".to_vec() });
    let run_id = t.tracker.log_run(&rec).await.unwrap();

    let model = uniq("EmaCross");
    t.registry.create_registered_model(&NewRegisteredModel { name: model.clone(), ..Default::default() }).await.unwrap();
    for _ in 0..2 {
        let mut tags = tradai_tracking::Tags::new();
        tags.insert("timeframe".into(), "1h".into());
        let v = t
            .registry
            .create_model_version(&NewModelVersion {
                name: model.clone(),
                source: format!("runs:/{run_id}/strategy"),
                run_id: Some(run_id.clone()),
                tags,
                description: None,
            })
            .await
            .unwrap();
        t.registry.promote(&model, v.version).await.unwrap();
    }

    let expected = serde_json::json!({
        "tracking_uri": uri,
        "run_id": run_id,
        "status": "FINISHED",
        "run_name": "EmaCross BTC 1h",
        "params": rec.params,
        "metrics": {"sharpe": 1.75, "total_trades": 42.0, "sortino": null, "equity": 104.5},
        "tags": {"job_id": "job-42", "tradai.version": "0.1.0", "tradai.record_id": rec.record_id},
        "artifacts": {"trades.json": trades, "plots/equity.svg": "<svg></svg>"},
        "model": {"name": model, "champion": 2, "stage": "Production", "tags": {"timeframe": "1h"}},
    });
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(&expected).unwrap()).unwrap();
    let python = mlflow_venv().join("bin/python");
    assert!(
        python.exists(),
        "MLflow's Python client is needed for this check: {} is missing (scripts/mlflow-server.sh --install-only)",
        python.display()
    );
    let out = tokio::process::Command::new(&python)
        .arg(workspace_root().join("scripts/mlflow-check.py"))
        .arg(file.path())
        .env_remove("MLFLOW_TRACKING_URI")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "mlflow-check.py failed ({}):\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("ok: run"), "{stdout}");
}
