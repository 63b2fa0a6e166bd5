//! The shared test suite of [`JobRepository`] back ends (cargo feature `suite`): every case
//! takes a fresh, empty repository and must pass on SQLite and on DynamoDB alike, so one can
//! stand in for the other. The tests of each back end call every case (see
//! `crates/jobs/tests/it/main.rs` and `crates/aws/tests/it/dynamodb.rs`); [`CASES`] names them so a
//! back end cannot silently skip one.
//!
//! Panics are the point here: these are test assertions, compiled only with the feature.
#![allow(clippy::missing_panics_doc)]

use std::sync::Arc;

use crate::{Job, JobError, JobFilter, JobRepository, JobStatus, NewJob, RepoError};

/// A case of the suite: it gets a fresh, empty repository.
pub type Case = fn(Arc<dyn JobRepository>);

/// Every case, by name.
pub const CASES: &[(&str, Case)] = &[
    ("keys_are_idempotent_and_unknown_ids_named", keys_are_idempotent_and_unknown_ids_named),
    ("claims_are_exclusive_under_contention", claims_are_exclusive_under_contention),
    ("illegal_transitions_are_refused", illegal_transitions_are_refused),
    ("orphans_are_found_and_listing_filters", orphans_are_found_and_listing_filters),
    ("batches_commit_together", batches_commit_together),
    ("workers_claim_only_their_job_types_oldest_first", workers_claim_only_their_job_types_oldest_first),
    ("listing_is_newest_first_and_pages", listing_is_newest_first_and_pages),
    ("cancel_and_hand_back", cancel_and_hand_back),
    ("hand_back_waits_out_its_back_off", hand_back_waits_out_its_back_off),
    ("checkpoints_belong_to_the_worker_that_holds_the_job", checkpoints_belong_to_the_worker_that_holds_the_job),
    ("a_named_job_is_claimed_once_and_only_when_due", a_named_job_is_claimed_once_and_only_when_due),
    ("execution_refs_are_kept_whatever_the_status", execution_refs_are_kept_whatever_the_status),
];

/// A backtest job, with an idempotency key unique to this run when `key` is given (a shared
/// emulator or database may hold keys of earlier runs).
#[must_use]
pub fn new_job(key: Option<&str>) -> NewJob {
    NewJob {
        job_type: "backtest".into(),
        config: serde_json::json!({"strategy": "EmaCross", "pairs": ["BTC/USDT"], "stake_amount": 100.5}),
        idempotency_key: key.map(str::to_owned),
        label: Some("EmaCross".into()),
    }
}

