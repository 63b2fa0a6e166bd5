//! `tradai data ...` through the real binary: import, list, validate, freshness, synth, bad
//! input, and a writer killed mid-append.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn tradai() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tradai"));
    c.env_remove("TRADAI_DATA_DIR").env_remove("TRADAI_CONFIG").env("NO_COLOR", "1");
    c
}

/// The repository's `testdata/` (Freqtrade candles and the conformance reference runs).
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn run_ok(args: &[&str]) -> Output {
    let out = tradai().args(args).output().unwrap();
    assert!(out.status.success(), "tradai {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

pub fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs a command expected to fail; returns its stderr, checking it is one line naming `needle`.
pub fn run_err(args: &[&str], needle: &str) -> String {
    let out = tradai().args(args).output().unwrap();
    assert!(!out.status.success(), "tradai {args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(err.contains(needle), "stderr of {args:?} should name '{needle}': {err}");
    if !err.contains("Usage:") {
        assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    }
    err
}

/// The ten BTC pairs of the conformance reference runs (January 2018).
pub const PAIRS: &str = "ADA/BTC,DASH/BTC,ETC/BTC,ETH/BTC,LTC/BTC,NXT/BTC,TRX/BTC,XLM/BTC,XMR/BTC,ZEC/BTC";

/// The market and money of the reference runs on `pairs`: 5m candles, 0.05 a trade from a
/// wallet of 1.
pub const fn market_5m(pairs: &str) -> [&str; 8] {
    ["--pairs", pairs, "--timeframe", "5m", "--stake-amount", "0.05", "--wallet", "1"]
}

/// The market and money of a reference run: the ten pairs, [`market_5m`].
pub const REFERENCE_MARKET: [&str; 8] = market_5m(PAIRS);

/// The flags of a reference run but the strategy: the store `d` on Binance, the
/// [`REFERENCE_MARKET`], `mot` slots and a fee of 0.1 %.
pub fn reference_flags<'a>(d: &'a str, mot: &'a str) -> Vec<&'a str> {
    [&["--data-dir", d, "--exchange", "binance"][..], &REFERENCE_MARKET, &["--max-open-trades", mot, "--fee", "0.001"]].concat()
}

/// Imports the Freqtrade candles under `candles`, with the markets file `markets`, into the
/// store at `d` as Binance's.
pub fn import_freqtrade(d: &Path, candles: &Path, markets: &Path) {
    let (d, candles, markets) = (d.to_str().unwrap(), candles.to_str().unwrap(), markets.to_str().unwrap());
    run_ok(&["--data-dir", d, "-q", "data", "import", "freqtrade", candles, "--exchange", "binance", "--markets", markets]);
}

/// Imports the sample data (`sample-data/binance`, with its markets) into the store at `d`.
pub fn import_sample(d: &Path) {
    let sample = repo().join("sample-data/binance");
    import_freqtrade(d, &sample, &sample.join("markets.json"));
}

/// A fresh store holding the sample data.
pub fn sample_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    import_sample(dir.path());
    dir
}

/// Imports the Freqtrade test data (with the sample markets) into a fresh store.
pub fn imported_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    import_freqtrade(dir.path(), &testdata().join("freqtrade"), &repo().join("sample-data/binance/markets.json"));
    dir
}

#[test]
fn import_list_validate_freshness() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let list = json_of(&run_ok(&["--data-dir", d, "data", "list", "--json"]));
    let rows = |pair: &str, tf: &str| {
        list.as_array().unwrap().iter().find(|s| s["pair"] == pair && s["timeframe"] == tf).map(|s| s["rows"].as_u64().unwrap())
    };
    assert_eq!(rows("ETH/BTC", "5m"), Some(5760));
    assert_eq!(rows("ADA/BTC", "5m"), Some(5720));
    assert_eq!(rows("UNITTEST/BTC", "1m"), Some(13681));
    assert_eq!(rows("XRP/USDT:USDT", "5m"), Some(1999));

    let v = json_of(&run_ok(&["--data-dir", d, "data", "validate", "--timeframe", "5m", "--json"]));
    let missing = |pair: &str| v.as_array().unwrap().iter().find(|r| r["pair"] == pair).unwrap()["missing"].as_u64().unwrap();
    assert_eq!(
        [missing("ADA/BTC"), missing("TRX/BTC"), missing("DASH/BTC"), missing("XMR/BTC"), missing("ZEC/BTC"), missing("ETH/BTC")],
        [40, 6, 2, 2, 2, 0]
    );

    // Fresh relative to a clock just after the data, stale a week later (exit code 1).
    let args = ["--data-dir", d, "data", "freshness", "--pairs", "ETH/BTC,ZEC/BTC", "--timeframe", "5m", "--stale-after", "24h", "--json"];
    let mut fresh = args.to_vec();
    fresh.extend(["--now", "2018-01-30T12:00:00Z"]);
    let f = json_of(&run_ok(&fresh));
    assert_eq!(f["all_fresh"], true);
    let mut stale = args.to_vec();
    stale.extend(["--now", "2018-02-06T00:00:00Z"]);
    let out = tradai().args(&stale).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let f = json_of(&out);
    assert_eq!(f["all_fresh"], false);
    assert_eq!(f["results"][0]["row_count"], 5760);
    // Without --timeframe every stored timeframe of the pair is checked (a fixed 1h default
    // found nothing in a 5m store and failed).
    let f = json_of(&run_ok(&["--data-dir", d, "data", "freshness", "-p", "ETH/BTC", "--now", "2018-01-30T12:00:00Z", "--json"]));
    assert_eq!(f["all_fresh"], true, "{f}");
    let timeframes: Vec<&str> = f["results"].as_array().unwrap().iter().filter_map(|r| r["timeframe"].as_str()).collect();
    assert_eq!(timeframes, ["5m"], "{f}");
}

