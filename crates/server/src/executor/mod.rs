//! How accepted jobs run: the seeds' `BacktestJobSubmitter` protocol, the `ExecutorFactory`
//! that validates a mode's settings at start-up, and the worker pool behind the embedded
//! modes — `local` (the work runs on a pool thread) and `subprocess` (each backtest or hyperopt
//! job runs `tradai backtest` / `tradai hyperopt` as a child process). What a job type does
//! is a [`JobHandler`]: backtests ([`backtest`]), hyperopt runs ([`hyperopt`]) and exchange
//! syncs ([`sync`]); the pool knows nothing about any of them.
//!
//! Durability lives in the job repository, not here: a worker claims a PENDING job of its
//! types (the claim is a compare-and-set), heartbeats while it runs, and records the outcome
//! with a legal transition. A supervisor thread hands jobs back when their worker died (orphan
//! scan at start-up and periodically): back to PENDING while attempts remain, FAILED with the
//! reason after that. Shutdown stops claiming, waits a bounded time, then hands running jobs
//! back. After a job's final status is recorded, the pool's [`JobObserver`]s see it: the hook
//! for logging finished runs elsewhere (experiment tracking).

pub mod backtest;
mod child;
pub mod hyperopt;
pub mod sync;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use backtest::{BacktestJobConfig, BacktestRunner, RunnerFactory, BACKTEST};
pub use hyperopt::{HyperoptArtifacts, HyperoptJobConfig, HyperoptRunner, HyperoptRunnerFactory, HYPEROPT};
pub use sync::{SyncJobConfig, SyncJobRequest, SYNC};
use tradai_app::backtest::BacktestFailure;
use tradai_jobs::{Job, JobError, JobRepository, JobStatus, RepoError};

use crate::results::ResultStore;

/// Where backtests and hyperopt runs run (syncs always run in this process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorMode {
    /// A pool of threads in this process.
    Local,
    /// One `tradai backtest` / `tradai hyperopt` child process per job.
    Subprocess,
}

impl ExecutorMode {
    /// The settings name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Subprocess => "subprocess",
        }
    }
}

impl FromStr for ExecutorMode {
    type Err = ExecutorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "local" => Ok(Self::Local),
            "subprocess" => Ok(Self::Subprocess),
            "sqs" | "ecs" | "stepfunctions" | "step_functions" => Err(ExecutorError::Config(format!(
                "executor mode '{s}' needs the AWS back end, which this build does not have (server.executor: use local or subprocess)"
            ))),
            _ => Err(ExecutorError::Config(format!("unknown executor mode '{s}' (server.executor: expected local or subprocess)"))),
        }
    }
}

/// Why an executor could not be created or a job not handed over.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The mode's settings are missing or wrong; the message names the setting.
    #[error("{0}")]
    Config(String),
    /// A worker thread could not start.
    #[error("cannot start a worker thread")]
    Spawn(#[source] std::io::Error),
}

/// The seeds' protocol: hand a durable job to whatever runs it and get an execution id back.
pub trait BacktestJobSubmitter: Send + Sync {
    /// Hands over a job that is already committed as PENDING; returns an execution id.
    ///
    /// # Errors
    /// [`ExecutorError`] when the executor cannot take jobs; the job stays PENDING and is
    /// picked up later.
    fn submit(&self, job: &Job) -> Result<String, ExecutorError>;

    /// Stops a running job now if it runs here; returns whether it did.
    fn cancel(&self, job_id: &str) -> bool;

    /// The mode.
    fn mode(&self) -> ExecutorMode;

    /// Whether the executor can run jobs (for readiness).
    fn is_healthy(&self) -> bool;
}

/// Validated executor settings.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// Mode.
    pub mode: ExecutorMode,
    /// Worker threads (jobs at once). 0: this process only accepts jobs.
    pub workers: usize,
    /// Candle store location.
    pub store_location: String,
    /// `tradai` binary for the subprocess mode.
    pub backtest_bin: Option<PathBuf>,
    /// Attempts before a job whose worker keeps dying is FAILED.
    pub max_attempts: u32,
    /// Heartbeat age after which a RUNNING job is an orphan.
    pub orphan_after: Duration,
    /// How often running jobs heartbeat.
    pub heartbeat_every: Duration,
    /// How long shutdown waits for running jobs.
    pub shutdown_grace: Duration,
}

