//! The worker pool behind the embedded modes: worker threads that claim jobs of the pool's
//! types and run each through its kind's handler, and a supervisor thread for heartbeats,
//! cancellation from other processes and the orphan scan.
//!
//! Durability lives in the job repository, not here: a worker claims a PENDING job of its
//! types (the claim is a compare-and-set), heartbeats while it runs, and records the outcome
//! with a legal transition. The supervisor hands jobs back when their worker died (orphan
//! scan at start-up and periodically): back to PENDING while attempts remain, FAILED with the
//! reason after that. Shutdown stops claiming, waits a bounded time, then hands running jobs
//! back. After a job's final status is recorded, the pool's observers see it.
//!
//! A pool fed by a [`JobQueue`] (`tradai worker`) learns which job to run from a message
//! instead of taking the oldest PENDING one: it claims that job by id, runs it, and settles
//! the message by what happened (see [`WorkerPool::run_delivery`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tradai_jobs::{Job, JobRepository, JobStatus, RepoError};

use crate::error::ExecutorError;
use crate::handler::{chain, job_error, JobContext, JobHandler, JobKind, JobOutcome};
use crate::mode::ExecutorMode;
use crate::observer::JobObserver;
use crate::queue::{Delivery, JobQueue, Settle};
use crate::results::ResultStore;
use crate::settings::ExecutorSettings;
use crate::submitter::BacktestJobSubmitter;

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
pub(crate) struct RunningJob {
    cancel: AtomicBool,
    reason: AtomicU8,
    pub(crate) progress: AtomicU64,
    /// Progress document not yet written by a heartbeat.
    pub(crate) detail: Mutex<Option<serde_json::Value>>,
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
    /// Where the jobs to run come from when not from the repository's oldest PENDING.
    queue: Option<Arc<dyn JobQueue>>,
}

/// How a run of a claimed job ended, for whoever settles its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ran {
    /// The final status is recorded.
    Finished,
    /// Handed back for the next start (shutdown), or taken over elsewhere.
    NotFinished,
    /// The final status could not be recorded; the job stays RUNNING until the orphan scan.
    Unrecorded,
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

/// The wait before attempt `attempts + 1` of a job whose worker died: `base` doubled per
/// attempt already made, at most five minutes, so a job that crashes its worker every time
/// does not crash the next one at once.
fn retry_backoff(base: Duration, attempts: u32) -> Duration {
    let doubled = base.saturating_mul(1u32 << attempts.saturating_sub(1).min(16));
    doubled.min(Duration::from_secs(300))
}

/// The claim loop's memory of its last failure: each distinct failure is logged once with its
/// whole cause chain (a damaged database logs one line, not three a second), and the wait
/// before the next try doubles from 1 s to 60 s while the failures go on.
#[derive(Debug, Default)]
struct ClaimFailures {
    last: Option<String>,
    streak: u32,
}

impl ClaimFailures {
    /// Records a failure; returns how long to wait before the next claim.
    fn failed(&mut self, e: &tradai_jobs::RepoError, executor_id: &str) -> Duration {
        self.failed_with(chain(e), executor_id)
    }

    /// Records a failure described by `what` (its cause chain).
    fn failed_with(&mut self, what: String, executor_id: &str) -> Duration {
        self.streak = self.streak.saturating_add(1);
        let wait = Duration::from_secs(1u64 << self.streak.saturating_sub(1).min(6)).min(Duration::from_secs(60));
        if self.last.as_deref() != Some(what.as_str()) {
            tracing::error!(executor = %executor_id, error = %what, retry_in_secs = wait.as_secs(), "claiming a job failed; backing off");
            self.last = Some(what);
        } else {
            tracing::debug!(executor = %executor_id, failures = self.streak, retry_in_secs = wait.as_secs(), "claiming a job still fails");
        }
        wait
    }

