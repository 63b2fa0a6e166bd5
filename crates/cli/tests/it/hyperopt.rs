//! `tradai hyperopt` through the real binary on the 10-pair sample data: a small TPE run with
//! out-of-sample split and every output file, same seed → same epochs, bad flags named.

use std::path::Path;

use serde_json::Value;

use crate::data::{json_of, run_err, run_ok, sample_store, REFERENCE_MARKET};

fn hyperopt(d: &str, out: &Path, seed: &str) -> Value {
    let p = |n: &str| out.join(n).to_str().unwrap().to_owned();
    let (epochs, best, heat) = (p("epochs.json"), p("best.json"), p("heat.svg"));
    let search = ["--epochs", "16", "--spaces", "buy,stoploss", "--loss", "sharpe", "--sampler", "tpe", "--seed", seed, "--jobs", "2"];
    let outputs = ["--split", "0.7", "--top", "3", "--export", &epochs, "--best-config", &best, "--heatmap", &heat, "--json"];
    json_of(&run_ok(&[&["--data-dir", d, "hyperopt", "--strategy", "EmaCross"][..], &REFERENCE_MARKET, &search, &outputs].concat()))
}

#[test]
fn hyperopt_runs_reproducibly_and_writes_its_outputs() {
    let store = sample_store();
    let d = store.path().to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let a = hyperopt(d, out.path(), "3");
    assert_eq!(a["epochs"], 16);
    assert_eq!(a["top"].as_array().unwrap().len(), 3);
    assert!(a["out_of_sample"]["out_of_sample"]["trades"].as_u64().unwrap() > 0, "{a}");
    let best: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("best.json")).unwrap()).unwrap();
    assert_eq!(best["strategy"], "EmaCross");
    for k in ["fast", "slow"] {
        assert_eq!(best["params"][k], a["best"]["params"][k], "{k}");
    }
    assert!(best["stoploss"].as_f64().unwrap() < 0.0 && best["minimal_roi"].is_object());
    let epochs: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("epochs.json")).unwrap()).unwrap();
    assert_eq!(epochs["study"]["epochs"].as_array().unwrap().len(), 16);
    assert!(std::fs::read_to_string(out.path().join("heat.svg")).unwrap().starts_with("<svg"));
    let b = hyperopt(d, out.path(), "3");
    assert_eq!(a["top"], b["top"], "same seed and jobs, same epochs");

    // The best config replays in a backtest: its stop-loss and ROI table are the ones used.
    let cfg = out.path().join("best.json");
    let backtest =
        [&["--data-dir", d, "backtest", "--strategy", "EmaCross"][..], &REFERENCE_MARKET, &["--strategy-config", cfg.to_str().unwrap()]]
            .concat();
    let s = json_of(&run_ok(&[&backtest[..], &["--json"]].concat()));
    assert_eq!(s["stoploss"], best["stoploss"]);
    let roi_keys: Vec<i64> = best["minimal_roi"].as_object().unwrap().keys().map(|k| k.parse().unwrap()).collect();
    let used: Vec<i64> = s["minimal_roi"].as_object().unwrap().keys().map(|k| k.parse().unwrap()).collect();
    let mut sorted = roi_keys.clone();
    sorted.sort_unstable();
    assert_eq!(used.iter().copied().collect::<std::collections::BTreeSet<_>>(), sorted.into_iter().collect());
    std::fs::write(&cfg, r#"{"strategy": "EmaCross", "params": {"fastt": 9}}"#).unwrap();
    run_err(&backtest, "'fastt'");
}

#[test]
fn hyperopt_names_bad_flags() {
    let store = tempfile::tempdir().unwrap();
    let d = store.path().to_str().unwrap();
    let base = ["--data-dir", d, "hyperopt", "--strategy", "EmaCross", "--pairs", "ETH/BTC", "--epochs", "5"];
    let with = |extra: &[&'static str]| base.iter().copied().chain(extra.iter().copied()).collect::<Vec<&str>>();
    // Closed value sets are clap value enums: the error quotes the value and lists the valid
    // ones (and suggests the nearest).
    for (flag, bad, valid) in
        [("--loss", "sharp", "sharpe, sortino"), ("--spaces", "buy,sells", "buy, sell, roi"), ("--sampler", "bayes", "tpe")]
    {
        let out = crate::data::tradai().args(with(&[flag, bad])).output().unwrap();
        let e = String::from_utf8_lossy(&out.stderr);
        let quoted = format!("'{}'", bad.rsplit(',').next().unwrap());
        assert!(!out.status.success() && e.contains(&quoted) && e.contains(valid), "{flag} {bad}: {e}");
    }
    run_err(&with(&["--spaces", "sell"]), "no parameters in the 'sell' space");
    // The help states the default that runs (it once called "all" the default while "buy" ran).
    let help = String::from_utf8(crate::data::tradai().args(["hyperopt", "--help"]).output().unwrap().stdout).unwrap();
    let spaces = &help[help.find("--spaces").unwrap()..help.find("--loss").unwrap()];
    assert!(spaces.contains(&format!("[default: {}]", tradai_app::hyperopt::defaults::SPACES)), "{spaces}");
    assert!(!spaces.contains("all, default") && spaces.contains("\"default\" is"), "{spaces}");
    run_err(&with(&["--heatmap", "x.png"]), "'x.png'");
    run_err(&["--data-dir", d, "hyperopt", "--strategy", "Nope", "--pairs", "ETH/BTC"], "unknown strategy 'Nope'");
}
