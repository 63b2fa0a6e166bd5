//! The model lifecycle on the embedded registry: check-retraining-needed, compare-models,
//! promote-model, model-rollback, retraining-scheduler, drift-monitor.

use std::sync::Arc;

use serde_json::json;
use tradai_jobs::{DriftState, JobFilter, JobRepository, RetrainingState, StateRepositoryExt};
use tradai_tracking::{NewModelVersion, NewRegisteredModel};

use crate::harness::{error_of, event, harness, Harness, T0};

/// `PascalModel` with versions 1..=n.
async fn model(h: &Harness, n: u64) {
    let r = &h.tracking.registry;
    r.create_registered_model(&NewRegisteredModel { name: "PascalModel".into(), ..Default::default() }).await.unwrap();
    for v in 1..=n {
        r.create_model_version(&NewModelVersion {
            name: "PascalModel".into(),
            source: format!("models:/PascalModel/{v}"),
            ..Default::default()
        })
        .await
        .unwrap();
    }
}

fn drift(has: bool) -> DriftState {
    DriftState {
        model_name: "PascalModel".into(),
        version: Some(1),
        has_drift: has,
        drifted_features: if has { vec!["rsi_14".into()] } else { Vec::new() },
        max_psi: if has { 0.31 } else { 0.02 },
        consecutive_failures: u32::from(has),
        last_check_ms: T0,
    }
}

#[tokio::test]
async fn retraining_is_needed_on_drift_or_without_a_champion() {
    let h = harness(&[], |_| {}).await;
    model(&h, 1).await;
    let r = h.run("check-retraining-needed", event("check-retraining-needed", None)).await;
    assert_eq!(r.body["retraining_needed"], true, "{:?}", r.body);
    assert_eq!(r.body["reasons"], json!(["no production version"]));

    h.tracking.registry.promote("PascalModel", 1).await.unwrap();
    h.set_clock(chrono::Utc::now().timestamp_millis());
    h.db.save(&drift(false)).unwrap();
    let r = h.run("check-retraining-needed", event("check-retraining-needed", None)).await;
    assert_eq!((r.body["retraining_needed"].as_bool(), r.body["production_version"].as_u64()), (Some(false), Some(1)), "{:?}", r.body);

    h.db.save(&drift(true)).unwrap();
    let r = h.run("check-retraining-needed", event("check-retraining-needed", None)).await;
    assert_eq!(r.to_step_functions()["reasons"], json!(["drift in rsi_14 (PSI 0.310)"]));

    // Too old: the age limit is a setting.
    let old = harness(&[("MAX_MODEL_AGE_DAYS", "10")], |_| {}).await;
    model(&old, 1).await;
    old.tracking.registry.promote("PascalModel", 1).await.unwrap();
    old.set_clock(chrono::Utc::now().timestamp_millis() + 11 * 86_400_000);
    let r = old.run("check-retraining-needed", json!({"model_name": "PascalModel"})).await;
    assert!(r.body["reasons"][0].as_str().unwrap().starts_with("champion is 11.0 days old"), "{:?}", r.body);

    let missing = h.run("check-retraining-needed", json!({"model": "PascalModel"})).await;
    assert_eq!(missing.status_code, 400);
    assert!(error_of(&missing).contains("model_name"), "{:?}", missing.body);
}

#[tokio::test]
async fn compare_models_decides_from_the_backtests() {
    let h = harness(&[], |_| {}).await;
    let r = h.run("compare-models", event("compare-models", None)).await;
    assert_eq!(r.status_code, 200);
    let sfn = r.to_step_functions();
    assert_eq!((sfn["decision"].as_str(), sfn["challenger_version"].as_u64()), (Some("PROMOTE"), Some(3)), "{sfn}");
    assert!(sfn["comparison"]["confidence"].as_f64().unwrap() > 0.9);
    // Swapped, the challenger is worse.
    let mut ev = event("compare-models", None);
    let champion = ev["champion"].take();
    ev["champion"] = ev["challenger"].take();
    ev["challenger"] = champion;
    assert_eq!(h.run("compare-models", ev).await.body["decision"], "KEEP");
    let bad = h.run("compare-models", json!({"champion": {"version": 1}})).await;
    assert!(error_of(&bad).contains("champion"), "{:?}", bad.body);
}

#[tokio::test]
async fn promote_model_moves_the_champion_unless_the_decision_says_otherwise() {
    let h = harness(&[], |_| {}).await;
    model(&h, 3).await;
    let r = h.run("promote-model", event("promote-model", None)).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    assert_eq!((r.body["promoted"].as_bool(), r.body["version"].as_u64()), (Some(true), Some(3)));
    assert_eq!(h.tracking.registry.production_version("PascalModel").await.unwrap().unwrap().version, 3);
    let keep = h.run("promote-model", json!({"model_name": "PascalModel", "version": 2, "decision": "KEEP"})).await;
    assert_eq!((keep.body["promoted"].as_bool(), keep.body["champion"].as_u64()), (Some(false), Some(3)));
    let unknown = h.run("promote-model", json!({"model_name": "PascalModel", "version": 9})).await;
    assert_eq!(unknown.status_code, 404, "{:?}", unknown.body);
}

