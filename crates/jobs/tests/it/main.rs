//! Integration tests of the SQLite job repository: the shared suite of every back end
//! (`tradai_jobs::suite`, also run against DynamoDB by tradai-aws) on an in-memory and on a
//! file database, plus SQLite's own cases (durability across reopen, migration).

use std::sync::Arc;

use tradai_jobs::{JobRepository, JobStatus, NewJob, RepoError, SqliteJobRepository};

/// Every case of the shared suite on a fresh in-memory database and on a fresh file database
/// (whose reads go through the reader pool).
#[test]
fn shared_suite() {
    for (name, case) in tradai_jobs::suite::CASES {
        eprintln!("sqlite (memory): {name}");
        case(Arc::new(SqliteJobRepository::in_memory().unwrap()));
        let dir = tempfile::tempdir().unwrap();
        eprintln!("sqlite (file): {name}");
        case(Arc::new(SqliteJobRepository::open(&dir.path().join("jobs.sqlite")).unwrap()));
    }
}

/// The handler-state suite on an in-memory and on a file database.
#[test]
fn state_suite() {
    for (name, case) in tradai_jobs::suite::STATE_CASES {
        eprintln!("sqlite (memory): {name}");
        case(Arc::new(SqliteJobRepository::in_memory().unwrap()));
        let dir = tempfile::tempdir().unwrap();
        eprintln!("sqlite (file): {name}");
        case(Arc::new(SqliteJobRepository::open(&dir.path().join("jobs.sqlite")).unwrap()));
    }
}

fn new_job(key: Option<&str>) -> NewJob {
    NewJob {
        job_type: "backtest".into(),
        config: serde_json::json!({"strategy": "EmaCross"}),
        idempotency_key: key.map(str::to_owned),
        label: Some("EmaCross".into()),
    }
}

#[test]
fn jobs_survive_reopen_and_keys_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.sqlite");
    let id = {
        let repo = SqliteJobRepository::open(&path).unwrap();
        let (a, created) = repo.create(new_job(Some("k1"))).unwrap();
        assert!(created);
        let (b, created) = repo.create(new_job(Some("k1"))).unwrap();
        assert!(!created);
        assert_eq!(a.id, b.id);
        a.id
    };
    let repo = SqliteJobRepository::open(&path).unwrap();
    let j = repo.get(&id).unwrap();
    assert_eq!(j.status, JobStatus::Pending);
    assert_eq!(j.config["strategy"], "EmaCross");
    assert!(matches!(repo.get("nope"), Err(RepoError::NotFound(_))));
}

#[test]
fn a_database_from_before_progress_details_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, job_type TEXT NOT NULL, status TEXT NOT NULL, config TEXT NOT NULL,
             label TEXT, idempotency_key TEXT UNIQUE, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
             started_at INTEGER, finished_at INTEGER, attempts INTEGER NOT NULL DEFAULT 0, progress REAL NOT NULL DEFAULT 0,
             heartbeat_at INTEGER, executor_id TEXT, result TEXT, error TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0);
             INSERT INTO jobs (id, job_type, status, config, created_at, updated_at) VALUES ('a', 'backtest', 'PENDING', '{}', 1, 1);",
        )
        .unwrap();
    }
    let repo = SqliteJobRepository::open(&path).unwrap();
    let j = repo.get("a").unwrap();
    assert_eq!((j.status, j.progress_detail), (JobStatus::Pending, None));
}
