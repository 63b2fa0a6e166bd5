//! The shared suite: every case takes a back end and must pass on the embedded store and on
//! MLflow alike, so the two can stand in for each other.

use std::collections::BTreeMap;

use tradai_tracking::{
    Artifact, Entity, Metric, NewModelVersion, NewRegisteredModel, NewRun, OtherVersions, RunQuery, RunRecord, RunStatus, Stage, Tags,
    TrackingError, ALIAS_CHALLENGER, ALIAS_CHAMPION, TAG_RECORD_ID,
};

use crate::harness::{uniq, Backend};

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn metric(key: &str, value: f64, step: i64, timestamp: i64) -> Metric {
    Metric { key: key.into(), value, timestamp, step }
}

async fn new_experiment(b: &Backend) -> String {
    b.t.tracker.create_experiment(&uniq("exp"), &Tags::new()).await.unwrap()
}

async fn new_run(b: &Backend, experiment_id: &str, name: &str, start: i64) -> String {
    let run = NewRun { experiment_id: experiment_id.into(), run_name: Some(name.into()), start_time: Some(start), ..NewRun::default() };
    b.t.tracker.create_run(&run).await.unwrap().info.run_id
}

fn assert_not_found(e: &TrackingError, entity: Entity, says: &str, ctx: &str) {
    match e {
        TrackingError::NotFound { entity: got, .. } if *got == entity => {}
        other => panic!("{ctx}: expected a {entity} not found, got {other:?}"),
    }
    assert!(e.to_string().contains(says), "{ctx}: '{e}' should name {says}");
    assert!(!e.is_retryable(), "{ctx}: not found is final");
}

pub async fn experiments(b: &Backend) {
    let tr = &b.t.tracker;
    let name = uniq("backtests/EmaCross");
    let id = tr.create_experiment(&name, &tags(&[("team", "quant")])).await.unwrap();
    let e = tr.get_experiment(&id).await.unwrap();
    assert_eq!((e.name.as_str(), e.lifecycle_stage.as_str()), (name.as_str(), "active"));
    assert_eq!(e.tags.get("team").map(String::as_str), Some("quant"));
    assert!(e.creation_time.is_some());
    assert_eq!(tr.get_experiment_by_name(&name).await.unwrap().unwrap().experiment_id, id);
    assert!(tr.get_experiment_by_name(&uniq("missing")).await.unwrap().is_none());
    let dup = tr.create_experiment(&name, &Tags::new()).await.unwrap_err();
    assert!(matches!(dup, TrackingError::AlreadyExists { entity: Entity::Experiment, .. }), "{dup:?}");
    assert!(dup.to_string().contains(&name), "{dup}");
    assert!(tr.list_experiments().await.unwrap().iter().any(|e| e.experiment_id == id));
    assert_eq!(tr.get_or_create_experiment(&name).await.unwrap().experiment_id, id);
    let other = uniq("fresh");
    let created = tr.get_or_create_experiment(&other).await.unwrap();
    assert_eq!(created.name, other);
    let e = tr.get_experiment("987654321").await.unwrap_err();
    assert_not_found(&e, Entity::Experiment, "987654321", b.kind);
    tr.ping().await.unwrap();
}