fn of_type(t: &str) -> NewJob {
    NewJob { job_type: t.into(), config: serde_json::json!({}), idempotency_key: None, label: None }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Waits a few milliseconds so the next job has a later `created_at` than the previous one.
fn tick() {
    std::thread::sleep(std::time::Duration::from_millis(3));
}

/// A repeated key returns the first job; an unknown id is named in the error.
pub fn keys_are_idempotent_and_unknown_ids_named(repo: Arc<dyn JobRepository>) {
    let key = unique("k1");
    let (a, created) = repo.create(new_job(Some(&key))).unwrap();
    assert!(created);
    assert_eq!((a.status, a.attempts, a.progress), (JobStatus::Pending, 0, 0.0));
    assert_eq!(a.idempotency_key.as_deref(), Some(key.as_str()));
    let (b, created) = repo.create(new_job(Some(&key))).unwrap();
    assert!(!created, "a repeated key creates nothing");
    assert_eq!(a, b);
    let j = repo.get(&a.id).unwrap();
    assert_eq!(j, a, "what create returned is what is stored");
    assert_eq!(j.config["strategy"], "EmaCross");
    assert_eq!(j.config["stake_amount"], 100.5);
    assert_eq!(j.label.as_deref(), Some("EmaCross"));
    let (c, created) = repo.create(new_job(None)).unwrap();
    assert!(created);
    assert_ne!(c.id, a.id);
    match repo.get("no-such-job") {
        Err(e @ RepoError::NotFound(_)) => {
            assert!(e.to_string().contains("no-such-job"), "{e}");
            assert!(!e.is_retryable());
        }
        other => panic!("expected not found, got {other:?}"),
    }
    assert!(matches!(repo.transition("no-such-job", JobStatus::Running, None, None), Err(RepoError::NotFound(_))));
    assert!(matches!(repo.request_cancel("no-such-job"), Err(RepoError::NotFound(_))));
    assert!(matches!(repo.heartbeat("no-such-job", 0.5, None), Err(RepoError::NotFound(_))));
    repo.ping().unwrap();
}

/// Four workers claiming at once never get the same job, and every job is claimed once.
pub fn claims_are_exclusive_under_contention(repo: Arc<dyn JobRepository>) {
    const JOBS: usize = 24;
    for _ in 0..JOBS {
        repo.create(new_job(None)).unwrap();
    }
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let repo = Arc::clone(&repo);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                while let Some(j) = repo.claim_next(&["backtest"], &format!("w{w}")).unwrap() {
                    assert_eq!((j.status, j.attempts), (JobStatus::Running, 1));
                    assert_eq!(j.executor_id, Some(format!("w{w}")));
                    mine.push(j.id);
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(n, JOBS, "every job claimed");
    assert_eq!(all.len(), JOBS, "no job claimed twice");
    assert!(repo.claim_next(&["backtest"], "late").unwrap().is_none());
}

/// Only legal status changes happen; heartbeats keep or replace the progress document.
pub fn illegal_transitions_are_refused(repo: Arc<dyn JobRepository>) {
    let (j, _) = repo.create(new_job(None)).unwrap();
    match repo.transition(&j.id, JobStatus::Completed, None, None) {
        Err(RepoError::IllegalTransition { id, from, to }) => {
            assert_eq!((id.as_str(), from, to), (j.id.as_str(), JobStatus::Pending, JobStatus::Completed));
        }
        other => panic!("expected an illegal transition, got {other:?}"),
    }
    assert!(matches!(repo.heartbeat(&j.id, 0.1, None), Err(RepoError::IllegalTransition { from: JobStatus::Pending, .. })));
    let j = repo.claim_next(&["backtest"], "w").unwrap().unwrap();
    assert_eq!(j.attempts, 1);
    assert!(j.started_at.is_some() && j.heartbeat_at.is_some());
    repo.heartbeat(&j.id, 0.5, Some(&serde_json::json!({"epochs_done": 5}))).unwrap();
    repo.heartbeat(&j.id, 0.6, None).unwrap();
    let j2 = repo.get(&j.id).unwrap();
    assert_eq!((j2.progress, j2.progress_detail), (0.6, Some(serde_json::json!({"epochs_done": 5}))), "None keeps the detail");
    repo.heartbeat(&j.id, 7.0, None).unwrap();
    assert_eq!(repo.get(&j.id).unwrap().progress, 1.0, "progress is clamped to 0..1");
    let done = repo.transition(&j.id, JobStatus::Completed, Some(serde_json::json!({"trades": 3})), None).unwrap();
    assert_eq!(done.progress, 1.0);
    assert_eq!(done.status, JobStatus::Completed);
    assert!(done.finished_at.is_some());
    assert_eq!(done.result, Some(serde_json::json!({"trades": 3})));
    assert_eq!(done.executor_id.as_deref(), Some("w"));
    assert_eq!(repo.get(&j.id).unwrap(), done);
    assert!(repo.transition(&j.id, JobStatus::Running, None, None).is_err());
    assert!(repo.heartbeat(&j.id, 0.9, None).is_err());
    let err = JobError { code: "x".into(), message: "y".into(), retryable: false };
    assert!(repo.transition(&j.id, JobStatus::Failed, None, Some(err.clone())).is_err());
    assert!(matches!(repo.request_cancel(&j.id), Err(RepoError::IllegalTransition { from: JobStatus::Completed, .. })));

    let (created, _) = repo.create(new_job(None)).unwrap();
    let k = repo.claim_next(&["backtest"], "w").unwrap().unwrap();
    assert_eq!(k.id, created.id);
    let failed = repo.transition(&k.id, JobStatus::Failed, None, Some(err.clone())).unwrap();
    assert_eq!((failed.status, failed.error), (JobStatus::Failed, Some(err)));
}

/// The orphan scan finds jobs of dead workers and stale heartbeats; listings filter.
pub fn orphans_are_found_and_listing_filters(repo: Arc<dyn JobRepository>) {
    for _ in 0..3 {
        repo.create(new_job(None)).unwrap();
        tick();
    }
    let a = repo.claim_next(&["backtest"], "dead-worker").unwrap().unwrap();
    let b = repo.claim_next(&["backtest"], "live-worker").unwrap().unwrap();
    let ids = |v: Vec<crate::Job>| v.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(ids(repo.find_orphans(0, &["live-worker".to_owned()]).unwrap()), vec![a.id.clone()]);
    // A heartbeat older than the bound makes even a live worker's job an orphan.
    let future = chrono::Utc::now().timestamp_millis() + 60_000;
    let mut both = ids(repo.find_orphans(future, &["live-worker".to_owned(), "dead-worker".to_owned()]).unwrap());
    both.sort();
    let mut want = vec![a.id.clone(), b.id.clone()];
    want.sort();
    assert_eq!(both, want);
    let back = repo.transition(&a.id, JobStatus::Pending, None, None).unwrap();
    assert_eq!((back.status, back.executor_id), (JobStatus::Pending, None));
    assert!(repo.find_orphans(0, &["live-worker".to_owned()]).unwrap().is_empty());
    let page = repo.list(&JobFilter { status: Some(JobStatus::Pending), ..JobFilter::default() }).unwrap();
    assert_eq!(page.total, 2);
    assert!(page.items.iter().all(|j| j.status == JobStatus::Pending));
    let page = repo.list(&JobFilter { limit: Some(1), offset: 1, ..JobFilter::default() }).unwrap();
    assert_eq!((page.items.len(), page.total, page.limit, page.offset), (1, 3, 1, 1));
    let page = repo.list(&JobFilter { status: Some(JobStatus::Running), label: Some("EmaCross".into()), ..JobFilter::default() }).unwrap();
    assert_eq!(ids(page.items), vec![b.id.clone()]);
    let page = repo.list(&JobFilter { label: Some("Other".into()), ..JobFilter::default() }).unwrap();
    assert_eq!((page.items.len(), page.total), (0, 0));
    let page = repo.list(&JobFilter { job_type: Some("sync".into()), ..JobFilter::default() }).unwrap();
    assert_eq!(page.total, 0);
    let c = repo.request_cancel(&b.id).unwrap();
    assert!(c.cancel_requested);
    assert_eq!(c.status, JobStatus::Running, "a running job is flagged, its worker stops it");
}

/// A batch honours idempotency keys (also a key repeated inside the batch) and its jobs are
/// readable and counted at once.
pub fn batches_commit_together(repo: Arc<dyn JobRepository>) {
    let (dup, other) = (unique("dup"), unique("other"));
    let (first, _) = repo.create(new_job(Some(&dup))).unwrap();
    let out = repo.create_batch(vec![new_job(None), new_job(Some(&dup)), new_job(Some(&other)), new_job(Some(&other))]).unwrap();
    assert_eq!(out.iter().map(|(_, created)| *created).collect::<Vec<_>>(), vec![true, false, true, false]);
    assert_eq!(out[1].0.id, first.id);
    assert_eq!(out[3].0.id, out[2].0.id, "a key repeated inside one batch creates one job");
    assert_eq!(repo.get(&out[2].0.id).unwrap().status, JobStatus::Pending);
    assert_eq!(repo.count_by_status().unwrap(), vec![(JobStatus::Pending, 3)]);
    assert!(repo.create_batch(Vec::new()).unwrap().is_empty());
    let pending = repo.claim_next(&["backtest"], "w").unwrap().unwrap();
    let mut counts = repo.count_by_status().unwrap();
    counts.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(counts, vec![(JobStatus::Pending, 2), (JobStatus::Running, 1)]);
    // Jobs created in the same millisecond tie on creation time, so which one was claimed is
    // not fixed: cancel one that is still pending.
    let still_pending = [&first.id, &out[0].0.id, &out[2].0.id].into_iter().find(|id| **id != pending.id).unwrap().clone();
    let cancelled = repo.request_cancel(&still_pending).unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert!(cancelled.finished_at.is_some());
    assert!(repo.request_cancel(&pending.id).unwrap().cancel_requested);
}

/// A worker claims only its job types, the oldest first.
pub fn workers_claim_only_their_job_types_oldest_first(repo: Arc<dyn JobRepository>) {
    let (sync, _) = repo.create(of_type("sync")).unwrap();
    tick();
    let (hyper, _) = repo.create(of_type("hyperopt")).unwrap();
    tick();
    let (sync2, _) = repo.create(of_type("sync")).unwrap();
    assert!(repo.claim_next(&[], "w").unwrap().is_none());
    assert!(repo.claim_next(&["backtest"], "w").unwrap().is_none());
    assert_eq!(repo.claim_next(&["backtest", "hyperopt", "sync"], "w").unwrap().unwrap().id, sync.id);
    assert_eq!(repo.claim_next(&["backtest", "hyperopt"], "w").unwrap().unwrap().id, hyper.id);
    assert_eq!(repo.claim_next(&["sync"], "w").unwrap().unwrap().id, sync2.id);
    assert!(repo.claim_next(&["backtest", "hyperopt", "sync"], "w").unwrap().is_none());
}

/// Listings are newest first, page by offset and limit, and the total counts every match.
pub fn listing_is_newest_first_and_pages(repo: Arc<dyn JobRepository>) {
    let mut ids = Vec::new();
    for i in 0..7 {
        let t = if i % 2 == 0 { "backtest" } else { "sync" };
        ids.push(repo.create(of_type(t)).unwrap().0.id);
        tick();
    }
    // Two of them move on, so the listing spans statuses.
    let claimed = repo.claim_next(&["backtest"], "w").unwrap().unwrap();
    assert_eq!(claimed.id, ids[0]);
    repo.transition(&ids[0], JobStatus::Completed, None, None).unwrap();
    repo.request_cancel(&ids[1]).unwrap();
    ids.reverse();
    let all = repo.list(&JobFilter::default()).unwrap();
    assert_eq!(all.items.iter().map(|j| j.id.clone()).collect::<Vec<_>>(), ids, "newest first across statuses");
    assert_eq!((all.total, all.limit, all.offset), (7, 50, 0));
    let page = repo.list(&JobFilter { limit: Some(3), offset: 2, ..JobFilter::default() }).unwrap();
    assert_eq!(page.items.iter().map(|j| j.id.clone()).collect::<Vec<_>>(), ids[2..5].to_vec());
    let page = repo.list(&JobFilter { limit: Some(3), offset: 6, ..JobFilter::default() }).unwrap();
    assert_eq!((page.items.len(), page.total), (1, 7));
    let page = repo.list(&JobFilter { limit: Some(10_000), ..JobFilter::default() }).unwrap();
    assert_eq!(page.limit, 500, "the page size is capped");
    let syncs = repo.list(&JobFilter { job_type: Some("sync".into()), ..JobFilter::default() }).unwrap();
    assert_eq!(syncs.total, 3);
    assert!(syncs.items.iter().all(|j| j.job_type == "sync"));
    let pending_backtests =
        repo.list(&JobFilter { job_type: Some("backtest".into()), status: Some(JobStatus::Pending), ..JobFilter::default() }).unwrap();
    assert_eq!(
        pending_backtests.items.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
        vec![ids[0].clone(), ids[2].clone(), ids[4].clone()]
    );
}

/// Cancelling a pending job finishes it; a job handed back keeps its attempts and runs again.
pub fn cancel_and_hand_back(repo: Arc<dyn JobRepository>) {
    let (a, _) = repo.create(new_job(None)).unwrap();
    let c = repo.request_cancel(&a.id).unwrap();
    assert_eq!(c.status, JobStatus::Cancelled);
    assert!(repo.claim_next(&["backtest"], "w").unwrap().is_none(), "a cancelled job is never claimed");
    let (b, _) = repo.create(new_job(None)).unwrap();
    let r = repo.claim_next(&["backtest"], "w1").unwrap().unwrap();
    assert_eq!(r.id, b.id);
    repo.heartbeat(&b.id, 0.4, Some(&serde_json::json!({"pairs_done": 1}))).unwrap();
    repo.transition(&b.id, JobStatus::Pending, None, None).unwrap();
    let again = repo.claim_next(&["backtest"], "w2").unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.attempts, again.executor_id.as_deref()), (b.id.as_str(), 2, Some("w2")));
    assert_eq!((again.progress, again.progress_detail.clone()), (0.0, None), "a new attempt starts from zero");
    let cancel = repo.request_cancel(&b.id).unwrap();
    assert!(cancel.cancel_requested);
    let stopped = repo.transition(&b.id, JobStatus::Cancelled, None, None).unwrap();
    assert_eq!(stopped.status, JobStatus::Cancelled);
    assert!(stopped.finished_at.is_some());
}

