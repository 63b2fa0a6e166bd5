//! `tradai handlers list` and `tradai handlers run NAME --event FILE|-`: the platform's 18
//! handlers from the command line, with the back ends of this machine (the job database of
//! `tradai up`, the tracker, the candle store, the trading state). Also builds the handlers
//! the scheduler of `tradai up` and `tradai lambda` run.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use tradai_handlers::ports::TradingStateHeartbeats;
use tradai_handlers::scheduler::{self, RunBoard};
use tradai_handlers::settings::{MetricsSinkKind, Vars};
use tradai_handlers::{Deps, Handlers, Shape, HANDLERS};
use tradai_jobs::{JobRepository, SqliteJobRepository, StateRepository};
use tradai_settings::Settings;

use crate::output::{print_json, Table};

/// Help examples of `tradai handlers run`.
pub const RUN_EXAMPLES: &str = "Examples (events of every handler are in testdata/handlers/):
  tradai handlers run health-check --event testdata/handlers/health-check.json
  echo '{}' | tradai handlers run health-check --event -";

/// `tradai handlers ...`
#[derive(Debug, Subcommand)]
pub enum HandlersCommand {
    /// The 18 handlers: trigger, schedule, memory, timeout and what each does.
    #[command(after_help = "Example:\n  tradai handlers list --json")]
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Run one handler on an event and print its response (exit 0 for a 2xx response).
    ///
    /// Settings come from the environment (ENVIRONMENT, CONSECUTIVE_FAILURE_THRESHOLD, ...)
    /// under the [handlers] and [handlers.<name>] tables of the settings. An empty or
    /// malformed event is a 400 response naming what is missing.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
}

/// `tradai handlers run` flags.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Handler name (see `tradai handlers list`).
    pub name: String,
    /// The event: a JSON file, or `-` for stdin.
    #[arg(long)]
    pub event: String,
    /// Response shape: dict ({statusCode, body: "<json>"}) or step-functions (body fields at
    /// the top level) [default: the one the handler's trigger expects].
    #[arg(long)]
    pub shape: Option<String>,
}

/// The job database of `tradai up` (jobs and handler state).
fn job_database(settings: &Settings) -> anyhow::Result<Arc<SqliteJobRepository>> {
    let cfg = tradai_server::serve::ServerConfig::from_settings(settings)?;
    std::fs::create_dir_all(&cfg.state_dir).with_context(|| format!("creating {}", cfg.state_dir.display()))?;
    Ok(Arc::new(SqliteJobRepository::open(&cfg.db_path()).with_context(|| format!("opening {}", cfg.db_path().display()))?))
}

/// The back ends this machine offers the handlers. Parts that cannot open (no tracker, a
/// remote data dir) are left out, and the handlers needing them answer 500 naming them.
pub fn local_deps(settings: &Settings) -> anyhow::Result<Deps> {
    let db = job_database(settings)?;
    let mut jobs: Arc<dyn JobRepository> = db.clone();
    let state: Arc<dyn StateRepository> = db;
    let mut deps = Deps::minimal();
    // EXECUTOR_MODE=ecs: backtests start as tasks of the strategy container, whose jobs live
    // in the shared job table.
    let aws = super::aws::AwsEnv::from_env(|k| std::env::var(k).ok())?;
    if aws.ecs.is_some() {
        if let Some(ext) = aws.job_repository()? {
            jobs = ext.repo;
        }
    }
    deps.tasks = Some(aws.task_launcher(Arc::clone(&jobs))?);
    deps.jobs = Some(jobs);
    deps.state = Some(state);
    deps.ml = settings.ml.clone();
    if !settings.tracking.uri.trim().eq_ignore_ascii_case("off") {
        match tradai_tracking::open_from_settings(&settings.tracking, &settings.local_home()) {
            Ok(t) => deps.tracking = Some(t),
            Err(e) => tracing::warn!(error = %e, "no tracker for the handlers"),
        }
    }
    // The trading nodes keep their state beside the job database (`tradai trade`).
    let cfg = tradai_server::serve::ServerConfig::from_settings(settings)?;
    deps.heartbeats = Some(Arc::new(TradingStateHeartbeats { path: cfg.state_dir.join("trading.sqlite") }));
    deps.infra = infra_diff();
    aws_ports(&mut deps);
    match tradai_handlers::candles::StoreCandles::open(&settings.data_dir, &settings.exchange) {
        Ok(c) => deps.candles = Some(Arc::new(c)),
        Err(e) => tracing::warn!(error = %e, "no candle store for the handlers"),
    }
    Ok(deps)
}