/// Runs the jobs of one type. Each worker thread makes its own instance (through the
/// [`HandlerFactory`] of a [`JobKind`]), so a handler may own per-thread resources: a store
/// handle, a runtime.
pub trait JobHandler: Send {
    /// Runs `job` to its end: done, failed, or stopped because `ctx.cancel` was set (then
    /// [`JobOutcome::Cancelled`], within about a second).
    fn run(&mut self, job: &Job, ctx: &JobContext<'_>) -> JobOutcome;
}

/// What a running job may use.
pub struct JobContext<'a> {
    /// Set when the job must stop: cancelled by a client, shutdown, or taken over elsewhere.
    pub cancel: &'a AtomicBool,
    /// Where finished jobs keep their artifacts.
    pub results: &'a ResultStore,
    running: &'a RunningJob,
}

impl JobContext<'_> {
    /// Reports progress: `fraction` in 0..=1 and, optionally, the job type's own progress
    /// document (stored with the next heartbeat).
    pub fn progress(&self, fraction: f64, detail: Option<serde_json::Value>) {
        if fraction.is_finite() {
            self.running.progress.store(fraction.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
        }
        if let Some(d) = detail {
            *self.running.detail.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(d);
        }
    }
}

/// How a job ended.
#[derive(Debug)]
pub enum JobOutcome {
    /// Done; the summary the job record keeps.
    Completed(serde_json::Value),
    /// Failed: why.
    Failed(JobError),
    /// Failed, with a partial result worth keeping (the pairs of a sync that did succeed).
    FailedWithResult(JobError, serde_json::Value),
    /// Stopped because `cancel` was set.
    Cancelled,
}

/// Makes one handler per worker thread.
pub type HandlerFactory = Arc<dyn Fn() -> Result<Box<dyn JobHandler>, String> + Send + Sync>;

/// A job type a pool runs, with the factory of its handlers.
#[derive(Clone)]
pub struct JobKind {
    job_type: &'static str,
    make: HandlerFactory,
}

impl std::fmt::Debug for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobKind").field("job_type", &self.job_type).finish_non_exhaustive()
    }
}

impl JobKind {
    /// Jobs of `job_type`, run by the handlers `make` builds.
    #[must_use]
    pub fn new(job_type: &'static str, make: HandlerFactory) -> Self {
        Self { job_type, make }
    }

    /// The job type.
    #[must_use]
    pub fn job_type(&self) -> &'static str {
        self.job_type
    }
}

/// Sees every job this pool finished, after its final status is durable: the hook where
/// finished runs are logged elsewhere (experiment tracking: one run per backtest, a parent
/// run with a child per epoch for hyperopt). Called on the worker thread that ran the job with
/// the final record (config, result summary, error) and the artifact store (a backtest's
/// `export.json`, a hyperopt run's `epochs.json`); a slow observer delays that worker's next
/// job, never the API. Jobs handed back (shutdown, lost worker) are not finished.
pub trait JobObserver: Send + Sync {
    /// `job` reached COMPLETED, FAILED or CANCELLED.
    fn finished(&self, job: &Job, results: &ResultStore);
}

/// The failure of a job whose config does not parse (written by another version?).
fn invalid_config(e: &serde_json::Error) -> JobOutcome {
    JobOutcome::Failed(job_error("invalid_request", format!("invalid config: {e}"), false))
}

/// The outcome of a failed backtest or hyperopt run.
fn failure_outcome(e: BacktestFailure) -> JobOutcome {
    match e {
        BacktestFailure::Cancelled => JobOutcome::Cancelled,
        e @ BacktestFailure::InvalidField { .. } => JobOutcome::Failed(job_error("invalid_request", e.to_string(), false)),
        e @ BacktestFailure::Store(_) => JobOutcome::Failed(job_error("store_error", chain(&e), true)),
        e @ BacktestFailure::Engine(_) => JobOutcome::Failed(job_error("engine_error", chain(&e), false)),
    }
}

