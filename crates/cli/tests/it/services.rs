//! `tradai up` end to end, on free loopback ports: a backtest over HTTP gives the CLI's trades,
//! hyperopt and sync jobs run through the job system (hyperopt as a `tradai hyperopt` child
//! process, the sync against a fake Binance on 127.0.0.1), a SIGKILL during a running job never
//! loses it, a hyperopt run stopped by SIGTERM or three SIGKILLs resumes from its checkpoint to
//! the uninterrupted result, a damaged or emptied job database stops the start, the executor
//! refuses bad settings at start-up, and API keys guard submissions.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn tradai() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tradai"));
    // Keep the caller's settings and keys out of the test.
    c.env_remove("TRADAI_CONFIG").env_remove("TRADAI_API_KEY").env_remove("TRADAI_API_URL").current_dir(std::env::temp_dir());
    c
}

pub(crate) use crate::data::import_sample;
use crate::data::{reference_flags, REFERENCE_MARKET};

/// A running `tradai up`; killed (SIGKILL) when dropped.
pub(crate) struct Up {
    child: Child,
    pub(crate) backend: String,
    pub(crate) data: String,
    pub(crate) strategy: String,
    stderr: PathBuf,
}

impl Up {
    pub(crate) fn start(data: &Path, envs: &[(&str, &str)]) -> Self {
        Self::start_at(data.as_os_str(), data.with_extension(format!("up-{}.log", std::process::id())), envs)
    }