pub async fn runs_params_metrics_and_tags(b: &Backend) {
    let tr = &b.t.tracker;
    let exp = new_experiment(b).await;
    let new = NewRun {
        experiment_id: exp.clone(),
        run_name: Some("ema-fast".into()),
        start_time: Some(1_700_000_000_000),
        tags: tags(&[("job_id", "j-1")]),
        parent_run_id: None,
    };
    let run = tr.create_run(&new).await.unwrap();
    let id = run.info.run_id.clone();
    assert_eq!(run.info.status, RunStatus::Running);
    assert_eq!(run.info.run_name, "ema-fast");
    assert_eq!(run.info.experiment_id, exp);
    assert_eq!(run.info.start_time, Some(1_700_000_000_000));
    assert_eq!(run.tags.get("mlflow.runName").map(String::as_str), Some("ema-fast"));

    let params: BTreeMap<String, String> = [("strategy", "EmaCross"), ("timeframe", "1h"), ("pairs", "BTC/USDT,ETH/USDT")]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let metrics = vec![
        metric("sharpe", 1.25, 0, 1000),
        metric("equity", 100.0, 0, 1000),
        metric("equity", 101.5, 1, 1001),
        metric("equity", 99.0, 2, 1002),
        metric("profit_factor", f64::INFINITY, 0, 1000),
        metric("sortino", f64::NAN, 0, 1000),
    ];
    tr.log_batch(&id, &params, &metrics, &tags(&[("tradai.version", "0.1.0")])).await.unwrap();
    // Logging the same params and metric points again changes nothing.
    tr.log_batch(&id, &params, &metrics[..2], &Tags::new()).await.unwrap();
    tr.set_tag(&id, "note", "first").await.unwrap();
    tr.set_tag(&id, "note", "second").await.unwrap();

    let run = tr.get_run(&id).await.unwrap();
    assert_eq!(run.params, params);
    assert_eq!(run.metric("sharpe"), Some(1.25));
    assert_eq!(run.metric("equity"), Some(99.0), "latest = highest step");
    assert_eq!(run.metrics["equity"].step, 2);
    assert_eq!(run.metric("profit_factor"), Some(f64::MAX), "infinity is stored as f64::MAX, as MLflow does");
    assert!(run.metric("sortino").unwrap().is_nan());
    assert_eq!(run.tags.get("tradai.version").map(String::as_str), Some("0.1.0"));
    assert_eq!(run.tags.get("note").map(String::as_str), Some("second"));
    assert_eq!(run.tags.get("job_id").map(String::as_str), Some("j-1"));

    let history = tr.get_metric_history(&id, "equity").await.unwrap();
    let points: Vec<(i64, f64)> = history.iter().map(|m| (m.step, m.value)).collect();
    assert_eq!(points, vec![(0, 100.0), (1, 101.5), (2, 99.0)]);
    assert_eq!(tr.get_metric_history(&id, "sharpe").await.unwrap().len(), 1, "a repeated point is stored once");
    assert!(tr.get_metric_history(&id, "nothing").await.unwrap().is_empty());

    // Params are immutable.
    let changed: BTreeMap<String, String> = [("timeframe".to_owned(), "4h".to_owned())].into();
    let e = tr.log_batch(&id, &changed, &[], &Tags::new()).await.unwrap_err();
    assert!(matches!(e, TrackingError::Invalid { .. }), "{}: {e:?}", b.kind);
    assert!(!e.is_retryable());
    // Keys MLflow refuses are refused before sending.
    let bad: BTreeMap<String, String> = [("a\"b".to_owned(), "x".to_owned())].into();
    let e = tr.log_batch(&id, &bad, &[], &Tags::new()).await.unwrap_err();
    assert!(e.to_string().contains("param key"), "{e}");

    tr.set_terminated(&id, RunStatus::Finished, Some(1_700_000_500_000)).await.unwrap();
    let run = tr.get_run(&id).await.unwrap();
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.info.end_time, Some(1_700_000_500_000));

    // A large batch is split into MLflow-sized requests.
    let many: Vec<Metric> = (0..1500).map(|i| metric("curve", f64::from(i), i64::from(i), 5000)).collect();
    let many_params: BTreeMap<String, String> = (0..150).map(|i| (format!("p{i:03}"), i.to_string())).collect();
    let id2 = new_run(b, &exp, "big", 1_700_000_000_001).await;
    tr.log_batch(&id2, &many_params, &many, &Tags::new()).await.unwrap();
    let run = tr.get_run(&id2).await.unwrap();
    assert_eq!(run.params.len(), 150);
    assert_eq!(run.metric("curve"), Some(1499.0));
    assert_eq!(tr.get_metric_history(&id2, "curve").await.unwrap().len(), 1500);
}

