//! Retrain → compare → promote end to end, then keep, then roll back, against the embedded
//! registry and a real MLflow server; models loaded back by champion, alias and number.

use std::sync::Mutex;

use tradai_core::{Candles, Instrument, Pair, Timeframe};
use tradai_engine::{BacktestConfig, PairData, ParamValue, ParamValues};
use tradai_ml::registry::{load_model, KIND_ML_MODEL, TAG_KIND};
use tradai_ml::{
    check_retraining_needed, monitor_drift, retrain, rollback_model, Decision, DriftCheck, EngineEvaluator, ModelComparator, Notification,
    Notifier, RetrainPlan, RetrainPolicy, TrainConfig,
};
use tradai_tracking::strategy::VersionSelector;
use tradai_tracking::{ExperimentTracker, ModelRegistry, RunQuery, Stage};

use crate::{ar_candles, hourly_config, pair, HOUR_MS, START_MS};

/// Notifications kept in memory so the test can read what was sent.
#[derive(Default)]
struct Inbox(Mutex<Vec<Notification>>);

impl Notifier for Inbox {
    fn notify(&self, n: &Notification) {
        self.0.lock().unwrap().push(n.clone());
    }
}

fn plan(name: &str, trained_at_ms: i64) -> RetrainPlan {
    RetrainPlan {
        train: TrainConfig { trained_at_ms, ..hourly_config(name, "ret_1,ret_3,rsi_14,vol_24", "logistic", 1, 2) },
        comparator: ModelComparator { min_trades: 30, ..ModelComparator::default() },
    }
}

fn market(phi: f64, seed: u64) -> Vec<(Pair, Candles)> {
    vec![(pair("BTC/USDT"), ar_candles(3_000, phi, 0.01, seed, START_MS))]
}

/// Out-of-sample window: a later stretch of the planted process, fee-free, one slot.
fn evaluator() -> EngineEvaluator {
    let p = pair("BTC/USDT");
    let candles = ar_candles(2_000, 0.3, 0.01, 4_242, START_MS + 3_000 * HOUR_MS);
    let mut config = BacktestConfig::new(vec![p.clone()], Timeframe::H1);
    config.fee = 0.0;
    config.max_open_trades = Some(1);
    EngineEvaluator {
        config,
        data: vec![PairData { pair: p.clone(), candles, instrument: Instrument::unknown(p) }],
        // Enter on any upward call, so even a model that knows nothing trades.
        params: ParamValues::new().with("entry_threshold", ParamValue::Decimal(0.5)),
        stake_currency: "USDT".into(),
    }
}