    /// `tradai up` on data dir `data` (a directory or an `s3://` URL), its log in `stderr`.
    pub(crate) fn start_at(data: &std::ffi::OsStr, stderr: PathBuf, envs: &[(&str, &str)]) -> Self {
        let mut cmd = tradai();
        cmd.arg("--data-dir")
            .arg(data)
            .args(["up", "--backend-port", "0", "--data-collection-port", "0", "--strategy-service-port", "0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut backend, mut data, mut strategy) = (None, None, None);
        for _ in 0..3 {
            let Some(Ok(line)) = lines.next() else {
                panic!("tradai up stopped early: {}", std::fs::read_to_string(&stderr).unwrap_or_default());
            };
            if let Some(url) = line.strip_prefix("backend-api: ") {
                backend = Some(url.to_owned());
            }
            if let Some(url) = line.strip_prefix("data-collection: ") {
                data = Some(url.to_owned());
            }
            if let Some(url) = line.strip_prefix("strategy-service: ") {
                strategy = Some(url.to_owned());
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            backend: backend.expect("backend-api address"),
            data: data.expect("data-collection address"),
            strategy: strategy.unwrap_or_default(),
            stderr,
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn jobs(api: &str, args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = tradai().args(["jobs"]).args(args).args(["--api", api, "--json"]).output().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), json, String::from_utf8_lossy(&out.stderr).into_owned())
}

pub(crate) fn submit_args() -> Vec<&'static str> {
    [&["submit", "--strategy", "EmaCross"][..], &REFERENCE_MARKET, &["--max-open-trades", "3", "--fee", "0.001"]].concat()
}

/// Polls a job until it is final; panics after `within`.
pub(crate) fn wait_final(api: &str, id: &str, within: Duration) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let (ok, j, err) = jobs(api, &["status", id]);
        assert!(ok, "status failed: {err}");
        if matches!(j["status"].as_str(), Some("COMPLETED" | "FAILED" | "CANCELLED")) {
            return j;
        }
        assert!(start.elapsed() < within, "job {id} still {} after {within:?}", j["status"]);
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn api_trades(api: &str, id: &str) -> serde_json::Value {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let c = tradai_server::clients::BackendClient::new(api, None, tradai_server::clients::SERVICE_RETRY);
    let t = rt.block_on(c.trades(id)).unwrap();
    serde_json::to_value(t.trades).unwrap()
}

/// The export of the CLI's own backtest of [`submit_args`]'s request (written under `dir`):
/// the reference every executor's result is compared with.
pub(crate) fn cli_reference_export(data: &Path, dir: &Path) -> serde_json::Value {
    cli_reference_export_with(tradai(), data, dir)
}

/// [`cli_reference_export`] run by `tradai` (a command with its environment, e.g. the AWS
/// emulator's, for a data dir on S3).
pub(crate) fn cli_reference_export_with(mut tradai: Command, data: &Path, dir: &Path) -> serde_json::Value {
    let export = dir.join("cli.json");
    let out = tradai
        .args(["--quiet", "backtest", "--strategy", "EmaCross"])
        .args(reference_flags(data.to_str().unwrap(), "3"))
        .arg("--export")
        .arg(&export)
        .output()
        .unwrap();
    assert!(out.status.success(), "CLI backtest failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap()
}

#[test]
fn up_runs_a_backtest_over_http_with_the_same_trades_as_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    import_sample(&data);
    let cli = cli_reference_export(&data, tmp.path());

    let up = Up::start(&data, &[]);
    assert!(up.log().contains("127.0.0.1 only"), "no-key start-up must say it binds to loopback: {}", up.log());
    let mut args = submit_args();
    args.extend(["--idempotency-key", "e2e-1"]);
    let (ok, sub, err) = jobs(&up.backend, &args);
    assert!(ok, "submit failed: {err}");
    let id = sub["job_id"].as_str().unwrap().to_owned();
    let (ok, again, _) = jobs(&up.backend, &args);
    assert!(ok);
    assert_eq!(again["job_id"], id.as_str(), "a duplicate Idempotency-Key returns the first job");
    assert_eq!(again["created"], false);

    let done = wait_final(&up.backend, &id, Duration::from_secs(300));
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", up.log());
    assert_eq!(done["progress"], 1.0);
    let trades = api_trades(&up.backend, &id);
    assert!(!trades.as_array().unwrap().is_empty());
    assert_eq!(trades, cli["trades"], "API and CLI trades differ");
    assert_eq!(done["result"]["summary"], cli["summary"]);
    let (ok, list, _) = jobs(&up.backend, &["list", "--status", "COMPLETED"]);
    assert!(ok);
    assert_eq!(list["total"], 1);
    drop(up);

    // The subprocess executor runs `tradai backtest --export` itself: same trades again.
    let up = Up::start(&data, &[("TRADAI_SERVER__EXECUTOR", "subprocess")]);
    let (ok, sub, err) = jobs(&up.backend, &submit_args());
    assert!(ok, "submit failed: {err}");
    let id = sub["job_id"].as_str().unwrap().to_owned();
    let done = wait_final(&up.backend, &id, Duration::from_secs(300));
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", up.log());
    assert_eq!(api_trades(&up.backend, &id), cli["trades"], "subprocess executor trades differ");
}

#[test]
fn jobs_submit_wait_draws_its_bar_only_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    import_sample(&data);
    let up = Up::start(&data, &[]);
    let mut args: Vec<&str> = vec!["jobs"];
    args.extend(submit_args());
    args.extend(["--wait", "--api", &up.backend]);

    // Redirected (a pipe, as in CI logs and `> file`): the final status only, no bar frames.
    let out = tradai().args(&args).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}\n{}", up.log());
    assert!(stdout.contains("COMPLETED"), "{stdout}");
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "progress frames in redirected {name}: {text:?}");
    }

    // On a terminal (a pseudo-terminal from util-linux's `script`), the bar is drawn: the
    // check above would pass for a command that never draws one.
    let has_script = Command::new("script").arg("--version").output().is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!("no `script` on PATH: the terminal half of this test is skipped");
        return;
    }
    let line = std::iter::once(env!("CARGO_BIN_EXE_tradai")).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]).current_dir(std::env::temp_dir());
    for k in ["TRADAI_CONFIG", "TRADAI_API_KEY", "TRADAI_API_URL"] {
        script.env_remove(k);
    }
    let out = script.output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    // The bar's frame: its prefix and the bar's brackets, redrawn after a carriage return.
    assert!(shown.contains("COMPLETED") && shown.contains("job [") && shown.contains('\r'), "no bar on a terminal: {shown:?}");
}

