//! `tradai deploy render | apply | diff | destroy`: the CloudFormation stacks of tradai-deploy
//! written to files, deployed through the CloudFormation API (tradai-aws's `StackClient`),
//! compared with what is deployed, and deleted. AWS settings come from the SDK's standard
//! chain (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL` for an emulator).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use tradai_deploy::{render, Deployment, Environment, Inputs, Layer, RenderedStack, DEFAULT_PREFIX};

use crate::output::{print_json, Table, Ui};

/// `--env` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnvArg {
    /// Small, short retention.
    Dev,
    /// Production-shaped, smaller.
    Staging,
    /// Long retention, protected data.
    Prod,
}

impl From<EnvArg> for Environment {
    fn from(e: EnvArg) -> Self {
        match e {
            EnvArg::Dev => Self::Dev,
            EnvArg::Staging => Self::Staging,
            EnvArg::Prod => Self::Prod,
        }
    }
}

/// `--only` values: the four stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayerArg {
    /// Buckets, table, queues, topic, secret, image repository.
    Persistent,
    /// Network and IAM.
    Foundation,
    /// ECS, Lambdas, schedules, alarms.
    Compute,
    /// The dashboard.
    Edge,
}

impl From<LayerArg> for Layer {
    fn from(l: LayerArg) -> Self {
        match l {
            LayerArg::Persistent => Self::Persistent,
            LayerArg::Foundation => Self::Foundation,
            LayerArg::Compute => Self::Compute,
            LayerArg::Edge => Self::Edge,
        }
    }
}

/// Which deployment: environment and stack prefix.
#[derive(Debug, Args)]
pub struct TargetFlags {
    /// The environment (names, sizes and retention differ).
    #[arg(long, value_enum)]
    pub env: EnvArg,
    /// Prefix of every stack and resource name (`<prefix>-<env>-persistent`,
    /// `<prefix>-workflow-state-<env>`): lower-case letters, digits and '-'.
    #[arg(long, default_value = DEFAULT_PREFIX, value_name = "P")]
    pub stack_prefix: String,
}

impl TargetFlags {
    fn deployment(&self) -> anyhow::Result<Deployment> {
        Ok(Deployment::new(&self.stack_prefix, self.env.into())?)
    }
}

/// `tradai deploy` subcommands.
#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Write the CloudFormation templates of the four stacks (persistent, foundation, compute,
    /// edge), one JSON file per stack.
    #[command(after_help = "Example (files in ./cloudformation/dev):
  tradai deploy render --env dev --out cloudformation/dev")]
    Render(RenderArgs),
    /// Create or update the four stacks in order through the CloudFormation API, wait for each,
    /// and print the stacks' outputs as JSON (queue_url, table_name, data_bucket, ...).
    ///
    /// A stack whose deployed template is already the rendered one is left alone.
    #[command(after_help = "Examples (AWS, then the emulator of scripts/moto-server.sh):
  tradai deploy apply --env dev --only persistent
  tradai deploy apply --env dev
  tradai deploy apply --env prod --image-tag v1.4.0
  AWS_ENDPOINT_URL=http://127.0.0.1:5000 tradai deploy apply --env dev")]
    Apply(ApplyArgs),
    /// Compare the rendered templates with the deployed stacks (and run CloudFormation's
    /// resource drift detection where the endpoint offers it). Exit code 0: in sync; 1: drifted
    /// or missing.
    #[command(after_help = "Example:
  tradai deploy diff --env dev --json")]
    Diff(DiffArgs),
    /// Delete the edge, compute and foundation stacks (in that order), and with
    /// --include-persistent the persistent one too. Resources marked Retain (prod's buckets and
    /// table) stay behind.
    #[command(after_help = "Example (the seeds' infra-down-all: keeps buckets, table and queue):
  tradai deploy destroy --env dev --yes")]
    Destroy(DestroyArgs),
}

/// `tradai deploy destroy` flags.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Environment and prefix.
    #[command(flatten)]
    pub target: TargetFlags,
    /// Delete the persistent stack too (buckets, table, queues, secret; prod's data is retained).
    #[arg(long)]
    pub include_persistent: bool,
    /// Confirm the deletion (nothing is deleted without it).
    #[arg(long)]
    pub yes: bool,
    /// Longest wait for one stack to be deleted, in seconds.
    #[arg(long, default_value_t = 1800, value_name = "SECS")]
    pub timeout_secs: u64,
}

