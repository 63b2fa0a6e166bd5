//! The platform's 18 handlers (the seeds' Lambda functions) as one library that runs the same
//! way from `tradai handlers run`, the scheduler inside `tradai up` and AWS Lambda.
//!
//! - [`registry`]: the 18 handlers with trigger, schedule, memory, timeout and response shape.
//! - [`Handlers`] ([`invoke`]): the wrapper (the seeds' `@lambda_handler`): typed settings from
//!   the environment ([`settings`]), the event parsed with errors naming the field,
//!   [`LambdaResponse`] in `to_dict()` and `to_step_functions()` shapes, metrics ([`metrics`]).
//! - [`notify`]: webhook and Slack notifications with severity, deduplication, a rate limit.
//! - [`scheduler`]: the schedules of `tradai up`, without overlapping runs.
//! - [`ports`]: what handlers need from outside (tasks, probes, heartbeats, candles, routes,
//!   infrastructure diff) as traits; [`local`] and [`candles`] implement them locally, and
//!   `tradai-aws` on AWS; [`tasks`] starts backtests through the executor's ECS submitter.
//!
//! No HTTP server, CLI or AWS SDK here: HTTP only as a client (probes, webhooks, the services
//! the proxies front); the state lives in `tradai-jobs`' repositories.

pub mod candles;
pub mod context;
mod error;
mod handlers;
pub mod invoke;
pub mod local;
pub mod metrics;
pub mod notify;
pub mod ports;
pub mod registry;
pub mod response;
pub mod scheduler;
pub mod services;
pub mod settings;
pub mod tasks;

pub use context::{Ctx, Deps};
pub use error::HandlerError;
pub use handlers::{SqsEvent, SqsRecord};
pub use invoke::{Handlers, Invoked};
pub use registry::{HandlerSpec, Trigger, HANDLERS};
pub use response::{LambdaResponse, Shape};
