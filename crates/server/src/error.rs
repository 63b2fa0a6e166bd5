//! The one error type of every HTTP handler, [`AppError`], and the JSON body extractor
//! [`ApiJson`] that turns malformed or mistyped bodies into errors naming the field.
//!
//! User errors (4xx) are echoed to the client with the offending field; internal errors (5xx)
//! are logged with their cause chain and answered with a generic message, so no path, SQL or
//! secret leaks into a response.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tradai_jobs::RepoError;
use utoipa::ToSchema;

/// Body of every error response: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`invalid_field`, `not_found`, `unauthorized`, ...).
    pub code: String,
    /// Human-readable message, quoting the bad value where there is one.
    pub message: String,
    /// The request field at fault (`timeframe`, `pairs[1]`, `body`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Every way a request can fail, grouped by what the client should do.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The body is not JSON, or not UTF-8 (400).
    #[error("{message}")]
    Malformed {
        /// Where the syntax error is.
        message: String,
    },
    /// A field has a bad value or type, or is missing (422).
    #[error("{field}: {message}")]
    InvalidField {
        /// The field, as a JSON path (`pairs[1]`).
        field: String,
        /// What is wrong, quoting the value.
        message: String,
    },
    /// A field and its alias are both given (`strategy` and `strategy_name`) (400).
    #[error("give {field} or its alias {alias}, not both")]
    BothGiven {
        /// The field.
        field: &'static str,
        /// Its alias.
        alias: &'static str,
    },
    /// A query parameter is invalid (400).
    #[error("query parameter {field}: {message}")]
    InvalidQuery {
        /// The parameter.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The body is larger than the limit (413).
    #[error("request body is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not declared as JSON (415).
    #[error("expected a JSON body (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// No such resource, described by the back end that looked (404).
    #[error("{0}")]
    Missing(String),
    /// No such resource (404).
    #[error("{what} '{id}' not found")]
    NotFound {
        /// Kind of resource (`job`, `strategy`).
        what: &'static str,
        /// The id as given.
        id: String,
    },
    /// The resource is in a state that forbids the request (409).
    #[error("{0}")]
    Conflict(String),
    /// Missing or wrong API key (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Too many requests from this client (429).
    #[error("rate limit exceeded; retry after {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a request would be accepted.
        retry_after_secs: u64,
    },
    /// The service cannot take the request now (shutting down, a dependency is down) (503).
    #[error("{message}")]
    Unavailable {
        /// Stable code (`shutting_down`, `dependency_unavailable`).
        code: &'static str,
        /// What is unavailable.
        message: String,
    },
    /// A service behind this one (a trading node) did not answer or refused (502).
    #[error("{message}")]
    BadGateway {
        /// What did not answer, named.
        message: String,
    },
    /// A bug or an infrastructure failure (500); the cause is logged, not sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    /// An invalid field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField { field: field.into(), message: message.into() }
    }

    /// An internal error from any cause.
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(e.into())
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Malformed { .. } | Self::InvalidQuery { .. } | Self::BothGiven { .. } => StatusCode::BAD_REQUEST,
            Self::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound { .. } | Self::Missing(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "malformed_body",
            Self::InvalidField { .. } => "invalid_field",
            Self::InvalidQuery { .. } => "invalid_query",
            Self::BothGiven { .. } => "field_and_alias",
            Self::TooLarge { .. } => "body_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::NotFound { .. } | Self::Missing(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Unauthorized(_) => "unauthorized",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { code, .. } => code,
            Self::BadGateway { .. } => "node_unreachable",
            Self::Internal(_) => "internal",
        }
    }

    /// The JSON body sent for this error.
    #[must_use]
    pub fn body(&self) -> ErrorBody {
        let field = match self {
            Self::InvalidField { field, .. } | Self::InvalidQuery { field, .. } => Some(field.clone()),
            Self::BothGiven { alias, .. } => Some((*alias).to_owned()),
            Self::Malformed { .. } | Self::TooLarge { .. } | Self::UnsupportedMediaType => Some("body".to_owned()),
            _ => None,
        };
        let message = match self {
            Self::Internal(_) => "internal error; the server log has the details".to_owned(),
            e => e.to_string(),
        };
        ErrorBody { error: ErrorDetail { code: self.code().to_owned(), message, field } }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Self::Internal(e) = &self {
            tracing::error!(error = %tradai_resilience::error_chain(e.as_ref()), "request failed");
        }
        let status = self.status();
        let mut resp = (status, axum::Json(self.body())).into_response();
        if let Self::RateLimited { retry_after_secs } = self {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<RepoError> for AppError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::NotFound(id) => Self::NotFound { what: "job", id },
            RepoError::IllegalTransition { id, from, to } => Self::Conflict(format!("job '{id}' is {from}; it cannot become {to}")),
            e @ (RepoError::Storage(_) | RepoError::Database(_)) => Self::internal(e),
        }
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(e)
    }
}

