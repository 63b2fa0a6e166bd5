//! Users' own strategies through the binary: Freqtrade strategy files (`--strategy-path`)
//! reproduce the Freqtrade reference runs, a TOML strategy (`--strategy-file`) equals the
//! built-in, both hyperopt, and `tradai analysis` flags a planted look-ahead.
//!
//! The strategy-file tests need Python with pandas and pyarrow: `TRADAI_TEST_PYTHON`
//! (scripts/test.sh exports it from scripts/python-venv.sh), else that script's venv.

use std::process::Output;

use serde_json::Value;

use crate::backtest::assert_conforms;
use crate::data::{import_sample, imported_store, json_of, market_5m, reference_flags, testdata, tradai};

// The interpreter of tradai-python's tests.
#[path = "../../../python/tests/it/interp.rs"]
mod interp;
pub(crate) use interp::python;

fn run_py(args: &[&str]) -> Output {
    tradai().env("TRADAI_PYTHON", python()).args(args).output().unwrap()
}

fn ok(out: Output, args: &[&str]) -> Output {
    assert!(out.status.success(), "tradai {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn strategies_dir() -> String {
    testdata().join("conformance/strategies").to_string_lossy().into_owned()
}

fn export_of(d: &str, extra: &[&str], mot: &str) -> Value {
    let out = tempfile::tempdir().unwrap();
    let export = out.path().join("out.json");
    let args = [&["backtest"][..], &reference_flags(d, mot), &["--export", export.to_str().unwrap()], extra].concat();
    ok(run_py(&args), &args);
    serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap()
}

fn expected(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(testdata().join(format!("conformance/expected/{name}.json"))).unwrap()).unwrap()
}

#[test]
fn the_reference_strategy_files_reproduce_the_freqtrade_runs() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let path = strategies_dir();
    for (class, mot, name) in [
        ("EmaCross", "3", "EmaCross-mot3"),
        ("BollingerBreakout", "3", "BollingerBreakout-mot3"),
        ("RsiMeanReversion", "-1", "RsiMeanReversion-unlimited"),
    ] {
        let actual = export_of(d, &["--strategy-path", &path, "--strategy", class], mot);
        assert_conforms(&actual, &expected(name), &format!("{name} through {class}.py"));
    }
}

#[test]
fn the_futures_file_trades_like_the_builtin() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    import_sample(dir.path());
    let run = |extra: &[&str]| {
        let out = tempfile::tempdir().unwrap();
        let export = out.path().join("f.json");
        let mut args = vec!["backtest", "--data-dir", d];
        args.extend_from_slice(&crate::backtest::FUTURES_RUN);
        args.extend_from_slice(&["--export", export.to_str().unwrap()]);
        args.extend_from_slice(extra);
        ok(run_py(&args), &args);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
        v
    };
    let path = strategies_dir();
    let file = run(&["--strategy-path", &path, "--strategy", "EmaCrossFutures"]);
    let builtin = run(&["--strategy", "EmaCrossFutures"]);
    let trades = file["trades"].as_array().unwrap();
    assert!(trades.iter().any(|t| t["is_short"] == true) && trades.iter().any(|t| t["is_short"] == false));
    // leverage() of the file (2.0) is used: the same leverage as the built-in's.
    assert!(trades.iter().all(|t| t["leverage"] == 2.0), "{}", trades[0]);
    assert_eq!(file["trades"], builtin["trades"]);
}

