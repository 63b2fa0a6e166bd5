//! strategy-service (port 8003): the strategies with their metadata and parameters, run
//! validation, and layered strategy configs (`POST /api/v1/configs/prepare`: a base config file
//! merged with overrides, as the seeds' OmegaConf `prepare_config`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tradai_core::{MarketType, Pair, StrategySettings, Timeframe};
use tradai_engine::{ParamValue, ParamValues, Strategy, StrategyRegistry};

use crate::dto::{
    FieldProblem, HealthResponse, PrepareConfigRequest, PreparedConfig, StrategyDetail, StrategyList, StrategyValidateRequest,
    StrategyValidateResponse,
};
use crate::error::{ApiJson, AppError};

/// Shared state of the strategy-service.
#[derive(Clone)]
pub struct StrategyState {
    /// The strategies.
    pub registry: Arc<StrategyRegistry>,
    /// Directory of base config files (`<Strategy>.toml` / `.json`).
    pub config_dir: PathBuf,
    /// The model registry holding registered strategy versions (`None`: tracking off).
    pub tracking: Option<tradai_tracking::Tracking>,
    /// Folder of user strategy files (`server.strategy_dir`) a request's `strategy_file` names.
    pub strategy_dir: Option<PathBuf>,
}

impl std::fmt::Debug for StrategyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrategyState").field("registry", &self.registry).field("config_dir", &self.config_dir).finish()
    }
}

/// The strategy-service routes (without the shared middleware; see [`crate::app`]).
pub fn routes(state: StrategyState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/health", get(health))
        .route("/api/v1/strategies", get(list))
        .route("/api/v1/strategies/{name}", get(detail))
        .route("/api/v1/strategies/{name}/validate", post(validate))
        .route("/api/v1/strategies/{name}/config", get(registered_config))
        .route("/api/v1/configs/prepare", post(prepare))
        .with_state(state)
}

/// Liveness.
#[utoipa::path(get, path = "/api/v1/health", tag = "health", responses((status = 200, body = HealthResponse)))]
pub async fn health() -> Json<HealthResponse> {
    Json(HealthResponse::of("strategy-service"))
}

/// Every strategy with settings and parameters.
#[utoipa::path(get, path = "/api/v1/strategies", tag = "strategies", responses((status = 200, body = StrategyList)))]
pub async fn list(State(st): State<StrategyState>) -> Json<StrategyList> {
    let strategies = st.registry.names().iter().filter_map(|n| st.registry.get(n).ok()).map(strategy_detail).collect();
    Json(StrategyList { strategies })
}

