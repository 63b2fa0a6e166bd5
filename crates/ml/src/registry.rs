//! Models in the tracker and the registry. Training logs a run in the experiment
//! `models/<name>` — parameters, walk-forward metrics (one step per fold), and the artifact
//! `model/model.json` — then creates a registry version whose tags say what it is (features,
//! horizon, timeframe, pairs, training window, algorithm, AUC) and where its artifact is.
//! Loading goes the other way from a version selector (champion/Production, alias, number),
//! so a backtest, a drift check or a trading node needs only the model's name.

use std::sync::Arc;

use tradai_tracking::strategy::VersionSelector;
use tradai_tracking::{
    Artifact, ExperimentTracker, Metric, ModelRegistry, ModelVersion, NewModelVersion, NewRegisteredModel, RunRecord, Tags, TrackingError,
};

use crate::model::{ModelArtifact, ARTIFACT_FORMAT};
use crate::train::TrainOutcome;
use crate::MlError;

/// Where the artifact sits among the training run's artifacts.
pub const MODEL_ARTIFACT: &str = "model/model.json";
/// Tag (on the registered model and its versions) marking a tradai-ml model.
pub const TAG_KIND: &str = "tradai.kind";
/// The value of [`TAG_KIND`] for ML models.
pub const KIND_ML_MODEL: &str = "ml_model";
/// Version tag: `runs:/<run_id>/model/model.json`.
pub const TAG_MODEL_PATH: &str = "model_path";

/// A model version and its artifact.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// The registry version.
    pub version: ModelVersion,
    /// The artifact.
    pub artifact: Arc<ModelArtifact>,
}

