//! `tradai strategy-container`: the entrypoint of the strategy container, which ECS starts per
//! job (directly or from the backtest workflow of Step Functions) with the job in its
//! environment: `TRADING_MODE`, `STRATEGY_NAME`, `STRATEGY_STAGE` and `JOB_ID`.
//!
//! It claims that one job in the job repository (a conditional write: a task started twice for
//! one job runs it once), runs it in this process with the worker's handlers and records the
//! outcome, then exits: 0 when the job is COMPLETED (here, or already before), 1 otherwise.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use tradai_executor::{ExecutorFactory, Settle, SingleJob, BACKTEST, HYPEROPT};
use tradai_jobs::{JobRepository, JobStatus};
use tradai_server::serve::ServerConfig;
use tradai_settings::Settings;

/// Help examples of `tradai strategy-container`.
pub const EXAMPLES: &str = "Examples:
  # ECS sets TRADING_MODE, STRATEGY_NAME, STRATEGY_STAGE and JOB_ID; by hand:
  tradai strategy-container --trading-mode backtest --job-id 3f0c9a4e --json";

/// `tradai strategy-container` flags (everything else comes from the environment).
#[derive(Debug, Args)]
pub struct StrategyContainerArgs {
    /// backtest or hyperopt (dry-run and live are refused: trading nodes run as `tradai trade`).
    #[arg(long, env = "TRADING_MODE")]
    pub trading_mode: String,
    /// The strategy the job must be for (checked against the job).
    #[arg(long, env = "STRATEGY_NAME")]
    pub strategy_name: Option<String>,
    /// The strategy's registry stage (logged with the run).
    #[arg(long, env = "STRATEGY_STAGE")]
    pub strategy_stage: Option<String>,
    /// The job to run.
    #[arg(long, env = "JOB_ID")]
    pub job_id: String,
    /// Print the job's final record as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the job of the container's environment.
///
/// # Errors
/// An unknown mode, a job that does not exist or is of another type or strategy, an
/// unreachable job table.
pub fn run(a: StrategyContainerArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let job_type = match a.trading_mode.trim().to_ascii_lowercase().as_str() {
        "backtest" => BACKTEST,
        "hyperopt" => HYPEROPT,
        m @ ("dry-run" | "dry_run" | "live") => {
            bail!("TRADING_MODE '{m}' is not run by the strategy container in this build; run a trading node with `tradai trade`")
        }
        other => bail!("TRADING_MODE '{other}' is not supported (expected backtest or hyperopt)"),
    };
    let aws = super::aws::AwsEnv::from_env(|k| if k == "EXECUTOR_MODE" { None } else { std::env::var(k).ok() })?;
    let cfg = ServerConfig::from_settings(settings)?;
    let jobs: Arc<dyn JobRepository> = match aws.job_repository()? {
        Some(external) => external.repo,
        None => {
            let db = cfg.db_path();
            Arc::new(tradai_jobs::SqliteJobRepository::open(&db).with_context(|| format!("job database {}", db.display()))?)
        }
    };
    let job = jobs.get(&a.job_id).with_context(|| format!("JOB_ID={}", a.job_id))?;
    if job.job_type != job_type {
        bail!("job {} is a {} job, not {job_type} (TRADING_MODE={})", job.id, job.job_type, a.trading_mode);
    }
    if let (Some(want), Some(have)) = (a.strategy_name.as_deref().filter(|s| !s.is_empty()), job.label.as_deref()) {
        if want != have {
            bail!("job {} runs strategy '{have}', not STRATEGY_NAME '{want}'", job.id);
        }
    }
    tracing::info!(job_id = %job.id, job_type, strategy = ?job.label, stage = ?a.strategy_stage, "strategy container started");
    let one = Arc::new(SingleJob::new(&job.id, job_type));
    let mut exec = cfg.executor.clone();
    exec.workers = 1;
    let (results, mut observers) = super::results_bucket::result_store(settings, &cfg.state_dir)?;
    let (rt, tracking) = super::worker::start_tracking(&cfg, &mut observers)?;
    let endpoints = Some(tradai_server::serve::exchange_endpoints(settings));
    let pool = ExecutorFactory::create_worker(exec, Arc::clone(&jobs), results, endpoints, observers, Arc::clone(&one) as _)?;
    let settled = one.wait_settled();
    pool.shutdown();
    if let Some(t) = &tracking {
        // The task ends with the job: its run is sent now (or stays in the outbox).
        rt.block_on(tradai_server::serve::stop_tracking(t, std::time::Duration::from_secs(10)));
    }
    let fin = jobs.get(&job.id)?;
    if a.json {
        crate::output::print_json(&serde_json::json!({
            "job_id": fin.id,
            "status": fin.status.as_str(),
            "attempts": fin.attempts,
            "result": fin.result,
            "error": fin.error,
        }))?;
    } else {
        println!("job {}: {}", fin.id, fin.status);
    }
    match (settled, fin.status) {
        (_, JobStatus::Completed) => Ok(ExitCode::SUCCESS),
        (Settle::Again(_), JobStatus::Running) => {
            bail!("job {} runs elsewhere (executor {}); this task did not run it", fin.id, fin.executor_id.as_deref().unwrap_or("unknown"))
        }
        _ => Ok(ExitCode::from(1)),
    }
}