/// `tradai deploy render` flags.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Environment and prefix.
    #[command(flatten)]
    pub target: TargetFlags,
    /// Directory for the files [default: cloudformation/<env>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the written files as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tradai deploy apply` flags.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Environment and prefix.
    #[command(flatten)]
    pub target: TargetFlags,
    /// Apply only these stacks (repeatable), e.g. the persistent one alone for a first deploy:
    /// the compute stack's Lambdas need the image in the repository the persistent stack makes.
    #[arg(long, value_enum, value_name = "LAYER")]
    pub only: Vec<LayerArg>,
    /// Tag of the tradai image the compute stack's tasks and Lambdas run (its `ImageTag`
    /// parameter) [default: the deployed one; `latest` at the first apply].
    #[arg(long, value_name = "TAG")]
    pub image_tag: Option<String>,
    /// Longest wait for one stack to settle, in seconds.
    #[arg(long, default_value_t = 1800, value_name = "SECS")]
    pub timeout_secs: u64,
}

/// `tradai deploy diff` flags.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Environment and prefix.
    #[command(flatten)]
    pub target: TargetFlags,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub json: bool,
    /// Longest wait for CloudFormation's drift detection of one stack, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub timeout_secs: u64,
}

/// Runs a `deploy` subcommand.
pub fn run(c: DeployCommand, ui: Ui) -> anyhow::Result<ExitCode> {
    match c {
        DeployCommand::Render(a) => run_render(&a, ui),
        DeployCommand::Apply(a) => aws::apply(&a, ui),
        DeployCommand::Diff(a) => aws::diff(&a, ui),
        DeployCommand::Destroy(a) => aws::destroy(&a, ui),
    }
}

#[derive(Serialize)]
struct Written {
    stack: String,
    layer: &'static str,
    path: String,
}

