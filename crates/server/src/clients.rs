//! Typed clients of data-collection and strategy-service, with per-request timeouts, retries
//! with exponential backoff and jitter, and a circuit breaker (closed / open / half-open) so a
//! dead dependency costs callers one fast error instead of a timeout each.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::dto::{
    DataValidateRequest, DataValidateResponse, FreshnessRequest, FreshnessResponse, HealthResponse, PrepareConfigRequest, PreparedConfig,
    StrategyDetail, StrategyList, StrategyValidateRequest, StrategyValidateResponse, SymbolsResponse,
};

/// Why a call to another service failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The breaker is open: the service failed repeatedly and is not called until it cools down.
    #[error("{service} is unavailable (circuit open after repeated failures)")]
    CircuitOpen {
        /// The service.
        service: &'static str,
    },
    /// No answer within the timeout.
    #[error("{service} did not answer within {timeout_ms} ms")]
    Timeout {
        /// The service.
        service: &'static str,
        /// The timeout.
        timeout_ms: u128,
    },
    /// The connection failed.
    #[error("cannot reach {service}")]
    Connect {
        /// The service.
        service: &'static str,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The service answered with an error status.
    #[error("{service} answered {status}: {message}")]
    Status {
        /// The service.
        service: &'static str,
        /// HTTP status.
        status: u16,
        /// The `error.message` of its body, or the body.
        message: String,
    },
    /// The answer could not be decoded.
    #[error("unexpected answer from {service}")]
    Decode {
        /// The service.
        service: &'static str,
        /// The decoder error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ClientError {
    /// Whether the same call may succeed later (transport trouble, 5xx, 429, open breaker).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::CircuitOpen { .. } | Self::Timeout { .. } | Self::Connect { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            Self::Decode { .. } => false,
        }
    }

    /// Whether the service itself is in trouble (as opposed to rejecting this request).
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        self.is_retryable()
    }
}

pub use tradai_resilience::{BreakerConfig, CircuitBreaker, CircuitState, RetryPolicy};

/// Timeout of one call when the policy names none.
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The retry policy of calls between the services (and of the CLI's backend client): three
/// attempts, 100 ms to 2 s apart, 5 s each — a service on the same host answers fast or is down.
pub const SERVICE_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base_delay: Duration::from_millis(100),
    max_delay: Duration::from_secs(2),
    attempt_timeout: Some(DEFAULT_ATTEMPT_TIMEOUT),
};

/// The breaker of calls between the services: five failures in a row open it for 30 s.
pub const SERVICE_BREAKER: BreakerConfig =
    BreakerConfig { failure_threshold: 5, open_for: Duration::from_secs(30), half_open_max_calls: 1 };

/// The HTTP plumbing shared by the typed clients.
#[derive(Debug)]
pub struct ServiceClient {
    service: &'static str,
    base_url: String,
    http: reqwest::Client,
    retry: RetryPolicy,
    breaker: CircuitBreaker,
}

