//! Integration tests of tradai-deploy: the rendered stacks of every environment are
//! deterministic, hold what the seeds deploy, and pass cfn-lint (`lint`, with the linters of
//! `scripts/deploy-lint-venv.sh` named by `TRADAI_TEST_DEPLOY_LINT`).

mod lint;
mod render;

use std::path::PathBuf;

/// The bin directory of the pinned linters, or `None` (after saying why) to skip.
pub fn linters(test: &str) -> Option<PathBuf> {
    match std::env::var("TRADAI_TEST_DEPLOY_LINT").ok().filter(|p| !p.trim().is_empty()) {
        Some(dir) => Some(PathBuf::from(dir.trim())),
        None => {
            eprintln!(
                "skipping {test}: TRADAI_TEST_DEPLOY_LINT is not set (export TRADAI_TEST_DEPLOY_LINT=$(scripts/deploy-lint-venv.sh))"
            );
            None
        }
    }
}

/// The workspace root (the Dockerfile and compose.yaml live there).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A backtest workflow definition built the way the CLI builds tradai-aws's (every reference
/// from `WORKFLOW_REFS`): this crate does not depend on tradai-aws, so its tests use this small
/// one to check the state machine's plumbing.
pub fn sample_workflow() -> serde_json::Value {
    let r = tradai_deploy::stacks::compute::WORKFLOW_REFS;
    serde_json::json!({
        "StartAt": "ValidateStrategy",
        "States": {
            "ValidateStrategy": { "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": { "FunctionName": r.validate_function_arn, "Payload.$": "$" }, "Next": "RunBacktest" },
            "RunBacktest": { "Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync",
                "Parameters": { "Cluster": r.cluster_arn, "TaskDefinition": r.task_definition_arn, "LaunchType": "FARGATE",
                    "NetworkConfiguration": { "AwsvpcConfiguration": { "Subnets": r.subnets, "SecurityGroups": [r.security_group] } },
                    "Overrides": { "ContainerOverrides": [ { "Name": r.container_name, "Environment": [ { "Name": "JOB_ID", "Value.$": "$.job_id" } ] } ] } },
                "Catch": [ { "ErrorEquals": ["States.ALL"], "Next": "Cleanup" } ], "Next": "Notify" },
            "Notify": { "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                "Parameters": { "TopicArn": r.topic_arn, "Message.$": "States.JsonToString($)" }, "End": true },
            "Cleanup": { "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": { "FunctionName": r.cleanup_function_arn, "Payload.$": "$" }, "Next": "Failed" },
            "Failed": { "Type": "Fail", "Error": "BacktestFailed" }
        }
    })
}
