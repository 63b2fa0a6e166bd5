//! The handlers from the binary: `tradai handlers list / run` (exit codes, 400 on an empty
//! event), and the scheduler inside `tradai up`: health-check every second against a service
//! that is stopped and started again sends exactly one alert and one recovery notice to a
//! webhook, with the runs shown on `GET /api/v1/handlers` and `/metrics`.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::services::{tradai, Up};

fn testdata_event(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/handlers").join(format!("{name}.json")).display().to_string()
}

#[test]
fn list_and_run_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = tradai().arg("--data-dir").arg(&data).args(["handlers", "list", "--json"]).output().unwrap();
    assert!(out.status.success());
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 18);
    assert_eq!(list[3]["name"], "health-check");
    assert_eq!(list[3]["schedule"], "rate(2 minutes)");

    let out = tradai()
        .arg("--data-dir")
        .arg(&data)
        .args(["handlers", "run", "compare-models", "--event"])
        .arg(testdata_event("compare-models"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["decision"], "PROMOTE", "step-functions shape: fields at the top level");

    let out = tradai()
        .arg("--data-dir")
        .arg(&data)
        .args(["handlers", "run", "compare-models", "--shape", "dict", "--event"])
        .arg(testdata_event("compare-models"))
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["statusCode"], 200);
    assert!(r["body"].as_str().unwrap().contains("\"decision\":\"PROMOTE\""), "{r}");

    // An empty event: a 400 naming what is missing, exit code 1, no crash.
    let mut child = tradai()
        .arg("--data-dir")
        .arg(&data)
        .args(["handlers", "run", "update-status", "--event", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r["statusCode"].as_u64(), r["error_type"].as_str()), (Some(400), Some("ValidationError")));
    assert!(r["error"].as_str().unwrap().contains("the event is empty"), "{r}");

    let out = tradai().arg("--data-dir").arg(&data).args(["handlers", "run", "no-such", "--event", "-"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown handler 'no-such'"));
}

/// A GET over plain HTTP/1.0: the status code and the body.
fn get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let Ok(mut s) = std::net::TcpStream::connect(host) else { return (0, String::new()) };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

/// A service the test starts and stops, on one port; every answer closes its connection, so
/// a stopped service is really gone.
struct Service {
    rt: tokio::runtime::Runtime,
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Service {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut s = Self { rt, port, task: None };
        s.start();
        s
    }

    fn start(&mut self) {
        let port = self.port;
        let l = self.rt.block_on(async move {
            let start = Instant::now();
            loop {
                match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                    Ok(l) => return l,
                    Err(e) => assert!(start.elapsed() < Duration::from_secs(10), "rebinding port {port}: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let app = axum::Router::new().route("/health", axum::routing::get(|| async { ([("connection", "close")], "ok") }));
        self.task = Some(self.rt.spawn(async move {
            let _ = axum::serve(l, app).await;
        }));
    }

    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = self.rt.block_on(t);
        }
    }
}

/// A webhook receiver.
fn webhook(rt: &tokio::runtime::Runtime) -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let g = Arc::clone(&g);
            async move {
                g.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let l = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    rt.spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (url, got)
}

fn health_record(up: &Up) -> Value {
    let (code, body) = get(&format!("{}/api/v1/handlers", up.backend));
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["handler"] == "health-check")
        .cloned()
        .unwrap_or_else(|| panic!("health-check is not scheduled: {v}\n{}", up.log()))
}

/// Waits until health-check has run `n` more times than `from`; returns the record.
fn wait_runs(up: &Up, from: u64, n: u64) -> Value {
    let start = Instant::now();
    loop {
        let r = health_record(up);
        if r["runs"].as_u64().unwrap() >= from + n {
            return r;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "health-check stuck at {r}\n{}", up.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn subjects(got: &Mutex<Vec<Value>>) -> Vec<String> {
    got.lock().unwrap().iter().map(|n| n["subject"].as_str().unwrap_or_default().to_owned()).collect()
}

#[test]
fn up_alerts_once_after_the_threshold_and_once_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = Service::new();
    let (hook, got) = webhook(&svc.rt);
    let cfg = dir.path().join("tradai.toml");
    std::fs::write(
        &cfg,
        format!(
            "[handlers]\nalert_webhook_url = \"{hook}\"\n\n[handlers.health-check]\nevery = \"1s\"\nservices = \"fake-api=http://127.0.0.1:{}/health\"\nconsecutive_failure_threshold = 2\nhealth_timeout_seconds = 1\n",
            svc.port
        ),
    )
    .unwrap();
    let up = Up::start(&dir.path().join("data"), &[("TRADAI_CONFIG", cfg.to_str().unwrap())]);

    let r = wait_runs(&up, 0, 2);
    assert_eq!(r["last_status"], 200, "{r}");
    assert_eq!(r["last_result"]["summary"]["healthy"], 1, "{r}");
    assert_eq!(r["every_seconds"], 1.0);
    assert!(subjects(&got).is_empty());

    svc.stop();
    let start = Instant::now();
    while subjects(&got).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(60), "no alert\n{}", up.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Further failed checks send nothing more.
    let r = wait_runs(&up, health_record(&up)["runs"].as_u64().unwrap(), 3);
    assert!(r["last_result"]["results"][0]["consecutive_failures"].as_u64().unwrap() >= 4, "{r}");
    assert_eq!(subjects(&got), ["Service unhealthy: fake-api"]);

    svc.start();
    let start = Instant::now();
    while subjects(&got).len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(60), "no recovery notice\n{}", up.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_runs(&up, health_record(&up)["runs"].as_u64().unwrap(), 3);
    assert_eq!(subjects(&got), ["Service unhealthy: fake-api", "Service recovered: fake-api"]);
    let alert = got.lock().unwrap()[0].clone();
    assert_eq!((alert["severity"].as_str(), alert["source"].as_str()), (Some("CRITICAL"), Some("health-check")));
    assert_eq!(alert["details"]["consecutive_failures"], 2);

    let (code, metrics) = get(&format!("{}/metrics", up.backend));
    assert_eq!(code, 200);
    assert!(metrics.contains("tradai_handler_invocations_total{handler=\"health-check\"}"), "{metrics}");
}

/// pulumi-drift-detector on the AWS emulator: with `ENVIRONMENT` and a region it diffs the
/// stacks `tradai deploy apply` made; an out-of-band update of the persistent stack is reported
/// as drift on that resource, and the stacks never applied are reported as not deployed.
#[test]
fn drift_detector_reports_an_out_of_band_change_on_the_emulator() {
    let Some(ep) = crate::aws::endpoint() else { return };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let prefix = format!("h{:010x}", nanos & 0xff_ffff_ffff);
    let dir = tempfile::tempdir().unwrap();
    let out = crate::aws::on_aws(&ep)
        .args(["deploy", "apply", "--only", "persistent", "--env", "dev", "--stack-prefix", &prefix])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let detect = || {
        let out = crate::aws::on_aws(&ep)
            .env("ENVIRONMENT", "dev")
            .env("STACK_PREFIX", &prefix)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["handlers", "run", "pulumi-drift-detector", "--shape", "step-functions", "--event"])
            .arg(testdata_event("pulumi-drift-detector"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let persistent = format!("{prefix}-dev-persistent");
    let on_persistent = |r: &Value| -> Vec<Value> {
        r["changes"].as_array().unwrap().iter().filter(|c| c["resource"].as_str().unwrap().starts_with(&persistent)).cloned().collect()
    };
    let r = detect();
    assert_eq!(r["stack"], format!("{prefix}-dev"));
    assert!(on_persistent(&r).is_empty(), "the applied stack is in sync: {r}");
    let missing: Vec<&str> = r["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["detail"] == "the stack is not deployed")
        .filter_map(|c| c["resource"].as_str())
        .collect();
    assert_eq!(missing, [format!("{prefix}-dev-foundation"), format!("{prefix}-dev-compute"), format!("{prefix}-dev-edge")]);

    // Out of band: someone updates the persistent stack with a shorter visibility timeout.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let overrides = tradai_aws::AwsOverrides {
        endpoint_url: Some(ep.clone()),
        region: Some("us-east-1".into()),
        static_credentials: Some(("tradai-test".into(), "tradai-test".into())),
    };
    rt.block_on(async {
        let client = tradai_aws::StackClient::connect(&overrides).await.unwrap();
        let mut t: Value = serde_json::from_str(&client.deployed_template(&persistent).await.unwrap()).unwrap();
        t["Resources"]["BacktestQueue"]["Properties"]["VisibilityTimeout"] = Value::from(30);
        client.apply(&persistent, &t.to_string(), &std::collections::BTreeMap::new(), Duration::from_secs(60), |_| false).await.unwrap();
    });
    let r = detect();
    assert_eq!(r["drift_detected"], true);
    assert_eq!(
        on_persistent(&r),
        [
            serde_json::json!({"resource": format!("{persistent}/BacktestQueue"), "action": "modify", "detail": "differs in VisibilityTimeout"})
        ]
    );
}

/// trading-heartbeat-check on the trading nodes' real state database (`tradai trade`'s
/// `trading.sqlite` beside the job database): a running node that missed 3 heartbeats is
/// stale and alerted once, a fresh one and a stopped one are not; a second run sends no
/// second alert, and a new heartbeat brings a recovery.
#[test]
fn heartbeat_check_reads_the_trading_state_database() {
    use tradai_trading::{BotId, Heartbeat, NodeSpec, NodeStatus, StateStore, TradingMode};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state_dir = data.join("_tradai");
    std::fs::create_dir_all(&state_dir).unwrap();
    let store = StateStore::open(&state_dir.join("trading.sqlite")).unwrap();
    let now = i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap();
    let beat = |bot: &BotId, ts_ms: i64| {
        let hb = Heartbeat { ts_ms, interval_ms: 60_000, last_candle_ms: None, open_trades: 0, status: "running".into() };
        store.heartbeat(bot, &hb).unwrap();
    };
    let mut bots = Vec::new();
    for (name, last_beat_ago_ms, status) in [
        ("stale-bot", 10 * 60_000, NodeStatus::Running),
        ("fresh-bot", 20_000, NodeStatus::Running),
        ("stopped-bot", 3_600_000, NodeStatus::Stopped),
    ] {
        let run: tradai_app::RunSpec = serde_json::from_value(serde_json::json!({"strategy": "EmaCross", "pairs": ["ETH/BTC"]})).unwrap();
        let bot = BotId::new(name).unwrap();
        let spec = NodeSpec {
            bot_id: bot.clone(),
            mode: TradingMode::DryRun,
            run,
            strategy_version: None,
            replay: false,
            risk: Default::default(),
        };
        store.create(&spec, now - 3_600_000).unwrap();
        beat(&bot, now - last_beat_ago_ms);
        store.set_status(&bot, status, now - last_beat_ago_ms).unwrap();
        bots.push(bot);
    }
    let check = || {
        let out = tradai()
            .arg("--data-dir")
            .arg(&data)
            .args(["handlers", "run", "trading-heartbeat-check", "--shape", "step-functions", "--event"])
            .arg(testdata_event("trading-heartbeat-check"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let r = check();
    assert_eq!(r["summary"], serde_json::json!({"nodes": 3, "stale": 1, "alerts_sent": 1, "recoveries_sent": 0}), "{r}");
    let stale: Vec<&str> =
        r["nodes"].as_array().unwrap().iter().filter(|n| n["stale"] == true).filter_map(|n| n["bot_id"].as_str()).collect();
    assert_eq!(stale, ["stale-bot"]);
    let age = r["nodes"].as_array().unwrap().iter().find(|n| n["bot_id"] == "stale-bot").unwrap()["heartbeat_age_s"].as_i64().unwrap();
    assert!((600..660).contains(&age), "{r}");

    // Still stale: no second alert (the handler's state is in the job database).
    assert_eq!(check()["summary"]["alerts_sent"], 0);
    // It beats again: one recovery.
    beat(&bots[0], now + 1);
    let r = check();
    assert_eq!((r["summary"]["stale"].as_u64(), r["summary"]["recoveries_sent"].as_u64()), (Some(0), Some(1)), "{r}");
}

/// The drawdown the compute stack's high-drawdown alarm watches: trading-heartbeat-check reads
/// it from a real node's recorded balance (a dry-run replay of the reference candles), in percent.
#[test]
fn heartbeat_check_reports_each_node_drawdown_from_its_balance() {
    let dir = crate::data::imported_store();
    let d = dir.path().to_str().unwrap();
    let mut args = vec!["-q".to_owned(), "trade".into(), "--replay".into(), "--bot-id".into(), "dd-bot".into()];
    args.extend(crate::backtest::run_flags(d, "EmaCross", "3"));
    crate::data::run_ok(&crate::trade::strs(&args));
    let out = tradai()
        .args(["--data-dir", d, "handlers", "run", "trading-heartbeat-check", "--shape", "step-functions", "--event"])
        .arg(testdata_event("trading-heartbeat-check"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let node = r["nodes"].as_array().unwrap().iter().find(|n| n["bot_id"] == "dd-bot").cloned().unwrap_or_default();
    let dd = node["drawdown_pct"].as_f64();
    assert!(dd.is_some_and(|p| (0.0..100.0).contains(&p)), "{r}");
}
