//! The MLflow back end: a REST client for MLflow's tracking and registry API 2.0 and for its
//! artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/<path>`), so artifacts go through the
//! tracking server and the client needs no object-store credentials.
//!
//! A tracking URI may carry a path prefix (`http://host/mlflow` behind a reverse proxy): every
//! endpoint is appended to it. Credentials come from `MLFLOW_TRACKING_USERNAME` /
//! `MLFLOW_TRACKING_PASSWORD` (basic auth) or `MLFLOW_TRACKING_TOKEN` (bearer), as MLflow's own
//! client reads them; they are [`Secret`]s and never appear in `Debug`, errors or logs.
//!
//! Errors say which URI failed and group by cause: connection refused, timeouts, 5xx and 429
//! are retryable; a 404 without MLflow's error body means the URI (or its prefix) is wrong;
//! `RESOURCE_DOES_NOT_EXIST` becomes [`TrackingError::NotFound`] naming the entity.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value as Json};
use tradai_settings::Secret;

use crate::model::{
    Experiment, FileInfo, Metric, ModelVersion, NewModelVersion, NewRegisteredModel, NewRun, OtherVersions, Params, RegisteredModel, Run,
    RunInfo, RunQuery, RunStatus, Stage, Tags, TAG_PARENT_RUN_ID,
};
use crate::redact;
use crate::registry::{validate_alias, validate_model_name};
use crate::tracker::{parse_query, validate_artifact_path, validate_batch};
use crate::{Entity, ExperimentTracker, ModelRegistry, TrackingError};

/// MLflow's limits per `runs/log-batch` request.
const BATCH_PARAMS: usize = 100;
const BATCH_TAGS: usize = 100;
const BATCH_TOTAL: usize = 1000;
/// MLflow's largest page for searches.
const MAX_PAGE: usize = 50_000;

/// How to reach an MLflow server.
#[derive(Debug, Clone)]
pub struct MlflowConfig {
    /// `http(s)://host:port[/prefix]`.
    pub uri: String,
    /// Basic-auth user.
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<Secret>,
    /// Bearer token (used when no username is set).
    pub token: Option<Secret>,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Connection timeout.
    pub connect_timeout: Duration,
}

impl MlflowConfig {
    /// No credentials, 30 s request and 5 s connection timeouts.
    #[must_use]
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            username: None,
            password: None,
            token: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// [`MlflowConfig::new`] with the credentials MLflow's own client reads:
    /// `MLFLOW_TRACKING_USERNAME`, `MLFLOW_TRACKING_PASSWORD`, `MLFLOW_TRACKING_TOKEN`.
    #[must_use]
    pub fn from_env(uri: impl Into<String>) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            username: var("MLFLOW_TRACKING_USERNAME"),
            password: var("MLFLOW_TRACKING_PASSWORD").map(Secret::new),
            token: var("MLFLOW_TRACKING_TOKEN").map(Secret::new),
            ..Self::new(uri)
        }
    }
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Basic { username: String, password: Secret },
    Bearer(Secret),
}

/// The MLflow REST client; implements both [`ExperimentTracker`] and [`ModelRegistry`].
/// Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct MlflowClient {
    http: reqwest::Client,
    /// The tracking URI without credentials and without a trailing slash.
    base: Url,
    auth: Auth,
    timeout: Duration,
}

