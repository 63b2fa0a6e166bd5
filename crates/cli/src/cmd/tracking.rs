//! `tradai runs ...` and `tradai models ...`: the experiment tracker and the model registry
//! from the terminal, on whatever back end the settings name (the embedded store under the data
//! dir by default, or an MLflow server via `tracking.uri` / `MLFLOW_TRACKING_URI`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;
use tradai_engine::StrategyRegistry;
use tradai_settings::Settings;
use tradai_tracking::strategy::{load_strategy, register_strategy, strategy_tags, StrategyRegistration, VersionSelector};
use tradai_tracking::{Run, RunQuery, Tracking};

use crate::output::{print_json, Table};

/// `tradai runs ...`
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Runs of one experiment (or of every experiment), newest first or as ordered.
    ///
    /// Filter and order as in MLflow: --filter "metrics.profit_total > 0" --order-by
    /// "metrics.sharpe DESC".
    #[command(after_help = "Example:\n  tradai runs list --experiment backtests/EmaCross --max 10")]
    List {
        /// Experiment name (default: every experiment).
        #[arg(long, short)]
        experiment: Option<String>,
        /// MLflow filter, e.g. `metrics.sharpe > 1 and params.strategy = 'EmaCross'`.
        #[arg(long, default_value = "")]
        filter: String,
        /// Order, e.g. `metrics.sharpe DESC` (repeatable).
        #[arg(long = "order-by")]
        order_by: Vec<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 50)]
        max: usize,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// One run: status, params, metrics, tags and artifacts.
    #[command(after_help = "Example:\n  tradai runs show 6f1c0e2a9b8d4c3e --json")]
    Show {
        /// Run id.
        run_id: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Runs side by side: every metric and the params that differ.
    #[command(after_help = "Example:\n  tradai runs compare 6f1c0e2a9b8d4c3e 0a9b8c7d6e5f4a3b")]
    Compare {
        /// Two or more run ids.
        #[arg(required = true, num_args = 2..)]
        run_ids: Vec<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Experiments with their ids.
    #[command(after_help = "Example:\n  tradai runs experiments --json")]
    Experiments {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `tradai models ...`
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Registered models (strategies and ML models) with their champion.
    #[command(after_help = "Example:\n  tradai models list --json")]
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// A model's versions, stages, aliases and production history.
    #[command(after_help = "Example:\n  tradai models show EmaCross")]
    Show {
        /// Registered model name.
        name: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Registers a new version of a strategy with its config and metadata tags.
    ///
    /// The config (what `tradai backtest --strategy-config` and `tradai hyperopt
    /// --best-config` use) is stored as an artifact of a registration run; the version's tags
    /// carry timeframe, pairs, warm-up and the config path, so the strategy service can load
    /// the Production config from the tracker alone.
    #[command(after_help = "Example:\n  tradai models register EmaCross --strategy-config best.json")]
    Register {
        /// Strategy name (a built-in strategy; the registered model gets the same name).
        name: String,
        /// Strategy config JSON file (default: `{}` — the strategy's defaults).
        #[arg(long = "strategy-config", value_name = "FILE")]
        strategy_config: Option<PathBuf>,
        /// Pairs it trades, comma-separated.
        #[arg(long, value_delimiter = ',')]
        pairs: Vec<String>,
        /// Timeframe (default: the strategy's).
        #[arg(long)]
        timeframe: Option<String>,
        /// Version description.
        #[arg(long, default_value = "")]
        description: String,
        /// Also give the new version this alias (e.g. `challenger`).
        #[arg(long)]
        alias: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Puts a version into Production: archives the previous one and points `champion` at it.
    #[command(after_help = "Example:\n  tradai models promote EmaCross 2")]
    Promote {
        /// Registered model name.
        name: String,
        /// Version number.
        #[arg(id = "model_version", value_name = "VERSION")]
        version: u64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Restores the previous Production version (one step back per call).
    #[command(after_help = "Example:\n  tradai models rollback EmaCross")]
    Rollback {
        /// Registered model name.
        name: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Prints the config of a strategy version (default: the Production / champion one).
    #[command(after_help = "Example:\n  tradai models config EmaCross --model-version challenger")]
    Config {
        /// Registered model name.
        name: String,
        /// `production`, a version number, or an alias such as `challenger`.
        #[arg(long = "model-version", id = "model_version", value_name = "VERSION", default_value = "production")]
        version: String,
    },
}

fn open(settings: &Settings) -> anyhow::Result<Tracking> {
    tradai_tracking::open_from_settings(&settings.tracking, &settings.local_home()).context("opening the tracker")
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

fn fmt_time(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis).map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

fn fmt_metric(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.abs() >= 1e6 || (v != 0.0 && v.abs() < 1e-4) {
        format!("{v:.4e}")
    } else {
        format!("{v:.6}").trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// `tradai runs ...`
pub fn run_runs(cmd: RunsCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let t = open(settings)?;
    let rt = runtime()?;
    rt.block_on(async move {
        match cmd {
            RunsCommand::Experiments { json } => {
                let exps = t.tracker.list_experiments().await?;
                if json {
                    print_json(&exps)?;
                } else {
                    let mut table = Table::new(&["id>", "name", "created"]);
                    for e in &exps {
                        table.row(vec![e.experiment_id.clone(), e.name.clone(), fmt_time(e.creation_time)]);
                    }
                    print!("{}", table.render());
                }
            }
            RunsCommand::List { experiment, filter, order_by, max, json } => {
                let query = RunQuery { experiment_ids: Vec::new(), filter, order_by, max_results: max };
                let runs = t.tracker.search_runs_by_name(experiment.as_deref(), query).await.map_err(|e| {
                    let hint = if e.is_not_found() { " (see `tradai runs experiments`)" } else { "" };
                    anyhow::anyhow!("{e}{hint}")
                })?;
                if json {
                    print_json(&runs)?;
                } else {
                    print!("{}", runs_table(&runs).render());
                }
            }
            RunsCommand::Show { run_id, json } => {
                let run = t.tracker.get_run(&run_id).await?;
                let artifacts = t.tracker.list_artifacts(&run_id, None).await.unwrap_or_default();
                if json {
                    print_json(&serde_json::json!({"run": run, "artifacts": artifacts}))?;
                } else {
                    let i = &run.info;
                    println!("run         {}  ({})", i.run_id, i.run_name);
                    println!("experiment  {}", i.experiment_id);
                    println!("status      {}", i.status);
                    println!("started     {}   ended {}", fmt_time(i.start_time), fmt_time(i.end_time));
                    println!("artifacts   {}", i.artifact_uri);
                    let mut p = Table::new(&["param", "value"]);
                    for (k, v) in &run.params {
                        p.row(vec![k.clone(), v.clone()]);
                    }
                    println!("\n{}", p.render());
                    let mut m = Table::new(&["metric", "value>"]);
                    for (k, v) in &run.metrics {
                        m.row(vec![k.clone(), fmt_metric(v.value)]);
                    }
                    println!("{}", m.render());
                    let mut tg = Table::new(&["tag", "value"]);
                    for (k, v) in run.tags.iter().filter(|(k, _)| !k.starts_with("mlflow.")) {
                        tg.row(vec![k.clone(), v.clone()]);
                    }
                    println!("{}", tg.render());
                    for a in &artifacts {
                        println!("  {}{}", a.path, if a.is_dir { "/" } else { "" });
                    }
                }
            }
            RunsCommand::Compare { run_ids, json } => {
                let mut runs = Vec::new();
                for id in &run_ids {
                    runs.push(t.tracker.get_run(id).await?);
                }
                let metric_keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.metrics.keys()).collect();
                let param_keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
                let differing: Vec<&String> =
                    param_keys.into_iter().filter(|k| runs.iter().map(|r| r.params.get(*k)).collect::<BTreeSet<_>>().len() > 1).collect();
                if json {
                    let metrics: BTreeMap<&String, Vec<Option<f64>>> =
                        metric_keys.iter().map(|k| (*k, runs.iter().map(|r| r.metrics.get(*k).map(|m| m.value)).collect())).collect();
                    let params: BTreeMap<&String, Vec<Option<&String>>> =
                        differing.iter().map(|k| (*k, runs.iter().map(|r| r.params.get(*k)).collect())).collect();
                    print_json(&serde_json::json!({"run_ids": run_ids, "metrics": metrics, "params_differing": params}))?;
                    return Ok(ExitCode::SUCCESS);
                }
                let mut header = vec!["".to_owned()];
                header.extend(runs.iter().map(|r| format!("{}>", short(&r.info.run_id))));
                let header: Vec<&str> = header.iter().map(String::as_str).collect();
                let mut table = Table::new(&header);
                for k in &differing {
                    let mut row = vec![format!("param {k}")];
                    row.extend(runs.iter().map(|r| r.params.get(*k).cloned().unwrap_or_else(|| "-".into())));
                    table.row(row);
                }
                for k in &metric_keys {
                    let mut row = vec![(*k).clone()];
                    row.extend(runs.iter().map(|r| r.metrics.get(*k).map_or_else(|| "-".into(), |m| fmt_metric(m.value))));
                    table.row(row);
                }
                print!("{}", table.render());
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn runs_table(runs: &[Run]) -> Table {
    let mut table = Table::new(&["run", "name", "status", "started", "profit_total>", "sharpe>", "trades>"]);
    for r in runs {
        let m = |k: &str| r.metrics.get(k).map_or_else(|| "-".into(), |m| fmt_metric(m.value));
        table.row(vec![
            r.info.run_id.clone(),
            r.info.run_name.clone(),
            r.info.status.to_string(),
            fmt_time(r.info.start_time),
            m("profit_total"),
            m("sharpe"),
            m("total_trades"),
        ]);
    }
    table
}

/// `tradai models ...`
pub fn run_models(cmd: ModelsCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let t = open(settings)?;
    let rt = runtime()?;
    rt.block_on(async move {
        match cmd {
            ModelsCommand::List { json } => {
                let models = t.registry.list_registered_models().await?;
                if json {
                    print_json(&models)?;
                } else {
                    let mut table = Table::new(&["model", "champion>", "challenger>", "updated", "description"]);
                    for m in &models {
                        let alias = |a: &str| m.aliases.get(a).map_or_else(|| "-".into(), |v| format!("v{v}"));
                        table.row(vec![
                            m.name.clone(),
                            alias(tradai_tracking::ALIAS_CHAMPION),
                            alias(tradai_tracking::ALIAS_CHALLENGER),
                            fmt_time(m.last_updated_timestamp),
                            m.description.clone(),
                        ]);
                    }
                    print!("{}", table.render());
                }
            }
            ModelsCommand::Show { name, json } => {
                let model = t.registry.get_registered_model(&name).await?;
                let versions = t.registry.list_model_versions(&name).await?;
                let history = t.registry.production_history(&name).await?;
                if json {
                    print_json(&serde_json::json!({"model": model, "versions": versions, "production_history": history}))?;
                } else {
                    println!("{}  {}", model.name, model.description);
                    let mut table = Table::new(&["version>", "stage", "aliases", "created", "run", "tags"]);
                    for v in &versions {
                        let tags = strategy_tags(v).iter().map(|(k, x)| format!("{k}={x}")).collect::<Vec<_>>().join(" ");
                        table.row(vec![
                            v.version.to_string(),
                            v.current_stage.to_string(),
                            v.aliases.join(","),
                            fmt_time(v.creation_timestamp),
                            v.run_id.clone().unwrap_or_default(),
                            tags,
                        ]);
                    }
                    print!("{}", table.render());
                    if !history.is_empty() {
                        let h = history.iter().map(|e| format!("v{} ({})", e.version, fmt_time(Some(e.at)))).collect::<Vec<_>>();
                        println!("production history: {}", h.join(" -> "));
                    }
                }
            }
            ModelsCommand::Register { name, strategy_config, pairs, timeframe, description, alias, json } => {
                let strategies = StrategyRegistry::builtin();
                let strategy = strategies.get(&name).with_context(|| format!("cannot register '{name}'"))?;
                let s = strategy.settings();
                let config = match &strategy_config {
                    Some(path) => {
                        let text =
                            std::fs::read_to_string(path).with_context(|| format!("reading --strategy-config {}", path.display()))?;
                        let v: serde_json::Value =
                            serde_json::from_str(&text).with_context(|| format!("--strategy-config {} is not JSON", path.display()))?;
                        if !v.is_object() {
                            bail!("--strategy-config {} must hold a JSON object", path.display());
                        }
                        v
                    }
                    None => serde_json::json!({}),
                };
                let timeframe = match timeframe {
                    Some(tf) => tf.parse::<tradai_core::Timeframe>().map_err(anyhow::Error::msg)?.to_string(),
                    None => s.timeframe.to_string(),
                };
                for p in &pairs {
                    p.parse::<tradai_core::Pair>().map_err(anyhow::Error::msg)?;
                }
                let reg = StrategyRegistration {
                    name: name.clone(),
                    timeframe,
                    pairs,
                    warmup_candles: s.startup_candle_count as u64,
                    config,
                    description,
                    tags: BTreeMap::new(),
                };
                let v = register_strategy(t.tracker.as_ref(), t.registry.as_ref(), &reg).await?;
                if let Some(a) = &alias {
                    t.registry.set_alias(&name, a, v.version).await?;
                }
                let v = t.registry.get_model_version(&name, v.version).await?;
                if json {
                    print_json(&v)?;
                } else {
                    println!("registered {} version {} (run {})", v.name, v.version, v.run_id.clone().unwrap_or_default());
                }
            }
            ModelsCommand::Promote { name, version, json } => {
                let v = t.registry.promote(&name, version).await?;
                if json {
                    print_json(&v)?;
                } else {
                    println!("{} version {} is now Production (champion)", v.name, v.version);
                }
            }
            ModelsCommand::Rollback { name, json } => {
                let v = t.registry.rollback(&name).await?;
                if json {
                    print_json(&v)?;
                } else {
                    println!("{} rolled back: version {} is Production (champion) again", v.name, v.version);
                }
            }
            ModelsCommand::Config { name, version } => {
                let which: VersionSelector = version.parse()?;
                let loaded = load_strategy(t.tracker.as_ref(), t.registry.as_ref(), &name, &which).await?;
                print_json(&loaded.config)?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