#[test]
fn strategy_file_errors_are_one_line() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let path = strategies_dir();
    let base = ["backtest", "--data-dir", d, "--pairs", "ETH/BTC", "--strategy-path", &path];
    let err = |extra: &[&str], env: Option<&str>, needle: &str| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let mut cmd = tradai();
        cmd.env("TRADAI_PYTHON", env.map_or_else(python, str::to_owned));
        let out = cmd.args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let text = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(needle), "'{needle}' not in: {text}");
    };
    err(&["--strategy", "NoSuchClass"], None, "strategy 'NoSuchClass' not found");
    err(&["--strategy", "EmaCross"], Some("/nonexistent/python3"), "cannot start the Python interpreter '/nonexistent/python3'");
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(
        bad.path().join("bad.py"),
        "from freqtrade.strategy import IStrategy\nclass Bad(IStrategy):\n    stoploss = -0.1\n    timeframe = '5m'\n    def populate_indicators(self, df, metadata):\n        return df.nope\n",
    )
    .unwrap();
    let args = ["backtest", "--data-dir", d, "--pairs", "ETH/BTC", "--strategy-path", bad.path().to_str().unwrap(), "--strategy", "Bad"];
    let out = run_py(&args);
    let text = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert_eq!(out.status.code(), Some(2));
    assert!(text.contains("invalid --strategy: strategy 'Bad' failed on 'ETH/BTC': AttributeError"), "{text}");
}

#[test]
fn toml_ema_cross_equals_the_builtin_trade_for_trade() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let toml = testdata().join("strategies/EmaCrossToml.toml");
    let file = export_of(d, &["--strategy-file", toml.to_str().unwrap(), "--strategy", "EmaCrossToml"], "3");
    // The Freqtrade reference run of EmaCross, reproduced by the TOML file.
    assert_conforms(&file, &expected("EmaCross-mot3"), "EmaCrossToml");
    let builtin = export_of(d, &["--strategy", "EmaCross"], "3");
    assert_eq!(file["trades"], builtin["trades"]);
    // A name other than the file's is refused, naming both.
    let args = ["backtest", "--data-dir", d, "--pairs", "ETH/BTC", "--strategy-file", toml.to_str().unwrap(), "--strategy", "EmaCross"];
    let out = tradai().args(args).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("defines strategy 'EmaCrossToml', not 'EmaCross'"));
}

#[test]
fn hyperopt_searches_the_parameters_of_a_toml_and_a_python_file() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let toml = testdata().join("strategies/EmaCrossToml.toml");
    let py = testdata().join("strategies/python");
    for source in [
        ["--strategy-file", toml.to_str().unwrap(), "--strategy", "EmaCrossToml"],
        ["--strategy-path", py.to_str().unwrap(), "--strategy", "RsiTalib"],
    ] {
        let mut args = [&["hyperopt", "--data-dir", d][..], &market_5m("ETH/BTC,LTC/BTC")].concat();
        args.extend([
            "--epochs",
            "6",
            "--spaces",
            "buy",
            "--sampler",
            "random",
            "--seed",
            "3",
            "--jobs",
            "2",
            "--loss",
            "profit",
            "--top",
            "6",
            "--json",
        ]);
        args.extend_from_slice(&source);
        let v = json_of(&ok(run_py(&args), &args));
        let text = v.to_string();
        assert_eq!(v["epochs"], 6, "{text}");
        let epochs = v["top"].as_array().unwrap_or_else(|| panic!("{text}"));
        let key = if source[3] == "RsiTalib" { "buy_rsi" } else { "fast" };
        let values: std::collections::BTreeSet<String> = epochs.iter().map(|e| e["params"][key].to_string()).collect();
        assert!(values.len() > 1, "{key} was not searched: {values:?}");
    }
}

