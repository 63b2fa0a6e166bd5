//! Integration tests of tradai-aws against moto's AWS emulator: the job repository's shared
//! suite (the same cases SQLite passes) on DynamoDB, plus DynamoDB's own cases, the SQS job
//! queue, the strategy container's ECS tasks and the backtest workflow on Step Functions.
//!
//! The emulator's URL comes from `TRADAI_TEST_AWS_ENDPOINT` (`scripts/test.sh` starts moto with
//! `scripts/moto-server.sh` and sets it, so CI runs these); without it every test here prints
//! why it is skipped and passes. Each test uses tables of its own, so tests run in parallel
//! on one emulator and repeated runs never collide.

mod dynamodb;
mod ecs;
mod handlers;
mod secrets;
mod sqs;
mod stepfunctions;
mod workflow;

use tradai_aws::AwsOverrides;

/// The emulator's settings, or `None` (after saying why) when the tests should be skipped.
pub fn emulator(test: &str) -> Option<AwsOverrides> {
    match std::env::var("TRADAI_TEST_AWS_ENDPOINT").ok().filter(|u| !u.trim().is_empty()) {
        Some(url) => Some(AwsOverrides {
            endpoint_url: Some(url.trim().trim_end_matches('/').to_owned()),
            region: Some("us-east-1".into()),
            // The emulator accepts any keys; never send real ones to it.
            static_credentials: Some(("tradai-test".into(), "tradai-test".into())),
        }),
        None => {
            eprintln!("skipping {test}: TRADAI_TEST_AWS_ENDPOINT is not set (start moto with `export TRADAI_TEST_AWS_ENDPOINT=$(scripts/moto-server.sh)`)");
            None
        }
    }
}

/// A table name no other test or earlier run uses.
pub fn unique_table(prefix: &str) -> String {
    format!("tradai-test-{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}