/// pulumi-drift-detector's diff: the deployed stacks of `ENVIRONMENT` when AWS is configured
/// (see [`super::infra_drift::StackDrift::from_env`]), else none. An `ENVIRONMENT` no stack is
/// rendered for (`local`) fails that handler alone, naming the setting.
pub fn infra_diff() -> Option<Arc<dyn tradai_handlers::ports::InfraDiff>> {
    #[cfg(feature = "aws")]
    {
        use super::infra_drift::{StackDrift, UnusableStack};
        match StackDrift::from_env(|k| std::env::var(k).ok()) {
            Ok(d) => d.map(|d| Arc::new(d) as Arc<dyn tradai_handlers::ports::InfraDiff>),
            Err(tradai_handlers::HandlerError::Setting { name, value, message }) => {
                tracing::warn!(setting = %name, %value, %message, "pulumi-drift-detector cannot diff the stacks");
                Some(Arc::new(UnusableStack { name, value, message }) as Arc<dyn tradai_handlers::ports::InfraDiff>)
            }
            Err(e) => {
                tracing::warn!(error = %e, "pulumi-drift-detector cannot diff the stacks");
                None
            }
        }
    }
    #[cfg(not(feature = "aws"))]
    None
}

/// The AWS side of the handlers' ports where a region is configured (on Lambda always):
/// EC2's route tables for update-nat-routes.
pub fn aws_ports(deps: &mut Deps) {
    #[cfg(feature = "aws")]
    {
        let region = ["AWS_REGION", "AWS_DEFAULT_REGION"].iter().any(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()));
        if region {
            deps.routes = Some(Arc::new(tradai_aws::Ec2RouteTables::new(tradai_aws::AwsOverrides::default())));
        }
    }
    #[cfg(not(feature = "aws"))]
    let _ = deps;
}

/// The handlers over `deps` with this process's environment and the `[handlers]` settings;
/// `default_metrics` is where metrics go unless `METRICS_SINK` says otherwise.
pub fn build(settings: &Settings, deps: Deps, default_metrics: MetricsSinkKind) -> anyhow::Result<Handlers> {
    build_with(settings, deps, Vars::from_pairs(std::env::vars()), default_metrics)
}

/// [`build`] with the settings `vars`: notifications also to `SNS_ALERTS_TOPIC_ARN`, metrics
/// to `METRICS_SINK` (`cloudwatch`: PutMetricData; `emf`: Embedded Metric Format on stdout).
fn build_with(settings: &Settings, deps: Deps, vars: Vars, default_metrics: MetricsSinkKind) -> anyhow::Result<Handlers> {
    let mut h = Handlers::new(deps, vars, &settings.handlers, Vec::new()).context("invalid [handlers] settings")?;
    let common = h.settings().clone();
    #[cfg(feature = "aws")]
    if let Some(arn) = common.sns_alerts_topic_arn {
        h = h.with_notification_sink(Arc::new(tradai_aws::SnsNotifier::new(arn, tradai_aws::AwsOverrides::default())));
    }
    #[cfg(not(feature = "aws"))]
    if common.sns_alerts_topic_arn.is_some() {
        anyhow::bail!("SNS_ALERTS_TOPIC_ARN is set, but this build has no AWS back end (build tradai-cli with the `aws` feature)");
    }
    match common.metrics_sink.unwrap_or(default_metrics) {
        MetricsSinkKind::None => {}
        MetricsSinkKind::Emf => h = h.with_emf(true),
        #[cfg(feature = "aws")]
        MetricsSinkKind::Cloudwatch => {
            h = h.with_metric_sink(Arc::new(tradai_aws::CloudWatchMetrics::new(tradai_aws::AwsOverrides::default())));
        }
        #[cfg(not(feature = "aws"))]
        MetricsSinkKind::Cloudwatch => {
            anyhow::bail!("METRICS_SINK=cloudwatch needs the AWS back end (build tradai-cli with the `aws` feature)")
        }
    }
    Ok(h)
}

