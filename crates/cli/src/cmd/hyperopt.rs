//! `tradai hyperopt`: flags → a validated backtest request (the same checks as `tradai
//! backtest`) and a [`HyperoptConfig`]; candles from the store; the search runs in
//! `tradai-hyperopt` with a progress bar; results go to a table, JSON files and an SVG.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::Args;
use tradai_app::backtest::{self, BacktestFailure, BacktestRequest};
use tradai_core::TimeRange;
use tradai_engine::StrategyRegistry;
use tradai_hyperopt::{
    best_config, importance, render_heatmap_svg, Hyperopt, HyperoptConfig, HyperoptOutcome, LossFunction, RunPlan, SampleComparison,
    SamplerKind, SpaceName, Validation,
};
use tradai_settings::Settings;

use crate::cmd::data::open_store;
use crate::output::{print_json, progress, Table};

/// `tradai hyperopt` flags.
#[derive(Debug, Args)]
pub struct HyperoptArgs {
    /// Strategy name (see `tradai strategies list`).
    #[arg(long)]
    pub strategy: String,
    /// Exchange whose stored candles to use.
    #[arg(long, default_value = "binance")]
    pub exchange: String,
    /// Pairs, comma-separated, in priority order.
    #[arg(long, value_delimiter = ',', required = true)]
    pub pairs: Vec<String>,
    /// Candle timeframe (default: the strategy's).
    #[arg(long)]
    pub timeframe: Option<String>,
    /// In-sample window as YYYYMMDD-YYYYMMDD; whole data when omitted.
    #[arg(long)]
    pub timerange: Option<String>,
    /// Number of evaluations.
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// Spaces to search, comma-separated: buy, sell, roi, stoploss, trailing (or all, default).
    #[arg(long, default_value = "buy")]
    pub spaces: String,
    /// Loss to minimise: sharpe, sortino, calmar, profit, max_drawdown or multi.
    #[arg(long, default_value = "sharpe")]
    pub loss: String,
    /// Sampler: tpe, random or grid.
    #[arg(long, default_value = "tpe")]
    pub sampler: String,
    /// Random seed; the same seed and job count give the same results.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Parallel evaluations (default: all cores). TPE proposes this many at a time, so the
    /// results depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Out-of-sample window (YYYYMMDD-YYYYMMDD) to check the best parameters on.
    #[arg(long, conflicts_with = "split")]
    pub oos_timerange: Option<String>,
    /// Optimise on this share of the data and check on the rest (e.g. 0.7).
    #[arg(long)]
    pub split: Option<f64>,
    /// Walk-forward folds: optimise on each of K windows, test on the next.
    #[arg(long, value_name = "K")]
    pub walk_forward: Option<usize>,
    /// Rows of the best-epochs table.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Write every epoch as JSON.
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Write the best parameters as a strategy config JSON.
    #[arg(long, value_name = "FILE")]
    pub best_config: Option<PathBuf>,
    /// Write an SVG heat map of the two most important parameters.
    #[arg(long, value_name = "FILE")]
    pub heatmap: Option<PathBuf>,
    /// Stake per trade in the stake currency, or `unlimited`.
    #[arg(long, default_value = "unlimited")]
    pub stake_amount: String,
    /// Starting wallet (Freqtrade's dry_run_wallet).
    #[arg(long, default_value_t = 1000.0)]
    pub wallet: f64,
    /// Maximum simultaneous trades; -1 for unlimited.
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
    pub max_open_trades: i64,
    /// Fee ratio per side (0.001 = 0.1%).
    #[arg(long, default_value_t = 0.001, allow_negative_numbers = true)]
    pub fee: f64,
    /// spot or futures.
    #[arg(long, default_value = "spot")]
    pub trading_mode: String,
    /// Leverage for futures (default: the strategy's).
    #[arg(long)]
    pub leverage: Option<f64>,
    /// Print the results as JSON (best, top epochs, out-of-sample, folds).
    #[arg(long)]
    pub json: bool,
}

/// The smallest range covering both (an open side stays open): what must be loaded.
fn union(a: &TimeRange, b: &TimeRange) -> TimeRange {
    TimeRange { start_ms: a.start_ms.zip(b.start_ms).map(|(x, y)| x.min(y)), end_ms: a.end_ms.zip(b.end_ms).map(|(x, y)| x.max(y)) }
}

fn range_text(r: &TimeRange) -> String {
    let day = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).map(|d| d.format("%Y%m%d").to_string()).unwrap_or_default();
    format!("{}-{}", r.start_ms.map(day).unwrap_or_default(), r.end_ms.map(day).unwrap_or_default())
}

