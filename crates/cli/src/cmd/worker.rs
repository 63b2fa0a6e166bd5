//! `tradai worker`: a process that runs the backtests and hyperopt jobs the backend sends to an
//! SQS queue (`EXECUTOR_MODE=sqs`). Any number of workers, on one machine or many, share one
//! queue, one job table (`DYNAMODB_TABLE_NAME`, or this machine's job database) and the data.
//!
//! Each message names a job; the worker claims it with a conditional write in the job
//! repository, so a job delivered twice runs once, and keeps the message invisible while the
//! job runs. A worker killed mid-job stops extending its message: the message comes back, the
//! orphan scan of a live worker hands the job back, and it runs again. With a results bucket
//! (`TRADAI_RESULTS_BUCKET`) finished jobs' artifacts are copied there; unless `tracking.uri`
//! is `off`, each finished job is logged as a tracked run (as the backend logs its own), through
//! an outbox in the state dir.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tradai_executor::{ExecutorFactory, JobObserver, JobQueue};
use tradai_jobs::JobRepository;
use tradai_server::serve::ServerConfig;
use tradai_settings::Settings;

/// Help examples of `tradai worker`.
pub const EXAMPLES: &str = "Examples:
  # On AWS, with DYNAMODB_TABLE_NAME and the AWS credentials set:
  tradai worker --queue-url https://sqs.us-east-1.amazonaws.com/123456789012/bt
  # On the emulator (AWS_ENDPOINT_URL set), two jobs at a time:
  tradai worker --queue-url http://127.0.0.1:5000/123456789012/bt --workers 2";

/// `tradai worker` flags.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The queue to read: the backend's BACKEND_BACKTEST_QUEUE_URL.
    #[arg(long, env = "BACKEND_BACKTEST_QUEUE_URL", value_name = "URL")]
    pub queue_url: String,
    /// Jobs run at once [default: the server.workers setting].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Seconds a received message stays hidden from other workers; extended every third of it
    /// while its job runs, so it is how soon a killed worker's job is delivered again.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub visibility_timeout_secs: u64,
    /// Seconds one receive waits for a message (long poll, at most 20).
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub wait_secs: u64,
    /// Print the start-up line as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tradai worker` until SIGTERM or Ctrl-C; then running jobs get the grace period
/// (`server.shutdown_grace_secs`) and the rest are handed back for another worker.
///
/// # Errors
/// Bad settings, an unreachable queue or job table; each names what it could not use.
pub fn run(a: WorkerArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    if a.wait_secs > 20 {
        anyhow::bail!("--wait-secs {} is above SQS's limit of 20", a.wait_secs);
    }
    // A worker reads the table and the AWS settings the backend reads; EXECUTOR_MODE is the
    // backend's business (a worker always runs jobs itself).
    let aws = super::aws::AwsEnv::from_env(|k| if k == "EXECUTOR_MODE" { None } else { std::env::var(k).ok() })?;
    let cfg = ServerConfig::from_settings(settings)?;
    let mut exec = cfg.executor.clone();
    if let Some(w) = a.workers {
        exec.workers = w;
    }
    let (jobs, jobs_at): (Arc<dyn JobRepository>, String) = match aws.job_repository()? {
        Some(external) => (external.repo, external.describe),
        None => {
            std::fs::create_dir_all(&cfg.state_dir).with_context(|| format!("cannot create {}", cfg.state_dir.display()))?;
            let db = cfg.db_path();
            let repo = tradai_jobs::SqliteJobRepository::open(&db).with_context(|| format!("job database {}", db.display()))?;
            (Arc::new(repo), format!("sqlite {}", db.display()))
        }
    };
    let queue = queue(&a)?;
    let (results, mut observers) = super::results_bucket::result_store(settings, &cfg.state_dir)?;
    let workers = exec.workers;
    // The backend never sees a worker's job finish: the worker logs its tracked run.
    let (rt, tracking) = start_tracking(&cfg, &mut observers)?;
    let endpoints = Some(tradai_server::serve::exchange_endpoints(settings));
    let pool = ExecutorFactory::create_worker(exec, jobs, results, endpoints, observers, Arc::clone(&queue))?;
    let start = serde_json::json!({
        "queue_url": a.queue_url,
        "workers": workers,
        "jobs": jobs_at,
        "executor": pool.worker_ids().first().map(|w| w.trim_end_matches("/w0")),
    });
    // One line on stdout once the pool runs: scripts (and the tests) wait for it.
    if a.json {
        println!("{start}");
    } else {
        println!("worker: {workers} worker(s) on {} (jobs: {jobs_at})", queue.describe());
    }
    rt.block_on(tradai_server::serve::shutdown_signal());
    tracing::info!("stopping: no new messages taken");
    let handed_back = pool.shutdown();
    if handed_back > 0 {
        tracing::info!(jobs = handed_back, "running jobs handed back for another worker");
    }
    if let Some(t) = &tracking {
        rt.block_on(tradai_server::serve::stop_tracking(t, Duration::from_secs(5)));
    }
    Ok(ExitCode::SUCCESS)
}

/// The runtime of a job-running process (`tradai worker`, `tradai strategy-container`) and its
/// experiment tracking (unless `tracking.uri` is `off`), added to `observers`.
pub(crate) fn start_tracking(
    cfg: &ServerConfig,
    observers: &mut Vec<Arc<dyn JobObserver>>,
) -> anyhow::Result<(tokio::runtime::Runtime, Option<Arc<tradai_executor::tracking::JobTracking>>)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tracking")
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let tracking = tradai_server::serve::start_tracking(cfg, rt.handle())?;
    observers.extend(tracking.iter().map(|t| Arc::clone(t) as Arc<dyn JobObserver>));
    Ok((rt, tracking))
}

#[cfg(feature = "aws")]
fn queue(a: &WorkerArgs) -> anyhow::Result<Arc<dyn JobQueue>> {
    let timing =
        tradai_aws::QueueTiming { visibility: Duration::from_secs(a.visibility_timeout_secs), wait: Duration::from_secs(a.wait_secs) };
    let q = super::aws::SqsQueue::connect(&a.queue_url, timing).with_context(|| format!("queue {}", a.queue_url))?;
    Ok(Arc::new(q))
}

#[cfg(not(feature = "aws"))]
fn queue(a: &WorkerArgs) -> anyhow::Result<Arc<dyn JobQueue>> {
    let _ = Duration::ZERO;
    anyhow::bail!("`tradai worker --queue-url {}` needs the AWS back end, which this build does not have (the `aws` feature)", a.queue_url)
}
