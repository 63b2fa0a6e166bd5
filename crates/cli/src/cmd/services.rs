//! `tradai up`, `tradai serve <name>`, `tradai jobs ...`, `tradai keys ...`: the services and
//! their clients. The services live in `tradai-server`; this module turns flags into its
//! config and its results into tables or JSON.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use tradai_server::clients::{BackendClient, SERVICE_RETRY};
use tradai_server::dto::{BacktestStatus, BacktestSubmission, StakeAmountInput};
use tradai_server::serve::{Listening, ServerConfig, ServiceName};
use tradai_settings::Settings;

use crate::flags::{parse_pairs, RunFlags};
use crate::output::{print_json, Table, Ui};

/// Help examples of `tradai up`.
pub const UP_EXAMPLES: &str = "Example (every service on 127.0.0.1, the backend on port 8000):
  tradai up --backend-port 8000 --workers 2";
/// Help examples of `tradai serve`.
pub const SERVE_EXAMPLES: &str = "Example:
  tradai serve data-collection --data-collection-port 8002";

/// `--executor` values: how the services run backtest and hyperopt jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorArg {
    /// A worker pool in the service process.
    Local,
    /// Each job runs `tradai backtest` / `tradai hyperopt` as a child process.
    Subprocess,
}

/// `tradai serve` service names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServiceArg {
    /// The public API: backtests, hyperopt, jobs, runs (port 8000).
    #[value(name = "backend-api", alias = "backend")]
    BackendApi,
    /// Candle sync jobs and data checks (port 8002).
    DataCollection,
    /// Strategies, validation and layered configs (port 8003).
    StrategyService,
}

/// Flags shared by `up` and `serve` (they override `server.*` settings).
#[derive(Debug, Args)]
pub struct ServiceFlags {
    /// Address to bind (127.0.0.1 is forced while no API key exists).
    #[arg(long)]
    pub host: Option<String>,
    /// backend-api port (0: any free port).
    #[arg(long)]
    pub backend_port: Option<u16>,
    /// data-collection port.
    #[arg(long)]
    pub data_collection_port: Option<u16>,
    /// strategy-service port.
    #[arg(long)]
    pub strategy_service_port: Option<u16>,
    /// Backtests run at once by the local executor.
    #[arg(long)]
    pub workers: Option<usize>,
    /// How jobs run [default: the server.executor setting, local].
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorArg>,
    /// Start even though the job database is missing or empty while the state directory shows
    /// the platform ran before (every job and API key of the lost database is gone).
    #[arg(long)]
    pub init: bool,
}

impl ServiceFlags {
    fn apply(&self, s: &Settings) -> Settings {
        let mut s = s.clone();
        if let Some(h) = &self.host {
            s.server.host.clone_from(h);
        }
        if let Some(p) = self.backend_port {
            s.server.backend_port = p;
        }
        if let Some(p) = self.data_collection_port {
            s.server.data_collection_port = p;
        }
        if let Some(p) = self.strategy_service_port {
            s.server.strategy_service_port = p;
        }
        if let Some(w) = self.workers {
            s.server.workers = w;
        }
        if let Some(e) = self.executor {
            s.server.executor = match e {
                ExecutorArg::Local => "local",
                ExecutorArg::Subprocess => "subprocess",
            }
            .to_owned();
        }
        s
    }
}

/// `tradai up` flags.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Service settings.
    #[command(flatten)]
    pub flags: ServiceFlags,
}

/// `tradai serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The service to run.
    #[arg(value_enum)]
    pub name: ServiceArg,
    /// Service settings.
    #[command(flatten)]
    pub flags: ServiceFlags,
}

/// Where the backend is and how to authenticate.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// backend-api base URL.
    #[arg(long, env = "TRADAI_API_URL", default_value = "http://127.0.0.1:8000")]
    pub api: String,
    /// API key (sent as a bearer token).
    #[arg(long, env = "TRADAI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `tradai jobs ...`
