//! The embedded store's own cases: it survives a reopen, several handles share it, and
//! `open` reads every URI form.

use tradai_tracking::{open, ExperimentTracker, Metric, RunRecord, RunStatus, TrackingError};

use crate::harness::uniq;

#[tokio::test]
async fn runs_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("sqlite:///{}", dir.path().join("db/tracking.db").display());
    let mut rec = RunRecord::new(uniq("job"), "backtests/EmaCross");
    rec.metrics.push(Metric::new("sharpe", 2.0));
    rec.artifacts.push(tradai_tracking::Artifact { path: "report.txt".into(), content: b"r".to_vec() });
    let id = {
        let t = open(&uri).unwrap();
        t.tracker.log_run(&rec).await.unwrap()
    };
    let t = open(&uri).unwrap();
    let run = t.tracker.get_run(&id).await.unwrap();
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.metric("sharpe"), Some(2.0));
    assert_eq!(t.tracker.download_artifact(&id, "report.txt").await.unwrap(), b"r");
    assert!(dir.path().join("db/artifacts").is_dir(), "artifacts sit beside the database");
    // The same record logged through the reopened store is still one run.
    assert_eq!(t.tracker.log_run(&rec).await.unwrap(), id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_directory_share_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path().to_str().unwrap()).unwrap();
    let b = open(&format!("file://{}", dir.path().display())).unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let t = if i % 2 == 0 { a.tracker.clone() } else { b.tracker.clone() };
            tokio::spawn(async move {
                let mut rec = RunRecord::new(format!("job-{i}"), "shared");
                rec.metrics.push(Metric::new("i", f64::from(i)));
                t.log_run(&rec).await.unwrap()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let exp = b.tracker.get_experiment_by_name("shared").await.unwrap().unwrap();
    let runs = a.tracker.search_runs(&tradai_tracking::RunQuery::experiment(exp.experiment_id).order_by("metrics.i")).await.unwrap();
    let values: Vec<f64> = runs.iter().filter_map(|r| r.metric("i")).collect();
    assert_eq!(values, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
}

#[tokio::test]
async fn uri_errors_say_what_to_use() {
    let e = open("s3://bucket/tracking").unwrap_err();
    assert!(matches!(e, TrackingError::BadUri { .. }) && e.to_string().contains("sqlite:///"), "{e}");
    let e = open("").unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    // A directory that cannot be created is a storage error naming the path.
    let file = tempfile::NamedTempFile::new().unwrap();
    let e = open(&format!("{}/sub", file.path().display())).unwrap_err();
    assert!(matches!(e, TrackingError::Storage { .. }) && e.to_string().contains(&file.path().display().to_string()), "{e}");
}

#[tokio::test]
async fn uri_does_not_leak_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path().to_str().unwrap()).unwrap();
    assert!(ExperimentTracker::uri(&*t.tracker).ends_with("tracking.db"));
    assert_eq!(t.tracker.uri(), t.registry.uri());
}