/// One strategy.
#[utoipa::path(get, path = "/api/v1/strategies/{name}", tag = "strategies",
    params(("name" = String, Path, description = "Strategy name")),
    responses((status = 200, body = StrategyDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn detail(State(st): State<StrategyState>, UrlPath(name): UrlPath<String>) -> Result<Json<StrategyDetail>, AppError> {
    let s = st.registry.get(&name).map_err(|_| AppError::NotFound { what: "strategy", id: name.clone() })?;
    Ok(Json(strategy_detail(s)))
}

/// Checks run settings (timeframe, pairs, trading mode, parameters) against a strategy.
#[utoipa::path(post, path = "/api/v1/strategies/{name}/validate", tag = "strategies",
    params(("name" = String, Path, description = "Strategy name")),
    request_body = StrategyValidateRequest,
    responses((status = 200, body = StrategyValidateResponse), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn validate(
    State(st): State<StrategyState>,
    UrlPath(name): UrlPath<String>,
    ApiJson(req): ApiJson<StrategyValidateRequest>,
) -> Result<Json<StrategyValidateResponse>, AppError> {
    if let Some(raw) = req.strategy_file.clone() {
        // A file strategy: the name is checked (no absolute path, no `..`) before the file is
        // read, and loading it may start a Python worker, so it runs off the async threads.
        let file = tradai_app::StrategyFile::try_from(raw).map_err(crate::backend::app_field)?;
        let (dir, strategy) = (st.strategy_dir.clone(), name.clone());
        let registry =
            tokio::task::spawn_blocking(move || tradai_strategies::StrategySource::of_file(&file, dir.as_deref())?.registry(&strategy))
                .await?
                .map_err(|e| AppError::field("strategy_file", e.to_string()))?;
        let s = registry.get(&name).map_err(|e| AppError::field("strategy_file", e.to_string()))?;
        return Ok(Json(validate_run(s, &req)));
    }
    let s = st.registry.get(&name).map_err(|_| AppError::NotFound { what: "strategy", id: name.clone() })?;
    Ok(Json(validate_run(s, &req)))
}

/// Merges a base config file with overrides and validates the result.
#[utoipa::path(post, path = "/api/v1/configs/prepare", tag = "configs",
    request_body = PrepareConfigRequest,
    responses((status = 200, body = PreparedConfig), (status = 422, body = crate::error::ErrorBody)))]
pub async fn prepare(
    State(st): State<StrategyState>,
    ApiJson(req): ApiJson<PrepareConfigRequest>,
) -> Result<Json<PreparedConfig>, AppError> {
    // Reading the base file is blocking I/O.
    let out = tokio::task::spawn_blocking(move || prepare_config(&st.registry, &req, &st.config_dir)).await??;
    Ok(Json(out))
}

/// What the API shows of a strategy.
#[must_use]
pub fn strategy_detail(s: &dyn Strategy) -> StrategyDetail {
    let settings = s.settings();
    StrategyDetail {
        name: s.name().to_owned(),
        timeframe: settings.timeframe.as_str().to_owned(),
        startup_candle_count: settings.startup_candle_count,
        can_short: settings.can_short,
        settings: serde_json::to_value(&settings).unwrap_or(Value::Null),
        parameters: s.parameters().iter().map(|p| serde_json::to_value(p).unwrap_or(Value::Null)).collect(),
    }
}

/// Checks what a run would use against the strategy; every problem names its field.
#[must_use]
pub fn validate_run(s: &dyn Strategy, req: &StrategyValidateRequest) -> StrategyValidateResponse {
    let settings = s.settings();
    let mut errors = Vec::new();
    let mut problem = |field: String, message: String| errors.push(FieldProblem { field, message });
    let timeframe = match req.timeframe.as_deref() {
        None => settings.timeframe,
        Some(raw) => match raw.parse::<Timeframe>() {
            Ok(tf) if tf == settings.timeframe => tf,
            Ok(tf) => {
                problem("timeframe".into(), format!("strategy {} is written for {}; got '{}'", s.name(), settings.timeframe, tf));
                tf
            }
            Err(e) => {
                problem("timeframe".into(), e.to_string());
                settings.timeframe
            }
        },
    };
    let mode = match req.trading_mode.as_deref().unwrap_or("spot").parse::<MarketType>() {
        Ok(m) => Some(m),
        Err(e) => {
            problem("trading_mode".into(), e.to_string());
            None
        }
    };
    if settings.can_short && mode == Some(MarketType::Spot) {
        problem("trading_mode".into(), format!("strategy {} can short, which needs trading_mode 'futures'", s.name()));
    }
    for (i, raw) in req.pairs.iter().enumerate() {
        match raw.parse::<Pair>() {
            Ok(p) => {
                if let Some(m) = mode {
                    if p.market_type() != m {
                        problem(format!("pairs[{i}]"), format!("'{raw}' is a {} pair but trading_mode is {m}", p.market_type()));
                    }
                }
            }
            Err(e) => problem(format!("pairs[{i}]"), e.to_string()),
        }
    }
    if let Some(params) = &req.parameters {
        check_parameters(s, params, "parameters", &mut problem);
    }
    StrategyValidateResponse { strategy: s.name().to_owned(), valid: errors.is_empty(), timeframe: timeframe.as_str().to_owned(), errors }
}

fn check_parameters(s: &dyn Strategy, params: &Value, prefix: &str, problem: &mut impl FnMut(String, String)) {
    let Some(obj) = params.as_object() else {
        problem(prefix.to_owned(), format!("expected an object of parameter values, got {params}"));
        return;
    };
    let specs = s.parameters();
    for (k, v) in obj {
        let value: Result<ParamValue, _> = serde_json::from_value(v.clone());
        let Ok(value) = value else {
            problem(format!("{prefix}.{k}"), format!("invalid parameter value {v}"));
            continue;
        };
        if let Err(e) = ParamValues::new().with(k, value).validate(&specs) {
            problem(format!("{prefix}.{k}"), e.to_string());
        }
    }
}

/// Builds the layered config of a run: strategy defaults < base file < overrides, then stamps
/// run id and experiment and validates the merged settings and parameters.
///
/// # Errors
/// [`AppError::InvalidField`] naming `config_file`, `config_overrides.<path>` or `strategy`.
pub fn prepare_config(registry: &StrategyRegistry, req: &PrepareConfigRequest, dir: &Path) -> Result<PreparedConfig, AppError> {
    let s = registry.get(&req.strategy).map_err(|e| AppError::field("strategy", e.to_string()))?;
    let mut layers = vec!["strategy defaults".to_owned()];
    let mut tree = serde_json::json!({
        "strategy": s.name(),
        "settings": serde_json::to_value(s.settings()).map_err(AppError::internal)?,
        "parameters": serde_json::to_value(ParamValues::defaults(&s.parameters())).map_err(AppError::internal)?,
    });
    if let Some((file_name, base)) = load_base(dir, req.config_file.as_deref(), s.name())? {
        merge(&mut tree, base);
        layers.push(format!("file {file_name}"));
    }
    if !req.config_overrides.is_null() {
        if !req.config_overrides.is_object() {
            return Err(AppError::field("config_overrides", "expected an object"));
        }
        merge(&mut tree, req.config_overrides.clone());
        layers.push("overrides".to_owned());
    }
    if let Some(id) = &req.run_id {
        tree["run_id"] = Value::String(id.clone());
    }
    if let Some(x) = &req.experiment_name {
        tree["experiment_name"] = Value::String(x.clone());
    }
    if tree.get("strategy").and_then(Value::as_str) != Some(s.name()) {
        return Err(AppError::field("config_overrides.strategy", "the strategy of a config cannot be overridden"));
    }
    let settings_json = tree.get("settings").cloned().unwrap_or(Value::Null);
    let de = serde_path_to_error::deserialize::<_, StrategySettings>(settings_json);
    if let Err(e) = de {
        return Err(AppError::field(format!("settings.{}", e.path()), e.into_inner().to_string()));
    }
    let mut problems = Vec::new();
    check_parameters(s, tree.get("parameters").unwrap_or(&Value::Null), "parameters", &mut |f, m| problems.push((f, m)));
    if let Some((field, message)) = problems.into_iter().next() {
        return Err(AppError::InvalidField { field, message });
    }
    let canonical = serde_json::to_string(&tree).map_err(AppError::internal)?;
    let config_hash = hex(&Sha256::digest(canonical.as_bytes()));
    Ok(PreparedConfig { strategy: s.name().to_owned(), config: tree, layers, config_hash })
}

fn load_base(dir: &Path, file: Option<&str>, strategy: &str) -> Result<Option<(String, Value)>, AppError> {
    let candidates: Vec<String> = match file {
        Some(f) => {
            // A plain file name only: the request must not reach outside the config directory.
            let ok = !f.is_empty()
                && !f.starts_with('.')
                && f.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                && (f.ends_with(".toml") || f.ends_with(".json"));
            if !ok {
                return Err(AppError::field("config_file", format!("'{f}' is not a plain .toml or .json file name")));
            }
            vec![f.to_owned()]
        }
        None => vec![format!("{strategy}.toml"), format!("{strategy}.json")],
    };
    for name in &candidates {
        let path = dir.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(AppError::internal(e)),
        };
        let value = if name.ends_with(".toml") {
            let t: toml::Value = toml::from_str(&text)
                .map_err(|e| AppError::field("config_file", format!("'{name}' is not valid TOML: {}", e.message())))?;
            serde_json::to_value(t).map_err(AppError::internal)?
        } else {
            serde_json::from_str(&text).map_err(|e| AppError::field("config_file", format!("'{name}' is not valid JSON: {e}")))?
        };
        if !value.is_object() {
            return Err(AppError::field("config_file", format!("'{name}' must hold a table/object")));
        }
        return Ok(Some((name.clone(), value)));
    }
    if file.is_some() {
        return Err(AppError::field("config_file", format!("no config file '{}' in the strategy config directory", candidates[0])));
    }
    Ok(None)
}