pub async fn search_filters_and_orders(b: &Backend) {
    let tr = &b.t.tracker;
    let exp = new_experiment(b).await;
    let other_exp = new_experiment(b).await;
    // (name, strategy, sharpe, status, start)
    let rows = [
        ("ema-a", "EmaCross", Some(0.5), RunStatus::Finished, 1_000),
        ("ema-b", "EmaCross", Some(1.5), RunStatus::Finished, 2_000),
        ("ema-c", "EmaCross", Some(2.5), RunStatus::Failed, 3_000),
        ("rsi-a", "Rsi", Some(3.0), RunStatus::Finished, 4_000),
        ("ema-d", "EmaCross", None, RunStatus::Finished, 5_000),
    ];
    let mut ids = BTreeMap::new();
    for (name, strategy, sharpe, status, start) in rows {
        let id = new_run(b, &exp, name, start).await;
        let params: BTreeMap<String, String> = [("strategy".to_owned(), strategy.to_owned())].into();
        let metrics: Vec<Metric> = sharpe.map(|s| metric("sharpe", s, 0, start)).into_iter().collect();
        tr.log_batch(&id, &params, &metrics, &tags(&[("mlflow.user", "ci"), ("batch", "b1")])).await.unwrap();
        tr.set_terminated(&id, status, Some(start + 10)).await.unwrap();
        ids.insert(name, id);
    }
    let elsewhere = new_run(b, &other_exp, "ema-x", 6_000).await;
    tr.log_batch(&elsewhere, &[("strategy".to_owned(), "EmaCross".to_owned())].into(), &[metric("sharpe", 9.0, 0, 1)], &Tags::new())
        .await
        .unwrap();

    let names = |runs: &[tradai_tracking::Run]| runs.iter().map(|r| r.info.run_name.clone()).collect::<Vec<_>>();
    let q = |filter: &str| RunQuery::experiment(exp.clone()).filter(filter);

    let r = tr.search_runs(&q("")).await.unwrap();
    assert_eq!(names(&r), ["ema-d", "rsi-a", "ema-c", "ema-b", "ema-a"], "{}: default order is newest first", b.kind);

    let r = tr.search_runs(&q("metrics.sharpe > 1 and params.strategy = 'EmaCross'").order_by("metrics.sharpe DESC")).await.unwrap();
    assert_eq!(names(&r), ["ema-c", "ema-b"], "{}", b.kind);

    let r = tr.search_runs(&q("metrics.sharpe >= 0.5").order_by("metrics.sharpe ASC")).await.unwrap();
    assert_eq!(names(&r), ["ema-a", "ema-b", "ema-c", "rsi-a"], "{}", b.kind);

    let r = tr.search_runs(&q("").order_by("metrics.sharpe DESC")).await.unwrap();
    assert_eq!(names(&r), ["rsi-a", "ema-c", "ema-b", "ema-a", "ema-d"], "{}: a run without the metric sorts last", b.kind);

    let r =
        tr.search_runs(&q("attributes.status = 'FINISHED' and tags.`mlflow.user` = 'ci'").order_by("attributes.start_time")).await.unwrap();
    assert_eq!(names(&r), ["ema-a", "ema-b", "rsi-a", "ema-d"], "{}", b.kind);

    let r = tr
        .search_runs(&q("attributes.run_name LIKE 'ema-%' and params.strategy != 'Rsi'").order_by("attributes.run_name DESC"))
        .await
        .unwrap();
    assert_eq!(names(&r), ["ema-d", "ema-c", "ema-b", "ema-a"], "{}", b.kind);

    let r = tr.search_runs(&q("params.strategy ILIKE 'ema%'").order_by("metrics.sharpe DESC").max_results(2)).await.unwrap();
    assert_eq!(names(&r), ["ema-c", "ema-b"], "{}: max_results", b.kind);

    let r = tr.search_runs(&q(&format!("attributes.run_id IN ('{}', '{}')", ids["ema-a"], ids["rsi-a"]))).await.unwrap();
    assert_eq!(names(&r), ["rsi-a", "ema-a"], "{}", b.kind);

    let r = tr.search_runs(&q("metrics.sharpe != 1.5 and attributes.start_time < 3500")).await.unwrap();
    assert_eq!(names(&r), ["ema-c", "ema-a"], "{}", b.kind);

    let r = tr.search_runs(&q("tags.batch = 'none'")).await.unwrap();
    assert!(r.is_empty());

    let mut both = RunQuery::experiment(exp.clone()).filter("metrics.sharpe > 2.9").order_by("metrics.sharpe DESC");
    both.experiment_ids.push(other_exp.clone());
    let r = tr.search_runs(&both).await.unwrap();
    assert_eq!(names(&r), ["ema-x", "rsi-a"], "{}: several experiments", b.kind);

    // Full run data comes back with each hit.
    let r = tr.search_runs(&q("params.strategy = 'Rsi'")).await.unwrap();
    assert_eq!(r[0].params["strategy"], "Rsi");
    assert_eq!(r[0].metric("sharpe"), Some(3.0));
    assert_eq!(r[0].info.status, RunStatus::Finished);
}

