//! The binary on an AWS emulator (moto, from `scripts/moto-server.sh`): `TRADAI_DATA_DIR`
//! pointing at `s3://bucket/prefix` stores and reads candles in S3 through the standard
//! `AWS_*` settings, and a backtest there gives what the same data on a local disk gives.
//!
//! Needs `TRADAI_TEST_AWS_ENDPOINT` (set by `scripts/test.sh`); without it the test prints why
//! it is skipped and passes.

use std::io::{Read, Write};
use std::process::Command;

use serde_json::Value;

use crate::data::{imported_store, json_of, repo, testdata, tradai};

pub fn endpoint() -> Option<String> {
    let url = std::env::var("TRADAI_TEST_AWS_ENDPOINT").ok().filter(|u| !u.trim().is_empty());
    if url.is_none() {
        eprintln!("skipping the S3 tests: TRADAI_TEST_AWS_ENDPOINT is not set (start moto with `export TRADAI_TEST_AWS_ENDPOINT=$(scripts/moto-server.sh)`)");
    }
    url.map(|u| u.trim().trim_end_matches('/').to_owned())
}

/// `tradai` with the emulator as its AWS, and dummy credentials (never real ones).
pub fn on_aws(endpoint: &str) -> Command {
    let mut c = tradai();
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "tradai-test")
        .env("AWS_SECRET_ACCESS_KEY", "tradai-test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL_S3");
    c
}

pub fn ok(mut c: Command, what: &str) -> std::process::Output {
    let out = c.output().unwrap();
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Creates a bucket on the emulator with a plain path-style `PUT /bucket` (moto does not check
/// signatures, and the test binary has no S3 client of its own).
pub(crate) fn create_bucket(endpoint: &str, bucket: &str) {
    let host = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "creating bucket {bucket}: {answer}");
}

/// The emulator's S3 as object_store's client, with the test's dummy credentials.
pub(crate) fn s3_client(endpoint: &str, bucket: &str) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id("tradai-test")
        .with_secret_access_key("tradai-test")
        .build()
        .unwrap()
}

/// An object of the emulator's S3; `None` when it is not there.
pub(crate) fn get_object(endpoint: &str, bucket: &str, key: &str) -> Option<Vec<u8>> {
    use object_store::ObjectStoreExt;
    let s3 = s3_client(endpoint, bucket);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        match s3.get(&object_store::path::Path::from(key)).await {
            Ok(r) => Some(r.bytes().await.unwrap().to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("reading s3://{bucket}/{key}: {e}"),
        }
    })
}

fn backtest_args(d: &str, export: &str) -> Vec<String> {
    let run = ["backtest", "--data-dir", d, "--exchange", "binance", "--strategy", "EmaCross", "--fee", "0.001", "--export", export];
    [&run[..], &crate::data::market_5m("ETH/BTC,LTC/BTC,ADA/BTC")].concat().into_iter().map(str::to_owned).collect()
}

/// The series of a `data list --json`, without what depends on where they are stored.
fn series(list: &Value) -> Vec<Value> {
    let mut v: Vec<Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::json!([s["exchange"], s["pair"], s["timeframe"], s["rows"], s["first"], s["last"]]))
        .collect();
    v.sort_by_key(ToString::to_string);
    v
}

#[test]
fn an_s3_data_dir_imports_lists_and_backtests_like_a_local_one() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = format!("tradai-test-{}", &uuid_like());
    create_bucket(&endpoint, &bucket);
    let s3 = format!("s3://{bucket}/candles");
    let markets = repo().join("sample-data/binance/markets.json");
    let data = testdata().join("freqtrade");
    let mut import = on_aws(&endpoint);
    import.env("TRADAI_DATA_DIR", &s3).args(["-q", "data", "import", "freqtrade", data.to_str().unwrap(), "--exchange", "binance"]);
    import.args(["--markets", markets.to_str().unwrap()]);
    ok(import, "import into S3");

    let local = imported_store();
    let d = local.path().to_str().unwrap();
    let mut list = on_aws(&endpoint);
    list.env("TRADAI_DATA_DIR", &s3).args(["data", "list", "--json"]);
    let remote_list = json_of(&ok(list, "data list on S3"));
    let local_list = json_of(&ok(
        {
            let mut c = tradai();
            c.args(["--data-dir", d, "data", "list", "--json"]);
            c
        },
        "data list on disk",
    ));
    assert!(!series(&remote_list).is_empty());
    assert_eq!(series(&remote_list), series(&local_list), "S3 holds the same series as the disk");

    let out = tempfile::tempdir().unwrap();
    let (remote_export, local_export) = (out.path().join("s3.json"), out.path().join("local.json"));
    let mut bt = on_aws(&endpoint);
    bt.args(backtest_args(&s3, remote_export.to_str().unwrap()));
    ok(bt, "backtest on S3");
    let mut bt = tradai();
    bt.args(backtest_args(d, local_export.to_str().unwrap()));
    ok(bt, "backtest on disk");
    let read = |p: &std::path::Path| -> Value { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
    let (r, l) = (read(&remote_export), read(&local_export));
    let trades = |v: &Value| v["trades"].clone();
    assert!(trades(&l).as_array().is_some_and(|t| !t.is_empty()), "the local run trades");
    assert_eq!(trades(&r), trades(&l), "same trades from S3 as from disk");
    assert!(r["summary"].is_object());
    assert_eq!(r["summary"], l["summary"], "same summary from S3 as from disk");

    // A bucket that does not exist is named in one line.
    let mut missing = on_aws(&endpoint);
    missing.args(["data", "list", "--data-dir", &format!("s3://{bucket}-missing/x"), "--json"]);
    let out = missing.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{bucket}-missing")), "{err}");
}

