//! The backtest workflow as Amazon States Language, generated from code so the state machine
//! the stack deploys and the one the tests check are the same document:
//!
//! ```text
//! ValidateStrategy → EnsureData → RunBacktest → UpdateStatus → Notify → Succeeded
//!        └──────────────┴─────────────┴─────────────┴──→ Cleanup → MarkFailed → NotifyFailure → Failed
//! ```
//!
//! `RunBacktest` runs the strategy container (`tradai strategy-container`) as an ECS task and
//! waits for it (`ecs:runTask.sync`) with `TRADING_MODE`, `STRATEGY_NAME`, `STRATEGY_STAGE` and
//! `JOB_ID` as container overrides; the container records the job's outcome in the job table
//! itself, so `UpdateStatus` only completes a job the container left RUNNING and `MarkFailed`
//! only fails one that is not finished (both conditional writes, as every transition of the
//! repository). [`start_backtest`] starts one execution per job, named after the job, so a
//! second start of the same job is refused by Step Functions rather than run twice.

use serde_json::{json, Value};

use crate::AwsError;

/// What the workflow's states call: the deployment's resources.
#[derive(Debug, Clone)]
pub struct BacktestWorkflow {
    /// ARN of the Lambda function that validates the strategy and its config.
    pub validate_function_arn: String,
    /// ARN of the Lambda function that makes sure the candles are stored (data-collection).
    pub ensure_data_function_arn: String,
    /// ARN of the Lambda function that cleans up after a failure (stops the task, removes
    /// partial results).
    pub cleanup_function_arn: String,
    /// The ECS cluster of the strategy container.
    pub cluster_arn: String,
    /// The strategy container's task definition.
    pub task_definition_arn: String,
    /// The container's name in the task definition.
    pub container_name: String,
    /// Subnets of the task (awsvpc).
    pub subnets: Vec<String>,
    /// Security groups of the task.
    pub security_groups: Vec<String>,
    /// The job table (the seeds' workflow-state table).
    pub table_name: String,
    /// The SNS topic told about finished jobs.
    pub topic_arn: String,
    /// Longest a backtest task may run.
    pub run_timeout_secs: u64,
}

/// Retries of a Lambda task on the errors Lambda documents as transient.
fn lambda_retry() -> Value {
    json!([{
        "ErrorEquals": ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"],
        "IntervalSeconds": 2,
        "MaxAttempts": 3,
        "BackoffRate": 2.0
    }])
}

/// Any error of a working step goes to the failure branch with the error at `$.error`.
fn to_cleanup() -> Value {
    json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Cleanup" }])
}

fn lambda_task(function_arn: &str, result_path: &str, next: &str) -> Value {
    json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": { "FunctionName": function_arn, "Payload.$": "$" },
        "ResultSelector": { "result.$": "$.Payload" },
        "ResultPath": result_path,
        "Retry": lambda_retry(),
        "Catch": to_cleanup(),
        "Next": next
    })
}

/// A conditional status write on the job's item: `to` only from one of `from`.
fn status_update(table: &str, to: &str, from: &[&str], next: &str, catch_next: &str) -> Value {
    let mut values = json!({ ":to": { "S": to } });
    let mut marks = Vec::new();
    for (i, f) in from.iter().enumerate() {
        let m = format!(":from{i}");
        values[&m] = json!({ "S": f });
        marks.push(m);
    }
    // EnteredTime is an ISO string; the repository's `updated_at` is epoch ms, which ASL cannot
    // compute, so the workflow writes its own attribute and leaves `updated_at` alone.
    values[":now"] = json!({ "S.$": "$$.State.EnteredTime" });
    json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:updateItem",
        "Parameters": {
            "TableName": table,
            "Key": { "job_id": { "S.$": "$.job_id" } },
            "UpdateExpression": "SET #status = :to, workflow_updated_at = :now",
            "ConditionExpression": format!("#status IN ({})", marks.join(", ")),
            "ExpressionAttributeNames": { "#status": "status" },
            "ExpressionAttributeValues": values
        },
        "ResultPath": null,
        "Retry": [{ "ErrorEquals": ["DynamoDB.ProvisionedThroughputExceededException", "DynamoDB.ThrottlingException"], "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2.0 }],
        // Already moved by the container (the usual case): nothing to do.
        "Catch": [
            { "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "ResultPath": null, "Next": next },
            { "ErrorEquals": ["States.ALL"], "ResultPath": "$.status_error", "Next": catch_next }
        ],
        "Next": next
    })
}

fn notify(topic: &str, subject: &str, next: &str) -> Value {
    json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {
            "TopicArn": topic,
            "Subject": subject,
            "Message.$": "States.JsonToString($)"
        },
        "ResultPath": null,
        "Next": next
    })
}

