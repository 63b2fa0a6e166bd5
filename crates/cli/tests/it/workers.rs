//! `EXECUTOR_MODE=sqs` end to end on the AWS emulator, as the "Must show": `tradai
//! deploy apply --env dev` creates the stacks, `tradai up` runs on their outputs (queue, job
//! table, data bucket, results bucket) with its candles in `s3://<data bucket>/candles`, two
//! `tradai worker` processes with their own state dirs share the queue and the table, one is
//! killed with SIGKILL while it runs a job, and every job still completes exactly once with the
//! trades of the CLI's own backtest; the exports are in the results bucket, backend-api reads
//! them back from there (its state dir holds none), and every job is one tracked run. Also the
//! `stepfunctions` and `ecs` modes with `tradai strategy-container` as the task that runs the
//! job.
//!
//! Needs `TRADAI_TEST_AWS_ENDPOINT` (set by `scripts/test.sh`); without it the test prints why
//! it is skipped and passes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tradai_jobs::{JobFilter, JobRepository, JobStatus};

use crate::aws::get_object;
use crate::services::{
    api_trades, cli_reference_export, cli_reference_export_with, import_sample, jobs, submit_args, tradai, wait_final, Up,
};

/// How many backtests the test submits.
const JOBS: usize = 20;

/// AWS settings pointing at the emulator, with dummy credentials (never real ones).
fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_ACCESS_KEY_ID", "tradai-test".into()),
        ("AWS_SECRET_ACCESS_KEY", "tradai-test".into()),
        ("AWS_REGION", "us-east-1".into()),
        // Short orphan and retry times, so a killed worker's job comes back within seconds.
        ("TRADAI_SERVER__ORPHAN_AFTER_SECS", "4".into()),
        ("TRADAI_SERVER__RETRY_BACKOFF_SECS", "1".into()),
    ]
}

/// A running `tradai worker`; killed when dropped.
struct Worker {
    child: Child,
    executor: String,
    log: PathBuf,
}

