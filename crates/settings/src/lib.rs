//! Layered settings, the Rust counterpart of the seeds' pydantic settings.
//!
//! Precedence, lowest first: built-in defaults < `tradai.toml` < `TRADAI_*` environment
//! variables < command-line flags. Nested keys use `__` in the environment
//! (`TRADAI_BINANCE__API_KEY` sets `binance.api_key`); top-level keys need no section
//! (`TRADAI_DATA_DIR`). Every layer is merged as a JSON tree and the result is deserialised once,
//! so an error names the key and the layer it came from.
//!
//! Secrets are wrapped in [`Secret`], whose `Debug`, `Display` and `Serialize` never print the
//! value; [`Settings::masked`] is what `tradai config show` prints.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A secret string (API key, token, password). It never prints its value.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[must_use]
    pub fn new(v: impl Into<String>) -> Self {
        Self(v.into())
    }

    /// The secret value, for the one place that sends it (a signed request, an auth header).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether a value is set.
    #[must_use]
    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"********\"" })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "" } else { "********" })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "********" })
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// Exchange credentials and endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeSettings {
    /// API key.
    pub api_key: Secret,
    /// API secret.
    pub api_secret: Secret,
    /// Spot REST base URL.
    pub spot_url: String,
    /// USDT-M futures REST base URL.
    pub futures_url: String,
}

impl Default for ExchangeSettings {
    fn default() -> Self {
        Self {
            api_key: Secret::default(),
            api_secret: Secret::default(),
            spot_url: "https://api.binance.com".into(),
            futures_url: "https://fapi.binance.com".into(),
        }
    }
}

/// The exchange's account keys: `[exchange]` as a table (`exchange = "binance"` still names
/// only the default exchange). Keys come from `api_key` / `api_secret`
/// (`TRADAI_EXCHANGE__API_KEY`, `TRADAI_EXCHANGE__API_SECRET`), else from `key_file`, else
/// from the Secrets Manager secret `secret_id` (read by the CLI), else
/// from the older `binance.api_key` / `binance.api_secret`; see
/// [`Settings::exchange_credentials`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeKeys {
    /// API key.
    pub api_key: Secret,
    /// API secret.
    pub api_secret: Secret,
    /// A TOML file holding `api_key = "..."` and `api_secret = "..."` (kept out of the
    /// config file and the environment; readable by the node's user only).
    pub key_file: String,
    /// An AWS Secrets Manager secret (name or ARN) holding JSON `{"api_key", "api_secret"}`,
    /// as the persistent stack's `ExchangeKeysSecret`; read by `tradai trade` (built with the
    /// `aws` feature) when neither the keys nor `key_file` are set.
    pub secret_id: String,
}

/// The account keys a node signs with, and where they came from (for messages: never the
/// keys themselves).
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    /// API key.
    pub api_key: Secret,
    /// API secret.
    pub api_secret: Secret,
    /// `exchange.api_key`, `exchange.key_file <path>`, `exchange.secret_id <id>` or
    /// `binance.api_key`.
    pub source: String,
}

/// Bybit endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BybitSettings {
    /// REST base URL (spot and linear futures share it).
    pub url: String,
}

impl Default for BybitSettings {
    fn default() -> Self {
        Self { url: "https://api.bybit.com".into() }
    }
}

/// Environment variables other tools (or older TradAI versions) use for a setting, read as
/// part of the environment layer: above the file, below the `TRADAI_*` variable of the key.
pub const ENV_ALIASES: [(&str, &str); 5] = [
    ("MLFLOW_TRACKING_URI", "tracking.uri"),
    ("S3_RESULTS_BUCKET", "results_bucket"),
    ("TRADAI_BINANCE_SPOT_URL", "binance.spot_url"),
    ("TRADAI_BINANCE_FUTURES_URL", "binance.futures_url"),
    ("TRADAI_BYBIT_URL", "bybit.url"),
];

/// Experiment-tracking settings (MLflow-compatible).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TrackingSettings {
    /// Tracking URI; empty means the embedded store under the data dir.
    pub uri: String,
    /// Basic-auth user.
    pub username: String,
    /// Basic-auth password.
    pub password: Secret,
}