async fn scenario(tracker: &dyn ExperimentTracker, registry: &dyn ModelRegistry, name: &str) {
    let inbox = Inbox::default();
    let eval = evaluator();
    let day = 86_400_000;

    // 1. A model trained on noise becomes the first champion.
    let first = retrain(tracker, registry, &plan(name, START_MS), &market(0.0, 1), &eval, &inbox).await.unwrap();
    assert_eq!((first.challenger_version, first.champion_version, first.promoted), (1, None, true));
    let champ = load_model(tracker, registry, name, &VersionSelector::Production).await.unwrap();
    assert_eq!(champ.version.version, 1);
    assert_eq!(champ.version.current_stage, Stage::Production);
    assert_eq!(champ.version.tags[TAG_KIND], KIND_ML_MODEL);
    assert_eq!(champ.version.tags["features"], "ret_1,ret_3,rsi_14,vol_24");
    assert_eq!(champ.version.tags["horizon"], "1");
    assert!(champ.version.tags.contains_key("train_start_ms") && champ.version.tags.contains_key("train_end_ms"));
    assert_eq!(champ.artifact.reference.features.len(), 4);

    // 2. The champion is checked on recent planted-signal candles: age and drift say retrain.
    let policy = RetrainPolicy { max_model_age_days: 30.0, ..RetrainPolicy::from_settings(&tradai_settings::MlSettings::default()) };
    let check = check_retraining_needed(&champ.artifact, &market(0.3, 50), START_MS + 45 * day, &policy);
    assert!(check.needed);
    assert!(check.reasons.iter().any(|r| r.contains("days old")), "{:?}", check.reasons);

    // 3. A challenger trained on the planted signal beats it out of sample: promoted.
    let second = retrain(tracker, registry, &plan(name, START_MS + 45 * day), &market(0.3, 2), &eval, &inbox).await.unwrap();
    let cmp = second.comparison.clone().unwrap();
    assert_eq!(cmp.decision, Decision::Promote, "{}", cmp.reason);
    assert!(cmp.confidence >= 0.9 && cmp.challenger.sharpe > cmp.champion.sharpe);
    assert_eq!((second.challenger_version, second.champion_version, second.champion_after), (2, Some(1), 2));
    let model = registry.get_registered_model(name).await.unwrap();
    assert_eq!(model.aliases.get("champion"), Some(&2));
    assert_eq!(registry.get_model_version(name, 1).await.unwrap().current_stage, Stage::Archived);

    // 4. A challenger trained on noise does not replace it: kept, and left as `challenger`.
    let third = retrain(tracker, registry, &plan(name, START_MS + 50 * day), &market(0.0, 3), &eval, &inbox).await.unwrap();
    let cmp = third.comparison.clone().unwrap();
    assert_eq!(cmp.decision, Decision::Keep, "{}", cmp.reason);
    assert_eq!((third.challenger_version, third.champion_after, third.promoted), (3, 2, false));
    let model = registry.get_registered_model(name).await.unwrap();
    assert_eq!((model.aliases.get("champion"), model.aliases.get("challenger")), (Some(&2), Some(&3)));
    let by_alias = load_model(tracker, registry, name, &"challenger".parse().unwrap()).await.unwrap();
    assert_eq!(by_alias.version.version, 3);

    // The drift monitor records its scores and raises a notification on a volatility change.
    let wild = vec![(pair("BTC/USDT"), ar_candles(3_000, 0.3, 0.03, 60, START_MS))];
    let check = |at_ms| DriftCheck {
        model: name.to_owned(),
        version: VersionSelector::Production,
        detector: tradai_ml::DriftDetector::default(),
        at_ms,
    };
    let calm = monitor_drift(tracker, registry, &check(START_MS + 50 * day), &market(0.3, 61), &inbox).await.unwrap();
    let drift = monitor_drift(tracker, registry, &check(START_MS + 50 * day + 1), &wild, &inbox).await.unwrap();
    assert!(drift.has_drift && drift.drifted_features.iter().any(|f| f == "vol_24"), "{:?}", drift.drifted_features);
    let exp = tracker.get_experiment_by_name(&format!("drift/{name}")).await.unwrap().unwrap();
    let runs = tracker.search_runs(&RunQuery::experiment(exp.experiment_id)).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.metric("psi.vol_24").is_some() && r.metric("ks.prediction").is_some()));
    assert_eq!(runs.iter().filter(|r| r.params["has_drift"] == "true").count(), 1 + usize::from(calm.has_drift));

    // 5. Degradation: roll back to the previous champion.
    let restored = rollback_model(tracker, registry, name, "live sharpe below threshold", START_MS + 51 * day, &inbox).await.unwrap();
    assert_eq!(restored, 1);
    assert_eq!(load_model(tracker, registry, name, &VersionSelector::Production).await.unwrap().version.version, 1);

    // Every step was announced and recorded.
    let events: Vec<String> = inbox.0.lock().unwrap().iter().map(|n| n.event.clone()).collect();
    let expected: Vec<&str> = if calm.has_drift {
        vec!["first_champion", "promoted", "kept", "drift", "drift", "rolled_back"]
    } else {
        vec!["first_champion", "promoted", "kept", "drift", "rolled_back"]
    };
    assert_eq!(events, expected);
    let exp = tracker.get_experiment_by_name(&format!("retraining/{name}")).await.unwrap().unwrap();
    let runs = tracker.search_runs(&RunQuery::experiment(exp.experiment_id)).await.unwrap();
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().any(|r| r.params.get("decision").map(String::as_str) == Some("PROMOTE")));
    // Training runs carry the metrics and the artifact.
    let exp = tracker.get_experiment_by_name(&format!("models/{name}")).await.unwrap().unwrap();
    let runs = tracker.search_runs(&RunQuery::experiment(exp.experiment_id)).await.unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r.metric("auc").is_some() && r.params.contains_key("features")));

    // A version number that does not exist is named.
    let e = load_model(tracker, registry, name, &VersionSelector::Number(9)).await.unwrap_err();
    assert!(format!("{e:#}").contains('9') || e.to_string().contains("tracking"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrain_compare_promote_keep_and_roll_back_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let t = tradai_tracking::open_embedded(dir.path()).unwrap();
    scenario(t.tracker.as_ref(), t.registry.as_ref(), "planted-embedded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrain_compare_promote_keep_and_roll_back_mlflow() {
    let uri = mlflow_uri();
    let t = tradai_tracking::open(&uri).unwrap();
    // The server outlives the test: a name no earlier run used.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let name = format!("planted-{}-{nanos}", std::process::id());
    scenario(t.tracker.as_ref(), t.registry.as_ref(), &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_is_not_loaded_as_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let t = tradai_tracking::open_embedded(dir.path()).unwrap();
    let reg = tradai_tracking::strategy::StrategyRegistration {
        name: "EmaCross".into(),
        timeframe: "1h".into(),
        config: serde_json::json!({}),
        ..Default::default()
    };
    tradai_tracking::strategy::register_strategy(t.tracker.as_ref(), t.registry.as_ref(), &reg).await.unwrap();
    let e = load_model(t.tracker.as_ref(), t.registry.as_ref(), "EmaCross", &VersionSelector::Number(1)).await.unwrap_err();
    assert!(e.to_string().contains("not a tradai-ml model"), "{e}");
}

/// The MLflow server: `TRADAI_TEST_MLFLOW_URI`, or one started by `scripts/mlflow-server.sh`.
fn mlflow_uri() -> String {
    static URI: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URI.get_or_init(|| {
        if let Some(uri) = std::env::var("TRADAI_TEST_MLFLOW_URI").ok().filter(|u| !u.trim().is_empty()) {
            return uri.trim().trim_end_matches('/').to_owned();
        }
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let script = root.join("scripts/mlflow-server.sh");
        let venv = std::env::var_os("MLFLOW_VENV")
            .map_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/mlflow").into(), std::path::PathBuf::from);
        assert!(
            venv.join("bin/mlflow").exists(),
            "the MLflow test needs an MLflow server: set TRADAI_TEST_MLFLOW_URI, or run `{} --install-only` (MLFLOW_VENV={})",
            script.display(),
            venv.display()
        );
        let out = std::process::Command::new(&script).output().unwrap();
        assert!(out.status.success(), "{}: {}", script.display(), String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().last().unwrap_or_default().trim().to_owned()
    })
    .clone()
}
