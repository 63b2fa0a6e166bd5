//! The HTTP layer every adapter shares: one GET with rate limiting, retries with backoff, the
//! circuit breaker, and the mapping of status codes to [`ExchangeError`]s.
//!
//! Adapters supply only what differs between exchanges: the header that reports used weight
//! and a `decode` function that turns a response (including 4xx bodies, and Bybit's errors
//! inside HTTP 200) into a value or an error. Decoding runs inside the retry loop so that an
//! exchange's "try again" codes are retried like HTTP ones.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::ratelimit::WindowLimiter;
use crate::ExchangeError;
use tradai_core::ExchangeId;
use tradai_resilience::{BreakerConfig, CircuitBreaker, RetryPolicy};

/// Timeouts, retries, breaker and rate-limit patience of one exchange client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// Whole-request timeout (connect, send, read the body).
    pub timeout: Duration,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Retries of transient failures and rate limits.
    pub retry: RetryPolicy,
    /// The circuit breaker.
    pub breaker: BreakerConfig,
    /// The longest `Retry-After` we wait out; a longer one (a 418 IP ban of hours) fails the
    /// call at once instead of hanging the sync.
    pub max_rate_limit_wait: Duration,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            max_rate_limit_wait: Duration::from_secs(300),
        }
    }
}

/// A response as the adapters see it.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: u16,
    pub body: Bytes,
}

/// Reads the weight an exchange says it has counted, from the response headers.
pub(crate) type UsedWeight = fn(&HeaderMap) -> Option<u32>;

#[derive(Debug)]
pub(crate) struct Transport {
    exchange: String,
    http: reqwest::Client,
    config: TransportConfig,
    breaker: CircuitBreaker,
    used_weight: UsedWeight,
}

/// The [`ExchangeId`] of an adapter's own exchange name (a constant of the adapter, so an error
/// here is a bug, reported as a configuration error rather than a panic).
pub(crate) fn exchange_id(exchange: &str) -> Result<ExchangeId, ExchangeError> {
    ExchangeId::new(exchange).map_err(|e| ExchangeError::Config { exchange: exchange.into(), url: String::new(), reason: e.to_string() })
}

/// Checks and normalises a base URL (no trailing slash).
pub(crate) fn base_url(exchange: &str, url: &str) -> Result<String, ExchangeError> {
    let err = |reason: &str| ExchangeError::Config { exchange: exchange.to_owned(), url: url.to_owned(), reason: reason.to_owned() };
    let trimmed = url.trim().trim_end_matches('/');
    let rest = if let Some(r) = trimmed.strip_prefix("http://") {
        r
    } else if let Some(r) = trimmed.strip_prefix("https://") {
        if !cfg!(feature = "tls") {
            return Err(err("https needs TLS, which this build lacks (enable the `tls` feature of tradai-exchange)"));
        }
        r
    } else {
        return Err(err("expected an http:// or https:// URL"));
    };
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err(err("missing host"));
    }
    Ok(trimmed.to_owned())
}

impl Transport {
    pub(crate) fn new(exchange: &str, config: TransportConfig, used_weight: UsedWeight) -> Result<Self, ExchangeError> {
        // Proxies from the environment (HTTPS_PROXY, NO_PROXY); loopback fakes stay direct.
        let http = tradai_resilience::ProxyEnv::from_process()
            .apply(reqwest::Client::builder())
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("tradai/", env!("CARGO_PKG_VERSION")))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ExchangeError::Config {
                exchange: exchange.to_owned(),
                url: String::new(),
                reason: format!("cannot build the http client: {e}"),
            })?;
        let breaker = CircuitBreaker::new(config.breaker);
        Ok(Self { exchange: exchange.to_owned(), http, config, breaker, used_weight })
    }

    /// GETs `base + path_query` and decodes it, retrying what is worth retrying.
    ///
    /// `weight` is taken from `limiter` before every attempt.
    pub(crate) async fn get<T>(
        &self,
        base: &str,
        path_query: &str,
        limiter: &WindowLimiter,
        weight: u32,
        decode: impl Fn(&RawResponse, &str) -> Result<T, ExchangeError>,
    ) -> Result<T, ExchangeError> {
        let request = format!("GET {path_query}");
        let url = format!("{base}{path_query}");
        let mut attempt: u32 = 0;
        loop {
            if let Err(r) = self.breaker.check(Instant::now().into_std()) {
                return Err(ExchangeError::CircuitOpen { exchange: self.exchange.clone(), failures: r.failures, retry_in: r.retry_in });
            }
            limiter.acquire(weight).await;
            let result = match self.once(&url, &request, limiter).await {
                Ok(raw) => decode(&raw, &request),
                Err(e) => Err(e),
            };
            let e = match result {
                Ok(v) => {
                    self.breaker.on_success();
                    return Ok(v);
                }
                Err(e) => e,
            };
            if e.is_outage() {
                self.breaker.on_failure(Instant::now().into_std());
            } else {
                self.breaker.on_success();
            }
            attempt += 1;
            if !e.is_retryable() || attempt >= self.config.retry.max_attempts || matches!(e, ExchangeError::CircuitOpen { .. }) {
                return Err(e);
            }
            if let ExchangeError::RateLimited { retry_after, .. } = &e {
                let wait = retry_after.unwrap_or_else(|| self.config.retry.delay(attempt - 1));
                if wait > self.config.max_rate_limit_wait {
                    return Err(e);
                }
                tracing::warn!(exchange = %self.exchange, %request, wait_ms = wait.as_millis() as u64, "rate limited; waiting");
                // Every task of this endpoint family waits, not only this one: the limit is per IP.
                limiter.block_for(wait);
            } else {
                let wait = self.config.retry.delay(attempt - 1);
                tracing::warn!(exchange = %self.exchange, %request, attempt, wait_ms = wait.as_millis() as u64, error = %e, "retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// One attempt: send, record the reported weight, map rate limits and 5xx, read the body.
    async fn once(&self, url: &str, request: &str, limiter: &WindowLimiter) -> Result<RawResponse, ExchangeError> {
        let transport = |source| ExchangeError::Transport { exchange: self.exchange.clone(), request: request.to_owned(), source };
        let resp = self.http.get(url).send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        if let Some(used) = (self.used_weight)(resp.headers()) {
            limiter.observe_used(used);
        }
        if status == 429 || status == 418 {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(ExchangeError::RateLimited { exchange: self.exchange.clone(), request: request.to_owned(), status, retry_after });
        }
        let body = resp.bytes().await.map_err(transport)?;
        if status >= 500 {
            return Err(ExchangeError::Server {
                exchange: self.exchange.clone(),
                request: request.to_owned(),
                status,
                excerpt: excerpt(&body),
            });
        }
        Ok(RawResponse { status, body })
    }
}

/// The start of a body, printable, for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(160)]);
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Reads a header as an unsigned number.
pub(crate) fn header_u32(headers: &HeaderMap, name: &str) -> Option<u32> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(base_url("binance", "http://127.0.0.1:8080/").unwrap(), "http://127.0.0.1:8080");
        let e = base_url("binance", "ftp://x").unwrap_err().to_string();
        assert!(e.contains("'ftp://x'") && e.contains("http://"), "{e}");
        assert!(base_url("binance", "http://").is_err());
        if !cfg!(feature = "tls") {
            assert!(base_url("binance", "https://api.binance.com").unwrap_err().to_string().contains("tls"));
        }
    }
}
