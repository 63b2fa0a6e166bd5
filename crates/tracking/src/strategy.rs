//! Strategies as registered models, the seeds' "MLflow-centric config loading": a strategy
//! version is a registry entry whose tags carry its metadata (timeframe, pairs, warm-up,
//! config path) and whose config lives as an artifact of a registration run, so a service can
//! load "the Production (champion) config of `EmaCross`" from the tracker alone.
//!
//! Registration logs a run in the experiment `strategies/<name>` holding the config at
//! [`CONFIG_ARTIFACT`], then creates a model version with source `runs:/<run_id>/config` (a
//! source MLflow accepts) and the metadata tags.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ExperimentTracker, ModelRegistry, ModelVersion, NewModelVersion, NewRegisteredModel, RunRecord, Tags, TrackingError};

/// Where a registered strategy's config sits among its run's artifacts.
pub const CONFIG_ARTIFACT: &str = "config/strategy.json";
/// Version tag: the strategy's timeframe.
pub const TAG_TIMEFRAME: &str = "timeframe";
/// Version tag: comma-separated pairs.
pub const TAG_PAIRS: &str = "pairs";
/// Version tag: warm-up candles (the strategy's `startup_candle_count`).
pub const TAG_WARMUP: &str = "warmup_candles";
/// Version tag: where the config is (`runs:/<run_id>/config/strategy.json`).
pub const TAG_CONFIG_PATH: &str = "configuration_file";
/// Model tag marking a registered model as a TradAI strategy.
pub const TAG_KIND: &str = "tradai.kind";

/// What registering a strategy version records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StrategyRegistration {
    /// Strategy (and registered model) name.
    pub name: String,
    /// Timeframe it runs on.
    pub timeframe: String,
    /// Pairs it trades.
    pub pairs: Vec<String>,
    /// Start-up candles it needs.
    pub warmup_candles: u64,
    /// Its config (parameters, ROI, stop-loss …), as `tradai backtest --strategy-config` reads it.
    pub config: serde_json::Value,
    /// Free text for the version.
    pub description: String,
    /// Extra version tags.
    pub tags: Tags,
}

/// A strategy version with its config, as loaded by [`load_strategy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadedStrategy {
    /// The registry version.
    pub version: ModelVersion,
    /// The config stored with it.
    pub config: serde_json::Value,
}

