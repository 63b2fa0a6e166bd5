//! How accepted backtest jobs run: the seeds' `BacktestJobSubmitter` protocol, the
//! `ExecutorFactory` that validates a mode's settings at start-up, and the worker pool behind
//! the embedded modes — `local` (the backtest runs on a pool thread) and `subprocess` (each job
//! runs `tradai backtest --export` as a child process).
//!
//! Durability lives in the job repository, not here: a worker claims a PENDING job (the claim
//! is a compare-and-set), heartbeats while it runs, and records the outcome with a legal
//! transition. A supervisor thread hands jobs back when their worker died (orphan scan at
//! start-up and periodically): back to PENDING while attempts remain, FAILED with the reason
//! after that. Shutdown stops claiming, waits a bounded time, then hands running jobs back.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tradai_app::backtest::{BacktestFailure, BacktestOutcome, BacktestRequest};
use tradai_jobs::{Job, JobError, JobRepository, JobStatus, RepoError};

use crate::results::ResultStore;

/// Job type of backtests in the repository.
pub const BACKTEST: &str = "backtest";

/// What a backtest job stores as its config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BacktestJobConfig {
    /// The validated request the use case runs.
    pub request: BacktestRequest,
    /// Experiment the run belongs to.
    #[serde(default)]
    pub experiment_name: Option<String>,
}

/// Where backtests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorMode {
    /// A pool of threads in this process.
    Local,
    /// One `tradai backtest` child process per job.
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