/// The ML model lifecycle (the seeds' drift-monitor, model comparator, A/B test and
/// retraining settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlSettings {
    /// PSI above this flags a feature (the seeds' `psi_threshold`).
    pub psi_threshold: f64,
    /// Kolmogorov–Smirnov statistic above this flags a feature (`ks_threshold`).
    pub ks_threshold: f64,
    /// `both` (PSI and KS must exceed their thresholds) or `either`.
    pub drift_rule: String,
    /// Smallest relative Sharpe improvement (0.05 = 5 %) for a challenger to be promoted.
    pub min_improvement: f64,
    /// Bootstrap confidence a challenger needs to be promoted.
    pub min_confidence: f64,
    /// Fewest out-of-sample trades per model for a comparison to decide anything.
    pub min_trades: usize,
    /// Days after which a model is due for retraining regardless of drift.
    pub max_model_age_days: f64,
    /// AUC below this on recent data counts as performance decay.
    pub min_auc: f64,
    /// Fewest trades per version before an A/B test decides.
    pub ab_min_trades: usize,
    /// Significance level of the A/B test.
    pub ab_significance: f64,
}

impl Default for MlSettings {
    fn default() -> Self {
        Self {
            psi_threshold: 0.2,
            ks_threshold: 0.1,
            drift_rule: "both".into(),
            min_improvement: 0.05,
            min_confidence: 0.9,
            min_trades: 20,
            max_model_age_days: 30.0,
            min_auc: 0.52,
            ab_min_trades: 100,
            ab_significance: 0.05,
        }
    }
}

/// Service ports and limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address services bind to.
    pub host: String,
    /// backend-api port.
    pub backend_port: u16,
    /// data-collection port.
    pub data_collection_port: u16,
    /// strategy-service port.
    pub strategy_service_port: u16,
    /// Worker pool size of the local executor.
    pub workers: usize,
    /// How backtest jobs run: `local` (in-process worker pool) or `subprocess` (each job runs
    /// `tradai backtest` as a child process).
    pub executor: String,
    /// The `tradai` binary the `subprocess` executor runs; empty means this binary.
    pub backtest_bin: String,
    /// Folder of user strategy files a job's `strategy_file` names (relative to it); empty:
    /// jobs run built-in strategies only.
    pub strategy_dir: String,
    /// Attempts a job gets when its worker dies before it gives up as FAILED (a job handed
    /// back by a graceful shutdown does not use one up).
    pub max_attempts: u32,
    /// Seconds before a job whose worker died is tried again; doubled for every further
    /// attempt, at most five minutes.
    pub retry_backoff_secs: u64,
    /// Seconds without a heartbeat after which a RUNNING job counts as orphaned.
    pub orphan_after_secs: u64,
    /// Seconds running jobs get to finish on shutdown before they are handed back as PENDING.
    pub shutdown_grace_secs: u64,
    /// Largest accepted request body in bytes.
    pub body_limit_bytes: usize,
    /// Sustained requests per second per client address on state-changing routes (0: no limit).
    pub rate_limit_per_sec: u32,
    /// Seconds a connection may take to send a complete request head (also how long a
    /// kept-alive connection may wait for its next request).
    pub header_timeout_secs: u64,
    /// Longest gap in seconds between two parts of a request body.
    pub body_timeout_secs: u64,
    /// Seconds without a byte in or out, while no request is being handled, after which a
    /// connection is closed.
    pub idle_timeout_secs: u64,
    /// Most open connections per service; at the cap the idlest one is closed for a newcomer.
    pub max_connections: usize,
    /// data-collection URL for a backend-api run on its own (`tradai serve backend-api`).
    pub data_collection_url: String,
    /// strategy-service URL for a backend-api run on its own.
    pub strategy_service_url: String,
    /// Directory of layered strategy config files (`<Strategy>.toml` / `.json`); empty means
    /// `strategies/` under the service state directory.
    pub strategy_config_dir: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            backend_port: 8000,
            data_collection_port: 8002,
            strategy_service_port: 8003,
            workers: 2,
            executor: "local".into(),
            backtest_bin: String::new(),
            strategy_dir: String::new(),
            max_attempts: 5,
            retry_backoff_secs: 2,
            orphan_after_secs: 30,
            shutdown_grace_secs: 10,
            body_limit_bytes: 1024 * 1024,
            rate_limit_per_sec: 100,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            idle_timeout_secs: 60,
            max_connections: 1024,
            data_collection_url: String::new(),
            strategy_service_url: String::new(),
            strategy_config_dir: String::new(),
        }
    }
}