/// Registers a new version of a strategy (creating the registered model on first use) and
/// returns it. `record_id` makes the registration run idempotent (e.g. a hash of the config).
///
/// # Errors
/// [`TrackingError`] from the tracker or registry; [`TrackingError::Invalid`] for an empty name
/// or a config that is not a JSON object.
pub async fn register_strategy(
    tracker: &dyn ExperimentTracker,
    registry: &dyn ModelRegistry,
    reg: &StrategyRegistration,
) -> Result<ModelVersion, TrackingError> {
    if reg.name.trim().is_empty() {
        return Err(TrackingError::invalid("name", "a strategy name is required"));
    }
    if !reg.config.is_object() {
        return Err(TrackingError::invalid("config", "a strategy config must be a JSON object"));
    }
    let config = serde_json::to_vec_pretty(&reg.config).map_err(|e| TrackingError::invalid("config", e.to_string()))?;
    let mut record = RunRecord::new(uuid::Uuid::new_v4().simple().to_string(), format!("strategies/{}", reg.name));
    record.run_name = Some(format!("register {}", reg.name));
    record.params.insert("strategy".into(), reg.name.clone());
    record.params.insert(TAG_TIMEFRAME.into(), reg.timeframe.clone());
    record.params.insert(TAG_PAIRS.into(), reg.pairs.join(","));
    record.params.insert(TAG_WARMUP.into(), reg.warmup_candles.to_string());
    record.artifacts.push(crate::Artifact { path: CONFIG_ARTIFACT.into(), content: config });
    let run_id = tracker.log_run(&record).await?;

    match registry.get_registered_model(&reg.name).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {
            let mut tags = Tags::new();
            tags.insert(TAG_KIND.into(), "strategy".into());
            let new = NewRegisteredModel { name: reg.name.clone(), description: Some(format!("TradAI strategy {}", reg.name)), tags };
            match registry.create_registered_model(&new).await {
                Ok(_) | Err(TrackingError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    }
    let mut tags: Tags = reg.tags.clone();
    tags.insert(TAG_TIMEFRAME.into(), reg.timeframe.clone());
    tags.insert(TAG_PAIRS.into(), reg.pairs.join(","));
    tags.insert(TAG_WARMUP.into(), reg.warmup_candles.to_string());
    tags.insert(TAG_CONFIG_PATH.into(), format!("runs:/{run_id}/{CONFIG_ARTIFACT}"));
    let version = NewModelVersion {
        name: reg.name.clone(),
        source: format!("runs:/{run_id}/config"),
        run_id: Some(run_id),
        description: (!reg.description.is_empty()).then(|| reg.description.clone()),
        tags,
    };
    registry.create_model_version(&version).await
}

/// Which version of a strategy to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    /// The production version: the `champion` alias, else the newest Production version.
    Production,
    /// The version an alias points at (`challenger`).
    Alias(String),
    /// A version number.
    Number(u64),
    /// The newest version in a stage (`staging`, `archived`); `production` is
    /// [`VersionSelector::Production`], which prefers the `champion` alias.
    Stage(crate::Stage),
}

impl std::str::FromStr for VersionSelector {
    type Err = TrackingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("production") || t.eq_ignore_ascii_case("champion") {
            return Ok(Self::Production);
        }
        if t.eq_ignore_ascii_case("staging") || t.eq_ignore_ascii_case("archived") {
            return t.parse().map(Self::Stage);
        }
        let bad = || TrackingError::invalid("version", format!("'{s}' is not production, staging, a version number (from 1) or an alias"));
        // Digits only: `parse` would take `+2` as 2.
        if let Some(n) = t.bytes().all(|b| b.is_ascii_digit()).then(|| t.parse::<u64>().ok()).flatten() {
            // Registered versions are numbered from 1.
            return if n == 0 { Err(bad()) } else { Ok(Self::Number(n)) };
        }
        // An alias starts with a letter: `-1` or `+2` is a bad number, not an alias.
        if !t.starts_with(|c: char| c.is_ascii_alphabetic()) || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(bad());
        }
        Ok(Self::Alias(t.to_owned()))
    }
}

/// The version `which` selects: the champion (else the newest Production version), the newest
/// version in a stage, the version an alias points at, or a number. The one resolution of a
/// selector, for strategies and models alike.
///
/// # Errors
/// [`TrackingError::NotFound`] naming the model, alias, stage or version.
pub async fn resolve_version(registry: &dyn ModelRegistry, name: &str, which: &VersionSelector) -> Result<ModelVersion, TrackingError> {
    Ok(match which {
        VersionSelector::Production => registry
            .production_version(name)
            .await?
            .ok_or_else(|| TrackingError::not_found(crate::Entity::Alias, format!("production version of '{name}'")))?,
        VersionSelector::Stage(stage) => registry
            .list_model_versions(name)
            .await?
            .into_iter()
            .rev()
            .find(|v| v.current_stage == *stage)
            .ok_or_else(|| TrackingError::not_found(crate::Entity::Alias, format!("a version of '{name}' in stage {stage}")))?,
        VersionSelector::Alias(a) => registry.get_version_by_alias(name, a).await?,
        VersionSelector::Number(n) => registry.get_model_version(name, *n).await?,
    })
}