#[derive(Debug, Subcommand)]
// Parsed once per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum JobsCommand {
    /// Submit a backtest job (run settings as for `tradai backtest`, flags over the [run] table).
    #[command(after_help = "Example (against `tradai up` on this machine):
  tradai jobs submit -s EmaCross -p ETH/BTC LTC/BTC --stake-amount 0.05 --wait")]
    Submit {
        /// Backend and output.
        #[command(flatten)]
        api: ApiArgs,
        /// Strategy, market, window and money: the flags of `tradai backtest`.
        #[command(flatten)]
        run: RunFlags,
        /// Experiment name.
        #[arg(long)]
        experiment: Option<String>,
        /// Strategy file on the server (`.toml` declarative or `.py` Freqtrade), relative to its
        /// `server.strategy_dir`; --strategy names its strategy.
        #[arg(long, value_name = "NAME")]
        strategy_file: Option<String>,
        /// Idempotency key (a random one is used when omitted, so retries never duplicate).
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Wait until the job finishes, printing progress.
        #[arg(long)]
        wait: bool,
    },
    /// Show one job.
    #[command(after_help = "Example:\n  tradai jobs status 0b7f6c1e-5a4e-4f3e-9d7a-2f1c3b4a5d6e --json")]
    Status {
        /// Backend and output.
        #[command(flatten)]
        api: ApiArgs,
        /// Job id.
        id: String,
    },
    /// List jobs, newest first.
    #[command(after_help = "Example:\n  tradai jobs list --status COMPLETED --limit 5")]
    List {
        /// Backend and output.
        #[command(flatten)]
        api: ApiArgs,
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// Only this strategy.
        #[arg(long)]
        strategy: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Jobs to skip.
        #[arg(long, default_value_t = 0)]
        offset: u32,
    },
    /// Cancel a job.
    #[command(after_help = "Example:\n  tradai jobs cancel 0b7f6c1e-5a4e-4f3e-9d7a-2f1c3b4a5d6e")]
    Cancel {
        /// Backend and output.
        #[command(flatten)]
        api: ApiArgs,
        /// Job id.
        id: String,
    },
}

