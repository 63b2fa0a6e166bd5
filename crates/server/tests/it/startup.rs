//! The start-up checks of the service databases: a damaged page is reported with the file and
//! SQLite's report before anything is served, and a job database that is missing or empty
//! while the state directory shows earlier use is refused unless `--init`.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use tradai_jobs::{JobRepository, NewJob, SqliteJobRepository};
use tradai_server::serve::{check_databases, ServeError, ServerConfig};

fn config(dir: &Path) -> ServerConfig {
    let settings = tradai_settings::Settings { data_dir: dir.join("data").display().to_string(), ..tradai_settings::Settings::default() };
    ServerConfig::from_settings(&settings).unwrap()
}

/// A job database with `n` jobs, closed (its WAL folded into the file).
fn jobs_db(path: &Path, n: usize) {
    let repo = SqliteJobRepository::open(path).unwrap();
    let big = "x".repeat(300);
    let batch: Vec<NewJob> = (0..n)
        .map(|i| NewJob {
            job_type: "backtest".into(),
            config: serde_json::json!({"i": i, "pad": big}),
            idempotency_key: None,
            label: None,
        })
        .collect();
    repo.create_batch(batch).unwrap();
    drop(repo);
}

#[test]
fn a_damaged_job_database_is_named_with_its_damage_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    jobs_db(&cfg.db_path(), 1500);
    check_databases(&cfg).unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(cfg.db_path()).unwrap();
    f.seek(SeekFrom::Start(30 * 4096)).unwrap();
    f.write_all(&[0x5Au8; 4096]).unwrap();
    drop(f);
    let e = check_databases(&cfg).unwrap_err();
    assert!(matches!(e, ServeError::Damaged(_)), "{e:?}");
    let chain = format!("{e}: {}", std::error::Error::source(&e).unwrap());
    assert!(chain.contains("service database (jobs and API keys)") && chain.contains("tradai.sqlite"), "{chain}");
    assert!(!chain.contains("API key database'"), "the right file and role are named: {chain}");
    assert!(chain.contains("damaged"), "{chain}");
}

#[test]
fn a_damaged_outbox_is_named_too() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    jobs_db(&cfg.db_path(), 1);
    std::fs::write(cfg.outbox_path(), vec![7u8; 4096 * 3]).unwrap();
    let e = check_databases(&cfg).unwrap_err();
    let chain = format!("{}", std::error::Error::source(&e).unwrap());
    assert!(chain.contains("tracking outbox") && chain.contains("tracking-outbox.sqlite"), "{chain}");
}

#[test]
fn an_emptied_job_database_is_refused_unless_init() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    // A first start: no database, no evidence: fine.
    check_databases(&cfg).unwrap();
    jobs_db(&cfg.db_path(), 3);
    std::fs::write(cfg.marker_path(), "{}").unwrap();
    check_databases(&cfg).unwrap();
    // The file lost its content.
    std::fs::write(cfg.db_path(), b"").unwrap();
    let e = check_databases(&cfg).unwrap_err().to_string();
    assert!(e.contains("empty (0 bytes)") && e.contains("--init") && e.contains("platform.json"), "{e}");
    // Gone altogether: same.
    std::fs::remove_file(cfg.db_path()).unwrap();
    let e = check_databases(&cfg).unwrap_err().to_string();
    assert!(e.contains("missing"), "{e}");
    cfg.init = true;
    check_databases(&cfg).unwrap();
}

#[test]
fn stored_results_count_as_earlier_use_without_the_marker() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    std::fs::create_dir_all(cfg.state_dir.join("results/job-1")).unwrap();
    std::fs::write(cfg.db_path(), b"").unwrap();
    let e = check_databases(&cfg).unwrap_err().to_string();
    assert!(e.contains("stored job results"), "{e}");
}

#[test]
fn a_database_of_the_unversioned_release_opens_with_its_jobs_and_keys() {
    // Made the way the release before schema versions made it: plain DDL, no version table.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tradai.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE jobs (id TEXT PRIMARY KEY, job_type TEXT NOT NULL, status TEXT NOT NULL, config TEXT NOT NULL,
             label TEXT, idempotency_key TEXT UNIQUE, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
             started_at INTEGER, finished_at INTEGER, attempts INTEGER NOT NULL DEFAULT 0, progress REAL NOT NULL DEFAULT 0,
             heartbeat_at INTEGER, executor_id TEXT, result TEXT, error TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0,
             progress_detail TEXT);
         CREATE INDEX jobs_status ON jobs(status, job_type, created_at);
         CREATE INDEX jobs_created ON jobs(created_at);
         INSERT INTO jobs (id, job_type, status, config, created_at, updated_at, result)
             VALUES ('old-1', 'backtest', 'COMPLETED', '{\"strategy\":\"EmaCross\"}', 1, 2, '{\"total_trades\":146}');
         CREATE TABLE api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, salt TEXT NOT NULL, hash TEXT NOT NULL,
             created_at INTEGER NOT NULL, revoked_at INTEGER);
         INSERT INTO api_keys VALUES ('k1', 'ci', 'salt', 'hash', 1, NULL);",
    )
    .unwrap();
    drop(conn);
    let keys = tradai_server::auth::ApiKeyStore::open(&path).unwrap();
    assert!(keys.has_keys(), "the old key is still there");
    let repo = SqliteJobRepository::open(&path).unwrap();
    let j = repo.get("old-1").unwrap();
    assert_eq!((j.status.as_str(), j.result.unwrap()["total_trades"].as_u64()), ("COMPLETED", Some(146)));
    // The new schema works on the old file: a claim with back-off, a checkpoint.
    let (new, _) =
        repo.create(NewJob { job_type: "hyperopt".into(), config: serde_json::json!({}), idempotency_key: None, label: None }).unwrap();
    let claimed = repo.claim_next(&["hyperopt"], "w0").unwrap().unwrap();
    assert_eq!(claimed.id, new.id);
    repo.save_checkpoint(&new.id, "w0", &serde_json::json!({"trials": 3})).unwrap();
    assert_eq!(repo.load_checkpoint(&new.id).unwrap().unwrap()["trials"], 3);
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(tradai_sqlite::schema_version(&conn, tradai_jobs::JOB_DATABASE).unwrap(), tradai_jobs::SCHEMA.version());
    assert_eq!(tradai_sqlite::schema_version(&conn, tradai_server::auth::KEY_DATABASE).unwrap(), 1);
}