/// The tracking URI for messages: no credentials, no trailing slash.
fn display(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

enum Body {
    None,
    Json(Json),
    Bytes(Vec<u8>),
}

/// What a request is about, so an MLflow "does not exist" / "already exists" names it.
type Subject = Option<(Entity, String)>;

#[derive(Deserialize)]
struct MlflowErrorBody {
    error_code: String,
    #[serde(default)]
    message: String,
}

impl MlflowClient {
    /// A client for one server. Makes no request.
    ///
    /// # Errors
    /// [`TrackingError::BadUri`] for a URI that is not `http(s)://host[:port][/prefix]`, or
    /// https in a build without the `tls` feature.
    pub fn new(config: MlflowConfig) -> Result<Self, TrackingError> {
        let bad = |reason: &str| TrackingError::BadUri { uri: redact(&config.uri), reason: reason.to_owned() };
        let mut base = Url::parse(config.uri.trim()).map_err(|e| bad(&e.to_string()))?;
        match base.scheme() {
            "http" => {}
            "https" if cfg!(feature = "tls") => {}
            "https" => return Err(bad("https needs the `tls` feature of tradai-tracking, which this build lacks")),
            other => return Err(bad(&format!("scheme '{other}' is not http or https"))),
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(bad("missing host"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad("a tracking uri has no query or fragment"));
        }
        // Credentials in the URI (http://user:pass@host) are honoured, then removed from it.
        let url_user = (!base.username().is_empty()).then(|| base.username().to_owned());
        let url_pass = base.password().map(Secret::new);
        let _ = base.set_username("");
        let _ = base.set_password(None);
        let path = base.path().trim_end_matches('/').to_owned();
        base.set_path(&path);
        let auth = match (config.username.or(url_user), config.password.or(url_pass), config.token) {
            (Some(username), password, _) => Auth::Basic { username, password: password.unwrap_or_else(|| Secret::new("")) },
            (None, _, Some(token)) => Auth::Bearer(token),
            _ => Auth::None,
        };
        // Proxies from the environment (HTTPS_PROXY, NO_PROXY); a tracker on loopback stays direct.
        let http = tradai_resilience::ProxyEnv::from_process()
            .apply(reqwest::Client::builder())
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("tradai/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad(&format!("cannot build the http client: {e}")))?;
        Ok(Self { http, base, auth, timeout: config.timeout })
    }

    /// [`MlflowClient::new`] with [`MlflowConfig::from_env`].
    ///
    /// # Errors
    /// As [`MlflowClient::new`].
    pub fn from_env(uri: &str) -> Result<Self, TrackingError> {
        Self::new(MlflowConfig::from_env(uri))
    }

    fn uri_string(&self) -> String {
        display(&self.base)
    }

    /// The base URL with `segments` appended (each percent-encoded).
    fn url<'a>(&self, segments: impl IntoIterator<Item = &'a str>) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut p) = url.path_segments_mut() {
            p.pop_if_empty().extend(segments);
        }
        url
    }

    fn api_url(&self, endpoint: &str) -> Url {
        self.url(["api", "2.0", "mlflow"].into_iter().chain(endpoint.split('/')))
    }

    fn artifact_url(&self, path: &str) -> Url {
        self.url(["api", "2.0", "mlflow-artifacts", "artifacts"].into_iter().chain(path.split('/').filter(|s| !s.is_empty())))
    }

    /// Sends one request; returns the status and body of any HTTP answer.
    async fn send(&self, method: Method, url: Url, body: Body, request: &str) -> Result<(u16, Vec<u8>), TrackingError> {
        let mut req = self.http.request(method, url);
        req = match &self.auth {
            Auth::None => req,
            Auth::Basic { username, password } => req.basic_auth(username, Some(password.expose())),
            Auth::Bearer(token) => req.bearer_auth(token.expose()),
        };
        req = match body {
            Body::None => req,
            Body::Json(j) => req.header("content-type", "application/json").body(j.to_string()),
            Body::Bytes(b) => req.header("content-type", "application/octet-stream").body(b),
        };
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                TrackingError::Timeout { uri: self.uri_string(), request: request.to_owned(), timeout: self.timeout }
            } else {
                // Strip the URL from reqwest's error: the message names the URI already.
                TrackingError::Unreachable { uri: self.uri_string(), source: Box::new(e.without_url()) }
            }
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(transport)?;
        tracing::debug!(request, status, "mlflow");
        Ok((status, bytes.to_vec()))
    }

    /// Turns a non-2xx answer into an error.
    fn http_error(&self, url: &Url, request: &str, status: u16, body: &[u8], subject: &Subject) -> TrackingError {
        let uri = self.uri_string();
        let parsed: Option<MlflowErrorBody> = serde_json::from_slice(body).ok();
        if matches!(status, 401 | 403) {
            return TrackingError::Unauthorized { uri, status };
        }
        let Some(err) = parsed else {
            if status == 404 {
                return TrackingError::NoApi { url: display(url), status };
            }
            let message = snippet(body);
            if status == 429 || status >= 500 {
                return TrackingError::Server { uri, request: request.to_owned(), status, message };
            }
            return TrackingError::Rejected { uri, request: request.to_owned(), status, code: format!("HTTP_{status}"), message };
        };
        match (err.error_code.as_str(), subject) {
            ("RESOURCE_DOES_NOT_EXIST", Some((entity, id))) => TrackingError::not_found(*entity, id.clone()),
            ("RESOURCE_ALREADY_EXISTS", Some((entity, id))) => TrackingError::AlreadyExists { entity: *entity, id: id.clone() },
            // The alias lookup answers a missing alias with INVALID_PARAMETER_VALUE "... not found".
            ("INVALID_PARAMETER_VALUE", Some((entity, id))) if err.message.to_ascii_lowercase().contains("not found") => {
                TrackingError::not_found(*entity, id.clone())
            }
            ("INVALID_PARAMETER_VALUE", _) => {
                TrackingError::invalid(format!("request {request}"), format!("the tracking server at {uri} says: {}", err.message))
            }
            _ if status == 429 || status >= 500 => TrackingError::Server { uri, request: request.to_owned(), status, message: err.message },
            (code, _) => TrackingError::Rejected { uri, request: request.to_owned(), status, code: code.to_owned(), message: err.message },
        }
    }

    /// One call of the tracking/registry API, decoded.
    async fn api<T: DeserializeOwned>(
        &self,
        method: Method,
        endpoint: &str,
        query: &[(&str, &str)],
        body: Option<Json>,
        subject: Subject,
    ) -> Result<T, TrackingError> {
        let mut url = self.api_url(endpoint);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let request = format!("{method} {endpoint}");
        let (status, bytes) = self.send(method, url.clone(), body.map_or(Body::None, Body::Json), &request).await?;
        if !(200..300).contains(&status) {
            return Err(self.http_error(&url, &request, status, &bytes, &subject));
        }
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        serde_json::from_slice(bytes).map_err(|e| TrackingError::BadResponse {
            uri: self.uri_string(),
            request,
            reason: format!("{e}; the answer starts with '{}' (is this an MLflow server?)", snippet(bytes)),
        })
    }

    /// The artifact-proxy path of a run's root (`1/<run_id>/artifacts`).
    async fn run_artifact_root(&self, run_id: &str) -> Result<String, TrackingError> {
        let run = self.get_run(run_id).await?;
        let uri = &run.info.artifact_uri;
        let Some(rest) = uri.strip_prefix("mlflow-artifacts:") else {
            return Err(TrackingError::invalid(
                "artifact location",
                format!(
                    "run '{run_id}' stores artifacts at '{uri}', which the tracking server does not proxy; \
                     start `mlflow server` with artifact serving (the default) and --artifacts-destination"
                ),
            ));
        };
        // `mlflow-artifacts:/1/...` or `mlflow-artifacts://host:port/1/...`.
        let path = match rest.strip_prefix("//") {
            Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
            None => rest,
        };
        Ok(path.trim_matches('/').to_owned())
    }

    async fn list_dir(&self, run_id: &str, root: &str, sub: Option<&str>) -> Result<Vec<FileInfo>, TrackingError> {
        let dir = sub.map_or_else(|| root.to_owned(), |s| format!("{root}/{s}"));
        let mut url = self.artifact_url("");
        url.query_pairs_mut().append_pair("path", &dir);
        let request = "GET mlflow-artifacts/artifacts".to_owned();
        let (status, bytes) = self.send(Method::GET, url.clone(), Body::None, &request).await?;
        if !(200..300).contains(&status) {
            return Err(self.http_error(&url, &request, status, &bytes, &Some((Entity::Run, format!("'{run_id}'")))));
        }
        #[derive(Deserialize)]
        struct Listing {
            #[serde(default)]
            files: Vec<JFile>,
        }
        #[derive(Deserialize)]
        struct JFile {
            path: String,
            #[serde(default)]
            is_dir: bool,
            #[serde(default, deserialize_with = "opt_i64")]
            file_size: Option<i64>,
        }
        let listing: Listing = serde_json::from_slice(&bytes).map_err(|e| TrackingError::BadResponse {
            uri: self.uri_string(),
            request,
            reason: e.to_string(),
        })?;
        let mut out: Vec<FileInfo> = listing
            .files
            .into_iter()
            .map(|f| {
                let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_owned();
                FileInfo {
                    path: sub.map_or_else(|| name.clone(), |s| format!("{s}/{name}")),
                    is_dir: f.is_dir,
                    file_size: if f.is_dir { None } else { f.file_size.and_then(|s| u64::try_from(s).ok()) },
                }
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(160).collect()
}

// --- wire types -----------------------------------------------------------------------------------

/// MLflow writes numbers, and protobuf JSON may write int64 as strings.
fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        I(i64),
        F(f64),
        S(String),
    }
    Ok(match Option::<N>::deserialize(d)? {
        None => None,
        Some(N::I(i)) => Some(i),
        #[allow(clippy::cast_possible_truncation)]
        Some(N::F(f)) => Some(f as i64),
        Some(N::S(s)) => s.parse().ok(),
    })
}