/// Builds the executors, after checking the settings of their mode (the seeds'
/// `ExecutorFactory`).
#[derive(Debug)]
pub struct ExecutorFactory;

impl ExecutorFactory {
    fn check(settings: &ExecutorSettings) -> Result<(), ExecutorError> {
        if settings.max_attempts == 0 {
            return Err(ExecutorError::Config("server.max_attempts must be at least 1".into()));
        }
        if settings.orphan_after < settings.heartbeat_every * 2 {
            return Err(ExecutorError::Config(format!(
                "server.orphan_after_secs ({} s) must be at least twice the heartbeat interval ({} ms)",
                settings.orphan_after.as_secs(),
                settings.heartbeat_every.as_millis()
            )));
        }
        Ok(())
    }

    /// Validates `settings` for their mode and starts the backend's worker pool: backtest
    /// and hyperopt jobs, in this process (`local`) or as child processes (`subprocess`).
    ///
    /// # Errors
    /// [`ExecutorError::Config`] naming the missing or wrong setting.
    pub fn create(
        settings: ExecutorSettings,
        jobs: Arc<dyn JobRepository>,
        results: ResultStore,
        observers: Vec<Arc<dyn JobObserver>>,
    ) -> Result<Arc<WorkerPool>, ExecutorError> {
        Self::check(&settings)?;
        let location = settings.store_location.clone();
        let kinds = match settings.mode {
            ExecutorMode::Local => {
                tradai_store::CandleStore::open(&location)
                    .map_err(|e| ExecutorError::Config(format!("executor 'local' cannot open the candle store (data_dir): {e}")))?;
                let (l1, l2) = (location.clone(), location);
                vec![
                    JobKind::backtest(Arc::new(move || {
                        let store = tradai_store::BlockingCandleStore::open(&l1).map_err(|e| e.to_string())?;
                        Ok(Box::new(backtest::InProcessRunner { store }) as Box<dyn BacktestRunner>)
                    })),
                    JobKind::hyperopt(Arc::new(move || {
                        let store = tradai_store::BlockingCandleStore::open(&l2).map_err(|e| e.to_string())?;
                        Ok(Box::new(hyperopt::InProcessHyperopt { store }) as Box<dyn HyperoptRunner>)
                    })),
                ]
            }
            ExecutorMode::Subprocess => {
                let bin = match &settings.backtest_bin {
                    Some(b) => b.clone(),
                    None => std::env::current_exe().map_err(|e| {
                        ExecutorError::Config(format!("executor 'subprocess' needs server.backtest_bin (cannot find this binary: {e})"))
                    })?,
                };
                check_executable(&bin)?;
                let (b1, l1, b2, l2) = (bin.clone(), location.clone(), bin, location);
                vec![
                    JobKind::backtest(Arc::new(move || {
                        Ok(Box::new(backtest::SubprocessRunner { bin: b1.clone(), store_location: l1.clone() }) as Box<dyn BacktestRunner>)
                    })),
                    JobKind::hyperopt(Arc::new(move || {
                        Ok(Box::new(hyperopt::SubprocessHyperopt { bin: b2.clone(), store_location: l2.clone() })
                            as Box<dyn HyperoptRunner>)
                    })),
                ]
            }
        };
        WorkerPool::start(settings, jobs, results, kinds, observers)
    }

    /// Starts data-collection's worker pool: exchange syncs into the store, always in this
    /// process whatever the mode (a sync waits on the network, not on the CPU).
    ///
    /// # Errors
    /// [`ExecutorError::Config`] naming the wrong setting.
    pub fn create_sync(
        settings: ExecutorSettings,
        jobs: Arc<dyn JobRepository>,
        results: ResultStore,
        endpoints: tradai_exchange::Endpoints,
        observers: Vec<Arc<dyn JobObserver>>,
    ) -> Result<Arc<WorkerPool>, ExecutorError> {
        Self::check(&settings)?;
        tradai_store::CandleStore::open(&settings.store_location)
            .map_err(|e| ExecutorError::Config(format!("sync jobs cannot open the candle store (data_dir): {e}")))?;
        let kind = JobKind::sync(settings.store_location.clone(), endpoints, tradai_exchange::TransportConfig::default());
        WorkerPool::start(settings, jobs, results, vec![kind], observers)
    }
}