/// Runs one backtest. The in-process runner calls the use case; the subprocess runner runs
/// the CLI. Both honour `cancel` within a second.
pub trait BacktestRunner: Send {
    /// Runs `req`.
    ///
    /// # Errors
    /// [`BacktestFailure`].
    fn run(
        &mut self,
        req: &BacktestRequest,
        progress: &(dyn Fn(f64) + Sync),
        cancel: &AtomicBool,
    ) -> Result<BacktestOutcome, BacktestFailure>;
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

/// Builds the executor of a mode, after checking that mode's settings (the seeds'
/// `ExecutorFactory`).
#[derive(Debug)]
pub struct ExecutorFactory;

impl ExecutorFactory {
    /// Validates `settings` for their mode and starts the worker pool.
    ///
    /// # Errors
    /// [`ExecutorError::Config`] naming the missing or wrong setting.
    pub fn create(
        settings: ExecutorSettings,
        jobs: Arc<dyn JobRepository>,
        results: ResultStore,
    ) -> Result<Arc<WorkerPool>, ExecutorError> {
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
        let runner: RunnerFactory = match settings.mode {
            ExecutorMode::Local => {
                let location = settings.store_location.clone();
                tradai_store::CandleStore::open(&location)
                    .map_err(|e| ExecutorError::Config(format!("executor 'local' cannot open the candle store (data_dir): {e}")))?;
                Arc::new(move || {
                    let store = tradai_store::BlockingCandleStore::open(&location).map_err(|e| e.to_string())?;
                    Ok(Box::new(InProcessRunner { store }) as Box<dyn BacktestRunner>)
                })
            }
            ExecutorMode::Subprocess => {
                let bin = match &settings.backtest_bin {
                    Some(b) => b.clone(),
                    None => std::env::current_exe().map_err(|e| {
                        ExecutorError::Config(format!("executor 'subprocess' needs server.backtest_bin (cannot find this binary: {e})"))
                    })?,
                };
                check_executable(&bin)?;
                let location = settings.store_location.clone();
                Arc::new(move || {
                    Ok(Box::new(SubprocessRunner { bin: bin.clone(), store_location: location.clone() }) as Box<dyn BacktestRunner>)
                })
            }
        };
        WorkerPool::start(settings, jobs, results, runner)
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

/// Makes one runner per worker thread (each owns its store handle or child process).
pub type RunnerFactory = Arc<dyn Fn() -> Result<Box<dyn BacktestRunner>, String> + Send + Sync>;

/// Runs the use case in this process.
struct InProcessRunner {
    store: tradai_store::BlockingCandleStore,
}

impl BacktestRunner for InProcessRunner {
    fn run(
        &mut self,
        req: &BacktestRequest,
        progress: &(dyn Fn(f64) + Sync),
        cancel: &AtomicBool,
    ) -> Result<BacktestOutcome, BacktestFailure> {
        tradai_app::backtest::run(&self.store, req, progress, cancel)
    }
}

/// Runs `tradai backtest ... --export <tmp>` and reads the export back.
struct SubprocessRunner {
    bin: PathBuf,
    store_location: String,
}

impl SubprocessRunner {
    fn args(&self, req: &BacktestRequest, export: &Path, plot: &Path) -> Vec<String> {
        let mut a = vec![
            "--data-dir".to_owned(),
            self.store_location.clone(),
            "--quiet".to_owned(),
            "backtest".to_owned(),
            "--strategy".to_owned(),
            req.strategy.clone(),
            "--exchange".to_owned(),
            req.exchange.clone(),
            "--pairs".to_owned(),
            req.pairs.join(","),
            "--stake-amount".to_owned(),
            match &req.stake_amount {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            },
            "--wallet".to_owned(),
            req.dry_run_wallet.to_string(),
            "--max-open-trades".to_owned(),
            req.max_open_trades.to_string(),
            "--fee".to_owned(),
            req.fee.to_string(),
            "--trading-mode".to_owned(),
            req.trading_mode.clone(),
            "--export".to_owned(),
            export.display().to_string(),
            "--plot".to_owned(),
            plot.display().to_string(),
        ];
        if let Some(tf) = &req.timeframe {
            a.extend(["--timeframe".to_owned(), tf.clone()]);
        }
        if let Some(tr) = &req.timerange {
            a.extend(["--timerange".to_owned(), tr.clone()]);
        }
        if let Some(l) = req.leverage {
            a.extend(["--leverage".to_owned(), l.to_string()]);
        }
        a
    }
}

impl BacktestRunner for SubprocessRunner {
    fn run(
        &mut self,
        req: &BacktestRequest,
        progress: &(dyn Fn(f64) + Sync),
        cancel: &AtomicBool,
    ) -> Result<BacktestOutcome, BacktestFailure> {
        let engine = |m: String| BacktestFailure::Engine(m.into());
        let tmp = tempfile::tempdir().map_err(|e| BacktestFailure::Store(Box::new(e)))?;
        let export = tmp.path().join("export.json");
        let plot = tmp.path().join("equity.svg");
        let mut child = Command::new(&self.bin)
            .args(self.args(req, &export, &plot))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| engine(format!("cannot start '{}': {e}", self.bin.display())))?;
        // Drain both pipes on their own threads so a chatty child never blocks on a full pipe.
        let out = child.stdout.take().map(|mut s| std::thread::spawn(move || read_all(&mut s)));
        let err = child.stderr.take().map(|mut s| std::thread::spawn(move || read_all(&mut s)));
        progress(0.0);
        let status = loop {
            if cancel.load(Ordering::Relaxed) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(BacktestFailure::Cancelled);
            }
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(engine(format!("waiting for the backtest process failed: {e}"))),
            }
        };
        let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
        let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
        if !status.success() {
            let line = stderr.lines().rev().find(|l| l.starts_with("error:")).or_else(|| stderr.lines().last()).unwrap_or("no message");
            let msg = line.trim_start_matches("error:").trim().to_owned();
            return Err(engine(format!("backtest process exited with {status}: {msg}")));
        }
        let text = std::fs::read_to_string(&export).map_err(|e| engine(format!("the backtest process wrote no export: {e}")))?;
        let export: serde_json::Value = serde_json::from_str(&text).map_err(|e| engine(format!("the export is not JSON: {e}")))?;
        let equity_svg = std::fs::read_to_string(&plot).unwrap_or_default();
        progress(1.0);
        Ok(BacktestOutcome { candles: export["meta"]["candles"].as_u64().unwrap_or(0) as usize, export, report_text: stdout, equity_svg })
    }
}

fn read_all(r: &mut impl std::io::Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
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
}