/// A JSON body extractor whose errors name the field (`pairs[1]`, `stake_amount`) instead of
/// axum's plain-text rejections.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).is_some_and(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json") || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(AppError::UnsupportedMediaType);
        }
        let limit = req.extensions().get::<BodyLimit>().map_or(DEFAULT_BODY_LIMIT, |l| l.0);
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(ref inner) if inner.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                AppError::TooLarge { limit }
            }
            e => AppError::Malformed { message: format!("cannot read the request body: {}", e.body_text()) },
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Default request body limit (1 MiB): a backtest request is a few hundred bytes.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The body limit in force, put into request extensions so [`ApiJson`] can quote it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Parses a JSON document into `T`, mapping errors to [`AppError`] with the JSON path of the
/// offending field.
///
/// # Errors
/// [`AppError::Malformed`] for syntax errors, [`AppError::InvalidField`] for type errors,
/// missing and unknown fields.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof | serde_json::error::Category::Io => {
                AppError::Malformed { message: format!("malformed JSON: {inner}") }
            }
            serde_json::error::Category::Data => {
                let msg = inner.to_string();
                // "missing field `x`" and "unknown field `x`" are reported at the parent's path;
                // name the field itself.
                // serde_path_to_error already ends the path with an unknown field's name.
                let named = msg.strip_prefix("missing field `").and_then(|r| r.split('`').next());
                let field = match (named, path.as_str()) {
                    (Some(f), "." | "") => f.to_owned(),
                    (Some(f), p) => format!("{p}.{f}"),
                    (None, "." | "") => "body".to_owned(),
                    (None, p) => p.to_owned(),
                };
                AppError::InvalidField { field, message: strip_position(&msg) }
            }
        }
    })
}

/// Drops serde's " at line 1 column 17" suffix from data errors: the field path says where.
fn strip_position(msg: &str) -> String {
    msg.rfind(" at line ").map_or_else(|| msg.to_owned(), |i| msg[..i].to_owned())
}

/// A query-string extractor whose errors are JSON and name the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded_like(q);
        de.map(ApiQuery)
    }
}

fn serde_urlencoded_like<T: DeserializeOwned>(q: &str) -> Result<T, AppError> {
    // axum's `Query` uses serde_urlencoded; reuse it through axum to keep one parser, then
    // turn its message into a JSON error.
    let uri: axum::http::Uri = format!("/?{q}")
        .parse()
        .map_err(|_| AppError::InvalidQuery { field: "query".into(), message: "unparsable query string".into() })?;
    axum::extract::Query::<T>::try_from_uri(&uri).map(|axum::extract::Query(v)| v).map_err(|e| {
        let text = e.body_text();
        let text = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text).to_owned();
        let field = text
            .strip_prefix("missing field `")
            .or_else(|| text.strip_prefix("unknown field `"))
            .and_then(|r| r.split('`').next())
            .or_else(|| text.split(':').next().filter(|f| !f.contains(' ')))
            .unwrap_or("query")
            .to_owned();
        // serde names the parameter itself ("offset: invalid digit"); the error names it once.
        let message = text.strip_prefix(&format!("{field}: ")).map_or_else(|| text.clone(), str::to_owned);
        AppError::InvalidQuery { field, message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        pairs: Vec<String>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<Body>(br#"{"name": "x", "pairs": ["a", 3]}"#).unwrap_err();
        assert!(matches!(&e, AppError::InvalidField { field, .. } if field == "pairs[1]"), "{e:?}");
        let e = parse_json::<Body>(br#"{"pairs": []}"#).unwrap_err();
        assert!(matches!(&e, AppError::InvalidField { field, .. } if field == "name"), "{e:?}");
        let e = parse_json::<Body>(br#"{"name": "x", "pairs": [], "nope": 1}"#).unwrap_err();
        assert!(matches!(&e, AppError::InvalidField { field, .. } if field == "nope"), "{e:?}");
        let e = parse_json::<Body>(br#"{"name": "#).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = AppError::internal(std::io::Error::other("/secret/path"));
        let body = serde_json::to_string(&e.body()).unwrap();
        assert!(!body.contains("secret"), "{body}");
    }
}
