//! `TRADAI_DATA_DIR=s3://bucket/prefix` for every family of commands, on the AWS emulator
//! (moto, `TRADAI_TEST_AWS_ENDPOINT`): the data commands (import, list, validate, freshness,
//! synth, sync, repair, delete) give what they give on a local directory; `tradai trade
//! --replay` reads its candles from S3 and keeps its state in `state_dir`; `tradai up` serves
//! the S3 store, runs a backtest on it with the local executor, copies the job's artifacts to
//! the results bucket, and a second backend-api with another state dir and the same job table
//! reads them back from the bucket. (The worker and the strategy container on S3 are in
//! `workers.rs`.) Without the emulator the tests print why they are skipped and pass.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::aws::{create_bucket, endpoint, get_object, ok, on_aws, s3_client, uuid_like};
use crate::data::{imported_store, json_of, repo, testdata};
use crate::services::{api_trades, cli_reference_export_with, http, jobs, submit_args, wait_final, Up};

/// A fresh bucket on the emulator; its `s3://bucket/candles` location.
fn s3_store(ep: &str, what: &str) -> (String, String) {
    let bucket = format!("tradai-test-{what}-{}", uuid_like());
    create_bucket(ep, &bucket);
    let location = format!("s3://{bucket}/candles");
    (bucket, location)
}

/// `tradai --data-dir <dir> <args>` on the emulator.
fn on(ep: &str, dir: &str, args: &[&str]) -> Output {
    let mut c = on_aws(ep);
    c.args(["--data-dir", dir]).args(args);
    c.output().unwrap()
}

fn import_testdata(ep: &str, dir: &str) {
    let markets = repo().join("sample-data/binance/markets.json");
    let data = testdata().join("freqtrade");
    let mut c = on_aws(ep);
    c.args(["-q", "--data-dir", dir, "data", "import", "freqtrade"]).arg(&data).args(["--exchange", "binance", "--markets"]).arg(&markets);
    ok(c, "import");
}

fn success(out: Output, what: &str) -> Value {
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    json_of(&out)
}