impl RunningJob {
    fn new() -> Self {
        Self { cancel: AtomicBool::new(false), reason: AtomicU8::new(StopReason::None as u8), progress: AtomicU64::new(0f64.to_bits()) }
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

/// Worker threads that claim and run backtest jobs, plus a supervisor thread for heartbeats,
/// cancellation and the orphan scan.
pub struct WorkerPool {
    settings: ExecutorSettings,
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
        f.debug_struct("WorkerPool").field("mode", &self.settings.mode).field("instance", &self.instance).finish_non_exhaustive()
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
    /// Runs the start-up orphan scan and starts the threads.
    ///
    /// # Errors
    /// [`ExecutorError::Spawn`].
    pub fn start(
        settings: ExecutorSettings,
        jobs: Arc<dyn JobRepository>,
        results: ResultStore,
        runner: RunnerFactory,
    ) -> Result<Arc<Self>, ExecutorError> {
        let host = hostname();
        let instance = format!("{host}:{}:{}", std::process::id(), own_nonce());
        let worker_ids = (0..settings.workers).map(|i| format!("{instance}/w{i}")).collect();
        let pool = Arc::new(Self {
            settings,
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
        for (i, id) in pool.worker_ids.iter().enumerate() {
            let p = Arc::clone(&pool);
            let id = id.clone();
            let runner = Arc::clone(&runner);
            let h = std::thread::Builder::new()
                .name(format!("backtest-w{i}"))
                .spawn(move || p.worker_loop(&id, &runner))
                .map_err(ExecutorError::Spawn)?;
            pool.threads.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(h);
        }
        let p = Arc::clone(&pool);
        let h =
            std::thread::Builder::new().name("job-supervisor".into()).spawn(move || p.supervise(&host)).map_err(ExecutorError::Spawn)?;
        *pool.supervisor.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(h);
        tracing::info!(mode = pool.settings.mode.as_str(), workers = pool.settings.workers, executor = %pool.instance, "executor started");
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

    fn worker_loop(&self, executor_id: &str, runner: &RunnerFactory) {
        let mut runner = match runner() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "worker cannot start its backtest runner");
                return;
            }
        };
        while !self.stopping.load(Ordering::SeqCst) {
            match self.jobs.claim_next(BACKTEST, executor_id) {
                Ok(Some(job)) => self.run_job(job, runner.as_mut()),
                Ok(None) => self.wait_for_work(Duration::from_secs(1)),
                Err(e) => {
                    tracing::error!(error = %e, "claiming a job failed");
                    self.wait_for_work(Duration::from_secs(1));
                }
            }
        }
    }

    fn run_job(&self, job: Job, runner: &mut dyn BacktestRunner) {
        let id = job.id.clone();
        let rj = Arc::new(RunningJob::new());
        self.lock_running().insert(id.clone(), Arc::clone(&rj));
        if job.cancel_requested {
            rj.stop(StopReason::User);
        }
        tracing::info!(job_id = %id, attempt = job.attempts, "backtest started");
        let started = Instant::now();
        let outcome = match serde_json::from_value::<BacktestJobConfig>(job.config.clone()) {
            Err(e) => Ok(Err(BacktestFailure::InvalidField { field: "config", message: e.to_string() })),
            Ok(cfg) => {
                let progress = |p: f64| {
                    if p.is_finite() {
                        rj.progress.store(p.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
                    }
                };
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.run(&cfg.request, &progress, &rj.cancel)))
            }
        };
        self.lock_running().remove(&id);
        let (to, result, error) = match outcome {
            Ok(Ok(out)) => match self.results.save(&id, &out) {
                Ok(summary) => (JobStatus::Completed, Some(summary), None),
                Err(e) => (JobStatus::Failed, None, Some(job_error("result_store", format!("cannot store the result: {e}"), true))),
            },
            Ok(Err(BacktestFailure::Cancelled)) => match rj.reason() {
                StopReason::Shutdown => (JobStatus::Pending, None, None),
                StopReason::Lost => {
                    tracing::warn!(job_id = %id, "job was taken over elsewhere; dropping this run");
                    return;
                }
                StopReason::User | StopReason::None => (JobStatus::Cancelled, None, None),
            },
            Ok(Err(e @ BacktestFailure::InvalidField { .. })) => {
                (JobStatus::Failed, None, Some(job_error("invalid_request", e.to_string(), false)))
            }
            Ok(Err(e @ BacktestFailure::Store(_))) => (JobStatus::Failed, None, Some(job_error("store_error", chain(&e), true))),
            Ok(Err(e @ BacktestFailure::Engine(_))) => (JobStatus::Failed, None, Some(job_error("engine_error", chain(&e), false))),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                (JobStatus::Failed, None, Some(job_error("internal", format!("the backtest panicked: {what}"), false)))
            }
        };
        match self.jobs.transition(&id, to, result, error) {
            Ok(j) => tracing::info!(job_id = %id, status = %j.status, secs = started.elapsed().as_secs_f64(), "backtest finished"),
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
                    match self.jobs.heartbeat(id, rj.progress()) {
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