/// Logs the training run and registers a new version (creating the registered model on first
/// use). Returns the version.
///
/// # Errors
/// [`MlError::Invalid`] when `name` is registered already as something else (a strategy);
/// [`MlError::Tracking`] from the back end.
pub async fn register_model(
    tracker: &dyn ExperimentTracker,
    registry: &dyn ModelRegistry,
    outcome: &TrainOutcome,
) -> Result<ModelVersion, MlError> {
    let a = &outcome.artifact;
    match registry.get_registered_model(&a.name).await {
        Ok(m) => {
            let kind = m.tags.get(TAG_KIND).map_or("", String::as_str);
            if kind != KIND_ML_MODEL {
                return Err(MlError::invalid("model", format!("'{}' is registered already as '{kind}', not as an ML model", a.name)));
            }
        }
        Err(e) if e.is_not_found() => {
            let mut tags = Tags::new();
            tags.insert(TAG_KIND.into(), KIND_ML_MODEL.into());
            let new = NewRegisteredModel { name: a.name.clone(), description: Some(format!("TradAI ML model {}", a.name)), tags };
            match registry.create_registered_model(&new).await {
                Ok(_) | Err(TrackingError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    }
    let features = a.features.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let mut record = RunRecord::new(format!("ml-train-{}-{}", a.name, a.trained_at_ms), format!("models/{}", a.name));
    record.run_name = Some(format!("train {} ({})", a.name, a.algo));
    record.start_time = Some(a.trained_at_ms);
    let p = &mut record.params;
    p.insert("algo".into(), a.algo.to_string());
    p.insert("algo_params".into(), serde_json::to_string(&a.algo).unwrap_or_default());
    p.insert("features".into(), features.clone());
    p.insert("horizon".into(), a.label.horizon.to_string());
    p.insert("timeframe".into(), a.timeframe.clone());
    p.insert("pairs".into(), a.pairs.join(","));
    p.insert("folds".into(), outcome.folds.len().to_string());
    p.insert("train_start_ms".into(), a.train_start_ms.to_string());
    p.insert("train_end_ms".into(), a.train_end_ms.to_string());
    p.insert("rows".into(), a.rows.to_string());
    let m = &a.metrics;
    for (k, v) in [
        ("accuracy", m.accuracy),
        ("log_loss", m.log_loss),
        ("auc", m.auc),
        ("precision_top_decile", m.precision_top_decile),
        ("base_rate", m.base_rate),
    ] {
        record.metrics.push(Metric::new(k, v));
    }
    for (step, f) in outcome.folds.iter().enumerate() {
        let mut fm = Metric::new("fold_auc", f.metrics.auc);
        fm.step = step as i64;
        fm.timestamp = a.trained_at_ms;
        record.metrics.push(fm);
    }
    for (name, imp) in &a.importance {
        record.metrics.push(Metric::new(format!("importance.{name}"), *imp));
    }
    record.tags.insert(TAG_KIND.into(), KIND_ML_MODEL.into());
    let json = serde_json::to_vec(a).map_err(|e| MlError::invalid("model", format!("artifact not serialisable: {e}")))?;
    record.artifacts.push(Artifact { path: MODEL_ARTIFACT.into(), content: json });
    let run_id = tracker.log_run(&record).await?;

    let mut tags = Tags::new();
    tags.insert(TAG_KIND.into(), KIND_ML_MODEL.into());
    tags.insert("algo".into(), a.algo.to_string());
    tags.insert("features".into(), features);
    tags.insert("horizon".into(), a.label.horizon.to_string());
    tags.insert("timeframe".into(), a.timeframe.clone());
    tags.insert("pairs".into(), a.pairs.join(","));
    tags.insert("train_start_ms".into(), a.train_start_ms.to_string());
    tags.insert("train_end_ms".into(), a.train_end_ms.to_string());
    tags.insert("trained_at_ms".into(), a.trained_at_ms.to_string());
    tags.insert("auc".into(), format!("{:.4}", m.auc));
    tags.insert(TAG_MODEL_PATH.into(), format!("runs:/{run_id}/{MODEL_ARTIFACT}"));
    // The drift reference travels inside the artifact; the tag says so for a reader of the
    // registry alone.
    tags.insert("drift_reference".into(), format!("runs:/{run_id}/{MODEL_ARTIFACT}#reference"));
    let version = NewModelVersion {
        name: a.name.clone(),
        source: format!("runs:/{run_id}/model"),
        run_id: Some(run_id),
        description: Some(format!("{} on {} ({}), horizon {}, AUC {:.3}", a.algo, a.pairs.join(","), a.timeframe, a.label.horizon, m.auc)),
        tags,
    };
    Ok(registry.create_model_version(&version).await?)
}

/// The version `which` selects (champion/Production, an alias, a number).
///
/// # Errors
/// [`MlError::Tracking`] with a not-found error naming the model, alias or version.
pub async fn resolve_version(registry: &dyn ModelRegistry, name: &str, which: &VersionSelector) -> Result<ModelVersion, MlError> {
    Ok(tradai_tracking::strategy::resolve_version(registry, name, which).await?)
}

/// Loads the artifact of a registered version.
///
/// # Errors
/// [`MlError::NotAModel`] for a version that is not a tradai-ml model; [`MlError::Artifact`]
/// for an artifact that does not parse or has another format; [`MlError::Tracking`].
pub async fn load_model(
    tracker: &dyn ExperimentTracker,
    registry: &dyn ModelRegistry,
    name: &str,
    which: &VersionSelector,
) -> Result<LoadedModel, MlError> {
    let version = resolve_version(registry, name, which).await?;
    let kind = version.tags.get(TAG_KIND).cloned().unwrap_or_default();
    let run_id = match (kind.as_str(), version.run_id.clone()) {
        (KIND_ML_MODEL, Some(r)) => r,
        _ => return Err(MlError::NotAModel { model: name.to_owned(), version: version.version, kind }),
    };
    let bytes = tracker.download_artifact(&run_id, MODEL_ARTIFACT).await?;
    let artifact: ModelArtifact =
        serde_json::from_slice(&bytes).map_err(|source| MlError::Artifact { model: name.to_owned(), version: version.version, source })?;
    if artifact.format != ARTIFACT_FORMAT {
        let source = <serde_json::Error as serde::de::Error>::custom(format!("format '{}', expected '{ARTIFACT_FORMAT}'", artifact.format));
        return Err(MlError::Artifact { model: name.to_owned(), version: version.version, source });
    }
    Ok(LoadedModel { version, artifact: Arc::new(artifact) })
}