#[test]
fn every_data_command_works_on_an_s3_data_dir() {
    let Some(ep) = endpoint() else { return };
    let (bucket, s3) = s3_store(&ep, "data");
    import_testdata(&ep, &s3);
    let local = imported_store();
    let d = local.path().to_str().unwrap();

    // validate and freshness: the same report as on the local copy of the same candles.
    let series = ["--exchange", "binance", "-p", "ETH/BTC,LTC/BTC", "-i", "5m", "--json"];
    let validate = |dir: &str| success(on(&ep, dir, &[&["data", "validate"][..], &series].concat()), "data validate");
    let remote = validate(&s3);
    assert!(remote.as_array().is_some_and(|a| a.len() == 2), "{remote}");
    assert_eq!(remote, validate(d), "validate on S3 and on disk");
    // (exit 1 when a series is stale: the same on both)
    let fresh = |dir: &str| {
        let args = [&["data", "freshness"][..], &series, &["--now", "2018-02-01T00:00:00Z", "--stale-after", "7d"]].concat();
        let out = on(&ep, dir, &args);
        (out.status.code(), json_of(&out))
    };
    let remote = fresh(&s3);
    assert_eq!(remote.1["results"].as_array().map(Vec::len), Some(2), "{:?}", remote.1);
    assert_eq!(remote, fresh(d), "freshness on S3 and on disk");

    // synth and delete.
    let synth = success(
        on(&ep, &s3, &["data", "synth", "--pairs", "2", "--timeframe", "1h", "--days", "40", "--seed", "7", "--json"]),
        "data synth",
    );
    assert_eq!(synth["rows"], 2 * 40 * 24, "{synth}");
    let listed = success(on(&ep, &s3, &["data", "list", "--exchange", "synth", "--json"]), "data list");
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    let out = on(&ep, &s3, &["-q", "data", "delete", "--exchange", "synth", "--pair", "SYN0/USDT", "--timeframe", "1h"]);
    assert!(out.status.success(), "data delete: {}", String::from_utf8_lossy(&out.stderr));
    let listed = success(on(&ep, &s3, &["data", "list", "--exchange", "synth", "--json"]), "data list");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");

    // sync from the fake Binance into S3, then again: nothing new.
    let fake = crate::sync::start_fake();
    let sync = |extra: &[&str]| {
        let mut c = on_aws(&ep);
        c.env("TRADAI_BINANCE_SPOT_URL", &fake.url).env("TRADAI_BINANCE_FUTURES_URL", &fake.url);
        c.args(["--data-dir", &s3, "-q", "data", "sync", "--exchange", "binance", "--timeframe", "1h", "--start", "2024-01-01"]);
        c.args(["--pairs", "BTC/USDT", "--end", "2024-01-15", "--json"]).args(extra);
        success(c.output().unwrap(), "data sync")
    };
    let first = sync(&[]);
    assert_eq!(first["pairs"][0]["stored"], 14 * 24, "{first}");
    let again = sync(&[]);
    let p = &again["pairs"][0];
    assert_eq!((p["fetched"].as_u64(), p["stored"].as_u64()), (Some(0), Some(0)), "{again}");

    // repair: a damaged object is moved to the quarantine prefix and the series reads again.
    let s3c = s3_client(&ep, &bucket);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let damaged = rt.block_on(async {
        use object_store::{ObjectStore, ObjectStoreExt};
        // A month file of ETH/BTC 5m, overwritten with bytes that are not Parquet.
        let dir = object_store::path::Path::from("candles/binance/spot/ETH_BTC/5m");
        let listed = s3c.list_with_delimiter(Some(&dir)).await.unwrap();
        let key = listed.objects.iter().map(|o| o.location.clone()).find(|p| p.as_ref().ends_with(".parquet"));
        let key = key.unwrap_or_else(|| panic!("no month file under {dir}: {listed:?}"));
        s3c.put(&key, object_store::PutPayload::from(b"not parquet at all".to_vec())).await.unwrap();
        key.to_string()
    });
    let out = on(&ep, &s3, &["data", "validate", "--exchange", "binance", "-p", "ETH/BTC", "-i", "5m", "--json"]);
    assert!(!out.status.success(), "a damaged file fails validate");
    let repaired = success(on(&ep, &s3, &["data", "repair", "--exchange", "binance", "--json"]), "data repair");
    let moved = repaired["quarantined"].as_array().unwrap();
    assert_eq!(moved.len(), 1, "{repaired}");
    assert!(moved[0]["file"].as_str().is_some_and(|f| f.ends_with(damaged.trim_start_matches("candles/"))), "{repaired}");
    assert!(get_object(&ep, &bucket, &damaged).is_none(), "the damaged object was moved away");
    let quarantined = moved[0]["moved_to"].as_str().unwrap();
    assert!(quarantined.contains(".quarantine"), "{quarantined}");
    assert!(
        get_object(&ep, &bucket, &format!("candles/{}", quarantined.trim_start_matches("candles/"))).is_some(),
        "the damaged object is kept under the quarantine prefix: {quarantined}"
    );
    // The store reads cleanly again (that series' only month is gone; the others are intact).
    let out = on(&ep, &s3, &["data", "validate", "--exchange", "binance", "-p", "LTC/BTC", "-i", "5m", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = success(on(&ep, &s3, &["data", "repair", "--exchange", "binance", "--json"]), "data repair");
    assert_eq!(again["quarantined"].as_array().map(Vec::len), Some(0), "{again}");
}

/// A dry-run replay on S3 candles trades as the backtest does; its state database is in
/// `state_dir`, which the node reports and `trade list` reads.
#[test]
fn a_trading_node_replays_s3_candles_and_keeps_its_state_in_the_state_dir() {
    let Some(ep) = endpoint() else { return };
    let (_, s3) = s3_store(&ep, "trade");
    import_testdata(&ep, &s3);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let flags = crate::backtest::run_flags(&s3, "EmaCross", "3");
    let bt_out = tmp.path().join("bt.json");
    let mut bt = on_aws(&ep);
    bt.arg("backtest").args(&flags).arg("--export").arg(&bt_out);
    ok(bt, "backtest on S3");
    let tr_out = tmp.path().join("replay.json");
    let mut tr = on_aws(&ep);
    tr.env("TRADAI_STATE_DIR", &state).args(crate::trade::trade_args(&flags, "s3-node", &tr_out));
    ok(tr, "trade --replay on S3");
    let (replay, backtest) = (crate::trade::read(&tr_out), crate::trade::read(&bt_out));
    assert!(!backtest["trades"].as_array().unwrap().is_empty());
    crate::trade::assert_same_export(&replay, &backtest, "replay on S3");
    assert!(state.join("trading.sqlite").is_file(), "the node's state is in the state dir");
    let mut list = on_aws(&ep);
    list.env("TRADAI_STATE_DIR", &state).args(["--data-dir", &s3, "trade", "list", "--json"]);
    let bots = json_of(&ok(list, "trade list"));
    assert!(bots.to_string().contains("s3-node"), "{bots}");
}

/// `tradai up` on an S3 data dir with a results bucket: the data service lists the S3 series,
/// a backtest (local executor) runs on them with the CLI's trades, its artifacts land in the
/// bucket, and another backend-api (its own state dir, the same DynamoDB job table) serves the
/// job's trades from the bucket.
#[test]
fn up_serves_an_s3_data_dir_and_another_api_reads_results_from_the_bucket() {
    let Some(ep) = endpoint() else { return };
    let (_, s3) = s3_store(&ep, "up");
    let results = format!("tradai-test-results-{}", uuid_like());
    create_bucket(&ep, &results);
    let sample = repo().join("sample-data/binance");
    let mut import = on_aws(&ep);
    import.args(["-q", "--data-dir", &s3, "data", "import", "freqtrade"]).arg(&sample).args(["--exchange", "binance", "--markets"]);
    import.arg(sample.join("markets.json"));
    ok(import, "import");
    let tmp = tempfile::tempdir().unwrap();
    let cli = cli_reference_export_with(on_aws(&ep), Path::new(&s3), tmp.path());
    let table = format!("tradai-test-s3-up-{}", uuid_like());
    let envs = |state: &str| -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), ep.clone()),
            ("AWS_ACCESS_KEY_ID".into(), "tradai-test".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "tradai-test".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("DYNAMODB_TABLE_NAME".into(), table.clone()),
            ("DYNAMODB_CREATE_TABLE".into(), "true".into()),
            ("TRADAI_RESULTS_BUCKET".into(), format!("s3://{results}/runs")),
            ("TRADAI_STATE_DIR".into(), tmp.path().join(state).display().to_string()),
        ]
    };
    let first_envs = envs("first");
    let first_envs: Vec<(&str, &str)> = first_envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let up = Up::start_at(s3.as_ref(), tmp.path().join("first.log"), &first_envs);

    // The data service reads the S3 store.
    let (status, symbols) = http(&up.data, "GET", "/api/v1/data/symbols?exchange=binance", None);
    assert_eq!(status, 200, "{symbols}");
    assert!(symbols.to_string().contains("ETH/BTC"), "{symbols}");

    let (ok_, sub, err) = jobs(&up.backend, &submit_args());
    assert!(ok_, "submit: {err}\n{}", up.log());
    let id = sub["job_id"].as_str().unwrap().to_owned();
    let done = wait_final(&up.backend, &id, Duration::from_secs(300));
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", up.log());
    assert_eq!(api_trades(&up.backend, &id), cli["trades"]);
    assert!(tmp.path().join("first/results").join(&id).join("export.json").is_file(), "the local copy");
    let export = get_object(&ep, &results, &format!("runs/{id}/export.json")).expect("the export in the results bucket");
    let export: Value = serde_json::from_slice(&export).unwrap();
    assert_eq!(export["trades"], cli["trades"]);
    drop(up);

    // Another machine's API: the same job table, no local copy, the bucket.
    let second_envs = envs("second");
    let second_envs: Vec<(&str, &str)> = second_envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let other = Up::start_at(s3.as_ref(), tmp.path().join("second.log"), &second_envs);
    assert_eq!(api_trades(&other.backend, &id), cli["trades"], "trades read back from the bucket");
    let (status, export) = http(&other.backend, "GET", &format!("/api/v1/backtests/{id}/export"), None);
    assert_eq!((status, &export["trades"]), (200, &cli["trades"]), "the export read back from the bucket");
    assert!(!tmp.path().join("second/results").join(&id).exists(), "served from the bucket, not a local copy");
}