fn i64_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(opt_i64(d)?.unwrap_or(0))
}

/// A metric value: a number, or `"NaN"` / `"Infinity"` / `"-Infinity"` (protobuf JSON).
fn metric_value<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        F(f64),
        S(String),
    }
    Ok(match V::deserialize(d)? {
        V::F(f) => f,
        V::S(s) => match s.as_str() {
            "NaN" | "nan" => f64::NAN,
            "Infinity" | "inf" => f64::MAX,
            "-Infinity" | "-inf" => f64::MIN,
            other => other.parse().map_err(serde::de::Error::custom)?,
        },
    })
}

fn metric_json(m: &Metric) -> Json {
    let v = Metric::stored_value(m.value);
    let value = if v.is_nan() { json!("NaN") } else { json!(v) };
    json!({ "key": m.key, "value": value, "timestamp": m.timestamp, "step": m.step })
}

#[derive(Deserialize, Default)]
struct JKeyValue {
    key: String,
    #[serde(default)]
    value: String,
}

fn kv_map(v: Vec<JKeyValue>) -> BTreeMap<String, String> {
    v.into_iter().map(|kv| (kv.key, kv.value)).collect()
}

fn kv_json(m: &BTreeMap<String, String>) -> Json {
    Json::Array(m.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect())
}

#[derive(Deserialize)]
struct JExperiment {
    experiment_id: String,
    name: String,
    #[serde(default)]
    artifact_location: String,
    #[serde(default)]
    lifecycle_stage: String,
    #[serde(default)]
    tags: Vec<JKeyValue>,
    #[serde(default, deserialize_with = "opt_i64")]
    creation_time: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    last_update_time: Option<i64>,
}

impl From<JExperiment> for Experiment {
    fn from(e: JExperiment) -> Self {
        Self {
            experiment_id: e.experiment_id,
            name: e.name,
            artifact_location: e.artifact_location,
            lifecycle_stage: e.lifecycle_stage,
            tags: kv_map(e.tags),
            creation_time: e.creation_time,
            last_update_time: e.last_update_time,
        }
    }
}

#[derive(Deserialize)]
struct JRunInfo {
    #[serde(default)]
    run_id: String,
    #[serde(default)]
    run_uuid: String,
    experiment_id: String,
    #[serde(default)]
    run_name: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    start_time: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    end_time: Option<i64>,
    #[serde(default)]
    artifact_uri: String,
    #[serde(default)]
    lifecycle_stage: String,
}

