//! The test harness: handlers over a fresh SQLite database and embedded tracker, a webhook
//! receiver, a movable clock, and the testdata events.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tradai_handlers::settings::Vars;
use tradai_handlers::{Deps, Handlers, LambdaResponse};
use tradai_jobs::{JobRepository, NewJob, SqliteJobRepository};

/// 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600_000;

/// Notifications a local webhook received.
#[derive(Clone, Default)]
pub struct Hook(pub Arc<Mutex<Vec<Value>>>);

impl Hook {
    pub fn received(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }
}

/// Starts an HTTP server for `router` on a free local port; returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
    format!("http://{addr}")
}

/// A webhook receiver.
pub async fn webhook() -> (String, Hook) {
    let hook = Hook::default();
    let h = hook.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let h = h.clone();
            async move {
                h.0.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    (format!("{}/hook", serve(router).await), hook)
}

pub struct Harness {
    pub handlers: Handlers,
    pub db: Arc<SqliteJobRepository>,
    pub tracking: tradai_tracking::Tracking,
    pub hook: Hook,
    pub clock: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
}

/// Handlers on fresh back ends; `customize` adds parts; `vars` are the settings.
pub async fn harness(vars: &[(&str, &str)], customize: impl FnOnce(&mut Deps)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(SqliteJobRepository::open(&dir.path().join("tradai.sqlite")).unwrap());
    let store = Arc::new(tradai_tracking::EmbeddedStore::open(&dir.path().join("tracking")).unwrap());
    let tracking = tradai_tracking::Tracking { tracker: store.clone(), registry: store };
    let clock = Arc::new(AtomicI64::new(T0));
    let (url, hook) = webhook().await;
    let mut deps = Deps::minimal();
    let jobs: Arc<dyn JobRepository> = db.clone();
    deps.tasks = Some(Arc::new(tradai_handlers::local::JobQueueLauncher::new(Arc::clone(&jobs))));
    deps.jobs = Some(jobs);
    deps.state = Some(db.clone());
    deps.tracking = Some(tracking.clone());
    let c = Arc::clone(&clock);
    deps.clock = Arc::new(move || c.load(Ordering::SeqCst));
    customize(&mut deps);
    let mut v = Vars::default().with("ENVIRONMENT", "test").with("ALERT_WEBHOOK_URL", url);
    for (k, val) in vars {
        v = v.with(k, *val);
    }
    let handlers = Handlers::new(deps, v, &serde_json::Map::new(), Vec::new()).unwrap();
    Harness { handlers, db, tracking, hook, clock, _dir: dir }
}

impl Harness {
    /// Invokes a handler and checks that both shapes carry the same body.
    pub async fn run(&self, name: &str, event: Value) -> LambdaResponse {
        let inv = self.handlers.invoke(name, event).await.unwrap();
        check_shapes(&inv.response);
        inv.response
    }

    /// A job (PENDING), optionally claimed (RUNNING).
    pub fn job(&self, job_type: &str, label: &str, claim: bool) -> String {
        let (j, _) = self
            .db
            .create(NewJob {
                job_type: job_type.into(),
                config: json!({"strategy": label}),
                idempotency_key: None,
                label: Some(label.into()),
            })
            .unwrap();
        if claim {
            self.db.claim_next(&[job_type], "worker-1").unwrap().unwrap();
        }
        j.id
    }

    pub fn set_clock(&self, ms: i64) {
        self.clock.store(ms, Ordering::SeqCst);
    }
}

/// `to_dict()` is `{statusCode, body: "<json>"}` whose decoded body is `to_step_functions()`
/// (less the `statusCode` a failure adds there), and both carry environment and timestamp.
pub fn check_shapes(r: &LambdaResponse) {
    let d = r.to_dict();
    assert_eq!(d["statusCode"], r.status_code);
    let body: Value = serde_json::from_str(d["body"].as_str().expect("the dict body is a JSON string")).unwrap();
    let mut sfn = r.to_step_functions();
    if !r.is_success() {
        assert_eq!(sfn["statusCode"], r.status_code);
        sfn.as_object_mut().unwrap().remove("statusCode");
        assert!(body["error"].is_string() && body["error_type"].is_string(), "{body}");
    }
    assert_eq!(body, sfn);
    assert_eq!(body["environment"], "test");
    assert!(body["timestamp"].as_str().unwrap().starts_with("20"), "{body}");
}

/// The testdata event of a handler, with `REPLACE_WITH_JOB_ID` replaced.
pub fn event(name: &str, job_id: Option<&str>) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/handlers").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text.replace("REPLACE_WITH_JOB_ID", job_id.unwrap_or(""))).unwrap()
}

/// The body's error, for failures.
pub fn error_of(r: &LambdaResponse) -> String {
    r.body["error"].as_str().unwrap_or_default().to_owned()
}
