//! `tradai lambda`: the binary as an AWS Lambda function (container image entry point). It
//! serves the Lambda Runtime API through `lambda_runtime`, dispatching each invocation to the
//! handler named by `TRADAI_HANDLER` (else `_HANDLER`, else the end of
//! `AWS_LAMBDA_FUNCTION_NAME`, as in `tradai-prod-health-check`).
//!
//! Responses are the handler's own (`statusCode` 400/500 included), as the seeds' handlers
//! return their error dicts; only an SQS batch the handler could not read at all is reported
//! as a function error, so Lambda retries the whole batch instead of deleting it.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tradai_handlers::{Deps, HandlerSpec, Trigger};
use tradai_settings::Settings;

/// Help example of `tradai lambda`.
pub const EXAMPLES: &str = "Example (what a Lambda container image runs; the Runtime API is Lambda's):
  tradai lambda --handler health-check";

/// `tradai lambda` flags.
#[derive(Debug, Args)]
pub struct LambdaArgs {
    /// Handler to serve [default: TRADAI_HANDLER, _HANDLER, or the end of
    /// AWS_LAMBDA_FUNCTION_NAME].
    #[arg(long)]
    pub handler: Option<String>,
}

/// The handler a function serves: the flag, `TRADAI_HANDLER`, `_HANDLER`, or the longest
/// handler name the function name ends with.
fn handler_of(flag: Option<&str>, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<&'static HandlerSpec> {
    let named = flag.map(str::to_owned).or_else(|| var("TRADAI_HANDLER")).or_else(|| var("_HANDLER")).filter(|s| !s.is_empty());
    if let Some(n) = named {
        return tradai_handlers::registry::find(&n).ok_or_else(|| anyhow::anyhow!("unknown handler '{n}' (see `tradai handlers list`)"));
    }
    let function = var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    tradai_handlers::HANDLERS
        .iter()
        .filter(|h| function.ends_with(h.name))
        .max_by_key(|h| h.name.len())
        .ok_or_else(|| anyhow::anyhow!("no handler named: set TRADAI_HANDLER (function '{function}' ends with no handler name)"))
}

/// The back ends of a function: the DynamoDB job table when `DYNAMODB_TABLE_NAME` is set,
/// else the machine's own (a container with a data dir).
fn deps(settings: &Settings) -> anyhow::Result<Deps> {
    let aws = super::aws::AwsEnv::from_env(|k| std::env::var(k).ok())?;
    match aws.job_repository()? {
        Some(ext) => {
            let mut d = Deps::minimal();
            d.tasks = Some(aws.task_launcher(Arc::clone(&ext.repo))?);
            d.jobs = Some(ext.repo);
            d.ml = settings.ml.clone();
            d.infra = super::handlers::infra_diff();
            super::handlers::aws_ports(&mut d);
            // The handlers' state (health, drift, heartbeats) lives in the same table.
            #[cfg(feature = "aws")]
            if let Some(table) = &aws.table {
                let repo = tradai_aws::DynamoJobRepository::connect(table, &tradai_aws::AwsOverrides::default(), false)
                    .with_context(|| format!("DYNAMODB_TABLE_NAME={table}"))?;
                d.state = Some(Arc::new(repo));
            }
            Ok(d)
        }
        None => super::handlers::local_deps(settings),
    }
}

/// Runs `tradai lambda` until the Runtime API goes away.
pub fn run(a: &LambdaArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let spec = handler_of(a.handler.as_deref(), |k| std::env::var(k).ok())?;
    // Metrics as Embedded Metric Format lines on stdout (CloudWatch Logs) unless METRICS_SINK says otherwise.
    let handlers = Arc::new(super::handlers::build(settings, deps(settings)?, tradai_handlers::settings::MetricsSinkKind::Emf)?);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(lambda_runtime::run(lambda_runtime::service_fn(move |ev: lambda_runtime::LambdaEvent<serde_json::Value>| {
        let handlers = Arc::clone(&handlers);
        async move {
            let inv = handlers.invoke(spec.name, ev.payload).await?;
            if spec.trigger == Trigger::Sqs && !inv.response.is_success() {
                let msg = inv.response.body.get("error").and_then(|e| e.as_str()).unwrap_or("the batch failed").to_owned();
                return Err(lambda_runtime::Error::from(msg));
            }
            Ok::<_, lambda_runtime::Error>(inv.response.to_shape(spec.shape))
        }
    })))
    .map_err(|e| anyhow::anyhow!("the Lambda runtime stopped: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_comes_from_the_flag_the_variables_or_the_function_name() {
        let none = |_: &str| None;
        assert_eq!(handler_of(Some("health-check"), none).unwrap().name, "health-check");
        let env = |k: &str| (k == "AWS_LAMBDA_FUNCTION_NAME").then(|| "tradai-prod-sqs-consumer".to_owned());
        assert_eq!(handler_of(None, env).unwrap().name, "sqs-consumer");
        let env = |k: &str| (k == "_HANDLER").then(|| "drift-monitor".to_owned());
        assert_eq!(handler_of(None, env).unwrap().name, "drift-monitor");
        assert!(handler_of(None, none).unwrap_err().to_string().contains("TRADAI_HANDLER"));
        assert!(handler_of(Some("nope"), none).unwrap_err().to_string().contains("unknown handler 'nope'"));
    }
}