#[test]
fn lookahead_flags_the_planted_peek_and_passes_the_builtins() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let py = testdata().join("strategies/python");
    let common = [
        "analysis",
        "lookahead",
        "--data-dir",
        d,
        "--pairs",
        "ETH/BTC,LTC/BTC",
        "--timerange",
        "20180112-20180120",
        "--max-signals",
        "8",
        "--json",
    ];
    let mut args = common.to_vec();
    args.extend(["--strategy-path", py.to_str().unwrap(), "--strategy", "PeekingStrategy"]);
    let out = run_py(&args);
    assert_eq!(out.status.code(), Some(1), "biased exits 1: {}", String::from_utf8_lossy(&out.stderr));
    let v = json_of(&out);
    assert_eq!(v["biased"], true);
    let cols: Vec<&str> = v["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert!(cols.contains(&"next_close") && cols.contains(&"enter_long"), "{cols:?}");
    assert!(!cols.contains(&"ema_slow"), "a causal column is not flagged: {cols:?}");
    for strategy in ["EmaCross", "RsiMeanReversion", "BollingerBreakout", "MacdTrend", "DonchianBreakout"] {
        let mut args = common.to_vec();
        args.extend(["--strategy", strategy]);
        let v = json_of(&ok(tradai().args(&args).output().unwrap(), &args));
        assert_eq!(v["biased"], false, "{strategy}: {v}");
        assert!(v["signals_checked"].as_u64().unwrap() > 0, "{strategy}: {v}");
    }
    // The reference files and the TOML strategy are clean too.
    let path = strategies_dir();
    let toml = testdata().join("strategies/EmaCrossToml.toml");
    for source in [
        vec!["--strategy-path", path.as_str(), "--strategy", "RsiMeanReversion"],
        vec!["--strategy-file", toml.to_str().unwrap(), "--strategy", "EmaCrossToml"],
    ] {
        let mut args = common.to_vec();
        args.extend(source);
        let v = json_of(&ok(run_py(&args), &args));
        assert_eq!(v["biased"], false, "{v}");
    }
}

#[test]
fn recursive_reports_the_startup_that_makes_rsi_stable() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let path = strategies_dir();
    let args = [
        "analysis",
        "recursive",
        "--data-dir",
        d,
        "--pairs",
        "ETH/BTC",
        "--strategy-path",
        &path,
        "--strategy",
        "RsiMeanReversion",
        "--startup-candles",
        "30,100,300,1000",
        "--json",
    ];
    let v = json_of(&ok(run_py(&args), &args));
    let rsi = v["rows"].as_array().unwrap().iter().find(|r| r["column"] == "rsi").unwrap_or_else(|| panic!("{v}"));
    let d30 = rsi["differences"][0].as_f64().unwrap();
    assert!(d30 > 1e-6, "30 start-up candles are not enough for a Wilder RSI: {rsi}");
    assert_eq!(rsi["stable_from"], 300, "{rsi}");
    assert_eq!(v["strategy_startup"], 30);
    // The text form names the count.
    let text_args: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
    let out = ok(run_py(&text_args), &text_args);
    assert!(String::from_utf8_lossy(&out.stdout).contains("stable with 300 start-up candles"));
}

#[test]
fn a_dry_run_replay_of_a_strategy_file_equals_its_backtest() {
    use crate::trade::{assert_same_export, read, strs, trade_args};
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let toml = testdata().join("strategies/EmaCrossToml.toml");
    let path = strategies_dir();
    for (source, name, what) in
        [(["--strategy-file", toml.to_str().unwrap()], "EmaCrossToml", "toml"), (["--strategy-path", path.as_str()], "EmaCross", "python")]
    {
        let mut flags = crate::backtest::run_flags(d, name, "3");
        flags.extend(source.iter().map(|s| (*s).to_owned()));
        let bt_out = dir.path().join(format!("{what}.backtest.json"));
        let mut bt = vec!["backtest".to_owned()];
        bt.extend_from_slice(&flags);
        bt.extend(["--export".into(), bt_out.to_str().unwrap().into()]);
        ok(run_py(&strs(&bt)), &strs(&bt));
        let tr_out = dir.path().join(format!("{what}.replay.json"));
        let tr = trade_args(&flags, what, &tr_out);
        ok(run_py(&strs(&tr)), &strs(&tr));
        let (replay, backtest) = (read(&tr_out), read(&bt_out));
        assert!(!replay["trades"].as_array().unwrap().is_empty(), "{what}: no trades");
        assert_same_export(&replay, &backtest, what);
    }
    // The Python file's replay is also Freqtrade's reference run.
    assert_conforms(&read(&dir.path().join("python.replay.json")), &expected("EmaCross-mot3"), "EmaCross.py replayed");
}