/// Loads a strategy version and its config (the artifact its `configuration_file` tag names).
///
/// # Errors
/// [`TrackingError::NotFound`] for an unknown strategy, version or alias, or a strategy with
/// no production version; [`TrackingError::Invalid`] when the stored config is not JSON.
pub async fn load_strategy(
    tracker: &dyn ExperimentTracker,
    registry: &dyn ModelRegistry,
    name: &str,
    which: &VersionSelector,
) -> Result<LoadedStrategy, TrackingError> {
    let version = resolve_version(registry, name, which).await?;
    let path = version.tags.get(TAG_CONFIG_PATH).cloned().unwrap_or_default();
    let (run_id, artifact) = parse_runs_uri(&path)
        .or_else(|| version.run_id.as_deref().map(|r| (r.to_owned(), CONFIG_ARTIFACT.to_owned())))
        .ok_or_else(|| TrackingError::invalid("configuration_file", format!("version {} of '{name}' has no config", version.version)))?;
    let bytes = tracker.download_artifact(&run_id, &artifact).await?;
    let config = serde_json::from_slice(&bytes).map_err(|e| {
        TrackingError::invalid("configuration_file", format!("config of '{name}' version {} ({path}) is not JSON: {e}", version.version))
    })?;
    Ok(LoadedStrategy { version, config })
}

/// `runs:/<run_id>/<path>` → (run id, path).
fn parse_runs_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("runs:/")?;
    let (run, path) = rest.split_once('/')?;
    (!run.is_empty() && !path.is_empty()).then(|| (run.to_owned(), path.to_owned()))
}

/// Metadata tags of a version as a map (for display).
#[must_use]
pub fn strategy_tags(v: &ModelVersion) -> BTreeMap<&str, &str> {
    [TAG_TIMEFRAME, TAG_PAIRS, TAG_WARMUP, TAG_CONFIG_PATH].into_iter().filter_map(|k| v.tags.get(k).map(|x| (k, x.as_str()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmbeddedStore;

    #[test]
    fn version_selectors_refuse_signed_and_zero_numbers() {
        assert!(matches!("production".parse::<VersionSelector>(), Ok(VersionSelector::Production)));
        assert!(matches!("3".parse::<VersionSelector>(), Ok(VersionSelector::Number(3))));
        assert!(matches!("challenger".parse::<VersionSelector>(), Ok(VersionSelector::Alias(_))));
        assert!(matches!("Staging".parse::<VersionSelector>(), Ok(VersionSelector::Stage(crate::Stage::Staging))));
        for bad in ["-1", "0", "+2", "", "a b", "-x"] {
            let e = bad.parse::<VersionSelector>().unwrap_err().to_string();
            assert!(e.contains(&format!("'{bad}'")), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn register_promote_load_and_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let mut reg = StrategyRegistration {
            name: "EmaCross".into(),
            timeframe: "1h".into(),
            pairs: vec!["BTC/USDT".into(), "ETH/USDT".into()],
            warmup_candles: 50,
            config: serde_json::json!({"params": {"fast": 10}}),
            ..StrategyRegistration::default()
        };
        let v1 = register_strategy(&store, &store, &reg).await.unwrap();
        reg.config = serde_json::json!({"params": {"fast": 12}});
        let v2 = register_strategy(&store, &store, &reg).await.unwrap();
        assert_eq!((v1.version, v2.version), (1, 2));
        assert_eq!(v2.tags[TAG_PAIRS], "BTC/USDT,ETH/USDT");

        let none = load_strategy(&store, &store, "EmaCross", &VersionSelector::Production).await.unwrap_err();
        assert!(none.is_not_found(), "{none}");
        store.promote("EmaCross", 1).await.unwrap();
        store.promote("EmaCross", 2).await.unwrap();
        let live = load_strategy(&store, &store, "EmaCross", &"champion".parse().unwrap()).await.unwrap();
        assert_eq!((live.version.version, live.config["params"]["fast"].as_i64()), (2, Some(12)));
        store.rollback("EmaCross").await.unwrap();
        let live = load_strategy(&store, &store, "EmaCross", &VersionSelector::Production).await.unwrap();
        assert_eq!((live.version.version, live.config["params"]["fast"].as_i64()), (1, Some(10)));
        let err = load_strategy(&store, &store, "Nope", &VersionSelector::Production).await.unwrap_err();
        assert!(err.to_string().contains("Nope"), "{err}");
    }
}