#[derive(Deserialize)]
struct JMetric {
    key: String,
    #[serde(deserialize_with = "metric_value")]
    value: f64,
    #[serde(default, deserialize_with = "i64_or_zero")]
    timestamp: i64,
    #[serde(default, deserialize_with = "i64_or_zero")]
    step: i64,
}

impl From<JMetric> for Metric {
    fn from(m: JMetric) -> Self {
        Self { key: m.key, value: m.value, timestamp: m.timestamp, step: m.step }
    }
}

#[derive(Deserialize, Default)]
struct JRunData {
    #[serde(default)]
    metrics: Vec<JMetric>,
    #[serde(default)]
    params: Vec<JKeyValue>,
    #[serde(default)]
    tags: Vec<JKeyValue>,
}

#[derive(Deserialize)]
struct JRun {
    info: JRunInfo,
    #[serde(default)]
    data: JRunData,
}

impl TryFrom<JRun> for Run {
    type Error = TrackingError;

    fn try_from(r: JRun) -> Result<Self, TrackingError> {
        let i = r.info;
        Ok(Self {
            info: RunInfo {
                run_id: if i.run_id.is_empty() { i.run_uuid } else { i.run_id },
                experiment_id: i.experiment_id,
                run_name: i.run_name,
                status: i.status.as_deref().unwrap_or("RUNNING").parse()?,
                start_time: i.start_time,
                end_time: i.end_time,
                artifact_uri: i.artifact_uri,
                lifecycle_stage: i.lifecycle_stage,
            },
            params: kv_map(r.data.params),
            metrics: r.data.metrics.into_iter().map(|m| (m.key.clone(), Metric::from(m))).collect(),
            tags: kv_map(r.data.tags),
        })
    }
}

#[derive(Deserialize)]
struct JAlias {
    alias: String,
    #[serde(deserialize_with = "version_number")]
    version: u64,
}

fn version_number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = opt_i64(d)?.ok_or_else(|| serde::de::Error::custom("missing version"))?;
    u64::try_from(v).map_err(serde::de::Error::custom)
}

#[derive(Deserialize)]
struct JRegisteredModel {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<JKeyValue>,
    #[serde(default)]
    aliases: Vec<JAlias>,
    #[serde(default, deserialize_with = "opt_i64")]
    creation_timestamp: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    last_updated_timestamp: Option<i64>,
}

impl From<JRegisteredModel> for RegisteredModel {
    fn from(m: JRegisteredModel) -> Self {
        Self {
            name: m.name,
            description: m.description,
            tags: kv_map(m.tags),
            aliases: m.aliases.into_iter().map(|a| (a.alias, a.version)).collect(),
            creation_timestamp: m.creation_timestamp,
            last_updated_timestamp: m.last_updated_timestamp,
        }
    }
}

#[derive(Deserialize)]
struct JModelVersion {
    name: String,
    #[serde(deserialize_with = "version_number")]
    version: u64,
    #[serde(default)]
    source: String,
    #[serde(default)]
    run_id: String,
    #[serde(default)]
    current_stage: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<JKeyValue>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    creation_timestamp: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    last_updated_timestamp: Option<i64>,
}

impl TryFrom<JModelVersion> for ModelVersion {
    type Error = TrackingError;

    fn try_from(v: JModelVersion) -> Result<Self, TrackingError> {
        let mut aliases = v.aliases;
        aliases.sort();
        Ok(Self {
            name: v.name,
            version: v.version,
            source: v.source,
            run_id: Some(v.run_id).filter(|r| !r.is_empty()),
            current_stage: v.current_stage.as_deref().unwrap_or("None").parse()?,
            description: v.description,
            tags: kv_map(v.tags),
            aliases,
            creation_timestamp: v.creation_timestamp,
            last_updated_timestamp: v.last_updated_timestamp,
        })
    }
}

fn run_subject(run_id: &str) -> Subject {
    Some((Entity::Run, format!("'{run_id}'")))
}

fn model_subject(name: &str) -> Subject {
    Some((Entity::RegisteredModel, format!("'{name}'")))
}

fn version_subject(name: &str, version: u64) -> Subject {
    Some((Entity::ModelVersion, format!("{version} of '{name}'")))
}

/// MLflow answers a missing registered model in version calls with the version's error;
/// check the model first so the error names what is actually missing.
async fn version_error(client: &MlflowClient, name: &str, err: TrackingError) -> TrackingError {
    if err.is_not_found() {
        if let Err(e @ TrackingError::NotFound { .. }) = client.get_registered_model(name).await {
            return e;
        }
    }
    err
}

// --- the tracker ----------------------------------------------------------------------------------

#[async_trait]
impl ExperimentTracker for MlflowClient {
    fn uri(&self) -> String {
        self.uri_string()
    }