/// The backtest workflow's definition (Amazon States Language), for the stack's state machine.
#[must_use]
pub fn backtest_state_machine(w: &BacktestWorkflow) -> Value {
    let env = |name: &str, path: &str| json!({ "Name": name, "Value.$": path });
    let mut notify_failure = notify(&w.topic_arn, "TradAI backtest failed", "Failed");
    // Telling people must not turn into a second failure branch.
    notify_failure["Catch"] = json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": null, "Next": "Failed" }]);
    json!({
        "Comment": "TradAI backtest: validate strategy, ensure data, run the strategy container, update status, notify; on failure clean up and mark the job FAILED",
        "StartAt": "ValidateStrategy",
        "TimeoutSeconds": w.run_timeout_secs + 900,
        "States": {
            "ValidateStrategy": lambda_task(&w.validate_function_arn, "$.validation", "EnsureData"),
            "EnsureData": lambda_task(&w.ensure_data_function_arn, "$.data", "RunBacktest"),
            "RunBacktest": {
                "Type": "Task",
                "Resource": "arn:aws:states:::ecs:runTask.sync",
                "TimeoutSeconds": w.run_timeout_secs,
                "Parameters": {
                    "Cluster": w.cluster_arn,
                    "TaskDefinition": w.task_definition_arn,
                    "LaunchType": "FARGATE",
                    "NetworkConfiguration": { "AwsvpcConfiguration": {
                        "Subnets": w.subnets,
                        "SecurityGroups": w.security_groups,
                        "AssignPublicIp": "DISABLED"
                    } },
                    "Overrides": { "ContainerOverrides": [{
                        "Name": w.container_name,
                        "Environment": [
                            { "Name": "TRADING_MODE", "Value": "backtest" },
                            env("STRATEGY_NAME", "$.strategy_name"),
                            env("STRATEGY_STAGE", "$.strategy_stage"),
                            env("JOB_ID", "$.job_id")
                        ]
                    }] }
                },
                "ResultSelector": { "task_arn.$": "$.TaskArn", "stopped_reason.$": "$.StoppedReason" },
                "ResultPath": "$.task",
                "Retry": [{ "ErrorEquals": ["ECS.AmazonECSException"], "IntervalSeconds": 5, "MaxAttempts": 2, "BackoffRate": 2.0 }],
                "Catch": to_cleanup(),
                "Next": "UpdateStatus"
            },
            "UpdateStatus": status_update(&w.table_name, "COMPLETED", &["RUNNING"], "Notify", "Cleanup"),
            "Notify": notify(&w.topic_arn, "TradAI backtest finished", "Succeeded"),
            "Succeeded": { "Type": "Succeed" },
            "Cleanup": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": { "FunctionName": w.cleanup_function_arn, "Payload.$": "$" },
                "ResultPath": null,
                "Retry": lambda_retry(),
                // A failed clean-up must not keep the job from being marked FAILED.
                "Catch": [{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.cleanup_error", "Next": "MarkFailed" }],
                "Next": "MarkFailed"
            },
            "MarkFailed": status_update(&w.table_name, "FAILED", &["PENDING", "RUNNING"], "NotifyFailure", "NotifyFailure"),
            "NotifyFailure": notify_failure,
            "Failed": { "Type": "Fail", "Error": "BacktestFailed", "Cause": "the backtest workflow failed; see the job's error and the execution history" }
        }
    })
}

/// Structural checks of a state machine definition: `StartAt` and every `Next`, `Default`,
/// choice and `Catch` target name a state; every state either moves on or ends (`End`,
/// `Succeed`, `Fail`); every state is reachable from `StartAt`; at least one terminal state.
///
/// # Errors
/// Every problem found, one line each.
pub fn check_state_machine(def: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let Some(states) = def.get("States").and_then(Value::as_object) else { return Err(vec!["no States object".into()]) };
    let start = def.get("StartAt").and_then(Value::as_str).unwrap_or_default();
    if !states.contains_key(start) {
        problems.push(format!("StartAt '{start}' is not a state"));
    }
    let mut edges: Vec<(String, String)> = Vec::new();
    let mut terminal = 0;
    for (name, s) in states {
        let ty = s.get("Type").and_then(Value::as_str).unwrap_or_default();
        let mut targets: Vec<String> = Vec::new();
        for key in ["Next", "Default"] {
            if let Some(t) = s.get(key).and_then(Value::as_str) {
                targets.push(t.to_owned());
            }
        }
        for list in ["Catch", "Choices"] {
            for c in s.get(list).and_then(Value::as_array).into_iter().flatten() {
                match c.get("Next").and_then(Value::as_str) {
                    Some(t) => targets.push(t.to_owned()),
                    None => problems.push(format!("a {list} entry of '{name}' has no Next")),
                }
            }
        }
        let ends = matches!(ty, "Succeed" | "Fail") || s.get("End").and_then(Value::as_bool) == Some(true);
        match ty {
            "Task" | "Pass" | "Wait" | "Parallel" | "Map" | "Succeed" | "Fail" | "Choice" => {}
            other => problems.push(format!("state '{name}' has unknown Type '{other}'")),
        }
        if ends {
            terminal += 1;
            if s.get("Next").is_some() {
                problems.push(format!("terminal state '{name}' also has a Next"));
            }
        } else if ty != "Choice" && s.get("Next").is_none() {
            problems.push(format!("state '{name}' neither ends nor has a Next"));
        }
        for t in targets {
            if !states.contains_key(&t) {
                problems.push(format!("state '{name}' goes to '{t}', which is not a state"));
            }
            edges.push((name.clone(), t));
        }
    }
    if terminal == 0 {
        problems.push("no terminal state (Succeed, Fail or End)".into());
    }
    let mut seen = std::collections::BTreeSet::from([start.to_owned()]);
    let mut todo = vec![start.to_owned()];
    while let Some(n) = todo.pop() {
        for (from, to) in &edges {
            if *from == n && seen.insert(to.clone()) {
                todo.push(to.clone());
            }
        }
    }
    for name in states.keys() {
        if !seen.contains(name) {
            problems.push(format!("state '{name}' cannot be reached from '{start}'"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// What an execution of the backtest workflow is given.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WorkflowInput {
    /// The job.
    pub job_id: String,
    /// Its type (`backtest`).
    pub job_type: String,
    /// The strategy the container runs.
    pub strategy_name: String,
    /// The strategy's registry stage (`Production`, `Staging`, `None`).
    pub strategy_stage: String,
}

/// Starts one execution of `state_machine_arn` for a job, named `backtest-<job id>` (Step
/// Functions refuses a second running execution of that name); returns its ARN.
///
/// # Errors
/// [`AwsError`] naming the state machine.
pub async fn start_backtest(client: &aws_sdk_sfn::Client, state_machine_arn: &str, input: &WorkflowInput) -> Result<String, AwsError> {
    let body = serde_json::to_string(input).map_err(|e| AwsError::Runtime(format!("encoding the execution input: {e}")))?;
    let out = client
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(format!("backtest-{}", input.job_id))
        .input(body)
        .send()
        .await
        .map_err(|e| AwsError::sdk("states", "StartExecution", state_machine_arn, e))?;
    Ok(out.execution_arn)
}

/// The backtest state machine of a deployment, for synchronous callers (the backend's
/// `stepfunctions` executor).
pub struct BacktestStateMachine {
    client: aws_sdk_sfn::Client,
    arn: String,
    bridge: crate::SyncBridge,
}

impl std::fmt::Debug for BacktestStateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BacktestStateMachine").field("arn", &self.arn).finish_non_exhaustive()
    }
}

impl BacktestStateMachine {
    /// Loads the SDK configuration (standard chain plus `overrides`) and checks that the
    /// state machine `arn` exists (`DescribeStateMachine`).
    ///
    /// # Errors
    /// [`AwsError`] naming the state machine.
    pub fn connect(arn: &str, overrides: &crate::AwsOverrides) -> Result<Self, AwsError> {
        let bridge = crate::SyncBridge::new()?;
        let overrides = overrides.clone();
        let config = bridge.run(async move { crate::load_sdk_config(&overrides).await })?;
        let client = aws_sdk_sfn::Client::new(&config);
        let (c, a) = (client.clone(), arn.to_owned());
        bridge.run(async move {
            c.describe_state_machine()
                .state_machine_arn(&a)
                .send()
                .await
                .map_err(|e| AwsError::sdk("states", "DescribeStateMachine", &a, e))
        })??;
        Ok(Self { client, arn: arn.to_owned(), bridge })
    }

    /// The state machine's ARN.
    #[must_use]
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The ARN the execution of job `job_id` has (`...:execution:<machine>:backtest-<job id>`).
    #[must_use]
    pub fn execution_arn(&self, job_id: &str) -> String {
        format!("{}:backtest-{job_id}", self.arn.replacen(":stateMachine:", ":execution:", 1))
    }

    /// Stops the execution of job `job_id` (Step Functions stops the ECS task it waits for).
    ///
    /// # Errors
    /// [`AwsError`] naming the execution (also when there is none).
    pub fn stop(&self, job_id: &str, cause: &str) -> Result<(), AwsError> {
        let (c, e, cause) = (self.client.clone(), self.execution_arn(job_id), cause.to_owned());
        self.bridge.run(async move {
            c.stop_execution()
                .execution_arn(&e)
                .error("Cancelled")
                .cause(cause)
                .send()
                .await
                .map(|_| ())
                .map_err(|err| AwsError::sdk("states", "StopExecution", &e, err))
        })?
    }

    /// Starts the execution of one job (see [`start_backtest`]); returns its ARN.
    ///
    /// # Errors
    /// [`AwsError`] naming the state machine.
    pub fn start(&self, input: &WorkflowInput) -> Result<String, AwsError> {
        let (c, a, i) = (self.client.clone(), self.arn.clone(), input.clone());
        self.bridge.run(async move { start_backtest(&c, &a, &i).await })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workflow() -> BacktestWorkflow {
        BacktestWorkflow {
            validate_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:tradai-validate-strategy-dev".into(),
            ensure_data_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:tradai-ensure-data-dev".into(),
            cleanup_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:tradai-cleanup-dev".into(),
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/tradai-dev".into(),
            task_definition_arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/tradai-strategy-dev:1".into(),
            container_name: "strategy".into(),
            subnets: vec!["subnet-1".into()],
            security_groups: vec!["sg-1".into()],
            table_name: "tradai-workflow-state-dev".into(),
            topic_arn: "arn:aws:sns:us-east-1:123456789012:tradai-alerts-dev".into(),
            run_timeout_secs: 3600,
        }
    }

    #[test]
    fn the_workflow_is_well_formed_and_has_both_branches() {
        let def = backtest_state_machine(&workflow());
        check_state_machine(&def).unwrap();
        let path = |from: &str| {
            let mut out = vec![from.to_owned()];
            let mut cur = from.to_owned();
            while let Some(n) = def["States"][&cur]["Next"].as_str() {
                out.push(n.to_owned());
                cur = n.to_owned();
            }
            out
        };
        assert_eq!(path("ValidateStrategy"), ["ValidateStrategy", "EnsureData", "RunBacktest", "UpdateStatus", "Notify", "Succeeded"]);
        assert_eq!(path("Cleanup"), ["Cleanup", "MarkFailed", "NotifyFailure", "Failed"]);
        for working in ["ValidateStrategy", "EnsureData", "RunBacktest"] {
            assert_eq!(def["States"][working]["Catch"][0]["Next"], "Cleanup", "{working} fails into the clean-up");
        }
        let env = &def["States"]["RunBacktest"]["Parameters"]["Overrides"]["ContainerOverrides"][0]["Environment"];
        let names: Vec<&str> = env.as_array().unwrap().iter().map(|e| e["Name"].as_str().unwrap()).collect();
        assert_eq!(names, ["TRADING_MODE", "STRATEGY_NAME", "STRATEGY_STAGE", "JOB_ID"]);
        assert_eq!(def["States"]["MarkFailed"]["Parameters"]["ConditionExpression"], "#status IN (:from0, :from1)");
    }

    #[test]
    fn broken_definitions_are_reported() {
        let mut def = backtest_state_machine(&workflow());
        def["States"]["Notify"]["Next"] = json!("Nowhere");
        def["States"]["Orphan"] = json!({ "Type": "Pass", "End": true });
        def["States"]["EnsureData"].as_object_mut().unwrap().remove("Next");
        let problems = check_state_machine(&def).unwrap_err();
        let all = problems.join("\n");
        assert!(all.contains("'Notify' goes to 'Nowhere'"), "{all}");
        assert!(all.contains("'Orphan' cannot be reached"), "{all}");
        assert!(all.contains("'EnsureData' neither ends nor has a Next"), "{all}");
        assert!(check_state_machine(&json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}))
            .unwrap_err()
            .iter()
            .any(|p| p.contains("no terminal state")));
    }
}