pub async fn search_rejects_bad_filters(b: &Backend) {
    let tr = &b.t.tracker;
    let exp = new_experiment(b).await;
    for (filter, says) in [
        ("sharpe > 1", "entity prefix"),
        ("metrics.sharpe > 1 or metrics.sharpe < 0", "OR is not supported"),
        ("params.strategy = EmaCross", "quoted string"),
        ("metrics.sharpe > 'high'", "remove the quotes"),
    ] {
        let e = tr.search_runs(&RunQuery::experiment(exp.clone()).filter(filter)).await.unwrap_err();
        assert!(matches!(e, TrackingError::Invalid { .. }), "{}: {filter}: {e:?}", b.kind);
        assert!(e.to_string().contains(says) && e.to_string().contains(filter), "{}: {e}", b.kind);
    }
    let e = tr.search_runs(&RunQuery::experiment(exp.clone()).order_by("metrics.sharpe SIDEWAYS")).await.unwrap_err();
    assert!(e.to_string().contains("order_by"), "{e}");
}

pub async fn artifacts(b: &Backend) {
    let tr = &b.t.tracker;
    let exp = new_experiment(b).await;
    let id = new_run(b, &exp, "arts", 1).await;
    tr.log_artifact(&id, "trades.json", br#"[{"pair":"BTC/USDT"}]"#).await.unwrap();
    tr.log_artifact(&id, "plots/equity.svg", b"<svg/>").await.unwrap();
    tr.log_artifact(&id, "plots/deep/drawdown curve.svg", b"<svg>dd</svg>").await.unwrap();
    tr.log_artifact(&id, "report.txt", b"old").await.unwrap();
    tr.log_artifact(&id, "report.txt", b"new report").await.unwrap();

    let root = tr.list_artifacts(&id, None).await.unwrap();
    let listing: Vec<(String, bool, Option<u64>)> = root.iter().map(|f| (f.path.clone(), f.is_dir, f.file_size)).collect();
    assert_eq!(
        listing,
        vec![("plots".into(), true, None), ("report.txt".into(), false, Some(10)), ("trades.json".into(), false, Some(21))],
        "{}",
        b.kind
    );
    let plots = tr.list_artifacts(&id, Some("plots")).await.unwrap();
    let paths: Vec<&str> = plots.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["plots/deep", "plots/equity.svg"], "{}", b.kind);
    let deep = tr.list_artifacts(&id, Some("plots/deep/")).await.unwrap();
    assert_eq!(deep[0].path, "plots/deep/drawdown curve.svg");
    assert!(tr.list_artifacts(&id, Some("nothing-here")).await.unwrap().is_empty());

    assert_eq!(tr.download_artifact(&id, "report.txt").await.unwrap(), b"new report");
    assert_eq!(tr.download_artifact(&id, "plots/deep/drawdown curve.svg").await.unwrap(), b"<svg>dd</svg>");
    let e = tr.download_artifact(&id, "plots/missing.svg").await.unwrap_err();
    assert_not_found(&e, Entity::Artifact, "plots/missing.svg", b.kind);

    for bad in ["../escape.txt", "/abs.txt", "a//b", "a/./b", ""] {
        let e = tr.log_artifact(&id, bad, b"x").await.unwrap_err();
        assert!(matches!(e, TrackingError::Invalid { .. }), "{bad}: {e:?}");
    }
    let e = tr.log_artifact("0123456789abcdef0123456789abcdef", "x.txt", b"x").await.unwrap_err();
    assert_not_found(&e, Entity::Run, "0123456789abcdef0123456789abcdef", b.kind);
}