/// A job handed back after a crash is not claimed before its back-off ends and counts the
/// attempt; one handed back by a graceful shutdown gets its attempt back.
pub fn hand_back_waits_out_its_back_off(repo: Arc<dyn JobRepository>) {
    let (a, _) = repo.create(of_type("backoff")).unwrap();
    let r = repo.claim_next(&["backoff"], "w1").unwrap().unwrap();
    assert_eq!(r.attempts, 1);
    let far =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            + 3_600_000;
    let back = repo.hand_back(&a.id, Some(far), true).unwrap();
    assert_eq!((back.status, back.attempts, back.executor_id.as_deref()), (JobStatus::Pending, 1, None));
    assert!(repo.claim_next(&["backoff"], "w2").unwrap().is_none(), "a job is not claimed before its back-off ends");
    let err = repo.hand_back(&a.id, None, true).unwrap_err();
    assert!(matches!(err, RepoError::IllegalTransition { from: JobStatus::Pending, .. }), "only a RUNNING job is handed back: {err}");

    let (b, _) = repo.create(of_type("shutdown")).unwrap();
    repo.claim_next(&["shutdown"], "w1").unwrap().unwrap();
    let back = repo.hand_back(&b.id, None, false).unwrap();
    assert_eq!(back.attempts, 0, "a graceful shutdown gives the attempt back");
    let again = repo.claim_next(&["shutdown"], "w2").unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.attempts), (b.id.as_str(), 1));
}