fn read_event(src: &str) -> anyhow::Result<serde_json::Value> {
    let mut text = String::new();
    if src == "-" {
        std::io::stdin().read_to_string(&mut text).context("reading the event from stdin")?;
    } else {
        text = std::fs::read_to_string(src).with_context(|| format!("invalid --event: cannot read '{src}'"))?;
    }
    // An empty or non-JSON event goes to the handler as it is: its 400 names what is missing.
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// Runs `tradai handlers`.
pub fn run(c: HandlersCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    match c {
        HandlersCommand::List { json } => {
            if json {
                print_json(&HANDLERS)?;
            } else {
                let mut t = Table::new(&["name", "trigger", "schedule", "memory>", "timeout>", "what it does"]);
                for h in HANDLERS {
                    t.row(vec![
                        h.name.to_owned(),
                        h.trigger.as_str().to_owned(),
                        h.schedule.unwrap_or("-").to_owned(),
                        format!("{} MB", h.memory_mb),
                        format!("{} s", h.timeout_s),
                        h.description.to_owned(),
                    ]);
                }
                print!("{}", t.render());
            }
            Ok(ExitCode::SUCCESS)
        }
        HandlersCommand::Run(a) => {
            let spec = tradai_handlers::registry::find(&a.name)
                .ok_or_else(|| anyhow::anyhow!("unknown handler '{}' (see `tradai handlers list`)", a.name))?;
            let shape = match &a.shape {
                Some(s) => Shape::parse(s).map_err(|e| anyhow::anyhow!("invalid --shape: {e}"))?,
                None => spec.shape,
            };
            let event = read_event(&a.event)?;
            let handlers = build(settings, local_deps(settings)?, MetricsSinkKind::None)?;
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
            let inv = rt.block_on(handlers.invoke(spec.name, event))?;
            print_json(&inv.response.to_shape(shape))?;
            Ok(if inv.response.is_success() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

/// The scheduler of `tradai up`: the handlers on their schedules, started once the services
/// listen (health-check probes them), shown by backend-api on `GET /api/v1/handlers`.
#[derive(Debug)]
pub struct UpScheduler {
    settings: Settings,
    board: RunBoard,
    schedules: Vec<scheduler::Schedule>,
    handlers: std::sync::OnceLock<Arc<Handlers>>,
}

impl UpScheduler {
    /// Checks the `[handlers]` settings and the schedules before anything starts, so a bad
    /// `every` stops `tradai up` with one line.
    pub fn prepare(settings: &Settings) -> anyhow::Result<Self> {
        let probe = build(settings, Deps::minimal(), MetricsSinkKind::None)?;
        let mut schedules = scheduler::schedules(&probe).context("invalid [handlers] settings")?;
        // Nothing to diff against without a deployed stack (ENVIRONMENT and an AWS region);
        // say so once, not every 6 h.
        if infra_diff().is_none() {
            schedules.retain(|x| x.handler != "pulumi-drift-detector");
            tracing::info!("pulumi-drift-detector not scheduled: set ENVIRONMENT and AWS_REGION to diff the deployed stacks");
        }
        let board = RunBoard::default();
        // Listed on the API from the start, before the first run.
        board.register(&schedules);
        Ok(Self { settings: settings.clone(), board, schedules, handlers: std::sync::OnceLock::new() })
    }

    /// Starts the schedules (inside the services' runtime). By default health-check probes the
    /// services of this process and the proxies call them.
    pub fn start(&self, listening: &[tradai_server::serve::Listening]) {
        let url = |s: tradai_server::serve::ServiceName| {
            listening.iter().find(|l| l.service == s).map(|l| format!("http://127.0.0.1:{}", l.addr.port()))
        };
        let mut vars = Vars::from_pairs(std::env::vars());
        if vars.get("SERVICES").is_none() {
            let services: Vec<String> =
                listening.iter().map(|l| format!("{}=http://127.0.0.1:{}/api/v1/health", l.service.as_str(), l.addr.port())).collect();
            vars = vars.with("SERVICES", services.join(","));
        }
        for (var, s) in [
            ("DATA_COLLECTION_URL", tradai_server::serve::ServiceName::DataCollection),
            ("STRATEGY_SERVICE_URL", tradai_server::serve::ServiceName::StrategyService),
        ] {
            if let (None, Some(u)) = (vars.get(var), url(s)) {
                vars = vars.with(var, u);
            }
        }
        let built = local_deps(&self.settings).and_then(|deps| build_with(&self.settings, deps, vars, MetricsSinkKind::None));
        match built {
            Ok(h) => {
                let h = Arc::new(h);
                let s = self.schedules.clone();
                tracing::info!(handlers = ?s.iter().map(|x| format!("{} every {:?}", x.handler, x.every)).collect::<Vec<_>>(), "handler scheduler on");
                let _ = self.handlers.set(Arc::clone(&h));
                tokio::spawn(scheduler::run(h, s, self.board.clone(), std::future::pending()));
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), "handler scheduler not started"),
        }
    }
}

impl tradai_server::handlers_api::HandlerBoard for UpScheduler {
    fn runs(&self) -> Vec<serde_json::Value> {
        self.board.snapshot().iter().filter_map(|r| serde_json::to_value(r).ok()).collect()
    }

    fn prometheus(&self) -> String {
        self.handlers.get().map(|h| h.metrics().prometheus()).unwrap_or_default()
    }
}
