//! Tracker errors as HTTP answers, for the routes that read the tracker (`/api/v1/runs`,
//! strategy-service's registered configs). The observer that logs finished jobs is
//! `tradai_executor::tracking`.

/// A tracker error as an API error: unknown run or model → 404 (the tracker's own message,
/// which quotes the id), a bad filter → 400, a tracker that cannot be reached → 503 (never a
/// 500: the tracker is a dependency, not this service).
#[must_use]
pub fn api_error(e: tradai_tracking::TrackingError) -> crate::error::AppError {
    use tradai_tracking::TrackingError;
    match e {
        e @ TrackingError::NotFound { .. } => crate::error::AppError::Missing(e.to_string()),
        TrackingError::Invalid { what, reason } => crate::error::AppError::InvalidQuery { field: what, message: reason },
        e => crate::error::AppError::Unavailable { code: "tracking_unavailable", message: e.to_string() },
    }
}

/// The answer of a tracking route while tracking is off (`tracking.uri = "off"`).
#[must_use]
pub fn disabled() -> crate::error::AppError {
    crate::error::AppError::Unavailable { code: "tracking_disabled", message: "experiment tracking is off".into() }
}