/// The SDK settings of the emulator, for the tests' own clients (dummy credentials).
pub(crate) fn emulator_overrides(endpoint: &str) -> tradai_aws::AwsOverrides {
    tradai_aws::AwsOverrides {
        endpoint_url: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        static_credentials: Some(("tradai-test".into(), "tradai-test".into())),
    }
}

/// A bucket name unique to this run (time and process id; S3 names are lower-case).
pub(crate) fn uuid_like() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{:x}-{}", t, std::process::id())
}

/// `tradai up` with `DYNAMODB_TABLE_NAME` keeps its jobs in that table: a backtest submitted
/// over HTTP is created, claimed, completed and listed there, and a repeated idempotency key
/// finds the first job in DynamoDB.
#[test]
fn up_keeps_its_jobs_in_dynamodb() {
    use crate::services::{import_sample, jobs, submit_args, wait_final, Up};
    use tradai_jobs::{JobFilter, JobRepository, JobStatus};
    let Some(endpoint) = endpoint() else { return };
    let overrides = emulator_overrides(&endpoint);
    let table = format!("tradai-test-up-{}", uuid_like());
    let repo = tradai_aws::DynamoJobRepository::connect(&table, &overrides, true).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    import_sample(&data);
    let envs = [
        ("DYNAMODB_TABLE_NAME", table.as_str()),
        ("EXECUTOR_MODE", "local"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "tradai-test"),
        ("AWS_SECRET_ACCESS_KEY", "tradai-test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let up = Up::start(&data, &envs);
    let mut args = submit_args();
    args.extend(["--idempotency-key", "dynamo-1"]);
    let (ok, sub, err) = jobs(&up.backend, &args);
    assert!(ok, "submit failed: {err}\n{}", up.log());
    let id = sub["job_id"].as_str().unwrap().to_owned();
    let (ok, again, _) = jobs(&up.backend, &args);
    assert!(ok);
    assert_eq!((again["job_id"].as_str(), &again["created"]), (Some(id.as_str()), &Value::Bool(false)));
    let done = wait_final(&up.backend, &id, std::time::Duration::from_secs(300));
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", up.log());
    let stored = repo.get(&id).unwrap();
    assert_eq!((stored.status, stored.attempts), (JobStatus::Completed, 1), "the job lives in DynamoDB");
    assert_eq!(stored.result.as_ref().map(|r| &r["summary"]), Some(&done["result"]["summary"]));
    let page = repo.list(&JobFilter { status: Some(JobStatus::Completed), ..JobFilter::default() }).unwrap();
    assert_eq!(page.total, 1);
    drop(up);

    // A table that does not exist stops the start-up with its name.
    let mut c = crate::services::tradai();
    c.arg("--data-dir").arg(&data).args(["up", "--backend-port", "0", "--data-collection-port", "0", "--strategy-service-port", "0"]);
    for (k, v) in envs {
        c.env(k, if k == "DYNAMODB_TABLE_NAME" { "tradai-test-no-such-table" } else { v });
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("tradai-test-no-such-table"), "{err}");

    // DYNAMODB_CREATE_TABLE creates a missing one (an emulator, a dev account).
    let fresh = format!("tradai-test-created-{}", uuid_like());
    let mut envs = envs.to_vec();
    envs[0] = ("DYNAMODB_TABLE_NAME", fresh.as_str());
    envs.push(("DYNAMODB_CREATE_TABLE", "true"));
    drop(Up::start(&data, &envs));
    let created = tradai_aws::DynamoJobRepository::connect(&fresh, &overrides, false).unwrap();
    assert!(created.count_by_status().unwrap().is_empty(), "a new, empty table");
}

/// The seeds' executor settings are checked at start-up, the missing one named.
#[test]
fn executor_mode_names_missing_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (vec![("EXECUTOR_MODE", "sqs")], "EXECUTOR_MODE=sqs needs BACKEND_BACKTEST_QUEUE_URL"),
        (vec![("EXECUTOR_MODE", "sqs"), ("DYNAMODB_TABLE_NAME", "t")], "needs BACKEND_BACKTEST_QUEUE_URL"),
        (vec![("TRADAI_SERVER__EXECUTOR", "sqs")], "executor mode sqs needs BACKEND_BACKTEST_QUEUE_URL"),
        (vec![("EXECUTOR_MODE", "docker")], "EXECUTOR_MODE 'docker'"),
    ];
    crate::services::assert_up_refuses(tmp.path(), &cases);
}