#[tokio::test]
async fn an_alarm_rolls_the_model_back_and_notifies() {
    let h = harness(&[], |_| {}).await;
    model(&h, 2).await;
    h.tracking.registry.promote("PascalModel", 1).await.unwrap();
    h.tracking.registry.promote("PascalModel", 2).await.unwrap();
    let r = h.run("model-rollback", event("model-rollback", None)).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    assert_eq!((r.body["rolled_back"].as_bool(), r.body["restored_version"].as_u64()), (Some(true), Some(1)));
    assert!(r.body["reason"].as_str().unwrap().contains("tradai-dev-high-drawdown-PascalModel"));
    assert_eq!(h.tracking.registry.production_version("PascalModel").await.unwrap().unwrap().version, 1);
    let got = h.hook.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["severity"], "CRITICAL");
    assert!(got[0]["message"].as_str().unwrap().contains("from version 2 to 1"), "{got:?}");

    // Back to OK: nothing to do. No earlier champion left: the caller is told.
    let mut ok = event("model-rollback", None);
    ok["detail"]["state"]["value"] = json!("OK");
    assert_eq!(h.run("model-rollback", ok).await.body["rolled_back"], false);
    let none = h.run("model-rollback", event("model-rollback", None)).await;
    assert_eq!(none.status_code, 400, "{:?}", none.body);
    assert!(error_of(&none).contains("no earlier champion"), "{:?}", none.body);
    let mut nameless = event("model-rollback", None);
    nameless["detail"]["configuration"] = json!({"metrics": []});
    assert!(error_of(&h.run("model-rollback", nameless).await).contains("names no model"));
}

#[tokio::test]
async fn the_scheduler_queues_one_retraining_per_cooldown() {
    let h = harness(&[], |_| {}).await;
    model(&h, 1).await;
    h.tracking.registry.promote("PascalModel", 1).await.unwrap();
    h.set_clock(chrono::Utc::now().timestamp_millis());
    h.db.save(&drift(true)).unwrap();
    let r = h.run("retraining-scheduler", event("retraining-scheduler", None)).await;
    assert_eq!((r.status_code, r.body["queued"].as_u64()), (200, Some(1)), "{:?}", r.body);
    let jobs = h.db.list(&JobFilter { job_type: Some("retrain".into()), ..JobFilter::default() }).unwrap();
    assert_eq!(jobs.total, 1);
    let state: RetrainingState = h.db.load("PascalModel").unwrap().unwrap();
    assert_eq!((state.status.as_str(), state.last_job_id.as_deref()), ("queued", Some(jobs.items[0].id.as_str())));
    // Six hours later the drift is still there, but the cooldown (24 h) holds.
    h.set_clock(h.clock.load(std::sync::atomic::Ordering::SeqCst) + 6 * 3_600_000);
    let r = h.run("retraining-scheduler", json!({})).await;
    assert_eq!((r.body["queued"].as_u64(), r.body["models"][0]["cooling_down"].as_bool()), (Some(0), Some(true)), "{:?}", r.body);
    assert_eq!(h.db.list(&JobFilter { job_type: Some("retrain".into()), ..JobFilter::default() }).unwrap().total, 1);
}

#[tokio::test]
async fn drift_monitor_skips_models_without_an_artifact_and_needs_a_candle_store() {
    let h = harness(&[], |_| {}).await;
    let r = h.run("drift-monitor", event("drift-monitor", None)).await;
    assert_eq!(r.status_code, 500, "{:?}", r.body);
    assert!(error_of(&r).contains("candle store is not configured"), "{:?}", r.body);
}

const DAY_MS: i64 = 86_400_000;

/// Hourly GBM candles of `pairs` from `start_ms` for `days` (the store's generator).
fn gbm(
    pairs: &[tradai_core::Pair],
    start_ms: i64,
    days: u32,
    seed: u64,
    volatility: f64,
) -> Vec<(tradai_core::Pair, tradai_core::Candles)> {
    let mut spec = tradai_store::SynthSpec::new(pairs.to_vec(), tradai_core::Timeframe::H1, days, seed);
    spec.start_ms = start_ms;
    spec.annual_volatility = volatility;
    pairs.iter().enumerate().map(|(i, p)| (p.clone(), tradai_store::synth_series(&spec, i))).collect()
}