pub use tradai_settings::merge_json as merge;

/// Lowercase hex of bytes.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_deep_for_objects_and_replaces_the_rest() {
        let mut a = serde_json::json!({"settings": {"stoploss": -0.1, "minimal_roi": [[0, 0.1]]}, "x": 1});
        merge(&mut a, serde_json::json!({"settings": {"stoploss": -0.05, "minimal_roi": [[0, 0.2]]}, "y": 2}));
        assert_eq!(a, serde_json::json!({"settings": {"stoploss": -0.05, "minimal_roi": [[0, 0.2]]}, "x": 1, "y": 2}));
    }

    #[test]
    fn layered_config_merges_file_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("EmaCross.toml"), "[settings]\nstoploss = -0.2\n[extra]\nnote = \"base\"\n").unwrap();
        let req = PrepareConfigRequest {
            strategy: "EmaCross".into(),
            config_file: None,
            config_overrides: serde_json::json!({"extra": {"tag": "o"}}),
            run_id: Some("r1".into()),
            experiment_name: None,
        };
        let out = prepare_config(&StrategyRegistry::builtin(), &req, dir.path()).unwrap();
        assert_eq!(out.config["settings"]["stoploss"], -0.2);
        assert_eq!(out.config["extra"], serde_json::json!({"note": "base", "tag": "o"}));
        assert_eq!(out.config["run_id"], "r1");
        assert_eq!(out.layers.len(), 3);
        let bad = PrepareConfigRequest { config_overrides: serde_json::json!({"settings": {"stoploss": "x"}}), ..req.clone() };
        let e = prepare_config(&StrategyRegistry::builtin(), &bad, dir.path()).unwrap_err();
        assert!(matches!(&e, AppError::InvalidField { field, .. } if field.starts_with("settings.stoploss")), "{e:?}");
        let bad = PrepareConfigRequest { config_file: Some("../etc/passwd".into()), ..req };
        let e = prepare_config(&StrategyRegistry::builtin(), &bad, dir.path()).unwrap_err();
        assert!(matches!(&e, AppError::InvalidField { field, .. } if field == "config_file"), "{e:?}");
    }
}