/// Only the worker holding a RUNNING job writes its checkpoint; the checkpoint survives a hand
/// back (the next attempt resumes from it) and is gone once the job finishes.
pub fn checkpoints_belong_to_the_worker_that_holds_the_job(repo: Arc<dyn JobRepository>) {
    let (a, _) = repo.create(of_type("checkpoint")).unwrap();
    assert!(repo.load_checkpoint(&a.id).unwrap().is_none());
    assert!(repo.save_checkpoint(&a.id, "w1", &serde_json::json!({"epoch": 1})).is_err(), "a PENDING job has no holder");
    repo.claim_next(&["checkpoint"], "w1").unwrap().unwrap();
    repo.save_checkpoint(&a.id, "w1", &serde_json::json!({"epoch": 3, "losses": [0.5, 0.25]})).unwrap();
    repo.save_checkpoint(&a.id, "w1", &serde_json::json!({"epoch": 7, "losses": [0.5, 0.25, 0.125]})).unwrap();
    let err = repo.save_checkpoint(&a.id, "w2", &serde_json::json!({"epoch": 99})).unwrap_err();
    assert!(matches!(err, RepoError::IllegalTransition { .. }), "another worker may not write: {err}");
    assert_eq!(repo.load_checkpoint(&a.id).unwrap(), Some(serde_json::json!({"epoch": 7, "losses": [0.5, 0.25, 0.125]})));
    repo.hand_back(&a.id, None, false).unwrap();
    assert_eq!(repo.load_checkpoint(&a.id).unwrap().unwrap()["epoch"], 7, "a handed-back job keeps its checkpoint");
    repo.claim_next(&["checkpoint"], "w2").unwrap().unwrap();
    repo.transition(&a.id, JobStatus::Completed, Some(serde_json::json!({"ok": true})), None).unwrap();
    assert!(repo.load_checkpoint(&a.id).unwrap().is_none(), "a finished job resumes nothing");
    assert_eq!(repo.list(&JobFilter::default()).unwrap().items.iter().filter(|j| j.id == a.id).count(), 1, "a checkpoint is not a job");
}

