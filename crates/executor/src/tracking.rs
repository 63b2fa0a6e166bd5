//! Experiment tracking of finished jobs: every backtest and hyperopt job becomes a tracked run
//! (params, every summary metric, artifacts, tags), through a durable outbox so a tracking
//! server that is down never fails a job or loses its run.
//!
//! The worker pools call [`JobTracking`] (a [`JobObserver`]) after a job's final status is
//! recorded; it commits the run record to the outbox and wakes the one sender task. At start-up
//! [`JobTracking::reconcile`] enqueues finished jobs the outbox has never seen (a crash between
//! the status write and the enqueue), so the window in which a run could be lost is closed.
//! Record ids are `job:<job id>` (hyperopt epochs `job:<job id>/epoch/<n>`), so replays are
//! idempotent end to end.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tradai_jobs::{Job, JobFilter, JobRepository, JobStatus};
use tradai_tracking::{Artifact, Metric, Outbox, OutboxEntry, OutboxSender, RunRecord, RunStatus, Tracking, TrackingUri};

use crate::backtest::{BacktestJobConfig, BACKTEST};
use crate::hyperopt::{HyperoptJobConfig, BEST_CONFIG_JSON, EPOCHS_JSON, HEATMAP_SVG, HYPEROPT, REPORT_JSON};
use crate::observer::JobObserver;
use crate::results::ResultStore;

/// Tag: the job a run came from.
pub const TAG_JOB_ID: &str = "tradai.job_id";
/// Tag: the TradAI version that made the run.
pub const TAG_VERSION: &str = "tradai.version";
/// Tag: the job type (`backtest`, `hyperopt`).
pub const TAG_JOB_TYPE: &str = "tradai.job_type";
/// At most this many hyperopt epochs become child runs (the best ones, plus every epoch that
/// improved on all before it); every epoch is in the parent's `epochs.json` anyway.
pub const MAX_CHILD_RUNS: usize = 100;

/// The tracker, its outbox and the outbox's sender.
pub struct JobTracking {
    /// The tracker and registry.
    pub tracking: Tracking,
    /// Runs waiting for (or delivered to) the tracker.
    pub outbox: Arc<Outbox>,
    sender: Mutex<OutboxSender>,
    mlflow_ui: Option<String>,
}

impl std::fmt::Debug for JobTracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobTracking").field("tracking", &self.tracking).finish_non_exhaustive()
    }
}

impl JobTracking {
    /// Opens the outbox at `outbox_path` and starts its sender on `rt`, flushing every `every`
    /// and whenever a job finishes.
    ///
    /// # Errors
    /// The outbox cannot be opened.
    pub fn start(
        rt: &tokio::runtime::Handle,
        tracking: Tracking,
        outbox_path: &Path,
        every: Duration,
    ) -> Result<Arc<Self>, tradai_tracking::TrackingError> {
        let outbox = Arc::new(Outbox::open(outbox_path)?);
        let uri = tracking.tracker.uri();
        let mlflow_ui = match TrackingUri::parse(&uri) {
            Ok(TrackingUri::Mlflow(u)) => Some(u.trim_end_matches('/').to_owned()),
            _ => None,
        };
        let sender = OutboxSender::spawn_on(rt, Arc::clone(&outbox), Arc::clone(&tracking.tracker), every);
        Ok(Arc::new(Self { tracking, outbox, sender: Mutex::new(sender), mlflow_ui }))
    }

    /// Asks the sender to flush now.
    pub fn notify(&self) {
        self.sender.lock().unwrap_or_else(std::sync::PoisonError::into_inner).notify();
    }

    /// Stops the sender (records not sent stay in the outbox).
    pub fn stop(&self) {
        self.sender.lock().unwrap_or_else(std::sync::PoisonError::into_inner).stop();
    }

    /// The outbox entry of job `job_id`'s run (where it stands: pending, or delivered with its
    /// run id); `None` when the job logs no run (yet).
    #[must_use]
    pub fn run_of(&self, job_id: &str) -> Option<OutboxEntry> {
        self.outbox.entry(&record_id(job_id)).ok()?
    }

