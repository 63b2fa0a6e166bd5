//! The worker pool with real job handlers on a real job database: a hyperopt job stopped by a
//! graceful shutdown keeps its checkpoint and its attempt, and the next pool resumes it from
//! the checkpointed epoch to the result an uninterrupted run gives; a job whose worker died
//! waits out its back-off before it is claimed again. The `ecs` mode's submitter and orphan
//! scan are in [`task`].

mod task;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tradai_app::backtest::BacktestFailure;
use tradai_app::hyperopt::HyperoptRequest;
use tradai_core::{ExchangeId, Timeframe};
use tradai_executor::{
    Control, ExecutorMode, ExecutorSettings, HyperoptArtifacts, HyperoptJobConfig, HyperoptRunner, InProcessHyperopt, JobKind, ResultStore,
    WorkerPool, EPOCHS_JSON, HYPEROPT,
};
use tradai_hyperopt::{Progress, Resume};
use tradai_jobs::{JobRepository, JobStatus, NewJob, SqliteJobRepository};
use tradai_store::{BlockingCandleStore, SeriesKey, SynthSpec};

fn store(dir: &std::path::Path) -> String {
    let loc = dir.join("data").display().to_string();
    let store = BlockingCandleStore::open(&loc).unwrap();
    let spec = SynthSpec::new(vec!["ETH/BTC".parse().unwrap()], Timeframe::M5, 20, 3);
    for (pair, candles) in tradai_store::synth(&spec) {
        store.append(&SeriesKey::new(ExchangeId::new("binance").unwrap(), pair, Timeframe::M5), &candles).unwrap();
    }
    loc
}

fn request() -> HyperoptRequest {
    serde_json::from_value(serde_json::json!({
        "backtest": {"strategy": "EmaCross", "pairs": ["ETH/BTC"], "timeframe": "5m", "stake_amount": 0.05, "dry_run_wallet": 1},
        "epochs": 80, "spaces": ["buy"], "sampler": "tpe", "seed": 11, "jobs": 1,
    }))
    .unwrap()
}

/// The in-process runner, slowed down between batches so a test can stop it mid-run.
struct Slowed(InProcessHyperopt);

impl HyperoptRunner for Slowed {
    fn run(&mut self, req: &HyperoptRequest, ctl: Control<'_, Progress>, resume: Resume<'_>) -> Result<HyperoptArtifacts, BacktestFailure> {
        let slow = |p: &Progress| {
            (ctl.progress)(p);
            std::thread::sleep(Duration::from_millis(15));
        };
        self.0.run(req, Control { progress: &slow, cancel: ctl.cancel }, resume)
    }
}

fn settings(loc: &str) -> ExecutorSettings {
    ExecutorSettings {
        mode: ExecutorMode::Local,
        workers: 1,
        store_location: loc.to_owned(),
        backtest_bin: None,
        strategy_dir: None,
        max_attempts: 3,
        retry_backoff: Duration::from_millis(1500),
        orphan_after: Duration::from_secs(2),
        heartbeat_every: Duration::from_millis(100),
        shutdown_grace: Duration::ZERO,
    }
}

fn pool(loc: &str, jobs: &Arc<SqliteJobRepository>, results: &ResultStore) -> Arc<WorkerPool> {
    let l = loc.to_owned();
    let kind = JobKind::hyperopt(Arc::new(move || {
        let store = BlockingCandleStore::open(&l).map_err(|e| e.to_string())?;
        Ok(Box::new(Slowed(InProcessHyperopt { store })) as Box<dyn HyperoptRunner>)
    }));
    WorkerPool::start(settings(loc), Arc::clone(jobs) as Arc<dyn JobRepository>, results.clone(), vec![kind], Vec::new()).unwrap()
}

