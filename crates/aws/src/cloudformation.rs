//! [`StackClient`]: CloudFormation stacks created, updated and read back for `tradai deploy`.
//!
//! The templates come from tradai-deploy as JSON text; this module only speaks the API: create
//! or update with the SDK's waiters, read a stack's outputs and deployed template, and run
//! CloudFormation's own resource drift detection where the service offers it.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudformation::client::Waiters;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackDriftDetectionStatus, StackResourceDriftStatus};
use aws_sdk_cloudformation::Client;
use serde::Serialize;

use crate::{load_sdk_config, AwsError, AwsOverrides};

const SERVICE: &str = "cloudformation";

/// Why a stack operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The API call itself failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The stack ended in a failed state (`ROLLBACK_COMPLETE`, `UPDATE_ROLLBACK_COMPLETE`, ...).
    #[error("stack '{stack}' ended in {status}: {reasons}")]
    Failed {
        /// The stack.
        stack: String,
        /// Its final status.
        status: String,
        /// The failed resources' reasons from the stack's events, `; `-joined.
        reasons: String,
    },
    /// The stack was still in progress when the wait ended.
    #[error("stack '{stack}' is still {status} after {secs} s")]
    TimedOut {
        /// The stack.
        stack: String,
        /// Its last status.
        status: String,
        /// How long was waited.
        secs: u64,
    },
    /// The configuration chain found no region (no `AWS_REGION`, no profile with one).
    #[error("no AWS region: set AWS_REGION (or AWS_PROFILE naming a profile with a region)")]
    NoRegion,
    /// A stack that cannot be updated until someone deletes it (a first create that rolled back).
    #[error("stack '{stack}' is in {status} and cannot be updated; delete it (aws cloudformation delete-stack --stack-name {stack}) and apply again")]
    NeedsDelete {
        /// The stack.
        stack: String,
        /// Its status.
        status: String,
    },
}

impl StackError {
    /// Whether the same apply may succeed later: network trouble and throttling, or a wait
    /// that ended before the stack did.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Aws(e) => e.is_retryable(),
            Self::TimedOut { .. } => true,
            Self::Failed { .. } | Self::NeedsDelete { .. } | Self::NoRegion => false,
        }
    }
}

/// What an apply did to a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StackAction {
    /// It did not exist and was created.
    Created,
    /// Its template changed and it was updated.
    Updated,
    /// The deployed template already was this one: nothing was sent.
    Unchanged,
}

/// A stack after an apply, or as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackState {
    /// The stack's name.
    pub name: String,
    /// Its status (`CREATE_COMPLETE`, ...).
    pub status: String,
    /// Its outputs by logical id.
    pub outputs: BTreeMap<String, String>,
    /// Its parameters' values by name.
    pub parameters: BTreeMap<String, String>,
}

/// One resource CloudFormation found changed outside the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftedResource {
    /// Its logical id in the template.
    pub logical_id: String,
    /// `AWS::SQS::Queue`, ...
    pub resource_type: String,
    /// `MODIFIED` or `DELETED`.
    pub status: String,
}

/// The outcome of CloudFormation's resource drift detection on one stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "detection", rename_all = "snake_case")]
pub enum ResourceDrift {
    /// The detection ran: `IN_SYNC` or `DRIFTED`, and the resources that drifted.
    Checked {
        /// The stack's drift status.
        status: String,
        /// The resources that were modified or deleted out of band.
        drifted: Vec<DriftedResource>,
    },
    /// The endpoint does not offer drift detection (an emulator), or it could not finish; the
    /// reason says which.
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// A CloudFormation client for `tradai deploy`.
#[derive(Debug, Clone)]
pub struct StackClient {
    client: Client,
}

fn sdk<E, R>(operation: &'static str, stack: &str, e: aws_sdk_cloudformation::error::SdkError<E, R>) -> AwsError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    AwsError::sdk(SERVICE, operation, stack, e)
}

/// The parameters of an update: the given ones, and every other deployed one at its previous
/// value (an update without a parameter would reset it to the template's default).
fn keep_previous(mut given: Vec<Parameter>, deployed: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>) -> Vec<Parameter> {
    given.extend(
        deployed
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .map(|k| Parameter::builder().parameter_key(k).use_previous_value(true).build()),
    );
    given
}

/// Whether the status is a final one a stack can be updated from.
fn is_settled(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS")
}

impl StackClient {
    /// A client from the standard configuration chain plus `overrides`.
    ///
    /// # Errors
    /// [`StackError::NoRegion`] when the chain finds no region (every stack lives in one).
    pub async fn connect(overrides: &AwsOverrides) -> Result<Self, StackError> {
        let config = load_sdk_config(overrides).await;
        if config.region().is_none() {
            return Err(StackError::NoRegion);
        }
        Ok(Self { client: Client::new(&config) })
    }

