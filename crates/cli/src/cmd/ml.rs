//! `tradai ml ...`: the ML model lifecycle from the terminal — train and register, check drift
//! and retraining need, compare champion and challenger out of sample, retrain, roll back —
//! and the `--model` glue that lets `tradai backtest` / `tradai hyperopt` trade a registered
//! model as the `MlSignal` strategy.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use tradai_core::{Candles, ExchangeId, Instrument, Pair, TimeRange};
use tradai_engine::{BacktestConfig, PairData, ParamValues, StrategyRegistry};
use tradai_ml::registry::{load_model, LoadedModel};
use tradai_ml::{
    check_retraining_needed, monitor_drift, parse_features, rollback_model, train, Algo, DriftCheck, DriftDetector, EngineEvaluator,
    LabelSpec, LogNotifier, MlSignal, ModelArtifact, ModelComparator, OosEvaluator, RetrainPolicy, RetrainRequest, RetrainSpec, StepRecord,
    TrainConfig, DEFAULT_FEATURES, ML_SIGNAL,
};
use tradai_settings::Settings;
use tradai_store::{Columns, SeriesKey};
use tradai_tracking::strategy::VersionSelector;
use tradai_tracking::Tracking;

use crate::cmd::data::open_store;
use crate::flags::{parse_pairs, parse_timeframe};
use crate::output::{print_json, progress, Table};

/// Where the candles come from.
#[derive(Debug, Clone, Args)]
pub struct MarketFlags {
    /// Exchange whose stored candles to use [default: the `exchange` setting, binance].
    #[arg(long)]
    pub exchange: Option<String>,
    /// Pairs, separated by commas or spaces.
    #[arg(short = 'p', long, value_delimiter = ',', num_args = 1.., required = true)]
    pub pairs: Vec<String>,
    /// Candle timeframe (the model's when it has one).
    #[arg(short = 'i', long)]
    pub timeframe: Option<String>,
    /// Window as YYYYMMDD-YYYYMMDD, as backtest's (the candle opening at the end date's 00:00
    /// UTC is the last one); all stored candles when omitted.
    #[arg(short = 't', long, allow_hyphen_values = true)]
    pub timerange: Option<String>,
}

