//! The `ecs` mode's rules on a real job database, with the task service kept in memory (the
//! ECS one is tested against the emulator in tradai-aws and the CLI): a submitted job starts
//! one task with its environment; a cancel stops the task and cancels a running job; the
//! orphan scan fails a job whose task stopped or is unknown, cancels one whose cancel was
//! asked for, reports without changing anything in a dry run, and leaves running tasks, other
//! executors' references and finished jobs alone.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tradai_executor::{BacktestJobSubmitter, RemoteTask, TaskError, TaskLaunch, TaskRunner, TaskSubmitter, BACKTEST, TASK_STOPPED};
use tradai_jobs::{JobRepository, JobStatus, NewJob, SqliteJobRepository};

/// Tasks by ARN: (environment, stop reason once stopped).
#[derive(Default)]
struct Tasks(Mutex<BTreeMap<String, (Vec<(String, String)>, Option<String>)>>);

impl Tasks {
    fn remote(id: &str, env: &[(String, String)], stopped: Option<&String>) -> RemoteTask {
        RemoteTask {
            id: id.to_owned(),
            job_id: env.iter().find(|(k, _)| k == "JOB_ID").map(|(_, v)| v.clone()),
            status: if stopped.is_some() { "STOPPED" } else { "RUNNING" }.into(),
            stopped: stopped.is_some(),
            stop_reason: stopped.cloned(),
            started_at_ms: None,
        }
    }
}

impl TaskRunner for Tasks {
    fn describe(&self) -> String {
        "in-memory tasks".into()
    }
    fn run(&self, launch: &TaskLaunch) -> Result<RemoteTask, TaskError> {
        let id = format!("arn:aws:ecs:us-east-1:123456789012:task/test/{}", launch.job_id);
        self.0.lock().unwrap().insert(id.clone(), (launch.env(), None));
        Ok(Self::remote(&id, &launch.env(), None))
    }
    fn stop(&self, task_id: &str, reason: &str) -> Result<(), TaskError> {
        let mut t = self.0.lock().unwrap();
        let task = t.get_mut(task_id).ok_or_else(|| format!("no task {task_id}"))?;
        task.1 = Some(reason.to_owned());
        Ok(())
    }
    fn running(&self) -> Result<Vec<RemoteTask>, TaskError> {
        Ok(self.0.lock().unwrap().iter().filter(|(_, (_, s))| s.is_none()).map(|(id, (env, _))| Self::remote(id, env, None)).collect())
    }
    fn tasks(&self, ids: &[String]) -> Result<Vec<RemoteTask>, TaskError> {
        let t = self.0.lock().unwrap();
        Ok(ids.iter().filter_map(|id| t.get(id).map(|(env, s)| Self::remote(id, env, s.as_ref()))).collect())
    }
}

fn setup() -> (tempfile::TempDir, Arc<dyn JobRepository>, Arc<Tasks>, TaskSubmitter) {
    let dir = tempfile::tempdir().unwrap();
    let jobs: Arc<dyn JobRepository> = Arc::new(SqliteJobRepository::open(&dir.path().join("jobs.sqlite")).unwrap());
    let tasks = Arc::new(Tasks::default());
    let submitter = TaskSubmitter::new(Arc::clone(&tasks) as Arc<dyn TaskRunner>, Arc::clone(&jobs));
    (dir, jobs, tasks, submitter)
}

/// A backtest job submitted as the backend does: committed, handed over, reference kept.
fn submit(jobs: &Arc<dyn JobRepository>, s: &TaskSubmitter) -> String {
    let (job, _) = jobs
        .create(NewJob {
            job_type: BACKTEST.into(),
            config: serde_json::json!({"strategy": "EmaCross"}),
            idempotency_key: None,
            label: Some("EmaCross".into()),
        })
        .unwrap();
    let task = s.submit(&job).unwrap();
    jobs.set_execution_ref(&job.id, &task).unwrap();
    job.id
}