impl Worker {
    /// A worker on data dir `data` (a directory or `s3://` URL), logging to `log`.
    fn start(data: &Path, queue: &str, envs: &[(&str, String)], log: PathBuf) -> Self {
        let mut c = tradai();
        c.arg("--data-dir").arg(data).args(["--log-format", "json", "worker", "--queue-url", queue, "--workers", "1", "--json"]);
        c.args(["--visibility-timeout-secs", "4", "--wait-secs", "1"]);
        c.stdout(Stdio::piped()).stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in envs {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let start: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!("worker {} did not start ({e}): {line}\n{}", log.display(), std::fs::read_to_string(&log).unwrap_or_default())
        });
        Self { child, executor: start["executor"].as_str().unwrap().to_owned(), log }
    }

    /// Job ids this worker logged as started and as finished.
    fn started_and_finished(&self) -> (Vec<String>, Vec<String>) {
        let (mut started, mut finished) = (Vec::new(), Vec::new());
        for line in std::fs::read_to_string(&self.log).unwrap_or_default().lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let id = v["job_id"].as_str().unwrap_or_default().to_owned();
            match v["message"].as_str() {
                Some("job started") => started.push(id),
                Some("job finished") => finished.push(id),
                _ => {}
            }
        }
        (started, finished)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tradai deploy apply --env dev` into the emulator under a stack prefix no earlier run used;
/// returns the stacks' outputs.
pub(crate) fn deploy_dev(endpoint: &str) -> serde_json::Value {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let prefix = format!("w{:010x}", nanos & 0xff_ffff_ffff);
    let mut c = crate::aws::on_aws(endpoint);
    c.args(["deploy", "apply", "--env", "dev", "--stack-prefix", &prefix]);
    let out = crate::aws::ok(c, "deploy apply");
    crate::data::json_of(&out)["outputs"].clone()
}

#[test]
fn sqs_workers_complete_every_job_once_when_one_is_killed() {
    let Some(endpoint) = crate::aws::endpoint() else { return };
    let overrides = crate::aws::emulator_overrides(&endpoint);
    let outputs = deploy_dev(&endpoint);
    let output = |k: &str| outputs[k].as_str().unwrap_or_else(|| panic!("no output {k}: {outputs}")).to_owned();
    let (queue, table, data_bucket, results_bucket) =
        (output("queue_url"), output("table_name"), output("data_bucket"), output("results_bucket"));
    let repo = tradai_aws::DynamoJobRepository::connect(&table, &overrides, false).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    // The candles in the stack's data bucket; each process keeps its local state apart.
    let s3_data = format!("s3://{data_bucket}/candles");
    let data = Path::new(&s3_data);
    let mut envs = aws_env(&endpoint);
    {
        let mut import = crate::aws::on_aws(&endpoint);
        let sample = crate::data::repo().join("sample-data/binance");
        import.args(["-q", "--data-dir", &s3_data, "data", "import", "freqtrade"]).arg(&sample).args(["--exchange", "binance"]);
        import.arg("--markets").arg(sample.join("markets.json"));
        crate::aws::ok(import, "import into the data bucket");
    }
    // The reference: the CLI's own backtest of the same request, on the same S3 candles.
    let cli = cli_reference_export_with(crate::aws::on_aws(&endpoint), data, tmp.path());
    assert!(cli["trades"].as_array().is_some_and(|t| !t.is_empty()));

    let tracking = tmp.path().join("tracking");
    envs.extend([
        ("DYNAMODB_TABLE_NAME", table.clone()),
        // A bare bucket name: the artifacts go under `results/`.
        ("S3_RESULTS_BUCKET", results_bucket.clone()),
        // One embedded tracker for the API and the workers (an MLflow server in production).
        ("TRADAI_TRACKING__URI", tracking.display().to_string()),
    ]);
    let api_state = tmp.path().join("api-state");
    let mut up_envs = envs.clone();
    up_envs.extend([
        ("EXECUTOR_MODE", "sqs".to_owned()),
        ("BACKEND_BACKTEST_QUEUE_URL", queue.clone()),
        ("TRADAI_STATE_DIR", api_state.display().to_string()),
    ]);
    let up_envs: Vec<(&str, &str)> = up_envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let up = Up::start_at(data.as_os_str(), tmp.path().join("up.log"), &up_envs);
    assert!(up.log().contains("remote executor"), "{}", up.log());

    let worker_envs = |name: &str| {
        let mut e = envs.clone();
        e.push(("TRADAI_STATE_DIR", tmp.path().join(format!("{name}-state")).display().to_string()));
        e
    };
    let mut doomed = Worker::start(data, &queue, &worker_envs("worker-a"), tmp.path().join("worker-a.log"));
    let survivor = Worker::start(data, &queue, &worker_envs("worker-b"), tmp.path().join("worker-b.log"));
    let started = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..JOBS {
        let (ok, sub, err) = jobs(&up.backend, &submit_args());
        assert!(ok, "submit failed: {err}\n{}", up.log());
        ids.push(sub["job_id"].as_str().unwrap().to_owned());
    }
    // Kill worker A while it runs a job: freeze it (SIGSTOP) when the table shows it running
    // one, let writes already on the wire land, and SIGKILL it only if the job is still its
    // and RUNNING; otherwise thaw it and try again.
    let running = JobFilter { status: Some(JobStatus::Running), ..JobFilter::default() };
    let signal = |sig: &str, pid: u32| assert!(Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
    let is_a = |e: Option<&str>| e.is_some_and(|e| e.starts_with(&doomed.executor));
    let killed_job = loop {
        let page = repo.list(&running).unwrap();
        if let Some(j) = page.items.iter().find(|j| is_a(j.executor_id.as_deref())) {
            signal("-STOP", doomed.child.id());
            std::thread::sleep(Duration::from_millis(300));
            let now = repo.get(&j.id).unwrap();
            if now.status == JobStatus::Running && is_a(now.executor_id.as_deref()) {
                doomed.child.kill().unwrap();
                doomed.child.wait().unwrap();
                break j.id.clone();
            }
            signal("-CONT", doomed.child.id());
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "worker A never ran a job:\n{}",
            std::fs::read_to_string(&doomed.log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(5));
    };

    let mut finals = BTreeMap::new();
    for id in &ids {
        finals.insert(id.clone(), wait_final(&up.backend, id, Duration::from_secs(600)));
    }
    let wall = started.elapsed();
    eprintln!("{JOBS} backtests over SQS with 2 workers (one killed) in {:.1} s", wall.as_secs_f64());
    for (id, j) in &finals {
        assert_eq!(j["status"], "COMPLETED", "job {id}: {j}\n{}", std::fs::read_to_string(&survivor.log).unwrap());
    }

    // Exactly once: each job finished in one worker's log, once, and the killed run never did.
    let (a_started, a_finished) = doomed.started_and_finished();
    let (b_started, b_finished) = survivor.started_and_finished();
    assert!(a_started.contains(&killed_job) && !a_finished.contains(&killed_job), "worker A was killed while running {killed_job}");
    assert!(b_started.contains(&killed_job), "the killed job ran again on worker B");
    let mut all_finished: Vec<String> = a_finished.iter().chain(&b_finished).cloned().collect();
    all_finished.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(all_finished, want, "every job finished exactly once across the workers");
    assert_eq!(repo.get(&killed_job).unwrap().attempts, 2, "the killed job completed on its second attempt");
    assert_eq!(finals[&killed_job]["attempts"], 2);

    // backend-api ran none of the jobs, so it reads their results from the results bucket.
    assert!(!api_state.join("results").exists(), "the API's state dir holds no results");
    // The same trades as the CLI, for every job (the re-run one included).
    for id in &ids {
        assert_eq!(api_trades(&up.backend, id), cli["trades"], "job {id}");
    }
    // The exports are in the results bucket, with the CLI's trades.
    for id in &ids {
        let export = get_object(&endpoint, &results_bucket, &format!("results/{id}/export.json"))
            .unwrap_or_else(|| panic!("no export of {id} in S3"));
        let export: serde_json::Value = serde_json::from_slice(&export).unwrap();
        assert_eq!(export["trades"], cli["trades"], "export of {id} in S3");
        assert!(get_object(&endpoint, &results_bucket, &format!("results/{id}/equity.svg")).is_some_and(|svg| svg.starts_with(b"<svg")));
        assert!(get_object(&endpoint, &results_bucket, &format!("results/{id}/report.txt")).is_some());
    }
    // Every job is one tracked run, logged by the worker that finished it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let tracked = loop {
        let mut c = tradai();
        c.env("TRADAI_TRACKING__URI", &tracking).args(["runs", "list", "--experiment", "backtests/EmaCross", "--max", "100", "--json"]);
        let out = c.output().unwrap();
        let runs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let jobs: Vec<String> = runs.iter().filter_map(|r| r["tags"]["tradai.job_id"].as_str().map(str::to_owned)).collect();
        if jobs.len() >= JOBS || Instant::now() > deadline {
            break jobs;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(tracked.len(), JOBS, "one run per job: {tracked:?}");
    assert_eq!(tracked.iter().cloned().collect::<BTreeSet<_>>(), want.iter().cloned().collect::<BTreeSet<_>>());
    // Nothing left on the queue.
    let q = tradai_aws::SqsJobQueue::connect(&queue, &overrides, tradai_aws::QueueTiming::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while q.depth().unwrap() != (0, 0) {
        assert!(Instant::now() < deadline, "messages left on the queue: {:?}", q.depth().unwrap());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(repo.count_by_status().unwrap(), vec![(JobStatus::Completed, JOBS)]);
    drop(survivor);
    drop(up);
}

/// A missing queue stops `tradai worker` and the backend's start-up with its URL.
#[test]
fn a_missing_queue_is_named_at_start_up() {
    let Some(endpoint) = crate::aws::endpoint() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let queue = format!("{endpoint}/123456789012/tradai-test-no-such-queue");
    let mut c = tradai();
    c.arg("--data-dir").arg(&data).args(["worker", "--queue-url", &queue]);
    for (k, v) in aws_env(&endpoint) {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("tradai-test-no-such-queue"), "{err}");

    let mut c = tradai();
    c.arg("--data-dir").arg(&data).args(["up", "--backend-port", "0", "--data-collection-port", "0", "--strategy-service-port", "0"]);
    for (k, v) in aws_env(&endpoint) {
        c.env(k, v);
    }
    c.env("EXECUTOR_MODE", "sqs").env("BACKEND_BACKTEST_QUEUE_URL", &queue).stdout(Stdio::null());
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("tradai-test-no-such-queue"), "{err}");
}

/// `ENVIRONMENT=dev`: the seeds' `create_with_fallback`, an unreachable queue degrades the
/// backend to the local executor, which runs the job.
#[test]
fn dev_falls_back_to_the_local_executor() {
    let Some(endpoint) = crate::aws::endpoint() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    import_sample(&data);
    let queue = format!("{endpoint}/123456789012/tradai-test-no-such-queue");
    let envs: Vec<(&str, String)> = aws_env(&endpoint)
        .into_iter()
        .chain([("EXECUTOR_MODE", "sqs".to_owned()), ("BACKEND_BACKTEST_QUEUE_URL", queue), ("ENVIRONMENT", "dev".to_owned())])
        .collect();
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let up = Up::start(&data, &envs);
    assert!(up.log().contains("falling back to the local executor"), "{}", up.log());
    let (ok, sub, err) = jobs(&up.backend, &submit_args());
    assert!(ok, "{err}");
    let done = wait_final(&up.backend, sub["job_id"].as_str().unwrap(), Duration::from_secs(300));
    assert_eq!(done["status"], "COMPLETED", "{done}");
}

/// `EXECUTOR_MODE=stepfunctions`: each backtest starts one execution of the generated workflow,
/// its ARN kept on the job; the emulator never runs the ECS task, so the test runs what the
/// task would, `tradai strategy-container` with the task's environment; a cancel stops the
/// execution.
#[test]
fn stepfunctions_starts_one_execution_per_job_and_the_container_runs_it() {
    let Some(endpoint) = crate::aws::endpoint() else { return };
    let overrides = crate::aws::emulator_overrides(&endpoint);
    let suffix = crate::aws::uuid_like();
    let table = format!("tradai-test-sfn-{suffix}");
    let repo = tradai_aws::DynamoJobRepository::connect(&table, &overrides, true).unwrap();
    let account = "123456789012";
    let workflow = crate::aws_workflow::test_workflow(account, &table);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cfg = rt.block_on(tradai_aws::load_sdk_config(&overrides));
    let sfn = tradai_aws::sfn::Client::new(&cfg);
    let machine = rt.block_on(async {
        let def = tradai_aws::backtest_state_machine(&workflow);
        let out = sfn
            .create_state_machine()
            .name(format!("tradai-backtest-{suffix}"))
            .definition(def.to_string())
            .role_arn(format!("arn:aws:iam::{account}:role/tradai-sfn-test"))
            .send()
            .await
            .unwrap();
        out.state_machine_arn().to_owned()
    });

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    import_sample(&data);
    // The container's candles are on S3 and its state on its own disk; the backend reads the
    // job's results from the results bucket.
    let bucket = format!("tradai-test-sfn-{suffix}");
    crate::aws::create_bucket(&endpoint, &bucket);
    let s3_data = format!("s3://{bucket}/candles");
    {
        let mut import = crate::aws::on_aws(&endpoint);
        let sample = crate::data::repo().join("sample-data/binance");
        import.args(["-q", "--data-dir", &s3_data, "data", "import", "freqtrade"]).arg(&sample).args(["--exchange", "binance"]);
        import.arg("--markets").arg(sample.join("markets.json"));
        crate::aws::ok(import, "import into S3");
    }
    let mut envs = aws_env(&endpoint);
    envs.push(("DYNAMODB_TABLE_NAME", table.clone()));
    envs.push(("TRADAI_RESULTS_BUCKET", format!("s3://{bucket}/results")));
    let mut up_envs = envs.clone();
    up_envs.extend([("EXECUTOR_MODE", "stepfunctions".to_owned()), ("BACKEND_STEPFUNCTIONS_STATE_MACHINE_ARN", machine.clone())]);
    let up_envs: Vec<(&str, &str)> = up_envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let up = Up::start(&data, &up_envs);
    let (ok, sub, err) = jobs(&up.backend, &submit_args());
    assert!(ok, "submit failed: {err}\n{}", up.log());
    let id = sub["job_id"].as_str().unwrap().to_owned();

    // The execution is started under the job's name and its ARN kept on the job.
    let stored = repo.get(&id).unwrap();
    assert_eq!(stored.status, JobStatus::Pending, "nothing runs it but the container");
    let execution = stored.execution_ref.clone().expect("the execution ARN is stored on the job");
    assert!(execution.ends_with(&format!(":backtest-{id}")), "{execution}");
    rt.block_on(async {
        let e = sfn.describe_execution().execution_arn(&execution).send().await.unwrap();
        assert_eq!(e.status().as_str(), "RUNNING");
        let input: serde_json::Value = serde_json::from_str(e.input().unwrap()).unwrap();
        assert_eq!((input["job_id"].as_str(), input["strategy_name"].as_str()), (Some(id.as_str()), Some("EmaCross")));
    });

    // What the RunBacktest task runs.
    let container = |strategy: &str| {
        let mut c = tradai();
        c.args(["--data-dir", &s3_data, "strategy-container", "--json"]).env("TRADAI_STATE_DIR", tmp.path().join("container-state"));
        for (k, v) in &envs {
            c.env(k, v);
        }
        c.env("TRADING_MODE", "backtest").env("STRATEGY_NAME", strategy).env("STRATEGY_STAGE", "None").env("JOB_ID", &id);
        c.output().unwrap()
    };
    let wrong = container("RsiReversal");
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success() && err.contains("'RsiReversal'"), "{err}");
    let out = container("EmaCross");
    assert!(out.status.success(), "strategy-container failed: {}", String::from_utf8_lossy(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((printed["status"].as_str(), printed["attempts"].as_u64()), (Some("COMPLETED"), Some(1)));
    let done = wait_final(&up.backend, &id, Duration::from_secs(30));
    assert_eq!(done["status"], "COMPLETED");
    // The backend has no local copy: the trades come from the results bucket.
    assert!(!data.join("_tradai/results").join(&id).exists());
    assert!(api_trades(&up.backend, &id).as_array().is_some_and(|t| !t.is_empty()));
    // A second task for the same job (ECS may start one twice) runs nothing.
    let again = container("EmaCross");
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(repo.get(&id).unwrap().attempts, 1, "the job ran once");

    // A cancel stops the job's execution.
    let (ok, sub, err) = jobs(&up.backend, &submit_args());
    assert!(ok, "{err}");
    let second = sub["job_id"].as_str().unwrap().to_owned();
    let (ok, _, err) = jobs(&up.backend, &["cancel", &second]);
    assert!(ok, "cancel failed: {err}");
    let execution = repo.get(&second).unwrap().execution_ref.unwrap();
    rt.block_on(async {
        let e = sfn.describe_execution().execution_arn(&execution).send().await.unwrap();
        assert_eq!(e.status().as_str(), "ABORTED", "the cancel stopped the execution");
    });
    assert_eq!(repo.get(&second).unwrap().status, JobStatus::Cancelled);
}

/// `tradai handlers run NAME` with `event` on stdin and `envs`; the response (step-functions
/// shape).
fn run_handler(data: &Path, envs: &[(&str, String)], name: &str, event: &serde_json::Value) -> serde_json::Value {
    use std::io::Write;
    let mut c = tradai();
    c.arg("--data-dir").arg(data).args(["handlers", "run", name, "--event", "-"]);
    for (k, v) in envs {
        c.env(k, v);
    }
    let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(event.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{name} failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // The response as `to_dict` prints it: the body's fields lifted beside the top-level ones
    // (an SQS consumer's `batchItemFailures`).
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    if let Some(body) = v.get("body").and_then(|b| b.as_str()).and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok()) {
        if let (Some(top), Some(fields)) = (v.as_object_mut(), body.as_object()) {
            for (k, f) in fields {
                top.entry(k.clone()).or_insert_with(|| f.clone());
            }
        }
    }
    v
}

/// `EXECUTOR_MODE=ecs`: each backtest is one RunTask of the strategy container with the job in
/// the container's overrides and its task ARN kept on the job. The emulator never runs the
/// container, so the test runs what the task would, `tradai strategy-container` with the
/// environment DescribeTasks reports, and gets the CLI's trades. A cancel is a StopTask (of a
/// pending and of a running job); a job whose task stopped while it ran is failed with the
/// task's stop reason by the orphan scan; backtest-consumer starts its backtests through the same
/// submitter.
#[test]
fn ecs_runs_each_backtest_as_a_task_of_the_strategy_container() {
    let Some(endpoint) = crate::aws::endpoint() else { return };
    let overrides = crate::aws::emulator_overrides(&endpoint);
    let suffix = crate::aws::uuid_like();
    let table = format!("tradai-test-ecs-{suffix}");
    let repo = tradai_aws::DynamoJobRepository::connect(&table, &overrides, true).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spec = rt.block_on(async {
        let cfg = tradai_aws::load_sdk_config(&overrides).await;
        tradai_aws::emulator::ecs_fixture(&cfg, &endpoint, &format!("tradai-test-strategy-{suffix}"), "strategy-container").await.unwrap()
    });
    let tasks = tradai_aws::EcsTasks::connect(spec.clone(), &overrides).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    import_sample(&data);
    let cli = cli_reference_export(&data, tmp.path());
    let mut envs = aws_env(&endpoint);
    envs.push(("DYNAMODB_TABLE_NAME", table.clone()));
    let mut ecs_envs = envs.clone();
    ecs_envs.extend([
        ("EXECUTOR_MODE", "ecs".to_owned()),
        ("BACKEND_ECS_CLUSTER", spec.cluster.clone()),
        ("BACKEND_ECS_TASK_DEFINITION", spec.task_definition.clone()),
        ("BACKEND_ECS_SUBNETS", spec.subnets.join(",")),
        ("BACKEND_ECS_SECURITY_GROUPS", spec.security_groups.join(",")),
    ]);
    let up_envs: Vec<(&str, &str)> = ecs_envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let up = Up::start(&data, &up_envs);
    assert!(up.log().contains("remote executor"), "{}", up.log());
    let submit = || {
        let (ok, sub, err) = jobs(&up.backend, &submit_args());
        assert!(ok, "submit failed: {err}\n{}", up.log());
        sub["job_id"].as_str().unwrap().to_owned()
    };
    let task_of = |id: &str| {
        let arn = repo.get(id).unwrap().execution_ref.expect("the task ARN is stored on the job");
        tasks.describe(std::slice::from_ref(&arn)).unwrap().tasks.pop().unwrap_or_else(|| panic!("ECS does not know task {arn}"))
    };

    // One task per job, the job in its overrides.
    let id = submit();
    let stored = repo.get(&id).unwrap();
    assert_eq!(stored.status, JobStatus::Pending, "nothing runs it but the container");
    let task = task_of(&id);
    assert!(task.arn.contains(":task/") && task.last_status == "RUNNING", "{task:?}");
    assert_eq!(
        (task.env("JOB_ID"), task.env("TRADING_MODE"), task.env("STRATEGY_NAME"), task.env("STRATEGY_STAGE")),
        (Some(id.as_str()), Some("backtest"), Some("EmaCross"), Some("None"))
    );
    assert!(tasks.list(false).unwrap().contains(&task.arn));

    // What ECS would run: the container with the task's environment.
    let mut c = tradai();
    c.arg("--data-dir").arg(&data).args(["strategy-container", "--json"]);
    for (k, v) in envs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).chain(task.environment.clone()) {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "strategy-container failed: {}", String::from_utf8_lossy(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((printed["status"].as_str(), printed["attempts"].as_u64()), (Some("COMPLETED"), Some(1)));
    let done = wait_final(&up.backend, &id, Duration::from_secs(30));
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(api_trades(&up.backend, &id), cli["trades"], "the trades of the local executor");

    // Cancel a pending job: its task is stopped.
    let pending = submit();
    let (ok, _, err) = jobs(&up.backend, &["cancel", &pending]);
    assert!(ok, "cancel failed: {err}");
    let stopped = task_of(&pending);
    assert_eq!(stopped.last_status, "STOPPED");
    assert!(stopped.stopped_reason.as_deref().is_some_and(|r| r.contains("cancelled")), "{stopped:?}");
    assert_eq!(repo.get(&pending).unwrap().status, JobStatus::Cancelled);
    // Cancel a running one (its container claimed it): the task stops and the job is CANCELLED.
    let running = submit();
    assert!(repo.claim(&running, "ecs-task").unwrap().is_some());
    let (ok, _, err) = jobs(&up.backend, &["cancel", &running]);
    assert!(ok, "cancel failed: {err}");
    assert_eq!(task_of(&running).last_status, "STOPPED");
    assert_eq!(repo.get(&running).unwrap().status, JobStatus::Cancelled);

    // The task of a running job stops (the container died): the orphan scan fails the job
    // with the task's stop reason.
    let orphan = submit();
    assert!(repo.claim(&orphan, "ecs-task").unwrap().is_some());
    tasks.stop(&task_of(&orphan).arn, "Essential container in task exited").unwrap();
    let dry = run_handler(&data, &ecs_envs, "orphan-scanner", &serde_json::json!({}));
    assert_eq!(dry["stopped_task_jobs"][0]["job_id"], orphan.as_str(), "{dry}");
    assert_eq!(repo.get(&orphan).unwrap().status, JobStatus::Running, "a dry run changes nothing");
    let scan = run_handler(&data, &ecs_envs, "orphan-scanner", &serde_json::json!({"dry_run": false}));
    let found = scan["stopped_task_jobs"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{scan}");
    assert_eq!((found[0]["job_id"].as_str(), found[0]["status"].as_str()), (Some(orphan.as_str()), Some("FAILED")));
    let failed = repo.get(&orphan).unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    let error = failed.error.unwrap();
    assert_eq!(error.code, "task_stopped");
    assert!(error.message.contains("Essential container in task exited"), "{}", error.message);
    let (_, shown, _) = jobs(&up.backend, &["status", &orphan]);
    assert!(shown["error"]["message"].as_str().is_some_and(|m| m.contains("Essential container in task exited")), "{shown}");

    // backtest-consumer starts the task through the same submitter, once per message.
    let body = serde_json::json!({"config": {"strategy": "EmaCross", "pairs": ["ETH/BTC"], "timeframe": "5m", "stake_amount": 0.05}});
    let event = serde_json::json!({"Records": [{"messageId": format!("m-{suffix}"), "body": body.to_string()}]});
    let r = run_handler(&data, &ecs_envs, "backtest-consumer", &event);
    assert_eq!(r["batchItemFailures"], serde_json::json!([]), "{r}");
    let launched = &r["tasks"][0];
    let (job, arn) = (launched["job_id"].as_str().unwrap().to_owned(), launched["task_id"].as_str().unwrap().to_owned());
    assert!(arn.contains(":task/") && launched["created"] == true, "{r}");
    let task = task_of(&job);
    assert_eq!(task.arn, arn);
    assert_eq!((task.env("JOB_ID"), task.env("STRATEGY_NAME")), (Some(job.as_str()), Some("EmaCross")));
    let again = run_handler(&data, &ecs_envs, "backtest-consumer", &event);
    assert_eq!((again["tasks"][0]["task_id"].as_str(), again["tasks"][0]["created"].as_bool()), (Some(arn.as_str()), Some(false)));
}

/// A missing `BACKEND_ECS_*` setting is named at start-up, before anything listens.
#[test]
fn ecs_mode_names_a_missing_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tradai()
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["up", "--backend-port", "0", "--data-collection-port", "0", "--strategy-service-port", "0"])
        .env("EXECUTOR_MODE", "ecs")
        .env("DYNAMODB_TABLE_NAME", "t")
        .env("BACKEND_ECS_CLUSTER", "tradai-dev")
        .env("BACKEND_ECS_TASK_DEFINITION", "tradai-dev-strategy-container")
        .env("BACKEND_ECS_SUBNETS", "subnet-1")
        .env_remove("BACKEND_ECS_SECURITY_GROUPS")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("EXECUTOR_MODE=ecs needs BACKEND_ECS_SECURITY_GROUPS"), "{err}");
}

/// `TRADING_MODE=dry-run` runs a trading node (`tradai trade`'s code path) for `STRATEGY_NAME`,
/// with `tradai trade` flags after `--`: a replay gives the backtest's export; an unknown mode
/// or a node without a strategy fails with one line naming it.
#[test]
fn strategy_container_runs_a_trading_node_in_dry_run() {
    let dir = crate::data::imported_store();
    let d = dir.path().to_str().unwrap();
    let flags = crate::backtest::run_flags(d, "EmaCross", "3");
    let bt_out = dir.path().join("container.backtest.json");
    let mut bt = vec!["backtest".to_owned()];
    bt.extend_from_slice(&flags);
    bt.extend(["--export".into(), bt_out.to_str().unwrap().into()]);
    crate::data::run_ok(&crate::trade::strs(&bt));

    // The container's own flags give data dir and strategy; the rest are tradai trade's.
    let trade_flags: Vec<&String> = flags.chunks(2).filter(|kv| !matches!(kv[0].as_str(), "--data-dir" | "--strategy")).flatten().collect();
    let tr_out = dir.path().join("container.replay.json");
    let container = |mode: &str, strategy: Option<&str>| {
        let mut c = tradai();
        c.args(["--data-dir", d, "-q", "strategy-container", "--json", "--"]).args(&trade_flags);
        c.args(["--replay", "--bot-id", "container-dry", "--export"]).arg(&tr_out);
        c.env("TRADING_MODE", mode).env("STRATEGY_STAGE", "None").env_remove("JOB_ID").env_remove("STRATEGY_NAME");
        if let Some(s) = strategy {
            c.env("STRATEGY_NAME", s);
        }
        c.output().unwrap()
    };
    let out = container("dry-run", Some("EmaCross"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((printed["bot_id"].as_str(), printed["replay"].as_bool()), (Some("container-dry"), Some(true)), "{printed}");
    let (replay, backtest) = (crate::trade::read(&tr_out), crate::trade::read(&bt_out));
    assert!(!replay["trades"].as_array().unwrap().is_empty());
    crate::trade::assert_same_export(&replay, &backtest, "strategy container dry-run");

    for (mode, strategy, named) in [("paper", Some("EmaCross"), "TRADING_MODE 'paper'"), ("dry-run", None, "needs STRATEGY_NAME")] {
        let out = container(mode, strategy);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(named), "{mode}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}