pub async fn parent_and_child_runs(b: &Backend) {
    let tr = &b.t.tracker;
    let exp = new_experiment(b).await;
    let parent = new_run(b, &exp, "hyperopt", 1_000).await;
    for (i, start) in [(1, 2_000), (2, 3_000)] {
        let child = NewRun {
            experiment_id: exp.clone(),
            run_name: Some(format!("trial-{i}")),
            start_time: Some(start),
            parent_run_id: Some(parent.clone()),
            ..NewRun::default()
        };
        let run = tr.create_run(&child).await.unwrap();
        assert_eq!(run.parent_run_id(), Some(parent.as_str()));
    }
    let _unrelated = new_run(b, &exp, "solo", 4_000).await;
    let children = tr.child_runs(&parent).await.unwrap();
    let names: Vec<&str> = children.iter().map(|r| r.info.run_name.as_str()).collect();
    assert_eq!(names, ["trial-1", "trial-2"], "{}", b.kind);
    let orphan = NewRun { experiment_id: exp.clone(), parent_run_id: Some("ffffffffffffffffffffffffffffffff".into()), ..NewRun::default() };
    let e = tr.create_run(&orphan).await.unwrap_err();
    assert_not_found(&e, Entity::Run, "ffffffffffffffffffffffffffffffff", b.kind);
}

fn record(experiment: &str) -> RunRecord {
    let mut r = RunRecord::new(uniq("job"), experiment);
    r.run_name = Some("EmaCross 1h".into());
    r.start_time = Some(1_700_000_000_000);
    r.end_time = Some(1_700_000_060_000);
    r.params.insert("strategy".into(), "EmaCross".into());
    r.params.insert("stake_amount".into(), "100".into());
    r.metrics.push(Metric { key: "sharpe".into(), value: 1.7, timestamp: 1_700_000_060_000, step: 0 });
    r.metrics.push(Metric { key: "total_trades".into(), value: 42.0, timestamp: 1_700_000_060_000, step: 0 });
    r.tags.insert("job_id".into(), "job-1".into());
    r.artifacts.push(Artifact { path: "trades.json".into(), content: b"[]".to_vec() });
    r.artifacts.push(Artifact { path: "report/summary.txt".into(), content: b"profit".to_vec() });
    r
}

pub async fn log_run_is_idempotent(b: &Backend) {
    let tr = &b.t.tracker;
    let experiment = uniq("backtests/EmaCross");
    let rec = record(&experiment);
    let id = tr.log_run(&rec).await.unwrap();
    let again = tr.log_run(&rec).await.unwrap();
    assert_eq!(id, again, "{}: replaying a record must not duplicate the run", b.kind);

    let exp = tr.get_experiment_by_name(&experiment).await.unwrap().expect("experiment created on demand");
    let runs = tr.search_runs(&RunQuery::experiment(exp.experiment_id.clone())).await.unwrap();
    assert_eq!(runs.len(), 1);
    let run = tr.get_run(&id).await.unwrap();
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.info.run_name, "EmaCross 1h");
    assert_eq!((run.info.start_time, run.info.end_time), (Some(1_700_000_000_000), Some(1_700_000_060_000)));
    assert_eq!(run.params["strategy"], "EmaCross");
    assert_eq!(run.metric("total_trades"), Some(42.0));
    assert_eq!(run.tags.get(TAG_RECORD_ID), Some(&rec.record_id));
    assert_eq!(run.tags["job_id"], "job-1");
    assert_eq!(tr.download_artifact(&id, "report/summary.txt").await.unwrap(), b"profit");
    assert_eq!(tr.get_metric_history(&id, "sharpe").await.unwrap().len(), 1);

    // A different record in the same experiment is a new run; a failed one keeps its status.
    let mut failed = record(&experiment);
    failed.status = RunStatus::Failed;
    let id2 = tr.log_run(&failed).await.unwrap();
    assert_ne!(id2, id);
    assert_eq!(tr.get_run(&id2).await.unwrap().info.status, RunStatus::Failed);
    let found = tr.find_record(&exp.experiment_id, &rec.record_id).await.unwrap().unwrap();
    assert_eq!(found.info.run_id, id);

    let mut bad = record(&experiment);
    bad.record_id = "it's".into();
    assert!(matches!(tr.log_run(&bad).await.unwrap_err(), TrackingError::Invalid { .. }));
}

