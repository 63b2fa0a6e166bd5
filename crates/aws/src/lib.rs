//! TradAI's AWS back ends, on the official AWS SDK for Rust: the DynamoDB job repository
//! (the seeds' workflow-state table), the SQS job queue of the `sqs` executor, the strategy
//! container's ECS tasks of the `ecs` executor, the backtest workflow of Step Functions, the
//! CloudFormation client behind `tradai deploy`, the handlers' ports on AWS (notifications to
//! SNS, metrics to CloudWatch, NAT failover's route tables on EC2 through the signed Query API),
//! and the SDK configuration every AWS client here shares.
//!
//! Configuration follows the SDK's standard chain (environment, shared config and credential
//! files, web identity, ECS and EC2 instance credentials), including `AWS_ENDPOINT_URL` and
//! the per-service `AWS_ENDPOINT_URL_<SERVICE>`, so the same binary talks to AWS or to an
//! emulator (`scripts/moto-server.sh`) without a code change.
//!
//! This is the only crate that depends on the AWS SDK; domain crates see its work through
//! their own traits (`tradai_jobs::JobRepository`, `tradai_handlers::ports::RouteTables`,
//! `tradai_handlers::notify::NotificationSink`, `tradai_handlers::metrics::MetricSink`).

mod bridge;
mod cloudformation;
mod cloudwatch;
mod config;
mod dynamodb;
mod ec2;
mod ecs;
pub mod emulator;
mod error;
pub mod query;
mod secrets;
mod sns;
mod sqs;
mod stepfunctions;

/// The Step Functions client, for callers that start executions.
pub use aws_sdk_sfn as sfn;
pub use bridge::SyncBridge;
pub use cloudformation::{DriftedResource, ResourceDrift, StackAction, StackClient, StackError, StackState};
pub use cloudwatch::CloudWatchMetrics;
pub use config::{load_sdk_config, AwsOverrides};
pub use dynamodb::{create_job_table, DynamoJobRepository, STATUS_INDEX};
pub use ec2::{Ec2RouteTables, RouteTableXml, RouteXml};
pub use ecs::{DescribedTasks, EcsFailure, EcsTask, EcsTaskSpec, EcsTasks};
pub use error::AwsError;
pub use secrets::{parse_exchange_keys, read_exchange_keys, ExchangeKeySecret};
pub use sns::SnsNotifier;
pub use sqs::{create_job_queue, JobMessage, QueueTiming, Received, SqsJobQueue};
pub use stepfunctions::{
    backtest_state_machine, check_state_machine, start_backtest, BacktestStateMachine, BacktestWorkflow, WorkflowInput,
};

/// The SDK's shared configuration type, for callers that build their own clients.
pub use aws_config::SdkConfig;
