//! `tradai data sync` through the real binary against a small fake Binance on 127.0.0.1 (plain
//! `std::net`, so the CLI tests need no HTTP server crate), reached through the
//! `TRADAI_BINANCE_SPOT_URL` / `TRADAI_BINANCE_FUTURES_URL` variables. No test touches the
//! internet.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde_json::Value;

use crate::data::{json_of, repo, tradai};

const HOUR: i64 = 3_600_000;
/// 2024-01-01 00:00 UTC.
const JAN1: i64 = 1_704_067_200_000;
/// 2024-02-01 00:20 UTC: the 00:00 candle is still open.
const NOW: i64 = JAN1 + 31 * 24 * HOUR + 20 * 60_000;

/// A fake Binance answering time, exchangeInfo (from the exchange crate's fixtures) and klines
/// (also the exchange of the services' sync-job test).
pub(crate) struct FakeBinance {
    pub(crate) url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FakeBinance {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn fixture(name: &str) -> Value {
    let p = repo().join("crates/exchange/test_data").join(name);
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

pub(crate) fn start_fake() -> FakeBinance {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let spot = Arc::new(fixture("binance_spot_exchange_info.json"));
    let futures = Arc::new(fixture("binance_futures_exchange_info.json"));
    let thread = std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stop2.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let (spot, futures) = (Arc::clone(&spot), Arc::clone(&futures));
            std::thread::spawn(move || serve(stream, &spot, &futures));
        }
    });
    FakeBinance { url, stop, thread: Some(thread) }
}

fn serve(stream: TcpStream, spot: &Value, futures: &Value) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let q: std::collections::HashMap<&str, &str> = query.split('&').filter_map(|kv| kv.split_once('=')).collect();
    let listed = |info: &Value, s: &str| info["symbols"].as_array().unwrap().iter().any(|x| x["symbol"] == s);
    let invalid = (400, r#"{"code":-1121,"msg":"Invalid symbol."}"#.to_owned());
    let (status, body) = match path {
        "/api/v3/time" | "/fapi/v1/time" => (200, format!(r#"{{"serverTime":{NOW}}}"#)),
        "/fapi/v1/exchangeInfo" => (200, futures.to_string()),
        "/api/v3/exchangeInfo" => match q.get("symbol") {
            Some(s) if !listed(spot, s) => invalid,
            Some(s) => {
                let mut v = spot.clone();
                v["symbols"] = Value::Array(v["symbols"].as_array().unwrap().iter().filter(|x| x["symbol"] == *s).cloned().collect());
                (200, v.to_string())
            }
            None => (200, spot.to_string()),
        },
        "/api/v3/klines" | "/fapi/v1/klines" => {
            let info = if path.starts_with("/api") { spot } else { futures };
            let sym = q.get("symbol").copied().unwrap_or("");
            if listed(info, sym) {
                assert_eq!(q.get("interval"), Some(&"1h"), "this fake serves hourly candles only");
                let num = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
                let (start, end, limit) = (num("startTime").unwrap_or(0), num("endTime").unwrap_or(i64::MAX), num("limit").unwrap_or(500));
                let mut rows = Vec::new();
                let mut ts = (start + HOUR - 1).div_euclid(HOUR) * HOUR;
                // The still-open candle is served too, as Binance does.
                while ts <= end.min(NOW) && (rows.len() as i64) < limit {
                    let o = 100.0 + (ts / HOUR % 100) as f64;
                    rows.push(format!(
                        r#"[{ts},"{o}","{}","{}","{}","12.5",{},"0",1,"0","0","0"]"#,
                        o + 1.0,
                        o - 1.0,
                        o + 0.5,
                        ts + HOUR - 1
                    ));
                    ts += HOUR;
                }
                (200, format!("[{}]", rows.join(",")))
            } else {
                invalid
            }
        }
        _ => (404, r#"{"code":-1,"msg":"not found"}"#.to_owned()),
    };
    let mut out = stream;
    let _ = write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-MBX-USED-WEIGHT-1M: 10\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn sync_cmd(fake: &FakeBinance, dir: &str, extra: &[&str]) -> Command {
    let mut c = tradai();
    c.env("TRADAI_BINANCE_SPOT_URL", &fake.url).env("TRADAI_BINANCE_FUTURES_URL", &fake.url);
    c.args(["--data-dir", dir, "-q", "data", "sync", "--exchange", "binance", "--timeframe", "1h", "--start", "2024-01-01"]);
    c.args(extra);
    c
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "tradai data sync failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn sync_downloads_then_resumes_and_is_idempotent() {
    let fake = start_fake();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let pairs = ["--pairs", "BTC/USDT,ETH/USDT:USDT"];

    let first = json_of(&ok(sync_cmd(&fake, d, &[&pairs[..], &["--end", "2024-01-15", "--json"]].concat()).output().unwrap()));
    for p in first["pairs"].as_array().unwrap() {
        assert_eq!(p["ok"], true, "{p}");
        assert_eq!(p["stored"], 14 * 24, "{p}");
    }
    assert_eq!(first["pairs"][1]["symbol"], "ETHUSDT");
    assert_eq!(first["pairs"][1]["instrument"]["price_tick"], 0.01);

    // Same command again: nothing fetched, nothing written.
    let again = json_of(&ok(sync_cmd(&fake, d, &[&pairs[..], &["--end", "2024-01-15", "--json"]].concat()).output().unwrap()));
    for p in again["pairs"].as_array().unwrap() {
        assert_eq!((p["fetched"].as_u64(), p["stored"].as_u64(), p["requests"].as_u64()), (Some(0), Some(0), Some(0)), "{p}");
    }

    // Up to now: resumes after 2024-01-14 23:00 and stops before the open candle.
    let out = ok(sync_cmd(&fake, d, &pairs).output().unwrap());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("BTC/USDT") && text.contains("2024-01-31 23:00:00") && text.contains("synced 2 pairs from binance (1h)"),
        "{text}"
    );
    let list = json_of(&ok(tradai().args(["--data-dir", d, "data", "list", "--json"]).output().unwrap()));
    let rows: Vec<(String, u64)> =
        list.as_array().unwrap().iter().map(|s| (s["pair"].as_str().unwrap().to_owned(), s["rows"].as_u64().unwrap())).collect();
    assert_eq!(rows, vec![("BTC/USDT".to_owned(), 31 * 24), ("ETH/USDT:USDT".to_owned(), 31 * 24)]);
}

#[test]
fn sync_failures_are_one_line_naming_the_pair() {
    let fake = start_fake();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = sync_cmd(&fake, d, &["--pairs", "NOPE/USDT,BTC/USDT", "--end", "2024-01-02"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: 1 of 2 pairs failed: cannot prepare the sync of NOPE/USDT on binance"), "{err}");
    assert!(err.contains("'NOPEUSDT'"), "{err}");
    // The good pair was stored all the same.
    assert!(String::from_utf8_lossy(&out.stdout).contains("BTC/USDT"));

    let out = tradai()
        .env("TRADAI_BINANCE_SPOT_URL", &fake.url)
        .args(["--data-dir", d, "data", "sync", "--pairs", "BTC/USDT", "--timeframe", "7m", "--start", "2024-01-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'7m'"));
}
