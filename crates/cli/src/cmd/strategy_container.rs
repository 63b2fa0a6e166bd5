//! `tradai strategy-container`: the entrypoint of the strategy container, which ECS starts per
//! job (directly or from the backtest workflow of Step Functions) with the job in its
//! environment: `TRADING_MODE`, `STRATEGY_NAME`, `STRATEGY_STAGE` and `JOB_ID`.
//!
//! `backtest` and `hyperopt`: it claims that one job in the job repository (a conditional
//! write: a task started twice for one job runs it once), runs it in this process with the
//! worker's handlers and records the outcome, then exits: 0 when the job is COMPLETED (here, or
//! already before), 1 otherwise.
//!
//! `dry-run` and `live`: it runs a trading node, `tradai trade`'s own code path, for
//! `STRATEGY_NAME` at the registry stage `STRATEGY_STAGE` (`None`: the strategy's built-in
//! defaults); `tradai trade` flags may follow `--`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use tradai_executor::{ExecutorFactory, Settle, SingleJob, BACKTEST, HYPEROPT};
use tradai_jobs::{JobRepository, JobStatus};
use tradai_server::serve::ServerConfig;
use tradai_settings::Settings;

use crate::output::Ui;

/// Help examples of `tradai strategy-container`.
pub const EXAMPLES: &str = "Examples:
  # ECS sets TRADING_MODE, STRATEGY_NAME, STRATEGY_STAGE and JOB_ID; by hand:
  tradai strategy-container --trading-mode backtest --job-id 3f0c9a4e --json
  # A paper-trading node of the registry's production EmaCross (flags after -- are tradai trade's):
  TRADING_MODE=dry-run STRATEGY_NAME=EmaCross STRATEGY_STAGE=production tradai strategy-container -- -p BTC/USDT -i 5m";

/// `tradai strategy-container` flags (everything else comes from the environment).
#[derive(Debug, Args)]
pub struct StrategyContainerArgs {
    /// backtest, hyperopt (the job of JOB_ID), dry-run or live (a trading node).
    #[arg(long, env = "TRADING_MODE")]
    pub trading_mode: String,
    /// The strategy the job must be for (checked against the job).
    #[arg(long, env = "STRATEGY_NAME")]
    pub strategy_name: Option<String>,
    /// The strategy's registry stage: logged with a job; the version a trading node loads
    /// (`None`: the built-in defaults).
    #[arg(long, env = "STRATEGY_STAGE")]
    pub strategy_stage: Option<String>,
    /// The job to run (backtest and hyperopt).
    #[arg(long, env = "JOB_ID")]
    pub job_id: Option<String>,
    /// Print the job's final record (or the node's outcome) as JSON.
    #[arg(long)]
    pub json: bool,
    /// dry-run and live: `tradai trade` flags (pairs, timeframe, --replay, --bot-id, ...).
    #[arg(last = true, value_name = "TRADE_FLAGS")]
    pub trade: Vec<String>,
}

/// `tradai trade`'s flags, parsed on their own for a trading node.
#[derive(Debug, clap::Parser)]
struct TradeFlags {
    #[command(flatten)]
    trade: super::trade::TradeArgs,
}

/// What the container does for a `TRADING_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// Run the job of `JOB_ID` of this type.
    Job(&'static str),
    /// Run a trading node in this mode (`dry-run`, `live`).
    Node(&'static str),
}

/// The work of a `TRADING_MODE` value.
///
/// # Errors
/// One line naming the unknown mode.
fn work_of(mode: &str) -> anyhow::Result<Work> {
    Ok(match mode.trim().to_ascii_lowercase().as_str() {
        "backtest" => Work::Job(BACKTEST),
        "hyperopt" => Work::Job(HYPEROPT),
        "dry-run" | "dry_run" | "dryrun" => Work::Node("dry-run"),
        "live" => Work::Node("live"),
        _ => bail!("TRADING_MODE '{mode}' is not supported (expected backtest, hyperopt, dry-run or live)"),
    })
}

/// A trading node with the container's strategy, stage and mode: `tradai trade`.
fn run_node(a: StrategyContainerArgs, mode: &str, settings: &Settings, ui: Ui) -> anyhow::Result<ExitCode> {
    if a.strategy_name.as_deref().is_none_or(|s| s.trim().is_empty()) {
        bail!("TRADING_MODE={mode} needs STRATEGY_NAME (the strategy the node trades)");
    }
    let mut argv = vec!["tradai-trade".to_owned(), "--mode".into(), mode.into()];
    if let Some(s) = &a.strategy_name {
        argv.extend(["--strategy".into(), s.clone()]);
    }
    // `tradai trade` reads `None` (the registry's "no stage") as the strategy's own defaults.
    if let Some(stage) = &a.strategy_stage {
        argv.extend(["--version".into(), stage.clone()]);
    }
    if a.json {
        argv.push("--json".into());
    }
    argv.extend(a.trade);
    let flags = <TradeFlags as clap::Parser>::try_parse_from(&argv).map_err(|e| {
        let first = e.to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned();
        anyhow::anyhow!("invalid trade flags for the strategy container: {first}")
    })?;
    tracing::info!(mode, strategy = ?a.strategy_name, stage = ?a.strategy_stage, "strategy container started a trading node");
    super::trade::run(flags.trade, settings, ui)
}

/// Runs the job of the container's environment.
///
/// # Errors
/// An unknown mode, a job that does not exist or is of another type or strategy, an
/// unreachable job table.
pub fn run(a: StrategyContainerArgs, settings: &Settings, ui: Ui) -> anyhow::Result<ExitCode> {
    let job_type = match work_of(&a.trading_mode)? {
        Work::Job(t) => t,
        Work::Node(mode) => return run_node(a, mode, settings, ui),
    };
    if !a.trade.is_empty() {
        bail!("TRADING_MODE={} takes no trade flags (they are for dry-run and live): {}", a.trading_mode, a.trade.join(" "));
    }
    let Some(job_id) = a.job_id.clone().filter(|j| !j.trim().is_empty()) else {
        bail!("TRADING_MODE={} needs JOB_ID (the job to run)", a.trading_mode)
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
    let job = jobs.get(&job_id).with_context(|| format!("JOB_ID={job_id}"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trading_modes_map_to_jobs_and_nodes_and_unknown_ones_are_named() {
        assert_eq!(work_of("Backtest").unwrap(), Work::Job(BACKTEST));
        assert_eq!(work_of("hyperopt").unwrap(), Work::Job(HYPEROPT));
        assert_eq!(work_of("dry_run").unwrap(), Work::Node("dry-run"));
        assert_eq!(work_of("LIVE").unwrap(), Work::Node("live"));
        let e = work_of("paper").unwrap_err().to_string();
        assert!(e.contains("TRADING_MODE 'paper'") && e.contains("dry-run or live"), "{e}");
    }
}