/// The import line of `scripts/quickstart.sh`, run as the script runs it (from the repository
/// root, with its relative paths), into the store `d`.
fn quickstart_import(d: &str) -> Output {
    let script = std::fs::read_to_string(repo().join("scripts/quickstart.sh")).unwrap();
    let joined = script.replace("\\\n", " ");
    let line = joined.lines().find(|l| l.contains("data import freqtrade")).expect("quickstart imports the sample");
    let words: Vec<&str> = line.split_whitespace().skip_while(|w| *w != "data").collect();
    assert!(words.contains(&"--markets"), "the quickstart passes --markets: {line}");
    tradai().current_dir(repo()).args(["--data-dir", d]).args(&words).output().unwrap()
}

#[test]
fn the_quickstart_import_is_quiet_about_its_markets_file_and_draws_no_bar_when_redirected() {
    let dir = tempfile::tempdir().unwrap();
    let out = quickstart_import(dir.path().to_str().unwrap());
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("imported") && stdout.contains("ETH/BTC"), "{stdout}");
    // The file given as --markets is read, not reported as a skipped candle file.
    assert!(!stdout.contains("skipped") && !stderr.contains("skipped"), "{stdout}\n{stderr}");
    // A pipe gets no progress frames (carriage returns, cursor codes).
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!text.contains('\r') && !text.contains('\u{1b}'), "progress frames in redirected {name}: {text:?}");
    }
}

#[test]
fn bad_input_is_one_line_and_leaves_the_store_unchanged() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let before = run_ok(&["--data-dir", d, "data", "list", "--json"]).stdout;

    run_err(&["--data-dir", d, "data", "validate", "--timeframe", "7x"], "'7x'");
    run_err(&["--data-dir", d, "data", "validate", "--pairs", "BTCUSDT"], "'BTCUSDT'");
    run_err(&["--data-dir", d, "data", "freshness", "--timeframe", "5m", "--stale-after", "soon"], "'soon'");

    // A truncated feather file and a file missing a column, in otherwise good directories.
    let bad = tempfile::tempdir().unwrap();
    let good = std::fs::read(testdata().join("freqtrade/ETH_BTC-5m.feather")).unwrap();
    std::fs::write(bad.path().join("ETH_BTC-5m.feather"), &good).unwrap();
    std::fs::write(bad.path().join("LTC_BTC-5m.feather"), &good[..good.len() / 2]).unwrap();
    run_err(&["--data-dir", d, "-q", "data", "import", "freqtrade", bad.path().to_str().unwrap()], "LTC_BTC-5m.feather");

    let csv_dir = tempfile::tempdir().unwrap();
    let csv = csv_dir.path().join("btc.csv");
    std::fs::write(&csv, "date,open,high,low,volume\n1515560100000,1,2,0.5,10\n").unwrap();
    let err = run_err(
        &["--data-dir", d, "-q", "data", "import", "csv", csv.to_str().unwrap(), "--pair", "BTC/USDT", "--timeframe", "5m"],
        "close",
    );
    assert!(err.contains("btc.csv"), "{err}");
    run_err(
        &["--data-dir", d, "-q", "data", "import", "csv", csv.to_str().unwrap(), "--pair", "BTCUSDT", "--timeframe", "5m"],
        "'BTCUSDT'",
    );

    let after = run_ok(&["--data-dir", d, "data", "list", "--json"]).stdout;
    let strip = |b: &[u8]| -> Vec<Value> {
        let v: Value = serde_json::from_slice(b).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.as_object_mut().unwrap().remove("updated");
                s
            })
            .collect()
    };
    assert_eq!(strip(&before), strip(&after), "a failed import changed the store");

    // An unreadable data dir: a file where a directory should be.
    let f = csv_dir.path().join("not-a-dir");
    std::fs::write(&f, "x").unwrap();
    run_err(&["--data-dir", f.to_str().unwrap(), "data", "list"], "not-a-dir");
}

