//! `tradai backtest` through the conformance contract of `testdata/conformance/README.md`: the
//! three reference runs must match Freqtrade's trades exactly and its summary to 1e-6; bad
//! input must fail with one line naming the bad value.

use std::path::Path;

use serde_json::Value;

use crate::data::{import_freqtrade, import_sample, imported_store, json_of, market_5m, reference_flags, run_err, run_ok, testdata};

fn close(a: f64, b: f64, rel: f64) -> bool {
    a == b || (a - b).abs() <= rel * a.abs().max(b.abs())
}

/// Compares two exports trade by trade (exact keys exact, floats to `rel`), then the summary.
pub fn assert_conforms(actual: &Value, expected: &Value, what: &str) {
    let at = actual["trades"].as_array().unwrap();
    let et = expected["trades"].as_array().unwrap();
    assert_eq!(at.len(), et.len(), "{what}: trade count");
    for (i, (a, e)) in at.iter().zip(et).enumerate() {
        for k in ["pair", "open_date", "close_date", "exit_reason", "is_short"] {
            assert_eq!(a[k], e[k], "{what}: trade {i} field {k}\nactual   {a}\nexpected {e}");
        }
        for k in ["open_rate", "close_rate", "amount", "stake_amount", "profit_abs", "profit_ratio"] {
            let (x, y) = (a[k].as_f64().unwrap(), e[k].as_f64().unwrap());
            assert!(close(x, y, 1e-9), "{what}: trade {i} field {k}: {x} vs {y}\nactual   {a}\nexpected {e}");
        }
    }
    let au = actual["unclosed_trades"].as_array().unwrap();
    let eu = expected["unclosed_trades"].as_array().unwrap();
    assert_eq!(au.len(), eu.len(), "{what}: unclosed trades");
    for (a, e) in au.iter().zip(eu) {
        assert_eq!(a["pair"], e["pair"], "{what}: unclosed");
        assert_eq!(a["open_date"], e["open_date"], "{what}: unclosed");
    }
    let diffs = tradai_metrics::compare_summaries(&actual["summary"], &expected["summary"], 1e-6);
    assert!(diffs.is_empty(), "{what}: summary differs:\n{}", diffs.join("\n"));
}

/// The run flags of a reference run (shared by `backtest` and `trade`).
pub(crate) fn run_flags(d: &str, strategy: &str, mot: &str) -> Vec<String> {
    let mut flags = reference_flags(d, mot);
    flags.extend(["--strategy", strategy]);
    flags.into_iter().map(str::to_owned).collect()
}

fn reference_run(d: &str, strategy: &str, mot: &str, name: &str) {
    let out = tempfile::tempdir().unwrap();
    let export = out.path().join("out.json");
    let mut args = vec!["backtest".to_owned()];
    args.extend(run_flags(d, strategy, mot));
    args.extend(["--export".to_owned(), export.to_str().unwrap().to_owned()]);
    run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let actual: Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(testdata().join(format!("conformance/expected/{name}.json"))).unwrap()).unwrap();
    assert_conforms(&actual, &expected, name);
}

#[test]
fn the_three_reference_runs_match_freqtrade() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    reference_run(d, "EmaCross", "3", "EmaCross-mot3");
    reference_run(d, "BollingerBreakout", "3", "BollingerBreakout-mot3");
    reference_run(d, "RsiMeanReversion", "-1", "RsiMeanReversion-unlimited");
}

#[test]
fn report_json_and_plot() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let plot = dir.path().join("equity.svg");
    let two_pairs = market_5m("ETH/BTC,LTC/BTC");
    let run = |extra: &[&str]| {
        run_ok(
            &[&["backtest", "--data-dir", d, "--strategy", "EmaCross", "--timerange", "20180115-20180125"][..], &two_pairs, extra].concat(),
        )
    };
    let out = run(&["--plot", plot.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Results per pair") && text.contains("ETH/BTC") && text.contains("Exit reasons"), "{text}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "not an SVG");
    assert!(svg.contains("<polyline") || svg.contains("<path"));
    let s = json_of(&run(&["--json"]));
    assert_eq!(s["backtest_start"], "2018-01-15 00:00:00");
    assert!(s["total_trades"].as_u64().unwrap() > 0);
    assert_eq!(s["timerange"], "20180115-20180125");
}

#[test]
fn bad_backtest_input_is_one_line() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let base = |extra: &[&str]| {
        let mut v = vec!["backtest", "--data-dir", d, "--strategy", "EmaCross", "--wallet", "1"];
        if !extra.contains(&"--stake-amount") {
            v.extend(["--stake-amount", "0.05"]);
        }
        if !extra.contains(&"--pairs") {
            v.extend(["--pairs", "ETH/BTC"]);
        }
        v.extend_from_slice(extra);
        v.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let check = |args: Vec<String>, needle: &str| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        run_err(&a, needle);
    };
    check(
        ["backtest", "--data-dir", d, "--strategy", "NoSuchStrategy", "--pairs", "ETH/BTC"].map(str::to_owned).to_vec(),
        "'NoSuchStrategy'",
    );
    check(base(&["--pairs", "DOGE/BTC"]), "'DOGE/BTC'");
    check(base(&["--pairs", "BTCUSDT"]), "'BTCUSDT'");
    check(base(&["--timerange", "20190101-20190201"]), "20190101-20190201");
    check(base(&["--stake-amount", "5"]), "stake amount 5");
    check(base(&["--fee", "-0.001"]), "-0.001");
    check(base(&["--timeframe", "1h"]), "1h");
    check(base(&["--timeframe", "7x"]), "'7x'");
    check(base(&["--max-open-trades", "0"]), "max-open-trades");
    check(base(&["--stake-amount", "0.995"]), "0.995");
    check(base(&["--plot", "x.pdf"]), "x.pdf");
}

