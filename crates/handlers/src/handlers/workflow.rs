//! The Step Functions tasks of the backtest workflow: update-status, cleanup-resources,
//! validate-strategy and notify-completion.

use serde::Deserialize;
use serde_json::{json, Value};
use tradai_jobs::{JobError, JobStatus};

use crate::context::Ctx;
use crate::notify::Severity;
use crate::HandlerError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusEvent {
    job_id: String,
    status: String,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<ErrorField>,
}

/// A workflow error: Step Functions' `{Error, Cause}` or ours `{code, message}`.
#[derive(Debug, Deserialize)]
struct ErrorField {
    #[serde(alias = "Error", default)]
    code: Option<String>,
    #[serde(alias = "Cause", default)]
    message: Option<String>,
}

impl ErrorField {
    fn into_job_error(self, default_code: &str) -> JobError {
        JobError {
            code: self.code.unwrap_or_else(|| default_code.to_owned()),
            message: self.message.unwrap_or_else(|| "the workflow failed".into()),
            retryable: false,
        }
    }
}

fn parse_status(s: &str) -> Result<JobStatus, HandlerError> {
    s.to_ascii_uppercase().parse().map_err(|_| {
        HandlerError::bad_event(format!("`status` '{s}' is not a job status (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED)"))
    })
}

fn job_view(j: &tradai_jobs::Job) -> Value {
    json!({"job_id": j.id, "job_type": j.job_type, "status": j.status.as_str(), "label": j.label, "attempts": j.attempts})
}

pub(super) fn update_status(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    let ev: StatusEvent = ctx.event(event, "{\"job_id\", \"status\", \"result\"?, \"error\"?}")?;
    let to = parse_status(&ev.status)?;
    let jobs = ctx.jobs()?;
    let before = jobs.get(&ev.job_id)?;
    if before.status == to {
        // Step Functions retries a task after a timeout: the second identical update is a no-op.
        return Ok(json!({"job": job_view(&before), "previous_status": before.status.as_str(), "changed": false}));
    }
    let error = ev.error.map(|e| e.into_job_error("WorkflowFailed"));
    let after = jobs.transition(&ev.job_id, to, ev.result, error)?;
    Ok(json!({"job": job_view(&after), "previous_status": before.status.as_str(), "changed": true}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CleanupEvent {
    job_id: String,
    /// Tasks the workflow started (ECS task ARNs); the job's own task when empty.
    #[serde(default)]
    task_ids: Vec<String>,
    #[serde(default)]
    error: Option<ErrorField>,
}

pub(super) async fn cleanup_resources(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    let ev: CleanupEvent = ctx.event(event, "{\"job_id\", \"task_ids\"?, \"error\"?}")?;
    let jobs = ctx.jobs()?;
    let tasks = ctx.tasks()?;
    let job = jobs.get(&ev.job_id)?;
    let ids = if ev.task_ids.is_empty() { vec![job.id.clone()] } else { ev.task_ids };
    let mut stopped = Vec::new();
    for id in &ids {
        if tasks.stop(id, &format!("workflow of job {} failed", job.id)).await? {
            stopped.push(id.clone());
        }
    }
    let err = ev.error.map_or_else(
        || JobError { code: "WorkflowFailed".into(), message: "the workflow failed; its tasks were stopped".into(), retryable: false },
        |e| e.into_job_error("WorkflowFailed"),
    );
    // A running job was asked to stop above; its worker finishes it as CANCELLED. A pending or
    // claimed one is marked FAILED here so the workflow's failure is on record.
    let job = jobs.get(&job.id)?;
    let marked = if job.status.is_terminal() || job.cancel_requested {
        false
    } else {
        jobs.transition(&job.id, JobStatus::Failed, None, Some(err))?;
        true
    };
    let job = jobs.get(&job.id)?;
    Ok(json!({"job": job_view(&job), "stopped_tasks": stopped, "marked_failed": marked, "task_launcher": tasks.describe()}))
}

#[derive(Debug, Deserialize, serde::Serialize)]
struct ValidateEvent {
    #[serde(skip_serializing)]
    strategy: String,
    #[serde(default)]
    pairs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeframe: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trading_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parameters: Option<Value>,
}

pub(super) async fn validate_strategy(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    let ev: ValidateEvent = ctx.event(event, "{\"strategy\", \"pairs\"?, \"timeframe\"?, \"trading_mode\"?, \"parameters\"?}")?;
    if ev.strategy.trim().is_empty() || ev.strategy.contains('/') {
        return Err(HandlerError::bad_event(format!("`strategy` '{}' is not a strategy name", ev.strategy)));
    }
    let base = crate::services::service_url(&ctx.vars, "STRATEGY_SERVICE_URL", "strategy-service", 8003, &ctx.settings.environment);
    let url = format!("{base}/api/v1/strategies/{}/validate", ev.strategy);
    let body = serde_json::to_value(&ev).unwrap_or(Value::Null);
    let report = crate::services::call("strategy-service", &url, Some(&body), std::time::Duration::from_secs(30)).await?;
    // A Choice state branches on `valid`; the errors name each bad field.
    let valid = report.get("valid").and_then(Value::as_bool).unwrap_or(false);
    Ok(json!({"strategy": ev.strategy, "valid": valid, "validation": report}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompletionEvent {
    job_id: String,
    /// The workflow's verdict when the job record is not (yet) final.
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    error: Option<ErrorField>,
}

pub(super) async fn notify_completion(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    let ev: CompletionEvent = ctx.event(event, "{\"job_id\", \"status\"?, \"error\"?}")?;
    let job = ctx.jobs()?.get(&ev.job_id)?;
    let status = match &ev.status {
        Some(s) => parse_status(s)?,
        None => job.status,
    };
    let (severity, verb) = match status {
        JobStatus::Completed => (Severity::Info, "completed"),
        JobStatus::Failed => (Severity::Warning, "failed"),
        JobStatus::Cancelled => (Severity::Info, "was cancelled"),
        JobStatus::Pending | JobStatus::Running => {
            return Err(HandlerError::bad_event(format!(
                "job '{}' is {}; notify-completion needs a finished job",
                job.id,
                status.as_str()
            )));
        }
    };
    let label = job.label.clone().unwrap_or_else(|| job.job_type.clone());
    let mut message = format!("{} job {} ({label}) {verb}", job.job_type, job.id);
    let error = ev.error.map(|e| e.into_job_error("WorkflowFailed")).or_else(|| job.error.clone());
    if let Some(e) = &error {
        message.push_str(&format!(": {}: {}", e.code, e.message));
    }
    if let Some(p) = job.result.as_ref().and_then(|r| r.pointer("/summary/profit_total_abs")) {
        message.push_str(&format!(" (profit {p})"));
    }
    let outcome = ctx
        .notify(
            severity,
            &format!("{}:{}", job.id, status.as_str()),
            format!("Job {verb}: {label}"),
            message.clone(),
            json!({"job_id": job.id, "job_type": job.job_type, "status": status.as_str()}),
        )
        .await;
    Ok(json!({"job_id": job.id, "status": status.as_str(), "message": message, "notification": outcome}))
}
