//! The scheduled watchers and the infrastructure handlers: health-check, trading-heartbeat-check,
//! orphan-scanner, pulumi-drift-detector, update-nat-routes, data-collection-proxy; and the
//! wrapper's answers to empty events and unknown names.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};
use tradai_handlers::ports::{HeartbeatSource, InfraChange, InfraDiff, NodeBeat, RouteChange, RouteTables};
use tradai_handlers::{HandlerError, HANDLERS};
use tradai_jobs::{HealthState, JobRepository, StateRepositoryExt};

use crate::harness::{error_of, event, harness, serve, T0};

#[tokio::test]
async fn health_check_alerts_once_after_the_threshold_and_once_on_recovery() {
    let up = Arc::new(AtomicBool::new(true));
    let u = Arc::clone(&up);
    let svc = serve(axum::Router::new().route(
        "/api/v1/health",
        axum::routing::get(move || {
            let healthy = u.load(Ordering::SeqCst);
            async move {
                if healthy {
                    (axum::http::StatusCode::OK, "ok")
                } else {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down")
                }
            }
        }),
    ))
    .await;
    let services = format!("backend-api={svc}/api/v1/health");
    let h = harness(&[("SERVICES", services.as_str()), ("CONSECUTIVE_FAILURE_THRESHOLD", "2")], |_| {}).await;
    let ev = event("health-check", None);
    let step = |n: i64| h.set_clock(T0 + n * 120_000);
    step(0);
    let r = h.run("health-check", ev.clone()).await;
    assert_eq!(r.body["summary"], json!({"healthy": 1, "total": 1, "alerts_sent": 0, "recoveries_sent": 0}), "{:?}", r.body);
    up.store(false, Ordering::SeqCst);
    for n in 1..=4 {
        step(n);
        let r = h.run("health-check", ev.clone()).await;
        assert_eq!(r.status_code, 200);
        assert_eq!(r.body["results"][0]["consecutive_failures"], n, "{:?}", r.body);
        assert_eq!(r.body["summary"]["alerts_sent"], u8::from(n == 2), "alert exactly when the threshold is reached: {:?}", r.body);
    }
    let state: HealthState = h.db.load("backend-api").unwrap().unwrap();
    assert_eq!((state.status.as_str(), state.consecutive_failures, state.alerted), ("unhealthy", 4, true));
    assert_eq!(state.last_error.as_deref(), Some("HTTP 503 Service Unavailable"));
    up.store(true, Ordering::SeqCst);
    step(5);
    assert_eq!(h.run("health-check", ev.clone()).await.body["summary"]["recoveries_sent"], 1);
    step(6);
    assert_eq!(h.run("health-check", ev).await.body["summary"]["recoveries_sent"], 0);
    let got: Vec<_> =
        h.hook.received().iter().map(|n| (n["severity"].as_str().unwrap().to_owned(), n["subject"].as_str().unwrap().to_owned())).collect();
    assert_eq!(
        got,
        [
            ("CRITICAL".to_owned(), "Service unhealthy: backend-api".to_owned()),
            ("INFO".to_owned(), "Service recovered: backend-api".to_owned())
        ]
    );
    assert_eq!(h.handlers.metrics().get("health-check").invocations, 7);
}

#[tokio::test]
async fn a_bad_setting_is_a_500_naming_it() {
    let h = harness(&[("CONSECUTIVE_FAILURE_THRESHOLD", "three")], |_| {}).await;
    let r = h.run("health-check", json!({})).await;
    assert_eq!((r.status_code, r.body["error_type"].as_str()), (500, Some("ConfigurationError")));
    assert!(error_of(&r).contains("CONSECUTIVE_FAILURE_THRESHOLD=\"three\""), "{:?}", r.body);
}

struct Beats(Mutex<Vec<NodeBeat>>);

impl HeartbeatSource for Beats {
    fn nodes(&self, _now_ms: i64) -> Result<Vec<NodeBeat>, HandlerError> {
        Ok(self.0.lock().unwrap().clone())
    }
}

fn beat(bot: &str, stale: bool) -> NodeBeat {
    NodeBeat {
        bot_id: bot.into(),
        strategy: "EmaCross".into(),
        status: "running".into(),
        last_heartbeat_ms: Some(T0 - if stale { 600_000 } else { 30_000 }),
        heartbeat_interval_ms: Some(60_000),
        stale,
        drawdown: Some(if stale { 0.25 } else { 0.05 }),
    }
}

