//! `tradai ml ...` end to end on synthetic candles: train and register, drift with thresholds
//! from the environment, backtest, dry-run replay (equal to the backtest trade for trade) and
//! hyperopt of `MlSignal --model`, promote, roll back,
//! retrain, and bad input reported as one line naming the value.

use std::path::Path;

use crate::services::tradai;

fn run(data: &Path, envs: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut c = tradai();
    c.env_remove("MLFLOW_TRACKING_URI").env_remove("TRADAI_TRACKING__URI").arg("--data-dir").arg(data).args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn json(data: &Path, args: &[&str]) -> serde_json::Value {
    let (code, out, err) = run(data, &[], args);
    assert!(code == 0 || code == 1, "tradai {args:?} failed ({code}): {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("tradai {args:?}: not JSON ({e}): {out}"))
}

const MARKET: [&str; 6] = ["--exchange", "synth", "--pairs", "SYN0/USDT,SYN1/USDT", "--timeframe", "1h"];

fn with<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    head.iter().chain(MARKET.iter()).chain(tail).copied().collect()
}

#[test]
fn ml_train_drift_backtest_promote_rollback_and_retrain() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (code, _, err) = run(&data, &[], &["data", "synth", "--pairs", "2", "--timeframe", "1h", "--days", "240", "--seed", "3"]);
    assert_eq!(code, 0, "{err}");

    let v1 = json(
        &data,
        &with(&["ml", "train", "--model", "m"], &["--timerange", "20240101-20240630", "--horizon", "2", "--promote", "--json"]),
    );
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["features"].as_array().unwrap().len(), 8);
    assert_eq!(v1["folds"].as_array().unwrap().len(), 4);
    let auc = v1["metrics"]["auc"].as_f64().unwrap();
    assert!((0.4..0.6).contains(&auc), "a random walk is not predictable: AUC {auc}");

    // Drift on later candles of the same process: scores for every feature and the predictions.
    let d = json(&data, &with(&["ml", "drift", "--model", "m@1"], &["--timerange", "20240701-", "--json"]));
    assert_eq!(d["features"].as_array().unwrap().len(), 8);
    assert!(d["prediction"]["psi"].is_number() && d["has_drift"].is_boolean() && d["drifted_features"].is_array());
    assert_eq!(d["psi_threshold"], 0.2);
    // --record keeps the scores as a run of drift/<model>.
    let _ = json(&data, &with(&["ml", "drift", "--model", "m@1", "--record"], &["--timerange", "20240701-", "--json"]));
    let runs = json(&data, &["runs", "list", "--experiment", "drift/m", "--json"]);
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
    // Thresholds come from settings: near-zero thresholds flag everything and exit 1.
    let (code, out, _) = run(
        &data,
        &[("TRADAI_ML__PSI_THRESHOLD", "0.000001"), ("TRADAI_ML__KS_THRESHOLD", "0.000001")],
        &with(&["ml", "drift", "--model", "m@1"], &["--timerange", "20240701-", "--json"]),
    );
    let d: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!((code, d["has_drift"].as_bool()), (1, Some(true)));
    assert_eq!(d["psi_threshold"], 0.000001);

    // The model trades as MlSignal in a backtest (thresholds from a strategy config) and a
    // hyperopt.
    let cfg = tmp.path().join("ml.json");
    std::fs::write(&cfg, r#"{"strategy": "MlSignal", "params": {"entry_threshold": 0.5}}"#).unwrap();
    let cfg = cfg.to_str().unwrap();
    let (code, out, err) = run(
        &data,
        &[],
        &with(&["backtest", "--strategy", "MlSignal", "--model", "m@1", "--strategy-config", cfg], &["--timerange", "20240701-", "--json"]),
    );
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(summary["total_trades"].as_u64().unwrap() > 0, "{summary}");
    let (code, _, err) = run(
        &data,
        &[],
        &with(
            &["hyperopt", "--strategy", "MlSignal", "--model", "m@1"],
            &["--timerange", "20240701-", "--epochs", "6", "--spaces", "buy,sell"],
        ),
    );
    assert_eq!(code, 0, "{err}");

    // Two promoted versions, then a rollback to the first.
    let v2 =
        json(&data, &with(&["ml", "train", "--model", "m"], &["--timerange", "20240201-20240731", "--algo", "gbt", "--promote", "--json"]));
    assert_eq!((v2["version"].as_u64(), v2["promoted"].as_bool()), (Some(2), Some(true)));
    // A dry-run replay of the (gbt) model trades as its backtest does, trade for trade, with
    // the strategy's default thresholds (`trade` takes no strategy config).
    let (bt_out, tr_out) = (tmp.path().join("ml.backtest.json"), tmp.path().join("ml.replay.json"));
    let ml_run = ["--strategy", "MlSignal", "--model", "m@2"];
    let (code, _, err) =
        run(&data, &[], &with(&[&["backtest"][..], &ml_run].concat(), &["--timerange", "20240701-", "--export", bt_out.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(
        &data,
        &[],
        &with(
            &[&["trade", "--mode", "dry-run", "--replay", "--bot-id", "ml-node"][..], &ml_run].concat(),
            &["--timerange", "20240701-", "--export", tr_out.to_str().unwrap()],
        ),
    );
    assert_eq!(code, 0, "{err}");
    let (replay, backtest) = (crate::trade::read(&tr_out), crate::trade::read(&bt_out));
    assert!(!replay["trades"].as_array().unwrap().is_empty(), "the model made no trade");
    crate::trade::assert_same_export(&replay, &backtest, "MlSignal m@2");
    // Without --model the node refuses to start, naming the flag.
    let (code, _, err) =
        run(&data, &[], &with(&["trade", "--mode", "dry-run", "--replay", "--strategy", "MlSignal"], &["--timerange", "20240701-"]));
    assert_eq!(code, 2);
    assert!(err.contains("--model") && err.trim().lines().count() == 1, "{err}");

    let r = json(&data, &["ml", "rollback", "--model", "m", "--reason", "test", "--json"]);
    assert_eq!(r["champion"], 1, "{r}");
    let (code, _, err) = run(&data, &[], &["ml", "rollback", "--model", "m"]);
    assert_eq!(code, 2);
    assert!(err.contains("'m'") && err.lines().count() == 1, "{err}");

    // Retrain against the champion: a decision, recorded, and the champion follows it.
    let out = json(
        &data,
        &with(&["ml", "retrain", "--model", "m"], &["--train-timerange", "20240301-20240731", "--timerange", "20240801-", "--json"]),
    );
    assert_eq!(out["challenger"]["version"], 3);
    assert_eq!(out["promotion"]["previous_champion"], 1);
    let decision = out["comparison"]["decision"].as_str().unwrap();
    assert!(["PROMOTE", "KEEP", "INCONCLUSIVE"].contains(&decision), "{out}");
    assert_eq!(out["decision"], decision);
    assert_eq!(out["champion_after"], if decision == "PROMOTE" { 3 } else { 1 });
    let steps: Vec<(&str, &str)> =
        out["steps"].as_array().unwrap().iter().map(|s| (s["step"].as_str().unwrap(), s["state"].as_str().unwrap())).collect();
    assert_eq!(
        steps,
        [("check", "done"), ("train", "done"), ("backtest", "done"), ("compare", "done"), ("promote", "done"), ("notify", "done")]
    );
    let (code, shown, _) = run(&data, &[], &["runs", "list", "--experiment", "retraining/m", "--json"]);
    assert_eq!(code, 0);
    assert!(shown.contains("\"event\""), "{shown}");
}

/// Model `x` on the first synthetic pair, hourly.
const MODEL_X: [&str; 8] = ["--model", "x", "--exchange", "synth", "--pairs", "SYN0/USDT", "--timeframe", "1h"];

#[test]
fn ml_bad_input_is_one_line_naming_the_value() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (code, _, err) = run(&data, &[], &["data", "synth", "--pairs", "1", "--timeframe", "1h", "--days", "30", "--seed", "3"]);
    assert_eq!(code, 0, "{err}");
    for (args, needle) in [
        ([&["ml", "train"][..], &MODEL_X, &["--features", "ret_1,foo_3"]].concat(), "'foo_3'"),
        ([&["ml", "train"][..], &MODEL_X, &["--algo", "svm"]].concat(), "'svm'"),
        (vec!["ml", "train", "--model", "x", "--exchange", "synth", "--pairs", "NOPE/USDT", "--timeframe", "1h"], "NOPE/USDT"),
        (vec!["ml", "drift", "--model", "ghost", "--exchange", "synth", "--pairs", "SYN0/USDT"], "ghost"),
        (vec!["ml", "drift", "--model", "x@what?", "--exchange", "synth", "--pairs", "SYN0/USDT"], "what?"),
        (vec!["backtest", "--strategy", "MlSignal", "--exchange", "synth", "--pairs", "SYN0/USDT", "--timeframe", "1h"], "--model"),
        (vec!["backtest", "--strategy", "EmaCross", "--model", "x", "--exchange", "synth", "--pairs", "SYN0/USDT"], "'x'"),
        (
            [&["ml", "retrain"][..], &MODEL_X, &["--train-timerange", "20240101-20240120", "--timerange", "20240110-"]].concat(),
            "20240101-20240120",
        ),
    ] {
        let (code, _, err) = run(&data, &[], &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle) && err.trim().lines().count() == 1, "{args:?}: {err}");
    }
}
