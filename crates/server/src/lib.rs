//! TradAI's HTTP services: backend-api (backtest jobs), data-collection
//! (what the candle store holds) and strategy-service (strategies and layered configs), each
//! an axum router built by a plain `app(state)` function so tests drive it without a socket
//! (accepted jobs run through `tradai-executor`, which has no HTTP in it); typed clients
//! with retries and circuit breakers; API keys; Prometheus metrics; OpenAPI documents.
//!
//! Architecture invariant: this is an entry-point crate. Domain crates never depend on it;
//! it turns HTTP into calls of `tradai-app`, `tradai-jobs`, `tradai-store` and `tradai-engine`
//! and their results back into HTTP, and holds no trading logic of its own.

pub mod auth;
pub mod backend;
pub mod clients;
pub mod dashboard;
pub mod data_api;
pub mod data_service;
pub mod dto;
pub mod error;
pub mod handlers_api;
pub mod jobs_api;
pub mod listener;
pub mod middleware;
pub mod node_api;
pub mod openapi;
pub mod public;
pub mod registry_api;
pub mod results_api;
pub mod retraining_api;
pub mod serve;
pub mod strategy_service;
pub mod tracking;
pub mod trading_api;
pub mod trading_proxy;

use std::sync::Arc;

use axum::Router;

use crate::middleware::{Limits, Metrics, RateLimiter};

/// The data-collection router with the shared middleware.
pub fn data_app(state: data_service::DataState, limits: Limits) -> Router {
    let limiter = Arc::new(RateLimiter::new(limits.rate_per_sec));
    let routes = data_service::routes(state).route_layer(axum::middleware::from_fn_with_state(limiter, middleware::rate_limit_posts));
    middleware::finish(routes, "data-collection", openapi::data_collection(), limits, Arc::new(Metrics::new("data-collection")), false)
}

/// The strategy-service router with the shared middleware.
pub fn strategy_app(state: strategy_service::StrategyState, limits: Limits) -> Router {
    let limiter = Arc::new(RateLimiter::new(limits.rate_per_sec));
    let routes = strategy_service::routes(state).route_layer(axum::middleware::from_fn_with_state(limiter, middleware::rate_limit_posts));
    middleware::finish(routes, "strategy-service", openapi::strategy_service(), limits, Arc::new(Metrics::new("strategy-service")), false)
}