fn check_executable(bin: &Path) -> Result<(), ExecutorError> {
    let meta = std::fs::metadata(bin).map_err(|e| {
        ExecutorError::Config(format!(
            "executor 'subprocess' needs server.backtest_bin to be the tradai binary; '{}' cannot be used: {e} (set TRADAI_SERVER__BACKTEST_BIN)",
            bin.display()
        ))
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(ExecutorError::Config(format!(
                "executor 'subprocess' needs server.backtest_bin to be an executable file; '{}' is not",
                bin.display()
            )));
        }
    }
    #[cfg(not(unix))]
    if !meta.is_file() {
        return Err(ExecutorError::Config(format!("server.backtest_bin '{}' is not a file", bin.display())));
    }
    Ok(())
}

/// Why a running job's cancel flag was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum StopReason {
    None = 0,
    /// A client asked.
    User = 1,
    /// This process is shutting down: hand the job back.
    Shutdown = 2,
    /// The job is no longer ours (handed back by an orphan scan elsewhere).
    Lost = 3,
}

/// A job running on this pool.
#[derive(Debug)]
struct RunningJob {
    cancel: AtomicBool,
    reason: AtomicU8,
    progress: AtomicU64,
    /// Progress document not yet written by a heartbeat.
    detail: Mutex<Option<serde_json::Value>>,
}

impl RunningJob {
    fn new() -> Self {
        Self {
            cancel: AtomicBool::new(false),
            reason: AtomicU8::new(StopReason::None as u8),
            progress: AtomicU64::new(0f64.to_bits()),
            detail: Mutex::new(None),
        }
    }