    /// The stack `name` as it is now, or `None` when there is none.
    ///
    /// # Errors
    /// [`AwsError`] when the API call fails.
    pub async fn describe(&self, name: &str) -> Result<Option<StackState>, AwsError> {
        let out = match self.client.describe_stacks().stack_name(name).send().await {
            Ok(out) => out,
            // "Stack with id X does not exist" is a ValidationError, not a distinct code.
            Err(e) if e.as_service_error().and_then(ProvideErrorMetadata::message).is_some_and(|m| m.contains("does not exist")) => {
                return Ok(None)
            }
            Err(e) => return Err(sdk("DescribeStacks", name, e)),
        };
        let Some(stack) = out.stacks().first() else { return Ok(None) };
        let outputs = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value().unwrap_or_default().to_owned())))
            .collect();
        let parameters = stack
            .parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value().unwrap_or_default().to_owned())))
            .collect();
        let status = stack.stack_status().map(|s| s.as_str().to_owned()).unwrap_or_default();
        Ok(Some(StackState { name: name.to_owned(), status, outputs, parameters }))
    }

    /// The template body the stack was last deployed with.
    ///
    /// # Errors
    /// [`AwsError`] when the API call fails (also for a missing stack).
    pub async fn deployed_template(&self, name: &str) -> Result<String, AwsError> {
        let out = self.client.get_template().stack_name(name).send().await.map_err(|e| sdk("GetTemplate", name, e))?;
        Ok(out.template_body().unwrap_or_default().to_owned())
    }

    /// Creates the stack `name` from `body`, or updates it when its deployed template differs,
    /// and waits (at most `wait`) until it settles. IAM resources with names are allowed
    /// (`CAPABILITY_NAMED_IAM`).
    ///
    /// `same_template` decides whether the deployed body already is `body` (the caller knows
    /// how to compare its templates; text comparison would see whitespace as change); the stack
    /// is left alone when it is and the deployed `parameters` already have the given values
    /// (parameters not given keep their template defaults on create and their deployed values
    /// on update).
    ///
    /// # Errors
    /// [`StackError`]: the API failed, the stack rolled back (with the failed resources'
    /// reasons), the wait ran out, or a rolled-back first create blocks the update.
    pub async fn apply(
        &self,
        name: &str,
        body: &str,
        parameters: &BTreeMap<String, String>,
        wait: Duration,
        same_template: impl Fn(&str) -> bool,
    ) -> Result<(StackAction, StackState), StackError> {
        let given: Vec<Parameter> =
            parameters.iter().map(|(k, v)| Parameter::builder().parameter_key(k).parameter_value(v).build()).collect();
        let action = match self.describe(name).await? {
            None => {
                self.client
                    .create_stack()
                    .stack_name(name)
                    .template_body(body)
                    .set_parameters(Some(given.clone()))
                    .capabilities(Capability::CapabilityNamedIam)
                    .tags(aws_sdk_cloudformation::types::Tag::builder().key("tradai:stack").value(name).build())
                    .send()
                    .await
                    .map_err(|e| sdk("CreateStack", name, e))?;
                let waited = self.client.wait_until_stack_create_complete().stack_name(name).wait(wait).await;
                self.settle(name, waited.is_ok(), wait).await?;
                StackAction::Created
            }
            Some(s) if s.status == "ROLLBACK_COMPLETE" || s.status == "ROLLBACK_FAILED" => {
                return Err(StackError::NeedsDelete { stack: name.to_owned(), status: s.status });
            }
            Some(s) if !is_settled(&s.status) => {
                return Err(StackError::TimedOut { stack: name.to_owned(), status: s.status, secs: 0 });
            }
            Some(s) => {
                let same_parameters = parameters.iter().all(|(k, v)| s.parameters.get(k) == Some(v));
                if same_parameters && same_template(&self.deployed_template(name).await?) {
                    StackAction::Unchanged
                } else {
                    let sent = self
                        .client
                        .update_stack()
                        .stack_name(name)
                        .template_body(body)
                        .set_parameters(Some(keep_previous(given, &s.parameters, parameters)))
                        .capabilities(Capability::CapabilityNamedIam)
                        .send()
                        .await;
                    match sent {
                        Ok(_) => {
                            let waited = self.client.wait_until_stack_update_complete().stack_name(name).wait(wait).await;
                            self.settle(name, waited.is_ok(), wait).await?;
                            StackAction::Updated
                        }
                        // Different text, same meaning (CloudFormation compares what it parsed).
                        Err(e)
                            if e.as_service_error()
                                .and_then(ProvideErrorMetadata::message)
                                .is_some_and(|m| m.contains("No updates are to be performed")) =>
                        {
                            StackAction::Unchanged
                        }
                        Err(e) => return Err(sdk("UpdateStack", name, e).into()),
                    }
                }
            }
        };
        let state = self.describe(name).await?.ok_or_else(|| StackError::Failed {
            stack: name.to_owned(),
            status: "DELETED".into(),
            reasons: "the stack disappeared while it was applied".into(),
        })?;
        Ok((action, state))
    }

    /// Deletes the stack `name` and waits (at most `wait`) until it is gone; `false` when there
    /// was no such stack. Resources with a `Retain` policy stay behind, as CloudFormation keeps them.
    ///
    /// # Errors
    /// [`StackError`]: the API failed, the deletion failed (with the reasons), or the wait ran out.
    pub async fn delete(&self, name: &str, wait: Duration) -> Result<bool, StackError> {
        if self.describe(name).await?.is_none() {
            return Ok(false);
        }
        self.client.delete_stack().stack_name(name).send().await.map_err(|e| sdk("DeleteStack", name, e))?;
        let waited = self.client.wait_until_stack_delete_complete().stack_name(name).wait(wait).await;
        if waited.is_ok() || self.describe(name).await?.is_none_or(|s| s.status == "DELETE_COMPLETE") {
            return Ok(true);
        }
        self.settle(name, false, wait).await?;
        Ok(true)
    }

    /// After a waiter: success, or the stack's failure with the reasons from its events.
    async fn settle(&self, name: &str, waiter_ok: bool, wait: Duration) -> Result<(), StackError> {
        if waiter_ok {
            return Ok(());
        }
        let status = self.describe(name).await?.map(|s| s.status).unwrap_or_else(|| "DELETED".into());
        if !is_settled(&status) {
            return Err(StackError::TimedOut { stack: name.to_owned(), status, secs: wait.as_secs() });
        }
        let events = self.client.describe_stack_events().stack_name(name).send().await.map_err(|e| sdk("DescribeStackEvents", name, e))?;
        let reasons: Vec<String> = events
            .stack_events()
            .iter()
            .filter(|e| e.resource_status().is_some_and(|s| s.as_str().ends_with("_FAILED")))
            .map(|e| format!("{}: {}", e.logical_resource_id().unwrap_or("?"), e.resource_status_reason().unwrap_or("no reason given")))
            .collect();
        Err(StackError::Failed {
            stack: name.to_owned(),
            status,
            reasons: if reasons.is_empty() { "no failed resource in the events".into() } else { reasons.join("; ") },
        })
    }

    /// Runs CloudFormation's resource drift detection on `name` and waits (at most `wait`)
    /// for it. An endpoint without it (moto) gives [`ResourceDrift::Unavailable`], not an error.
    ///
    /// # Errors
    /// [`AwsError`] when a call other than the detection's start fails.
    pub async fn detect_resource_drift(&self, name: &str, wait: Duration) -> Result<ResourceDrift, AwsError> {
        let id = match self.client.detect_stack_drift().stack_name(name).send().await {
            Ok(out) => out.stack_drift_detection_id().unwrap_or_default().to_owned(),
            Err(e) => {
                let err = sdk("DetectStackDrift", name, e);
                if err.is_retryable() {
                    return Err(err);
                }
                return Ok(ResourceDrift::Unavailable { reason: format!("the endpoint does not run drift detection ({err})") });
            }
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let s = self
                .client
                .describe_stack_drift_detection_status()
                .stack_drift_detection_id(&id)
                .send()
                .await
                .map_err(|e| sdk("DescribeStackDriftDetectionStatus", name, e))?;
            match s.detection_status() {
                Some(StackDriftDetectionStatus::DetectionComplete) => {
                    let status = s.stack_drift_status().map(|x| x.as_str().to_owned()).unwrap_or_default();
                    let drifts = self
                        .client
                        .describe_stack_resource_drifts()
                        .stack_name(name)
                        .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
                        .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
                        .send()
                        .await
                        .map_err(|e| sdk("DescribeStackResourceDrifts", name, e))?;
                    let drifted = drifts
                        .stack_resource_drifts()
                        .iter()
                        .map(|d| DriftedResource {
                            logical_id: d.logical_resource_id().unwrap_or_default().to_owned(),
                            resource_type: d.resource_type().unwrap_or_default().to_owned(),
                            status: d.stack_resource_drift_status().map(|x| x.as_str().to_owned()).unwrap_or_default(),
                        })
                        .collect();
                    return Ok(ResourceDrift::Checked { status, drifted });
                }
                Some(StackDriftDetectionStatus::DetectionFailed) => {
                    let reason = s.detection_status_reason().unwrap_or("no reason given").to_owned();
                    return Ok(ResourceDrift::Unavailable { reason: format!("drift detection failed: {reason}") });
                }
                _ if tokio::time::Instant::now() >= deadline => {
                    return Ok(ResourceDrift::Unavailable {
                        reason: format!("drift detection did not finish within {} s", wait.as_secs()),
                    });
                }
                _ => tokio::time::sleep(Duration::from_secs(2)).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_keeps_the_deployed_parameters_it_is_not_given() {
        let deployed = BTreeMap::from([("ImageTag".to_owned(), "v2".to_owned()), ("Other".to_owned(), "x".to_owned())]);
        let wanted = BTreeMap::from([("Other".to_owned(), "y".to_owned())]);
        let given = vec![Parameter::builder().parameter_key("Other").parameter_value("y").build()];
        let all = keep_previous(given, &deployed, &wanted);
        let shown: Vec<(Option<&str>, Option<&str>, Option<bool>)> =
            all.iter().map(|p| (p.parameter_key(), p.parameter_value(), p.use_previous_value())).collect();
        assert_eq!(shown, [(Some("Other"), Some("y"), None), (Some("ImageTag"), None, Some(true))]);
    }

    #[test]
    fn failures_say_what_to_do_and_whether_to_retry() {
        let e = StackError::NeedsDelete { stack: "s".into(), status: "ROLLBACK_COMPLETE".into() };
        assert!(e.to_string().contains("delete-stack --stack-name s") && !e.is_retryable());
        assert!(StackError::TimedOut { stack: "s".into(), status: "CREATE_IN_PROGRESS".into(), secs: 5 }.is_retryable());
        assert!(is_settled("UPDATE_ROLLBACK_COMPLETE") && !is_settled("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"));
    }
}
