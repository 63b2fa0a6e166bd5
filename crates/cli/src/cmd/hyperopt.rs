//! `tradai hyperopt`: flags → a [`HyperoptRequest`] (the same backtest flags and checks as
//! `tradai backtest`); the run is `tradai_app::hyperopt::run`, drawn as a progress bar;
//! results go to a table, JSON files and an SVG.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::Args;
use tradai_app::hyperopt::{self, HyperoptRequest};
use tradai_hyperopt::{HyperoptOutcome, SampleComparison};
use tradai_settings::Settings;

use crate::args::{flag_error, BacktestFlags};
use crate::cmd::data::open_store;
use crate::output::{print_json, progress, Table};

/// `tradai hyperopt` flags.
#[derive(Debug, Args)]
pub struct HyperoptArgs {
    /// Strategy, market, in-sample window and money: the flags of `tradai backtest`.
    #[command(flatten)]
    pub run: BacktestFlags,
    /// A strategy file instead of a built-in strategy.
    #[command(flatten)]
    pub source: crate::cmd::strategy_source::StrategySourceArgs,
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
    /// Print the results as JSON (best, top epochs, out-of-sample, folds).
    #[arg(long)]
    pub json: bool,
    /// Progress as JSON lines on stderr (`{"epochs_done", "epochs_total", "best_loss"}`)
    /// instead of a bar: what the subprocess executor of the services reads.
    #[arg(long)]
    pub progress_json: bool,
}

impl HyperoptArgs {
    /// The request these flags describe.
    #[must_use]
    pub fn request(&self) -> HyperoptRequest {
        HyperoptRequest {
            backtest: self.run.request(),
            epochs: self.epochs,
            spaces: vec![self.spaces.clone()],
            loss: self.loss.clone(),
            sampler: self.sampler.clone(),
            seed: self.seed,
            jobs: self.jobs,
            oos_timerange: self.oos_timerange.clone(),
            split: self.split,
            walk_forward: self.walk_forward,
            top: self.top,
        }
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
    if let Some(p) = &a.heatmap {
        svg_path("heatmap", p)?;
    }
    // Every flag is checked before the store is touched, so a typo is reported as such.
    let registry = a.source.registry(&a.run.strategy)?;
    let v = a.request().validate(&registry).map_err(flag_error)?;
    let store = open_store(settings)?;
    let pb = progress(v.planned_epochs(&registry) as u64, "hyperopt", quiet || a.json || a.progress_json);
    let cancel = AtomicBool::new(false);
    let result = hyperopt::run_validated(
        &store,
        &v,
        &registry,
        &|p| {
            if a.progress_json {
                let best = if p.best_loss.is_finite() { serde_json::json!(p.best_loss) } else { serde_json::Value::Null };
                eprintln!("{}", serde_json::json!({"epochs_done": p.done, "epochs_total": p.total, "best_loss": best}));
            }
            pb.set_position(p.done as u64);
            pb.set_message(format!("best loss {:.5}", p.best_loss));
        },
        &cancel,
    )
    .map_err(flag_error)?;
    pb.finish_and_clear();
    if let Some(path) = &a.export {
        let text = serde_json::to_string_pretty(&result.outcome)?;
        std::fs::write(path, text).with_context(|| format!("cannot write epochs file '{}'", path.display()))?;
    }
    if let Some(path) = &a.best_config {
        std::fs::write(path, serde_json::to_string_pretty(&result.report.best_config)?)
            .with_context(|| format!("cannot write best config '{}'", path.display()))?;
    }
    if let Some(path) = &a.heatmap {
        match &result.heatmap_svg {
            Some(svg) => std::fs::write(path, svg).with_context(|| format!("cannot write heat map '{}'", path.display()))?,
            None => tracing::warn!("no heat map: it needs at least two searched parameters"),
        }
    }
    if a.json {
        print_json(&result.report)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_text(&result.outcome, a.top);
    for (flag, p) in [("epochs", &a.export), ("best config", &a.best_config)] {
        if let Some(p) = p {
            println!("{flag} written to {}", p.display());
        }
    }
    if let (Some(p), Some(_)) = (&a.heatmap, &result.heatmap_svg) {
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