/// The effective settings of a TradAI process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where candles and the embedded databases live (a directory or an `s3://` URL).
    pub data_dir: String,
    /// The local directory of what cannot live on S3: the job and API-key database, job
    /// results, the tracking outbox, trading nodes' state, and (unless `tracking.uri` names
    /// one) the embedded tracker. Empty: `<data_dir>/_tradai` for a local data dir, and
    /// `~/.tradai/state` when `data_dir` is an `s3://` URL (see [`Settings::state_dir`]).
    pub state_dir: String,
    /// The results bucket (`s3://bucket/prefix`, or a bare bucket name meaning the prefix
    /// `results`): every job's artifacts are copied there when it finishes, and the job
    /// endpoints read them back from it when this machine has no copy. Empty: none. Also
    /// `TRADAI_RESULTS_BUCKET` or the seeds' `S3_RESULTS_BUCKET`.
    pub results_bucket: String,
    /// Default exchange: `exchange = "binance"`, or the `name` of an `[exchange]` table.
    pub exchange: String,
    /// The account keys of the `[exchange]` table (its other keys than `name`).
    #[serde(skip)]
    pub exchange_keys: ExchangeKeys,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter (tracing `EnvFilter` syntax).
    pub log_level: String,
    /// Binance settings.
    pub binance: ExchangeSettings,
    /// Bybit settings.
    pub bybit: BybitSettings,
    /// Experiment tracking.
    pub tracking: TrackingSettings,
    /// Services.
    pub server: ServerSettings,
    /// The ML model lifecycle: drift thresholds, promotion and retraining rules.
    pub ml: MlSettings,
    /// Run defaults for `tradai backtest`, `hyperopt` and `jobs submit` (the `[run]` table of
    /// `tradai.toml`): any field of a backtest request (`strategy`, `pairs`, `timeframe`,
    /// `stake_amount`, `dry_run_wallet`, `max_open_trades`, `fee`, ...). Flags win over it; the
    /// entry point checks the keys, as this crate knows no run.
    pub run: Map<String, Value>,
    /// The handlers (`tradai handlers`, the scheduler of `tradai up`): plain keys apply to
    /// every handler (`alert_webhook_url`), `[handlers.<name>]` tables to one (`every = "5s"`,
    /// `consecutive_failure_threshold = 2`). The handlers crate checks the keys.
    pub handlers: Map<String, Value>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            state_dir: String::new(),
            results_bucket: String::new(),
            exchange: "binance".into(),
            exchange_keys: ExchangeKeys::default(),
            log_format: LogFormat::Human,
            log_level: "info".into(),
            binance: ExchangeSettings::default(),
            bybit: BybitSettings::default(),
            tracking: TrackingSettings::default(),
            server: ServerSettings::default(),
            ml: MlSettings::default(),
            run: Map::new(),
            handlers: Map::new(),
        }
    }
}

fn default_data_dir() -> String {
    home_dir().join(".tradai").join("data").to_string_lossy().into_owned()
}

/// `$HOME`, or the working directory when it is not set.
fn home_dir() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The config file exists but could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O cause.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// A key has a value of the wrong type, or is unknown.
    #[error("invalid setting from {layer}: {message}")]
    Invalid {
        /// Which layer supplied it (`tradai.toml`, `environment`, `flags`).
        layer: String,
        /// What serde said, naming the key.
        message: String,
    },
    /// An environment variable names no known setting or has a value of the wrong type.
    #[error("invalid environment variable {name}={value}: {reason}")]
    Env {
        /// The variable.
        name: String,
        /// Its value (masked when the key is a secret).
        value: String,
        /// Why.
        reason: String,
    },
    /// The exchange key file could not be used (its content is never quoted).
    #[error("exchange.key_file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Where each layer comes from. Built by the entry point from its flags.