impl ServiceClient {
    /// A client of `service` at `base_url` (`http://127.0.0.1:8002`).
    #[must_use]
    pub fn new(service: &'static str, base_url: &str, retry: RetryPolicy, breaker: BreakerConfig) -> Self {
        // Proxies from the environment (HTTPS_PROXY, NO_PROXY); services on loopback stay direct.
        let http = tradai_resilience::ProxyEnv::from_process()
            .apply(reqwest::Client::builder())
            .connect_timeout(retry.attempt_timeout.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT).min(Duration::from_secs(2)))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self { service, base_url: base_url.trim_end_matches('/').to_owned(), http, retry, breaker: CircuitBreaker::new(breaker) }
    }

    /// The service's base URL.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The breaker's state.
    #[must_use]
    pub fn circuit(&self) -> CircuitState {
        self.breaker.state(Instant::now())
    }

    /// One call with retries. Only idempotent calls go through here: every call these
    /// clients make reads or computes, none changes state, so retrying is always safe.
    ///
    /// # Errors
    /// [`ClientError`]; 4xx answers are returned at once (retrying cannot fix them).
    pub async fn call<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        self.call_with(method, path, body, &[], self.retry).await
    }

    /// [`ServiceClient::call`] with extra headers and retry policy.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn call_with<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        headers: &[(&'static str, String)],
        retry: RetryPolicy,
    ) -> Result<T, ClientError> {
        let mut attempt = 0;
        loop {
            let r = self.once(method.clone(), path, body, headers, retry.attempt_timeout.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT)).await;
            match r {
                Err(e) if e.is_retryable() && retry.may_retry(attempt) && !matches!(e, ClientError::CircuitOpen { .. }) => {
                    tokio::time::sleep(retry.delay(attempt)).await;
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    async fn once<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        headers: &[(&'static str, String)],
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let service = self.service;
        let mut req = self.http.request(method, format!("{}{path}", self.base_url)).timeout(timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let (status, _, bytes) = self.exchange(req, timeout).await?;
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.pointer("/error/message").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect());
            return Err(ClientError::Status { service, status: status.as_u16(), message });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode { service, source: Box::new(e) })
    }

    /// Sends one request with a raw body and returns the answer as it came (status, content
    /// type, body) for a route that passes a call on unchanged. Never retried: the calls passed
    /// on change state.
    ///
    /// # Errors
    /// [`ClientError`] when the service cannot be reached or the circuit is open.
    pub async fn forward(
        &self,
        method: Method,
        path: &str,
        body: axum::body::Bytes,
        headers: &[(&'static str, String)],
    ) -> Result<(u16, String, axum::body::Bytes), ClientError> {
        let timeout = self.retry.attempt_timeout.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT);
        let mut req = self.http.request(method, format!("{}{path}", self.base_url)).timeout(timeout).body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let (status, content_type, bytes) = self.exchange(req, timeout).await?;
        Ok((status.as_u16(), content_type.unwrap_or_else(|| "application/json".to_owned()), bytes))
    }

    /// Sends a built request with the breaker around it: refused while the circuit is open; a
    /// transport failure (sending, or reading the body), a 5xx or a 429 counts against the
    /// service, any other answer for it (a 4xx is the service working correctly on a bad
    /// request).
    async fn exchange(
        &self,
        req: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<(StatusCode, Option<String>, axum::body::Bytes), ClientError> {
        let service = self.service;
        if self.breaker.check(Instant::now()).is_err() {
            return Err(ClientError::CircuitOpen { service });
        }
        let outage = |e: reqwest::Error| {
            self.breaker.on_failure(Instant::now());
            if e.is_timeout() {
                ClientError::Timeout { service, timeout_ms: timeout.as_millis() }
            } else {
                ClientError::Connect { service, source: e }
            }
        };
        let resp = req.send().await.map_err(outage)?;
        let status = resp.status();
        let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = resp.bytes().await.map_err(outage)?;
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            self.breaker.on_failure(Instant::now());
        } else {
            self.breaker.on_success();
        }
        Ok((status, content_type, bytes))
    }

    /// A single quick liveness probe (no retries), for readiness checks.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn health(&self) -> Result<HealthResponse, ClientError> {
        let quick = RetryPolicy { max_attempts: 1, attempt_timeout: Some(Duration::from_secs(1)), ..self.retry };
        self.call_with::<(), _>(Method::GET, "/api/v1/health", None, &[], quick).await
    }
}

fn encode(s: &str) -> String {
    // Path segments and query values here are strategy names, exchanges and timeframes;
    // escape everything but unreserved characters.
    s.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
        out
    })
}

/// Client of the data-collection service.
#[derive(Debug)]
pub struct DataCollectionClient(pub ServiceClient);

impl DataCollectionClient {
    /// A client of the service at `base_url`.
    #[must_use]
    pub fn new(base_url: &str, retry: RetryPolicy, breaker: BreakerConfig) -> Self {
        Self(ServiceClient::new("data-collection", base_url, retry, breaker))
    }

    /// Stored series of an exchange and timeframe.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn symbols(&self, exchange: Option<&str>, timeframe: Option<&str>) -> Result<SymbolsResponse, ClientError> {
        let mut q = Vec::new();
        if let Some(e) = exchange {
            q.push(format!("exchange={}", encode(e)));
        }
        if let Some(t) = timeframe {
            q.push(format!("timeframe={}", encode(t)));
        }
        let path = if q.is_empty() { "/api/v1/data/symbols".to_owned() } else { format!("/api/v1/data/symbols?{}", q.join("&")) };
        self.0.call::<(), _>(Method::GET, &path, None).await
    }

    /// Freshness of symbols.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn freshness(&self, req: &FreshnessRequest) -> Result<FreshnessResponse, ClientError> {
        self.0.call(Method::POST, "/api/v1/data/freshness", Some(req)).await
    }

    /// Validation of stored series.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn validate(&self, req: &DataValidateRequest) -> Result<DataValidateResponse, ClientError> {
        self.0.call(Method::POST, "/api/v1/data/validate", Some(req)).await
    }
}

/// Client of the strategy-service.
#[derive(Debug)]
pub struct StrategyServiceClient(pub ServiceClient);

impl StrategyServiceClient {
    /// A client of the service at `base_url`.
    #[must_use]
    pub fn new(base_url: &str, retry: RetryPolicy, breaker: BreakerConfig) -> Self {
        Self(ServiceClient::new("strategy-service", base_url, retry, breaker))
    }

