//! Typed clients of data-collection and strategy-service, with per-request timeouts, retries
//! with exponential backoff and jitter, and a circuit breaker (closed / open / half-open) so a
//! dead dependency costs callers one fast error instead of a timeout each.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;
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

/// Circuit breaker states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls flow; failures are counted.
    Closed,
    /// Calls fail fast until the recovery timeout has passed.
    Open,
    /// A few trial calls are let through; one success closes, one failure reopens.
    HalfOpen,
}

impl CircuitState {
    /// 0 closed, 1 half-open, 2 open (the Prometheus gauge value).
    #[must_use]
    pub fn as_gauge(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// Breaker thresholds.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long it stays open before trial calls.
    pub recovery_timeout: Duration,
    /// Trial calls allowed at once while half-open.
    pub half_open_max_calls: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self { failure_threshold: 5, recovery_timeout: Duration::from_secs(30), half_open_max_calls: 1 }
    }
}

#[derive(Debug)]
struct BreakerInner {
    state: CircuitState,
    failures: u32,
    opened_at: Option<Instant>,
    trials: u32,
}

/// A circuit breaker shared by every call to one service.
#[derive(Debug)]
pub struct CircuitBreaker {
    cfg: BreakerConfig,
    inner: Mutex<BreakerInner>,
}

impl CircuitBreaker {
    /// A closed breaker.
    #[must_use]
    pub fn new(cfg: BreakerConfig) -> Self {
        Self { cfg, inner: Mutex::new(BreakerInner { state: CircuitState::Closed, failures: 0, opened_at: None, trials: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerInner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current state (an open breaker past its timeout reports half-open).
    #[must_use]
    pub fn state(&self) -> CircuitState {
        let g = self.lock();
        if g.state == CircuitState::Open && g.opened_at.is_some_and(|t| t.elapsed() >= self.cfg.recovery_timeout) {
            return CircuitState::HalfOpen;
        }
        g.state
    }

    /// Asks to make a call: `false` means fail fast.
    pub fn try_acquire(&self) -> bool {
        let mut g = self.lock();
        match g.state {
            CircuitState::Closed => true,
            CircuitState::Open => {
                if g.opened_at.is_some_and(|t| t.elapsed() >= self.cfg.recovery_timeout) {
                    g.state = CircuitState::HalfOpen;
                    g.trials = 1;
                    true
                } else {
                    false
                }
            }
            CircuitState::HalfOpen => {
                if g.trials < self.cfg.half_open_max_calls {
                    g.trials += 1;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Records a successful call.
    pub fn on_success(&self) {
        let mut g = self.lock();
        g.state = CircuitState::Closed;
        g.failures = 0;
        g.trials = 0;
        g.opened_at = None;
    }

    /// Records a failed call.
    pub fn on_failure(&self) {
        let mut g = self.lock();
        g.failures = g.failures.saturating_add(1);
        if g.state == CircuitState::HalfOpen || g.failures >= self.cfg.failure_threshold {
            if g.state != CircuitState::Open {
                tracing::warn!(failures = g.failures, "circuit breaker opened");
            }
            g.state = CircuitState::Open;
            g.opened_at = Some(Instant::now());
            g.trials = 0;
        }
    }
}

/// Retry timing: attempt `n` (0-based) waits a random time in `[d/2, d]` with
/// `d = min(max_delay, base_delay * 2^n)` — exponential backoff with jitter, so clients that
/// failed together do not retry together.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Delay before the first retry (upper bound).
    pub base_delay: Duration,
    /// Largest delay.
    pub max_delay: Duration,
    /// Timeout of one attempt.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_retries: 2, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(2), timeout: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    /// The jittered delay before retry `n` (0-based).
    #[must_use]
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << n.min(16)).min(self.max_delay);
        let half = exp / 2;
        let jitter_ns = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(if jitter_ns == 0 { 0 } else { rand::rng().random_range(0..=jitter_ns) })
    }
}

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
        let http = reqwest::Client::builder()
            .connect_timeout(retry.timeout.min(Duration::from_secs(2)))
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
        self.breaker.state()
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
            let r = self.once(method.clone(), path, body, headers, retry.timeout).await;
            match r {
                Err(e) if e.is_retryable() && attempt < retry.max_retries && !matches!(e, ClientError::CircuitOpen { .. }) => {
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
        if !self.breaker.try_acquire() {
            return Err(ClientError::CircuitOpen { service });
        }
        let mut req = self.http.request(method, format!("{}{path}", self.base_url)).timeout(timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                self.breaker.on_failure();
                return Err(if e.is_timeout() {
                    ClientError::Timeout { service, timeout_ms: timeout.as_millis() }
                } else {
                    ClientError::Connect { service, source: e }
                });
            }
        };
        let status = resp.status();
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                self.breaker.on_failure();
                return Err(if e.is_timeout() {
                    ClientError::Timeout { service, timeout_ms: timeout.as_millis() }
                } else {
                    ClientError::Connect { service, source: e }
                });
            }
        };
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            self.breaker.on_failure();
        } else {
            // A 4xx is the service working correctly on a bad request.
            self.breaker.on_success();
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.pointer("/error/message").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect());
            return Err(ClientError::Status { service, status: status.as_u16(), message });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode { service, source: Box::new(e) })
    }

    /// A single quick liveness probe (no retries), for readiness checks.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn health(&self) -> Result<HealthResponse, ClientError> {
        let quick = RetryPolicy { max_retries: 0, timeout: Duration::from_secs(1), ..self.retry };
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
        let breaker = BreakerConfig { failure_threshold: u32::MAX, ..BreakerConfig::default() };
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
            None => retry.max_retries = 0,
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

    #[test]
    fn breaker_opens_half_opens_and_closes() {
        let b = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 2,
            recovery_timeout: Duration::from_millis(30),
            half_open_max_calls: 1,
        });
        assert!(b.try_acquire());
        b.on_failure();
        assert_eq!(b.state(), CircuitState::Closed);
        b.on_failure();
        assert_eq!(b.state(), CircuitState::Open);
        assert!(!b.try_acquire());
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.try_acquire(), "one trial call after the recovery timeout");
        assert!(!b.try_acquire(), "only one trial at a time");
        b.on_failure();
        assert_eq!(b.state(), CircuitState::Open, "a failed trial reopens");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.try_acquire());
        b.on_success();
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            timeout: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let d0 = p.delay(0);
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100), "{d0:?}");
            let d1 = p.delay(1);
            assert!(d1 >= Duration::from_millis(100) && d1 <= Duration::from_millis(200), "{d1:?}");
            assert!(p.delay(10) <= Duration::from_millis(400));
        }
    }

    #[tokio::test]
    async fn unreachable_service_fails_fast_once_the_circuit_opens() {
        // Port 9 on loopback (discard) is closed on test machines: connections are refused.
        let retry = RetryPolicy {
            max_retries: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            timeout: Duration::from_millis(500),
        };
        let c = DataCollectionClient::new("http://127.0.0.1:9", retry, BreakerConfig { failure_threshold: 2, ..BreakerConfig::default() });
        let e = c.symbols(None, None).await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
        let e = c.symbols(None, None).await.unwrap_err();
        assert!(matches!(e, ClientError::CircuitOpen { .. }), "{e}");
        assert_eq!(c.0.circuit(), CircuitState::Open);
    }
}
