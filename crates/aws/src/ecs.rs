//! [`EcsTasks`]: the strategy container as ECS tasks, for the `ecs` executor (the seeds'
//! `BACKEND_ECS_CLUSTER`, `BACKEND_ECS_SUBNETS`, `BACKEND_ECS_SECURITY_GROUPS`).
//!
//! `RunTask` starts one task of the strategy container's task definition per job, with the
//! job in the container's environment (container overrides) and the task in the deployment's
//! private subnets (awsvpc); `StopTask` stops it; `ListTasks` and `DescribeTasks` say which
//! tasks run and why a stopped one stopped. What the environment holds is the caller's
//! business: this client only carries it.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, DesiredStatus, KeyValuePair, LaunchType, NetworkConfiguration, TaskOverride,
};
use aws_sdk_ecs::Client;

use crate::{AwsError, SyncBridge};

/// Where and what the tasks run: the `ecs` executor mode's settings (cluster, task
/// definition, container, network), one type for the executor and this client.
pub type EcsTaskSpec = tradai_executor::EcsSettings;

/// One task as `DescribeTasks` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsTask {
    /// The task ARN.
    pub arn: String,
    /// `PROVISIONING`, `PENDING`, `RUNNING`, ..., `STOPPED`.
    pub last_status: String,
    /// `RUNNING` or `STOPPED`.
    pub desired_status: String,
    /// Why it stopped (`Essential container in task exited`, a `StopTask` reason).
    pub stopped_reason: Option<String>,
    /// ECS's stop code (`EssentialContainerExited`, `UserInitiated`, `SpotInterruption`, ...).
    pub stop_code: Option<String>,
    /// Exit code of the container, when it exited.
    pub exit_code: Option<i32>,
    /// `startedBy` of the `RunTask` call.
    pub started_by: Option<String>,
    /// When it started running (epoch ms), if it did.
    pub started_at_ms: Option<i64>,
    /// The environment the container was overridden with.
    pub environment: Vec<(String, String)>,
}

impl EcsTask {
    /// Whether the task stopped (or is stopping: it will not run the job any further).
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.last_status == "STOPPED" || self.desired_status == "STOPPED"
    }

    /// The value of an overridden environment variable.
    #[must_use]
    pub fn env(&self, name: &str) -> Option<&str> {
        self.environment.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Why it stopped, in one line: the reason, the stop code and the container's exit code
    /// as far as ECS knows them.
    #[must_use]
    pub fn stop_summary(&self) -> String {
        let mut s = self.stopped_reason.clone().filter(|r| !r.is_empty()).unwrap_or_else(|| "no reason given".into());
        if let Some(code) = &self.stop_code {
            s.push_str(&format!(" ({code})"));
        }
        if let Some(exit) = self.exit_code {
            s.push_str(&format!(", container exit code {exit}"));
        }
        s
    }

    fn from_sdk(t: &aws_sdk_ecs::types::Task, container: &str) -> Self {
        let environment = t
            .overrides()
            .map(|o| o.container_overrides())
            .unwrap_or_default()
            .iter()
            .filter(|c| c.name() == Some(container))
            .flat_map(|c| c.environment())
            .filter_map(|kv| Some((kv.name()?.to_owned(), kv.value().unwrap_or_default().to_owned())))
            .collect();
        let exit_code = t.containers().iter().find(|c| c.name() == Some(container)).and_then(aws_sdk_ecs::types::Container::exit_code);
        Self {
            arn: t.task_arn().unwrap_or_default().to_owned(),
            last_status: t.last_status().unwrap_or_default().to_owned(),
            desired_status: t.desired_status().unwrap_or_default().to_owned(),
            stopped_reason: t.stopped_reason().map(str::to_owned),
            stop_code: t.stop_code().map(|c| c.as_str().to_owned()),
            exit_code,
            started_by: t.started_by().map(str::to_owned),
            started_at_ms: t.started_at().and_then(|d| d.to_millis().ok()),
            environment,
        }
    }
}

/// What `DescribeTasks` found: the tasks, and the ARNs it does not know (ECS forgets a
/// stopped task about an hour after it stopped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribedTasks {
    /// The tasks found.
    pub tasks: Vec<EcsTask>,
    /// ARNs ECS reported missing.
    pub missing: Vec<String>,
}

/// ECS answered without what was asked for: a `RunTask` without a task (no capacity, a bad
/// subnet, ...), a cluster or task definition that is not there.
#[derive(Debug, thiserror::Error)]
#[error("{reason}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
pub struct EcsFailure {
    /// ECS's reason (`RESOURCE:MEMORY`, `MISSING`, ...).
    pub reason: String,
    /// More about it.
    pub detail: Option<String>,
}

/// The strategy container's tasks on one cluster, for synchronous callers.
pub struct EcsTasks {
    client: Client,
    spec: EcsTaskSpec,
    bridge: SyncBridge,
}

impl std::fmt::Debug for EcsTasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcsTasks").field("spec", &self.spec).finish_non_exhaustive()
    }
}