    fn take_detail(&self) -> Option<serde_json::Value> {
        self.detail.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    fn stop(&self, why: StopReason) {
        // The first reason wins: a user cancel during shutdown stays a cancel.
        let _ = self.reason.compare_exchange(StopReason::None as u8, why as u8, Ordering::SeqCst, Ordering::SeqCst);
        self.cancel.store(true, Ordering::SeqCst);
    }

    fn reason(&self) -> StopReason {
        match self.reason.load(Ordering::SeqCst) {
            1 => StopReason::User,
            2 => StopReason::Shutdown,
            3 => StopReason::Lost,
            _ => StopReason::None,
        }
    }

    fn progress(&self) -> f64 {
        f64::from_bits(self.progress.load(Ordering::Relaxed))
    }
}

/// Worker threads that claim and run jobs of the pool's types, plus a supervisor thread for
/// heartbeats, cancellation and the orphan scan.
pub struct WorkerPool {
    settings: ExecutorSettings,
    kinds: Vec<JobKind>,
    observers: Vec<Arc<dyn JobObserver>>,
    jobs: Arc<dyn JobRepository>,
    results: ResultStore,
    instance: String,
    worker_ids: Vec<String>,
    running: Mutex<HashMap<String, Arc<RunningJob>>>,
    wake: (Mutex<u64>, Condvar),
    stopping: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
    supervisor_stop: AtomicBool,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("mode", &self.settings.mode)
            .field("kinds", &self.kinds)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// This host's name, for executor ids (`host:pid:nonce/wN`).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether the process that owns `executor_id` is certainly dead: same host, and its pid is
/// gone or a zombie. Unknown (another host, no /proc) means "maybe alive": staleness decides.
fn executor_is_dead(executor_id: &str, host: &str) -> bool {
    let mut parts = executor_id.split('/').next().unwrap_or_default().split(':');
    let (Some(h), Some(pid)) = (parts.next(), parts.next()) else { return false };
    if h != host || !Path::new("/proc/self").exists() {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else { return false };
    if pid == std::process::id() {
        // Our pid with another nonce: an earlier life of this pid number.
        return !executor_id.starts_with(&format!("{h}:{pid}:{}", own_nonce()));
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // Field 3 is the state; Z (zombie) and X (dead) no longer run anything.
        Ok(stat) => stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()).is_some_and(|s| s == "Z" || s == "X"),
    }
}

fn own_nonce() -> &'static str {
    static NONCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NONCE.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_owned())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl WorkerPool {
    /// Runs the start-up orphan scan and starts the threads: `settings.workers` workers, each
    /// claiming jobs of every type in `kinds`, oldest first.
    ///
    /// # Errors
    /// [`ExecutorError::Spawn`].
    pub fn start(
        settings: ExecutorSettings,
        jobs: Arc<dyn JobRepository>,
        results: ResultStore,
        kinds: Vec<JobKind>,
        observers: Vec<Arc<dyn JobObserver>>,
    ) -> Result<Arc<Self>, ExecutorError> {
        let host = hostname();
        let instance = format!("{host}:{}:{}", std::process::id(), own_nonce());
        let worker_ids = (0..settings.workers).map(|i| format!("{instance}/w{i}")).collect();
        let pool = Arc::new(Self {
            settings,
            kinds,
            observers,
            jobs,
            results,
            instance,
            worker_ids,
            running: Mutex::new(HashMap::new()),
            wake: (Mutex::new(0), Condvar::new()),
            stopping: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            supervisor: Mutex::new(None),
            supervisor_stop: AtomicBool::new(false),
        });
        pool.scan_orphans(&host);
        let name = pool.kinds.first().map_or("job", JobKind::job_type);
        for (i, id) in pool.worker_ids.iter().enumerate() {
            let p = Arc::clone(&pool);
            let id = id.clone();
            let h =
                std::thread::Builder::new().name(format!("{name}-w{i}")).spawn(move || p.worker_loop(&id)).map_err(ExecutorError::Spawn)?;
            pool.threads.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(h);
        }
        let p = Arc::clone(&pool);
        let h =
            std::thread::Builder::new().name("job-supervisor".into()).spawn(move || p.supervise(&host)).map_err(ExecutorError::Spawn)?;
        *pool.supervisor.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(h);
        let types: Vec<&str> = pool.kinds.iter().map(JobKind::job_type).collect();
        tracing::info!(mode = pool.settings.mode.as_str(), workers = pool.settings.workers, job_types = ?types, executor = %pool.instance, "executor started");
        Ok(pool)
    }

    /// Ids of this pool's workers (its live executors).
    #[must_use]
    pub fn worker_ids(&self) -> &[String] {
        &self.worker_ids
    }

    /// Jobs running here now.
    #[must_use]
    pub fn running_count(&self) -> usize {
        self.lock_running().len()
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RunningJob>>> {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn notify(&self) {
        let (m, cv) = &self.wake;
        *m.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        cv.notify_one();
    }

    fn wait_for_work(&self, timeout: Duration) {
        let (m, cv) = &self.wake;
        let g = m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let seen = *g;
        let _ = cv.wait_timeout_while(g, timeout, |n| *n == seen && !self.stopping.load(Ordering::SeqCst));
    }

    fn worker_loop(&self, executor_id: &str) {
        let mut handlers: HashMap<&'static str, Box<dyn JobHandler>> = HashMap::new();
        for k in &self.kinds {
            match (k.make)() {
                Ok(h) => {
                    handlers.insert(k.job_type, h);
                }
                Err(e) => {
                    // Without all its handlers a worker claims nothing: another worker (or a
                    // restart with fixed settings) runs the jobs.
                    tracing::error!(error = %e, job_type = k.job_type, "worker cannot start its job handler");
                    return;
                }
            }
        }
        let types: Vec<&str> = self.kinds.iter().map(JobKind::job_type).collect();
        while !self.stopping.load(Ordering::SeqCst) {
            match self.jobs.claim_next(&types, executor_id) {
                Ok(Some(job)) => match handlers.get_mut(job.job_type.as_str()) {
                    Some(h) => self.run_job(job, h.as_mut()),
                    None => tracing::error!(job_id = %job.id, job_type = %job.job_type, "claimed a job of a type this pool does not run"),
                },
                Ok(None) => self.wait_for_work(Duration::from_secs(1)),
                Err(e) => {
                    tracing::error!(error = %e, "claiming a job failed");
                    self.wait_for_work(Duration::from_secs(1));
                }
            }
        }
    }

    fn run_job(&self, job: Job, handler: &mut dyn JobHandler) {
        let id = job.id.clone();
        let rj = Arc::new(RunningJob::new());
        self.lock_running().insert(id.clone(), Arc::clone(&rj));
        if job.cancel_requested {
            rj.stop(StopReason::User);
        }
        tracing::info!(job_id = %id, job_type = %job.job_type, attempt = job.attempts, "job started");
        let started = Instant::now();
        let ctx = JobContext { cancel: &rj.cancel, results: &self.results, running: &rj };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.run(&job, &ctx)));
        self.lock_running().remove(&id);
        // The last progress document, which no heartbeat may have written yet.
        if let Some(d) = rj.take_detail() {
            let _ = self.jobs.heartbeat(&id, rj.progress(), Some(&d));
        }
        let (to, result, error) = match outcome {
            Ok(JobOutcome::Completed(summary)) => (JobStatus::Completed, Some(summary), None),
            Ok(JobOutcome::Failed(e)) => (JobStatus::Failed, None, Some(e)),
            Ok(JobOutcome::FailedWithResult(e, partial)) => (JobStatus::Failed, Some(partial), Some(e)),
            Ok(JobOutcome::Cancelled) => match rj.reason() {
                StopReason::Shutdown => (JobStatus::Pending, None, None),
                StopReason::Lost => {
                    tracing::warn!(job_id = %id, "job was taken over elsewhere; dropping this run");
                    return;
                }
                StopReason::User | StopReason::None => (JobStatus::Cancelled, None, None),
            },
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                (JobStatus::Failed, None, Some(job_error("internal", format!("the {} job panicked: {what}", job.job_type), false)))
            }
        };
        match self.jobs.transition(&id, to, result, error) {
            Ok(j) => {
                tracing::info!(job_id = %id, job_type = %j.job_type, status = %j.status, secs = started.elapsed().as_secs_f64(), "job finished");
                if j.status.is_terminal() {
                    for o in &self.observers {
                        o.finished(&j, &self.results);
                    }
                }
            }
            Err(e) => tracing::warn!(job_id = %id, error = %e, "could not record the outcome"),
        }
    }

