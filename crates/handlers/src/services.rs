//! Calls to the platform's own services (strategy-service, data-collection) for the handlers
//! that front them: validate-strategy and data-collection-proxy. The services hold the one
//! implementation of validation and data checks; the handlers only carry requests to them, as
//! the seeds' Lambdas do.

use std::time::Duration;

use serde_json::Value;

use crate::settings::Vars;
use crate::HandlerError;

/// Base URL of a service: the setting `var`, else its Service Discovery name.
#[must_use]
pub fn service_url(vars: &Vars, var: &str, name: &str, port: u16, environment: &str) -> String {
    vars.get(var).map_or_else(|| format!("http://{name}.tradai-{environment}.local:{port}"), |u| u.trim_end_matches('/').to_owned())
}

/// Sends `body` (or a GET without one) to `url` and returns the service's JSON answer. A 4xx
/// is the caller's mistake (the service's message becomes a 400); a 5xx or no answer is a
/// retryable dependency failure.
///
/// # Errors
/// [`HandlerError::BadEvent`] or [`HandlerError::Dependency`].
pub async fn call(service: &str, url: &str, body: Option<&Value>, timeout: Duration) -> Result<Value, HandlerError> {
    let client = reqwest::Client::new();
    let req = match body {
        Some(b) => client.post(url).json(b),
        None => client.get(url),
    };
    let resp =
        req.timeout(timeout).send().await.map_err(|e| HandlerError::dependency(format!("{service} at {url}"), true, e.without_url()))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| HandlerError::dependency(format!("{service} at {url}"), true, e.without_url()))?;
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_client_error() {
        let msg = json.pointer("/error/message").or_else(|| json.get("message")).or_else(|| json.get("error")).cloned().unwrap_or(json);
        let msg = msg.as_str().map_or_else(|| msg.to_string(), str::to_owned);
        return Err(HandlerError::bad_event(format!("{service} refused the request ({status}): {msg}")));
    }
    if !status.is_success() {
        return Err(HandlerError::dependency(format!("{service} at {url}"), true, format!("answered HTTP {status}")));
    }
    Ok(json)
}