#[test]
fn a_job_starts_one_task_with_its_environment_and_a_cancel_stops_it() {
    let (_d, jobs, tasks, s) = setup();
    let id = submit(&jobs, &s);
    let running = tasks.running().unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].job_id.as_deref(), Some(id.as_str()));
    let env = tasks.0.lock().unwrap().values().next().unwrap().0.clone();
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["JOB_ID", "TRADING_MODE", "STRATEGY_NAME", "STRATEGY_STAGE"]);
    assert_eq!(env[1].1, "backtest");
    assert_eq!(env[2].1, "EmaCross");

    // A running job (its container claimed it): the cancel stops the task and records it.
    jobs.claim(&id, "task").unwrap().unwrap();
    jobs.request_cancel(&id).unwrap();
    assert!(s.cancel(&id));
    assert!(tasks.running().unwrap().is_empty());
    assert_eq!(jobs.get(&id).unwrap().status, JobStatus::Cancelled);

    // A job type the container does not run is refused, naming it.
    let (sync, _) =
        jobs.create(NewJob { job_type: "sync".into(), config: serde_json::json!({}), idempotency_key: None, label: None }).unwrap();
    let e = s.submit(&sync).unwrap_err();
    assert!(std::error::Error::source(&e).unwrap().to_string().contains("a sync job does not run in the strategy container"));
}

#[test]
fn the_orphan_scan_fails_jobs_whose_task_stopped() {
    let (_d, jobs, tasks, s) = setup();
    let crashed = submit(&jobs, &s);
    let cancelled = submit(&jobs, &s);
    let healthy = submit(&jobs, &s);
    let forgotten = submit(&jobs, &s);
    let finished = submit(&jobs, &s);
    for id in [&crashed, &cancelled, &healthy, &finished] {
        jobs.claim(id, "task").unwrap().unwrap();
    }
    jobs.transition(&finished, JobStatus::Completed, Some(serde_json::json!({})), None).unwrap();
    jobs.request_cancel(&cancelled).unwrap();
    let arn = |id: &str| jobs.get(id).unwrap().execution_ref.unwrap();
    tasks.stop(&arn(&crashed), "Essential container in task exited").unwrap();
    tasks.stop(&arn(&cancelled), "Task stopped by user").unwrap();
    tasks.stop(&arn(&finished), "Essential container in task exited").unwrap();
    // ECS forgets stopped tasks after a while; this job's task is gone.
    tasks.0.lock().unwrap().remove(&arn(&forgotten));
    // A job of another executor (a queue message id) is not this scan's.
    let (other, _) =
        jobs.create(NewJob { job_type: BACKTEST.into(), config: serde_json::json!({}), idempotency_key: None, label: None }).unwrap();
    jobs.set_execution_ref(&other.id, "3f0c9a4e-message-id").unwrap();

    let dry = s.reconcile(false).unwrap();
    let mut found: Vec<&str> = dry.iter().map(|r| r.job_id.as_str()).collect();
    found.sort_unstable();
    let mut want = vec![crashed.as_str(), cancelled.as_str(), forgotten.as_str()];
    want.sort_unstable();
    assert_eq!(found, want);
    assert_eq!(jobs.get(&crashed).unwrap().status, JobStatus::Running, "a dry run changes nothing");

    let done = s.reconcile(true).unwrap();
    let status = |id: &str| done.iter().find(|r| r.job_id == id).map(|r| r.status.clone());
    assert_eq!(status(&crashed).as_deref(), Some("FAILED"));
    assert_eq!(status(&cancelled).as_deref(), Some("CANCELLED"));
    assert_eq!(status(&forgotten).as_deref(), Some("FAILED"), "a PENDING job whose task is gone will never run");
    let failed = jobs.get(&crashed).unwrap();
    let error = failed.error.unwrap();
    assert_eq!((error.code.as_str(), error.retryable), (TASK_STOPPED, true));
    assert!(error.message.contains("Essential container in task exited") && error.message.contains(&arn(&crashed)), "{}", error.message);
    assert!(jobs.get(&forgotten).unwrap().error.unwrap().message.contains("not known to in-memory tasks"));
    assert_eq!(jobs.get(&healthy).unwrap().status, JobStatus::Running);
    assert_eq!(jobs.get(&finished).unwrap().status, JobStatus::Completed);
    assert_eq!(jobs.get(&other.id).unwrap().status, JobStatus::Pending);
    assert!(s.reconcile(true).unwrap().is_empty(), "nothing left to do");
}
