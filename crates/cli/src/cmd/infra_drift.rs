//! The infrastructure diff of pulumi-drift-detector: the stacks `tradai deploy` renders for
//! `ENVIRONMENT` (prefix `STACK_PREFIX`) against what CloudFormation holds, through the same
//! two checks as `tradai deploy diff` (template drift, then CloudFormation's resource drift
//! detection). It lives in the CLI because tradai-handlers may not know AWS or the deploy crate.

use std::time::Duration;

use async_trait::async_trait;
use tradai_aws::{AwsOverrides, ResourceDrift, StackClient};
use tradai_deploy::drift::{compare, ResourceChange};
use tradai_deploy::{Deployment, DEFAULT_PREFIX};
use tradai_handlers::ports::{InfraChange, InfraDiff};
use tradai_handlers::HandlerError;

/// Longest wait for CloudFormation's drift detection of one stack: the handler's own timeout
/// is 300 s, and there are four stacks, most of them quick.
const DETECTION_WAIT: Duration = Duration::from_secs(120);

/// [`InfraDiff`] over the rendered stacks of one deployment and CloudFormation.
#[derive(Debug, Clone)]
pub struct StackDrift {
    deployment: Deployment,
    overrides: AwsOverrides,
}

impl StackDrift {
    /// The deployment named by `ENVIRONMENT` (dev, staging, prod) and `STACK_PREFIX`
    /// [default: tradai], when a region is configured (`AWS_REGION` or
    /// `AWS_DEFAULT_REGION`); `None` without them: a machine with no deployed stack.
    ///
    /// # Errors
    /// [`HandlerError::Setting`] naming `ENVIRONMENT` or `STACK_PREFIX` when set to something
    /// no stack can be rendered for (`local`, `moon`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, HandlerError> {
        let get = |k: &str| var(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let (Some(env), Some(_region)) = (get("ENVIRONMENT"), get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION"))) else {
            return Ok(None);
        };
        let setting = |name: &str, value: &str, e: &dyn std::fmt::Display| HandlerError::Setting {
            name: name.to_owned(),
            value: value.to_owned(),
            message: format!("the drift detector renders the deployed stacks of it: {e}"),
        };
        let parsed: tradai_deploy::Environment = env.parse().map_err(|e| setting("ENVIRONMENT", &env, &e))?;
        let prefix = get("STACK_PREFIX").unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        let deployment = Deployment::new(&prefix, parsed).map_err(|e| setting("STACK_PREFIX", &prefix, &e))?;
        Ok(Some(Self { deployment, overrides: AwsOverrides::default() }))
    }
}

/// The diff of a process whose `ENVIRONMENT` or `STACK_PREFIX` names no deployable stack: only
/// pulumi-drift-detector needs them, so only it fails (naming the setting); every other handler
/// runs as usual.
#[derive(Debug)]
pub struct UnusableStack {
    /// Why no stack can be rendered ([`HandlerError::Setting`]'s parts).
    pub name: String,
    /// The refused value.
    pub value: String,
    /// Why it is refused.
    pub message: String,
}

#[async_trait]
impl InfraDiff for UnusableStack {
    fn stack(&self) -> String {
        format!("(no stack: {}={})", self.name, self.value)
    }

    async fn diff(&self) -> Result<Vec<InfraChange>, HandlerError> {
        Err(HandlerError::Setting { name: self.name.clone(), value: self.value.clone(), message: self.message.clone() })
    }
}

fn change(resource: String, action: &str, detail: String) -> InfraChange {
    InfraChange { resource, action: action.to_owned(), detail }
}

#[async_trait]
impl InfraDiff for StackDrift {
    fn stack(&self) -> String {
        format!("{}-{}", self.deployment.prefix(), self.deployment.env().as_str())
    }

    async fn diff(&self) -> Result<Vec<InfraChange>, HandlerError> {
        // Connected per run: the detector runs every 6 h and credentials rotate in between.
        let client =
            StackClient::connect(&self.overrides).await.map_err(|e| HandlerError::dependency("cloudformation", e.is_retryable(), e))?;
        let mut changes = Vec::new();
        for s in super::deploy::stacks(&self.deployment) {
            let dep = |e: tradai_aws::AwsError| {
                let retry = e.is_retryable();
                HandlerError::dependency(format!("cloudformation stack {}", s.name), retry, e)
            };
            if client.describe(&s.name).await.map_err(dep)?.is_none() {
                changes.push(change(s.name.clone(), "remove", "the stack is not deployed".to_owned()));
                continue;
            }
            let body = client.deployed_template(&s.name).await.map_err(dep)?;
            let template = compare(&s.name, &s.template.to_value(), &body)
                .map_err(|e| HandlerError::dependency(format!("deployed template of {}", s.name), false, e))?;
            for (id, c) in template.resources {
                let at = format!("{}/{id}", s.name);
                changes.push(match c {
                    ResourceChange::Added => change(at, "add", "declared in the template, not deployed".to_owned()),
                    ResourceChange::Removed => change(at, "remove", "deployed, no longer declared".to_owned()),
                    ResourceChange::Modified { fields } => change(at, "modify", format!("differs in {}", fields.join(", "))),
                });
            }
            for o in template.outputs {
                changes.push(change(format!("{}/output/{o}", s.name), "modify", "output differs".to_owned()));
            }
            match client.detect_resource_drift(&s.name, DETECTION_WAIT).await.map_err(dep)? {
                ResourceDrift::Checked { drifted, .. } => {
                    for r in drifted {
                        let action = if r.status.eq_ignore_ascii_case("DELETED") { "remove" } else { "modify" };
                        changes.push(change(
                            format!("{}/{}", s.name, r.logical_id),
                            action,
                            format!("{} {} outside the stack", r.resource_type, r.status.to_lowercase()),
                        ));
                    }
                }
                // The template check above still ran; an emulator offers no detection.
                ResourceDrift::Unavailable { reason } => tracing::info!(stack = %s.name, %reason, "resource drift not checked"),
            }
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::StackDrift;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn needs_an_environment_and_a_region() {
        assert!(StackDrift::from_env(env(&[("ENVIRONMENT", "dev")])).unwrap().is_none());
        assert!(StackDrift::from_env(env(&[("AWS_REGION", "eu-central-1")])).unwrap().is_none());
        let d = StackDrift::from_env(env(&[("ENVIRONMENT", "dev"), ("AWS_REGION", "eu-central-1")])).unwrap().unwrap();
        assert_eq!(tradai_handlers::ports::InfraDiff::stack(&d), "tradai-dev");
    }

    #[test]
    fn a_bad_environment_is_named() {
        let e = StackDrift::from_env(env(&[("ENVIRONMENT", "moon"), ("AWS_REGION", "eu-central-1")])).unwrap_err();
        assert!(e.to_string().contains("ENVIRONMENT=\"moon\""), "{e}");
    }
}