    /// Every strategy.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn list(&self) -> Result<StrategyList, ClientError> {
        self.0.call::<(), _>(Method::GET, "/api/v1/strategies", None).await
    }

    /// One strategy; `None` when the service does not know it.
    ///
    /// # Errors
    /// [`ClientError`] other than 404.
    pub async fn get(&self, name: &str) -> Result<Option<StrategyDetail>, ClientError> {
        match self.0.call::<(), _>(Method::GET, &format!("/api/v1/strategies/{}", encode(name)), None).await {
            Ok(d) => Ok(Some(d)),
            Err(ClientError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Validates run settings; `None` when the strategy is unknown.
    ///
    /// # Errors
    /// [`ClientError`] other than 404.
    pub async fn validate(&self, name: &str, req: &StrategyValidateRequest) -> Result<Option<StrategyValidateResponse>, ClientError> {
        match self.0.call(Method::POST, &format!("/api/v1/strategies/{}/validate", encode(name)), Some(req)).await {
            Ok(d) => Ok(Some(d)),
            Err(ClientError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The config of a registered version of a strategy (`version`: a number, an alias or a
    /// stage); `None` when the registry has no such strategy or version.
    ///
    /// # Errors
    /// [`ClientError`] other than 404 (400 for a malformed version, 503 with tracking off).
    pub async fn registered_config(&self, name: &str, version: &str) -> Result<Option<serde_json::Value>, ClientError> {
        let path = format!("/api/v1/strategies/{}/config?version={}", encode(name), encode(version));
        match self.0.call::<(), serde_json::Value>(Method::GET, &path, None).await {
            Ok(mut d) => Ok(Some(d.get_mut("config").map(serde_json::Value::take).unwrap_or_default())),
            Err(ClientError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Prepares a layered config.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn prepare_config(&self, req: &PrepareConfigRequest) -> Result<PreparedConfig, ClientError> {
        self.0.call(Method::POST, "/api/v1/configs/prepare", Some(req)).await
    }
}

/// Client of the backend-api (`tradai jobs ...`).
#[derive(Debug)]
pub struct BackendClient {
    inner: ServiceClient,
    api_key: Option<String>,
}

impl BackendClient {
    /// A client of the backend at `base_url`, sending `api_key` as a bearer token when given.
    #[must_use]
    pub fn new(base_url: &str, api_key: Option<String>, retry: RetryPolicy) -> Self {
        // A CLI makes a handful of calls: a breaker would only hide the first error.
        let breaker = BreakerConfig { failure_threshold: u32::MAX, ..SERVICE_BREAKER };
        Self { inner: ServiceClient::new("backend-api", base_url, retry, breaker), api_key }
    }

    fn auth(&self) -> Vec<(&'static str, String)> {
        self.api_key.iter().map(|k| ("authorization", format!("Bearer {k}"))).collect()
    }

    /// Submits a backtest. With an idempotency key the call is retried safely; without one it
    /// is sent once.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn submit(
        &self,
        body: &crate::dto::BacktestSubmission,
        idempotency_key: Option<&str>,
    ) -> Result<crate::dto::SubmitResponse, ClientError> {
        let mut h = self.auth();
        let mut retry = self.inner.retry;
        match idempotency_key {
            Some(k) => h.push(("idempotency-key", k.to_owned())),
            None => retry.max_attempts = 1,
        }
        self.inner.call_with(Method::POST, "/api/v1/backtests", Some(body), &h, retry).await
    }

    /// One job.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn status(&self, id: &str) -> Result<crate::dto::BacktestStatus, ClientError> {
        self.inner.call_with::<(), _>(Method::GET, &format!("/api/v1/backtests/{}", encode(id)), None, &self.auth(), self.inner.retry).await
    }

    /// A page of jobs.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn list(
        &self,
        status: Option<&str>,
        strategy: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<crate::dto::BacktestPage, ClientError> {
        let mut q = vec![format!("limit={limit}"), format!("offset={offset}")];
        if let Some(s) = status {
            q.push(format!("status={}", encode(s)));
        }
        if let Some(s) = strategy {
            q.push(format!("strategy={}", encode(s)));
        }
        self.inner
            .call_with::<(), _>(Method::GET, &format!("/api/v1/backtests?{}", q.join("&")), None, &self.auth(), self.inner.retry)
            .await
    }

    /// Cancels a job (idempotent: cancelling twice is harmless).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn cancel(&self, id: &str) -> Result<crate::dto::BacktestStatus, ClientError> {
        let path = format!("/api/v1/backtests/{}/cancel", encode(id));
        self.inner.call_with::<(), _>(Method::POST, &path, None, &self.auth(), self.inner.retry).await
    }

    /// Trades of a completed job.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn trades(&self, id: &str) -> Result<crate::dto::TradesResponse, ClientError> {
        self.inner
            .call_with::<(), _>(Method::GET, &format!("/api/v1/backtests/{}/trades", encode(id)), None, &self.auth(), self.inner.retry)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unreachable_service_fails_fast_once_the_circuit_opens() {
        // Port 9 on loopback (discard) is closed on test machines: connections are refused.
        let retry = RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            attempt_timeout: Some(Duration::from_millis(500)),
        };
        let c = DataCollectionClient::new("http://127.0.0.1:9", retry, BreakerConfig { failure_threshold: 2, ..SERVICE_BREAKER });
        let e = c.symbols(None, None).await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
        let e = c.symbols(None, None).await.unwrap_err();
        assert!(matches!(e, ClientError::CircuitOpen { .. }), "{e}");
        assert_eq!(c.0.circuit(), CircuitState::Open);
    }
}
