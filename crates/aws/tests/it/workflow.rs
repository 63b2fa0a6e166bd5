//! The backtest workflow the Step Functions tests deploy (shared with the CLI's worker tests):
//! made-up ARNs of one account, the state in `table`.

use tradai_aws::BacktestWorkflow;

/// The test workflow of `account`, its run state in the DynamoDB table `table`.
pub fn test_workflow(account: &str, table: &str) -> BacktestWorkflow {
    let arn = |service: &str, rest: &str| format!("arn:aws:{service}:us-east-1:{account}:{rest}");
    BacktestWorkflow {
        validate_function_arn: arn("lambda", "function:tradai-validate-strategy-test"),
        ensure_data_function_arn: arn("lambda", "function:tradai-ensure-data-test"),
        cleanup_function_arn: arn("lambda", "function:tradai-cleanup-test"),
        cluster_arn: arn("ecs", "cluster/tradai-test"),
        task_definition_arn: arn("ecs", "task-definition/tradai-strategy-test:1"),
        container_name: "strategy".into(),
        subnets: vec!["subnet-12345678".into()],
        security_groups: vec!["sg-12345678".into()],
        table_name: table.into(),
        topic_arn: arn("sns", "tradai-alerts-test"),
        run_timeout_secs: 3600,
    }
}
