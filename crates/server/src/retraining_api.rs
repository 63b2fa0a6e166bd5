//! `POST /api/v1/retraining` and its status routes on backend-api: a retraining request is
//! checked field by field (the `ml` settings fill in the thresholds it leaves out), its pairs
//! checked against the stored candles when it names a timeframe, committed as a `retraining`
//! job, and run by the worker pool step by step (check → train → out-of-sample backtest →
//! compare → promote/keep → notify). The job's `progress_detail` shows the steps; its result
//! is the workflow's report with the decision.

use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use tradai_executor::{RetrainingJobConfig, RETRAINING};
use tradai_ml::{MlError, RetrainRequest};

use crate::backend::BackendState;
use crate::dto::{JobPage, JobView, JobsQuery};
use crate::error::{ApiJson, ApiQuery, AppError, ErrorBody};

/// What a retraining request leaves out.
#[derive(Debug, Clone)]
pub struct RetrainingDefaults {
    /// Thresholds (drift, promotion, age, decay).
    pub ml: tradai_settings::MlSettings,
    /// Exchange.
    pub exchange: String,
}

/// Body of `POST /api/v1/retraining`, as the flags of `tradai ml retrain`. Omitted choices
/// (timeframe, algorithm, features, horizon) are the champion's; omitted thresholds are the
/// `ml` settings'.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrainingSubmission {
    /// Registered model name (letters, digits, `_`, `-`, `.`).
    #[schema(example = "momo")]
    pub model: String,
    /// Exchange whose stored candles to use (default: the `exchange` setting).
    #[serde(default)]
    pub exchange: Option<String>,
    /// Pairs to train and evaluate on.
    #[schema(example = json!(["ETH/BTC", "LTC/BTC"]))]
    pub pairs: Vec<String>,
    /// Candle timeframe; required for a model without a champion.
    #[serde(default)]
    #[schema(example = "5m")]
    pub timeframe: Option<String>,
    /// Training window `YYYYMMDD-YYYYMMDD`; must end before `timerange` starts.
    #[schema(example = "20180105-20180124")]
    pub train_timerange: String,
    /// Out-of-sample window (the check's recent candles and the comparison's backtests).
    #[schema(example = "20180125-")]
    pub timerange: String,
    /// `logistic` or `gbt`.
    #[serde(default)]
    pub algo: Option<String>,
    /// Features, comma-separated (`ret_1,rsi_14,ema_12_26,...`).
    #[serde(default)]
    pub features: Option<String>,
    /// Label horizon in candles.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub horizon: Option<u64>,
    /// Walk-forward folds (default 4, at most 20).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 20)]
    pub folds: Option<u64>,
    /// Seed (tree sampling, importance, bootstrap).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Retrain only when the check finds drift, age or decay.
    #[serde(default)]
    pub if_needed: bool,
    /// Fee ratio per side of the out-of-sample backtests (default 0.001).
    #[serde(default)]
    pub fee: Option<f64>,
    /// Simultaneous trades of the out-of-sample backtests (default 3).
    #[serde(default)]
    pub max_open_trades: Option<u64>,
    /// Entry probability of `MlSignal` in the backtests (0.5 to 0.95, default 0.55).
    #[serde(default)]
    pub entry_threshold: Option<f64>,
    /// PSI above which a feature has drifted (default `ml.psi_threshold`).
    #[serde(default)]
    pub psi_threshold: Option<f64>,
    /// KS statistic above which a feature has drifted (default `ml.ks_threshold`).
    #[serde(default)]
    pub ks_threshold: Option<f64>,
    /// Smallest relative Sharpe improvement to promote (default `ml.min_improvement`).
    #[serde(default)]
    pub min_improvement: Option<f64>,
    /// Bootstrap confidence needed to promote (default `ml.min_confidence`).
    #[serde(default)]
    pub min_confidence: Option<f64>,
    /// Fewest out-of-sample trades per model to decide (default `ml.min_trades`).
    #[serde(default)]
    pub min_trades: Option<u64>,
    /// Champion age in days that calls for retraining (default `ml.max_model_age_days`).
    #[serde(default)]
    pub max_model_age_days: Option<f64>,
    /// Recent AUC below which the champion has decayed (default `ml.min_auc`).
    #[serde(default)]
    pub min_auc: Option<f64>,
}

