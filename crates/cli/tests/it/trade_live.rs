//! `tradai trade` on the live feed (no `--replay`), against the fake kline venue on
//! 127.0.0.1 (`TRADAI_BINANCE_SPOT_URL`): the warm-up is synced into the store, the node's
//! API answers on the port it prints, `POST /api/v1/stop` is taken, Ctrl-C stops the node
//! with its state committed, and a `--timerange` without `--replay` is refused.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use serde_json::Value;
use tradai_core::{Pair, Timeframe};
use tradai_store::{synth, SynthSpec};

use crate::data::{json_of, run_err, run_ok, tradai};
use crate::fake_klines::FakeKlines;
use crate::services::http;

const TF: i64 = 300_000;

#[test]
fn a_live_node_syncs_its_warm_up_serves_its_api_and_stops_on_ctrl_c() {
    let now = chrono::Utc::now().timestamp_millis();
    let pairs: Vec<Pair> = vec!["BTC/USDT".parse().unwrap()];
    let mut spec = SynthSpec::new(pairs, Timeframe::M5, 3, 5);
    spec.start_ms = (now - 2 * 86_400_000).div_euclid(TF) * TF;
    let series: HashMap<String, tradai_core::Candles> =
        synth(&spec).into_iter().map(|(p, c)| (p.to_string().replace('/', ""), c)).collect();
    let fake = FakeKlines::start(TF, series, now);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();

    let err = run_err(&["--data-dir", d, "trade", "-s", "EmaCross", "-p", "BTC/USDT", "-i", "5m", "--timerange", "20240101-"], "--replay");
    assert!(err.contains("20240101-"), "{err}");

    let mut node = tradai()
        .env("TRADAI_BINANCE_SPOT_URL", &fake.url)
        .args([
            "--data-dir",
            d,
            "trade",
            "-s",
            "EmaCross",
            "-p",
            "BTC/USDT",
            "-i",
            "5m",
            "--bot-id",
            "live-cli",
            "--api-port",
            "0",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(node.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the node exited before serving its API");
        if let Some(rest) = line.trim().split("node API on ").nth(1) {
            break rest.to_owned();
        }
    };
    let (s, h) = http(&addr, "GET", "/api/v1/health", None);
    assert_eq!((s, h["bot_id"].as_str(), h["mode"].as_str()), (200, Some("live-cli"), Some("dry-run")), "{h}");
    let (s, st) = http(&addr, "GET", "/api/v1/status", None);
    assert_eq!(s, 200, "{st}");
    assert!(st["open_trades"].as_array().is_some_and(Vec::is_empty), "{st}");
    let (s, a) = http(&addr, "POST", "/api/v1/stop", Some(&serde_json::json!({"close_all": false})));
    assert_eq!(s, 200, "{a}");
    // While it serves, the node's record carries the API's address (what backend-api proxies to).
    // The API answers before the node's first start creates its row: wait for the row.
    let n = (0..200)
        .find_map(|_| {
            let nodes = json_of(&run_ok(&["--data-dir", d, "trade", "list", "--json"]));
            let found = nodes.as_array().unwrap().iter().find(|n| n["bot_id"] == "live-cli").cloned();
            if found.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            found
        })
        .expect("the node's row appears");
    assert_eq!(n["api_url"].as_str(), Some(addr.as_str()), "{n}");

    let pid = node.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = node.wait_with_output().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(out.status.success(), "{rest}");
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["bot_id"], "live-cli");
    assert_eq!(j["replay"], false);
    // The node's first candle is the one after the last closed at its start.
    let first = tradai_core::iso_ts_ms(now.div_euclid(TF) * TF);
    assert_eq!(j["first_candle"].as_str(), Some(first.as_str()), "{j}");

    // The warm-up (EmaCross: 30 candles) and everything up to the last closed candle was
    // synced into the store through the fake.
    let listed = json_of(&run_ok(&["--data-dir", d, "data", "list", "--json"]));
    let s = listed.as_array().and_then(|a| a.iter().find(|s| s["pair"] == "BTC/USDT")).unwrap_or(&listed);
    assert!(s["rows"].as_u64().unwrap_or(0) >= 30, "{listed}");
    let nodes = json_of(&run_ok(&["--data-dir", d, "trade", "list", "--json"]));
    let n = nodes.as_array().unwrap().iter().find(|n| n["bot_id"] == "live-cli").unwrap();
    assert_eq!((n["replay"].as_bool(), n["status"].as_str()), (Some(false), Some("stopped")), "{n}");
    assert!(n["api_url"].is_null(), "a stopped node withdraws its API address: {n}");
    assert!(fake.state.lock().unwrap().kline_requests >= 1);
}
