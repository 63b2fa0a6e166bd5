//! The rendered stacks: deterministic, and holding what the seeds deploy with the seeds' sizes.

use serde_json::Value;
use tradai_deploy::catalog::LAMBDAS;
use tradai_deploy::{render, Deployment, Environment, Inputs, Layer, DEFAULT_PREFIX};

fn stacks(env: Environment) -> Vec<(Layer, Value)> {
    render(&Deployment::new(DEFAULT_PREFIX, env).unwrap(), &Inputs::default())
        .into_iter()
        .map(|s| (s.layer, serde_json::from_str(&s.body()).unwrap()))
        .collect()
}

fn layer(env: Environment, l: Layer) -> Value {
    stacks(env).into_iter().find(|(x, _)| *x == l).unwrap().1
}

fn of_type<'a>(t: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    t["Resources"].as_object().unwrap().iter().filter(|(_, r)| r["Type"] == kind).collect()
}

#[test]
fn rendering_twice_gives_the_same_bytes() {
    for env in Environment::ALL {
        let d = Deployment::new(DEFAULT_PREFIX, env).unwrap();
        let a: Vec<String> = render(&d, &Inputs::default()).iter().map(tradai_deploy::RenderedStack::body).collect();
        let b: Vec<String> = render(&d, &Inputs::default()).iter().map(tradai_deploy::RenderedStack::body).collect();
        assert_eq!(a, b);
    }
}

#[test]
fn four_stacks_in_deployment_order_named_by_prefix_and_env() {
    let d = Deployment::new("acme", Environment::Staging).unwrap();
    let names: Vec<String> = render(&d, &Inputs::default()).into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["acme-staging-persistent", "acme-staging-foundation", "acme-staging-compute", "acme-staging-edge"]);
}

#[test]
fn the_job_table_has_the_index_the_job_repository_queries() {
    let t = layer(Environment::Dev, Layer::Persistent);
    let table = &t["Resources"]["WorkflowStateTable"]["Properties"];
    assert_eq!(table["TableName"], "tradai-workflow-state-dev");
    assert_eq!(table["KeySchema"][0]["AttributeName"], "job_id");
    let gsi = &table["GlobalSecondaryIndexes"][0];
    assert_eq!(gsi["IndexName"], "status-created_at-index");
    assert_eq!(gsi["KeySchema"][0]["AttributeName"], "status");
    assert_eq!(gsi["KeySchema"][1]["AttributeName"], "created_at");
    for key in ["QueueUrl", "TableName", "DataBucket", "ResultsBucket", "AlertsTopicArn"] {
        assert!(t["Outputs"].get(key).is_some(), "missing output {key}");
    }
}

#[test]
fn every_handler_is_a_lambda_with_the_seeds_memory_timeout_and_schedule() {
    let t = layer(Environment::Dev, Layer::Compute);
    let functions = of_type(&t, "AWS::Lambda::Function");
    assert_eq!(functions.len(), 18);
    for l in &LAMBDAS {
        let (_, f) = functions.iter().find(|(_, f)| f["Properties"]["FunctionName"] == format!("tradai-{}-dev", l.name)).unwrap();
        let p = &f["Properties"];
        assert_eq!(
            (p["MemorySize"].as_u64(), p["Timeout"].as_u64()),
            (Some(l.memory_mb.into()), Some(l.timeout_secs.into())),
            "{}",
            l.name
        );
        assert_eq!(p["PackageType"], "Image");
        assert_eq!(p["Environment"]["Variables"]["TRADAI_HANDLER"], l.name);
        assert_eq!(p.get("VpcConfig").is_some(), l.in_vpc, "{}", l.name);
    }
    let rules = of_type(&t, "AWS::Events::Rule");
    let rates: Vec<&str> = rules.iter().filter_map(|(_, r)| r["Properties"]["ScheduleExpression"].as_str()).collect();
    assert_eq!(rates.len(), 6);
    assert_eq!(rates.iter().filter(|r| **r == "rate(5 minutes)").count(), 2);
    // The drawdown alarm's state changes reach model-rollback.
    let rollback = &t["Resources"]["ModelRollbackOnAlarm"]["Properties"];
    assert_eq!(rollback["EventPattern"]["detail"]["alarmName"][0], "tradai-high-drawdown-dev");
    assert_eq!(rollback["Targets"][0]["Arn"]["Fn::GetAtt"][0], "ModelRollbackFunction");
}

