//! The compute stack: the ECS cluster and the seeds' seven task definitions (the services and
//! the strategy container, all the one `tradai` image), one Lambda function per handler from
//! the same image with the seeds' memory and timeout, the EventBridge schedules, the CloudWatch
//! alarms, and the rule that sends the drawdown alarm's state changes to model-rollback.

use serde_json::{json, Value};

use crate::catalog::{camel, TaskSpec, LAMBDAS, MLFLOW_IMAGE, TASKS};
use crate::template::{get_att, import, r#ref, sub, Resource, Template};
use crate::Deployment;

/// The handler whose Lambda the drawdown alarm triggers.
const ROLLBACK_HANDLER: &str = "model-rollback";

/// The image every task and function runs: the one `tradai` binary, tagged by the `ImageTag`
/// parameter, from the persistent stack's repository.
fn image(d: &Deployment) -> Value {
    sub(&format!("${{AWS::AccountId}}.dkr.ecr.${{AWS::Region}}.amazonaws.com/{}:${{ImageTag}}", d.name("tradai")))
}

fn env_list(pairs: &[(&str, Value)]) -> Value {
    Value::Array(pairs.iter().map(|(k, v)| json!({ "Name": k, "Value": v })).collect())
}

/// The settings every tradai process of the deployment reads, under the seeds' names.
fn common_env(d: &Deployment) -> Vec<(&'static str, Value)> {
    let ex = |o: &str| import(&d.export(o));
    vec![
        ("ENVIRONMENT", json!(d.env().as_str())),
        ("TRADAI_DATA_DIR", json!({ "Fn::Join": ["", ["s3://", ex("DataBucket"), "/data"]] })),
        // Every job's artifacts, whichever task ran it; backend-api reads them back from here.
        ("S3_RESULTS_BUCKET", ex("ResultsBucket")),
        ("DYNAMODB_TABLE_NAME", ex("TableName")),
        ("BACKEND_BACKTEST_QUEUE_URL", ex("QueueUrl")),
        ("SNS_ALERTS_TOPIC_ARN", ex("AlertsTopicArn")),
        ("ECS_CLUSTER", json!(d.cluster())),
        // The trading nodes' exchange keys: the persistent stack's secret, by name (read with
        // the task role's secretsmanager:GetSecretValue).
        ("TRADAI_EXCHANGE__SECRET_ID", json!(d.secret())),
    ]
}

fn task_definition(d: &Deployment, spec: &TaskSpec) -> Resource {
    let ex = |o: &str| import(&d.export(o));
    let mut env = common_env(d);
    let mut container = json!({
        "Name": spec.name,
        "Essential": true,
        // The emulator, like ECS's RunTask validation, needs memory on the container.
        "Memory": spec.memory_mb,
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": { "awslogs-group": r#ref("ServicesLogGroup"), "awslogs-region": r#ref("AWS::Region"), "awslogs-stream-prefix": spec.name },
        },
    });
    if let Some(port) = spec.port {
        container["PortMappings"] = json!([{ "ContainerPort": port, "Protocol": "tcp" }]);
    }
    match spec.command {
        Some(cmd) => {
            container["Image"] = image(d);
            container["Command"] = json!(cmd);
            if spec.name == "backend-api" {
                env.push(("EXECUTOR_MODE", json!("sqs")));
                env.push(("BACKEND_ECS_CLUSTER", json!(d.cluster())));
                env.push(("BACKEND_ECS_SUBNETS", ex("PrivateSubnets")));
                env.push(("BACKEND_ECS_SECURITY_GROUPS", ex("TasksSecurityGroup")));
                // What EXECUTOR_MODE=ecs runs: the strategy container of this stack.
                env.push(("BACKEND_ECS_TASK_DEFINITION", r#ref("StrategyContainerTaskDefinition")));
                env.push(("BACKEND_ECS_CONTAINER_NAME", json!(WORKFLOW_REFS.container_name)));
            }
        }
        None => {
            // MLflow: the third-party server; runs and models in a SQLite file on the task's
            // disk, artifacts in the results bucket.
            container["Image"] = json!(MLFLOW_IMAGE);
            container["Command"] = json!([
                "mlflow", "server", "--host", "0.0.0.0", "--port", "5000", "--static-prefix", "/mlflow",
                "--backend-store-uri", "sqlite:////mlflow/mlflow.db",
                "--artifacts-destination", { "Fn::Join": ["", ["s3://", ex("ResultsBucket"), "/mlflow"]] },
            ]);
            env = vec![("ENVIRONMENT", json!(d.env().as_str()))];
        }
    }
    if let Some(mode) = spec.trading_mode {
        env.push(("TRADING_MODE", json!(mode)));
        // The exchange keys come from the secret, never from the template.
        let key = |field: &str| sub(&format!("{}:{field}::", d.secret_arn_sub()));
        container["Secrets"] = json!([
            { "Name": "TRADAI_BINANCE__API_KEY", "ValueFrom": key("api_key") },
            { "Name": "TRADAI_BINANCE__API_SECRET", "ValueFrom": key("api_secret") },
        ]);
    }
    container["Environment"] = env_list(&env);
    Resource::new(
        "AWS::ECS::TaskDefinition",
        json!({
            "Family": format!("{}-{}", d.cluster(), spec.name),
            "Cpu": spec.cpu.to_string(),
            "Memory": spec.memory_mb.to_string(),
            "NetworkMode": "awsvpc",
            "RequiresCompatibilities": ["FARGATE"],
            "ExecutionRoleArn": ex("TaskExecutionRoleArn"),
            "TaskRoleArn": ex("TaskRoleArn"),
            "ContainerDefinitions": [container],
        }),
    )
}

fn alarm(d: &Deployment, name: &str, description: &str, metric: Value) -> Resource {
    let mut props = json!({
        "AlarmName": d.name(name),
        "AlarmDescription": description,
        "AlarmActions": [import(&d.export("AlertsTopicArn"))],
        "OKActions": [import(&d.export("AlertsTopicArn"))],
    });
    for (k, v) in metric.as_object().expect("alarm metric is an object") {
        props[k] = v.clone();
    }
    Resource::new("AWS::CloudWatch::Alarm", props)
}

/// The compute stack of `d`; with `workflow`, also the backtest state machine of that
/// definition (see [`WorkflowRefs`]).
#[must_use]
pub fn template(d: &Deployment, workflow: Option<&Value>) -> Template {
    let p = d.env().profile();
    let ex = |o: &str| import(&d.export(o));
    let mut t =
        Template::new(format!("TradAI {} compute stack: ECS cluster and task definitions, Lambda handlers, schedules, alarms", d.env()));
    t.parameters.insert(
        "ImageTag".into(),
        json!({ "Type": "String", "Default": "latest", "Description": "Tag of the tradai image in the persistent stack's repository" }),
    );

    let mut cluster = json!({
        "ClusterName": d.cluster(),
        "CapacityProviders": ["FARGATE", "FARGATE_SPOT"],
        // The seeds run everything but live trading on Spot.
        "DefaultCapacityProviderStrategy": [ { "CapacityProvider": "FARGATE_SPOT", "Weight": 4 }, { "CapacityProvider": "FARGATE", "Weight": 1, "Base": 0 } ],
    });
    if p.protect_data {
        cluster["ClusterSettings"] = json!([{ "Name": "containerInsights", "Value": "enabled" }]);
    }
    t.add("Cluster", Resource::new("AWS::ECS::Cluster", cluster));
    t.add(
        "ServicesLogGroup",
        Resource::new(
            "AWS::Logs::LogGroup",
            json!({ "LogGroupName": format!("/ecs/{}/{}/services", d.prefix(), d.env()), "RetentionInDays": p.log_retention_days }),
        ),
    );
    for spec in &TASKS {
        t.add(&format!("{}TaskDefinition", camel(spec.name)), task_definition(d, spec));
    }

    let subnets = json!({ "Fn::Split": [",", ex("PrivateSubnets")] });
    for l in &LAMBDAS {
        let id = camel(l.name);
        let function = d.function(l.name);
        let mut env = common_env(d);
        env.push(("TRADAI_HANDLER", json!(l.name)));
        let vars: serde_json::Map<String, Value> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let mut props = json!({
            "FunctionName": function,
            "Description": l.purpose,
            "PackageType": "Image",
            "Code": { "ImageUri": image(d) },
            // One image for all handlers: `tradai lambda` picks the handler by TRADAI_HANDLER.
            "ImageConfig": { "Command": ["lambda"] },
            "MemorySize": l.memory_mb,
            "Timeout": l.timeout_secs,
            "Role": ex("LambdaRoleArn"),
            "Environment": { "Variables": vars },
        });
        if l.in_vpc {
            props["VpcConfig"] = json!({ "SubnetIds": subnets, "SecurityGroupIds": [ex("TasksSecurityGroup")] });
        }
        t.add(&format!("{id}Function"), Resource::new("AWS::Lambda::Function", props).depends_on(&format!("{id}LogGroup")));
        t.add(
            &format!("{id}LogGroup"),
            Resource::new(
                "AWS::Logs::LogGroup",
                json!({ "LogGroupName": format!("/aws/lambda/{function}"), "RetentionInDays": p.log_retention_days }),
            ),
        );
        if let Some(rate) = l.schedule {
            t.add(
                &format!("{id}Schedule"),
                Resource::new(
                    "AWS::Events::Rule",
                    json!({
                        "Name": d.name(&format!("{}-schedule", l.name)),
                        "Description": format!("Runs {} {rate}", l.name),
                        "ScheduleExpression": rate,
                        "State": "ENABLED",
                        "Targets": [ { "Id": id.clone(), "Arn": get_att(&format!("{id}Function"), "Arn") } ],
                    }),
                ),
            );
            t.add(
                &format!("{id}SchedulePermission"),
                invoke_permission(&id, "events.amazonaws.com", get_att(&format!("{id}Schedule"), "Arn")),
            );
        }
    }

    let health = d.function("health-check");
    t.add(
        "HealthCheckErrorsAlarm",
        alarm(
            d,
            "health-check-errors",
            "The health-check handler failed in 3 consecutive 5-minute periods",
            json!({ "Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": [ { "Name": "FunctionName", "Value": health } ], "Statistic": "Sum", "Period": 300, "EvaluationPeriods": 3, "Threshold": 1, "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching" }),
        )
        .depends_on("HealthCheckFunction"),
    );
    let env_dim = json!([ { "Name": "Environment", "Value": d.env().as_str() } ]);
    t.add(
        "MissingHeartbeatsAlarm",
        alarm(
            d,
            "missing-heartbeats",
            "Trading nodes missed their heartbeats (trading-heartbeat-check's MissingHeartbeats), or the check itself stopped reporting",
            json!({ "Namespace": "TradAI/Trading", "MetricName": "MissingHeartbeats", "Dimensions": env_dim, "Statistic": "Maximum", "Period": 300, "EvaluationPeriods": 2, "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "breaching" }),
        ),
    );
    t.add(
        "HighDrawdownAlarm",
        alarm(
            d,
            "high-drawdown",
            &format!("A trading node's drawdown passed {}%: model-rollback runs", p.drawdown_alarm_pct),
            json!({ "Namespace": "TradAI/Trading", "MetricName": "DrawdownPct", "Dimensions": env_dim, "Statistic": "Maximum", "Period": 300, "EvaluationPeriods": 1, "Threshold": p.drawdown_alarm_pct, "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching" }),
        ),
    );
    t.add(
        "OrphanedJobsAlarm",
        alarm(
            d,
            "orphaned-jobs",
            "Jobs stuck in RUNNING for more than twice their expected duration (orphan-scanner)",
            json!({ "Namespace": "TradAI/Backtests", "MetricName": "OrphanedJobs", "Dimensions": env_dim, "Statistic": "Sum", "Period": 300, "EvaluationPeriods": 2, "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching" }),
        ),
    );
    t.add(
        "DeadLettersAlarm",
        alarm(
            d,
            "backtest-dead-letters",
            "Backtest messages failed too often and sit in the dead-letter queue",
            json!({ "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible", "Dimensions": [ { "Name": "QueueName", "Value": ex("DeadLetterQueueName") } ], "Statistic": "Maximum", "Period": 300, "EvaluationPeriods": 1, "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching" }),
        ),
    );

    let rollback = camel(ROLLBACK_HANDLER);
    t.add(
        "ModelRollbackOnAlarm",
        Resource::new(
            "AWS::Events::Rule",
            json!({
                "Name": d.name("model-rollback-on-alarm"),
                "Description": "Sends the high-drawdown alarm's changes into ALARM to model-rollback",
                "EventPattern": {
                    "source": ["aws.cloudwatch"],
                    "detail-type": ["CloudWatch Alarm State Change"],
                    "detail": { "alarmName": [d.name("high-drawdown")], "state": { "value": ["ALARM"] } },
                },
                "State": "ENABLED",
                "Targets": [ { "Id": rollback.clone(), "Arn": get_att(&format!("{rollback}Function"), "Arn") } ],
            }),
        ),
    );
    t.add(
        &format!("{rollback}AlarmPermission"),
        invoke_permission(&rollback, "events.amazonaws.com", get_att("ModelRollbackOnAlarm", "Arn")),
    );

    let out = |t: &mut Template, id: &str, desc: &str, v: Value| t.output(id, desc, v, Some(d.export(id)));
    out(&mut t, "ClusterName", "ECS cluster (BACKEND_ECS_CLUSTER)", r#ref("Cluster"));
    out(&mut t, "ClusterArn", "ECS cluster ARN", get_att("Cluster", "Arn"));
    out(
        &mut t,
        "StrategyContainerTaskDefinition",
        "Task definition of the strategy container (BACKEND_ECS_TASK_DEFINITION)",
        r#ref("StrategyContainerTaskDefinition"),
    );
    out(&mut t, "BackendApiTaskDefinition", "Task definition of backend-api", r#ref("BackendApiTaskDefinition"));
    if let Some(definition) = workflow {
        add_state_machine(&mut t, d, definition);
    }
    t
}

/// What the backtest workflow's definition refers to, as `Fn::Sub` variables of this stack:
/// the definition (Amazon States Language, generated by tradai-aws) is built with these
/// strings in place of ARNs and names, and the stack fills them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRefs {
    /// The validate-strategy function.
    pub validate_function_arn: &'static str,
    /// The data-collection-proxy function (ensures a job's candles).
    pub ensure_data_function_arn: &'static str,
    /// The cleanup-resources function.
    pub cleanup_function_arn: &'static str,
    /// The cluster.
    pub cluster_arn: &'static str,
    /// The strategy container's task definition.
    pub task_definition_arn: &'static str,
    /// The container's name in it.
    pub container_name: &'static str,
    /// The private subnets.
    pub subnets: [&'static str; 2],
    /// The tasks' security group.
    pub security_group: &'static str,
    /// The job table.
    pub table_name: &'static str,
    /// The alerts topic.
    pub topic_arn: &'static str,
}

/// The references a backtest workflow definition must use (see [`WorkflowRefs`]).
pub const WORKFLOW_REFS: WorkflowRefs = WorkflowRefs {
    validate_function_arn: "${ValidateStrategyFunction.Arn}",
    ensure_data_function_arn: "${DataCollectionProxyFunction.Arn}",
    cleanup_function_arn: "${CleanupResourcesFunction.Arn}",
    cluster_arn: "${Cluster.Arn}",
    task_definition_arn: "${StrategyContainerTaskDefinition}",
    container_name: "strategy-container",
    subnets: ["${PrivateSubnet0}", "${PrivateSubnet1}"],
    security_group: "${TasksSecurityGroup}",
    table_name: "${TableName}",
    topic_arn: "${AlertsTopicArn}",
};

fn add_state_machine(t: &mut Template, d: &Deployment, definition: &Value) {
    let ex = |o: &str| import(&d.export(o));
    let subnet = |i: u32| json!({ "Fn::Select": [i, { "Fn::Split": [",", ex("PrivateSubnets")] }] });
    let vars = json!({
        "PrivateSubnet0": subnet(0),
        "PrivateSubnet1": subnet(1),
        "TasksSecurityGroup": ex("TasksSecurityGroup"),
        "TableName": ex("TableName"),
        "AlertsTopicArn": ex("AlertsTopicArn"),
    });
    let text = serde_json::to_string(definition).expect("a JSON value always prints");
    let functions: Vec<Value> =
        ["ValidateStrategy", "DataCollectionProxy", "CleanupResources"].iter().map(|f| get_att(&format!("{f}Function"), "Arn")).collect();
    let statements = json!([
        { "Sid": "Handlers", "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": functions },
        { "Sid": "Tasks", "Effect": "Allow", "Action": ["ecs:RunTask", "ecs:StopTask", "ecs:DescribeTasks"], "Resource": "*" },
        { "Sid": "TaskRoles", "Effect": "Allow", "Action": "iam:PassRole", "Resource": [ex("TaskRoleArn"), ex("TaskExecutionRoleArn")] },
        // `ecs:runTask.sync` waits through a rule Step Functions manages.
        { "Sid": "SyncRule", "Effect": "Allow", "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
          "Resource": sub("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForECSTaskRule") },
        { "Sid": "Jobs", "Effect": "Allow", "Action": "dynamodb:UpdateItem", "Resource": ex("TableArn") },
        { "Sid": "Alerts", "Effect": "Allow", "Action": "sns:Publish", "Resource": ex("AlertsTopicArn") },
    ]);
    t.add(
        "BacktestWorkflowRole",
        Resource::new(
            "AWS::IAM::Role",
            json!({
                "AssumeRolePolicyDocument": { "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Principal": { "Service": "states.amazonaws.com" }, "Action": "sts:AssumeRole" } ] },
                "Policies": [ { "PolicyName": "backtest-workflow", "PolicyDocument": { "Version": "2012-10-17", "Statement": statements } } ],
            }),
        ),
    );
    t.add(
        "BacktestWorkflow",
        Resource::new(
            "AWS::StepFunctions::StateMachine",
            json!({
                "StateMachineName": d.name("backtest"),
                "StateMachineType": "STANDARD",
                "RoleArn": get_att("BacktestWorkflowRole", "Arn"),
                "DefinitionString": { "Fn::Sub": [text, vars] },
            }),
        ),
    );
    t.output(
        "StateMachineArn",
        "Backtest workflow (BACKEND_STEPFUNCTIONS_STATE_MACHINE_ARN)",
        r#ref("BacktestWorkflow"),
        Some(d.export("StateMachineArn")),
    );
}

fn invoke_permission(id: &str, principal: &str, source_arn: Value) -> Resource {
    Resource::new(
        "AWS::Lambda::Permission",
        json!({ "Action": "lambda:InvokeFunction", "FunctionName": r#ref(&format!("{id}Function")), "Principal": principal, "SourceArn": source_arn }),
    )
}
