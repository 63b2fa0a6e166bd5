//! Experiment tracking end to end: backtest jobs of `tradai up` become tracked runs (embedded
//! store by default, a real MLflow server when configured), `tradai runs` and `tradai models`
//! read and change them, the strategy service loads a strategy's Production config from the
//! registry, and an MLflow server stopped in the middle of a batch of backtests loses no run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::services::{http, import_sample, tradai, wait_final_at, Up};

fn backtest_body(fee: f64) -> serde_json::Value {
    serde_json::json!({"strategy": "EmaCross", "pairs": ["ETH/BTC", "LTC/BTC"], "timeframe": "5m", "stake_amount": 0.05,
        "dry_run_wallet": 1, "max_open_trades": 2, "fee": fee})
}

fn submit(up: &Up, fee: f64) -> String {
    let (status, sub) = http(&up.backend, "POST", "/api/v1/backtests", Some(&backtest_body(fee)));
    assert_eq!(status, 202, "{sub}");
    sub["job_id"].as_str().unwrap().to_owned()
}

/// Polls a backtest until its run is delivered to the tracker; returns the job view.
fn wait_delivered(up: &Up, id: &str, within: Duration) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let (status, j) = http(&up.backend, "GET", &format!("/api/v1/backtests/{id}"), None);
        assert_eq!(status, 200, "{j}");
        if j["tracking"]["state"] == "delivered" {
            return j;
        }
        assert!(start.elapsed() < within, "run of {id} not delivered after {within:?}: {}\n{}", j["tracking"], up.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn cli(data: &Path, envs: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let mut c = tradai();
    c.arg("--data-dir").arg(data).args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn backtest_jobs_are_tracked_and_strategies_load_from_the_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    import_sample(&data);
    let up = Up::start(&data, &[("MLFLOW_TRACKING_URI", "")]);

    let (a, b) = (submit(&up, 0.001), submit(&up, 0.002));
    let mut runs = Vec::new();
    for id in [&a, &b] {
        let done = wait_final_at(&up.backend, &format!("/api/v1/backtests/{id}"), Duration::from_secs(120));
        assert_eq!(done["status"], "COMPLETED", "{done}");
        let j = wait_delivered(&up, id, Duration::from_secs(30));
        assert_eq!(j["tracking"]["experiment"], "backtests/EmaCross");
        let run_id = j["tracking"]["run_id"].as_str().unwrap().to_owned();
        assert_eq!(j["tracking"]["run_url"].as_str(), Some(format!("/api/v1/runs/{run_id}").as_str()));
        // The run holds the request, every summary metric and the artifacts.
        let (status, run) = http(&up.backend, "GET", &format!("/api/v1/runs/{run_id}"), None);
        assert_eq!(status, 200, "{run}");
        let r = &run["run"];
        assert_eq!(r["params"]["strategy"], "EmaCross");
        assert_eq!(r["params"]["pairs"], "ETH/BTC,LTC/BTC");
        assert_eq!(r["params"]["timeframe"], "5m");
        assert_eq!(r["tags"]["tradai.job_id"].as_str(), Some(id.as_str()));
        assert_eq!(r["info"]["status"], "FINISHED");
        let summary = &done["result"]["summary"];
        for k in ["profit_total", "total_trades", "max_drawdown_account", "sharpe", "final_balance"] {
            let got = r["metrics"][k]["value"].as_f64().unwrap_or(f64::NAN);
            let want = summary[k].as_f64().unwrap();
            assert!((got - want).abs() <= 1e-12 * want.abs().max(1.0), "{k}: run {got} vs summary {want}");
        }
        // The balance series is the engine's (thinned), from the typed result, not rebuilt
        // from the export file.
        let curve = done["result"]["balance_curve"].as_array().unwrap();
        assert!(curve.len() > 10 && curve.len() <= 500, "{}", curve.len());
        let last = curve.last().unwrap()[1].as_f64().unwrap();
        assert_eq!(r["metrics"]["balance"]["value"].as_f64(), Some(last), "{}", r["metrics"]["balance"]);
        let names: Vec<&str> = run["artifacts"].as_array().unwrap().iter().map(|a| a["path"].as_str().unwrap()).collect();
        for n in ["export.json", "report.txt", "equity.svg"] {
            assert!(names.contains(&n), "{n} missing: {names:?}");
        }
        runs.push(run_id);
    }

    // Search over the API with MLflow's filter syntax, and the CLI.
    let (status, found) =
        http(&up.backend, "GET", "/api/v1/runs?experiment=backtests/EmaCross&filter=params.fee%20%3D%20%270.002%27", None);
    assert_eq!(status, 200, "{found}");
    let found: Vec<&str> = found["runs"].as_array().unwrap().iter().map(|r| r["info"]["run_id"].as_str().unwrap()).collect();
    assert_eq!(found, vec![runs[1].as_str()]);
    let (status, e) = http(&up.backend, "GET", "/api/v1/runs?filter=metrics.sharpe%20%3E%3E%201", None);
    assert_eq!(status, 400, "a bad filter is the client's error: {e}");
    let (status, e) = http(&up.backend, "GET", "/api/v1/runs/0123456789abcdef0123456789abcdef", None);
    assert_eq!(status, 404);
    // The id is quoted once (it used to be quoted by the tracker and again by the API).
    let msg = e.to_string();
    assert!(msg.contains("'0123456789abcdef0123456789abcdef'") && !msg.contains("''"), "{msg}");
    let (status, e) = http(&up.backend, "GET", "/api/v1/runs?experiment=backtests/NoSuchStrategy", None);
    assert_eq!(status, 404, "{e}");
    assert!(!e.to_string().contains("''"), "{e}");

    let (ok, out, err) =
        cli(&data, &[], &["runs", "list", "--experiment", "backtests/EmaCross", "--order-by", "params.fee DESC", "--json"]);
    assert!(ok, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = listed.as_array().unwrap().iter().map(|r| r["info"]["run_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![runs[1].as_str(), runs[0].as_str()]);
    let (ok, out, err) = cli(&data, &[], &["runs", "compare", &runs[0], &runs[1]]);
    assert!(ok, "{err}");
    assert!(out.contains("param fee") && out.contains("profit_total"), "{out}");
    let (ok, _, err) = cli(&data, &[], &["runs", "show", "nope"]);
    assert!(!ok && err.contains("run") && err.contains("nope") && err.lines().count() == 1, "{err}");

    // A hyperopt job: a parent run with the best result and one child run per epoch.
    let body = serde_json::json!({"strategy": "EmaCross", "pairs": ["ETH/BTC", "LTC/BTC"], "timeframe": "5m", "stake_amount": 0.05,
        "dry_run_wallet": 1, "epochs": 6, "spaces": ["buy"], "seed": 3, "jobs": 1});
    let (status, sub) = http(&up.backend, "POST", "/api/v1/hyperopt", Some(&body));
    assert_eq!(status, 202, "{sub}");
    let path = sub["status_url"].as_str().unwrap().to_owned();
    let done = wait_final_at(&up.backend, &path, Duration::from_secs(120));
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let start = Instant::now();
    let parent = loop {
        let (_, j) = http(&up.backend, "GET", &path, None);
        if j["tracking"]["state"] == "delivered" {
            break j["tracking"]["run_id"].as_str().unwrap().to_owned();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "hyperopt run not delivered: {j}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let (_, p) = http(&up.backend, "GET", &format!("/api/v1/runs/{parent}"), None);
    assert_eq!(p["run"]["params"]["sampler"], "tpe", "{p}");
    let best_loss = done["result"]["best_loss"].as_f64().unwrap();
    assert!((p["run"]["metrics"]["best_loss"]["value"].as_f64().unwrap() - best_loss).abs() < 1e-12, "{p}");
    // Children are sent right after their parent; wait for the last one, metrics included (a
    // run exists on the server before its metrics are logged to it).
    let filter = format!("tags.%60mlflow.parentRunId%60%20%3D%20%27{parent}%27");
    let start = Instant::now();
    let children = loop {
        let (status, c) = http(&up.backend, "GET", &format!("/api/v1/runs?experiment=hyperopt/EmaCross&filter={filter}"), None);
        assert_eq!(status, 200, "{c}");
        let runs = c["runs"].as_array().unwrap();
        let n = runs.len();
        if n == 6 && runs.iter().all(|r| r["metrics"]["loss"]["value"].is_f64()) {
            break c;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{n} child runs: {c}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let losses: Vec<f64> = children["runs"].as_array().unwrap().iter().map(|r| r["metrics"]["loss"]["value"].as_f64().unwrap()).collect();
    assert!(losses.iter().any(|l| (l - best_loss).abs() < 1e-12), "the best epoch is a child run: {losses:?} vs {best_loss}");
    assert!(children["runs"][0]["params"].get("fast").is_some(), "{children}");

    // Strategies in the registry: two versions, promote, load, roll back.
    let cfg1 = tmp.path().join("v1.json");
    std::fs::write(&cfg1, r#"{"params": {"fast": 8, "slow": 30}}"#).unwrap();
    let cfg2 = tmp.path().join("v2.json");
    std::fs::write(&cfg2, r#"{"params": {"fast": 12, "slow": 40}}"#).unwrap();
    for c in [&cfg1, &cfg2] {
        let (ok, _, err) =
            cli(&data, &[], &["models", "register", "EmaCross", "--strategy-config", c.to_str().unwrap(), "--pairs", "ETH/BTC,LTC/BTC"]);
        assert!(ok, "{err}");
    }
    let (status, e) = http(&up.strategy, "GET", "/api/v1/strategies/EmaCross/config", None);
    assert_eq!(status, 404, "no Production version yet: {e}");
    let (ok, _, err) = cli(&data, &[], &["models", "promote", "EmaCross", "9"]);
    assert!(!ok && err.contains("version 9"), "{err}");
    for v in ["1", "2"] {
        let (ok, _, err) = cli(&data, &[], &["models", "promote", "EmaCross", v]);
        assert!(ok, "{err}");
    }
    let (status, c) = http(&up.strategy, "GET", "/api/v1/strategies/EmaCross/config", None);
    assert_eq!(status, 200, "{c}");
    assert_eq!((c["version"].as_u64(), c["stage"].as_str()), (Some(2), Some("Production")), "{c}");
    assert_eq!(c["config"]["params"]["fast"], 12);
    assert_eq!(c["metadata"]["pairs"], "ETH/BTC,LTC/BTC");
    assert_eq!(c["metadata"]["timeframe"], "5m");
    let (ok, out, err) = cli(&data, &[], &["models", "rollback", "EmaCross", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], 1);
    let (_, c) = http(&up.strategy, "GET", "/api/v1/strategies/EmaCross/config", None);
    assert_eq!(c["config"]["params"]["fast"], 8, "{c}");
    let (status, _) = http(&up.strategy, "GET", "/api/v1/strategies/EmaCross/config?version=2", None);
    assert_eq!(status, 200);
    let (status, e) = http(&up.strategy, "GET", "/api/v1/strategies/EmaCross/config?version=b%20ad", None);
    assert_eq!(status, 400, "{e}");
    let (ok, out, err) = cli(&data, &[], &["models", "list", "--json"]);
    assert!(ok, "{err}");
    assert!(out.contains("\"champion\": 1"), "{out}");
}

/// An MLflow server of this test alone (own port and directory), so it can be stopped and
/// restarted without disturbing other tests.
struct Mlflow {
    envs: Vec<(String, String)>,
    uri: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mlflow-server.sh")
}

impl Mlflow {
    fn start(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let envs = vec![("MLFLOW_PORT".to_owned(), port.to_string()), ("MLFLOW_DIR".to_owned(), dir.display().to_string())];
        let m = Self { envs, uri: format!("http://127.0.0.1:{port}") };
        m.up();
        m
    }

    fn run(&self, arg: Option<&str>) -> std::process::Output {
        let mut c = Command::new(script());
        c.envs(self.envs.iter().map(|(k, v)| (k, v)));
        if let Some(a) = arg {
            c.arg(a);
        }
        c.output().unwrap()
    }

    fn up(&self) {
        let out = self.run(None);
        assert!(
            out.status.success(),
            "starting MLflow with scripts/mlflow-server.sh failed (CI installs it; locally run `scripts/mlflow-server.sh --install-only`): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn stop(&self) {
        let out = self.run(Some("--stop"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Mlflow {
    fn drop(&mut self) {
        let _ = self.run(Some("--stop"));
    }
}

#[test]
fn mlflow_stopped_during_a_batch_of_backtests_loses_no_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    import_sample(&data);
    let mlflow = Mlflow::start(&tmp.path().join("mlflow"));
    let envs = [("TRADAI_TRACKING__URI", mlflow.uri.as_str())];
    let up = Up::start(&data, &envs);

    let mut ids = vec![submit(&up, 0.001), submit(&up, 0.0011)];
    for id in &ids {
        wait_delivered(&up, id, Duration::from_secs(120));
    }
    mlflow.stop();
    // Jobs accepted and finished while the tracker is down: they complete; their runs wait.
    for fee in [0.0012, 0.0013, 0.0014] {
        ids.push(submit(&up, fee));
    }
    for id in &ids[2..] {
        let done = wait_final_at(&up.backend, &format!("/api/v1/backtests/{id}"), Duration::from_secs(120));
        assert_eq!(done["status"], "COMPLETED", "a backtest must not fail because the tracker is down: {done}");
    }
    let (_, j) = http(&up.backend, "GET", &format!("/api/v1/backtests/{}", ids[4]), None);
    assert_eq!(j["tracking"]["state"], "pending", "{j}");
    // The sender has tried (each finished job wakes it) and recorded why it failed.
    let start = Instant::now();
    loop {
        let (_, j) = http(&up.backend, "GET", &format!("/api/v1/backtests/{}", ids[2]), None);
        if j["tracking"]["last_error"].as_str().is_some_and(|e| e.contains("cannot reach the tracking server")) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no delivery attempt recorded: {j}");
        std::thread::sleep(Duration::from_millis(200));
    }

    mlflow.up();
    let mut run_ids = Vec::new();
    for id in &ids {
        let j = wait_delivered(&up, id, Duration::from_secs(60));
        let url = j["tracking"]["run_url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{}/#/experiments/", mlflow.uri)), "{url}");
        run_ids.push(j["tracking"]["run_id"].as_str().unwrap().to_owned());
    }
    // In MLflow: exactly one run per job, each tagged with its job.
    let (ok, out, err) =
        cli(&data, &envs, &["runs", "list", "--experiment", "backtests/EmaCross", "--filter", "params.strategy = 'EmaCross'", "--json"]);
    assert!(ok, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut jobs: Vec<&str> = listed.as_array().unwrap().iter().map(|r| r["tags"]["tradai.job_id"].as_str().unwrap()).collect();
    jobs.sort_unstable();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(jobs, want, "one run per job, none lost or doubled");

    // MLflow's own Python client reads a run TradAI logged.
    let venv = std::env::var_os("MLFLOW_VENV")
        .map_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/mlflow")), PathBuf::from);
    let check = r#"
import sys, mlflow
c = mlflow.MlflowClient(sys.argv[1])
r = c.get_run(sys.argv[2])
assert r.data.params["strategy"] == "EmaCross", r.data.params
assert "profit_total" in r.data.metrics, r.data.metrics
assert r.data.tags["tradai.job_id"] == sys.argv[3], r.data.tags
names = [a.path for a in c.list_artifacts(sys.argv[2])]
assert "export.json" in names, names
print("ok")
"#;
    let out = Command::new(venv.join("bin/python")).args(["-c", check, &mlflow.uri, &run_ids[4], &ids[4]]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn an_unreachable_or_misspelled_tracking_uri_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (ok, _, err) = cli(&data, &[("TRADAI_TRACKING__URI", "http://127.0.0.1:9/mlflow")], &["runs", "list"]);
    assert!(!ok && err.contains("cannot reach the tracking server at http://127.0.0.1:9/mlflow"), "{err}");
    let (ok, _, err) = cli(&data, &[("TRADAI_TRACKING__URI", "htp://127.0.0.1:5000")], &["models", "list"]);
    assert!(!ok && err.contains("unsupported scheme 'htp'"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let (ok, _, err) = cli(&data, &[("TRADAI_TRACKING__URI", "htp://x")], &["up"]);
    assert!(!ok && err.contains("tracking.uri"), "{err}");
}