pub async fn log_run_resumes_a_half_logged_run(b: &Backend) {
    let tr = &b.t.tracker;
    let experiment = uniq("backtests/Resume");
    let rec = record(&experiment);
    // An earlier attempt created the run and logged part of it, then died.
    let exp = tr.get_or_create_experiment(&experiment).await.unwrap();
    let first = NewRun {
        experiment_id: exp.experiment_id.clone(),
        run_name: rec.run_name.clone(),
        start_time: rec.start_time,
        tags: tags(&[(TAG_RECORD_ID, &rec.record_id)]),
        parent_run_id: None,
    };
    let half = tr.create_run(&first).await.unwrap().info.run_id;
    tr.log_batch(&half, &rec.params, &rec.metrics[..1], &Tags::new()).await.unwrap();

    let id = tr.log_run(&rec).await.unwrap();
    assert_eq!(id, half, "{}: the half-logged run is completed, not duplicated", b.kind);
    let run = tr.get_run(&id).await.unwrap();
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.metric("total_trades"), Some(42.0));
    assert_eq!(tr.get_metric_history(&id, "sharpe").await.unwrap().len(), 1, "the repeated point is not doubled");
    assert_eq!(tr.list_artifacts(&id, None).await.unwrap().len(), 2);
}

pub async fn unknown_run_is_named(b: &Backend) {
    let tr = &b.t.tracker;
    let ghost = "00000000000000000000000000000bad";
    assert_not_found(&tr.get_run(ghost).await.unwrap_err(), Entity::Run, ghost, b.kind);
    assert_not_found(
        &tr.log_batch(ghost, &BTreeMap::new(), &[metric("x", 1.0, 0, 1)], &Tags::new()).await.unwrap_err(),
        Entity::Run,
        ghost,
        b.kind,
    );
    assert_not_found(&tr.set_terminated(ghost, RunStatus::Finished, None).await.unwrap_err(), Entity::Run, ghost, b.kind);
    assert_not_found(&tr.list_artifacts(ghost, None).await.unwrap_err(), Entity::Run, ghost, b.kind);
    assert_not_found(&tr.download_artifact(ghost, "a.txt").await.unwrap_err(), Entity::Run, ghost, b.kind);
    assert_not_found(&tr.get_metric_history(ghost, "x").await.unwrap_err(), Entity::Run, ghost, b.kind);
    let e = tr.get_run(ghost).await.unwrap_err();
    assert_eq!(e.to_string(), format!("run '{ghost}' not found"));
    let e = tr.create_run(&NewRun { experiment_id: "987654321".into(), ..NewRun::default() }).await.unwrap_err();
    assert_not_found(&e, Entity::Experiment, "987654321", b.kind);
}