    /// Heartbeats, cancellation from other processes, and the periodic orphan scan.
    fn supervise(&self, host: &str) {
        let tick = Duration::from_millis(200);
        let mut last_beat = Instant::now();
        let mut last_scan = Instant::now();
        let scan_every = (self.settings.orphan_after / 3).max(Duration::from_secs(1));
        while !self.supervisor_stop.load(Ordering::SeqCst) {
            std::thread::sleep(tick);
            let running: Vec<(String, Arc<RunningJob>)> = self.lock_running().iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect();
            let beat = last_beat.elapsed() >= self.settings.heartbeat_every;
            for (id, rj) in &running {
                // A cancel requested through another process (or a restart) arrives here.
                if !rj.cancel.load(Ordering::Relaxed) {
                    if let Ok(j) = self.jobs.get(id) {
                        if j.cancel_requested {
                            rj.stop(StopReason::User);
                        }
                    }
                }
                if beat {
                    match self.jobs.heartbeat(id, rj.progress(), rj.take_detail().as_ref()) {
                        Ok(()) => {}
                        Err(RepoError::IllegalTransition { from, .. }) => {
                            tracing::warn!(job_id = %id, status = %from, "job is no longer running here; stopping it");
                            rj.stop(StopReason::Lost);
                        }
                        Err(e) => tracing::warn!(job_id = %id, error = %e, "heartbeat failed"),
                    }
                }
            }
            if beat {
                last_beat = Instant::now();
            }
            if last_scan.elapsed() >= scan_every {
                self.scan_orphans(host);
                last_scan = Instant::now();
            }
        }
    }