#[derive(Debug, Clone, Default)]
pub struct SettingsSources {
    /// Explicit config file (`--config`); when `None`, `./tradai.toml` is used if it exists.
    pub config_file: Option<PathBuf>,
    /// Environment variables to consider (normally `std::env::vars()`).
    pub env: Vec<(String, String)>,
    /// Flag overrides as dotted keys (`data_dir`, `server.backend_port`) with raw values.
    pub flags: BTreeMap<String, String>,
}

impl SettingsSources {
    /// Sources from the process environment and the given config file and flags.
    #[must_use]
    pub fn from_process(config_file: Option<PathBuf>, flags: BTreeMap<String, String>) -> Self {
        Self { config_file, env: std::env::vars().collect(), flags }
    }
}

const SECRET_KEYS: [&str; 3] = ["api_key", "api_secret", "password"];

impl Settings {
    /// Loads the layered settings.
    ///
    /// # Errors
    /// [`SettingsError`] naming the file, variable or key that is wrong.
    pub fn load(src: &SettingsSources) -> Result<Self, SettingsError> {
        let mut defaults = serde_json::to_value(Self::default()).map_err(|e| invalid("defaults", &e))?;
        // While layering, `exchange` is always the table, so that `TRADAI_EXCHANGE__API_KEY`
        // finds its slot and a later `exchange = "bybit"` keeps the keys of another layer.
        let keys = serde_json::to_value(ExchangeKeys::default()).map_err(|e| invalid("defaults", &e))?;
        exchange_as_table(&mut defaults);
        merge_json(&mut defaults, serde_json::json!({ "exchange": keys }));
        let mut tree = defaults.clone();
        // Secrets serialise masked; the default tree must hold real (empty) values.
        unmask_defaults(&mut tree);

        let file = match &src.config_file {
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from("tradai.toml")).filter(|p| p.exists()),
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|source| SettingsError::Read { path: path.clone(), source })?;
            let parsed: toml::Value =
                toml::from_str(&text).map_err(|e| SettingsError::Toml { path: path.clone(), message: e.message().to_owned() })?;
            let mut as_json = serde_json::to_value(parsed).map_err(|e| invalid("tradai.toml", &e))?;
            exchange_as_table(&mut as_json);
            merge_json(&mut tree, as_json);
            check(&tree, "tradai.toml")?;
        }

        // Aliases first, so that the key's own TRADAI_* variable wins over them.
        for (alias, key) in ENV_ALIASES {
            let Some((_, raw)) = src.env.iter().find(|(n, v)| n == alias && !v.trim().is_empty()) else { continue };
            let path: Vec<String> = key.split('.').map(str::to_owned).collect();
            set(&mut tree, &path, Value::String(raw.trim().to_owned()));
        }
        for (name, raw) in &src.env {
            if ENV_ALIASES.iter().any(|(a, _)| a == name) {
                continue;
            }
            let Some(rest) = name.strip_prefix("TRADAI_") else { continue };
            if matches!(rest, "CONFIG" | "API_URL") || rest.is_empty() {
                continue;
            }
            let path = exchange_name_path(rest.split("__").map(str::to_lowercase).collect());
            let shown = if path.last().is_some_and(|k| SECRET_KEYS.contains(&k.as_str())) { "********".to_owned() } else { raw.clone() };
            let Some(slot) = lookup(&defaults, &path) else {
                // Unknown TRADAI_* variables belong to other tools (or later versions): ignore them.
                continue;
            };
            let v = typed_value(slot, raw).map_err(|reason| SettingsError::Env { name: name.clone(), value: shown, reason })?;
            set(&mut tree, &path, v);
        }
        check(&tree, "environment")?;

        for (key, raw) in &src.flags {
            let path = exchange_name_path(key.split('.').map(str::to_owned).collect());
            let slot = lookup(&defaults, &path)
                .ok_or_else(|| SettingsError::Invalid { layer: "flags".into(), message: format!("unknown setting '{key}'") })?;
            let v = typed_value(slot, raw)
                .map_err(|reason| SettingsError::Invalid { layer: "flags".into(), message: format!("{key}={raw}: {reason}") })?;
            set(&mut tree, &path, v);
        }
        finish(tree).map_err(|e| invalid("flags", &e))
    }

    /// The exchange account keys: `exchange.api_key` / `exchange.api_secret` when either is
    /// set, else the keys in `exchange.key_file`, else the older `binance.api_key` /
    /// `binance.api_secret`; `None` when none is set. The keys are never part of an error.
    ///
    /// # Errors
    /// [`SettingsError::KeyFile`] when the key file cannot be read or lacks a key.
    pub fn exchange_credentials(&self) -> Result<Option<Credentials>, SettingsError> {
        let k = &self.exchange_keys;
        if k.api_key.is_set() || k.api_secret.is_set() {
            return Ok(Some(Credentials {
                api_key: k.api_key.clone(),
                api_secret: k.api_secret.clone(),
                source: "exchange.api_key".into(),
            }));
        }
        if !k.key_file.trim().is_empty() {
            let path = k.key_file.trim();
            let fail = |reason: String| SettingsError::KeyFile { path: path.to_owned(), reason };
            let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it ({})", e.kind())))?;
            // The parser's message may quote the file, and so a key: only the shape is said.
            let keys: toml::Table =
                toml::from_str(&text).map_err(|_| fail("is not TOML of the form api_key = \"...\" / api_secret = \"...\"".into()))?;
            let get = |name: &str| match keys.get(name) {
                Some(toml::Value::String(v)) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
                _ => Err(fail(format!("has no {name} string"))),
            };
            return Ok(Some(Credentials {
                api_key: get("api_key")?,
                api_secret: get("api_secret")?,
                source: format!("exchange.key_file {path}"),
            }));
        }
        let b = &self.binance;
        if b.api_key.is_set() || b.api_secret.is_set() {
            return Ok(Some(Credentials {
                api_key: b.api_key.clone(),
                api_secret: b.api_secret.clone(),
                source: "binance.api_key".into(),
            }));
        }
        Ok(None)
    }

    /// The settings as JSON with every secret replaced by `********`.
    #[must_use]
    pub fn masked(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let (Some(m), Ok(keys)) = (v.as_object_mut(), serde_json::to_value(&self.exchange_keys)) {
            let mut table = serde_json::json!({ "name": self.exchange });
            merge_json(&mut table, keys);
            m.insert("exchange".into(), table);
        }
        // A tracking URI may carry basic-auth credentials (`http://user:pass@host`).
        if let Some(uri) = v.pointer_mut("/tracking/uri") {
            if let Some(s) = uri.as_str() {
                *uri = Value::String(mask_url_password(s));
            }
        }
        v
    }

    /// The data directory as a local path, when it is not a URL.
    #[must_use]
    pub fn local_data_dir(&self) -> Option<&Path> {
        (!self.data_dir.contains("://")).then(|| Path::new(&self.data_dir))
    }

    /// The local state directory: the `state_dir` setting, else `<data_dir>/_tradai` for a
    /// local data dir, else `~/.tradai/state` (an `s3://` data dir has no local home).
    #[must_use]
    pub fn state_dir(&self) -> PathBuf {
        if !self.state_dir.trim().is_empty() {
            return PathBuf::from(self.state_dir.trim());
        }
        match self.local_data_dir() {
            Some(d) => d.join("_tradai"),
            None => home_dir().join(".tradai").join("state"),
        }
    }

    /// The local directory the embedded stores default to (the embedded tracker lives in
    /// `<this>/tracking`): the data dir when it is local, else the state directory.
    #[must_use]
    pub fn local_home(&self) -> String {
        match self.local_data_dir() {
            Some(d) => d.display().to_string(),
            None => self.state_dir().display().to_string(),
        }
    }
}

