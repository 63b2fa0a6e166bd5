//! `tradai trade`: run a trading node (live feed in `trade_live`, or `--replay`), list nodes,
//! reset one.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::{Args, Subcommand};
use tradai_app::{BacktestRequest, RunSpec};
use tradai_core::MarketType;
use tradai_settings::Settings;
use tradai_tracking::strategy::{load_strategy, strategy_tags, VersionSelector, TAG_PAIRS, TAG_TIMEFRAME};
use tradai_trading::binance::{BinanceBroker, BinanceConfig};
use tradai_trading::{
    go_live_report, BotId, Broker, GoLiveFacts, NodeHooks, NodeSpec, PaperBroker, ReportThresholds, RiskLimits, StateStore, TradingError,
    TradingMode,
};

use crate::cmd::data::open_store;
use crate::flags::{flag_error, RunFlags};
use crate::output::{print_json, progress, Table, Ui};

/// Help examples of `tradai trade` (the node ones run on the sample candles).
pub const EXAMPLES: &str = "Examples (on the sample candles of ./scripts/quickstart.sh):
  tradai trade --replay -s EmaCross -p ETH/BTC,LTC/BTC -i 5m --export dry.json
  tradai trade --replay -s EmaCross -p ETH/BTC --wallet 1 --bot-id eth-paper
  tradai trade --replay -s EmaCross --version production --bot-id ema-prod
  tradai trade list
  tradai trade report --bot EmaCross-dry-run --json

On live candles (polls the exchange at each candle close; Ctrl-C stops, a rerun resumes):
  tradai trade -s EmaCross -p BTC/USDT -i 5m --bot-id btc-paper --api-port 8005
  tradai trade --mode live -s EmaCross --version production --stoploss-on-exchange --max-drawdown 0.2

Strategy, pairs and money take the same flags (and [run] table) as tradai backtest.";

