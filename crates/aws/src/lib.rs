//! TradAI's AWS back ends, on the official AWS SDK for Rust: the DynamoDB job repository
//! (the seeds' workflow-state table), the CloudFormation client behind `tradai deploy`, and the
//! SDK configuration every AWS client here shares.
//!
//! Configuration follows the SDK's standard chain (environment, shared config and credential
//! files, web identity, ECS and EC2 instance credentials), including `AWS_ENDPOINT_URL` and
//! the per-service `AWS_ENDPOINT_URL_<SERVICE>`, so the same binary talks to AWS or to an
//! emulator (`scripts/moto-server.sh`) without a code change.
//!
//! This is the only crate that depends on the AWS SDK; domain crates see its work through
//! their own traits (`tradai_jobs::JobRepository`).

mod bridge;
mod cloudformation;
mod config;
mod dynamodb;
mod error;

pub use bridge::SyncBridge;
pub use cloudformation::{DriftedResource, ResourceDrift, StackAction, StackClient, StackError, StackState};
pub use config::{load_sdk_config, AwsOverrides};
pub use dynamodb::{create_job_table, DynamoJobRepository, STATUS_INDEX};
pub use error::AwsError;

/// The SDK's shared configuration type, for callers that build their own clients.
pub use aws_config::SdkConfig;