pub async fn registry_models_versions_aliases_and_stages(b: &Backend) {
    let (tr, reg) = (&b.t.tracker, &b.t.registry);
    let name = uniq("EmaCross");
    let model = reg
        .create_registered_model(&NewRegisteredModel {
            name: name.clone(),
            description: Some("EMA crossover".into()),
            tags: tags(&[("kind", "strategy")]),
        })
        .await
        .unwrap();
    assert_eq!((model.name.as_str(), model.description.as_str()), (name.as_str(), "EMA crossover"));
    assert_eq!(model.tags["kind"], "strategy");
    let dup = reg.create_registered_model(&NewRegisteredModel { name: name.clone(), ..Default::default() }).await.unwrap_err();
    assert!(matches!(dup, TrackingError::AlreadyExists { entity: Entity::RegisteredModel, .. }), "{dup:?}");
    assert!(reg.list_registered_models().await.unwrap().iter().any(|m| m.name == name));

    let exp = new_experiment(b).await;
    let run_id = new_run(b, &exp, "train", 1).await;
    let mut versions = Vec::new();
    for i in 1..=3_u64 {
        let v = reg
            .create_model_version(&NewModelVersion {
                name: name.clone(),
                source: format!("runs:/{run_id}/strategy"),
                run_id: Some(run_id.clone()),
                tags: tags(&[("timeframe", "1h"), ("attempt", &i.to_string())]),
                description: None,
            })
            .await
            .unwrap();
        assert_eq!(v.version, i, "{}: versions count up", b.kind);
        assert_eq!(v.current_stage, Stage::None);
        assert_eq!(v.run_id.as_deref(), Some(run_id.as_str()));
        versions.push(v);
    }
    let v2 = reg.get_model_version(&name, 2).await.unwrap();
    assert_eq!(v2.tags["attempt"], "2");
    assert_eq!(v2.source, format!("runs:/{run_id}/strategy"));
    let all: Vec<u64> = reg.list_model_versions(&name).await.unwrap().iter().map(|v| v.version).collect();
    assert_eq!(all, [1, 2, 3]);
    reg.set_model_version_tag(&name, 2, "config", "configs/ema.json").await.unwrap();
    assert_eq!(reg.get_model_version(&name, 2).await.unwrap().tags["config"], "configs/ema.json");
    reg.set_registered_model_tag(&name, "owner", "quant").await.unwrap();
    assert_eq!(reg.get_registered_model(&name).await.unwrap().tags["owner"], "quant");
    // Without a run: an object-store source.
    let v4 = reg
        .create_model_version(&NewModelVersion { name: name.clone(), source: "s3://bucket/strategies/ema".into(), ..Default::default() })
        .await
        .unwrap();
    assert_eq!((v4.version, v4.run_id.as_deref()), (4, None));

    // Aliases.
    reg.set_alias(&name, ALIAS_CHALLENGER, 2).await.unwrap();
    assert_eq!(reg.get_version_by_alias(&name, ALIAS_CHALLENGER).await.unwrap().version, 2);
    assert_eq!(reg.get_model_version(&name, 2).await.unwrap().aliases, [ALIAS_CHALLENGER]);
    reg.set_alias(&name, ALIAS_CHALLENGER, 3).await.unwrap();
    assert_eq!(reg.get_version_by_alias(&name, ALIAS_CHALLENGER).await.unwrap().version, 3, "an alias moves");
    assert!(reg.get_model_version(&name, 2).await.unwrap().aliases.is_empty());
    assert_eq!(reg.get_registered_model(&name).await.unwrap().aliases.get(ALIAS_CHALLENGER), Some(&3));
    reg.delete_alias(&name, ALIAS_CHALLENGER).await.unwrap();
    reg.delete_alias(&name, ALIAS_CHALLENGER).await.unwrap();
    let e = reg.get_version_by_alias(&name, ALIAS_CHALLENGER).await.unwrap_err();
    assert_not_found(&e, Entity::Alias, ALIAS_CHALLENGER, b.kind);
    assert!(matches!(reg.set_alias(&name, "latest", 1).await.unwrap_err(), TrackingError::Invalid { .. }));
    assert!(matches!(reg.set_alias(&name, "v2", 1).await.unwrap_err(), TrackingError::Invalid { .. }));

    // Stages.
    let staged = reg.transition_stage(&name, 1, Stage::Staging, OtherVersions::Keep).await.unwrap();
    assert_eq!(staged.current_stage, Stage::Staging);
    reg.transition_stage(&name, 2, Stage::Staging, OtherVersions::Keep).await.unwrap();
    assert_eq!(reg.get_model_version(&name, 1).await.unwrap().current_stage, Stage::Staging, "no archiving without the flag");
    reg.transition_stage(&name, 3, Stage::Staging, OtherVersions::Archive).await.unwrap();
    let stages: Vec<Stage> = reg.list_model_versions(&name).await.unwrap().iter().map(|v| v.current_stage).collect();
    assert_eq!(stages, [Stage::Archived, Stage::Archived, Stage::Staging, Stage::None], "{}", b.kind);
    assert!(reg.production_version(&name).await.unwrap().is_none());

    reg.delete_registered_model(&name).await.unwrap();
    assert_not_found(&reg.get_registered_model(&name).await.unwrap_err(), Entity::RegisteredModel, &name, b.kind);
    let _ = tr;
}