/// `tradai trade ...`: a node when run with flags, or a subcommand.
#[derive(Debug, Args)]
// `--strategy` may come from the strategy container's environment; `--version` is the
// registry's, not clap's.
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    disable_version_flag = true,
    mut_arg("strategy", |a| a.env("STRATEGY_NAME"))
)]
pub struct TradeArgs {
    /// Node management.
    #[command(subcommand)]
    pub command: Option<TradeCommand>,
    /// Strategy, market, window and money: the same flags as `tradai backtest`.
    #[command(flatten)]
    pub run: RunFlags,
    /// A strategy file, or the ML model `MlSignal` trades, instead of a built-in strategy.
    #[command(flatten)]
    pub source: crate::cmd::strategy_source::StrategySourceArgs,
    /// dry-run (paper orders) or live (real orders); also TRADING_MODE.
    #[arg(long, env = "TRADING_MODE", value_name = "MODE")]
    pub mode: Option<String>,
    /// Load the strategy's registered config: production (the champion), a version number or
    /// an alias; also STRATEGY_STAGE (`None`: no registered config). Pairs and timeframe default to the registered ones.
    #[arg(long, env = "STRATEGY_STAGE", value_name = "VERSION")]
    pub version: Option<String>,
    /// Trade over the stored candles of --timerange (the whole stored range without it) as
    /// fast as possible, instead of waiting for new candles.
    #[arg(long)]
    pub replay: bool,
    /// The node's name; running the same command again resumes its state
    /// (default: <strategy>-<mode>).
    #[arg(long, value_name = "ID")]
    pub bot_id: Option<String>,
    /// Write the trades and summary as JSON, in `tradai backtest --export`'s shape.
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Kill switch: stop opening trades once realised equity is this far below its peak
    /// (0.2 = 20%); open trades still exit by the rules.
    #[arg(long, value_name = "RATIO")]
    pub max_drawdown: Option<f64>,
    /// Live: keep a stop order on the exchange at each open trade's stop price (Freqtrade's
    /// `stoploss_on_exchange`): placed after the entry fills, replaced when the trailing stop
    /// moves, cancelled when the trade exits otherwise. Spot: STOP_LOSS_LIMIT; futures:
    /// STOP_MARKET reduceOnly. A dry-run has no separate order: its stop-loss is the rules'.
    #[arg(long)]
    pub stoploss_on_exchange: bool,
    /// The limit of a spot stop order as a ratio of its stop price (sells at stop × ratio,
    /// buys at stop × (2 − ratio)); Freqtrade's `stoploss_on_exchange_limit_ratio`.
    #[arg(long, value_name = "RATIO", default_value_t = 0.99)]
    pub stoploss_on_exchange_limit_ratio: f64,
    /// Seconds between the node's heartbeats (a node missing 3 is listed as stale).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub heartbeat_interval: f64,
    /// Replay: commit the node's state at most every this many candles (1: every candle on
    /// which a trade opened or closed). A crash re-steps the candles since the last commit
    /// with the same result, so larger values only trade that re-work for speed. Default:
    /// 1 with --mode live (a fill acted on is never forgotten), 1000 for a dry-run.
    #[arg(long, value_name = "CANDLES")]
    pub commit_every: Option<u64>,
    /// Port of the node's REST API on 127.0.0.1 (default 8005 dry-run, 8004 live; 0: any
    /// free port, printed at start). Live feed only.
    #[arg(long, value_name = "PORT")]
    pub api_port: Option<u16>,
    /// Live feed: stop after this many candles (default: until Ctrl-C).
    #[arg(long, value_name = "N")]
    pub max_candles: Option<u64>,
    /// Live orders: an entry not filled in full after this long has the rest cancelled and the
    /// trade keeps what filled (Freqtrade's `unfilledtimeout.entry`); exits are never
    /// cancelled, they are polled until filled.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub unfilled_timeout: u32,
    /// Unit of --unfilled-timeout: minutes or candles (of the run's timeframe).
    #[arg(long, value_name = "UNIT", default_value = "minutes", value_parser = ["minutes", "candles"])]
    pub unfilled_timeout_unit: String,
    /// Start `--mode live` without a passed go-live report.
    #[arg(long)]
    pub force: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tradai trade` subcommands.
#[derive(Debug, Subcommand)]
pub enum TradeCommand {
    /// List the trading nodes stored under the data dir.
    #[command(after_help = "Examples:\n  tradai trade list\n  tradai trade list --json")]
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The DryRunValidationReport of a node: heartbeats, candles, orders, checks.
    #[command(after_help = "Examples:\n  tradai trade report --bot EmaCross-dry-run\n  tradai trade report --bot EmaCross-dry-run --json")]
    Report {
        /// The node.
        #[arg(long = "bot", value_name = "ID")]
        bot_id: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The GoLiveValidationReport of a strategy: Production version, passed dry-run, keys,
    /// venue, drawdown limit. Exits 1 when an ERROR check fails.
    #[command(after_help = "Examples:\n  tradai trade go-live-check --strategy EmaCross --max-drawdown 0.2\n  \
                            tradai trade go-live-check --strategy EmaCross --max-drawdown 0.2 --json")]
    GoLiveCheck {
        /// The strategy, as registered.
        #[arg(long, short = 's', value_name = "NAME")]
        strategy: String,
        /// The drawdown limit the live node will run with (its --max-drawdown).
        #[arg(long, value_name = "RATIO")]
        max_drawdown: Option<f64>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// What a node recorded for its operator: venue rejections with their code, the start-up
    /// reconcile's findings, balances short of the open trades, signals skipped while catching
    /// up after downtime, and the broker's lookups and retries.
    #[command(after_help = "Examples:\n  tradai trade events --bot EmaCross-live\n  tradai trade events --bot EmaCross-live --json")]
    Events {
        /// The node.
        #[arg(long = "bot", value_name = "ID")]
        bot_id: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Delete a node's stored state (trades, orders, wallet), so its next run starts afresh.
    #[command(after_help = "Example:\n  tradai trade reset --bot EmaCross-dry-run")]
    Reset {
        /// The node.
        #[arg(long = "bot", value_name = "ID")]
        bot_id: String,
    },
}

/// Runs `tradai trade ...`.
pub fn run(a: TradeArgs, settings: &Settings, ui: Ui) -> anyhow::Result<ExitCode> {
    match &a.command {
        Some(TradeCommand::List { json }) => list(settings, *json),
        Some(TradeCommand::Reset { bot_id }) => reset(settings, bot_id),
        Some(TradeCommand::Events { bot_id, json }) => events(settings, bot_id, *json),
        Some(TradeCommand::Report { bot_id, json }) => report(settings, bot_id, *json),
        Some(TradeCommand::GoLiveCheck { strategy, max_drawdown, json }) => go_live_check(settings, strategy, *max_drawdown, *json),
        None => run_node(&a, settings, ui.quiet),
    }
}

pub(crate) fn state_store(settings: &Settings) -> anyhow::Result<StateStore> {
    // Beside the services' job database (their trading routes read it), on a local disk
    // even when the candles are on S3: `state_dir`.
    let dir = settings.state_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the state dir {} (state_dir)", dir.display()))?;
    Ok(StateStore::open(&dir.join("trading.sqlite"))?)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The run a node trades: the run flags over the settings' `[run]` table, completed from the
/// registry with `--version` (its parameters and overrides; its pairs and timeframe where the
/// flags name none). Returns the registered version it loaded.
fn run_spec(run: &RunFlags, a: &TradeArgs, settings: &Settings) -> anyhow::Result<(RunSpec, Option<u64>)> {
    // `None` is the registry's "no stage" (as ECS passes STRATEGY_STAGE): the flags alone.
    let version = a.version.as_deref().map(str::trim).filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("none"));
    let Some(raw) = version else { return Ok((run.spec(settings, BacktestRequest::default())?, None)) };
    let which: VersionSelector = raw.parse().map_err(|e| anyhow::anyhow!("invalid --version: {e}"))?;
    let strategy = run.layered(settings)?.strategy.ok_or_else(|| anyhow::anyhow!("--version needs --strategy (or STRATEGY_NAME)"))?;
    let t = tradai_tracking::open_from_settings(&settings.tracking, &settings.local_home()).context("opening the strategy registry")?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    let loaded = rt
        .block_on(load_strategy(t.tracker.as_ref(), t.registry.as_ref(), &strategy, &which))
        .with_context(|| format!("cannot load strategy '{strategy}' version '{raw}' from the registry"))?;
    let origin = format!("of '{strategy}' version {}", loaded.version.version);
    let mut registered = crate::cmd::backtest::strategy_config_doc(loaded.config, &origin)?;
    if let Some(s) = registered.strategy.take() {
        anyhow::ensure!(s == strategy, "strategy config {origin} is for strategy '{s}', not '{strategy}'");
    }
    // Above the flags in the layering, so only what the flags leave unset.
    let tags = strategy_tags(&loaded.version);
    if run.market.pairs.is_empty() {
        registered.pairs = tags.get(TAG_PAIRS).map(|p| vec![(*p).to_owned()]);
    }
    if run.market.timeframe.is_none() {
        registered.timeframe = tags.get(TAG_TIMEFRAME).map(|t| (*t).to_owned());
    }
    Ok((run.spec(settings, registered)?, Some(loaded.version.version)))
}

/// The node's spec from its flags: the one place where [`RunFlags`] become a node's run.
fn spec_of(a: &TradeArgs, settings: &Settings) -> anyhow::Result<NodeSpec> {
    let mode: TradingMode = match &a.mode {
        Some(m) => m.parse().map_err(|e: String| anyhow::anyhow!("invalid --mode: {e}"))?,
        None => TradingMode::DryRun,
    };
    let risk = RiskLimits { max_drawdown: a.max_drawdown, stoploss_on_exchange: a.stoploss_on_exchange };
    risk.validate().map_err(|e| anyhow::anyhow!("invalid --max-drawdown: {e}"))?;
    let r = a.stoploss_on_exchange_limit_ratio;
    anyhow::ensure!(
        r.is_finite() && r > 0.0 && r <= 1.0,
        "invalid --stoploss-on-exchange-limit-ratio {r}: must be above 0 and at most 1 (0.99: sell at 1% below the stop)"
    );
    let (run, strategy_version) = run_spec(&a.run, a, settings)?;
    let bot_id = match &a.bot_id {
        Some(b) => BotId::new(b).context("invalid --bot-id")?,
        None => BotId::default_for(&run.strategy, mode),
    };
    Ok(NodeSpec { bot_id, mode, run, strategy_version, replay: a.replay, risk })
}

fn run_node(a: &TradeArgs, settings: &Settings, quiet: bool) -> anyhow::Result<ExitCode> {
    let spec = spec_of(a, settings)?;
    let registry = a.source.registry_for(&spec.run.strategy, settings)?;
    spec.run.validate(&registry).map_err(flag_error)?;
    let mut broker: Box<dyn Broker> = match spec.mode {
        TradingMode::DryRun => Box::new(PaperBroker::new(spec.run.fee)),
        TradingMode::Live => live_broker(&spec, a, settings)?,
    };
    if !a.replay {
        return crate::cmd::trade_live::run(a, &spec, &registry, settings, broker.as_mut());
    }
    let store = open_store(settings)?;
    let mut db = state_store(settings)?;
    let pb = progress(0, "replay", quiet || a.json);
    let stop = AtomicBool::new(false);
    let hooks = NodeHooks {
        progress: &|done, total| {
            pb.set_length(total);
            pb.set_position(done);
        },
        stop: &stop,
        now_ms: &now_ms,
        heartbeat_every_ms: heartbeat_ms(a.heartbeat_interval)?,
        commit_every: a.commit_every.unwrap_or_else(|| spec.mode.commit_every()),
    };
    let started = std::time::Instant::now();
    let outcome = match tradai_trading::replay_with(&store, &mut db, &spec, &registry, broker.as_mut(), &hooks) {
        Ok(o) => o,
        Err(TradingError::Spec(f)) => return Err(flag_error(f)),
        Err(e) => return Err(e.into()),
    };
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if let Some(path) = &a.export {
        let file = std::fs::File::create(path).with_context(|| format!("cannot write export file '{}'", path.display()))?;
        outcome.report.write_export(file).with_context(|| format!("cannot write export file '{}'", path.display()))?;
    }
    let summary = &outcome.report.export.summary;
    if a.json {
        print_json(&serde_json::json!({
            "bot_id": spec.bot_id,
            "mode": spec.mode,
            "replay": true,
            "resumed_at": outcome.resumed_at_ms.map(tradai_core::iso_ts_ms),
            "candles_stepped": outcome.candles_stepped,
            "orders_sent": outcome.orders_sent,
            "commits": outcome.commits,
            "trades": outcome.report.export.trades.len(),
            "entries_stopped": outcome.entries_stopped,
            "risk_stop": outcome.risk_stop,
            "order_latency_ms": latency_summary(&outcome.order_latency_us),
            "summary": summary,
            "state_db": db.path(),
        }))?;
    } else {
        if let Some(r) = outcome.resumed_at_ms {
            println!("bot {}: resumed at {}", spec.bot_id, tradai_core::iso_ts_ms(r));
        }
        print!("{}", outcome.report.report_text);
        if let Some(r) = &outcome.risk_stop {
            println!(
                "kill switch: drawdown {:.2}% reached the limit {:.2}% at {}; no trade opened after it",
                r.drawdown * 100.0,
                r.limit * 100.0,
                tradai_core::iso_ts_ms(r.candle_ms)
            );
        } else if outcome.entries_stopped {
            println!("kill switch: entries were stopped before this run resumed");
        }
        println!(
            "bot {} ({}, replay): {} candles stepped in {:.2}s, {} orders, {} trades; state in {}",
            spec.bot_id,
            spec.mode,
            outcome.candles_stepped,
            secs,
            outcome.orders_sent,
            outcome.report.export.trades.len(),
            db.path().display()
        );
        if let Some(p) = &a.export {
            println!("trades and summary written to {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The venue broker of `--mode live`: Binance spot or USDT-M futures (the run's trading
/// mode), keys from [`exchange_keys`], endpoint from `TRADAI_BINANCE_SPOT_URL` /
/// `binance.spot_url` or `TRADAI_BINANCE_FUTURES_URL` / `binance.futures_url`.
fn live_broker(spec: &NodeSpec, a: &TradeArgs, settings: &Settings) -> anyhow::Result<Box<dyn Broker>> {
    go_live_gate(spec, a.force, settings)?;
    anyhow::ensure!(
        spec.run.exchange.as_str() == "binance",
        "live trading supports the binance exchange only, not '{}'",
        spec.run.exchange
    );
    let keys = exchange_keys(settings)?.filter(|k| k.api_key.is_set() && k.api_secret.is_set()).ok_or_else(|| {
        anyhow::anyhow!(
            "live trading needs exchange keys: set exchange.api_key and exchange.api_secret \
             (TRADAI_EXCHANGE__API_KEY, TRADAI_EXCHANGE__API_SECRET), exchange.key_file or exchange.secret_id"
        )
    })?;
    let (key, secret) = (keys.api_key.expose(), keys.api_secret.expose());
    let mut cfg = match spec.run.trading_mode {
        MarketType::Spot => BinanceConfig::new(&spot_url(settings), key, secret),
        MarketType::Futures => BinanceConfig::futures(&settings.binance.futures_url, key, secret),
    };
    cfg.unfilled_timeout = unfilled_timeout(spec, a)?;
    cfg.stop_limit_ratio = a.stoploss_on_exchange_limit_ratio;
    let venue = cfg.to_string();
    tracing::info!(bot = %spec.bot_id, keys = %keys.source, "live broker: {venue}");
    let broker = BinanceBroker::connect(cfg).with_context(|| format!("cannot reach {venue}"))?;
    Ok(Box::new(broker))
}

/// The exchange keys of the settings (`exchange.*`, the key file, the Secrets Manager secret
/// `exchange.secret_id`, the older `binance.*`).
fn exchange_keys(settings: &Settings) -> anyhow::Result<Option<tradai_settings::Credentials>> {
    let k = &settings.exchange_keys;
    let id = k.secret_id.trim();
    if !id.is_empty() && !k.api_key.is_set() && !k.api_secret.is_set() && k.key_file.trim().is_empty() {
        return secret_keys(id).map(Some);
    }
    Ok(settings.exchange_credentials()?)
}

/// The keys in the Secrets Manager secret `id` (through the standard AWS chain).
#[cfg(feature = "aws")]
fn secret_keys(id: &str) -> anyhow::Result<tradai_settings::Credentials> {
    let bridge = tradai_aws::SyncBridge::new()?;
    let keys = bridge
        .run({
            let id = id.to_owned();
            async move { tradai_aws::read_exchange_keys(&id, &tradai_aws::AwsOverrides::default()).await }
        })?
        .with_context(|| format!("exchange.secret_id {id}"))?;
    Ok(tradai_settings::Credentials {
        api_key: tradai_settings::Secret::new(&keys.api_key),
        api_secret: tradai_settings::Secret::new(&keys.api_secret),
        source: format!("exchange.secret_id {id}"),
    })
}

/// Without the AWS back ends there is no Secrets Manager client.
#[cfg(not(feature = "aws"))]
fn secret_keys(id: &str) -> anyhow::Result<tradai_settings::Credentials> {
    anyhow::bail!("exchange.secret_id {id}: this build has no AWS back end (build with the `aws` feature)")
}

/// `--unfilled-timeout` in time: minutes, or candles of the run's timeframe.
fn unfilled_timeout(spec: &NodeSpec, a: &TradeArgs) -> anyhow::Result<std::time::Duration> {
    let n = u64::from(a.unfilled_timeout);
    if a.unfilled_timeout_unit == "candles" {
        let tf = spec.run.timeframe.with_context(|| {
            format!("--unfilled-timeout {n} --unfilled-timeout-unit candles needs --timeframe (or use --unfilled-timeout-unit minutes)")
        })?;
        return Ok(std::time::Duration::from_millis(n * u64::try_from(tf.millis()).unwrap_or(0)));
    }
    Ok(std::time::Duration::from_secs(n * 60))
}

/// `--mode live` starts only when the newest go-live report of the strategy's registered
/// version passed (`tradai trade go-live-check`); `--force` overrides, loudly.
fn go_live_gate(spec: &NodeSpec, force: bool, settings: &Settings) -> anyhow::Result<()> {
    let strategy = &spec.run.strategy;
    let verdict = match spec.strategy_version {
        None => Err(format!("the run is not a registered version of '{strategy}' (use --version production)")),
        Some(v) => match state_store(settings)?.latest_go_live(strategy, v)? {
            Some((_, true)) => Ok(()),
            Some((at, false)) => {
                Err(format!("the newest go-live report of '{strategy}' version {v} ({}) failed", tradai_core::iso_ts_ms(at)))
            }
            None => Err(format!("no go-live report for '{strategy}' version {v}")),
        },
    };
    match verdict {
        Ok(()) => Ok(()),
        Err(why) if force => {
            tracing::warn!(bot = %spec.bot_id, reason = %why, "--force: live trading without a passed go-live report");
            eprintln!("WARNING: --force: {why}; trading live without a passed go-live report");
            Ok(())
        }
        Err(why) => anyhow::bail!("--mode live refused: {why}; run `tradai trade go-live-check --strategy {strategy}` or pass --force"),
    }
}

/// The Binance spot endpoint: `TRADAI_BINANCE_SPOT_URL`, else the `binance.spot_url` setting.
fn spot_url(settings: &Settings) -> String {
    std::env::var("TRADAI_BINANCE_SPOT_URL").ok().filter(|u| !u.trim().is_empty()).unwrap_or_else(|| settings.binance.spot_url.clone())
}

/// Why the venue could not be asked, on one line (the broker's errors never hold a key).
fn error_line(e: &tradai_trading::BrokerError) -> String {
    match e {
        tradai_trading::BrokerError::Unavailable { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

fn go_live_check(settings: &Settings, strategy: &str, max_drawdown: Option<f64>, json: bool) -> anyhow::Result<ExitCode> {
    let t = tradai_tracking::open_from_settings(&settings.tracking, &settings.local_home()).context("opening the strategy registry")?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    // No Production version is a failed check, not an error of the command.
    let production_version = rt
        .block_on(load_strategy(t.tracker.as_ref(), t.registry.as_ref(), strategy, &VersionSelector::Production))
        .ok()
        .map(|l| l.version.version);
    let passed_dry_run = match production_version {
        Some(v) => state_store(settings)?.passed_dry_run(strategy, v)?,
        None => None,
    };
    let keys = exchange_keys(settings)?;
    let keys_present = keys.as_ref().is_some_and(|k| k.api_key.is_set() && k.api_secret.is_set());
    let (key, secret) = keys.as_ref().map_or(("", ""), |k| (k.api_key.expose(), k.api_secret.expose()));
    let (venue_reachable, keys_accepted) = match BinanceBroker::connect(BinanceConfig::new(&spot_url(settings), key, secret)) {
        Err(e) => (Err(error_line(&e)), None),
        Ok(_) if !keys_present => (Ok(()), None),
        Ok(mut b) => match b.check_account() {
            Ok(answer) => (Ok(()), Some(answer)),
            Err(e) => (Err(error_line(&e)), None),
        },
    };
    let facts = GoLiveFacts {
        strategy: strategy.to_owned(),
        production_version,
        passed_dry_run,
        keys_present,
        keys_accepted,
        venue_reachable,
        max_drawdown,
    };
    let r = go_live_report(&facts, now_ms());
    // Stored, so that `--mode live` can check it.
    state_store(settings)?.add_go_live_report(strategy, production_version, r.created_ms, r.overall_passed, &serde_json::to_value(&r)?)?;
    if json {
        print_json(&r)?;
    } else {
        print!("{}", tradai_trading::golive::render_text(&r));
    }
    Ok(if r.overall_passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// p50 / p99 / max of per-order latencies (µs in, ms out); null without orders.
pub(crate) fn latency_summary(us: &[u64]) -> serde_json::Value {
    if us.is_empty() {
        return serde_json::Value::Null;
    }
    let mut v = us.to_vec();
    v.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    let at = |q: f64| {
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1000.0
    };
    serde_json::json!({"orders": v.len(), "p50": at(0.5), "p99": at(0.99), "max": at(1.0)})
}

/// `--heartbeat-interval` in milliseconds.
pub(crate) fn heartbeat_ms(secs: f64) -> anyhow::Result<i64> {
    anyhow::ensure!(secs.is_finite() && secs >= 0.1, "invalid --heartbeat-interval {secs}: must be at least 0.1 seconds");
    #[allow(clippy::cast_possible_truncation)]
    Ok((secs * 1000.0).round() as i64)
}

fn report(settings: &Settings, bot: &str, json: bool) -> anyhow::Result<ExitCode> {
    let bot = BotId::new(bot).context("invalid --bot")?;
    let db = state_store(settings)?;
    let r = tradai_trading::dry_run_report(&db, &bot, &ReportThresholds::default(), now_ms())?;
    db.add_report(&bot, r.created_ms, r.overall_passed, &serde_json::to_value(&r)?)?;
    if json {
        print_json(&r)?;
    } else {
        print!("{}", tradai_trading::report::render_text(&r));
    }
    // A failed report is an answer, not an error: exit 0 either way; scripts read overall_passed.
    Ok(ExitCode::SUCCESS)
}

fn list(settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let db = state_store(settings)?;
    let nodes = db.list(now_ms())?;
    if json {
        print_json(&nodes)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["bot", "mode", "strategy", "status", "last candle", "last heartbeat", "open", "closed", "profit"]);
    for n in &nodes {
        t.row(vec![
            n.bot_id.clone(),
            if n.replay { format!("{} (replay)", n.mode) } else { n.mode.clone() },
            n.strategy.clone(),
            format!("{}{}", serde_json::to_value(n.status)?.as_str().unwrap_or_default(), if n.stale { " (stale)" } else { "" }),
            n.last_candle_ms.map(tradai_core::iso_ts_ms).unwrap_or_default(),
            n.last_heartbeat_ms.map(tradai_core::iso_ts_ms).unwrap_or_default(),
            n.open_trades.to_string(),
            n.closed_trades.to_string(),
            format!("{:.8}", n.closed_profit),
        ]);
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}

fn events(settings: &Settings, bot: &str, json: bool) -> anyhow::Result<ExitCode> {
    let bot = BotId::new(bot).context("invalid --bot")?;
    let db = state_store(settings)?;
    if db.load(&bot)?.is_none() {
        return Err(TradingError::UnknownBot(bot.to_string()).into());
    }
    let events = db.events(&bot)?;
    if json {
        print_json(&events)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["time", "kind", "detail"]);
    for e in &events {
        t.row(vec![tradai_core::iso_ts_ms(e.ts_ms), e.kind.clone(), e.detail.clone()]);
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}

fn reset(settings: &Settings, bot: &str) -> anyhow::Result<ExitCode> {
    let bot = BotId::new(bot).context("invalid --bot")?;
    let mut db = state_store(settings)?;
    if db.reset(&bot)? {
        println!("bot {bot}: state deleted");
        Ok(ExitCode::SUCCESS)
    } else {
        Err(TradingError::UnknownBot(bot.to_string()).into())
    }
}
