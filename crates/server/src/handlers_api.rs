//! backend-api's view of the scheduled handlers (`GET /api/v1/handlers`): each one's interval,
//! last run, duration and result, and their Prometheus series on `/metrics`. The scheduler
//! lives with the handlers; the entry point that runs it hands this service a [`HandlerBoard`],
//! so the server knows nothing of the handlers themselves.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::backend::BackendState;

/// What the scheduler of the process shows.
pub trait HandlerBoard: Send + Sync + std::fmt::Debug {
    /// One record per scheduled handler (name, interval, runs, last run, duration, result).
    fn runs(&self) -> Vec<serde_json::Value>;
    /// Prometheus series of the handlers (invocations, errors, duration).
    fn prometheus(&self) -> String;
}

/// The scheduled handlers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HandlerRunList {
    /// Whether a scheduler runs in this process.
    pub scheduler: bool,
    /// One record per scheduled handler: `handler`, `every_seconds`, `runs`, `failures`,
    /// `skipped`, `running`, `last_run`, `last_duration_ms`, `last_status`, `last_error`,
    /// `last_result`.
    #[schema(value_type = Vec<Object>)]
    pub handlers: Vec<serde_json::Value>,
}

/// The scheduled handlers with their last run.
#[utoipa::path(get, path = "/api/v1/handlers", tag = "handlers", responses((status = 200, body = HandlerRunList)))]
pub async fn list_handlers(State(st): State<BackendState>) -> Json<HandlerRunList> {
    Json(match &st.handlers {
        Some(b) => HandlerRunList { scheduler: true, handlers: b.runs() },
        None => HandlerRunList { scheduler: false, handlers: Vec::new() },
    })
}