    /// Where to look at a delivered run: the MLflow UI page, or this API's
    /// `/api/v1/runs/{id}`; `None` while the run is not delivered.
    #[must_use]
    pub fn run_url(&self, e: &OutboxEntry) -> Option<String> {
        e.run_id.as_ref().map(|run| match (&self.mlflow_ui, &e.experiment_id) {
            (Some(ui), Some(exp)) => format!("{ui}/#/experiments/{exp}/runs/{run}"),
            _ => format!("/api/v1/runs/{run}"),
        })
    }

    /// Enqueues the run records of a finished job. Returns how many records were new.
    ///
    /// # Errors
    /// The outbox cannot be written.
    pub fn enqueue_job(&self, job: &Job, results: &ResultStore) -> Result<usize, tradai_tracking::TrackingError> {
        let mut new = 0;
        match job.job_type.as_str() {
            BACKTEST => {
                if let Some(r) = backtest_record(job, results) {
                    new += usize::from(self.outbox.enqueue(&r)?);
                }
            }
            HYPEROPT => {
                if let Some((parent, children)) = hyperopt_records(job, results) {
                    new += usize::from(self.outbox.enqueue(&parent)?);
                    for c in &children {
                        new += usize::from(self.outbox.enqueue_child(c, &parent.record_id)?);
                    }
                }
            }
            _ => {}
        }
        Ok(new)
    }

    /// Enqueues finished backtest and hyperopt jobs (the newest `limit` of each status and type)
    /// that the outbox has never seen: closes the window between a job's final status and its
    /// enqueue should the process have died in it. Returns how many were enqueued.
    pub fn reconcile(&self, jobs: &dyn JobRepository, results: &ResultStore, limit: usize) -> usize {
        let mut added = 0;
        for job_type in [BACKTEST, HYPEROPT] {
            for status in [JobStatus::Completed, JobStatus::Failed, JobStatus::Cancelled] {
                let filter =
                    JobFilter { job_type: Some(job_type.into()), status: Some(status), limit: Some(limit), ..JobFilter::default() };
                let Ok(page) = jobs.list(&filter) else { continue };
                for job in page.items {
                    if matches!(self.outbox.entry(&record_id(&job.id)), Ok(Some(_))) {
                        continue;
                    }
                    match self.enqueue_job(&job, results) {
                        Ok(n) => added += usize::from(n > 0),
                        Err(e) => tracing::error!(job = %job.id, error = %e, "cannot enqueue the run of a finished job"),
                    }
                }
            }
        }
        if added > 0 {
            tracing::info!(jobs = added, "finished jobs without a tracked run enqueued");
            self.notify();
        }
        added
    }
}

impl JobObserver for JobTracking {
    fn finished(&self, job: &Job, results: &ResultStore) {
        match self.enqueue_job(job, results) {
            Ok(_) => self.notify(),
            // The job itself is done; reconcile at the next start enqueues it again.
            Err(e) => tracing::error!(job = %job.id, error = %e, "cannot enqueue the tracked run of a job"),
        }
    }
}

/// The outbox key of a job's run.
#[must_use]
pub fn record_id(job_id: &str) -> String {
    format!("job:{job_id}")
}

fn status_of(job: &Job) -> RunStatus {
    match job.status {
        JobStatus::Completed => RunStatus::Finished,
        JobStatus::Cancelled => RunStatus::Killed,
        _ => RunStatus::Failed,
    }
}

fn base_record(job: &Job, experiment: String) -> RunRecord {
    let mut r = RunRecord::new(record_id(&job.id), experiment);
    r.run_name = Some(format!("{}-{}", job.job_type, &job.id[..job.id.len().min(8)]));
    r.start_time = job.started_at.or(Some(job.created_at));
    r.end_time = job.finished_at;
    r.status = status_of(job);
    r.tags.insert(TAG_JOB_ID.into(), job.id.clone());
    r.tags.insert(TAG_JOB_TYPE.into(), job.job_type.clone());
    r.tags.insert(TAG_VERSION.into(), env!("CARGO_PKG_VERSION").into());
    if let Some(e) = &job.error {
        r.tags.insert("tradai.error".into(), e.message.chars().take(4000).collect());
    }
    r
}