    async fn create_experiment(&self, name: &str, tags: &Tags) -> Result<String, TrackingError> {
        if name.trim().is_empty() {
            return Err(TrackingError::invalid("experiment name", "empty"));
        }
        validate_batch(&BTreeMap::new(), &[], tags)?;
        #[derive(Deserialize)]
        struct R {
            experiment_id: String,
        }
        let body = json!({ "name": name, "tags": kv_json(tags) });
        let r: R = self.api(Method::POST, "experiments/create", &[], Some(body), Some((Entity::Experiment, format!("'{name}'")))).await?;
        Ok(r.experiment_id)
    }

    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment, TrackingError> {
        #[derive(Deserialize)]
        struct R {
            experiment: JExperiment,
        }
        let r: R = self
            .api(
                Method::GET,
                "experiments/get",
                &[("experiment_id", experiment_id)],
                None,
                Some((Entity::Experiment, format!("'{experiment_id}'"))),
            )
            .await?;
        Ok(r.experiment.into())
    }

    async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>, TrackingError> {
        #[derive(Deserialize)]
        struct R {
            experiment: JExperiment,
        }
        let r: Result<R, _> = self
            .api(
                Method::GET,
                "experiments/get-by-name",
                &[("experiment_name", name)],
                None,
                Some((Entity::Experiment, format!("'{name}'"))),
            )
            .await;
        match r {
            Ok(r) => Ok(Some(r.experiment.into())),
            Err(TrackingError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_experiments(&self) -> Result<Vec<Experiment>, TrackingError> {
        #[derive(Deserialize)]
        struct R {
            #[serde(default)]
            experiments: Vec<JExperiment>,
            #[serde(default)]
            next_page_token: Option<String>,
        }
        let mut out: Vec<Experiment> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({ "max_results": 1000, "view_type": "ACTIVE_ONLY" });
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let r: R = self.api(Method::POST, "experiments/search", &[], Some(body), None).await?;
            out.extend(r.experiments.into_iter().map(Experiment::from));
            match r.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn create_run(&self, run: &NewRun) -> Result<Run, TrackingError> {
        validate_batch(&BTreeMap::new(), &[], &run.tags)?;
        let mut tags = run.tags.clone();
        if let Some(parent) = &run.parent_run_id {
            self.get_run(parent).await?;
            tags.insert(TAG_PARENT_RUN_ID.to_owned(), parent.clone());
        }
        let mut body = json!({
            "experiment_id": run.experiment_id,
            "start_time": run.start_time.unwrap_or_else(crate::model::now_ms),
            "tags": kv_json(&tags),
        });
        if let Some(name) = run.run_name.as_deref().filter(|n| !n.is_empty()) {
            body["run_name"] = json!(name);
        }
        #[derive(Deserialize)]
        struct R {
            run: JRun,
        }
        let r: R =
            self.api(Method::POST, "runs/create", &[], Some(body), Some((Entity::Experiment, format!("'{}'", run.experiment_id)))).await?;
        r.run.try_into()
    }

    async fn get_run(&self, run_id: &str) -> Result<Run, TrackingError> {
        #[derive(Deserialize)]
        struct R {
            run: JRun,
        }
        let r: R = self.api(Method::GET, "runs/get", &[("run_id", run_id)], None, run_subject(run_id)).await?;
        r.run.try_into()
    }

    async fn log_batch(&self, run_id: &str, params: &Params, metrics: &[Metric], tags: &Tags) -> Result<(), TrackingError> {
        validate_batch(params, metrics, tags)?;
        let mut params: Vec<Json> = params.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect();
        let mut tags: Vec<Json> = tags.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect();
        let mut metrics: Vec<Json> = metrics.iter().map(metric_json).collect();
        // MLflow takes at most 100 params, 100 tags and 1000 entries in all per request.
        loop {
            let p: Vec<Json> = params.drain(..params.len().min(BATCH_PARAMS)).collect();
            let t: Vec<Json> = tags.drain(..tags.len().min(BATCH_TAGS)).collect();
            let room = BATCH_TOTAL - p.len() - t.len();
            let m: Vec<Json> = metrics.drain(..metrics.len().min(room)).collect();
            let body = json!({ "run_id": run_id, "params": p, "tags": t, "metrics": m });
            let _: Json = self.api(Method::POST, "runs/log-batch", &[], Some(body), run_subject(run_id)).await?;
            if params.is_empty() && tags.is_empty() && metrics.is_empty() {
                return Ok(());
            }
        }
    }

    async fn get_metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>, TrackingError> {
        // MLflow answers an unknown run with an empty history: ask for the run first.
        self.get_run(run_id).await?;
        #[derive(Deserialize)]
        struct R {
            #[serde(default)]
            metrics: Vec<JMetric>,
            #[serde(default)]
            next_page_token: Option<String>,
        }
        let mut out: Vec<Metric> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("run_id", run_id), ("metric_key", key), ("max_results", "25000")];
            if let Some(t) = &token {
                query.push(("page_token", t));
            }
            let r: R = self.api(Method::GET, "metrics/get-history", &query, None, run_subject(run_id)).await?;
            let got = r.metrics.len();
            out.extend(r.metrics.into_iter().map(Metric::from));
            match r.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if got > 0 => token = Some(t),
                _ => break,
            }
        }
        out.sort_by(|a, b| (a.step, a.timestamp).cmp(&(b.step, b.timestamp)).then(a.value.total_cmp(&b.value)));
        Ok(out)
    }

    async fn set_terminated(&self, run_id: &str, status: RunStatus, end_time: Option<i64>) -> Result<(), TrackingError> {
        let mut body = json!({ "run_id": run_id, "status": status.as_str() });
        let end = if status.is_terminal() { Some(end_time.unwrap_or_else(crate::model::now_ms)) } else { end_time };
        if let Some(end) = end {
            body["end_time"] = json!(end);
        }
        let _: Json = self.api(Method::POST, "runs/update", &[], Some(body), run_subject(run_id)).await?;
        Ok(())
    }

    async fn search_runs(&self, query: &RunQuery) -> Result<Vec<Run>, TrackingError> {
        let (filter, order) = parse_query(query)?;
        #[derive(Deserialize)]
        struct R {
            #[serde(default)]
            runs: Vec<JRun>,
            #[serde(default)]
            next_page_token: Option<String>,
        }
        let order_by: Vec<String> = order.iter().map(crate::filter::OrderBy::render).collect();
        let mut out: Vec<Run> = Vec::new();
        let mut token: Option<String> = None;
        while out.len() < query.max_results {
            let mut body = json!({
                "experiment_ids": query.experiment_ids,
                "filter": filter.to_string(),
                "run_view_type": "ACTIVE_ONLY",
                "max_results": (query.max_results - out.len()).min(MAX_PAGE),
                "order_by": order_by,
            });
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let r: R = self.api(Method::POST, "runs/search", &[], Some(body), None).await?;
            let got = r.runs.len();
            for run in r.runs {
                out.push(run.try_into()?);
            }
            match r.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if got > 0 => token = Some(t),
                _ => break,
            }
        }
        out.truncate(query.max_results);
        Ok(out)
    }

