//! What every service shares around its routes: request metrics (Prometheus text), a per-client
//! rate limit on state-changing and compute-heavy routes, the body size limit, JSON answers for
//! panics and unknown routes, and the OpenAPI document with its docs page.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::error::{AppError, BodyLimit};

/// Latency histogram bucket bounds in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct MetricsInner {
    requests: HashMap<(String, String, u16), u64>,
    latency: HashMap<String, Histogram>,
}

/// Request counters and latency histograms of one service, rendered in Prometheus text format.
#[derive(Debug)]
pub struct Metrics {
    service: &'static str,
    inner: Mutex<MetricsInner>,
}

impl Metrics {
    /// Empty metrics of `service`.
    #[must_use]
    pub fn new(service: &'static str) -> Self {
        Self { service, inner: Mutex::new(MetricsInner::default()) }
    }

    fn record(&self, method: &Method, route: &str, status: u16, secs: f64) {
        let mut g = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *g.requests.entry((method.as_str().to_owned(), route.to_owned(), status)).or_default() += 1;
        let h = g.latency.entry(route.to_owned()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// The Prometheus text of the request metrics; `extra` is appended (gauges the service
    /// computes at scrape time).
    #[must_use]
    pub fn render(&self, extra: &str) -> String {
        use std::fmt::Write;
        let g = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let svc = self.service;
        let mut s = String::new();
        s.push_str("# HELP tradai_http_requests_total HTTP requests by method, route and status.\n");
        s.push_str("# TYPE tradai_http_requests_total counter\n");
        let mut reqs: Vec<_> = g.requests.iter().collect();
        reqs.sort();
        for ((m, r, st), n) in reqs {
            let _ = writeln!(s, "tradai_http_requests_total{{service=\"{svc}\",method=\"{m}\",route=\"{}\",status=\"{st}\"}} {n}", esc(r));
        }
        s.push_str("# HELP tradai_http_request_duration_seconds HTTP request latency by route.\n");
        s.push_str("# TYPE tradai_http_request_duration_seconds histogram\n");
        let mut lat: Vec<_> = g.latency.iter().collect();
        lat.sort_by(|a, b| a.0.cmp(b.0));
        for (r, h) in lat {
            let r = esc(r);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "tradai_http_request_duration_seconds_bucket{{service=\"{svc}\",route=\"{r}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(s, "tradai_http_request_duration_seconds_bucket{{service=\"{svc}\",route=\"{r}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(s, "tradai_http_request_duration_seconds_sum{{service=\"{svc}\",route=\"{r}\"}} {}", h.sum);
            let _ = writeln!(s, "tradai_http_request_duration_seconds_count{{service=\"{svc}\",route=\"{r}\"}} {}", h.count);
        }
        s.push_str(extra);
        s
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    // The route template (`/api/v1/backtests/{id}`), not the path, keeps label sets bounded.
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    m.record(&method, &route, resp.status().as_u16(), start.elapsed().as_secs_f64());
    resp
}

/// Shared limits of a service.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body in bytes.
    pub body_bytes: usize,
    /// Sustained requests per second per client on limited routes; 0 disables the limit.
    pub rate_per_sec: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { body_bytes: crate::error::DEFAULT_BODY_LIMIT, rate_per_sec: 100 }
    }
}

/// A token bucket per client address: `rate` tokens per second, bursts of `2 * rate`.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter of `rate_per_sec` (0: unlimited).
    #[must_use]
    pub fn new(rate_per_sec: u32) -> Self {
        Self { rate: f64::from(rate_per_sec), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token for `ip`; `Err(seconds)` until one is available.
    ///
    /// # Errors
    /// The whole seconds to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let burst = self.rate * 2.0;
        let now = Instant::now();
        let mut g = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if g.len() > 10_000 {
            // Forget idle clients so the map cannot grow without bound.
            g.retain(|_, (tokens, t)| *tokens + now.duration_since(*t).as_secs_f64() * self.rate < burst);
        }
        let (tokens, last) = g.entry(ip).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// Middleware: rate-limits by client address (requests without one, as in router tests, share
/// the unspecified address).
pub async fn rate_limit(State(l): State<Arc<RateLimiter>>, req: Request, next: Next) -> Response {
    let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    match l.check(ip) {
        Ok(()) => next.run(req).await,
        Err(secs) => AppError::RateLimited { retry_after_secs: secs }.into_response(),
    }
}

/// Middleware for data-collection and strategy-service: rate-limits POSTs (the compute-heavy
/// routes) of remote clients. Loopback peers — the backend of the same host calling on behalf of
/// its own, already rate-limited, clients — are not limited, so a burst of submissions never
/// trips the backend's own circuit breakers.
pub async fn rate_limit_posts(State(l): State<Arc<RateLimiter>>, req: Request, next: Next) -> Response {
    let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if req.method() != Method::POST || ip.is_none_or(|ip| ip.is_loopback()) {
        return next.run(req).await;
    }
    match l.check(ip.unwrap_or(IpAddr::from([0, 0, 0, 0]))) {
        Ok(()) => next.run(req).await,
        Err(secs) => AppError::RateLimited { retry_after_secs: secs }.into_response(),
    }
}

async fn put_body_limit(State(limit): State<usize>, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(BodyLimit(limit));
    next.run(req).await
}

async fn not_found() -> AppError {
    AppError::NotFound { what: "route", id: "this path".into() }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    AppError::internal("handler panicked").into_response()
}

/// Wraps a service's routes with the shared layers and adds `/openapi.json`, `/docs` and, when
/// the service has no richer one, `/metrics`.
pub fn finish(
    routes: Router,
    service: &'static str,
    openapi: utoipa::openapi::OpenApi,
    limits: Limits,
    metrics: Arc<Metrics>,
    own_metrics: bool,
) -> Router {
    let spec = Arc::new(openapi);
    let doc_page = docs_page(service);
    let mut r = routes
        .route(
            "/openapi.json",
            get(move || {
                let spec = Arc::clone(&spec);
                async move { Json(spec.as_ref().clone()) }
            }),
        )
        .route("/docs", get(move || async move { Html(doc_page) }));
    if !own_metrics {
        let m = Arc::clone(&metrics);
        r = r.route(
            "/metrics",
            get(move || {
                let m = Arc::clone(&m);
                async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], m.render("")) }
            }),
        );
    }
    r.fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(limits.body_bytes, put_body_limit))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(metrics, track))
}

/// A self-contained docs page: it reads `/openapi.json` and lists operations, parameters and
/// schemas. No script or stylesheet is fetched from elsewhere, so it works offline.
fn docs_page(service: &str) -> String {
    DOCS_HTML.replace("{{SERVICE}}", service)
}

const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{SERVICE}} API</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.5rem}.op{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.5rem .8rem}
.m{display:inline-block;min-width:4rem;font-weight:bold}.get{color:#0a7}.post{color:#07c}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:.8rem}small{color:#666}</style></head>
<body><h1>{{SERVICE}} API</h1><p>Machine-readable spec: <a href="/openapi.json">/openapi.json</a></p>
<div id="ops">Loading…</div>
<script>
fetch('/openapi.json').then(r=>r.json()).then(spec=>{
  const root=document.getElementById('ops');root.textContent='';
  for(const [path,item] of Object.entries(spec.paths||{})){
    for(const [method,op] of Object.entries(item)){
      const d=document.createElement('details');d.className='op';
      const s=document.createElement('summary');
      s.innerHTML='<span class="m '+method+'">'+method.toUpperCase()+'</span> <code></code> <small></small>';
      s.querySelector('code').textContent=path;s.querySelector('small').textContent=op.summary||'';
      d.appendChild(s);const pre=document.createElement('pre');
      pre.textContent=JSON.stringify({description:op.description,parameters:op.parameters,requestBody:op.requestBody,responses:op.responses},null,2);
      d.appendChild(pre);root.appendChild(d);
    }
  }
  const h=document.createElement('h2');h.textContent='Schemas';root.appendChild(h);
  const pre=document.createElement('pre');pre.textContent=JSON.stringify((spec.components||{}).schemas||{},null,2);root.appendChild(pre);
});
</script></body></html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_allows_bursts_then_refuses() {
        let l = RateLimiter::new(5);
        let ip = IpAddr::from([127, 0, 0, 1]);
        for _ in 0..10 {
            assert!(l.check(ip).is_ok());
        }
        assert!(l.check(ip).is_err());
        assert!(l.check(IpAddr::from([127, 0, 0, 2])).is_ok(), "buckets are per client");
        assert!(RateLimiter::new(0).check(ip).is_ok());
    }
}