pub async fn promote_and_rollback(b: &Backend) {
    let reg = &b.t.registry;
    let name = uniq("Strategy");
    reg.create_registered_model(&NewRegisteredModel { name: name.clone(), ..Default::default() }).await.unwrap();
    for _ in 0..3 {
        reg.create_model_version(&NewModelVersion { name: name.clone(), source: "s3://bucket/model".into(), ..Default::default() })
            .await
            .unwrap();
    }
    let stage = |v: &tradai_tracking::ModelVersion| v.current_stage;
    let stages = || async { reg.list_model_versions(&name).await.unwrap().iter().map(|v| v.current_stage).collect::<Vec<_>>() };

    let p1 = reg.promote(&name, 1).await.unwrap();
    assert_eq!(stage(&p1), Stage::Production);
    assert_eq!(p1.aliases, [ALIAS_CHAMPION]);
    reg.promote(&name, 2).await.unwrap();
    assert_eq!(stages().await, [Stage::Archived, Stage::Production, Stage::None], "{}", b.kind);
    reg.set_alias(&name, ALIAS_CHALLENGER, 3).await.unwrap();
    let p3 = reg.promote(&name, 3).await.unwrap();
    assert_eq!(p3.aliases, [ALIAS_CHAMPION], "{}: the challenger became the champion", b.kind);
    assert_eq!(stages().await, [Stage::Archived, Stage::Archived, Stage::Production]);
    assert_eq!(reg.production_version(&name).await.unwrap().unwrap().version, 3);
    let history: Vec<u64> = reg.production_history(&name).await.unwrap().iter().map(|e| e.version).collect();
    assert_eq!(history, [1, 2, 3]);

    let back = reg.rollback(&name).await.unwrap();
    assert_eq!((back.version, back.current_stage), (2, Stage::Production), "{}", b.kind);
    assert_eq!(reg.get_version_by_alias(&name, ALIAS_CHAMPION).await.unwrap().version, 2);
    assert_eq!(stages().await, [Stage::Archived, Stage::Production, Stage::Archived]);
    let back = reg.rollback(&name).await.unwrap();
    assert_eq!(back.version, 1);
    assert_eq!(reg.production_version(&name).await.unwrap().unwrap().version, 1);
    let e = reg.rollback(&name).await.unwrap_err();
    assert!(matches!(e, TrackingError::NoRollbackTarget { .. }) && e.to_string().contains(&name), "{e:?}");
    assert_eq!(reg.production_version(&name).await.unwrap().unwrap().version, 1, "a refused rollback changes nothing");

    // Promoting again after a rollback starts a new history from there.
    reg.promote(&name, 3).await.unwrap();
    assert_eq!(reg.rollback(&name).await.unwrap().version, 1);

    // Promoting a version that does not exist changes nothing and says which.
    let e = reg.promote(&name, 9).await.unwrap_err();
    assert_not_found(&e, Entity::ModelVersion, &format!("9 of '{name}'"), b.kind);
    assert_eq!(e.to_string(), format!("model version 9 of '{name}' not found"));
    assert_eq!(reg.production_version(&name).await.unwrap().unwrap().version, 1);
}

pub async fn unknown_model_and_version_are_named(b: &Backend) {
    let reg = &b.t.registry;
    let ghost = uniq("NoSuchModel");
    let nf = |e: TrackingError| assert_not_found(&e, Entity::RegisteredModel, &ghost, b.kind);
    nf(reg.get_registered_model(&ghost).await.unwrap_err());
    nf(reg.delete_registered_model(&ghost).await.unwrap_err());
    nf(reg.list_model_versions(&ghost).await.unwrap_err());
    nf(reg
        .create_model_version(&NewModelVersion { name: ghost.clone(), source: "s3://b/m".into(), ..Default::default() })
        .await
        .unwrap_err());
    nf(reg.get_model_version(&ghost, 1).await.unwrap_err());
    nf(reg.set_alias(&ghost, ALIAS_CHAMPION, 1).await.unwrap_err());
    nf(reg.get_version_by_alias(&ghost, ALIAS_CHAMPION).await.unwrap_err());
    nf(reg.transition_stage(&ghost, 1, Stage::Production, OtherVersions::Archive).await.unwrap_err());
    nf(reg.promote(&ghost, 1).await.unwrap_err());
    nf(reg.rollback(&ghost).await.unwrap_err());
    nf(reg.set_registered_model_tag(&ghost, "k", "v").await.unwrap_err());

    let name = uniq("Known");
    reg.create_registered_model(&NewRegisteredModel { name: name.clone(), ..Default::default() }).await.unwrap();
    let v = |e: TrackingError| assert_not_found(&e, Entity::ModelVersion, &format!("7 of '{name}'"), b.kind);
    v(reg.get_model_version(&name, 7).await.unwrap_err());
    v(reg.set_alias(&name, ALIAS_CHAMPION, 7).await.unwrap_err());
    v(reg.transition_stage(&name, 7, Stage::Production, OtherVersions::Keep).await.unwrap_err());
    v(reg.set_model_version_tag(&name, 7, "k", "v").await.unwrap_err());
    let e = reg.rollback(&name).await.unwrap_err();
    assert!(matches!(e, TrackingError::NoRollbackTarget { .. }), "{e:?}");
}
