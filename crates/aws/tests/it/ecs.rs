//! The strategy container's ECS tasks on the emulator: RunTask with the job in the container's
//! environment and the awsvpc network, ListTasks, DescribeTasks and StopTask with its reason;
//! a cluster, task definition or container that is not there is named at connect time.

use tradai_aws::{EcsTaskSpec, EcsTasks};

use crate::{emulator, unique_table};

fn fixture(test: &str) -> Option<(tradai_aws::AwsOverrides, EcsTaskSpec)> {
    let o = emulator(test)?;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spec = rt.block_on(async {
        let cfg = tradai_aws::load_sdk_config(&o).await;
        tradai_aws::emulator::ecs_fixture(&cfg, o.endpoint_url.as_deref().unwrap(), &unique_table("ecs"), "strategy-container").await
    });
    Some((o, spec.unwrap()))
}

#[test]
fn tasks_run_with_their_environment_are_listed_and_stop_with_a_reason() {
    let Some((o, spec)) = fixture("ecs::tasks_run_with_their_environment_are_listed_and_stop_with_a_reason") else { return };
    let tasks = EcsTasks::connect(spec.clone(), &o).unwrap();
    let env = vec![("JOB_ID".to_owned(), "job-1".to_owned()), ("TRADING_MODE".to_owned(), "backtest".to_owned())];
    let started = tasks.run(&env, "job-1", "tradai-job-1").unwrap();
    assert!(started.arn.contains(":task/"), "{}", started.arn);
    assert_eq!(started.last_status, "RUNNING");
    let other = tasks.run(&[("JOB_ID".to_owned(), "job-2".to_owned())], "job-2", "tradai-job-2").unwrap();

    let running = tasks.list(false).unwrap();
    assert!(running.contains(&started.arn) && running.contains(&other.arn), "{running:?}");
    let described = tasks.describe(&[started.arn.clone(), other.arn.clone()]).unwrap();
    assert!(described.missing.is_empty());
    let first = described.tasks.iter().find(|t| t.arn == started.arn).unwrap();
    assert_eq!((first.env("JOB_ID"), first.env("TRADING_MODE")), (Some("job-1"), Some("backtest")), "the overrides are kept");
    assert_eq!(first.started_by.as_deref(), Some("job-1"));
    assert!(!first.is_stopped(), "pinned RUNNING: {first:?}");

    let stopped = tasks.stop(&started.arn, "job job-1 cancelled").unwrap();
    assert!(stopped.is_stopped());
    let now = tasks.describe(std::slice::from_ref(&started.arn)).unwrap().tasks.remove(0);
    assert_eq!((now.last_status.as_str(), now.stopped_reason.as_deref()), ("STOPPED", Some("job job-1 cancelled")));
    assert!(now.stop_summary().starts_with("job job-1 cancelled"), "{}", now.stop_summary());
    assert!(!tasks.list(false).unwrap().contains(&started.arn), "a stopped task is no longer listed as running");
    assert!(tasks.list(true).unwrap().contains(&started.arn));

    let unknown = started.arn.rsplit_once('/').map(|(head, _)| format!("{head}/00000000-0000-0000-0000-000000000000")).unwrap();
    let found = tasks.describe(&[unknown.clone(), other.arn.clone()]).unwrap();
    assert_eq!(found.missing, [unknown]);
    assert_eq!(found.tasks.len(), 1);
}

#[test]
fn a_missing_cluster_task_definition_or_container_is_named() {
    let Some((o, spec)) = fixture("ecs::a_missing_cluster_task_definition_or_container_is_named") else { return };
    let e = EcsTasks::connect(EcsTaskSpec { cluster: "no-such-cluster".into(), ..spec.clone() }, &o).unwrap_err().to_string();
    assert!(e.contains("no-such-cluster"), "{e}");
    let e = EcsTasks::connect(EcsTaskSpec { task_definition: "no-such-family".into(), ..spec.clone() }, &o).unwrap_err().to_string();
    assert!(e.contains("no-such-family"), "{e}");
    let e = EcsTasks::connect(EcsTaskSpec { container_name: "web".into(), ..spec.clone() }, &o).unwrap_err().to_string();
    assert!(e.contains("no container 'web'") && e.contains("strategy-container"), "{e}");
    let e = EcsTasks::connect(EcsTaskSpec { subnets: vec![], ..spec }, &o).unwrap_err().to_string();
    assert!(e.contains("at least one subnet"), "{e}");
}