    async fn log_artifact(&self, run_id: &str, path: &str, content: &[u8]) -> Result<(), TrackingError> {
        validate_artifact_path(path)?;
        let root = self.run_artifact_root(run_id).await?;
        let url = self.artifact_url(&format!("{root}/{path}"));
        let request = format!("PUT mlflow-artifacts/artifacts/{root}/{path}");
        let (status, bytes) = self.send(Method::PUT, url.clone(), Body::Bytes(content.to_vec()), &request).await?;
        if !(200..300).contains(&status) {
            return Err(self.http_error(&url, &request, status, &bytes, &run_subject(run_id)));
        }
        Ok(())
    }

    async fn list_artifacts(&self, run_id: &str, path: Option<&str>) -> Result<Vec<FileInfo>, TrackingError> {
        let sub = match path.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) {
            Some(p) => {
                validate_artifact_path(p)?;
                Some(p)
            }
            None => None,
        };
        let root = self.run_artifact_root(run_id).await?;
        self.list_dir(run_id, &root, sub).await
    }

    async fn download_artifact(&self, run_id: &str, path: &str) -> Result<Vec<u8>, TrackingError> {
        validate_artifact_path(path)?;
        let root = self.run_artifact_root(run_id).await?;
        let url = self.artifact_url(&format!("{root}/{path}"));
        let request = format!("GET mlflow-artifacts/artifacts/{root}/{path}");
        let (status, bytes) = self.send(Method::GET, url.clone(), Body::None, &request).await?;
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let err = self.http_error(&url, &request, status, &bytes, &Some((Entity::Artifact, format!("'{path}' of run '{run_id}'"))));
        // The proxy answers a missing file with a 500: look in the directory to tell.
        let (dir, name) = path.rsplit_once('/').map_or((None, path), |(d, n)| (Some(d), n));
        match self.list_dir(run_id, &root, dir).await {
            Ok(files) if !files.iter().any(|f| !f.is_dir && f.path.rsplit('/').next() == Some(name)) => {
                Err(TrackingError::artifact_not_found(run_id, path))
            }
            _ => Err(err),
        }
    }

    async fn ping(&self) -> Result<(), TrackingError> {
        let _: Json = self.api(Method::POST, "experiments/search", &[], Some(json!({ "max_results": 1 })), None).await?;
        Ok(())
    }
}

// --- the registry ---------------------------------------------------------------------------------

#[async_trait]
impl ModelRegistry for MlflowClient {
    fn uri(&self) -> String {
        self.uri_string()
    }

    async fn create_registered_model(&self, model: &NewRegisteredModel) -> Result<RegisteredModel, TrackingError> {
        validate_model_name(&model.name)?;
        validate_batch(&BTreeMap::new(), &[], &model.tags)?;
        let mut body = json!({ "name": model.name, "tags": kv_json(&model.tags) });
        if let Some(d) = &model.description {
            body["description"] = json!(d);
        }
        #[derive(Deserialize)]
        struct R {
            registered_model: JRegisteredModel,
        }
        let r: R = self.api(Method::POST, "registered-models/create", &[], Some(body), model_subject(&model.name)).await?;
        Ok(r.registered_model.into())
    }

    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel, TrackingError> {
        #[derive(Deserialize)]
        struct R {
            registered_model: JRegisteredModel,
        }
        let r: R = self.api(Method::GET, "registered-models/get", &[("name", name)], None, model_subject(name)).await?;
        Ok(r.registered_model.into())
    }

