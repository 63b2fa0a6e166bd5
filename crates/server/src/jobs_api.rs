//! What every job route shares, whatever the job type and service: group commit of
//! submissions ([`Intake`]), the 202 answer with its `Location`, the [`JobView`] of a job,
//! listing, and cancellation (a PENDING job at once, a RUNNING one through its worker).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tradai_jobs::{Job, JobFilter, JobRepository, JobStatus, NewJob};

use crate::dto::{JobErrorBody, JobPage, JobView, JobsQuery, PageInfo, SubmitResponse};
use crate::error::{AppError, ErrorBody};
use tradai_executor::BacktestJobSubmitter;

type Reply = tokio::sync::oneshot::Sender<Result<(Job, bool), String>>;

/// Group commit: submissions queue here and a writer thread commits everything queued in one
/// transaction, so the API accepts many jobs per disk flush while each answer still waits for
/// its own job to be durable.
pub struct Intake {
    tx: std::sync::mpsc::Sender<(NewJob, Reply)>,
    /// The repository the writer commits to, for what is recorded after the commit.
    jobs: Arc<dyn JobRepository>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake").finish_non_exhaustive()
    }
}

/// Most submissions committed together.
const MAX_BATCH: usize = 512;

impl Intake {
    /// Starts the writer thread.
    #[must_use]
    pub fn start(jobs: Arc<dyn JobRepository>) -> Self {
        let repo = Arc::clone(&jobs);
        let (tx, rx) = std::sync::mpsc::channel::<(NewJob, Reply)>();
        let spawned = std::thread::Builder::new().name("job-intake".into()).spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(x) => batch.push(x),
                        Err(_) => break,
                    }
                }
                let (news, replies): (Vec<NewJob>, Vec<Reply>) = batch.into_iter().unzip();
                match jobs.create_batch(news) {
                    Ok(out) => {
                        for (r, o) in replies.into_iter().zip(out) {
                            let _ = r.send(Ok(o));
                        }
                    }
                    Err(e) => {
                        let msg = format!("{e}: {}", std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default());
                        for r in replies {
                            let _ = r.send(Err(msg.clone()));
                        }
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the job intake thread");
        }
        Self { tx, jobs: repo }
    }

    /// Commits one job (with the others queued at the same time).
    ///
    /// # Errors
    /// [`AppError::Internal`] when the commit failed.
    pub async fn submit(&self, job: NewJob) -> Result<(Job, bool), AppError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx.send((job, tx)).map_err(|_| AppError::internal("job intake stopped"))?;
        rx.await.map_err(|_| AppError::internal("job intake stopped"))?.map_err(AppError::internal)
    }
}

/// The answers of every job submission route, for the OpenAPI documents
/// (`responses(SubmitAnswers)`); never built, the handlers answer with [`submit`].
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum SubmitAnswers {
    /// Accepted and durable.
    #[response(status = 202)]
    Accepted(SubmitResponse),
    /// Replay of an earlier submission with the same Idempotency-Key.
    #[response(status = 200)]
    Replayed(SubmitResponse),
    /// The body is not JSON, or a field is given together with its alias (`strategy` and
    /// `strategy_name`).
    #[response(status = 400)]
    Malformed(ErrorBody),
    /// Missing or wrong API key.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The body is too large.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body is not declared as JSON.
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
    /// A field is invalid; the error names it.
    #[response(status = 422)]
    InvalidField(ErrorBody),
    /// Too many requests.
    #[response(status = 429)]
    RateLimited(ErrorBody),
    /// Shutting down, or a dependency is down.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// Admits a submission: refused (503) once shutdown began, else its checked
/// `Idempotency-Key`.
///
/// # Errors
/// [`AppError::Unavailable`], or as [`idempotency_key`].
pub fn admit(accepting: &AtomicBool, headers: &HeaderMap) -> Result<Option<String>, AppError> {
    if !accepting.load(Ordering::SeqCst) {
        return Err(AppError::Unavailable { code: "shutting_down", message: "the server is shutting down; submit again shortly".into() });
    }
    idempotency_key(headers)
}

/// The `Idempotency-Key` header, checked.
///
/// # Errors
/// [`AppError::InvalidField`] for an unprintable, empty or overlong key.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let s = v.to_str().map_err(|_| AppError::field("Idempotency-Key", "must be printable ASCII"))?.trim();
    if s.is_empty() || s.len() > 200 {
        return Err(AppError::field("Idempotency-Key", "must be 1 to 200 characters"));
    }
    Ok(Some(s.to_owned()))
}