/// `tradai keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key; it is printed once and stored only as a salted hash.
    #[command(after_help = "Example:\n  tradai keys create --name ci")]
    Create {
        /// A label (who or what uses the key).
        #[arg(long, default_value = "default")]
        name: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    #[command(after_help = "Example:\n  tradai keys list --json")]
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id.
    #[command(after_help = "Example:\n  tradai keys revoke 3f9a1c2b")]
    Revoke {
        /// Key id (the part after `tdk_`).
        id: String,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn print_listening(l: &[Listening]) {
    // One line per service on stdout, so scripts (and tests) can read the bound ports.
    let mut out = std::io::stdout().lock();
    for x in l {
        let _ = writeln!(out, "{}: http://{}", x.service.as_str(), x.addr);
    }
    let _ = out.flush();
}

fn serve(services: &[ServiceName], flags: &ServiceFlags, settings: &Settings) -> anyhow::Result<ExitCode> {
    // The seeds' AWS variables sit between settings and flags (`--executor` still wins).
    let aws = super::aws::AwsEnv::from_env(|k| std::env::var(k).ok())?;
    let mut cfg = ServerConfig::from_settings(&flags.apply(&aws.apply(settings)))?;
    cfg.init = flags.init;
    cfg.job_repository = aws.job_repository()?;
    let jobs = cfg.job_repository.as_ref().map(|e| Arc::clone(&e.repo));
    cfg.remote_executor = aws.remote_executor(&mut cfg.executor.mode, jobs)?;
    cfg.results_mirror = super::results_bucket::ResultsBucket::from_settings(settings)?;
    // `tradai up` (every service) also runs the handlers on their schedules.
    let scheduler = if services.len() == 3 { Some(Arc::new(super::handlers::UpScheduler::prepare(settings)?)) } else { None };
    cfg.handlers = scheduler.clone().map(|s| s as Arc<dyn tradai_server::handlers_api::HandlerBoard>);
    let on_listening = |l: &[Listening]| {
        print_listening(l);
        if let Some(s) = &scheduler {
            s.start(l);
        }
    };
    runtime()?.block_on(tradai_server::serve::run(cfg, services, on_listening, tradai_server::serve::shutdown_signal()))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `tradai up`.
pub fn run_up(a: UpArgs, s: &Settings) -> anyhow::Result<ExitCode> {
    serve(&[ServiceName::DataCollection, ServiceName::StrategyService, ServiceName::Backend], &a.flags, s)
}

/// Runs `tradai serve`.
pub fn run_serve(a: ServeArgs, s: &Settings) -> anyhow::Result<ExitCode> {
    let name = match a.name {
        ServiceArg::BackendApi => ServiceName::Backend,
        ServiceArg::DataCollection => ServiceName::DataCollection,
        ServiceArg::StrategyService => ServiceName::StrategyService,
    };
    serve(&[name], &a.flags, s)
}

fn client(api: &ApiArgs) -> BackendClient {
    BackendClient::new(&api.api, api.api_key.clone(), SERVICE_RETRY)
}

fn ts(s: Option<&str>) -> String {
    s.map(|t| t.get(..19).unwrap_or(t).replace('T', " ")).unwrap_or_default()
}

fn print_status(b: &BacktestStatus) {
    let j = &b.job;
    let mut t = Table::new(&["field", "value"]);
    let mut row = |k: &str, v: String| t.row(vec![k.to_owned(), v]);
    row("job_id", j.job_id.clone());
    row("status", j.status.clone());
    row("progress", format!("{:.0}%", j.progress * 100.0));
    row("strategy", b.strategy.clone().unwrap_or_default());
    row("created", ts(Some(&j.created_at)));
    row("started", ts(j.started_at.as_deref()));
    row("finished", ts(j.finished_at.as_deref()));
    row("attempts", j.attempts.to_string());
    if let Some(r) = &j.result {
        row("trades", r.get("trade_count").map(ToString::to_string).unwrap_or_default());
        if let Some(p) = r.pointer("/summary/profit_total_abs") {
            row("profit_total_abs", p.to_string());
        }
    }
    if let Some(e) = &j.error {
        row("error", format!("{}: {}{}", e.code, e.message, if e.retryable { " (retryable)" } else { "" }));
    }
    print!("{}", t.render());
}

/// Runs `tradai jobs`.
pub fn run_jobs(c: JobsCommand, settings: &Settings, ui: Ui) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    match c {
        JobsCommand::Submit { api, run, experiment, strategy_file, idempotency_key, wait } => {
            // The same layers as a local run (flags over the settings' [run] table); the
            // backend checks the fields and names a bad one.
            let r = run.layered(settings)?;
            let pairs = parse_pairs(&r.pairs.clone().unwrap_or_default())?.iter().map(ToString::to_string).collect();
            let body = BacktestSubmission {
                strategy: Some(r.strategy.ok_or_else(|| anyhow::anyhow!("invalid --strategy: a strategy name is required"))?),
                exchange: r.exchange,
                pairs: Some(pairs),
                timeframe: r.timeframe,
                timerange: r.timerange,
                stake_amount: r.stake_amount.map(|s| match s {
                    tradai_core::StakeAmount::Fixed(x) => StakeAmountInput::Amount(x),
                    tradai_core::StakeAmount::Unlimited => StakeAmountInput::Text("unlimited".into()),
                }),
                dry_run_wallet: r.dry_run_wallet,
                max_open_trades: r.max_open_trades,
                fee: r.fee,
                trading_mode: r.trading_mode,
                leverage: r.leverage,
                experiment_name: experiment,
                strategy_file,
                ..BacktestSubmission::default()
            };
            let key = idempotency_key.unwrap_or_else(|| format!("cli-{}", uuid_like()));
            let c = client(&api);
            let r = rt.block_on(c.submit(&body, Some(&key))).context("submitting the backtest")?;
            if !wait {
                if api.json {
                    print_json(&r)?;
                } else {
                    println!("{} {} ({})", r.job_id, r.status, if r.created { "accepted" } else { "already submitted with this key" });
                }
                return Ok(ExitCode::SUCCESS);
            }
            // A bar only on a terminal (and not with --json or --quiet): redirected output gets
            // no carriage returns.
            let pb = crate::output::progress(100, "job", ui.quiet || api.json);
            let done = rt.block_on(async {
                loop {
                    let j = c.status(&r.job_id).await?;
                    if matches!(j.job.status.as_str(), "COMPLETED" | "FAILED" | "CANCELLED") {
                        return Ok::<_, tradai_server::clients::ClientError>(j);
                    }
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    pb.set_position((j.job.progress * 100.0).round() as u64);
                    pb.set_message(j.job.status.clone());
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            })?;
            pb.finish_and_clear();
            if api.json {
                print_json(&done)?;
            } else {
                print_status(&done);
            }
            Ok(if done.job.status == "COMPLETED" { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        JobsCommand::Status { api, id } => {
            let j = rt.block_on(client(&api).status(&id))?;
            if api.json {
                print_json(&j)?;
            } else {
                print_status(&j);
            }
            Ok(ExitCode::SUCCESS)
        }
        JobsCommand::List { api, status, strategy, limit, offset } => {
            let page = rt.block_on(client(&api).list(status.as_deref(), strategy.as_deref(), limit, offset))?;
            if api.json {
                print_json(&page)?;
            } else {
                let mut t = Table::new(&["job_id", "status", "progress>", "strategy", "created", "finished", "error"]);
                for j in &page.items {
                    t.row(vec![
                        j.job.job_id.clone(),
                        j.job.status.clone(),
                        format!("{:.0}%", j.job.progress * 100.0),
                        j.strategy.clone().unwrap_or_default(),
                        ts(Some(&j.job.created_at)),
                        ts(j.job.finished_at.as_deref()),
                        j.job.error.as_ref().map(|e| e.code.clone()).unwrap_or_default(),
                    ]);
                }
                print!("{}", t.render());
                println!("{} of {} job(s)", page.items.len(), page.page.total);
            }
            Ok(ExitCode::SUCCESS)
        }
        JobsCommand::Cancel { api, id } => {
            let j = rt.block_on(client(&api).cancel(&id))?;
            if api.json {
                print_json(&j)?;
            } else {
                println!("{} {}{}", j.job.job_id, j.job.status, if j.job.cancel_requested { " (cancel requested)" } else { "" });
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn uuid_like() -> String {
    // Unique enough for an idempotency key: time and pid, no extra dependency.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{now:x}-{:x}", std::process::id())
}

fn key_store(s: &Settings) -> anyhow::Result<tradai_server::auth::ApiKeyStore> {
    let cfg = ServerConfig::from_settings(s)?;
    Ok(tradai_server::auth::ApiKeyStore::open(&cfg.db_path())?)
}

/// Runs `tradai keys`.
pub fn run_keys(c: KeysCommand, s: &Settings) -> anyhow::Result<ExitCode> {
    let store = key_store(s)?;
    match c {
        KeysCommand::Create { name, json } => {
            let (info, key) = store.create(&name)?;
            if json {
                let mut m = BTreeMap::new();
                m.insert("id", serde_json::json!(info.id));
                m.insert("name", serde_json::json!(info.name));
                m.insert("key", serde_json::json!(key));
                print_json(&m)?;
            } else {
                println!("{key}");
                eprintln!("API key '{}' (id {}) created. It is shown only now; store it safely.", info.name, info.id);
                eprintln!("Restart or keep running the services: state-changing routes now need 'Authorization: Bearer <key>'.");
            }
        }
        KeysCommand::List { json } => {
            let keys = store.list()?;
            if json {
                print_json(&keys)?;
            } else {
                let mut t = Table::new(&["id", "name", "created", "revoked"]);
                let d = |ms: i64| {
                    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
                        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default()
                };
                for k in keys {
                    t.row(vec![k.id, k.name, d(k.created_at), k.revoked_at.map(d).unwrap_or_default()]);
                }
                print!("{}", t.render());
            }
        }
        KeysCommand::Revoke { id } => {
            store.revoke(&id)?;
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