#[test]
fn csv_import_and_synth() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "date,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n2024-01-01T01:00:00Z,1.5,2,1,1.2,11\n")
        .unwrap();
    run_ok(&["--data-dir", d, "-q", "data", "import", "csv", csv.to_str().unwrap(), "--pair", "BTC/USDT", "--timeframe", "1h"]);
    let s =
        json_of(&run_ok(&["--data-dir", d, "data", "synth", "--pairs", "2", "--timeframe", "1h", "--days", "30", "--seed", "7", "--json"]));
    assert_eq!(s["rows"], 2 * 30 * 24);
    let list = json_of(&run_ok(&["--data-dir", d, "data", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 3);
    // Same seed, same candles: a second synth into another store gives identical files' rows.
    let dir2 = tempfile::tempdir().unwrap();
    let s2 = json_of(&run_ok(&[
        "--data-dir",
        dir2.path().to_str().unwrap(),
        "data",
        "synth",
        "--pairs",
        "2",
        "--timeframe",
        "1h",
        "--days",
        "30",
        "--seed",
        "7",
        "--json",
    ]));
    assert_eq!(s["series"], s2["series"]);
}

fn read_all(d: &str) -> Vec<(String, Vec<i64>, Vec<f64>)> {
    let store = tradai_store::BlockingCandleStore::open(d).unwrap();
    let mut out = Vec::new();
    for s in store.list().unwrap() {
        let c = store.read(&s.key, tradai_core::TimeRange::all(), tradai_store::Columns::ALL).unwrap();
        out.push((s.key.pair.to_string(), c.ts.clone(), c.close.clone()));
    }
    out
}

#[test]
fn a_writer_killed_mid_append_leaves_previous_data_readable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_owned();
    run_ok(&["--data-dir", &d, "-q", "data", "synth", "--pairs", "4", "--timeframe", "1m", "--days", "45", "--seed", "1"]);
    let before = read_all(&d);
    let cutoff = tradai_core::parse_date_ms("2024-02-01").unwrap();
    for delay_ms in [30u64, 120, 300, 700] {
        // Overlapping append (new candles from 2024-02-01 on, other values): killed part-way.
        let mut child = tradai()
            .args([
                "--data-dir",
                &d,
                "-q",
                "data",
                "synth",
                "--pairs",
                "4",
                "--timeframe",
                "1m",
                "--days",
                "400",
                "--seed",
                "2",
                "--start",
                "2024-02-01",
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let after = read_all(&d);
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(b.0, a.0);
            // Every candle before the overlap is bit-identical; nothing old was lost.
            let n_old = b.1.partition_point(|&t| t < cutoff);
            assert_eq!(&a.1[..n_old], &b.1[..n_old], "{} timestamps changed", a.0);
            assert!(a.2[..n_old].iter().zip(&b.2[..n_old]).all(|(x, y)| x.to_bits() == y.to_bits()), "{} values changed", a.0);
            assert!(a.1.len() >= b.1.len());
            assert!(a.1.windows(2).all(|w| w[0] < w[1]), "{} not sorted after crash", a.0);
        }
    }
}