/// Commits `new` (group commit), hands a new job to `executor`, and answers 202 with the job
/// id and `Location: <status_base>/<id>` — or 200 with the first job when the idempotency key
/// was used before.
///
/// # Errors
/// [`AppError::Internal`] when the commit failed.
pub async fn submit(intake: &Intake, executor: &dyn BacktestJobSubmitter, new: NewJob, status_base: &str) -> Result<Response, AppError> {
    let (job, created) = intake.submit(new).await?;
    if created {
        match executor.submit(&job) {
            // Where a remote executor runs it (message id, execution or task ARN), kept on the job.
            Ok(reference) if executor.mode().is_remote() => {
                let (jobs, id) = (Arc::clone(&intake.jobs), job.id.clone());
                let recorded = tokio::task::spawn_blocking(move || jobs.set_execution_ref(&id, &reference)).await;
                if let Ok(Err(e)) = recorded {
                    tracing::warn!(job_id = %job.id, error = %e, "cannot record where the job runs");
                }
            }
            Ok(_) => {}
            // Durable already: a worker (here after a restart, or elsewhere) picks it up later.
            Err(e) => tracing::warn!(job_id = %job.id, error = %e, "executor did not take the job now; it stays PENDING"),
        }
    }
    let status_url = format!("{status_base}/{}", job.id);
    let body = SubmitResponse { job_id: job.id.clone(), status: job.status.to_string(), status_url: status_url.clone(), created };
    let code = if created { StatusCode::ACCEPTED } else { StatusCode::OK };
    let mut resp = (code, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&status_url) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if !created {
        resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// RFC 3339 with milliseconds.
#[must_use]
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// A job as the API shows it.
#[must_use]
pub fn view(j: Job) -> JobView {
    let mut config = j.config;
    let request = config.get_mut("request").map(serde_json::Value::take).unwrap_or(serde_json::Value::Null);
    let experiment_name = config.get("experiment_name").and_then(|v| v.as_str()).map(str::to_owned);
    JobView {
        job_id: j.id,
        job_type: j.job_type,
        status: j.status.to_string(),
        progress: j.progress,
        progress_detail: j.progress_detail,
        label: j.label,
        experiment_name,
        created_at: rfc3339(j.created_at),
        updated_at: rfc3339(j.updated_at),
        started_at: j.started_at.map(rfc3339),
        finished_at: j.finished_at.map(rfc3339),
        attempts: j.attempts,
        cancel_requested: j.cancel_requested,
        request,
        result: j.result.map(|mut r| {
            crate::public::scrub_json(&mut r);
            r
        }),
        // A store error quotes the file it failed on: the client gets the pair's month, not
        // the server's directory.
        error: j.error.map(|e| JobErrorBody { code: e.code, message: crate::public::scrub(&e.message), retryable: e.retryable }),
        tracking: None,
    }
}

/// One job; `what` names the route's job type (`hyperopt run`, `sync`) in a 404, and a job of
/// another type is not found there. `job_type` `None` accepts any.
///
/// # Errors
/// [`AppError::NotFound`].
pub async fn load(jobs: &Arc<dyn JobRepository>, id: String, job_type: Option<&str>, what: &'static str) -> Result<Job, AppError> {
    let repo = Arc::clone(jobs);
    let job = tokio::task::spawn_blocking(move || repo.get(&id)).await?.map_err(|e| match e {
        tradai_jobs::RepoError::NotFound(id) => AppError::NotFound { what, id },
        e => AppError::from(e),
    })?;
    if job_type.is_some_and(|t| t != job.job_type) {
        return Err(AppError::NotFound { what, id: job.id });
    }
    Ok(job)
}

/// The repository filter of a listing's query parameters.
///
/// # Errors
/// [`AppError::InvalidQuery`] naming the bad parameter.
pub fn filter(
    job_type: Option<String>,
    status: Option<&str>,
    label: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
) -> Result<JobFilter, AppError> {
    let status =
        status.map(|s| s.parse::<JobStatus>().map_err(|m| AppError::InvalidQuery { field: "status".into(), message: m })).transpose()?;
    let limit = limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::InvalidQuery { field: "limit".into(), message: format!("must be 1 to 500, got {limit}") });
    }
    let offset = offset.unwrap_or(0);
    if offset > 1_000_000_000 {
        return Err(AppError::InvalidQuery { field: "offset".into(), message: "must be at most 1000000000".into() });
    }
    Ok(JobFilter { job_type, status, label, limit: Some(limit as usize), offset: offset as usize })
}

/// A page of jobs; `job_type` fixes the type (a route per type), else the query's `type`.
///
/// # Errors
/// [`AppError::InvalidQuery`] naming the bad parameter.
pub async fn list(jobs: &Arc<dyn JobRepository>, q: JobsQuery, job_type: Option<&str>) -> Result<JobPage, AppError> {
    let job_type = match (job_type, q.job_type) {
        (Some(t), None) => Some(t.to_owned()),
        (Some(_), Some(_)) => {
            return Err(AppError::InvalidQuery { field: "type".into(), message: "this listing has one job type already".into() })
        }
        (None, Some(t)) if ![tradai_executor::BACKTEST, tradai_executor::HYPEROPT, tradai_executor::SYNC].contains(&t.as_str()) => {
            return Err(AppError::InvalidQuery {
                field: "type".into(),
                message: format!("unknown job type '{t}' (expected backtest, hyperopt or sync)"),
            });
        }
        (None, t) => t,
    };
    let filter = filter(job_type, q.status.as_deref(), q.label, q.limit, q.offset)?;
    let repo = Arc::clone(jobs);
    let page = tokio::task::spawn_blocking(move || repo.list(&filter)).await??;
    Ok(JobPage { page: page_info(&page), items: page.items.into_iter().map(view).collect() })
}

/// Where a repository page sits.
#[must_use]
pub fn page_info(p: &tradai_jobs::Page) -> PageInfo {
    PageInfo { total: p.total, limit: p.limit, offset: p.offset }
}

/// Cancels a job: a PENDING one at once, a RUNNING one within a second (the flag reaches the
/// worker through `executor` when it runs here, else through the job record).
///
/// # Errors
/// [`AppError::NotFound`], [`AppError::Conflict`] for a finished job.
pub async fn cancel(jobs: &Arc<dyn JobRepository>, executor: &dyn BacktestJobSubmitter, job: &Job) -> Result<Job, AppError> {
    let repo = Arc::clone(jobs);
    let id = job.id.clone();
    let out = tokio::task::spawn_blocking(move || repo.request_cancel(&id)).await??;
    // A remote executor may hold a PENDING job too (a started workflow, a launched task).
    if out.status == JobStatus::Running || executor.mode().is_remote() {
        executor.cancel(&out.id);
    }
    Ok(out)
}
