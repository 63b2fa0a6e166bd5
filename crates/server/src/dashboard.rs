//! The web dashboard at `/`: backend-api serves `tradai-dashboard`'s embedded files with their
//! content types, an `ETag` (a 304 when the browser's copy is current), `Cache-Control:
//! no-cache` and a content security policy that lets the page load nothing but its own files
//! and call nothing but this origin. Also `GET /api/v1/auth`, which tells the page whether
//! state-changing calls need an API key.

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::backend::BackendState;

/// The dashboard's routes (`/`, `/index.html`, `/assets/{file}`).
pub fn routes() -> Router<BackendState> {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { serve("/", &headers) }))
        .route("/index.html", get(|headers: HeaderMap| async move { serve("/", &headers) }))
        .route(
            "/assets/{file}",
            get(|UrlPath(file): UrlPath<String>, headers: HeaderMap| async move { serve(&format!("/assets/{file}"), &headers) }),
        )
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(a) = tradai_dashboard::asset(path) else {
        return crate::error::AppError::NotFound { what: "dashboard file", id: path.to_owned() }.into_response();
    };
    let current = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| tradai_dashboard::is_current(a, v));
    let mut resp = if current { StatusCode::NOT_MODIFIED.into_response() } else { a.body.into_response() };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    h.insert(header::ETAG, HeaderValue::from_static(a.etag));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(tradai_dashboard::CACHE_CONTROL));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(tradai_dashboard::CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

/// Whether state-changing routes need a key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthStatus {
    /// True once an API key exists: `POST` routes then need `Authorization: Bearer <key>`;
    /// reads never do.
    pub keys_required: bool,
}

/// Whether the services have API keys (the dashboard asks for one only then).
#[utoipa::path(get, path = "/api/v1/auth", tag = "health", responses((status = 200, body = AuthStatus)))]
pub async fn auth_status(State(st): State<BackendState>) -> Json<AuthStatus> {
    let keys = std::sync::Arc::clone(&st.keys);
    let keys_required = tokio::task::spawn_blocking(move || keys.has_keys()).await.unwrap_or(true);
    Json(AuthStatus { keys_required })
}