/// Maps request field names back to the flags a CLI user typed.
fn flag_error(e: BacktestFailure) -> anyhow::Error {
    match e {
        BacktestFailure::InvalidField { field, message } => {
            let flag = match field {
                "dry_run_wallet" => "wallet",
                "stake_amount" => "stake-amount",
                "max_open_trades" => "max-open-trades",
                "trading_mode" => "trading-mode",
                other => other,
            };
            anyhow::anyhow!("invalid --{flag}: {message}")
        }
        other => anyhow::Error::new(other),
    }
}

fn svg_path(flag: &str, p: &std::path::Path) -> anyhow::Result<()> {
    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
    anyhow::ensure!(
        ext.eq_ignore_ascii_case("svg"),
        "invalid --{flag} '{}': the heat map is written as SVG, use a .svg file name",
        p.display()
    );
    Ok(())
}

/// Runs `tradai hyperopt`.
pub fn run(a: HyperoptArgs, settings: &Settings, quiet: bool) -> anyhow::Result<ExitCode> {
    // Every flag is checked before the store is touched, so a typo is reported as such.
    let spaces = SpaceName::parse_list(&a.spaces).map_err(|e| anyhow::anyhow!("invalid --spaces: {e}"))?;
    let loss: LossFunction = a.loss.parse().map_err(|e| anyhow::anyhow!("invalid --loss: {e}"))?;
    let sampler: SamplerKind = a.sampler.parse().map_err(|e| anyhow::anyhow!("invalid --sampler: {e}"))?;
    if let Some(p) = &a.heatmap {
        svg_path("heatmap", p)?;
    }
    anyhow::ensure!(a.jobs != Some(0), "invalid --jobs 0: use at least 1 (or omit it for all cores)");
    let in_sample = crate::args::parse_timerange(a.timerange.as_deref()).context("invalid --timerange")?;
    let oos = a.oos_timerange.as_deref().map(str::parse::<TimeRange>).transpose().context("invalid --oos-timerange")?;
    let stake = match a.stake_amount.parse::<f64>() {
        Ok(x) => serde_json::json!(x),
        Err(_) => serde_json::Value::String(a.stake_amount.clone()),
    };
    let load_range = oos.map_or(in_sample, |o| union(&in_sample, &o));
    let req = BacktestRequest {
        strategy: a.strategy.clone(),
        exchange: a.exchange.clone(),
        pairs: a.pairs.clone(),
        timeframe: a.timeframe.clone(),
        timerange: (load_range != TimeRange::all()).then(|| range_text(&load_range)),
        stake_amount: stake,
        dry_run_wallet: a.wallet,
        max_open_trades: a.max_open_trades,
        fee: a.fee,
        trading_mode: a.trading_mode.clone(),
        leverage: a.leverage,
        params: None,
        overrides: None,
    };
    let registry = StrategyRegistry::builtin();
    let validated = req.validate(&registry).map_err(flag_error)?;
    let strategy = registry.get(&validated.strategy)?;
    let mut config = validated.config.clone();
    config.timerange = in_sample;
    let h = Hyperopt::new(
        strategy,
        config,
        HyperoptConfig { epochs: a.epochs, spaces, loss, sampler, seed: a.seed, jobs: a.jobs.unwrap_or(0), tpe_startup: None },
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "{}",
            match &e {
                tradai_hyperopt::HyperoptError::EmptySpace { .. } | tradai_hyperopt::HyperoptError::NoSpaces =>
                    format!("invalid --spaces: {e}"),
                tradai_hyperopt::HyperoptError::InvalidSetting { name: "epochs", .. } => format!("invalid --epochs: {e}"),
                _ => format!("{:#}", anyhow::Error::new(e)),
            }
        )
    })?;
    let store = open_store(settings)?;
    let cancel = AtomicBool::new(false);
    let data = backtest::load_pairs(&store, &validated, strategy.settings().startup_candle_count, &cancel).map_err(flag_error)?;
    let plan = RunPlan {
        validation: match (oos, a.split) {
            (Some(r), _) => Validation::OutOfSample(r),
            (None, Some(s)) => Validation::Split(s),
            (None, None) => Validation::None,
        },
        walk_forward: a.walk_forward,
    };
    let pb = progress(h.planned_epochs() as u64 * (1 + a.walk_forward.unwrap_or(0)) as u64, "hyperopt", quiet || a.json);
    let outcome = h
        .run(&data, &plan, &|p| {
            pb.set_position(p.done as u64);
            pb.set_message(format!("best loss {:.5}", p.best_loss));
        })
        .map_err(anyhow::Error::new)?;
    pb.finish_and_clear();
    drop(data);
    let best = outcome.study.best();
    let best_cfg = best_config(strategy, h.space(), &best.point);
    if let Some(path) = &a.export {
        let text = serde_json::to_string_pretty(&outcome)?;
        std::fs::write(path, text).with_context(|| format!("cannot write epochs file '{}'", path.display()))?;
    }
    if let Some(path) = &a.best_config {
        std::fs::write(path, serde_json::to_string_pretty(&best_cfg)?)
            .with_context(|| format!("cannot write best config '{}'", path.display()))?;
    }
    let heat = a.heatmap.as_ref().map(|path| {
        let title = format!("{} hyperopt, {} epochs, {:?} loss", outcome.strategy, outcome.study.epochs.len(), outcome.loss);
        (path, render_heatmap_svg(&outcome.study, &outcome.dimensions, &title))
    });
    if let Some((path, svg)) = &heat {
        match svg {
            Some(svg) => std::fs::write(path, svg).with_context(|| format!("cannot write heat map '{}'", path.display()))?,
            None => tracing::warn!("no heat map: it needs at least two searched parameters"),
        }
    }
    if a.json {
        print_json(&serde_json::json!({
            "strategy": outcome.strategy,
            "loss": outcome.loss,
            "sampler": outcome.sampler,
            "seed": outcome.seed,
            "jobs": outcome.jobs,
            "epochs": outcome.study.epochs.len(),
            "evaluations_per_second": outcome.evaluations_per_second,
            "in_sample_window": outcome.in_sample_window,
            "best": best,
            "best_config": best_cfg,
            "top": outcome.study.top(a.top),
            "importance": importance(&outcome.study, &outcome.dimensions),
            "out_of_sample": outcome.out_of_sample,
            "walk_forward": outcome.walk_forward,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    print_text(&outcome, a.top);
    for (flag, p) in [("epochs", &a.export), ("best config", &a.best_config)] {
        if let Some(p) = p {
            println!("{flag} written to {}", p.display());
        }
    }
    if let Some((p, Some(_))) = &heat {
        println!("heat map written to {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn print_text(o: &HyperoptOutcome, top: usize) {
    let names: Vec<&str> = o.dimensions.iter().map(|d| d.name.as_str()).collect();
    let mut header = vec!["epoch>", "loss>", "trades>", "profit>", "drawdown>", "sharpe>"];
    header.extend(names.iter().copied());
    let mut t = Table::new(&header);
    for e in o.study.top(top) {
        let mut row = vec![
            (e.index + 1).to_string(),
            format!("{:.5}", e.loss),
            e.metrics.trades.to_string(),
            pct(e.metrics.profit_total),
            pct(e.metrics.max_drawdown),
            format!("{:.3}", e.metrics.sharpe),
        ];
        row.extend(names.iter().map(|n| e.params.get(*n).map(ToString::to_string).unwrap_or_default()));
        t.row(row);
    }
    println!(
        "{} epochs of {} ({:?} sampler, {:?} loss, seed {}, {} jobs) in {:.1}s, {:.0} evaluations/s; in-sample {}",
        o.study.epochs.len(),
        o.strategy,
        o.sampler,
        o.loss,
        o.seed,
        o.jobs,
        o.elapsed_s,
        o.evaluations_per_second,
        o.in_sample_window
    );
    print!("{}", t.render());
    let best = o.study.best();
    println!(
        "best: epoch {} loss {:.5}: {}",
        best.index + 1,
        best.loss,
        best.params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    );
    let side = |c: &SampleComparison, t: &mut Table, label: String| {
        t.row(vec![
            label.clone() + " in",
            c.in_sample_window.clone(),
            format!("{:.5}", c.in_sample_loss),
            c.in_sample.trades.to_string(),
            pct(c.in_sample.profit_total),
            pct(c.in_sample.max_drawdown),
            format!("{:.3}", c.in_sample.sharpe),
        ]);
        t.row(vec![
            label + " out",
            c.out_of_sample_window.clone(),
            format!("{:.5}", c.out_of_sample_loss),
            c.out_of_sample.trades.to_string(),
            pct(c.out_of_sample.profit_total),
            pct(c.out_of_sample.max_drawdown),
            format!("{:.3}", c.out_of_sample.sharpe),
        ]);
    };
    if o.out_of_sample.is_some() || !o.walk_forward.is_empty() {
        let mut t = Table::new(&["sample", "window", "loss>", "trades>", "profit>", "drawdown>", "sharpe>"]);
        if let Some(c) = &o.out_of_sample {
            side(c, &mut t, "best".into());
        }
        for f in &o.walk_forward {
            side(&f.comparison, &mut t, format!("fold {}", f.fold + 1));
        }
        print!("{}", t.render());
    }
}