fn wait(jobs: &SqliteJobRepository, id: &str, what: &str, within: Duration, ok: impl Fn(&tradai_jobs::Job) -> bool) -> tradai_jobs::Job {
    let start = Instant::now();
    loop {
        let j = jobs.get(id).unwrap();
        if ok(&j) {
            return j;
        }
        assert!(start.elapsed() < within, "job {id}: no {what} after {within:?}: {j:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_shutdown_mid_hyperopt_resumes_from_the_checkpoint_to_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let loc = store(dir.path());
    let jobs = Arc::new(SqliteJobRepository::open(&dir.path().join("state/tradai.sqlite")).unwrap());
    let results = ResultStore::new(dir.path().join("state/results"));
    let config = serde_json::to_value(HyperoptJobConfig { request: request(), experiment_name: None }).unwrap();
    let (job, _) = jobs.create(NewJob { job_type: HYPEROPT.into(), config, idempotency_key: None, label: None }).unwrap();

    let p = pool(&loc, &jobs, &results);
    wait(&jobs, &job.id, "progress", Duration::from_secs(120), |j| {
        j.progress_detail.as_ref().is_some_and(|d| d["epochs_done"].as_u64() >= Some(15))
    });
    assert_eq!(p.shutdown(), 1, "the running job is handed back");
    let j = jobs.get(&job.id).unwrap();
    assert_eq!((j.status, j.attempts), (JobStatus::Pending, 0), "a graceful stop is not a failed attempt: {j:?}");
    let cp = jobs.load_checkpoint(&job.id).unwrap().expect("the study so far is checkpointed");
    let saved = cp["trials"].as_array().unwrap().len();
    assert!((15..80).contains(&saved), "{saved} epochs checkpointed");

    let p = pool(&loc, &jobs, &results);
    let done = wait(&jobs, &job.id, "end", Duration::from_secs(120), |j| j.status.is_terminal());
    p.shutdown();
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    assert_eq!(done.attempts, 1);
    assert_eq!(
        done.result.as_ref().unwrap()["resumed_from_epoch"].as_u64(),
        Some(saved as u64),
        "continued from the checkpoint, not epoch 0"
    );
    assert!(jobs.load_checkpoint(&job.id).unwrap().is_none(), "a finished job's checkpoint is deleted");

    // The same request without interruption.
    let store = BlockingCandleStore::open(&loc).unwrap();
    let whole = tradai_app::hyperopt::run(&store, &request(), &|_| {}, &AtomicBool::new(false)).unwrap();
    let resumed: serde_json::Value = serde_json::from_str(&results.read_text(&job.id, EPOCHS_JSON).unwrap()).unwrap();
    assert_eq!(
        resumed["study"],
        serde_json::to_value(&whole.outcome.study).unwrap(),
        "same epochs, losses and best as an uninterrupted run"
    );
}

#[test]
fn a_crashed_attempt_waits_out_its_back_off_and_a_graceful_one_does_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = SqliteJobRepository::open(&dir.path().join("tradai.sqlite")).unwrap();
    let new = || NewJob { job_type: HYPEROPT.into(), config: serde_json::json!({}), idempotency_key: None, label: None };
    let (crashed, _) = jobs.create(new()).unwrap();
    assert_eq!(jobs.claim_next(&[HYPEROPT], "host:1:dead/w0").unwrap().unwrap().id, crashed.id);
    let later = chrono::Utc::now().timestamp_millis() + 60_000;
    let back = jobs.hand_back(&crashed.id, Some(later), true).unwrap();
    assert_eq!((back.status, back.attempts), (JobStatus::Pending, 1), "a crash counts");
    assert!(jobs.claim_next(&[HYPEROPT], "w1").unwrap().is_none(), "not claimed before its back-off");

    let (stopped, _) = jobs.create(new()).unwrap();
    assert_eq!(jobs.claim_next(&[HYPEROPT], "w1").unwrap().unwrap().id, stopped.id);
    let back = jobs.hand_back(&stopped.id, None, false).unwrap();
    assert_eq!((back.status, back.attempts), (JobStatus::Pending, 0), "a graceful stop gives the attempt back");
    let again = jobs.claim_next(&[HYPEROPT], "w1").unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.attempts), (stopped.id.as_str(), 1));
}