#[tokio::test]
async fn drift_monitor_finds_drift_in_the_stored_candles_records_it_alerts_and_the_scheduler_retrains() {
    use tradai_ml::{parse_features, register_model, train, LabelSpec, TrainConfig, DEFAULT_FEATURES};

    // The candle store: the training history, a calm window, then a volatility regime change.
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap().to_owned();
    let pairs: Vec<tradai_core::Pair> = ["BTC/USDT", "ETH/USDT"].iter().map(|p| p.parse().unwrap()).collect();
    let history = gbm(&pairs, T0 - 300 * DAY_MS, 240, 1, 0.8);
    let calm = gbm(&pairs, T0 - 60 * DAY_MS, 60, 2, 0.8);
    let stormy = gbm(&pairs, T0, 60, 3, 2.4);
    let store = tradai_store::CandleStore::open(&location).unwrap();
    let exchange = tradai_core::ExchangeId::new("binance").unwrap();
    for part in [&history, &calm, &stormy] {
        for (p, c) in part.iter() {
            store.append(&tradai_store::SeriesKey::new(exchange.clone(), p.clone(), tradai_core::Timeframe::H1), c).await.unwrap();
        }
    }
    let candles = Arc::new(tradai_handlers::candles::StoreCandles::open(&location, "binance").unwrap());
    let vars = [("MODEL_NAMES", "DriftModel"), ("DRIFT_WINDOW_DAYS", "30")];
    let h = harness(&vars, move |d| d.candles = Some(candles)).await;

    // A model trained on the history, registered and promoted: the champion the monitor checks.
    let cfg = TrainConfig {
        name: "DriftModel".into(),
        features: parse_features(DEFAULT_FEATURES).unwrap(),
        label: LabelSpec { horizon: 4 },
        algo: "logistic".parse().unwrap(),
        folds: 3,
        timeframe: tradai_core::Timeframe::H1,
        seed: 1,
        trained_at_ms: T0 - 60 * DAY_MS,
    };
    let outcome = train(&cfg, &history, &|_| {}).unwrap();
    let v = register_model(h.tracking.tracker.as_ref(), h.tracking.registry.as_ref(), &outcome).await.unwrap();
    h.tracking.registry.promote("DriftModel", v.version).await.unwrap();

    // The calm month: no drift, nothing sent, the state says so.
    let r = h.run("drift-monitor", event("drift-monitor", None)).await;
    assert_eq!(r.status_code, 200, "{:?}", r.body);
    assert_eq!((r.body["drifted"].as_u64(), r.body["models"][0]["has_drift"].as_bool()), (Some(0), Some(false)), "{:?}", r.body);
    let s: DriftState = h.db.load("DriftModel").unwrap().unwrap();
    assert_eq!((s.has_drift, s.consecutive_failures, s.version), (false, 0, Some(v.version)));
    assert!(h.hook.received().is_empty());

    // A month into the storm: drift in the volatility features, recorded and alerted.
    h.set_clock(T0 + 30 * DAY_MS);
    let r = h.run("drift-monitor", event("drift-monitor", None)).await;
    assert_eq!(r.body["models"][0]["has_drift"], true, "{:?}", r.body);
    let s: DriftState = h.db.load("DriftModel").unwrap().unwrap();
    assert!(s.has_drift && s.consecutive_failures == 1 && s.max_psi > 0.2, "{s:?}");
    assert!(s.drifted_features.iter().any(|f| f == "vol_24"), "{s:?}");
    assert_eq!(s.last_check_ms, T0 + 30 * DAY_MS);
    // Twelve hours later (the schedule): still drifting, two checks in a row.
    h.set_clock(T0 + 30 * DAY_MS + 12 * 3_600_000);
    h.run("drift-monitor", event("drift-monitor", None)).await;
    let s: DriftState = h.db.load("DriftModel").unwrap().unwrap();
    assert_eq!(s.consecutive_failures, 2);
    let sent = h.hook.received();
    assert!(!sent.is_empty() && sent.iter().all(|n| n["subject"] == "Model drift: DriftModel" && n["severity"] == "WARNING"), "{sent:?}");
    assert_eq!(sent[0]["details"]["model"], "DriftModel");

    // The retraining scheduler reads the drift state and queues a retraining of the model.
    let r = h.run("retraining-scheduler", event("retraining-scheduler", None)).await;
    assert_eq!(r.body["queued"], 1, "{:?}", r.body);
    assert!(
        r.body["models"][0]["reasons"].as_array().unwrap().iter().any(|x| x.as_str().unwrap().starts_with("drift in ")),
        "{:?}",
        r.body
    );
    let jobs = h.db.list(&JobFilter { job_type: Some("retrain".into()), ..JobFilter::default() }).unwrap();
    assert_eq!(jobs.items[0].config["model_name"], "DriftModel");
}