#[test]
fn sample_data_runs_futures_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    import_sample(dir.path());
    let mut args = vec!["backtest", "--data-dir", d, "--strategy", "EmaCrossFutures"];
    args.extend_from_slice(&FUTURES_RUN);
    args.extend_from_slice(&["--leverage", "2", "--json"]);
    let s = json_of(&run_ok(&args));
    assert!(s["trade_count_long"].as_u64().unwrap() > 0 && s["trade_count_short"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["trading_mode"], "futures");
    // A futures pair in a spot run is refused with a message naming the pair.
    let spot = [&["backtest", "--data-dir", d, "--strategy", "EmaCross"][..], &FUTURES_RUN[..FUTURES_MARKET]].concat();
    run_err(&spot, "XRP/USDT:USDT");
}

/// The futures reference run on the sample data (XRP/USDT:USDT perpetual, 5m): pair, money and
/// market flags, shared by the built-in and the strategy-file futures tests.
pub(crate) const FUTURES_RUN: [&str; 14] = [
    "--pairs",
    "XRP/USDT:USDT",
    "--timeframe",
    "5m",
    "--stake-amount",
    "100",
    "--wallet",
    "1000",
    "--max-open-trades",
    "1",
    "--fee",
    "0.0005",
    "--trading-mode",
    "futures",
];

/// How many of [`FUTURES_RUN`]'s flags name its pair, timeframe and money (the rest: slots,
/// fee, trading mode).
const FUTURES_MARKET: usize = 8;

/// Runs whose Freqtrade result depends on something the engine does not model yet. Each entry
/// says why; the test still runs them and fails if they start to match (so the list shrinks).
const KNOWN_DIVERGENCES: [(&str, &str); 0] = [];

fn read_fixture(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    let text = if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut s).unwrap();
        s
    } else {
        String::from_utf8(bytes).unwrap()
    };
    serde_json::from_str(&text).unwrap()
}

/// Differential conformance: every run recorded from real Freqtrade 2026.9 by
/// `scripts/freqtrade-diff` (other pairs, orders, time ranges, fees, slot limits, unlimited
/// stake, minimum stakes, 1m/30m, XRP/ETH, futures with 2x–5x leverage) must match.
#[test]
fn freqtrade_differential_fixtures_match() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    import_freqtrade(dir.path(), &testdata().join("freqtrade"), &repo.join("scripts/freqtrade-diff/markets.json"));
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/freqtrade");
    let mut names: Vec<_> =
        std::fs::read_dir(&fixtures).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().contains(".json")).collect();
    names.sort();
    assert!(names.len() >= 30, "fixtures missing");
    let mut failures = Vec::new();
    for path in names {
        let fx = read_fixture(&path);
        let c = &fx["config"];
        let name = c["name"].as_str().unwrap().to_owned();
        let out = dir.path().join(format!("{name}.out.json"));
        let pairs = c["pairs"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect::<Vec<_>>().join(",");
        let stake = match &c["stake_amount"] {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let mut args: Vec<String> = [
            "backtest",
            "--data-dir",
            d,
            "--exchange",
            "binance",
            "--strategy",
            c["strategy"].as_str().unwrap(),
            "--pairs",
            &pairs,
            "--timeframe",
            c["timeframe"].as_str().unwrap(),
            "--stake-amount",
            &stake,
            "--wallet",
            &c["dry_run_wallet"].to_string(),
            "--max-open-trades",
            &c["max_open_trades"].to_string(),
            "--fee",
            &c["fee"].to_string(),
            "--export",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        if let Some(tr) = c["timerange"].as_str() {
            args.extend(["--timerange".to_owned(), tr.to_owned()]);
        }
        if c["trading_mode"] == "futures" {
            args.extend(["--trading-mode".into(), "futures".into(), "--leverage".into(), c["leverage"].to_string()]);
        }
        let status = crate::data::tradai().args(&args).output().unwrap();
        let known = KNOWN_DIVERGENCES.iter().find(|(n, _)| *n == name);
        let result = if status.status.success() {
            let actual: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
            std::panic::catch_unwind(|| assert_conforms(&actual, &fx, &name)).is_ok()
        } else {
            eprintln!("{name}: tradai failed: {}", String::from_utf8_lossy(&status.stderr));
            false
        };
        match (result, known) {
            (true, None) | (false, Some(_)) => {}
            (false, None) => failures.push(name),
            (true, Some((n, why))) => failures.push(format!("{n} now matches; remove it from KNOWN_DIVERGENCES ({why})")),
        }
    }
    assert!(failures.is_empty(), "runs differing from Freqtrade: {failures:?}");
}