    /// Hands back (or fails, when out of attempts) RUNNING jobs whose worker is gone.
    fn scan_orphans(&self, host: &str) {
        let stale_before = now_ms() - i64::try_from(self.settings.orphan_after.as_millis()).unwrap_or(i64::MAX);
        let candidates = match self.jobs.find_orphans(stale_before, &self.worker_ids) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "orphan scan failed");
                return;
            }
        };
        for job in candidates {
            let exec = job.executor_id.clone().unwrap_or_default();
            if self.worker_ids.contains(&exec) {
                // Ours and alive; a missed heartbeat here is a slow disk, not a dead worker.
                continue;
            }
            let stale = job.heartbeat_at.unwrap_or(0) < stale_before;
            if !stale && !executor_is_dead(&exec, host) {
                continue;
            }
            let max = self.settings.max_attempts;
            let r = if job.attempts >= max {
                let msg = format!(
                    "the worker running this job stopped without finishing it (executor {exec}) on attempt {} of {max}; giving up",
                    job.attempts
                );
                tracing::warn!(job_id = %job.id, "{msg}");
                self.jobs.transition(&job.id, JobStatus::Failed, None, Some(job_error("worker_lost", msg, true)))
            } else {
                tracing::warn!(job_id = %job.id, executor = %exec, attempt = job.attempts, "worker lost; handing the job back");
                self.jobs.transition(&job.id, JobStatus::Pending, None, None)
            };
            match r {
                Ok(_) => self.notify(),
                Err(e) => tracing::debug!(job_id = %job.id, error = %e, "orphan already handled"),
            }
        }
    }

    /// Stops taking jobs, waits up to the grace period for running ones, then hands the rest
    /// back as PENDING. Returns how many were handed back.
    pub fn shutdown(&self) -> usize {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.1.notify_all();
        let deadline = Instant::now() + self.settings.shutdown_grace;
        while self.running_count() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let left: Vec<Arc<RunningJob>> = self.lock_running().values().cloned().collect();
        for rj in &left {
            rj.stop(StopReason::Shutdown);
        }
        if !left.is_empty() {
            tracing::info!(jobs = left.len(), "handing running jobs back for the next start");
        }
        let threads: Vec<JoinHandle<()>> = std::mem::take(&mut *self.threads.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for h in threads {
            let _ = h.join();
        }
        self.supervisor_stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.supervisor.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            let _ = h.join();
        }
        left.len()
    }
}

fn job_error(code: &str, message: String, retryable: bool) -> JobError {
    JobError { code: code.into(), message, retryable }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl BacktestJobSubmitter for WorkerPool {
    fn submit(&self, job: &Job) -> Result<String, ExecutorError> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(ExecutorError::Config("the executor is shutting down".into()));
        }
        self.notify();
        Ok(format!("{}:{}", self.settings.mode.as_str(), job.id))
    }

    fn cancel(&self, job_id: &str) -> bool {
        self.lock_running().get(job_id).map(|rj| rj.stop(StopReason::User)).is_some()
    }

    fn mode(&self) -> ExecutorMode {
        self.settings.mode
    }

    fn is_healthy(&self) -> bool {
        !self.stopping.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_aws_modes_say_why_not() {
        assert_eq!("local".parse::<ExecutorMode>().unwrap(), ExecutorMode::Local);
        assert_eq!("Subprocess".parse::<ExecutorMode>().unwrap(), ExecutorMode::Subprocess);
        let e = "sqs".parse::<ExecutorMode>().unwrap_err().to_string();
        assert!(e.contains("AWS") && e.contains("server.executor"), "{e}");
        let e = "docker".parse::<ExecutorMode>().unwrap_err().to_string();
        assert!(e.contains("'docker'"), "{e}");
    }

    #[test]
    fn dead_executors_are_recognised_only_on_this_host() {
        let host = hostname();
        assert!(executor_is_dead(&format!("{host}:{}:abcdef01/w0", u32::MAX - 1), &host));
        assert!(!executor_is_dead(&format!("{host}:1:abcdef01/w0"), &host), "pid 1 is alive");
        assert!(!executor_is_dead("other-host:1234:abcdef01/w0", &host));
        assert!(!executor_is_dead(&format!("{host}:{}:{}/w0", std::process::id(), own_nonce()), &host));
    }
}
