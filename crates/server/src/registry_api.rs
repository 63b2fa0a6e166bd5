//! backend-api's view of the model registry (the tracker's registered strategies and ML
//! models): every model with its versions, aliases, stages and Production history, the runs
//! tracked for it, and the two moves people make by hand — promote a version to Production
//! and roll Production back one step.

use axum::extract::{Path as UrlPath, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use tradai_tracking::{ModelVersion, RegisteredModel};
use utoipa::ToSchema;

use crate::backend::BackendState;
use crate::error::{ApiJson, AppError, ErrorBody};

fn tracking(st: &BackendState) -> Result<&tradai_tracking::Tracking, AppError> {
    st.tracking.as_deref().map(|t| &t.tracking).ok_or_else(crate::tracking::disabled)
}

fn iso(ms: Option<i64>) -> Option<String> {
    ms.map(tradai_core::iso_ts_ms)
}

/// One registered model in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelSummary {
    /// Name (a strategy's name for a registered strategy).
    pub name: String,
    /// `tradai.kind` tag (`strategy`, `model`), when set.
    pub kind: Option<String>,
    /// Versions registered.
    pub versions: usize,
    /// The version in Production, if any.
    pub production_version: Option<u64>,
    /// Alias → version.
    pub aliases: std::collections::BTreeMap<String, u64>,
    /// Last change (ISO 8601).
    pub last_updated: Option<String>,
}

/// `GET /api/v1/models`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    /// Every registered model, by name.
    pub models: Vec<ModelSummary>,
}

/// One version, as the dashboard shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    /// Version number.
    pub version: u64,
    /// `None`, `Staging`, `Production` or `Archived`.
    pub current_stage: String,
    /// Aliases pointing at it.
    pub aliases: Vec<String>,
    /// The registration run.
    pub run_id: Option<String>,
    /// Description.
    pub description: String,
    /// Tags (timeframe, pairs, config path, ...).
    pub tags: std::collections::BTreeMap<String, String>,
    /// Registered at (ISO 8601).
    pub created: Option<String>,
}

impl From<ModelVersion> for VersionView {
    fn from(v: ModelVersion) -> Self {
        Self {
            version: v.version,
            current_stage: v.current_stage.as_str().to_owned(),
            aliases: v.aliases,
            run_id: v.run_id,
            description: v.description,
            tags: v.tags.into_iter().collect(),
            created: iso(v.creation_timestamp),
        }
    }
}

/// One entry of the Production history.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductionView {
    /// The version promoted.
    pub version: u64,
    /// When (ISO 8601).
    pub since: String,
}

/// A tracked run of a model.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunSummary {
    /// Run id.
    pub run_id: String,
    /// Run name.
    pub run_name: String,
    /// `RUNNING`, `FINISHED`, ...
    pub status: String,
    /// Started (ISO 8601).
    pub start_time: Option<String>,
    /// Latest value of each metric.
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// `GET /api/v1/models/{name}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelDetail {
    /// The model (name, description, tags, aliases).
    #[schema(value_type = Object)]
    pub model: RegisteredModel,
    /// Versions, newest first.
    pub versions: Vec<VersionView>,
    /// Production history, newest first.
    pub history: Vec<ProductionView>,
    /// The newest 50 runs tracked with `params.strategy` equal to the model's name.
    pub runs: Vec<RunSummary>,
}

/// Every registered strategy and model with its version count, Production version and aliases.
#[utoipa::path(get, path = "/api/v1/models", tag = "registry",
    responses((status = 200, body = ModelList), (status = 503, body = ErrorBody)))]