fn run_render(a: &RenderArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let d = a.target.deployment()?;
    let dir = a.out.clone().unwrap_or_else(|| PathBuf::from("cloudformation").join(d.env().as_str()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for s in stacks(&d) {
        let path = dir.join(s.file_name());
        std::fs::write(&path, s.body()).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(Written { stack: s.name, layer: s.layer.as_str(), path: path.display().to_string() });
    }
    if a.json {
        print_json(&written)?;
    } else if !ui.quiet {
        let mut t = Table::new(&["stack", "layer", "file"]);
        for w in written {
            t.row(vec![w.stack, w.layer.to_owned(), w.path]);
        }
        print!("{}", t.render());
    }
    Ok(ExitCode::SUCCESS)
}

/// The four stacks of `d` as this binary renders them: with the AWS back end, the compute
/// stack holds the backtest workflow's state machine (tradai-aws's definition).
pub(crate) fn stacks(d: &Deployment) -> Vec<RenderedStack> {
    render(d, &Inputs { backtest_workflow: backtest_workflow() })
}

/// tradai-aws's backtest workflow, its references left for the compute stack to fill in.
#[cfg(feature = "aws")]
#[allow(clippy::unnecessary_wraps)]
fn backtest_workflow() -> Option<serde_json::Value> {
    let r = tradai_deploy::stacks::compute::WORKFLOW_REFS;
    Some(tradai_aws::backtest_state_machine(&tradai_aws::BacktestWorkflow {
        validate_function_arn: r.validate_function_arn.into(),
        ensure_data_function_arn: r.ensure_data_function_arn.into(),
        cleanup_function_arn: r.cleanup_function_arn.into(),
        cluster_arn: r.cluster_arn.into(),
        task_definition_arn: r.task_definition_arn.into(),
        container_name: r.container_name.into(),
        subnets: r.subnets.iter().map(|s| (*s).to_owned()).collect(),
        security_groups: vec![r.security_group.into()],
        table_name: r.table_name.into(),
        topic_arn: r.topic_arn.into(),
        // The seeds' orphan threshold: a backtest running longer is treated as lost.
        run_timeout_secs: 6 * 3600,
    }))
}

/// Without the AWS back end there is no workflow definition to deploy.
#[cfg(not(feature = "aws"))]
fn backtest_workflow() -> Option<serde_json::Value> {
    None
}

/// Whether the deployed body is the rendered template (compared as JSON, not as text).
fn same_template(s: &RenderedStack, deployed: &str) -> bool {
    tradai_deploy::drift::compare(&s.name, &s.template.to_value(), deployed).is_ok_and(|d| d.is_empty())
}

/// The layer's name for JSON output.
fn layer_name(l: Layer) -> &'static str {
    l.as_str()
}

#[cfg(feature = "aws")]
mod aws {
    //! The subcommands that talk to CloudFormation (the binary's `aws` feature).

    use std::collections::BTreeMap;
    use std::process::ExitCode;
    use std::time::Duration;

    use anyhow::Context;
    use serde::Serialize;
    use tradai_aws::{AwsOverrides, ResourceDrift, StackAction, StackClient};
    use tradai_deploy::drift::{compare, output_key, TemplateDiff};

    use super::{layer_name, same_template, stacks, ApplyArgs, DestroyArgs, DiffArgs};
    use crate::output::{print_json, Ui};

    fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
    }

    #[derive(Serialize)]
    struct AppliedStack {
        stack: String,
        layer: &'static str,
        action: StackAction,
        status: String,
    }

    #[derive(Serialize)]
    struct ApplyReport {
        env: &'static str,
        stacks: Vec<AppliedStack>,
        /// Every stack's outputs, snake_case (`queue_url`, `table_name`, ...).
        outputs: BTreeMap<String, String>,
    }

    pub(super) fn apply(a: &ApplyArgs, ui: Ui) -> anyhow::Result<ExitCode> {
        let d = a.target.deployment()?;
        let wait = Duration::from_secs(a.timeout_secs);
        runtime()?.block_on(async {
            let client = StackClient::connect(&AwsOverrides::default()).await?;
            let mut report = ApplyReport { env: d.env().as_str(), stacks: Vec::new(), outputs: BTreeMap::new() };
            let only: Vec<tradai_deploy::Layer> = a.only.iter().map(|l| (*l).into()).collect();
            for s in stacks(&d).into_iter().filter(|s| only.is_empty() || only.contains(&s.layer)) {
                if !ui.quiet {
                    eprintln!("applying {} ...", s.name);
                }
                let mut parameters = BTreeMap::new();
                if let Some(tag) = a.image_tag.as_ref().filter(|_| s.template.parameters.contains_key("ImageTag")) {
                    parameters.insert("ImageTag".to_owned(), tag.clone());
                }
                let (action, state) = client
                    .apply(&s.name, &s.body(), &parameters, wait, |deployed| same_template(&s, deployed))
                    .await
                    .with_context(|| format!("applying the {} stack", s.layer))?;
                if !ui.quiet {
                    eprintln!("{}: {} ({})", s.name, serde_json::to_value(action)?.as_str().unwrap_or_default(), state.status);
                }
                report.outputs.extend(state.outputs.iter().map(|(k, v)| (output_key(k), v.clone())));
                report.stacks.push(AppliedStack { stack: s.name, layer: layer_name(s.layer), action, status: state.status });
            }
            print_json(&report)?;
            Ok(ExitCode::SUCCESS)
        })
    }

    #[derive(Serialize)]
    struct StackDiff {
        stack: String,
        layer: &'static str,
        /// `in_sync`, `drifted` or `missing`.
        state: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        template: Option<TemplateDiff>,
        #[serde(skip_serializing_if = "Option::is_none")]
        resources: Option<ResourceDrift>,
    }

    #[derive(Serialize)]
    struct DiffReport {
        env: &'static str,
        in_sync: bool,
        stacks: Vec<StackDiff>,
    }

    pub(super) fn diff(a: &DiffArgs, ui: Ui) -> anyhow::Result<ExitCode> {
        let d = a.target.deployment()?;
        let wait = Duration::from_secs(a.timeout_secs);
        let report = runtime()?.block_on(async {
            let client = StackClient::connect(&AwsOverrides::default()).await?;
            let mut compared = Vec::new();
            for s in stacks(&d) {
                let Some(state) = client.describe(&s.name).await.with_context(|| format!("reading stack {}", s.name))? else {
                    compared.push(StackDiff {
                        stack: s.name,
                        layer: layer_name(s.layer),
                        state: "missing",
                        status: None,
                        template: None,
                        resources: None,
                    });
                    continue;
                };
                let body = client.deployed_template(&s.name).await?;
                let template = compare(&s.name, &s.template.to_value(), &body)?;
                let resources = client.detect_resource_drift(&s.name, wait).await?;
                let drifted = !template.is_empty() || matches!(&resources, ResourceDrift::Checked { drifted, .. } if !drifted.is_empty());
                compared.push(StackDiff {
                    stack: s.name,
                    layer: layer_name(s.layer),
                    state: if drifted { "drifted" } else { "in_sync" },
                    status: Some(state.status),
                    template: Some(template),
                    resources: Some(resources),
                });
            }
            anyhow::Ok(DiffReport { env: d.env().as_str(), in_sync: compared.iter().all(|s| s.state == "in_sync"), stacks: compared })
        })?;
        if a.json {
            print_json(&report)?;
        } else if !ui.quiet {
            for s in &report.stacks {
                println!("{}: {}", s.stack, s.state.replace('_', " "));
                if let Some(t) = &s.template {
                    for (id, change) in &t.resources {
                        println!("  {id}: {}", serde_json::to_string(change)?);
                    }
                    for o in &t.outputs {
                        println!("  output {o} changed");
                    }
                }
                match &s.resources {
                    Some(ResourceDrift::Checked { drifted, .. }) => {
                        for r in drifted {
                            println!("  {} ({}): {} outside the stack", r.logical_id, r.resource_type, r.status.to_lowercase());
                        }
                    }
                    Some(ResourceDrift::Unavailable { reason }) => println!("  resource drift not checked: {reason}"),
                    None => {}
                }
            }
        }
        Ok(if report.in_sync { ExitCode::SUCCESS } else { ExitCode::from(1) })
    }

    #[derive(Serialize)]
    struct DestroyedStack {
        stack: String,
        layer: &'static str,
        /// `deleted`, `absent` (there was none) or `kept` (persistent, without the flag).
        action: &'static str,
    }

    pub(super) fn destroy(a: &DestroyArgs, ui: Ui) -> anyhow::Result<ExitCode> {
        let d = a.target.deployment()?;
        let names: Vec<String> = stacks(&d).iter().map(|s| s.name.clone()).collect();
        if !a.yes {
            anyhow::bail!("refusing to delete {} without --yes", names.join(", "));
        }
        let wait = Duration::from_secs(a.timeout_secs);
        let done = runtime()?.block_on(async {
            let client = StackClient::connect(&AwsOverrides::default()).await?;
            let mut done = Vec::new();
            // Reverse deployment order: each stack imports from the ones before it.
            for s in stacks(&d).into_iter().rev() {
                let layer = layer_name(s.layer);
                if s.layer == tradai_deploy::Layer::Persistent && !a.include_persistent {
                    done.push(DestroyedStack { stack: s.name, layer, action: "kept" });
                    continue;
                }
                if !ui.quiet {
                    eprintln!("deleting {} ...", s.name);
                }
                let deleted = client.delete(&s.name, wait).await.with_context(|| format!("deleting the {layer} stack"))?;
                done.push(DestroyedStack { stack: s.name, layer, action: if deleted { "deleted" } else { "absent" } });
            }
            anyhow::Ok(done)
        })?;
        print_json(&done)?;
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(not(feature = "aws"))]
mod aws {
    //! Without the binary's `aws` feature there is no CloudFormation client.

    use std::process::ExitCode;

    use super::{ApplyArgs, DestroyArgs, DiffArgs};
    use crate::output::Ui;

    const NO_AWS: &str =
        "this build has no AWS back end (build tradai-cli with the `aws` feature); `tradai deploy render` works without it";

    pub(super) fn apply(_: &ApplyArgs, _: Ui) -> anyhow::Result<ExitCode> {
        anyhow::bail!("tradai deploy apply: {NO_AWS}")
    }

    pub(super) fn diff(_: &DiffArgs, _: Ui) -> anyhow::Result<ExitCode> {
        anyhow::bail!("tradai deploy diff: {NO_AWS}")
    }

    pub(super) fn destroy(_: &DestroyArgs, _: Ui) -> anyhow::Result<ExitCode> {
        anyhow::bail!("tradai deploy destroy: {NO_AWS}")
    }
}