impl From<RetrainingSubmission> for RetrainRequest {
    fn from(s: RetrainingSubmission) -> Self {
        Self {
            model: s.model,
            exchange: s.exchange,
            pairs: s.pairs,
            timeframe: s.timeframe,
            train_timerange: s.train_timerange,
            timerange: s.timerange,
            algo: s.algo,
            features: s.features,
            horizon: s.horizon,
            folds: s.folds,
            seed: s.seed,
            if_needed: s.if_needed,
            fee: s.fee,
            max_open_trades: s.max_open_trades,
            entry_threshold: s.entry_threshold,
            psi_threshold: s.psi_threshold,
            ks_threshold: s.ks_threshold,
            min_improvement: s.min_improvement,
            min_confidence: s.min_confidence,
            min_trades: s.min_trades,
            max_model_age_days: s.max_model_age_days,
            min_auc: s.min_auc,
        }
    }
}

/// Accepts a retraining run: checked field by field, then committed durably, then 202. Its
/// progress (`progress_detail.steps`) and result (`decision`, `challenger`, `comparison`,
/// `promotion`, `champion_after`) are read with `GET /api/v1/retraining/{id}` or
/// `GET /api/v1/jobs/{id}`.
#[utoipa::path(post, path = "/api/v1/retraining", tag = "retraining",
    request_body = RetrainingSubmission,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries of this submission safe")),
    responses(crate::jobs_api::SubmitAnswers, (status = 503, description = "Retraining is off (no model registry)", body = ErrorBody)),
    security((), ("api_key" = [])))]
pub async fn submit_retraining(
    State(st): State<BackendState>,
    headers: HeaderMap,
    ApiJson(sub): ApiJson<RetrainingSubmission>,
) -> Result<Response, AppError> {
    let key = crate::jobs_api::admit(&st.accepting, &headers)?;
    let Some(defaults) = &st.retraining else {
        return Err(AppError::Unavailable {
            code: "retraining_off",
            message: "retraining needs the model registry: set tracking.uri (it is off)".into(),
        });
    };
    let spec = RetrainRequest::from(sub).resolve(&defaults.ml, &defaults.exchange).map_err(|e| match e {
        MlError::Invalid { field, message } => AppError::field(field, message),
        e => AppError::internal(e),
    })?;
    if let Some(tf) = spec.timeframe {
        let pairs: Vec<String> = spec.pairs.iter().map(ToString::to_string).collect();
        st.check_stored_pairs(&spec.exchange.to_string(), tf.as_str(), &pairs).await?;
    }
    let label = Some(spec.model.clone());
    st.enqueue(RETRAINING, &RetrainingJobConfig { spec }, key, label, "/api/v1/retraining").await
}

/// One retraining run: status, the step running now and every step's outcome, and once
/// COMPLETED the report with the decision.
#[utoipa::path(get, path = "/api/v1/retraining/{id}", tag = "retraining",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)))]
pub async fn retraining_status(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Json<JobView>, AppError> {
    Ok(Json(st.tracked(crate::jobs_api::view(crate::jobs_api::load(&st.jobs, id, Some(RETRAINING), "retraining run").await?))))
}

/// Retraining runs, newest first.
#[utoipa::path(get, path = "/api/v1/retraining", tag = "retraining", params(JobsQuery),
    responses((status = 200, body = JobPage), (status = 400, body = ErrorBody)))]
pub async fn list_retraining(State(st): State<BackendState>, ApiQuery(q): ApiQuery<JobsQuery>) -> Result<Json<JobPage>, AppError> {
    Ok(Json(crate::jobs_api::list(&st.jobs, q, Some(RETRAINING)).await?))
}