pub async fn list_models(State(st): State<BackendState>) -> Result<Json<ModelList>, AppError> {
    let reg = &tracking(&st)?.registry;
    let mut models = Vec::new();
    for m in reg.list_registered_models().await.map_err(crate::tracking::api_error)? {
        let versions = reg.list_model_versions(&m.name).await.map_err(crate::tracking::api_error)?;
        models.push(ModelSummary {
            kind: m.tags.get(tradai_tracking::strategy::TAG_KIND).cloned(),
            versions: versions.len(),
            production_version: versions.iter().filter(|v| v.current_stage == tradai_tracking::Stage::Production).map(|v| v.version).max(),
            aliases: m.aliases.clone(),
            last_updated: iso(m.last_updated_timestamp),
            name: m.name,
        });
    }
    models.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(ModelList { models }))
}

/// Quotes a value for the tracker's filter syntax.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', ""))
}

/// One registered model: its versions (stage, aliases, run, tags), Production history and
/// tracked runs.
#[utoipa::path(get, path = "/api/v1/models/{name}", tag = "registry",
    params(("name" = String, Path, description = "Registered model name")),
    responses((status = 200, body = ModelDetail), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn model(State(st): State<BackendState>, UrlPath(name): UrlPath<String>) -> Result<Json<ModelDetail>, AppError> {
    let t = tracking(&st)?;
    let model = t.registry.get_registered_model(&name).await.map_err(crate::tracking::api_error)?;
    let mut versions = t.registry.list_model_versions(&name).await.map_err(crate::tracking::api_error)?;
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    let mut history = t.registry.production_history(&name).await.map_err(crate::tracking::api_error)?;
    history.reverse();
    let query = tradai_tracking::RunQuery {
        experiment_ids: Vec::new(),
        filter: format!("params.strategy = {}", quoted(&name)),
        order_by: vec!["attributes.start_time DESC".to_owned()],
        max_results: 50,
    };
    let runs = match t.tracker.search_runs_by_name(None, query).await {
        Ok(r) => r,
        // A tracker without experiments yet has no runs of anything.
        Err(tradai_tracking::TrackingError::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(crate::tracking::api_error(e)),
    };
    Ok(Json(ModelDetail {
        model,
        versions: versions.into_iter().map(Into::into).collect(),
        history: history.into_iter().map(|e| ProductionView { version: e.version, since: tradai_core::iso_ts_ms(e.at) }).collect(),
        runs: runs
            .into_iter()
            .map(|r| RunSummary {
                metrics: r.metrics.values().map(|m| (m.key.clone(), m.value)).collect(),
                run_id: r.info.run_id,
                run_name: r.info.run_name,
                status: serde_json::to_value(r.info.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                start_time: iso(r.info.start_time),
            })
            .collect(),
    }))
}

/// Body of `POST /api/v1/models/{name}/promote`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    /// The version to put into Production.
    pub version: u64,
}

/// Puts a version into Production: the previous one is archived and `champion` points at it.
#[utoipa::path(post, path = "/api/v1/models/{name}/promote", tag = "registry",
    params(("name" = String, Path, description = "Registered model name")),
    request_body = PromoteRequest,
    responses((status = 200, body = VersionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security((), ("api_key" = [])))]
pub async fn promote(
    State(st): State<BackendState>,
    UrlPath(name): UrlPath<String>,
    ApiJson(req): ApiJson<PromoteRequest>,
) -> Result<Json<VersionView>, AppError> {
    let t = tracking(&st)?;
    let v = t.registry.promote(&name, req.version).await.map_err(crate::tracking::api_error)?;
    tracing::info!(model = %name, version = v.version, "promoted to Production");
    Ok(Json(v.into()))
}

/// Restores the previous Production version (one step back per call); 400 without one.
#[utoipa::path(post, path = "/api/v1/models/{name}/rollback", tag = "registry",
    params(("name" = String, Path, description = "Registered model name")),
    responses((status = 200, body = VersionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)),
    security((), ("api_key" = [])))]
pub async fn rollback(State(st): State<BackendState>, UrlPath(name): UrlPath<String>) -> Result<Json<VersionView>, AppError> {
    let t = tracking(&st)?;
    let v = t.registry.rollback(&name).await.map_err(crate::tracking::api_error)?;
    tracing::info!(model = %name, version = v.version, "rolled Production back");
    Ok(Json(v.into()))
}