#[tokio::test]
async fn stale_trading_nodes_are_reported_once() {
    let beats = Arc::new(Beats(Mutex::new(vec![beat("dry-eth", false), beat("live-btc", true)])));
    let b = Arc::clone(&beats);
    let h = harness(&[], move |d| d.heartbeats = Some(b)).await;
    let ev = event("trading-heartbeat-check", None);
    let r = h.run("trading-heartbeat-check", ev.clone()).await;
    assert_eq!(r.body["summary"], json!({"nodes": 2, "stale": 1, "alerts_sent": 1, "recoveries_sent": 0}), "{:?}", r.body);
    assert_eq!(r.body["nodes"][1]["heartbeat_age_s"], 600);
    // The drawdown the high-drawdown alarm watches, per node, in percent.
    assert_eq!((r.body["nodes"][0]["drawdown_pct"].as_f64(), r.body["nodes"][1]["drawdown_pct"].as_f64()), (Some(5.0), Some(25.0)));
    assert_eq!(h.run("trading-heartbeat-check", ev.clone()).await.body["summary"]["alerts_sent"], 0);
    *beats.0.lock().unwrap() = vec![beat("dry-eth", false), beat("live-btc", false)];
    assert_eq!(h.run("trading-heartbeat-check", ev).await.body["summary"]["recoveries_sent"], 1);
    let subjects: Vec<_> = h.hook.received().iter().map(|n| n["subject"].as_str().unwrap().to_owned()).collect();
    assert_eq!(subjects, ["Trading node stale: live-btc", "Trading node alive again: live-btc"]);
}

#[tokio::test]
async fn orphans_are_reported_in_dry_run_and_stopped_otherwise() {
    let h = harness(&[("MAX_TASK_RUNTIME_HOURS", "6")], |_| {}).await;
    let id = h.job("backtest", "EmaCross", true);
    let fresh = h.run("orphan-scanner", event("orphan-scanner", None)).await;
    assert_eq!(fresh.body["orphans_found"], 0, "{:?}", fresh.body);
    // Seven hours on, the job runs past its limit.
    h.set_clock(chrono::Utc::now().timestamp_millis() + 7 * 3_600_000);
    let r = h.run("orphan-scanner", event("orphan-scanner", None)).await;
    assert_eq!((r.body["dry_run"].as_bool(), r.body["orphans_found"].as_u64()), (Some(true), Some(1)), "{:?}", r.body);
    assert_eq!(r.body["orphans"][0]["stopped"], false);
    assert!(!h.db.get(&id).unwrap().cancel_requested, "a dry run stops nothing");
    let r = h.run("orphan-scanner", json!({"dry_run": false})).await;
    assert_eq!(r.body["orphans"][0]["stopped"], true, "{:?}", r.body);
    assert!(h.db.get(&id).unwrap().cancel_requested);
    assert_eq!(h.hook.received().len(), 1, "the same orphan is alerted once within the dedup window");
    assert_eq!(h.run("orphan-scanner", json!({"dry_run": "no"})).await.status_code, 400);
}

struct Diff(Vec<InfraChange>);

#[async_trait]
impl InfraDiff for Diff {
    fn stack(&self) -> String {
        "tradai-dev".into()
    }
    async fn diff(&self) -> Result<Vec<InfraChange>, HandlerError> {
        Ok(self.0.clone())
    }
}

#[tokio::test]
async fn infrastructure_drift_needs_a_diff_and_alerts_on_changes() {
    let none = harness(&[], |_| {}).await;
    let r = none.run("pulumi-drift-detector", event("pulumi-drift-detector", None)).await;
    assert_eq!(r.status_code, 500);
    assert!(error_of(&r).contains("infrastructure diff is not configured"), "{:?}", r.body);
    let change = InfraChange { resource: "HealthCheckAlarm".into(), action: "modify".into(), detail: "Threshold 1 -> 3".into() };
    let h = harness(&[], |d| d.infra = Some(Arc::new(Diff(vec![change])))).await;
    let r = h.run("pulumi-drift-detector", event("pulumi-drift-detector", None)).await;
    assert_eq!((r.body["drift_detected"].as_bool(), r.body["changes"][0]["resource"].as_str()), (Some(true), Some("HealthCheckAlarm")));
    assert_eq!(h.hook.received()[0]["subject"], "Infrastructure drift in tradai-dev");
}

/// Records the calls (the EC2 one is tested on the emulator in tradai-aws).
#[derive(Default)]
struct Routes(Mutex<Vec<(String, String)>>);

#[async_trait]
impl RouteTables for Routes {
    async fn point_default_route(&self, route_table_id: &str, instance_id: &str) -> Result<RouteChange, HandlerError> {
        self.0.lock().unwrap().push((route_table_id.into(), instance_id.into()));
        Ok(RouteChange { route_table_id: route_table_id.into(), action: "replaced".into() })
    }

