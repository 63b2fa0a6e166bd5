//! backtest-consumer and sqs-consumer: SQS batches, one task per message, with the partial
//! batch response (`batchItemFailures`) so Lambda retries only the messages that failed.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::context::{parse_event, Ctx};
use crate::ports::{TaskKind, TaskRequest};
use crate::HandlerError;

/// An SQS event as Lambda delivers it.
#[derive(Debug, Clone, Deserialize)]
pub struct SqsEvent {
    /// The batch.
    #[serde(rename = "Records")]
    pub records: Vec<SqsRecord>,
}

/// One SQS message.
#[derive(Debug, Clone, Deserialize)]
pub struct SqsRecord {
    /// Message id: the item identifier of a batch failure, and the idempotency key.
    #[serde(rename = "messageId")]
    pub message_id: String,
    /// The message body (JSON text).
    pub body: String,
}

/// A backtest request on the queue (what backend-api's SQS executor sends).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BacktestMessage {
    /// The job backend-api created before queueing (absent: the consumer creates one).
    #[serde(default)]
    job_id: Option<String>,
    /// The backtest configuration (strategy, pairs, timeframe, ...).
    config: serde_json::Map<String, Value>,
}

/// A retraining request on the queue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetrainingMessage {
    /// Registered model to retrain.
    model_name: String,
    /// Why (drift, schedule, manual).
    #[serde(default)]
    reason: Option<String>,
    /// Training overrides (pairs, timeframe, window).
    #[serde(default)]
    config: serde_json::Map<String, Value>,
}

const SQS_EXPECTED: &str = "an SQS event {\"Records\": [{\"messageId\", \"body\"}, ...]}";

/// Processes every record with `one`, collecting failures by message id.
async fn batch<F, Fut>(ctx: &Ctx<'_>, event: &Value, one: F) -> Result<Value, HandlerError>
where
    F: Fn(SqsRecord) -> Fut,
    Fut: std::future::Future<Output = Result<Value, HandlerError>>,
{
    let ev: SqsEvent = parse_event(event, SQS_EXPECTED)?;
    if ev.records.is_empty() {
        return Err(HandlerError::bad_event(format!("`Records` is empty; expected {SQS_EXPECTED}")));
    }
    let total = ev.records.len();
    let mut launched = Vec::new();
    let mut failures = Vec::new();
    for r in ev.records {
        let id = r.message_id.clone();
        match one(r).await {
            Ok(v) => launched.push(v),
            Err(e) => {
                tracing::warn!(handler = ctx.spec.name, message_id = %id, error = %tradai_resilience::error_chain(&e), "message failed");
                failures.push(json!({"itemIdentifier": id, "error": e.to_string()}));
            }
        }
    }
    Ok(json!({
        "processed": total,
        "succeeded": launched.len(),
        "failed": failures.len(),
        "tasks": launched,
        // Lambda reads only `itemIdentifier`; the error is for people reading the response.
        "batchItemFailures": failures,
    }))
}

fn body_of<T: serde::de::DeserializeOwned>(r: &SqsRecord, expected: &str) -> Result<T, HandlerError> {
    let v: Value =
        serde_json::from_str(&r.body).map_err(|e| HandlerError::bad_event(format!("message {}: body is not JSON: {e}", r.message_id)))?;
    parse_event(&v, expected).map_err(|e| HandlerError::bad_event(format!("message {}: {e}", r.message_id)))
}

pub(super) async fn backtest_consumer(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    let tasks = ctx.tasks()?;
    batch(ctx, event, |r| async move {
        let m: BacktestMessage = body_of(&r, "{\"job_id\"?, \"config\": {\"strategy\", ...}}")?;
        let strategy = m.config.get("strategy").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        let Some(strategy) = strategy else {
            return Err(HandlerError::bad_event(format!("message {}: `config.strategy` is missing", r.message_id)));
        };
        let req = TaskRequest {
            kind: TaskKind::Backtest,
            job_id: m.job_id,
            config: Value::Object(m.config),
            dedup_key: format!("sqs-{}", r.message_id),
            label: Some(strategy),
        };
        let t = tasks.launch(&req).await?;
        Ok(json!({"message_id": r.message_id, "task_id": t.task_id, "job_id": t.job_id, "created": t.created}))
    })
    .await
}

pub(super) async fn sqs_consumer(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    let tasks = ctx.tasks()?;
    batch(ctx, event, |r| async move {
        let m: RetrainingMessage = body_of(&r, "{\"model_name\", \"reason\"?, \"config\"?}")?;
        if m.model_name.trim().is_empty() {
            return Err(HandlerError::bad_event(format!("message {}: `model_name` is empty", r.message_id)));
        }
        let mut config = m.config;
        config.insert("model_name".into(), json!(m.model_name));
        config.insert("reason".into(), json!(m.reason.unwrap_or_else(|| "queued".into())));
        let req = TaskRequest {
            kind: TaskKind::Retraining,
            job_id: None,
            config: Value::Object(config),
            dedup_key: format!("sqs-{}", r.message_id),
            label: Some(m.model_name),
        };
        let t = tasks.launch(&req).await?;
        Ok(json!({"message_id": r.message_id, "task_id": t.task_id, "job_id": t.job_id, "created": t.created}))
    })
    .await
}
