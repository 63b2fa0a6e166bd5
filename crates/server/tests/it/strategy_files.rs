//! Backtest jobs of user strategy files: a TOML strategy named by `strategy_file` (relative to
//! `server.strategy_dir`) is checked by strategy-service, run by the local executor and gives
//! the trades the use case gives for the same file; names leaving the folder and missing
//! files are refused with a 4xx naming `strategy_file`.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::http::StatusCode;
use tradai_app::{BacktestRequest, RunSpec};
use tradai_store::BlockingCandleStore;
use tradai_strategies::StrategySource;

use crate::{call, env_local, strategy_dir, wait_status};

const RUN: &str = r#"{"strategy":"EmaCrossToml","strategy_file":"EmaCrossToml.toml","pairs":["ETH/BTC","LTC/BTC"],"stake_amount":0.1,"dry_run_wallet":1}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toml_strategy_file_runs_as_a_job_with_the_trades_of_a_direct_run() {
    let e = env_local().await;
    let (status, j) = call(&e.app, "POST", "/api/v1/backtests", Some(RUN), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{j}");
    let id = j["job_id"].as_str().unwrap().to_owned();
    wait_status(&e.app, j["status_url"].as_str().unwrap(), "COMPLETED", Duration::from_secs(120)).await;
    let (status, api) = call(&e.app, "GET", &format!("/api/v1/backtests/{id}/trades"), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{api}");

    // The same run straight through the use case, with the file loaded by the same resolver
    // the CLI's --strategy-file uses.
    let loc = e.dir.path().join("data").display().to_string();
    let direct = tokio::task::spawn_blocking(move || {
        let req: BacktestRequest = serde_json::from_str(RUN).unwrap();
        let spec = RunSpec::try_from(req).unwrap();
        let registry = StrategySource::of_run(&spec, Some(&strategy_dir())).unwrap().registry(&spec.strategy).unwrap();
        let store = BlockingCandleStore::open(&loc).unwrap();
        tradai_app::backtest::run_with(&store, &spec, &registry, &|_| {}, &AtomicBool::new(false)).unwrap().export
    })
    .await
    .unwrap();
    let trades = api["trades"].as_array().unwrap();
    assert!(!trades.is_empty(), "the sample data gives EmaCrossToml trades");
    assert_eq!(&api["trades"], &direct["trades"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategy_files_outside_the_folder_or_missing_are_refused_naming_the_field() {
    let e = env_local().await;
    for (file, quote) in [
        ("../strategies/EmaCrossToml.toml", "'..'"),
        ("/etc/EmaCrossToml.toml", "absolute"),
        ("Nope.toml", "Nope.toml"),
        ("EmaCrossToml.txt", ".toml"),
    ] {
        let body = RUN.replace("EmaCrossToml.toml", file);
        let (status, j) = call(&e.app, "POST", "/api/v1/backtests", Some(&body), &[]).await;
        assert!(status.is_client_error(), "{file}: {status} {j}");
        assert_eq!(j["error"]["field"], "strategy_file", "{file}: {j}");
        assert!(j["error"]["message"].as_str().unwrap().contains(quote), "{file}: {j}");
    }
    // A file defining another strategy than `strategy` names.
    let body = RUN.replace(r#""strategy":"EmaCrossToml""#, r#""strategy":"EmaCross""#);
    let (status, j) = call(&e.app, "POST", "/api/v1/backtests", Some(&body), &[]).await;
    assert!(status.is_client_error(), "{status} {j}");
    assert!(j["error"]["message"].as_str().unwrap().contains("defines strategy 'EmaCrossToml'"), "{j}");
}
