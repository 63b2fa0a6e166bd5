//! The backtest workflow on the emulator: the generated definition is accepted as a state
//! machine, passes the structural checks, and an execution per job starts under the job's name.

use tradai_aws::{backtest_state_machine, check_state_machine, start_backtest, BacktestWorkflow, WorkflowInput};

use crate::workflow::test_workflow;
use crate::{emulator, unique_table};

fn workflow(account: &str) -> BacktestWorkflow {
    test_workflow(account, "tradai-workflow-state-test")
}

#[test]
fn the_workflow_is_created_and_started_per_job() {
    let Some(o) = emulator("stepfunctions::the_workflow_is_created_and_started_per_job") else { return };
    let def = backtest_state_machine(&workflow("123456789012"));
    check_state_machine(&def).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = tradai_aws::load_sdk_config(&o).await;
        let sfn = tradai_aws::sfn::Client::new(&cfg);
        let created = sfn
            .create_state_machine()
            .name(unique_table("backtest"))
            .definition(def.to_string())
            .role_arn("arn:aws:iam::123456789012:role/tradai-sfn-test")
            .send()
            .await
            .unwrap();
        let machine = created.state_machine_arn().to_owned();
        let described = sfn.describe_state_machine().state_machine_arn(&machine).send().await.unwrap();
        let stored: serde_json::Value = serde_json::from_str(described.definition()).unwrap();
        assert_eq!(stored, def, "the emulator keeps the definition as generated");

        let job_id = uuid::Uuid::new_v4().to_string();
        let input = WorkflowInput {
            job_id: job_id.clone(),
            job_type: "backtest".into(),
            strategy_name: "EmaCross".into(),
            strategy_stage: "None".into(),
        };
        let execution = start_backtest(&sfn, &machine, &input).await.unwrap();
        assert!(execution.contains(&format!("backtest-{job_id}")), "{execution}");
        let e = sfn.describe_execution().execution_arn(&execution).send().await.unwrap();
        assert_eq!(e.status().as_str(), "RUNNING");
        let given: serde_json::Value = serde_json::from_str(e.input().unwrap()).unwrap();
        assert_eq!((given["job_id"].as_str(), given["strategy_name"].as_str()), (Some(job_id.as_str()), Some("EmaCross")));

        let missing = start_backtest(&sfn, &format!("{machine}-missing"), &input).await.unwrap_err();
        assert!(missing.to_string().contains("-missing"), "{missing}");
    });
}