/// Query of `GET /api/v1/strategies/{name}/config`.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RegisteredConfigQuery {
    /// `production` (the champion; default), a version number, or an alias (`challenger`).
    #[serde(default)]
    pub version: Option<String>,
}

/// The config of a registered strategy version — by default the Production (champion) one —
/// with the version's metadata: the seeds' MLflow-centric config loading.
#[utoipa::path(get, path = "/api/v1/strategies/{name}/config", tag = "strategies",
    params(("name" = String, Path, description = "Strategy (registered model) name"), RegisteredConfigQuery),
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn registered_config(
    State(st): State<StrategyState>,
    UrlPath(name): UrlPath<String>,
    crate::error::ApiQuery(q): crate::error::ApiQuery<RegisteredConfigQuery>,
) -> Result<Json<Value>, AppError> {
    let t = st.tracking.as_ref().ok_or_else(crate::tracking::disabled)?;
    let raw = q.version.unwrap_or_else(|| "production".into());
    let which: tradai_tracking::strategy::VersionSelector = raw.parse().map_err(|e: tradai_tracking::TrackingError| {
        // The reason alone: the error already says which parameter it is about.
        let message = match e {
            tradai_tracking::TrackingError::Invalid { reason, .. } => reason,
            e => e.to_string(),
        };
        AppError::InvalidQuery { field: "version".into(), message }
    })?;
    let loaded = tradai_tracking::strategy::load_strategy(t.tracker.as_ref(), t.registry.as_ref(), &name, &which)
        .await
        .map_err(crate::tracking::api_error)?;
    let v = &loaded.version;
    Ok(Json(serde_json::json!({
        "strategy": v.name,
        "version": v.version,
        "stage": v.current_stage.as_str(),
        "aliases": v.aliases,
        "run_id": v.run_id,
        "metadata": tradai_tracking::strategy::strategy_tags(v),
        "config": loaded.config,
    })))
}