    async fn tables_tagged(&self, key: &str, value: &str) -> Result<Vec<String>, HandlerError> {
        Ok(if (key, value) == ("Name", "tradai-dev-private") { vec!["rtb-0c3".into()] } else { Vec::new() })
    }
}

#[tokio::test]
async fn a_new_nat_instance_gets_the_default_routes() {
    let routes = Arc::new(Routes::default());
    let r2 = Arc::clone(&routes);
    let h = harness(&[("ROUTE_TABLE_IDS", "rtb-0a1, rtb-0b2")], move |d| d.routes = Some(r2)).await;
    let r = h.run("update-nat-routes", event("update-nat-routes", None)).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    assert_eq!(r.body["routes"].as_array().unwrap().len(), 2);
    assert_eq!(
        *routes.0.lock().unwrap(),
        [("rtb-0a1".to_owned(), "i-0a1b2c3d4e5f67890".to_owned()), ("rtb-0b2".to_owned(), "i-0a1b2c3d4e5f67890".to_owned())]
    );
    let mut term = event("update-nat-routes", None);
    term["detail"]["LifecycleTransition"] = json!("autoscaling:EC2_INSTANCE_TERMINATING");
    assert_eq!(h.run("update-nat-routes", term).await.body["updated"], false);
    // Found by tag instead.
    let r3 = Arc::new(Routes::default());
    let r4 = Arc::clone(&r3);
    let tagged = harness(&[("ROUTE_TABLE_TAG", "Name=tradai-dev-private")], move |d| d.routes = Some(r4)).await;
    assert_eq!(tagged.run("update-nat-routes", event("update-nat-routes", None)).await.body["routes"][0]["route_table_id"], "rtb-0c3");
    let none = harness(&[("ROUTE_TABLE_TAG", "Name=nothing")], |d| d.routes = Some(Arc::new(Routes::default()))).await;
    assert!(error_of(&none.run("update-nat-routes", event("update-nat-routes", None)).await).contains("no route table carries this tag"));
    let no_tables = harness(&[], |d| d.routes = Some(Arc::new(Routes::default()))).await;
    assert!(error_of(&no_tables.run("update-nat-routes", event("update-nat-routes", None)).await).contains("ROUTE_TABLE_IDS"));
}

#[tokio::test]
async fn the_data_proxy_forwards_and_maps_refusals() {
    let router = axum::Router::new()
        .route("/api/v1/data/symbols", axum::routing::get(|| async { axum::Json(json!({"symbols": ["BTC/USDT", "ETH/USDT"]})) }))
        .route(
            "/api/v1/data/freshness",
            axum::routing::post(|axum::Json(v): axum::Json<Value>| async move {
                if v.get("symbols").is_none() {
                    return (
                        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                        axum::Json(json!({"error": {"code": "invalid_field", "message": "symbols: missing"}})),
                    );
                }
                (axum::http::StatusCode::OK, axum::Json(json!({"all_fresh": false, "stale_symbols": ["ETH/USDT"]})))
            }),
        );
    let url = serve(router).await;
    let h = harness(&[("DATA_COLLECTION_URL", url.as_str())], |_| {}).await;
    let r = h.run("data-collection-proxy", event("data-collection-proxy", None)).await;
    assert_eq!(r.body["result"]["symbols"], json!(["BTC/USDT", "ETH/USDT"]), "{:?}", r.body);
    let f = h.run("data-collection-proxy", json!({"action": "freshness", "payload": {"symbols": ["ETH/USDT"]}})).await;
    assert_eq!(f.body["result"]["stale_symbols"], json!(["ETH/USDT"]));
    let refused = h.run("data-collection-proxy", json!({"action": "freshness", "payload": {}})).await;
    assert_eq!(refused.status_code, 400);
    assert!(error_of(&refused).contains("symbols: missing"), "{:?}", refused.body);
    assert!(error_of(&h.run("data-collection-proxy", json!({"action": "delete"})).await).contains("'delete' is not one of"));
    let down = harness(&[("DATA_COLLECTION_URL", "http://127.0.0.1:9")], |_| {}).await;
    assert_eq!(down.run("data-collection-proxy", json!({"action": "symbols"})).await.body["error_type"], "DependencyError");
}

#[tokio::test]
async fn every_handler_answers_an_empty_or_malformed_event_without_panicking() {
    let h = harness(&[], |_| {}).await;
    for spec in HANDLERS {
        for ev in [Value::Null, json!("not an object"), json!([1, 2])] {
            let r = h.run(spec.name, ev.clone()).await;
            assert!(matches!(r.status_code, 400 | 500), "{} on {ev}: {:?}", spec.name, r.body);
        }
    }
    let err = h.handlers.invoke("no-such-handler", json!({})).await.unwrap_err();
    assert!(err.to_string().contains("unknown handler 'no-such-handler'"), "{err}");
}
