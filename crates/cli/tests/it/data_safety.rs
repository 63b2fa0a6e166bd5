//! The candle store under an operator's accidents, through the real binary (issue 15): several
//! `tradai data import csv` into one series at once, a truncated and a garbled month file,
//! and `tradai data repair`.

use std::process::Stdio;

use serde_json::Value;

use crate::data::{imported_store, json_of, run_ok, tradai};

const H1: i64 = 3_600_000;
/// 2024-01-01 00:00 UTC.
const START: i64 = 1_704_067_200_000;

/// A CSV of hourly candles for hours `[from, from + n)`.
fn csv(path: &std::path::Path, from: i64, n: i64) {
    let mut s = String::from("date,open,high,low,close,volume\n");
    for h in from..from + n {
        s.push_str(&format!("{},1,2,0.5,1.5,{h}\n", START + h * H1));
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn concurrent_csv_imports_into_one_series_lose_no_candle() {
    // The case (200 rows and 100 later rows at once) plus overlapping and disjoint
    // writers crossing month files; a few rounds, each in a fresh store.
    let ranges: [(i64, i64); 5] = [(0, 200), (200, 100), (150, 400), (700, 300), (2000, 50)];
    let expected: std::collections::BTreeSet<i64> = ranges.iter().flat_map(|&(a, n)| a..a + n).collect();
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("store");
        let d = d.to_str().unwrap();
        let children: Vec<_> = ranges
            .iter()
            .enumerate()
            .map(|(i, &(from, n))| {
                let f = dir.path().join(format!("in{i}.csv"));
                csv(&f, from, n);
                tradai()
                    .args(["--data-dir", d, "-q", "data", "import", "csv", f.to_str().unwrap(), "--pair", "BTC/USDT", "--timeframe", "1h"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let list = json_of(&run_ok(&["--data-dir", d, "data", "list", "--json"]));
        assert_eq!(list[0]["rows"].as_u64(), Some(expected.len() as u64), "round {round}: candles lost");
        let v = json_of(&run_ok(&["--data-dir", d, "data", "validate", "--exchange", "binance", "--json"]));
        assert_eq!(v[0]["duplicates"], 0);
        assert_eq!(v[0]["rows"].as_u64(), Some(expected.len() as u64));
    }
}

/// Overwrites `b` with pseudo-random bytes (xorshift; fixed seed, so runs are reproducible).
fn garble(b: &mut [u8]) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for byte in b {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *byte = (x >> 32) as u8;
    }
}

fn find<'a>(v: &'a Value, pair: &str) -> &'a Value {
    v.as_array().unwrap().iter().find(|s| s["pair"] == pair && s["timeframe"] == "5m").unwrap_or_else(|| panic!("{pair} missing: {v}"))
}

#[test]
fn corrupt_files_are_contained_reported_and_repaired() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let file = |stem: &str| dir.path().join(format!("binance/spot/{stem}/5m/2018-01.parquet"));
    // `truncate -s 5000` on ADA/BTC's file; 4000 random bytes into the middle of DASH/BTC's.
    std::fs::OpenOptions::new().write(true).open(file("ADA_BTC")).unwrap().set_len(5000).unwrap();
    let mut bytes = std::fs::read(file("DASH_BTC")).unwrap();
    let mid = bytes.len() / 2;
    garble(&mut bytes[mid - 2000..mid + 2000]);
    std::fs::write(file("DASH_BTC"), &bytes).unwrap();

    // `data list` reports the truncated file in its row and lists everything else.
    let list = json_of(&run_ok(&["--data-dir", d, "data", "list", "--json"]));
    assert!(find(&list, "ADA/BTC")["corrupt"][0]["path"].as_str().unwrap().ends_with("ADA_BTC/5m/2018-01.parquet"), "{list}");
    assert_eq!(find(&list, "ETH/BTC")["rows"], 5760);
    assert_eq!(find(&list, "ETH/BTC")["corrupt"].as_array().unwrap().len(), 0);
    let text = String::from_utf8(run_ok(&["--data-dir", d, "data", "list"]).stdout).unwrap();
    assert!(text.contains("CORRUPT") && text.contains("ADA_BTC/5m/2018-01.parquet") && text.contains("tradai data repair"), "{text}");

    // `data validate` reads everything: both damaged files reported, the rest checked (exit 1).
    let out = tradai().args(["--data-dir", d, "data", "validate", "--timeframe", "5m", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = json_of(&out);
    for (pair, stem) in [("ADA/BTC", "ADA_BTC"), ("DASH/BTC", "DASH_BTC")] {
        let r = find(&v, pair);
        assert!(r["corrupt"][0]["path"].as_str().unwrap().ends_with(&format!("{stem}/5m/2018-01.parquet")), "{r}");
        assert_eq!(r["clean"], false);
    }
    assert_eq!(find(&v, "DASH/BTC")["ohlc_issues"], 0, "garbled candles must never be read as candles");
    assert!(find(&v, "DASH/BTC")["corrupt"][0]["reason"].as_str().unwrap().contains("checksum mismatch"));
    assert_eq!(find(&v, "ETH/BTC")["missing"], 0);

    // A backtest of other pairs runs; one that needs the garbled file fails naming it.
    let bt = ["--data-dir", d, "backtest", "--exchange", "binance", "--strategy", "EmaCross", "--timeframe", "5m", "--wallet", "1"];
    let ok = json_of(&run_ok(&[&bt[..], &["--pairs", "ETH/BTC,LTC/BTC", "--json"]].concat()));
    assert!(ok.to_string().contains("ETH/BTC"), "{ok}");
    let out = tradai().args([&bt[..], &["--pairs", "DASH/BTC,ETH/BTC"]].concat()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DASH_BTC/5m/2018-01.parquet"), "{err}");

    // `data freshness` flags the damaged series and answers for the others.
    let out = tradai()
        .args(["--data-dir", d, "data", "freshness", "--timeframe", "5m", "--pairs", "ADA/BTC,ETH/BTC", "--now", "2018-01-30T12:00:00Z"])
        .arg("--json")
        .output()
        .unwrap();
    let f = json_of(&out);
    assert_eq!(f["results"][0]["is_fresh"], false);
    assert!(f["results"][0]["error"].as_str().unwrap().contains("CORRUPT"), "{f}");
    assert_eq!(f["results"][1]["is_fresh"], true);

    // `data repair` moves both files to the quarantine folder and says so.
    let r = json_of(&run_ok(&["--data-dir", d, "data", "repair", "--exchange", "binance", "--json"]));
    let q = r["quarantined"].as_array().unwrap();
    assert_eq!(q.len(), 2, "{r}");
    for entry in q {
        assert!(dir.path().join(entry["moved_to"].as_str().unwrap()).is_file(), "{entry}");
    }
    assert!(!file("ADA_BTC").exists() && !file("DASH_BTC").exists());
    let text = String::from_utf8(run_ok(&["--data-dir", d, "data", "repair"]).stdout).unwrap();
    assert!(text.contains("nothing to repair"), "{text}");

    // Afterwards everything reads; the two pairs have no January file left (their only month).
    let list = json_of(&run_ok(&["--data-dir", d, "data", "list", "--json"]));
    assert!(list.as_array().unwrap().iter().all(|s| s["corrupt"].as_array().unwrap().is_empty()), "{list}");
    run_ok(&[&bt[..], &["--pairs", "ETH/BTC,LTC/BTC,TRX/BTC"]].concat());
}

#[test]
fn repair_has_a_runnable_example() {
    let out = run_ok(&["data", "repair", "--help"]);
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("  tradai data repair --exchange binance\n"), "{help}");
    let dir = imported_store();
    let text =
        String::from_utf8(run_ok(&["--data-dir", dir.path().to_str().unwrap(), "data", "repair", "--exchange", "binance"]).stdout).unwrap();
    assert!(text.contains("nothing to repair"), "{text}");
}

#[test]
fn repair_resync_downloads_the_quarantined_month_again() {
    let fake = crate::sync::start_fake();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let with_fake = |args: &[&str]| {
        let out = tradai()
            .env("TRADAI_BINANCE_SPOT_URL", &fake.url)
            .env("TRADAI_BINANCE_FUTURES_URL", &fake.url)
            .args(["--data-dir", d, "-q"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "tradai {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    };
    with_fake(&["data", "sync", "--exchange", "binance", "--pairs", "BTC/USDT", "--timeframe", "1h", "--start", "2024-01-01"]);
    let jan = dir.path().join("binance/spot/BTC_USDT/1h/2024-01.parquet");
    let mut bytes = std::fs::read(&jan).unwrap();
    let mid = bytes.len() / 2;
    garble(&mut bytes[mid - 100..mid + 100]);
    std::fs::write(&jan, &bytes).unwrap();

    let r = json_of(&with_fake(&["data", "repair", "--exchange", "binance", "--resync", "--json"]));
    assert_eq!(r["quarantined"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["resynced"][0]["stored"], 31 * 24, "{r}");
    assert!(r["resynced"][0]["error"].is_null(), "{r}");
    let v = json_of(&run_ok(&["--data-dir", d, "data", "validate", "--exchange", "binance", "--json"]));
    assert_eq!((v[0]["rows"].as_u64(), v[0]["clean"].as_bool()), (Some(31 * 24), Some(true)), "{v}");
}