    /// Records a successful claim (logged when it ends a run of failures).
    fn recovered(&mut self, executor_id: &str) {
        if self.streak > 0 {
            tracing::info!(executor = %executor_id, failures = self.streak, "claiming jobs works again");
            *self = Self::default();
        }
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
        Self::start_fed(settings, jobs, results, kinds, observers, None)
    }

    /// As [`WorkerPool::start`], but with a `queue` each worker runs the jobs it delivers
    /// (claimed by id) instead of the oldest PENDING one: the pool of a `tradai worker` process.
    pub(crate) fn start_fed(
        settings: ExecutorSettings,
        jobs: Arc<dyn JobRepository>,
        results: ResultStore,
        kinds: Vec<JobKind>,
        observers: Vec<Arc<dyn JobObserver>>,
        queue: Option<Arc<dyn JobQueue>>,
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
            queue,
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
        let mut failing = ClaimFailures::default();
        if let Some(queue) = &self.queue {
            while !self.stopping.load(Ordering::SeqCst) {
                match queue.receive() {
                    Ok(Some(d)) => {
                        failing.recovered(executor_id);
                        let how = self.run_delivery(&d, &mut handlers, executor_id);
                        if let Err(e) = queue.settle(&d, how) {
                            tracing::warn!(job_id = %d.job_id, error = %chain(&e), "cannot settle the message; it comes back after its lease");
                        }
                    }
                    // The receive was a long poll: no wait here.
                    Ok(None) => failing.recovered(executor_id),
                    Err(e) => {
                        let wait = failing.failed_with(chain(&e), executor_id);
                        self.wait_for_work(wait);
                    }
                }
            }
            return;
        }
        while !self.stopping.load(Ordering::SeqCst) {
            match self.jobs.claim_next(&types, executor_id) {
                Ok(claimed) => {
                    failing.recovered(executor_id);
                    match claimed {
                        Some(job) => match handlers.get_mut(job.job_type.as_str()) {
                            Some(h) => {
                                self.run_job(job, h.as_mut(), executor_id);
                            }
                            None => {
                                tracing::error!(job_id = %job.id, job_type = %job.job_type, "claimed a job of a type this pool does not run");
                            }
                        },
                        None => self.wait_for_work(Duration::from_secs(1)),
                    }
                }
                Err(e) => {
                    let wait = failing.failed(&e, executor_id);
                    self.wait_for_work(wait);
                }
            }
        }
    }

    /// Runs the job of one delivery if it is claimable here, and says how to settle the
    /// message: a job finished here or elsewhere (or unknown) is done with; one RUNNING
    /// elsewhere comes back after the orphan timeout (if its worker died meanwhile, the orphan
    /// scan has handed it back by then); one waiting out a back-off comes back when it is due.
    fn run_delivery(&self, d: &Delivery, handlers: &mut HashMap<&'static str, Box<dyn JobHandler>>, executor_id: &str) -> Settle {
        let later = |e: &RepoError| {
            tracing::warn!(job_id = %d.job_id, error = %chain(e), "job repository failed; the message comes back later");
            Settle::Again(Duration::from_secs(5))
        };
        if !handlers.contains_key(d.job_type.as_str()) {
            tracing::warn!(job_id = %d.job_id, job_type = %d.job_type, "message for a job type this worker does not run; leaving it");
            return Settle::Again(Duration::ZERO);
        }
        let claimed = match self.jobs.claim(&d.job_id, executor_id) {
            Ok(c) => c,
            Err(RepoError::NotFound(_)) => {
                tracing::warn!(job_id = %d.job_id, "message for a job that does not exist; dropping it");
                return Settle::Done;
            }
            Err(e) => return later(&e),
        };
        let Some(job) = claimed else {
            let job = match self.jobs.get(&d.job_id) {
                Ok(j) => j,
                Err(e) => return later(&e),
            };
            return match job.status {
                s if s.is_terminal() => {
                    tracing::info!(job_id = %job.id, status = %s, "duplicate delivery of a finished job; dropping it");
                    Settle::Done
                }
                JobStatus::Running => {
                    tracing::info!(job_id = %job.id, executor = ?job.executor_id, "job runs elsewhere; the message comes back after the orphan timeout");
                    Settle::Again(self.settings.orphan_after)
                }
                // PENDING but not claimable: waiting out the back-off of a hand-back. Asked
                // again after one base back-off (the job record does not say how long is left).
                _ => Settle::Again(self.settings.retry_backoff.max(Duration::from_secs(1))),
            };
        };
        let Some(h) = handlers.get_mut(job.job_type.as_str()) else {
            // The message lied about the type: give the claim and its attempt back.
            tracing::error!(job_id = %job.id, job_type = %job.job_type, "claimed a job of a type this pool does not run");
            let _ = self.jobs.hand_back(&job.id, None, false);
            return Settle::Again(Duration::ZERO);
        };
        match self.run_job(job, h.as_mut(), executor_id) {
            Ran::Finished => Settle::Done,
            Ran::NotFinished => Settle::Again(Duration::ZERO),
            Ran::Unrecorded => Settle::Again(self.settings.orphan_after),
        }
    }