/// `claim` of a named job (a queue message's): of many workers exactly one wins; a RUNNING,
/// finished or backed-off job is not claimable; an unknown id is named.
pub fn a_named_job_is_claimed_once_and_only_when_due(repo: Arc<dyn JobRepository>) {
    let (a, _) = repo.create(new_job(None)).unwrap();
    let winners: Vec<Job> = (0..6)
        .map(|w| {
            let (r, id) = (Arc::clone(&repo), a.id.clone());
            std::thread::spawn(move || r.claim(&id, &format!("q{w}")).unwrap())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .filter_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one claim wins");
    let won = &winners[0];
    assert_eq!((won.status, won.attempts), (JobStatus::Running, 1));
    assert!(repo.claim(&a.id, "late").unwrap().is_none(), "a RUNNING job is not claimed again");
    repo.hand_back(&a.id, Some(chrono::Utc::now().timestamp_millis() + 60_000), true).unwrap();
    assert!(repo.claim(&a.id, "early").unwrap().is_none(), "a backed-off job waits");
    let (b, _) = repo.create(new_job(None)).unwrap();
    repo.claim(&b.id, "w").unwrap().unwrap();
    repo.transition(&b.id, JobStatus::Completed, None, None).unwrap();
    assert!(repo.claim(&b.id, "again").unwrap().is_none(), "a finished job is never claimed");
    let missing = uuid::Uuid::new_v4().to_string();
    match repo.claim(&missing, "w") {
        Err(RepoError::NotFound(id)) => assert_eq!(id, missing),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// Where a remote executor runs a job is kept across claims and transitions; an unknown id is
/// named.
pub fn execution_refs_are_kept_whatever_the_status(repo: Arc<dyn JobRepository>) {
    let (a, _) = repo.create(new_job(None)).unwrap();
    assert_eq!(a.execution_ref, None);
    let arn = "arn:aws:states:us-east-1:123456789012:execution:backtest:backtest-1";
    repo.set_execution_ref(&a.id, arn).unwrap();
    let claimed = repo.claim(&a.id, "w").unwrap().unwrap();
    assert_eq!(claimed.execution_ref.as_deref(), Some(arn));
    let done = repo.transition(&a.id, JobStatus::Completed, None, None).unwrap();
    assert_eq!(done.execution_ref.as_deref(), Some(arn));
    repo.set_execution_ref(&a.id, "task-2").unwrap();
    assert_eq!(repo.get(&a.id).unwrap().execution_ref.as_deref(), Some("task-2"));
    let missing = uuid::Uuid::new_v4().to_string();
    assert!(matches!(repo.set_execution_ref(&missing, "x"), Err(RepoError::NotFound(id)) if id == missing));
}

/// A case of the state suite: it gets a repository that may already hold other states (keys
/// are made unique per call, so a shared emulator's earlier runs do not interfere).
pub type StateCase = fn(Arc<dyn crate::StateRepository>);

/// Every case of the handler-state suite, by name.
pub const STATE_CASES: &[(&str, StateCase)] = &[
    ("states_round_trip_and_replace", states_round_trip_and_replace),
    ("state_kinds_are_separate_and_listed", state_kinds_are_separate_and_listed),
];

/// A state comes back as stored; a second save replaces it; an unknown key is `None`.
pub fn states_round_trip_and_replace(repo: Arc<dyn crate::StateRepository>) {
    use crate::{HealthState, StateRepositoryExt};
    let name = unique("backend-api");
    assert!(repo.load::<HealthState>(&name).unwrap().is_none());
    let mut s = HealthState {
        service_name: name.clone(),
        status: "unhealthy".into(),
        consecutive_failures: 2,
        last_check_ms: 1_767_225_600_000,
        latency_ms: 12.5,
        last_error: Some("connection refused".into()),
        alerted: false,
    };
    repo.save(&s).unwrap();
    assert_eq!(repo.load::<HealthState>(&name).unwrap().as_ref(), Some(&s));
    s.consecutive_failures = 3;
    s.alerted = true;
    repo.save(&s).unwrap();
    assert_eq!(repo.load::<HealthState>(&name).unwrap(), Some(s), "a save replaces the state");
}

/// The same key under two kinds is two states; listing a kind returns only that kind.
pub fn state_kinds_are_separate_and_listed(repo: Arc<dyn crate::StateRepository>) {
    use crate::{DriftState, RetrainingState, StateRepositoryExt};
    let model = unique("PascalModel");
    let drift = DriftState {
        model_name: model.clone(),
        version: Some(3),
        has_drift: true,
        drifted_features: vec!["rsi_14".into()],
        max_psi: 0.31,
        consecutive_failures: 1,
        last_check_ms: 1_767_225_600_000,
    };
    let retrain = RetrainingState {
        model_name: model.clone(),
        status: "queued".into(),
        reasons: vec!["drift in rsi_14".into()],
        last_triggered_ms: Some(1_767_225_600_000),
        last_job_id: Some("job-1".into()),
        consecutive_failures: 0,
        last_check_ms: 1_767_225_600_000,
    };
    repo.save(&drift).unwrap();
    repo.save(&retrain).unwrap();
    assert_eq!(repo.load::<DriftState>(&model).unwrap(), Some(drift.clone()));
    assert_eq!(repo.load::<RetrainingState>(&model).unwrap(), Some(retrain.clone()));
    let drifts = repo.load_all::<DriftState>().unwrap();
    assert!(drifts.contains(&drift), "{drifts:?}");
    assert!(repo.load_all::<RetrainingState>().unwrap().contains(&retrain));
    assert!(repo.load_all::<crate::HeartbeatState>().unwrap().iter().all(|h| h.bot_id != model), "kinds do not mix");
}