#[test]
fn every_container_sets_memory_and_the_alarms_are_there() {
    let t = layer(Environment::Prod, Layer::Compute);
    let defs = of_type(&t, "AWS::ECS::TaskDefinition");
    assert_eq!(defs.len(), 7);
    for (id, d) in defs {
        for c in d["Properties"]["ContainerDefinitions"].as_array().unwrap() {
            assert!(c["Memory"].as_u64().unwrap() >= 512, "{id}: container without memory");
        }
    }
    let sc = &t["Resources"]["StrategyContainerTaskDefinition"]["Properties"];
    assert_eq!((sc["Cpu"].as_str(), sc["Memory"].as_str()), (Some("1024"), Some("2048")));
    let alarms: Vec<&str> =
        of_type(&t, "AWS::CloudWatch::Alarm").iter().map(|(_, a)| a["Properties"]["AlarmName"].as_str().unwrap()).collect();
    for name in ["tradai-health-check-errors-prod", "tradai-missing-heartbeats-prod", "tradai-high-drawdown-prod"] {
        assert!(alarms.contains(&name), "{name} missing from {alarms:?}");
    }
    // No secret value in any template: the trading containers read the keys from the secret.
    let live = &t["Resources"]["LiveTradingTaskDefinition"]["Properties"]["ContainerDefinitions"][0];
    assert_eq!(live["Secrets"][0]["Name"], "TRADAI_BINANCE__API_KEY");
}

#[test]
fn environments_differ_where_the_seeds_say() {
    let retention = |env| layer(env, Layer::Compute)["Resources"]["ServicesLogGroup"]["Properties"]["RetentionInDays"].as_u64().unwrap();
    assert_eq!((retention(Environment::Dev), retention(Environment::Staging), retention(Environment::Prod)), (30, 30, 90));
    let table = |env| layer(env, Layer::Persistent)["Resources"]["WorkflowStateTable"].clone();
    assert_eq!(table(Environment::Prod)["DeletionPolicy"], "Retain");
    assert_eq!(table(Environment::Prod)["Properties"]["DeletionProtectionEnabled"], true);
    assert_eq!(table(Environment::Dev)["DeletionPolicy"], "Delete");
    let cidr = |env| layer(env, Layer::Foundation)["Resources"]["Vpc"]["Properties"]["CidrBlock"].as_str().unwrap().to_owned();
    assert_ne!(cidr(Environment::Dev), cidr(Environment::Prod));
}

#[test]
fn the_roles_that_start_tasks_may_pass_the_task_roles() {
    // backend-api (TaskRole) and the Lambdas run strategy-container tasks: RunTask needs
    // iam:PassRole on the roles those tasks run with.
    let t = layer(Environment::Dev, Layer::Foundation);
    let p = &t["Resources"]["PassTaskRolesPolicy"]["Properties"];
    assert_eq!(p["Roles"], serde_json::json!([{ "Ref": "TaskRole" }, { "Ref": "LambdaRole" }]));
    let passed: Vec<&str> =
        p["PolicyDocument"]["Statement"][0]["Resource"].as_array().unwrap().iter().map(|r| r["Fn::GetAtt"][0].as_str().unwrap()).collect();
    assert_eq!(passed, ["TaskRole", "TaskExecutionRole"]);
    let task_policy = &t["Resources"]["TaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
    assert!(task_policy.as_array().unwrap().iter().any(|s| s["Sid"] == "Tasks" && s["Action"][0] == "ecs:RunTask"));
}

#[test]
fn a_given_workflow_becomes_the_state_machine_with_its_references_filled_in() {
    let d = Deployment::new(DEFAULT_PREFIX, Environment::Dev).unwrap();
    assert!(
        of_type(&layer(Environment::Dev, Layer::Compute), "AWS::StepFunctions::StateMachine").is_empty(),
        "no definition, no state machine"
    );
    let inputs = Inputs { backtest_workflow: Some(crate::sample_workflow()) };
    let compute = render(&d, &inputs).into_iter().find(|s| s.layer == Layer::Compute).unwrap();
    let t: Value = serde_json::from_str(&compute.body()).unwrap();
    let sm = &t["Resources"]["BacktestWorkflow"]["Properties"];
    assert_eq!(sm["StateMachineName"], "tradai-backtest-dev");
    let (text, vars) = (sm["DefinitionString"]["Fn::Sub"][0].as_str().unwrap(), &sm["DefinitionString"]["Fn::Sub"][1]);
    // Every `${...}` in the definition is a variable given here or a resource of this stack.
    for name in text.split("${").skip(1).map(|s| s.split('}').next().unwrap()) {
        let resource = name.split('.').next().unwrap();
        assert!(vars.get(name).is_some() || t["Resources"].get(resource).is_some(), "unresolved ${{{name}}}");
    }
    assert_eq!(vars["TableName"]["Fn::ImportValue"], "tradai-dev-TableName");
    assert_eq!(t["Outputs"]["StateMachineArn"]["Value"]["Ref"], "BacktestWorkflow");
    let role = &t["Resources"]["BacktestWorkflowRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
    assert!(role.as_array().unwrap().iter().any(|s| s["Action"] == "lambda:InvokeFunction"));
}
