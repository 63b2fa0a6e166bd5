//! The seeds' `LambdaResponse`: one value, two wire shapes. API Gateway and EventBridge
//! callers get `to_dict()` (`statusCode` plus the body as a JSON *string*, as API Gateway's
//! proxy integration requires); Step Functions and SQS get `to_step_functions()`, the body's
//! fields at the top level, so a state machine reads `$.decision` and Lambda's SQS poller finds
//! `batchItemFailures`.

use serde_json::{json, Map, Value};

use crate::HandlerError;

/// A handler's answer: a status code and a body that always carries `environment` and
/// `timestamp`.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaResponse {
    /// 200 on success; 400, 404 or 500 on failure.
    pub status_code: u16,
    /// The body: the handler's fields plus `environment` and `timestamp` (and `error`,
    /// `error_type` on failure).
    pub body: Map<String, Value>,
}

/// Which shape a caller expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// `{statusCode, body: "<json>"}`.
    Dict,
    /// The body's fields at the top level.
    StepFunctions,
}

impl Shape {
    /// Parses `dict` or `step-functions`.
    ///
    /// # Errors
    /// The refused value.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "dict" => Ok(Self::Dict),
            "step-functions" | "sfn" => Ok(Self::StepFunctions),
            other => Err(format!("unknown response shape '{other}' (dict or step-functions)")),
        }
    }
}

fn stamp(environment: &str, now_ms: i64, mut fields: Map<String, Value>) -> Map<String, Value> {
    let ts = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    fields.insert("environment".into(), json!(environment));
    fields.insert("timestamp".into(), json!(ts));
    fields
}

impl LambdaResponse {
    /// A 200 with `data`'s fields in the body (a non-object `data` is put under `data`).
    #[must_use]
    pub fn success(environment: &str, now_ms: i64, data: Value) -> Self {
        let fields = match data {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => Map::from_iter([("data".to_owned(), other)]),
        };
        Self { status_code: 200, body: stamp(environment, now_ms, fields) }
    }

    /// The response for a failure: its status code, `error` (the message with its causes) and
    /// `error_type`.
    #[must_use]
    pub fn error(environment: &str, now_ms: i64, e: &HandlerError) -> Self {
        let message = tradai_resilience::error_chain(e);
        let fields = Map::from_iter([("error".to_owned(), json!(message)), ("error_type".to_owned(), json!(e.error_type()))]);
        Self { status_code: e.status_code(), body: stamp(environment, now_ms, fields) }
    }

    /// Whether the status is 2xx.
    #[must_use]
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status_code)
    }

    /// API Gateway / EventBridge shape: `{"statusCode": 200, "body": "{...}"}`.
    #[must_use]
    pub fn to_dict(&self) -> Value {
        json!({"statusCode": self.status_code, "body": Value::Object(self.body.clone()).to_string()})
    }

    /// Step Functions / SQS shape: the body's fields at the top level; a failure also carries
    /// `statusCode`, so a Choice state can branch on it.
    #[must_use]
    pub fn to_step_functions(&self) -> Value {
        let mut m = self.body.clone();
        if !self.is_success() {
            m.insert("statusCode".into(), json!(self.status_code));
        }
        Value::Object(m)
    }

    /// The response in `shape`.
    #[must_use]
    pub fn to_shape(&self, shape: Shape) -> Value {
        match shape {
            Shape::Dict => self.to_dict(),
            Shape::StepFunctions => self.to_step_functions(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_carry_environment_and_timestamp() {
        let r = LambdaResponse::success("dev", 1_767_225_600_000, json!({"decision": "PROMOTE"}));
        let d = r.to_dict();
        assert_eq!(d["statusCode"], 200);
        let body: Value = serde_json::from_str(d["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, json!({"decision": "PROMOTE", "environment": "dev", "timestamp": "2026-01-01T00:00:00.000Z"}));
        assert_eq!(r.to_step_functions(), body);
    }

    #[test]
    fn errors_name_their_type_and_status() {
        let r = LambdaResponse::error("prod", 0, &HandlerError::bad_event("missing field `job_id`"));
        assert_eq!(r.status_code, 400);
        let body: Value = serde_json::from_str(r.to_dict()["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"], "invalid event: missing field `job_id`");
        assert_eq!(body["error_type"], "ValidationError");
        assert_eq!(r.to_step_functions()["statusCode"], 400);
    }
}