    fn run_job(&self, job: Job, handler: &mut dyn JobHandler, executor_id: &str) -> Ran {
        let id = job.id.clone();
        let rj = Arc::new(RunningJob::new());
        self.lock_running().insert(id.clone(), Arc::clone(&rj));
        if job.cancel_requested {
            rj.stop(StopReason::User);
        }
        tracing::info!(job_id = %id, job_type = %job.job_type, attempt = job.attempts, "job started");
        let started = Instant::now();
        let ctx =
            JobContext { cancel: &rj.cancel, results: &self.results, running: &rj, jobs: self.jobs.as_ref(), job_id: &id, executor_id };
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
                StopReason::Shutdown => {
                    // Stopped by us, not failed: the attempt is given back and the checkpoint
                    // kept, so the next start resumes the job without counting it against the
                    // attempt limit.
                    match self.jobs.hand_back(&id, None, false) {
                        Ok(_) => tracing::info!(job_id = %id, "job handed back for the next start"),
                        Err(e) => tracing::warn!(job_id = %id, error = %chain(&e), "could not hand the job back"),
                    }
                    return Ran::NotFinished;
                }
                StopReason::Lost => {
                    tracing::warn!(job_id = %id, "job was taken over elsewhere; dropping this run");
                    return Ran::NotFinished;
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
                Ran::Finished
            }
            Err(e) => {
                tracing::warn!(job_id = %id, error = %e, "could not record the outcome");
                Ran::Unrecorded
            }
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
                let wait = retry_backoff(self.settings.retry_backoff, job.attempts);
                tracing::warn!(
                    job_id = %job.id, executor = %exec, attempt = job.attempts, max_attempts = max, retry_in_secs = wait.as_secs_f64(),
                    "worker lost; the job is retried after a back-off"
                );
                let not_before = now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                self.jobs.hand_back(&job.id, Some(not_before), true)
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
    fn retries_back_off_exponentially_up_to_five_minutes() {
        let base = Duration::from_secs(2);
        assert_eq!(retry_backoff(base, 1), Duration::from_secs(2));
        assert_eq!(retry_backoff(base, 2), Duration::from_secs(4));
        assert_eq!(retry_backoff(base, 4), Duration::from_secs(16));
        assert_eq!(retry_backoff(base, 30), Duration::from_secs(300));
    }

    #[test]
    fn claim_failures_back_off_and_recover() {
        let mut f = ClaimFailures::default();
        let e = || tradai_jobs::RepoError::Storage(Box::new(std::io::Error::other("disk on fire")));
        let waits: Vec<u64> = (0..8).map(|_| f.failed(&e(), "w0").as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(f.last.as_deref(), Some("job database error: disk on fire"), "the cause is part of what is logged");
        f.recovered("w0");
        assert_eq!(f.failed(&e(), "w0").as_secs(), 1);
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