    async fn list_registered_models(&self) -> Result<Vec<RegisteredModel>, TrackingError> {
        #[derive(Deserialize)]
        struct R {
            #[serde(default)]
            registered_models: Vec<JRegisteredModel>,
            #[serde(default)]
            next_page_token: Option<String>,
        }
        let mut out: Vec<RegisteredModel> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("max_results", "1000")];
            if let Some(t) = &token {
                query.push(("page_token", t));
            }
            let r: R = self.api(Method::GET, "registered-models/search", &query, None, None).await?;
            out.extend(r.registered_models.into_iter().map(RegisteredModel::from));
            match r.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn delete_registered_model(&self, name: &str) -> Result<(), TrackingError> {
        let _: Json = self.api(Method::DELETE, "registered-models/delete", &[], Some(json!({ "name": name })), model_subject(name)).await?;
        Ok(())
    }

    async fn set_registered_model_tag(&self, name: &str, key: &str, value: &str) -> Result<(), TrackingError> {
        validate_batch(&BTreeMap::new(), &[], &Tags::from([(key.to_owned(), value.to_owned())]))?;
        let body = json!({ "name": name, "key": key, "value": value });
        let _: Json = self.api(Method::POST, "registered-models/set-tag", &[], Some(body), model_subject(name)).await?;
        Ok(())
    }

    async fn create_model_version(&self, version: &NewModelVersion) -> Result<ModelVersion, TrackingError> {
        validate_batch(&BTreeMap::new(), &[], &version.tags)?;
        // MLflow's error for a missing model here does not say "model": ask first.
        self.get_registered_model(&version.name).await?;
        let mut body = json!({ "name": version.name, "source": version.source, "tags": kv_json(&version.tags) });
        if let Some(r) = version.run_id.as_deref().filter(|r| !r.is_empty()) {
            body["run_id"] = json!(r);
        }
        if let Some(d) = &version.description {
            body["description"] = json!(d);
        }
        #[derive(Deserialize)]
        struct R {
            model_version: JModelVersion,
        }
        let r: R = self.api(Method::POST, "model-versions/create", &[], Some(body), model_subject(&version.name)).await?;
        r.model_version.try_into()
    }

    async fn get_model_version(&self, name: &str, version: u64) -> Result<ModelVersion, TrackingError> {
        #[derive(Deserialize)]
        struct R {
            model_version: JModelVersion,
        }
        let v = version.to_string();
        let r: Result<R, _> =
            self.api(Method::GET, "model-versions/get", &[("name", name), ("version", &v)], None, version_subject(name, version)).await;
        match r {
            Ok(r) => r.model_version.try_into(),
            Err(e) => Err(version_error(self, name, e).await),
        }
    }