/// `DescribeTasks` takes at most this many ARNs per call.
const DESCRIBE_BATCH: usize = 100;

impl EcsTasks {
    /// Loads the SDK configuration (standard chain plus `overrides`) and checks the spec
    /// against ECS: the cluster exists and is active (`DescribeClusters`), the task definition
    /// exists and has the named container (`DescribeTaskDefinition`), and there is a subnet.
    ///
    /// # Errors
    /// [`AwsError`] naming the cluster, task definition or container.
    pub fn connect(spec: EcsTaskSpec, overrides: &crate::AwsOverrides) -> Result<Self, AwsError> {
        if spec.subnets.is_empty() {
            return Err(AwsError::Runtime(format!("ECS tasks of '{}' need at least one subnet (awsvpc)", spec.task_definition)));
        }
        let bridge = SyncBridge::new()?;
        let overrides = overrides.clone();
        let config = bridge.run(async move { crate::load_sdk_config(&overrides).await })?;
        let client = Client::new(&config);
        let (c, s) = (client.clone(), spec.clone());
        bridge.run(async move { check_spec(&c, &s).await })??;
        Ok(Self { client, spec, bridge })
    }

    /// What tasks run and where.
    #[must_use]
    pub fn spec(&self) -> &EcsTaskSpec {
        &self.spec
    }

    /// Starts one task with `environment` set on the container. `started_by` (at most 36
    /// characters: ECS's limit) marks the task for `ListTasks`; `client_token` makes a retried
    /// call start no second task.
    ///
    /// # Errors
    /// [`AwsError`] naming the cluster; an [`EcsFailure`] as its source when ECS answered
    /// without a task.
    pub fn run(&self, environment: &[(String, String)], started_by: &str, client_token: &str) -> Result<EcsTask, AwsError> {
        let s = self.spec.clone();
        let env: Vec<KeyValuePair> = environment.iter().map(|(k, v)| KeyValuePair::builder().name(k).value(v).build()).collect();
        let (c, by, token) = (self.client.clone(), started_by.to_owned(), client_token.to_owned());
        self.bridge.run(async move {
            let vpc = AwsVpcConfiguration::builder()
                .set_subnets(Some(s.subnets.clone()))
                .set_security_groups(Some(s.security_groups.clone()))
                .assign_public_ip(if s.assign_public_ip { AssignPublicIp::Enabled } else { AssignPublicIp::Disabled })
                .build()
                .map_err(|e| AwsError::Runtime(format!("awsvpc configuration: {e}")))?;
            let overrides = TaskOverride::builder()
                .container_overrides(ContainerOverride::builder().name(&s.container_name).set_environment(Some(env)).build())
                .build();
            let mut req = c
                .run_task()
                .cluster(&s.cluster)
                .task_definition(&s.task_definition)
                .count(1)
                .started_by(by)
                .client_token(token)
                .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
                .overrides(overrides);
            if let Some(lt) = &s.launch_type {
                req = req.launch_type(LaunchType::from(lt.as_str()));
            }
            let out = req.send().await.map_err(|e| AwsError::sdk("ecs", "RunTask", &s.cluster, e))?;
            match out.tasks().first() {
                Some(t) => Ok(EcsTask::from_sdk(t, &s.container_name)),
                None => {
                    let f = out.failures().first();
                    let failure = EcsFailure {
                        reason: f.and_then(|f| f.reason()).unwrap_or("no task and no failure given").to_owned(),
                        detail: f.and_then(|f| f.detail()).map(str::to_owned),
                    };
                    Err(AwsError::Service {
                        service: "ecs",
                        operation: "RunTask",
                        resource: s.cluster.clone(),
                        code: "RunTaskFailure".into(),
                        message: failure.to_string(),
                        source: Box::new(failure),
                    })
                }
            }
        })?
    }

    /// Stops a task (ECS sends the container SIGTERM, then SIGKILL); `reason` is what
    /// `DescribeTasks` reports as its stopped reason.
    ///
    /// # Errors
    /// [`AwsError`] naming the task.
    pub fn stop(&self, task_arn: &str, reason: &str) -> Result<EcsTask, AwsError> {
        let (c, cluster, container) = (self.client.clone(), self.spec.cluster.clone(), self.spec.container_name.clone());
        let (arn, reason) = (task_arn.to_owned(), reason.to_owned());
        self.bridge.run(async move {
            let out = c
                .stop_task()
                .cluster(&cluster)
                .task(&arn)
                .reason(reason)
                .send()
                .await
                .map_err(|e| AwsError::sdk("ecs", "StopTask", &arn, e))?;
            out.task()
                .map(|t| EcsTask::from_sdk(t, &container))
                .ok_or_else(|| AwsError::Runtime(format!("StopTask of '{arn}' answered no task")))
        })?
    }