fn request_params(r: &mut RunRecord, spec: &tradai_app::RunSpec) {
    let p = &mut r.params;
    p.insert("strategy".into(), spec.strategy.clone());
    p.insert("exchange".into(), spec.exchange.to_string());
    p.insert("pairs".into(), spec.pairs.iter().map(ToString::to_string).collect::<Vec<_>>().join(","));
    p.insert("timeframe".into(), spec.timeframe.map(|t| t.to_string()).unwrap_or_default());
    p.insert("timerange".into(), spec.timerange_text.clone());
    p.insert("stake_amount".into(), spec.stake_amount.to_string());
    p.insert("dry_run_wallet".into(), spec.dry_run_wallet.to_string());
    p.insert("max_open_trades".into(), spec.max_open_trades.to_string());
    p.insert("fee".into(), spec.fee.to_string());
    p.insert("trading_mode".into(), spec.trading_mode.to_string());
    if let Some(l) = spec.leverage {
        p.insert("leverage".into(), l.to_string());
    }
    for (k, v) in &spec.params {
        p.insert(format!("param.{k}"), v.to_string());
    }
}

/// What a finished backtest job keeps as its result (`ResultStore::save`): the summary and the
/// engine's balance series (thinned), typed.
#[derive(serde::Deserialize)]
struct BacktestJobResult {
    #[serde(default)]
    summary: Option<Value>,
    #[serde(default)]
    balance_curve: Vec<(i64, f64)>,
}

/// Every number (and boolean, as 0/1) at the top of a JSON object, as metrics `prefix<key>`.
fn numeric_metrics(out: &mut Vec<Metric>, obj: Option<&Value>, prefix: &str, at: i64) {
    let Some(map) = obj.and_then(Value::as_object) else { return };
    for (k, v) in map {
        let value = match v {
            Value::Number(n) => n.as_f64(),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        };
        if let Some(value) = value {
            out.push(Metric { key: format!("{prefix}{k}"), value, timestamp: at, step: 0 });
        }
    }
}

fn artifact(results: &ResultStore, job_id: &str, name: &str) -> Option<Artifact> {
    results.read_text(job_id, name).ok().map(|t| Artifact { path: name.to_owned(), content: t.into_bytes() })
}

/// The run of a backtest job: request params, every summary metric, the wallet balance over
/// the run as the engine computed it (the `balance` metric, step = point number, timestamp =
/// candle time), the export, report and equity plot.
fn backtest_record(job: &Job, results: &ResultStore) -> Option<RunRecord> {
    let cfg: BacktestJobConfig = serde_json::from_value(job.config.clone()).ok()?;
    let experiment = cfg.experiment_name.clone().unwrap_or_else(|| format!("backtests/{}", cfg.request.strategy));
    let mut r = base_record(job, experiment);
    request_params(&mut r, &cfg.request);
    let at = job.finished_at.unwrap_or(job.updated_at);
    if job.status == JobStatus::Completed {
        let result: Option<BacktestJobResult> = job.result.clone().and_then(|v| serde_json::from_value(v).ok());
        if let Some(result) = result {
            numeric_metrics(&mut r.metrics, result.summary.as_ref(), "", at);
            for (i, (ts, balance)) in result.balance_curve.iter().enumerate() {
                r.metrics.push(Metric { key: "balance".into(), value: *balance, timestamp: *ts, step: i64::try_from(i + 1).unwrap_or(0) });
            }
        }
        for name in ["export.json", "report.txt", "equity.svg"] {
            if let Some(a) = artifact(results, &job.id, name) {
                r.artifacts.push(a);
            }
        }
    }
    Some(r)
}