    async fn list_model_versions(&self, name: &str) -> Result<Vec<ModelVersion>, TrackingError> {
        self.get_registered_model(name).await?;
        if name.contains('\'') {
            return Err(TrackingError::invalid("registered model name", format!("'{name}' contains a quote")));
        }
        #[derive(Deserialize)]
        struct R {
            #[serde(default)]
            model_versions: Vec<JModelVersion>,
            #[serde(default)]
            next_page_token: Option<String>,
        }
        let filter = format!("name='{name}'");
        let mut out: Vec<ModelVersion> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("filter", filter.as_str()), ("max_results", "10000")];
            if let Some(t) = &token {
                query.push(("page_token", t));
            }
            let r: R = self.api(Method::GET, "model-versions/search", &query, None, model_subject(name)).await?;
            for v in r.model_versions {
                out.push(v.try_into()?);
            }
            match r.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        out.sort_by_key(|v| v.version);
        Ok(out)
    }

    async fn set_model_version_tag(&self, name: &str, version: u64, key: &str, value: &str) -> Result<(), TrackingError> {
        validate_batch(&BTreeMap::new(), &[], &Tags::from([(key.to_owned(), value.to_owned())]))?;
        let body = json!({ "name": name, "version": version.to_string(), "key": key, "value": value });
        let r: Result<Json, _> = self.api(Method::POST, "model-versions/set-tag", &[], Some(body), version_subject(name, version)).await;
        match r {
            Ok(_) => Ok(()),
            Err(e) => Err(version_error(self, name, e).await),
        }
    }

    async fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<(), TrackingError> {
        validate_alias(alias)?;
        let body = json!({ "name": name, "alias": alias, "version": version.to_string() });
        let r: Result<Json, _> = self.api(Method::POST, "registered-models/alias", &[], Some(body), version_subject(name, version)).await;
        match r {
            Ok(_) => Ok(()),
            Err(e) => Err(version_error(self, name, e).await),
        }
    }

    async fn delete_alias(&self, name: &str, alias: &str) -> Result<(), TrackingError> {
        self.get_registered_model(name).await?;
        let body = json!({ "name": name, "alias": alias });
        let r: Result<Json, _> = self.api(Method::DELETE, "registered-models/alias", &[], Some(body), None).await;
        match r {
            // Deleting an alias that is not set is not an error (as in the embedded store).
            Ok(_) | Err(TrackingError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion, TrackingError> {
        #[derive(Deserialize)]
        struct R {
            model_version: JModelVersion,
        }
        let subject = Some((Entity::Alias, format!("'{alias}' of '{name}'")));
        let r: Result<R, _> = self.api(Method::GET, "registered-models/alias", &[("name", name), ("alias", alias)], None, subject).await;
        match r {
            Ok(r) => r.model_version.try_into(),
            Err(e) => Err(version_error(self, name, e).await),
        }
    }

    async fn transition_stage(&self, name: &str, version: u64, stage: Stage, others: OtherVersions) -> Result<ModelVersion, TrackingError> {
        let body = json!({
            "name": name,
            "version": version.to_string(),
            "stage": stage.as_str(),
            "archive_existing_versions": others == OtherVersions::Archive,
        });
        #[derive(Deserialize)]
        struct R {
            model_version: JModelVersion,
        }
        let r: Result<R, _> =
            self.api(Method::POST, "model-versions/transition-stage", &[], Some(body), version_subject(name, version)).await;
        match r {
            Ok(r) => r.model_version.try_into(),
            Err(e) => Err(version_error(self, name, e).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uri: &str) -> MlflowClient {
        MlflowClient::new(MlflowConfig::new(uri)).unwrap()
    }

    #[test]
    fn endpoints_keep_the_path_prefix_and_encode_segments() {
        let c = client("http://127.0.0.1:5000/mlflow/");
        assert_eq!(c.api_url("runs/create").as_str(), "http://127.0.0.1:5000/mlflow/api/2.0/mlflow/runs/create");
        assert_eq!(
            c.artifact_url("1/abc/artifacts/plots/equity curve.svg").as_str(),
            "http://127.0.0.1:5000/mlflow/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/plots/equity%20curve.svg"
        );
        let c = client("http://127.0.0.1:5000");
        assert_eq!(c.api_url("experiments/get-by-name").as_str(), "http://127.0.0.1:5000/api/2.0/mlflow/experiments/get-by-name");
        assert_eq!(ExperimentTracker::uri(&c), "http://127.0.0.1:5000");
    }

    #[test]
    fn bad_uris_are_refused_with_the_reason() {
        for (uri, says) in [
            ("ftp://host", "scheme 'ftp'"),
            ("http://", "empty host"),
            ("not a uri", "relative URL"),
            ("http://host:5000/?x=1", "no query"),
        ] {
            let e = MlflowClient::new(MlflowConfig::new(uri)).unwrap_err().to_string();
            assert!(e.contains(says) && e.starts_with("invalid tracking uri"), "{uri}: {e}");
        }
    }

    #[test]
    fn credentials_never_show() {
        let mut cfg = MlflowConfig::new("http://alice:s3cret@127.0.0.1:5000/mlflow");
        cfg.token = Some(Secret::new("tok3n"));
        let dbg = format!("{cfg:?}");
        // The URI as configured is the caller's string; the client drops the password from it.
        let c = MlflowClient::new(cfg).unwrap();
        let shown = format!("{c:?} {}", ExperimentTracker::uri(&c));
        assert!(!shown.contains("s3cret") && !shown.contains("tok3n"), "{shown}");
        assert!(!dbg.contains("tok3n"), "{dbg}");
        assert!(matches!(c.auth, Auth::Basic { ref username, .. } if username == "alice"));
        assert_eq!(redact("http://alice:s3cret@host/x"), "http://host/x");
        assert_eq!(redact("http://host/a@b"), "http://host/a@b");
    }

    #[test]
    fn metric_values_round_trip_non_finite_numbers() {
        let j = metric_json(&Metric { key: "pf".into(), value: f64::INFINITY, timestamp: 1, step: 0 });
        assert_eq!(j["value"], json!(f64::MAX));
        let j = metric_json(&Metric { key: "x".into(), value: f64::NAN, timestamp: 1, step: 0 });
        assert_eq!(j["value"], json!("NaN"));
        let m: JMetric = serde_json::from_value(json!({"key": "x", "value": "NaN", "timestamp": "5", "step": 2})).unwrap();
        assert!(m.value.is_nan() && m.timestamp == 5 && m.step == 2);
    }

    #[test]
    fn status_codes_map_to_error_groups() {
        let c = client("http://127.0.0.1:5000/mlflow");
        let url = c.api_url("runs/get");
        let subject = run_subject("abc");
        let e = c.http_error(&url, "GET runs/get", 404, br#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"x"}"#, &subject);
        assert_eq!(e.to_string(), "run 'abc' not found");
        let e = c.http_error(&url, "GET runs/get", 404, b"<html>Not Found</html>", &subject);
        assert!(matches!(e, TrackingError::NoApi { .. }) && e.to_string().contains("/mlflow/api/2.0/mlflow/runs/get"), "{e}");
        assert!(!e.is_retryable());
        let e = c.http_error(&url, "GET runs/get", 503, b"busy", &subject);
        assert!(e.is_retryable() && e.to_string().contains("http 503"), "{e}");
        let e = c.http_error(&url, "GET runs/get", 500, br#"{"error_code":"INTERNAL_ERROR","message":"boom"}"#, &subject);
        assert!(e.is_retryable(), "{e}");
        let e = c.http_error(&url, "GET runs/get", 429, b"", &None);
        assert!(e.is_retryable(), "{e}");
        let e = c.http_error(&url, "GET runs/get", 401, b"", &None);
        assert!(matches!(e, TrackingError::Unauthorized { status: 401, .. }) && !e.is_retryable());
        let e = c.http_error(&url, "POST runs/log-batch", 400, br#"{"error_code":"INVALID_PARAMETER_VALUE","message":"nope"}"#, &None);
        assert!(matches!(e, TrackingError::Invalid { .. }) && e.to_string().contains("nope"), "{e}");
    }
}