    /// ARNs of this task definition's tasks on the cluster whose desired status is `RUNNING`
    /// (`stopped: false`) or `STOPPED` (`true`), every page.
    ///
    /// # Errors
    /// [`AwsError`] naming the cluster.
    pub fn list(&self, stopped: bool) -> Result<Vec<String>, AwsError> {
        let (c, cluster, family) = (self.client.clone(), self.spec.cluster.clone(), self.spec.family().to_owned());
        self.bridge.run(async move {
            let status = if stopped { DesiredStatus::Stopped } else { DesiredStatus::Running };
            let mut arns = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let out = c
                    .list_tasks()
                    .cluster(&cluster)
                    .family(&family)
                    .desired_status(status.clone())
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| AwsError::sdk("ecs", "ListTasks", &cluster, e))?;
                arns.extend(out.task_arns().iter().cloned());
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => return Ok(arns),
                }
            }
        })?
    }

    /// The tasks of `arns` (in batches of 100), and the ones ECS does not know.
    ///
    /// # Errors
    /// [`AwsError`] naming the cluster.
    pub fn describe(&self, arns: &[String]) -> Result<DescribedTasks, AwsError> {
        if arns.is_empty() {
            return Ok(DescribedTasks::default());
        }
        let (c, cluster, container) = (self.client.clone(), self.spec.cluster.clone(), self.spec.container_name.clone());
        let arns = arns.to_vec();
        self.bridge.run(async move {
            let mut found = DescribedTasks::default();
            for batch in arns.chunks(DESCRIBE_BATCH) {
                let out = c
                    .describe_tasks()
                    .cluster(&cluster)
                    .set_tasks(Some(batch.to_vec()))
                    .send()
                    .await
                    .map_err(|e| AwsError::sdk("ecs", "DescribeTasks", &cluster, e))?;
                found.tasks.extend(out.tasks().iter().map(|t| EcsTask::from_sdk(t, &container)));
                for arn in batch {
                    if !found.tasks.iter().any(|t| &t.arn == arn) {
                        found.missing.push(arn.clone());
                    }
                }
            }
            Ok(found)
        })?
    }
}

async fn check_spec(c: &Client, s: &EcsTaskSpec) -> Result<(), AwsError> {
    let out =
        c.describe_clusters().clusters(&s.cluster).send().await.map_err(|e| AwsError::sdk("ecs", "DescribeClusters", &s.cluster, e))?;
    let active = out.clusters().iter().any(|cl| cl.status() == Some("ACTIVE"));
    if !active {
        return Err(not_found("DescribeClusters", &s.cluster, format!("no active cluster '{}' (BACKEND_ECS_CLUSTER)", s.cluster)));
    }
    let out = c
        .describe_task_definition()
        .task_definition(&s.task_definition)
        .send()
        .await
        .map_err(|e| AwsError::sdk("ecs", "DescribeTaskDefinition", &s.task_definition, e))?;
    let names: Vec<&str> =
        out.task_definition().map(|t| t.container_definitions()).unwrap_or_default().iter().filter_map(|d| d.name()).collect();
    if !names.contains(&s.container_name.as_str()) {
        return Err(not_found(
            "DescribeTaskDefinition",
            &s.task_definition,
            format!("task definition '{}' has no container '{}' (it has: {})", s.task_definition, s.container_name, names.join(", ")),
        ));
    }
    Ok(())
}

fn not_found(operation: &'static str, resource: &str, message: String) -> AwsError {
    let failure = EcsFailure { reason: "MISSING".into(), detail: Some(message.clone()) };
    AwsError::Service {
        service: "ecs",
        operation,
        resource: resource.to_owned(),
        code: "NotFound".into(),
        message,
        source: Box::new(failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(td: &str) -> EcsTaskSpec {
        EcsTaskSpec {
            cluster: "c".into(),
            task_definition: td.into(),
            container_name: "strategy-container".into(),
            subnets: vec![],
            security_groups: vec![],
            assign_public_ip: false,
            launch_type: None,
        }
    }

    #[test]
    fn the_family_comes_out_of_names_revisions_and_arns() {
        assert_eq!(spec("tradai-dev-strategy-container").family(), "tradai-dev-strategy-container");
        assert_eq!(spec("tradai-dev-strategy-container:7").family(), "tradai-dev-strategy-container");
        assert_eq!(
            spec("arn:aws:ecs:us-east-1:123456789012:task-definition/tradai-dev-strategy-container:7").family(),
            "tradai-dev-strategy-container"
        );
    }

    #[test]
    fn a_stop_summary_says_what_ecs_knows() {
        let mut t = EcsTask {
            arn: "a".into(),
            last_status: "STOPPED".into(),
            desired_status: "STOPPED".into(),
            stopped_reason: Some("Essential container in task exited".into()),
            stop_code: Some("EssentialContainerExited".into()),
            exit_code: Some(137),
            started_by: None,
            started_at_ms: None,
            environment: vec![("JOB_ID".into(), "j1".into())],
        };
        assert_eq!(t.stop_summary(), "Essential container in task exited (EssentialContainerExited), container exit code 137");
        assert_eq!(t.env("JOB_ID"), Some("j1"));
        t.stopped_reason = None;
        t.stop_code = None;
        t.exit_code = None;
        assert_eq!(t.stop_summary(), "no reason given");
        assert!(t.is_stopped());
    }
}
