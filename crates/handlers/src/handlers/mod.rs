//! The 18 handlers, grouped by what they work on; [`dispatch`] routes an invocation by name.

mod infra;
mod models;
mod monitor;
mod queue;
mod workflow;

use serde_json::Value;

use crate::context::Ctx;
use crate::HandlerError;

pub use queue::{SqsEvent, SqsRecord};

/// Runs the handler `ctx.spec` names on `event`.
pub(crate) async fn dispatch(ctx: &Ctx<'_>, event: Value) -> Result<Value, HandlerError> {
    match ctx.spec.name {
        "backtest-consumer" => queue::backtest_consumer(ctx, &event).await,
        "sqs-consumer" => queue::sqs_consumer(ctx, &event).await,
        "update-status" => workflow::update_status(ctx, &event),
        "cleanup-resources" => workflow::cleanup_resources(ctx, &event).await,
        "validate-strategy" => workflow::validate_strategy(ctx, &event).await,
        "notify-completion" => workflow::notify_completion(ctx, &event).await,
        "check-retraining-needed" => models::check_retraining_needed(ctx, &event).await,
        "compare-models" => models::compare_models(ctx, &event),
        "promote-model" => models::promote_model(ctx, &event).await,
        "model-rollback" => models::model_rollback(ctx, &event).await,
        "retraining-scheduler" => models::retraining_scheduler(ctx, &event).await,
        "drift-monitor" => models::drift_monitor(ctx, &event).await,
        "health-check" => monitor::health_check(ctx, &event).await,
        "trading-heartbeat-check" => monitor::trading_heartbeat_check(ctx, &event).await,
        "orphan-scanner" => monitor::orphan_scanner(ctx, &event).await,
        "pulumi-drift-detector" => infra::infra_drift(ctx, &event).await,
        "data-collection-proxy" => infra::data_collection_proxy(ctx, &event).await,
        "update-nat-routes" => infra::update_nat_routes(ctx, &event).await,
        other => Err(HandlerError::UnknownHandler(other.to_owned())),
    }
}

/// A scheduled event (EventBridge's `Scheduled Event`, or `{}`) may carry overrides; an empty
/// event or anything that is not an object is refused.
fn scheduled_overrides(event: &Value) -> Result<serde_json::Map<String, Value>, HandlerError> {
    match event {
        Value::Null => Err(HandlerError::bad_event("the event is empty; expected an EventBridge scheduled event (or {})")),
        Value::Object(m) => Ok(m.clone()),
        other => Err(HandlerError::bad_event(format!("expected a JSON object (an EventBridge scheduled event), got {other}"))),
    }
}