/// One HTTP/1.1 request with a JSON body to `base` (`http://host:port`); status and JSON answer.
pub(crate) fn http(base: &str, method: &str, path: &str, body: Option<&serde_json::Value>) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    let body = body.map(ToString::to_string).unwrap_or_default();
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    let status = resp.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = resp.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Polls `path` until the job there is final; panics after `within`.
pub(crate) fn wait_final_at(base: &str, path: &str, within: Duration) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let (status, j) = http(base, "GET", path, None);
        assert_eq!(status, 200, "{path}: {j}");
        if matches!(j["status"].as_str(), Some("COMPLETED" | "FAILED" | "CANCELLED")) {
            return j;
        }
        assert!(start.elapsed() < within, "{path} still {} after {within:?}", j["status"]);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn up_runs_hyperopt_and_sync_jobs_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    import_sample(&data);
    let fake = crate::sync::start_fake();
    let envs = [
        ("TRADAI_SERVER__EXECUTOR", "subprocess"),
        ("TRADAI_BINANCE_SPOT_URL", fake.url.as_str()),
        ("TRADAI_BINANCE_FUTURES_URL", fake.url.as_str()),
    ];
    let up = Up::start(&data, &envs);

    // A hyperopt run, as a `tradai hyperopt` child process of the subprocess executor.
    let body = serde_json::json!({"strategy": "EmaCross", "pairs": ["ETH/BTC", "LTC/BTC"], "timeframe": "5m", "stake_amount": 0.05,
        "dry_run_wallet": 1, "epochs": 8, "spaces": ["buy", "roi"], "seed": 1, "jobs": 1, "split": 0.7});
    let (status, sub) = http(&up.backend, "POST", "/api/v1/hyperopt", Some(&body));
    assert_eq!(status, 202, "{sub}");
    let done = wait_final_at(&up.backend, sub["status_url"].as_str().unwrap(), Duration::from_secs(300));
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", up.log());
    assert_eq!(done["progress_detail"]["epochs_done"], 8, "progress read from the child's lines: {done}");
    assert_eq!(done["result"]["epochs"], 8);
    assert!(done["result"]["out_of_sample"]["out_of_sample"].is_object(), "{done}");
    let (status, cfg) = http(&up.backend, "GET", &format!("/api/v1/hyperopt/{}/config", done["job_id"].as_str().unwrap()), None);
    assert_eq!(status, 200, "{cfg}");
    for k in ["fast", "slow"] {
        assert_eq!(cfg["params"][k], done["result"]["best_params"][k], "{k}: {cfg}");
    }

    // A sync from the fake Binance, submitted to data-collection, followed on backend-api.
    let body = serde_json::json!({"pairs": ["BTC/USDT", "ETH/USDT:USDT"], "timeframe": "1h", "start": "2024-01-01", "end": "2024-01-15"});
    let (status, sub) = http(&up.data, "POST", "/api/v1/data/sync", Some(&body));
    assert_eq!(status, 202, "{sub}");
    let done = wait_final_at(&up.backend, &format!("/api/v1/jobs/{}", sub["job_id"].as_str().unwrap()), Duration::from_secs(60));
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", up.log());
    assert_eq!(done["result"]["candles_written"], 2 * 14 * 24);
    let out = tradai().arg("--data-dir").arg(&data).args(["data", "list", "--json", "--exchange", "binance"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = |pair: &str| list.as_array().unwrap().iter().find(|s| s["pair"] == pair).map(|s| s["rows"].clone());
    assert_eq!(rows("BTC/USDT"), Some(serde_json::json!(14 * 24)));
    assert_eq!(rows("ETH/USDT:USDT"), Some(serde_json::json!(14 * 24)));
}

/// Twenty synthetic pairs over half a year, and a backtest of them that runs long enough
/// (about a second or more) to be interrupted; returns the job id once it is RUNNING.
fn submit_long_job(data: &Path, up: &Up) -> String {
    synth_5m(data, "20", "180");
    let pairs: Vec<String> = (0..20).map(|i| format!("SYN{i}/USDT")).collect();
    let pairs = pairs.join(",");
    let args = ["submit", "--strategy", "EmaCross", "--pairs", &pairs, "--timeframe", "5m", "--stake-amount", "10", "--wallet", "1000"];
    let (ok, sub, err) = jobs(&up.backend, &args);
    assert!(ok, "submit failed: {err}");
    let id = sub["job_id"].as_str().unwrap().to_owned();
    // Poll in-process (a millisecond per call) so the caller can act the moment the job runs.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = tradai_server::clients::BackendClient::new(&up.backend, None, tradai_server::clients::SERVICE_RETRY);
    let start = Instant::now();
    let seen = loop {
        let j = rt.block_on(client.status(&id)).unwrap();
        if j.job.status != "PENDING" || start.elapsed() > Duration::from_secs(60) {
            break j.job.status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    assert_eq!(seen, "RUNNING", "the job must be caught while running");
    id
}

/// Starts `tradai up` on a data dir in `tmp` with `env`, catches a long backtest job running,
/// stops the services with `stop` and starts them again: returns the new services and the job.
fn restart_during_a_long_job(tmp: &Path, env: &[(&str, &str)], stop: impl FnOnce(&mut Up)) -> (Up, String) {
    let data = tmp.join("data");
    let mut up = Up::start(&data, env);
    let id = submit_long_job(&data, &up);
    stop(&mut up);
    (Up::start(&data, env), id)
}

#[test]
fn a_sigkill_during_a_running_job_never_loses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let short = [("TRADAI_SERVER__ORPHAN_AFTER_SECS", "2"), ("TRADAI_SERVER__WORKERS", "1")];
    let (up, id) = restart_during_a_long_job(tmp.path(), &short, |up| up.kill());
    let done = wait_final(&up.backend, &id, Duration::from_secs(300));
    match done["status"].as_str() {
        Some("COMPLETED") => assert_eq!(done["attempts"], 2, "completed on the retry: {done}"),
        Some("FAILED") => assert!(done["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "FAILED needs a reason: {done}"),
        s => panic!("unexpected final status {s:?}: {done}"),
    }
    assert!(up.log().contains("worker lost; the job is retried after a back-off"), "{}", up.log());
    let (_, list, _) = jobs(&up.backend, &["list"]);
    assert_eq!(list["total"], 1, "the job is neither lost nor duplicated");
}

#[test]
fn sigterm_hands_a_running_job_back_and_the_next_start_finishes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [("TRADAI_SERVER__SHUTDOWN_GRACE_SECS", "0"), ("TRADAI_SERVER__WORKERS", "1")];
    let (up, id) = restart_during_a_long_job(tmp.path(), &env, |up| {
        let pid = up.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = up.child.wait().unwrap();
        assert!(status.success(), "graceful shutdown exits 0: {status:?}\n{}", up.log());
        assert!(up.log().contains("handed back"), "{}", up.log());
    });
    let done = wait_final(&up.backend, &id, Duration::from_secs(300));
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["attempts"], 1, "a job handed back by a graceful shutdown did not use up an attempt");
}

/// Synthetic candles for the hyperopt runs below: long enough to stop a run in the middle.
fn synth_for_hyperopt(data: &Path) {
    synth_5m(data, "8", "120");
}

/// `tradai data synth`: `pairs` synthetic 5m pairs of `days` days, as Binance's, into `data`.
fn synth_5m(data: &Path, pairs: &str, days: &str) {
    let synth = ["--quiet", "data", "synth", "--pairs", pairs, "--timeframe", "5m", "--days", days, "--exchange", "binance"];
    let out = tradai().arg("--data-dir").arg(data).args(synth).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn hyperopt_body() -> serde_json::Value {
    let pairs: Vec<String> = (0..8).map(|i| format!("SYN{i}/USDT")).collect();
    serde_json::json!({"strategy": "EmaCross", "pairs": pairs, "timeframe": "5m",
        "stake_amount": 10, "dry_run_wallet": 1000, "epochs": HYPEROPT_EPOCHS, "spaces": ["buy"], "sampler": "tpe", "seed": 5, "jobs": 1})
}

const HYPEROPT_EPOCHS: u64 = 300;

/// Submits the hyperopt run; returns its status path.
fn submit_hyperopt(up: &Up) -> String {
    let (status, sub) = http(&up.backend, "POST", "/api/v1/hyperopt", Some(&hyperopt_body()));
    assert_eq!(status, 202, "{sub}");
    sub["status_url"].as_str().unwrap().to_owned()
}

/// Waits until the run at `path` runs its `attempt`th attempt and has done at least `epochs`
/// epochs (by its heartbeats; a job waiting out its back-off still shows the last attempt's).
fn wait_epochs(up: &Up, path: &str, attempt: u64, epochs: u64) -> u64 {
    let start = Instant::now();
    loop {
        let (_, j) = http(&up.backend, "GET", path, None);
        let done = j["progress_detail"]["epochs_done"].as_u64().unwrap_or(0);
        if j["status"] == "RUNNING" && j["attempts"].as_u64() == Some(attempt) && done >= epochs {
            return done;
        }
        assert!(j["status"] != "COMPLETED", "the run ended before it could be interrupted: {j}");
        assert!(start.elapsed() < Duration::from_secs(300), "{epochs} epochs not reached: {j}\n{}", up.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The epochs of a finished run (index, params, loss, metrics, is_best): what must not depend
/// on interruptions.
fn study_of(up: &Up, path: &str) -> serde_json::Value {
    let (status, e) = http(&up.backend, "GET", &format!("{path}/epochs"), None);
    assert_eq!(status, 200, "{e}");
    e["study"].clone()
}

/// `tradai up` with the settings `env` on synthetic hyperopt data (in `tmp`), and the path of
/// the hyperopt job submitted to it.
fn up_with_a_hyperopt(tmp: &Path, env: &[(&str, &str)]) -> (PathBuf, Up, String) {
    let data = tmp.join("data");
    synth_for_hyperopt(&data);
    let up = Up::start(&data, env);
    let path = submit_hyperopt(&up);
    (data, up, path)
}

/// Runs the hyperopt again without interruption on `up` and checks that it ends exactly like
/// the job at `path`.
fn assert_ends_like_an_uninterrupted_run(up: &Up, path: &str, what: &str) {
    let again = submit_hyperopt(up);
    let whole = wait_final_at(&up.backend, &again, Duration::from_secs(600));
    assert_eq!(whole["result"]["resumed_from_epoch"], 0);
    assert_eq!(study_of(up, path), study_of(up, &again), "{what}");
}

#[test]
fn sigterm_mid_hyperopt_resumes_from_the_checkpoint_with_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    // Heartbeats (which carry the epochs done) every half second.
    let env = [("TRADAI_SERVER__SHUTDOWN_GRACE_SECS", "0"), ("TRADAI_SERVER__WORKERS", "1"), ("TRADAI_SERVER__ORPHAN_AFTER_SECS", "2")];
    let (data, mut up, path) = up_with_a_hyperopt(tmp.path(), &env);
    let seen = wait_epochs(&up, &path, 1, 15);
    assert!(Command::new("kill").args(["-TERM", &up.child.id().to_string()]).status().unwrap().success());
    assert!(up.child.wait().unwrap().success(), "{}", up.log());
    let up = Up::start(&data, &env);
    let done = wait_final_at(&up.backend, &path, Duration::from_secs(600));
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", up.log());
    assert_eq!(done["attempts"], 1, "a graceful stop is not an attempt: {done}");
    let resumed = done["result"]["resumed_from_epoch"].as_u64().unwrap();
    assert!(resumed >= seen, "continued from epoch {resumed}, not 0 (it had done {seen})");
    assert!(up.log().contains("resuming hyperopt from its checkpoint"), "{}", up.log());

    // The same run without interruption, on the same server.
    assert_ends_like_an_uninterrupted_run(&up, &path, "the resumed run ends exactly like the uninterrupted one");
}

#[test]
fn three_sigkills_during_one_hyperopt_job_do_not_fail_it() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [("TRADAI_SERVER__WORKERS", "1"), ("TRADAI_SERVER__RETRY_BACKOFF_SECS", "1"), ("TRADAI_SERVER__ORPHAN_AFTER_SECS", "2")];
    let (data, mut up, path) = up_with_a_hyperopt(tmp.path(), &env);
    let mut reached = 0;
    for attempt in 1..=3 {
        // Past the last checkpoint (saved every second) by a margin, then SIGKILL.
        reached = wait_epochs(&up, &path, attempt, reached + 10);
        std::thread::sleep(Duration::from_millis(1500));
        up.kill();
        up = Up::start(&data, &env);
    }
    let done = wait_final_at(&up.backend, &path, Duration::from_secs(600));
    assert_eq!(done["status"], "COMPLETED", "three crashes are within server.max_attempts (5): {done}\n{}", up.log());
    assert_eq!(done["attempts"], 4, "{done}");
    assert!(up.log().contains("worker lost; the job is retried after a back-off"), "{}", up.log());
    assert!(done["result"]["resumed_from_epoch"].as_u64().unwrap() >= 10, "{done}");
    assert_ends_like_an_uninterrupted_run(&up, &path, "crashes change nothing in the result");
}

/// Starts `cmd` (stderr discarded) and returns it with the first line it prints (a server's
/// address).
fn first_line(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (child, line)
}

#[test]
fn a_damaged_or_emptied_job_database_stops_the_start_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let db = data.join("_tradai/tradai.sqlite");
    // A first start creates the database and the marker.
    drop(Up::start(&data, &[("TRADAI_SERVER__WORKERS", "0")]));
    assert!(data.join("_tradai/platform.json").exists());
    let up_args = ["up", "--backend-port", "0", "--data-collection-port", "0", "--strategy-service-port", "0"];
    // A start that should fail; one that serves instead is killed after 30 s and fails the test.
    let start = |extra: &[&str]| {
        let log = tmp.path().join("refused.log");
        let mut child = tradai()
            .arg("--data-dir")
            .arg(&data)
            .args(up_args)
            .args(extra)
            .env("TRADAI_SERVER__WORKERS", "0")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let begun = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if begun.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tradai up started instead of refusing: {}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (status.code(), std::fs::read_to_string(&log).unwrap_or_default())
    };

    // The trading nodes' state damaged: named too.
    let trading = data.join("_tradai/trading.sqlite");
    std::fs::write(&trading, vec![0x42u8; 16384]).unwrap();
    let (code, err) = start(&[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("trading.sqlite") && err.contains("trading state database") && err.contains("damaged"), "{err}");
    std::fs::remove_file(&trading).unwrap();

    std::fs::write(&db, b"").unwrap();
    let (code, err) = start(&[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("tradai.sqlite") && err.contains("empty (0 bytes)") && err.contains("--init"), "{err}");
    assert_eq!(err.trim().lines().filter(|l| l.contains("error")).count(), 1, "one line: {err}");

    // Not a database at all (a garbled header page), with no WAL beside it that still holds
    // the pages (the SIGKILLed first start left one).
    for side in ["tradai.sqlite-wal", "tradai.sqlite-shm"] {
        let _ = std::fs::remove_file(data.join("_tradai").join(side));
    }
    std::fs::write(&db, vec![0x42u8; 16384]).unwrap();
    let (code, err) = start(&[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("tradai.sqlite") && err.contains("damaged"), "{err}");

    // --init starts over on an empty file.
    std::fs::write(&db, b"").unwrap();
    let (mut child, line) =
        first_line(tradai().arg("--data-dir").arg(&data).args(up_args).arg("--init").env("TRADAI_SERVER__WORKERS", "0"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("http://"), "--init starts: {line}");
}

#[test]
fn serve_runs_one_service_alone() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let serve = ["serve", "strategy-service", "--strategy-service-port", "0"];
    let (mut child, line) = first_line(tradai().arg("--data-dir").arg(tmp.path().join("data")).args(serve));
    let addr = line.trim().strip_prefix("strategy-service: http://").unwrap_or_else(|| panic!("{line}")).to_owned();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(conn, "GET /api/v1/strategies/EmaCross HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"name\":\"EmaCross\""), "{resp}");
}

#[test]
fn bad_executor_settings_fail_at_start_up_with_the_setting_named() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (vec![("TRADAI_SERVER__EXECUTOR", "subprocess"), ("TRADAI_SERVER__BACKTEST_BIN", "/nonexistent/tradai")], "server.backtest_bin"),
        (vec![("TRADAI_SERVER__EXECUTOR", "sqs")], "BACKEND_BACKTEST_QUEUE_URL"),
        (vec![("TRADAI_SERVER__EXECUTOR", "docker")], "'docker'"),
        (vec![("TRADAI_SERVER__MAX_ATTEMPTS", "0")], "server.max_attempts"),
    ];
    assert_up_refuses(tmp.path(), &cases);
}

/// Starts `tradai up` on a store under `tmp` with each case's environment and checks that it
/// refuses to start (exit 2) with a message holding what the case expects.
pub(crate) fn assert_up_refuses(tmp: &Path, cases: &[(Vec<(&str, &str)>, &str)]) {
    for (envs, want) in cases {
        let out = tradai()
            .arg("--data-dir")
            .arg(tmp.join("data"))
            .args(["up", "--backend-port", "0", "--data-collection-port", "0", "--strategy-service-port", "0"])
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{envs:?}: {err}");
        assert!(err.contains(want), "{envs:?}: expected {want} in: {err}");
    }
}

#[test]
fn api_keys_are_required_once_created() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    import_sample(&data);
    let out = tradai().arg("--data-dir").arg(&data).args(["keys", "create", "--name", "ci", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let up = Up::start(&data, &[("TRADAI_SERVER__WORKERS", "0")]);
    let (ok, _, err) = jobs(&up.backend, &submit_args());
    assert!(!ok && err.contains("401"), "a submission without a key must be refused: {err}");
    let mut args = submit_args();
    args.extend(["--api-key", &key]);
    let (ok, sub, err) = jobs(&up.backend, &args);
    assert!(ok, "{err}");
    assert_eq!(sub["status"], "PENDING");
    assert!(!up.log().contains(key.split('_').next_back().unwrap()), "the key must never be logged");
    let out = tradai().arg("--data-dir").arg(&data).args(["keys", "list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["name"], "ci");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&key));
}
