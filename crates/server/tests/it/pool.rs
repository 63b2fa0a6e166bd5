//! The worker pool with a stand-in runner (the real one needs the engine): cancellation within
//! a second, hand-back on shutdown, and the orphan scan's retry limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tradai_app::backtest::{BacktestFailure, BacktestOutcome};
use tradai_app::RunSpec;
use tradai_executor::results::ResultStore;
use tradai_executor::{BacktestRunner, JobKind, RunnerFactory, WorkerPool};
use tradai_jobs::{JobRepository, JobStatus, NewJob, SqliteJobRepository};

use crate::{call, env, settings, GOOD};

/// Runs until cancelled, or finishes after `work` with one trade.
struct SlowRunner {
    work: Duration,
}

impl BacktestRunner for SlowRunner {
    fn run(&mut self, _req: &RunSpec, progress: &(dyn Fn(f64) + Sync), cancel: &AtomicBool) -> Result<BacktestOutcome, BacktestFailure> {
        let start = Instant::now();
        while start.elapsed() < self.work {
            if cancel.load(Ordering::Relaxed) {
                return Err(BacktestFailure::Cancelled);
            }
            progress(start.elapsed().as_secs_f64() / self.work.as_secs_f64());
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(BacktestOutcome {
            export: serde_json::json!({"trades": [{"pair": "ETH/BTC"}], "unclosed_trades": [], "summary": {"total_trades": 1}}),
            report_text: "report".into(),
            equity_svg: "<svg/>".into(),
            candles: 1,
            balance_curve: vec![(0, 1.0), (1, 1.01)],
        })
    }
}

fn slow(work: Duration) -> RunnerFactory {
    Arc::new(move || Ok(Box::new(SlowRunner { work }) as Box<dyn BacktestRunner>))
}

async fn wait_for(jobs: &SqliteJobRepository, id: &str, want: JobStatus, within: Duration) -> tradai_jobs::Job {
    let start = Instant::now();
    loop {
        let j = jobs.get(id).unwrap();
        if j.status == want {
            return j;
        }
        assert!(start.elapsed() < within, "job {id} is {} after {within:?}, expected {want}", j.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_serves_summary_trades_and_report() {
    let e = env(Some(slow(Duration::from_millis(100)))).await;
    let (_, j) = call(&e.app, "POST", "/api/v1/backtests", Some(GOOD), &[]).await;
    let id = j["job_id"].as_str().unwrap().to_owned();
    wait_for(&e.jobs, &id, JobStatus::Completed, Duration::from_secs(10)).await;
    let (_, s) = call(&e.app, "GET", &format!("/api/v1/backtests/{id}"), None, &[]).await;
    assert_eq!(s["progress"], 1.0);
    assert_eq!(s["result"]["trade_count"], 1);
    assert_eq!(s["result"]["summary"]["total_trades"], 1);
    assert!(s["finished_at"].is_string());
    let (status, t) = call(&e.app, "GET", &format!("/api/v1/backtests/{id}/trades"), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(t["trades"][0]["pair"], "ETH/BTC");
    let (status, r) = call(&e.app, "GET", &format!("/api/v1/backtests/{id}/report"), None, &[]).await;
    assert_eq!((status, r.as_str()), (StatusCode::OK, Some("report")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_backtest_within_a_second() {
    let e = env(Some(slow(Duration::from_secs(60)))).await;
    let (_, j) = call(&e.app, "POST", "/api/v1/backtests", Some(GOOD), &[]).await;
    let id = j["job_id"].as_str().unwrap().to_owned();
    wait_for(&e.jobs, &id, JobStatus::Running, Duration::from_secs(5)).await;
    let asked = Instant::now();
    let (status, c) = call(&e.app, "POST", &format!("/api/v1/backtests/{id}/cancel"), None, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{c}");
    assert_eq!(c["cancel_requested"], true);
    wait_for(&e.jobs, &id, JobStatus::Cancelled, Duration::from_secs(1)).await;
    assert!(asked.elapsed() < Duration::from_secs(1), "took {:?}", asked.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_running_jobs_back_and_refuses_new_ones() {
    let e = env(Some(slow(Duration::from_secs(60)))).await;
    let (_, j) = call(&e.app, "POST", "/api/v1/backtests", Some(GOOD), &[]).await;
    let id = j["job_id"].as_str().unwrap().to_owned();
    wait_for(&e.jobs, &id, JobStatus::Running, Duration::from_secs(5)).await;
    e.state.stop_intake();
    let (status, j) = call(&e.app, "POST", "/api/v1/backtests", Some(GOOD), &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{j}");
    assert_eq!(j["error"]["code"], "shutting_down");
    let pool = Arc::clone(&e.pool);
    let handed = tokio::task::spawn_blocking(move || pool.shutdown()).await.unwrap();
    assert_eq!(handed, 1);
    let back = e.jobs.get(&id).unwrap();
    assert_eq!(back.status, JobStatus::Pending);
    assert_eq!(back.executor_id, None);
}

#[test]
fn orphans_of_dead_workers_are_retried_then_failed_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = Arc::new(SqliteJobRepository::open(&dir.path().join("jobs.sqlite")).unwrap());
    let new = || NewJob { job_type: "backtest".into(), config: serde_json::json!({}), idempotency_key: None, label: None };
    let (a, _) = jobs.create(new()).unwrap();
    let (b, _) = jobs.create(new()).unwrap();
    // A worker on this host whose process is gone (no such pid): one attempt used of two.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_owned()).unwrap_or_else(|_| "localhost".into());
    let dead = format!("{host}:4294967294:deadbeef/w0");
    jobs.claim_next(&["backtest"], &dead).unwrap().unwrap();
    // The second job has already used both attempts.
    jobs.claim_next(&["backtest"], &dead).unwrap().unwrap();
    jobs.transition(&b.id, JobStatus::Pending, None, None).unwrap();
    jobs.claim_next(&["backtest"], &dead).unwrap().unwrap();
    assert_eq!(jobs.get(&b.id).unwrap().attempts, 2);
    // A worker elsewhere with a fresh heartbeat is left alone.
    let (c, _) = jobs.create(new()).unwrap();
    jobs.claim_next(&["backtest"], "other-host:1:cafe/w0").unwrap().unwrap();

    let runner: RunnerFactory = Arc::new(|| Err("unused".to_owned()));
    let pool = WorkerPool::start(
        settings("unused", 0),
        Arc::clone(&jobs) as Arc<dyn JobRepository>,
        ResultStore::new(dir.path().join("r")),
        vec![JobKind::backtest(runner)],
        Vec::new(),
    )
    .unwrap();
    let a = jobs.get(&a.id).unwrap();
    assert_eq!(a.status, JobStatus::Pending, "retried: {a:?}");
    let b = jobs.get(&b.id).unwrap();
    assert_eq!(b.status, JobStatus::Failed);
    let err = b.error.unwrap();
    assert_eq!(err.code, "worker_lost");
    assert!(err.message.contains("attempt 2 of 2"), "{}", err.message);
    assert_eq!(jobs.get(&c.id).unwrap().status, JobStatus::Running);
    // Once its heartbeat is stale (orphan_after = 2 s), the periodic scan hands it back too.
    std::thread::sleep(Duration::from_millis(3200));
    assert_eq!(jobs.get(&c.id).unwrap().status, JobStatus::Pending);
    pool.shutdown();
}

/// A stand-in `tradai` binary: writes an export to the path after `--export` (echoing its
/// arguments into it), prints a report, or sleeps when the strategy is `Sleepy`.
const FAKE_TRADAI: &str = r#"#!/bin/sh
export_path=""; strategy=""; prev=""
for a in "$@"; do
  [ "$prev" = "--export" ] && export_path="$a"
  [ "$prev" = "--strategy" ] && strategy="$a"
  prev="$a"
done
if [ "$strategy" = "Sleepy" ]; then sleep 60; fi
if [ "$strategy" = "Broken" ]; then echo "error: invalid timeframe '7x'" >&2; exit 2; fi
printf '{"trades":[{"pair":"ETH/BTC"}],"unclosed_trades":[],"summary":{"total_trades":1},"args":"%s"}' "$*" > "$export_path"
echo "fake report"
"#;

#[test]
fn the_subprocess_executor_runs_the_cli_reads_its_export_and_kills_it_on_cancel() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("tradai");
    std::fs::write(&bin, FAKE_TRADAI).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let jobs = Arc::new(SqliteJobRepository::open(&dir.path().join("jobs.sqlite")).unwrap());
    let mut s = settings("/tmp/store", 1);
    s.mode = tradai_executor::ExecutorMode::Subprocess;
    s.backtest_bin = Some(bin);
    let results = ResultStore::new(dir.path().join("r"));
    let pool =
        tradai_executor::ExecutorFactory::create(s, Arc::clone(&jobs) as Arc<dyn JobRepository>, results.clone(), Vec::new()).unwrap();
    let job = |strategy: &str| {
        let req: RunSpec = serde_json::from_value(
            serde_json::json!({"strategy": strategy, "pairs": ["ETH/BTC"], "timeframe": "5m", "stake_amount": 0.05}),
        )
        .unwrap();
        let cfg = serde_json::json!({"request": req});
        let (j, _) = jobs.create(NewJob { job_type: "backtest".into(), config: cfg, idempotency_key: None, label: None }).unwrap();
        tradai_executor::BacktestJobSubmitter::submit(pool.as_ref(), &j).unwrap();
        j.id
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ok = job("EmaCross");
    let done = rt.block_on(wait_for(&jobs, &ok, JobStatus::Completed, Duration::from_secs(10)));
    assert_eq!(done.result.unwrap()["trade_count"], 1);
    let export = results.export(&ok).unwrap();
    let args = export["args"].as_str().unwrap();
    for want in ["--data-dir /tmp/store", "backtest", "--strategy EmaCross", "--pairs ETH/BTC", "--stake-amount 0.05", "--timeframe 5m"] {
        assert!(args.contains(want), "{want} missing from: {args}");
    }
    assert_eq!(results.report(&ok).unwrap().trim(), "fake report");

    let broken = job("Broken");
    let failed = rt.block_on(wait_for(&jobs, &broken, JobStatus::Failed, Duration::from_secs(10)));
    assert!(failed.error.unwrap().message.contains("invalid timeframe '7x'"));

    let sleepy = job("Sleepy");
    rt.block_on(wait_for(&jobs, &sleepy, JobStatus::Running, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(200));
    let asked = Instant::now();
    jobs.request_cancel(&sleepy).unwrap();
    assert!(tradai_executor::BacktestJobSubmitter::cancel(pool.as_ref(), &sleepy));
    rt.block_on(wait_for(&jobs, &sleepy, JobStatus::Cancelled, Duration::from_secs(1)));
    assert!(asked.elapsed() < Duration::from_secs(1));
    pool.shutdown();
}