/// `scheme://user:secret@host/...` → `scheme://user:****@host/...`; anything else unchanged.
fn mask_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_owned() };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:****@{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

fn invalid(layer: &str, e: &serde_json::Error) -> SettingsError {
    SettingsError::Invalid { layer: layer.into(), message: e.to_string() }
}

fn check(tree: &Value, layer: &str) -> Result<(), SettingsError> {
    finish(tree.clone()).map(|_| ()).map_err(|e| invalid(layer, &e))
}

/// `exchange = "bybit"` → `[exchange] name = "bybit"`, the shape layering works on.
fn exchange_as_table(tree: &mut Value) {
    if let Some(slot) = tree.get_mut("exchange") {
        if let Value::String(name) = slot {
            *slot = serde_json::json!({ "name": std::mem::take(name) });
        }
    }
}

/// `exchange` set on its own (`TRADAI_EXCHANGE=bybit`, a flag) is the table's `name`.
fn exchange_name_path(mut path: Vec<String>) -> Vec<String> {
    if path.len() == 1 && path[0] == "exchange" {
        path.push("name".into());
    }
    path
}

/// The layered tree as settings: the `[exchange]` table split into the default exchange's
/// name and its keys.
fn finish(mut tree: Value) -> Result<Settings, serde_json::Error> {
    let mut keys = ExchangeKeys::default();
    if let Some(Value::Object(table)) = tree.get_mut("exchange") {
        let name = table.remove("name").unwrap_or_else(|| Value::String("binance".into()));
        let rest = Value::Object(std::mem::take(table));
        keys = serde_json::from_value(rest).map_err(|e| <serde_json::Error as serde::de::Error>::custom(format!("exchange: {e}")))?;
        tree["exchange"] = name;
    }
    let mut s: Settings = serde_json::from_value(tree)?;
    s.exchange_keys = keys;
    Ok(s)
}

fn unmask_defaults(v: &mut Value) {
    match v {
        Value::Object(m) => m.values_mut().for_each(unmask_defaults),
        Value::String(s) if s == "********" => s.clear(),
        _ => {}
    }
}

/// Merges `over` into `base`: objects key by key, recursively; anything else (arrays
/// included) replaced whole. The one JSON layering of the workspace: settings layers here,
/// strategy config layers in the strategy service.
pub fn merge_json(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge_json(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(k))
}

fn set(tree: &mut Value, path: &[String], v: Value) {
    let mut cur = tree;
    for k in &path[..path.len() - 1] {
        if !cur.get(k).is_some_and(Value::is_object) {
            if let Value::Object(m) = cur {
                m.insert(k.clone(), Value::Object(Map::new()));
            }
        }
        cur = cur.get_mut(k).expect("just inserted");
    }
    if let Value::Object(m) = cur {
        m.insert(path[path.len() - 1].clone(), v);
    }
}

fn typed_value(slot: &Value, raw: &str) -> Result<Value, String> {
    match slot {
        Value::Bool(_) => match raw.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Value::Bool(true)),
            "0" | "false" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err("expected true or false".into()),
        },
        Value::Number(n) if n.is_u64() || n.is_i64() => {
            raw.trim().parse::<i64>().map(Value::from).map_err(|_| "expected a whole number".into())
        }
        Value::Number(_) => raw.trim().parse::<f64>().map(Value::from).map_err(|_| "expected a number".into()),
        Value::Object(_) => Err("names a section, not a setting".into()),
        _ => Ok(Value::String(raw.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tracking_uri_passwords_are_masked() {
        assert_eq!(super::mask_url_password("http://bob:hunter2@mlflow:5000/mlflow"), "http://bob:****@mlflow:5000/mlflow");
        assert_eq!(super::mask_url_password("http://mlflow:5000/a@b"), "http://mlflow:5000/a@b");
        assert_eq!(super::mask_url_password("/data/tracking"), "/data/tracking");
    }

    use super::*;

    fn src(file: Option<PathBuf>, env: &[(&str, &str)], flags: &[(&str, &str)]) -> SettingsSources {
        SettingsSources {
            config_file: file,
            env: env.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect(),
            flags: flags.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect(),
        }
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tradai.toml");
        std::fs::write(&f, "data_dir = \"/from/file\"\nexchange = \"binance\"\n[server]\nbackend_port = 9000\nworkers = 4\n").unwrap();
        let s = Settings::load(&src(Some(f.clone()), &[], &[])).unwrap();
        assert_eq!(s.data_dir, "/from/file");
        assert_eq!(s.server.backend_port, 9000);
        assert_eq!(s.server.data_collection_port, 8002);

        let s = Settings::load(&src(Some(f.clone()), &[("TRADAI_DATA_DIR", "/from/env"), ("TRADAI_SERVER__WORKERS", "8")], &[])).unwrap();
        assert_eq!(s.data_dir, "/from/env");
        assert_eq!(s.server.workers, 8);

        let s = Settings::load(&src(Some(f), &[("TRADAI_DATA_DIR", "/from/env")], &[("data_dir", "/from/flag")])).unwrap();
        assert_eq!(s.data_dir, "/from/flag");
    }

    #[test]
    fn aliases_beat_the_file_and_lose_to_their_own_variable() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tradai.toml");
        std::fs::write(&f, "[tracking]\nuri = \"http://from-file:5000\"\n[bybit]\nurl = \"http://file\"\n").unwrap();
        let s = Settings::load(&src(
            Some(f.clone()),
            &[("MLFLOW_TRACKING_URI", "http://from-env:5000"), ("TRADAI_BINANCE_SPOT_URL", "http://127.0.0.1:9")],
            &[],
        ))
        .unwrap();
        assert_eq!(s.tracking.uri, "http://from-env:5000", "MLFLOW_TRACKING_URI beats the file");
        assert_eq!(s.binance.spot_url, "http://127.0.0.1:9");
        assert_eq!(s.bybit.url, "http://file");
        let s = Settings::load(&src(
            Some(f),
            &[
                ("MLFLOW_TRACKING_URI", "http://from-env:5000"),
                ("TRADAI_TRACKING__URI", "http://canonical:5000"),
                ("TRADAI_BYBIT_URL", "http://b"),
            ],
            &[],
        ))
        .unwrap();
        assert_eq!(s.tracking.uri, "http://canonical:5000");
        assert_eq!(s.bybit.url, "http://b");
    }

    #[test]
    fn a_run_table_is_kept_for_the_entry_point() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tradai.toml");
        std::fs::write(&f, "exchange = \"bybit\"\n[run]\nstrategy = \"EmaCross\"\npairs = [\"ETH/BTC\"]\nstake_amount = 0.05\n").unwrap();
        let s = Settings::load(&src(Some(f), &[], &[])).unwrap();
        assert_eq!(s.exchange, "bybit");
        assert_eq!(s.run["strategy"], "EmaCross");
        assert_eq!(s.run["stake_amount"], 0.05);
    }

    #[test]
    fn state_dir_defaults_beside_a_local_data_dir_and_at_home_for_s3() {
        let s = Settings::load(&src(None, &[("TRADAI_DATA_DIR", "/d")], &[])).unwrap();
        assert_eq!(s.state_dir(), PathBuf::from("/d/_tradai"));
        assert_eq!(s.local_home(), "/d");
        let s = Settings::load(&src(None, &[("TRADAI_DATA_DIR", "s3://b/p")], &[])).unwrap();
        assert!(s.state_dir().ends_with(".tradai/state"), "{}", s.state_dir().display());
        let s = Settings::load(&src(None, &[("TRADAI_DATA_DIR", "s3://b/p"), ("TRADAI_STATE_DIR", "/var/lib/tradai")], &[])).unwrap();
        assert_eq!(s.state_dir(), PathBuf::from("/var/lib/tradai"));
        assert_eq!(s.local_home(), "/var/lib/tradai");
        let s = Settings::load(&src(None, &[("S3_RESULTS_BUCKET", "seeds"), ("TRADAI_RESULTS_BUCKET", "ours")], &[])).unwrap();
        assert_eq!(s.results_bucket, "ours");
        let s = Settings::load(&src(None, &[("S3_RESULTS_BUCKET", "seeds")], &[])).unwrap();
        assert_eq!(s.results_bucket, "seeds");
    }

    #[test]
    fn secrets_are_masked() {
        let s = Settings::load(&src(None, &[("TRADAI_BINANCE__API_KEY", "abc123supersecret")], &[])).unwrap();
        assert_eq!(s.binance.api_key.expose(), "abc123supersecret");
        let shown = s.masked().to_string();
        assert!(!shown.contains("abc123supersecret"));
        assert!(shown.contains("********"));
        assert!(!format!("{s:?}").contains("abc123supersecret"));
    }

    #[test]
    fn exchange_is_a_name_or_a_table_with_keys() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tradai.toml");
        // The old form: a name only.
        std::fs::write(&f, "exchange = \"bybit\"\n").unwrap();
        let s =
            Settings::load(&src(Some(f.clone()), &[("TRADAI_EXCHANGE__API_KEY", "k-env"), ("TRADAI_EXCHANGE__API_SECRET", "s-env")], &[]))
                .unwrap();
        assert_eq!(s.exchange, "bybit", "keys from the environment keep the file's name");
        let c = s.exchange_credentials().unwrap().unwrap();
        assert_eq!((c.api_key.expose(), c.api_secret.expose(), c.source.as_str()), ("k-env", "s-env", "exchange.api_key"));
        // The table form, and the name set on its own from the environment.
        std::fs::write(&f, "[exchange]\nname = \"binance\"\napi_key = \"k-file\"\napi_secret = \"s-file\"\n").unwrap();
        let s = Settings::load(&src(Some(f.clone()), &[("TRADAI_EXCHANGE", "bybit")], &[])).unwrap();
        assert_eq!(s.exchange, "bybit");
        assert_eq!(s.exchange_credentials().unwrap().unwrap().api_secret.expose(), "s-file");
        let shown = s.masked();
        assert_eq!(shown["exchange"]["name"], "bybit");
        assert_eq!(shown["exchange"]["api_secret"], "********");
        assert!(!shown.to_string().contains("s-file") && !format!("{s:?}").contains("s-file"));
        // Flags name it too; an unknown key of the table is named.
        assert_eq!(Settings::load(&src(Some(f.clone()), &[], &[("exchange", "binance")])).unwrap().exchange, "binance");
        std::fs::write(&f, "[exchange]\napi_kye = \"x\"\n").unwrap();
        let e = Settings::load(&src(Some(f), &[], &[])).unwrap_err().to_string();
        assert!(e.contains("api_kye") && e.contains("tradai.toml"), "{e}");
    }

    #[test]
    fn keys_come_from_a_key_file_or_the_old_binance_keys() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys.toml");
        std::fs::write(&keys, "api_key = \"k-kf\"\napi_secret = \"s-kf\"\n").unwrap();
        let kf = keys.to_str().unwrap();
        let s = Settings::load(&src(None, &[("TRADAI_EXCHANGE__KEY_FILE", kf), ("TRADAI_BINANCE__API_KEY", "old")], &[])).unwrap();
        let c = s.exchange_credentials().unwrap().unwrap();
        assert_eq!((c.api_key.expose(), c.api_secret.expose()), ("k-kf", "s-kf"));
        assert_eq!(c.source, format!("exchange.key_file {kf}"));
        // The older keys still work when nothing newer is set.
        let s = Settings::load(&src(None, &[("TRADAI_BINANCE__API_KEY", "k-old"), ("TRADAI_BINANCE__API_SECRET", "s-old")], &[])).unwrap();
        assert_eq!(s.exchange_credentials().unwrap().unwrap().source, "binance.api_key");
        assert_eq!(Settings::load(&src(None, &[], &[])).unwrap().exchange_credentials().unwrap(), None);
        // A broken or incomplete key file is named, its content never quoted.
        std::fs::write(&keys, "api_key = s3cr3t-broken\n").unwrap();
        let s = Settings::load(&src(None, &[("TRADAI_EXCHANGE__KEY_FILE", kf)], &[])).unwrap();
        let e = s.exchange_credentials().unwrap_err().to_string();
        assert!(e.contains(kf) && !e.contains("s3cr3t"), "{e}");
        std::fs::write(&keys, "api_key = \"s3cr3t\"\n").unwrap();
        let e = s.exchange_credentials().unwrap_err().to_string();
        assert!(e.contains("api_secret") && !e.contains("s3cr3t"), "{e}");
        let s = Settings::load(&src(None, &[("TRADAI_EXCHANGE__KEY_FILE", "/nonexistent/keys.toml")], &[])).unwrap();
        assert!(s.exchange_credentials().unwrap_err().to_string().contains("/nonexistent/keys.toml"));
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = Settings::load(&src(None, &[("TRADAI_SERVER__BACKEND_PORT", "eighty")], &[])).unwrap_err().to_string();
        assert!(e.contains("TRADAI_SERVER__BACKEND_PORT=eighty"), "{e}");
        let e = Settings::load(&src(None, &[("TRADAI_BINANCE__API_SECRET", "x")], &[("log_format", "xml")])).unwrap_err().to_string();
        assert!(e.contains("xml"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.toml");
        std::fs::write(&f, "dataa_dir = 1\n").unwrap();
        let e = Settings::load(&src(Some(f), &[], &[])).unwrap_err().to_string();
        assert!(e.contains("dataa_dir"), "{e}");
    }
}