/// How to train.
#[derive(Debug, Clone, Args)]
pub struct TrainFlags {
    /// Learner: logistic (L2 logistic regression) or gbt (gradient-boosted trees).
    #[arg(long)]
    pub algo: Option<String>,
    /// Features, comma-separated (ret_N, vol_N, rsi_N, ema_F_S, volz_N, range_N).
    #[arg(long)]
    pub features: Option<String>,
    /// Label horizon in candles: the model predicts whether the close N candles ahead is higher.
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Walk-forward folds.
    #[arg(long, default_value_t = 4)]
    pub folds: usize,
    /// Seed (tree row sampling, permutation importance).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Help examples (on the sample candles of ./scripts/quickstart.sh: binance, 5m, January 2018).
const TRAIN_EXAMPLES: &str = "Examples (on the sample candles of ./scripts/quickstart.sh):
  tradai ml train -m momo -p ETH/BTC,LTC/BTC -i 5m --horizon 6 --promote
  tradai ml train -m momo -p ETH/BTC -i 5m -t 20180101-20180120 --algo gbt --json";
const DRIFT_EXAMPLES: &str = "Examples (after `tradai ml train -m momo ... --promote`):
  tradai ml drift -m momo -p ETH/BTC,LTC/BTC -t 20180120- --json
  tradai ml drift -m momo@1 -p ETH/BTC,LTC/BTC --record";
const CHECK_EXAMPLES: &str = "Example (after `tradai ml train -m momo ... --promote`):
  tradai ml check -m momo -p ETH/BTC,LTC/BTC -t 20180120-";
const COMPARE_EXAMPLES: &str = "Example (after a retrain left version 2 as challenger):
  tradai ml compare -m momo --challenger 2 -p ETH/BTC,LTC/BTC -t 20180125-";
const RETRAIN_EXAMPLES: &str = "Example (after `tradai ml train -m momo ... --promote`):
  tradai ml retrain -m momo -p ETH/BTC,LTC/BTC -T 20180105-20180124 -t 20180125-";
const RETRAIN_REQUEST_EXAMPLES: &str = "Example (retrain.json holding a body of POST /api/v1/retraining, such as
  {\"model\": \"momo\", \"pairs\": [\"ETH/BTC\", \"LTC/BTC\"], \"train_timerange\": \"20180105-20180124\", \"timerange\": \"20180125-\"}):
  tradai ml retrain-request retrain.json --json";
const ROLLBACK_EXAMPLES: &str = "Example (after a promotion):
  tradai ml rollback -m momo --reason drawdown";

/// `tradai ml ...`
#[derive(Debug, Subcommand)]
pub enum MlCommand {
    /// Train a model on stored candles, score it walk-forward and register it as a new version.
    #[command(after_help = TRAIN_EXAMPLES)]
    Train {
        /// Registered model name.
        #[arg(short = 'm', long)]
        model: String,
        #[command(flatten)]
        market: MarketFlags,
        #[command(flatten)]
        train: TrainFlags,
        /// Make the new version the champion (and Production) right away.
        #[arg(long)]
        promote: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Compare recent candles with a model's training data: PSI and KS per feature and on its
    /// predictions. Exits 1 when drift is found, so a scheduler can act on it.
    #[command(after_help = DRIFT_EXAMPLES)]
    Drift {
        /// Model as NAME (its champion) or NAME@VERSION.
        #[arg(short = 'm', long)]
        model: String,
        #[command(flatten)]
        market: MarketFlags,
        /// Record the scores as a run of experiment `drift/<model>` and log a notification on
        /// drift (what a scheduled drift monitor runs).
        #[arg(long)]
        record: bool,
        /// Machine-readable output (`has_drift`, `drifted_features` and every score).
        #[arg(long)]
        json: bool,
    },
    /// Whether a model is due for retraining: drift, age and AUC on recent candles.
    #[command(after_help = CHECK_EXAMPLES)]
    Check {
        /// Model as NAME or NAME@VERSION.
        #[arg(short = 'm', long)]
        model: String,
        #[command(flatten)]
        market: MarketFlags,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Backtest champion and challenger on the same out-of-sample window and say whether to
    /// promote (PROMOTE / KEEP / INCONCLUSIVE, with a bootstrap confidence).
    #[command(after_help = COMPARE_EXAMPLES)]
    Compare {
        /// Registered model name.
        #[arg(short = 'm', long)]
        model: String,
        /// Champion version (production, a number or an alias).
        #[arg(long, default_value = "production")]
        champion: String,
        /// Challenger version (a number or an alias).
        #[arg(long, default_value = "challenger")]
        challenger: String,
        #[command(flatten)]
        market: MarketFlags,
        #[command(flatten)]
        money: MoneyFlags,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Retrain: train a challenger on --train-timerange, backtest it and the champion on
    /// --timerange, promote it or keep the champion, record and log the decision.
    #[command(after_help = RETRAIN_EXAMPLES)]
    Retrain {
        /// Registered model name.
        #[arg(short = 'm', long)]
        model: String,
        #[command(flatten)]
        market: MarketFlags,
        /// Training window (YYYYMMDD-YYYYMMDD); must end before --timerange starts.
        #[arg(short = 'T', long, allow_hyphen_values = true)]
        train_timerange: String,
        #[command(flatten)]
        train: TrainFlags,
        #[command(flatten)]
        money: MoneyFlags,
        /// Retrain only when `tradai ml check` says so (on the --timerange candles).
        #[arg(long)]
        if_needed: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Run a retraining request from a JSON file: a body as `POST /api/v1/retraining` takes it,
    /// or a stored job's spec (what the subprocess executor runs).
    #[command(after_help = RETRAIN_REQUEST_EXAMPLES)]
    RetrainRequest {
        /// The request file.
        file: std::path::PathBuf,
        /// Machine-readable output (the workflow's report).
        #[arg(long)]
        json: bool,
        /// Write the step log to stderr as JSON lines while running.
        #[arg(long)]
        progress_json: bool,
    },
    /// Restore the previous champion (after a degradation).
    #[command(after_help = ROLLBACK_EXAMPLES)]
    Rollback {
        /// Registered model name.
        #[arg(short = 'm', long)]
        model: String,
        /// Why, for the record.
        #[arg(long, default_value = "manual rollback")]
        reason: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Backtest money settings of the out-of-sample comparison.
#[derive(Debug, Clone, Args)]
pub struct MoneyFlags {
    /// Fee ratio per side.
    #[arg(long, default_value_t = 0.001)]
    pub fee: f64,
    /// Maximum simultaneous trades.
    #[arg(long, default_value_t = 3)]
    pub max_open_trades: i64,
    /// Probability above which MlSignal enters.
    #[arg(long, default_value_t = 0.55)]
    pub entry_threshold: f64,
}

/// `NAME` or `NAME@VERSION` → (name, selector).
fn model_ref(raw: &str) -> anyhow::Result<(String, VersionSelector)> {
    let (name, which) = raw.split_once('@').unwrap_or((raw, "production"));
    anyhow::ensure!(!name.trim().is_empty(), "invalid --model '{raw}': expected NAME or NAME@VERSION");
    let sel: VersionSelector = which.parse().with_context(|| format!("invalid --model '{raw}'"))?;
    Ok((name.trim().to_owned(), sel))
}

fn open_tracking(settings: &Settings) -> anyhow::Result<Tracking> {
    tradai_tracking::open_from_settings(&settings.tracking, &settings.local_home()).context("opening the tracker")
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

fn load(rt: &tokio::runtime::Runtime, t: &Tracking, raw: &str) -> anyhow::Result<LoadedModel> {
    let (name, which) = model_ref(raw)?;
    rt.block_on(load_model(t.tracker.as_ref(), t.registry.as_ref(), &name, &which)).with_context(|| format!("loading model '{raw}'"))
}

/// The strategies `tradai backtest` / `tradai hyperopt` can run: the built-ins, plus `MlSignal`
/// trading the model `--model` names.
pub fn strategy_registry(strategy: &str, model: Option<&str>, settings: &Settings) -> anyhow::Result<StrategyRegistry> {
    let mut registry = StrategyRegistry::builtin();
    match (strategy == ML_SIGNAL, model) {
        (true, Some(m)) => {
            let rt = runtime()?;
            let loaded = load(&rt, &open_tracking(settings)?, m)?;
            registry.register(Box::new(MlSignal::new(loaded.artifact)?))?;
        }
        (true, None) => anyhow::bail!("--strategy {ML_SIGNAL} needs --model NAME[@VERSION] (see `tradai models list`)"),
        (false, Some(m)) => anyhow::bail!("invalid --model '{m}': only --strategy {ML_SIGNAL} trades a model"),
        (false, None) => {}
    }
    Ok(registry)
}

/// Candles of the market flags, read from the store (with `startup` candles before the range),
/// and the backtest config the flags describe.
fn read_market(settings: &Settings, m: &MarketFlags, timeframe: &str, startup: usize) -> anyhow::Result<(BacktestConfig, Vec<PairData>)> {
    let pairs = parse_pairs(&m.pairs)?;
    anyhow::ensure!(!pairs.is_empty(), "invalid --pairs: no pair given");
    let tf = parse_timeframe(timeframe).with_context(|| format!("invalid --timeframe '{timeframe}'"))?;
    let timerange: TimeRange = match &m.timerange {
        Some(t) => t.parse().with_context(|| format!("invalid --timerange '{t}'"))?,
        None => TimeRange::all(),
    };
    let raw_exchange = m.exchange.clone().unwrap_or_else(|| settings.exchange.clone());
    let exchange = ExchangeId::new(&raw_exchange).with_context(|| format!("invalid --exchange '{raw_exchange}'"))?;
    let store = open_store(settings)?;
    let listing = store.list()?;
    // From the start-up candles before the range to one candle past its (inclusive) end.
    let startup_ms = i64::try_from(startup).unwrap_or(0).saturating_mul(tf.millis());
    let range = TimeRange { start_ms: timerange.start_ms.map(|s| s - startup_ms), end_ms: timerange.end_ms.map(|e| e + tf.millis()) };
    let mut data = Vec::with_capacity(pairs.len());
    for pair in &pairs {
        let key = SeriesKey::new(exchange.clone(), pair.clone(), tf);
        anyhow::ensure!(
            listing.iter().any(|s| s.key == key),
            "invalid --pairs: pair '{pair}' has no stored {tf} candles on {exchange} (see `tradai data list`)"
        );
        let candles = store.read(&key, range, Columns::ALL)?;
        anyhow::ensure!(
            !candles.is_empty(),
            "invalid --timerange: no {tf} candles of '{pair}' in '{}'",
            m.timerange.clone().unwrap_or_default()
        );
        let instrument = store.instrument(&exchange, pair)?.unwrap_or_else(|| Instrument::unknown(pair.clone()));
        data.push(PairData { pair: pair.clone(), candles, instrument });
    }
    let mut config = BacktestConfig::new(pairs, tf);
    config.timerange = timerange;
    Ok((config, data))
}

fn candles_of(data: Vec<PairData>) -> Vec<(Pair, Candles)> {
    data.into_iter().map(|d| (d.pair, d.candles)).collect()
}

/// Only the window's own candles (the store read may include start-up candles before it).
fn cut(data: Vec<(Pair, Candles)>, range: &TimeRange) -> Vec<(Pair, Candles)> {
    data.into_iter()
        .map(|(p, c)| {
            let r = c.index_range(range.start_ms, range.end_ms.map(|e| e + 1));
            (p, c.slice(r))
        })
        .collect()
}

fn train_config(name: &str, f: &TrainFlags, timeframe: &str, base: Option<&ModelArtifact>) -> anyhow::Result<TrainConfig> {
    let features = match (&f.features, base) {
        (Some(list), _) => parse_features(list).map_err(|e| anyhow::anyhow!("invalid --features: {e}"))?,
        (None, Some(b)) => b.features.clone(),
        (None, None) => parse_features(DEFAULT_FEATURES)?,
    };
    let algo: Algo = match (&f.algo, base) {
        (Some(a), _) => a.parse().map_err(|e| anyhow::anyhow!("invalid --algo: {e}"))?,
        (None, Some(b)) => b.algo,
        (None, None) => "logistic".parse()?,
    };
    let horizon = f.horizon.or(base.map(|b| b.label.horizon)).unwrap_or(1);
    anyhow::ensure!(horizon >= 1, "invalid --horizon {horizon}: must be at least 1 candle");
    anyhow::ensure!(f.folds >= 1, "invalid --folds {}: at least 1", f.folds);
    let algo = match algo {
        Algo::Gbt(mut p) => {
            p.seed = f.seed;
            Algo::Gbt(p)
        }
        other => other,
    };
    Ok(TrainConfig {
        name: name.to_owned(),
        features,
        label: LabelSpec { horizon },
        algo,
        folds: f.folds,
        timeframe: parse_timeframe(timeframe)?,
        seed: f.seed,
        trained_at_ms: chrono::Utc::now().timestamp_millis(),
    })
}

fn metrics_table(m: &tradai_ml::ClassMetrics) -> String {
    let mut t = Table::new(&["metric", "value"]);
    for (k, v) in [
        ("rows", m.rows as f64),
        ("accuracy", m.accuracy),
        ("log_loss", m.log_loss),
        ("auc", m.auc),
        ("precision_top_decile", m.precision_top_decile),
        ("base_rate", m.base_rate),
    ] {
        t.row(vec![k.into(), if k == "rows" { format!("{v}") } else { format!("{v:.4}") }]);
    }
    t.render()
}

/// Runs `tradai ml ...`.
pub fn run(cmd: MlCommand, settings: &Settings, quiet: bool) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    match cmd {
        MlCommand::Train { model, market, train: flags, promote, json } => {
            let tf = market.timeframe.clone().ok_or_else(|| anyhow::anyhow!("--timeframe is required to train"))?;
            let cfg = train_config(&model, &flags, &tf, None)?;
            let (config, data) = read_market(settings, &market, &tf, 0)?;
            let data = cut(candles_of(data), &config.timerange);
            let t = open_tracking(settings)?;
            let pb = progress(100, "train", quiet || json);
            let out = train(&cfg, &data, &|f| pb.set_position((f * 100.0) as u64))?;
            pb.finish_and_clear();
            let version = rt.block_on(tradai_ml::register_model(t.tracker.as_ref(), t.registry.as_ref(), &out))?;
            if promote {
                rt.block_on(t.registry.promote(&model, version.version))?;
            }
            let a = &out.artifact;
            if json {
                print_json(&serde_json::json!({
                    "model": model, "version": version.version, "promoted": promote, "algo": a.algo.to_string(),
                    "features": a.features, "horizon": a.label.horizon, "rows": a.rows,
                    "train_start_ms": a.train_start_ms, "train_end_ms": a.train_end_ms,
                    "metrics": a.metrics, "folds": out.folds, "importance": a.importance,
                }))?;
            } else {
                println!(
                    "trained {model} version {} ({}, {} rows, {} folds){}",
                    version.version,
                    a.algo,
                    a.rows,
                    out.folds.len(),
                    if promote { ", now champion" } else { "" }
                );
                print!("{}", metrics_table(&a.metrics));
                let mut imp = Table::new(&["feature", "importance (AUC lost)"]);
                for (f, v) in &a.importance {
                    imp.row(vec![f.clone(), format!("{v:.4}")]);
                }
                print!("{}", imp.render());
            }
            Ok(ExitCode::SUCCESS)
        }
        MlCommand::Drift { model, market, record, json } => {
            let t = open_tracking(settings)?;
            let loaded = load(&rt, &t, &model)?;
            let tf = market.timeframe.clone().unwrap_or_else(|| loaded.artifact.timeframe.clone());
            // The warm-up candles read before the window only feed the features: their own rows
            // are incomplete, so only the window is scored.
            let data = candles_of(read_market(settings, &market, &tf, loaded.artifact.warmup())?.1);
            let detector = DriftDetector::from_settings(&settings.ml);
            let report = if record {
                let check = DriftCheck {
                    model: loaded.version.name.clone(),
                    version: VersionSelector::Number(loaded.version.version),
                    detector,
                    at_ms: chrono::Utc::now().timestamp_millis(),
                };
                rt.block_on(monitor_drift(t.tracker.as_ref(), t.registry.as_ref(), &check, &data, &LogNotifier))?
            } else {
                detector.check_model(&loaded.artifact, &data)
            };
            if json {
                print_json(&report)?;
            } else {
                println!(
                    "{} version {}: {} ({} rows; PSI > {}, KS > {}, rule {:?})",
                    loaded.version.name,
                    loaded.version.version,
                    if report.has_drift { format!("DRIFT in {}", report.drifted_features.join(", ")) } else { "no drift".into() },
                    report.rows,
                    report.psi_threshold,
                    report.ks_threshold,
                    report.rule
                );
                if report.rows < 2_000 {
                    // Slow features (EMAs, long windows) move a lot over a short window.
                    println!("note: only {} rows; PSI and KS of slow features are noisy below a few thousand", report.rows);
                }
                let mut tab = Table::new(&["column", "psi", "ks", "mean now", "mean ref", "drifted"]);
                for c in report.features.iter().chain(report.prediction.iter()) {
                    tab.row(vec![
                        c.name.clone(),
                        format!("{:.4}", c.psi),
                        format!("{:.4}", c.ks),
                        format!("{:.5}", c.current_mean),
                        format!("{:.5}", c.reference_mean),
                        if c.drifted { "yes".into() } else { "".into() },
                    ]);
                }
                print!("{}", tab.render());
            }
            Ok(if report.has_drift { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        MlCommand::Check { model, market, json } => {
            let t = open_tracking(settings)?;
            let loaded = load(&rt, &t, &model)?;
            let tf = market.timeframe.clone().unwrap_or_else(|| loaded.artifact.timeframe.clone());
            let data = candles_of(read_market(settings, &market, &tf, loaded.artifact.warmup())?.1);
            let check = check_retraining_needed(
                &loaded.artifact,
                &data,
                chrono::Utc::now().timestamp_millis(),
                &RetrainPolicy::from_settings(&settings.ml),
            );
            if json {
                print_json(&check)?;
            } else if check.needed {
                println!("retraining needed: {}", check.reasons.join("; "));
            } else {
                println!("no retraining needed (age {:.1} days, recent AUC {:.3}, no drift)", check.model_age_days, check.recent.auc);
            }
            Ok(ExitCode::SUCCESS)
        }
        MlCommand::Compare { model, champion, challenger, market, money, json } => {
            let t = open_tracking(settings)?;
            let a = load(&rt, &t, &format!("{model}@{champion}"))?;
            let b = load(&rt, &t, &format!("{model}@{challenger}"))?;
            let tf = market.timeframe.clone().unwrap_or_else(|| a.artifact.timeframe.clone());
            let eval = evaluator_with_warmup(settings, &market, &money, &tf, a.artifact.warmup().max(b.artifact.warmup()))?;
            let ca = eval.evaluate(a.version.version, Arc::clone(&a.artifact))?;
            let cb = eval.evaluate(b.version.version, Arc::clone(&b.artifact))?;
            let cmp = ModelComparator::from_settings(&settings.ml).compare(&ca, &cb);
            if json {
                print_json(&cmp)?;
            } else {
                println!("{:?}: {}", cmp.decision, cmp.reason);
                let mut tab = Table::new(&["", "version", "sharpe", "profit", "max drawdown", "trades"]);
                for (role, s) in [("champion", &cmp.champion), ("challenger", &cmp.challenger)] {
                    tab.row(vec![
                        role.into(),
                        s.version.to_string(),
                        format!("{:.3}", s.sharpe),
                        format!("{:.2}%", s.profit_total * 100.0),
                        format!("{:.2}%", s.max_drawdown * 100.0),
                        s.trades.to_string(),
                    ]);
                }
                print!("{}", tab.render());
            }
            Ok(ExitCode::SUCCESS)
        }
        MlCommand::Retrain { model, market, train_timerange, train: flags, money, if_needed, json } => {
            let request = RetrainRequest {
                model,
                exchange: market.exchange,
                pairs: market.pairs,
                timeframe: market.timeframe,
                train_timerange,
                timerange: market.timerange.unwrap_or_default(),
                algo: flags.algo,
                features: flags.features,
                horizon: flags.horizon.map(|h| h as u64),
                folds: Some(flags.folds as u64),
                seed: Some(flags.seed),
                if_needed,
                fee: Some(money.fee),
                max_open_trades: Some(u64::try_from(money.max_open_trades).unwrap_or(0)),
                entry_threshold: Some(money.entry_threshold),
                ..RetrainRequest::default()
            };
            let spec = request.resolve(&settings.ml, &settings.exchange)?;
            run_spec(&rt, settings, &spec, json, false)
        }
        MlCommand::RetrainRequest { file, json, progress_json } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read '{}'", file.display()))?;
            // A stored job's spec, or a request body as `POST /api/v1/retraining` takes it.
            let spec = match serde_json::from_str::<RetrainSpec>(&text) {
                Ok(spec) => spec,
                Err(_) => serde_json::from_str::<RetrainRequest>(&text)
                    .with_context(|| format!("invalid '{}': neither a retraining request nor a spec", file.display()))?
                    .resolve(&settings.ml, &settings.exchange)?,
            };
            run_spec(&rt, settings, &spec, json, progress_json)
        }
        MlCommand::Rollback { model, reason, json } => {
            let t = open_tracking(settings)?;
            let v = rt.block_on(rollback_model(
                t.tracker.as_ref(),
                t.registry.as_ref(),
                &model,
                &reason,
                chrono::Utc::now().timestamp_millis(),
                &LogNotifier,
            ))?;
            if json {
                print_json(&serde_json::json!({"model": model, "champion": v}))?;
            } else {
                println!("{model}: champion is version {v} again");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs the retraining workflow of `spec` on the stored candles and prints its report;
/// `progress_json` writes the step log to stderr as one JSON array per change (what the
/// subprocess executor follows).
fn run_spec(
    rt: &tokio::runtime::Runtime,
    settings: &Settings,
    spec: &RetrainSpec,
    json: bool,
    progress_json: bool,
) -> anyhow::Result<ExitCode> {
    let t = open_tracking(settings)?;
    let store =
        tradai_store::CandleStore::open(&settings.data_dir).with_context(|| format!("cannot open data dir '{}'", settings.data_dir))?;
    let on_change = |log: &[StepRecord]| {
        if progress_json {
            eprintln!("{}", serde_json::to_string(log).unwrap_or_default());
        }
    };
    let never = std::sync::atomic::AtomicBool::new(false);
    let now = chrono::Utc::now().timestamp_millis();
    let report = rt.block_on(tradai_app::retraining::run(spec, &store, &t, &LogNotifier, now, &on_change, &never))?;
    if json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let name = &report.model;
    match (&report.challenger, &report.promotion, &report.comparison) {
        (None, _, _) => println!(
            "{name}: no retraining needed ({})",
            report
                .check
                .as_ref()
                .map_or_else(String::new, |c| format!("age {:.1} days, recent AUC {:.3}, no drift", c.model_age_days, c.recent.auc))
        ),
        (Some(c), _, None) => println!("{name}: version {} trained and promoted (first champion)", c.version),
        (Some(c), Some(p), Some(cmp)) => println!(
            "{name}: challenger {} vs champion {}: {:?} ({}); champion is now version {}",
            c.version,
            p.previous_champion.unwrap_or_default(),
            cmp.decision,
            cmp.reason,
            p.champion_after
        ),
        (Some(c), None, Some(_)) => println!("{name}: challenger {} trained", c.version),
    }
    Ok(ExitCode::SUCCESS)
}

/// An out-of-sample backtest of `MlSignal` on the market flags' window, candles read once.
fn evaluator_with_warmup(
    settings: &Settings,
    market: &MarketFlags,
    money: &MoneyFlags,
    tf: &str,
    warmup: usize,
) -> anyhow::Result<EngineEvaluator> {
    anyhow::ensure!(
        (0.5..=0.95).contains(&money.entry_threshold),
        "invalid --entry-threshold {}: expected 0.5 to 0.95",
        money.entry_threshold
    );
    let (mut config, data) = read_market(settings, market, tf, warmup + 1)?;
    config.fee = money.fee;
    config.max_open_trades = usize::try_from(money.max_open_trades).ok();
    config.validate().map_err(|e| anyhow::anyhow!("invalid backtest settings: {e}"))?;
    let stake_currency = config.pairs[0].settle().unwrap_or(config.pairs[0].quote()).to_owned();
    let params = ParamValues::new().with("entry_threshold", tradai_engine::ParamValue::Decimal(money.entry_threshold));
    Ok(EngineEvaluator { config, data, params, stake_currency })
}