/// The parent run of a hyperopt job (request, best loss, in-sample and out-of-sample metrics of
/// the best parameters, the report, best config, epochs and heat map) and one child run per
/// logged epoch (its parameters, loss and metrics).
fn hyperopt_records(job: &Job, results: &ResultStore) -> Option<(RunRecord, Vec<RunRecord>)> {
    let cfg: HyperoptJobConfig = serde_json::from_value(job.config.clone()).ok()?;
    let req = &cfg.request;
    let experiment = cfg.experiment_name.clone().unwrap_or_else(|| format!("hyperopt/{}", req.backtest.strategy));
    let mut parent = base_record(job, experiment.clone());
    request_params(&mut parent, &req.backtest);
    for (k, v) in [
        ("epochs", req.epochs.to_string()),
        ("spaces", req.spaces.join(",")),
        ("loss", req.loss.clone()),
        ("sampler", req.sampler.clone()),
        ("seed", req.seed.to_string()),
    ] {
        parent.params.insert(k.into(), v);
    }
    if let Some(o) = &req.oos_timerange {
        parent.params.insert("oos_timerange".into(), o.clone());
    }
    if let Some(s) = req.split {
        parent.params.insert("split".into(), s.to_string());
    }
    let at = job.finished_at.unwrap_or(job.updated_at);
    let mut children = Vec::new();
    if job.status == JobStatus::Completed {
        let result = job.result.as_ref();
        if let Some(l) = result.and_then(|x| x.get("best_loss")).and_then(Value::as_f64) {
            parent.metrics.push(Metric { key: "best_loss".into(), value: l, timestamp: at, step: 0 });
        }
        numeric_metrics(&mut parent.metrics, result.and_then(|x| x.get("in_sample")), "", at);
        numeric_metrics(&mut parent.metrics, result.and_then(|x| x.get("out_of_sample")), "oos_", at);
        for (k, v) in result.and_then(|x| x.get("best_params")).and_then(Value::as_object).into_iter().flatten() {
            parent.params.insert(format!("best.{k}"), v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        }
        for name in [REPORT_JSON, BEST_CONFIG_JSON, EPOCHS_JSON, HEATMAP_SVG] {
            if let Some(a) = artifact(results, &job.id, name) {
                parent.artifacts.push(a);
            }
        }
        let epochs: Value = results.read_text(&job.id, EPOCHS_JSON).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        // `tradai hyperopt --export`: `{"study": {"epochs": [...]}}` (a bare list also reads).
        let list = epochs
            .pointer("/study/epochs")
            .or_else(|| epochs.get("epochs"))
            .and_then(Value::as_array)
            .or_else(|| epochs.as_array())
            .cloned()
            .unwrap_or_default();
        let loss = |e: &Value| e.get("loss").and_then(Value::as_f64).unwrap_or(f64::INFINITY);
        let mut order: Vec<usize> = (0..list.len()).collect();
        order.sort_by(|&a, &b| loss(&list[a]).total_cmp(&loss(&list[b])).then(a.cmp(&b)));
        let mut keep: Vec<usize> = order.into_iter().take(MAX_CHILD_RUNS).collect();
        keep.extend((0..list.len()).filter(|&i| list[i].get("is_best").and_then(Value::as_bool) == Some(true)));
        keep.sort_unstable();
        keep.dedup();
        parent.tags.insert("tradai.child_runs".into(), keep.len().to_string());
        for i in keep {
            let e = &list[i];
            let index = e.get("index").and_then(Value::as_u64).unwrap_or(i as u64);
            let mut c = RunRecord::new(format!("{}/epoch/{index}", parent.record_id), experiment.clone());
            c.run_name = Some(format!("epoch-{index}"));
            c.start_time = parent.start_time;
            c.end_time = parent.end_time;
            c.tags.insert(TAG_JOB_ID.into(), job.id.clone());
            c.tags.insert("tradai.epoch".into(), index.to_string());
            for (k, v) in e.get("params").and_then(Value::as_object).into_iter().flatten() {
                c.params.insert(k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned));
            }
            c.metrics.push(Metric { key: "loss".into(), value: loss(e), timestamp: at, step: 0 });
            numeric_metrics(&mut c.metrics, e.get("metrics"), "", at);
            children.push(c);
        }
    }
    Some((parent, children))
}
