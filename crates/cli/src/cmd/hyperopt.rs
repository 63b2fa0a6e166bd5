//! `tradai hyperopt`: flags → a [`HyperoptRequest`] (the same run flags and checks as
//! `tradai backtest`); the run is `tradai_app::hyperopt::run_until`, drawn as a progress bar;
//! results go to a table, JSON files and an SVG. Ctrl-C ends the search early and still
//! reports and writes the best result so far; a second Ctrl-C aborts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tradai_app::hyperopt::{self, defaults, HyperoptRequest};
use tradai_app::BacktestRequest;
use tradai_hyperopt::{HyperoptOutcome, SampleComparison};
use tradai_settings::Settings;

use crate::cmd::data::open_store;
use crate::flags::{flag_error, RunFlags};
use crate::output::{print_json, progress, Table, Ui};

/// Help examples of `tradai hyperopt` (they run on the sample candles).
pub const EXAMPLES: &str = "Examples (on the sample candles of ./scripts/quickstart.sh):
  tradai hyperopt -s EmaCross -p ETH/BTC,LTC/BTC -i 5m -e 50 --seed 1
  tradai hyperopt -s EmaCross -p ETH/BTC -e 200 --spaces buy,roi --split 0.7
  tradai hyperopt -s EmaCross -p ETH/BTC -e 100 --best-config best.json";

/// `--loss` values (Freqtrade's `--hyperopt-loss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LossArg {
    /// Sharpe ratio of daily returns.
    Sharpe,
    /// Sortino ratio of daily returns.
    Sortino,
    /// Calmar ratio.
    Calmar,
    /// Total profit.
    Profit,
    /// Maximum drawdown.
    #[value(name = "max_drawdown", alias = "max-drawdown")]
    MaxDrawdown,
    /// Profit, drawdown and trade count combined.
    Multi,
}

/// `--sampler` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SamplerArg {
    /// Tree-structured Parzen estimators (Bayesian).
    Tpe,
    /// Uniformly random points.
    Random,
    /// A grid over every dimension.
    Grid,
}

/// `--spaces` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpaceArg {
    /// The strategy's entry parameters.
    Buy,
    /// The strategy's exit parameters.
    Sell,
    /// The ROI table.
    Roi,
    /// The stop-loss.
    Stoploss,
    /// The trailing stop.
    Trailing,
    /// Every space.
    All,
    /// Freqtrade's default: buy, sell, roi, stoploss.
    Default,
}

/// The names the request takes for a closed value set (as clap shows them).
fn value_name<T: ValueEnum>(v: T) -> String {
    v.to_possible_value().map(|p| p.get_name().to_owned()).unwrap_or_default()
}

/// `tradai hyperopt` flags.
#[derive(Debug, Args)]
pub struct HyperoptArgs {
    /// Strategy, market, in-sample window and money: the flags of `tradai backtest`.
    #[command(flatten)]
    pub run: RunFlags,
    /// A strategy file instead of a built-in strategy.
    #[command(flatten)]
    pub source: crate::cmd::strategy_source::StrategySourceArgs,
    /// Number of evaluations.
    #[arg(short = 'e', long, default_value_t = defaults::EPOCHS)]
    pub epochs: usize,
    /// Spaces to search, separated by commas ("all" is every space, "default" is
    /// buy,sell,roi,stoploss as in Freqtrade).
    #[arg(long, value_enum, value_delimiter = ',', default_value = defaults::SPACES)]
    pub spaces: Vec<SpaceArg>,
    /// Loss to minimise.
    #[arg(long, value_enum, visible_alias = "hyperopt-loss", default_value = defaults::LOSS)]
    pub loss: LossArg,
    /// Sampler.
    #[arg(long, value_enum, default_value = defaults::SAMPLER)]
    pub sampler: SamplerArg,
    /// Random seed; the same seed and job count give the same results.
    #[arg(long, visible_alias = "random-state", default_value_t = 0)]
    pub seed: u64,
    /// Parallel evaluations (default: all cores). TPE proposes this many at a time, so the
    /// results depend on it.
    #[arg(short = 'j', long, visible_alias = "job-workers")]
    pub jobs: Option<usize>,
    /// Out-of-sample window (YYYYMMDD-YYYYMMDD) to check the best parameters on.
    #[arg(long, conflicts_with = "split", allow_hyphen_values = true)]
    pub oos_timerange: Option<String>,
    /// Optimise on this share of the data and check on the rest (e.g. 0.7).
    #[arg(long)]
    pub split: Option<f64>,
    /// Walk-forward folds: optimise on each of K windows, test on the next.
    #[arg(long, value_name = "K")]
    pub walk_forward: Option<usize>,
    /// Rows of the best-epochs table.
    #[arg(long, default_value_t = defaults::TOP)]
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
    /// The request these flags describe, with the settings' `[run]` table under the run flags.
    ///
    /// # Errors
    /// An invalid run flag, named.
    pub fn request(&self, settings: &Settings) -> anyhow::Result<HyperoptRequest> {
        Ok(HyperoptRequest {
            backtest: self.run.spec(settings, BacktestRequest::default())?,
            epochs: self.epochs,
            spaces: vec![self.spaces.iter().map(|s| value_name(*s)).collect::<Vec<_>>().join(",")],
            loss: value_name(self.loss),
            sampler: value_name(self.sampler),
            seed: self.seed,
            jobs: self.jobs,
            oos_timerange: self.oos_timerange.clone(),
            split: self.split,
            walk_forward: self.walk_forward,
            top: self.top,
        })
    }
}

/// Ctrl-C presses counted from a signal thread: the first asks the search to stop early
/// (`stop`), the second cancels (`cancel`), the third exits at once. Returns once the handler
/// is installed, so an early Ctrl-C is not lost to the default handler.
fn on_interrupt(stop: Arc<AtomicBool>, cancel: Arc<AtomicBool>) {
    let (ready, installed) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new().name("ctrl-c".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            #[cfg(unix)]
            let Ok(mut sigint) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) else {
                return;
            };
            let _ = ready.send(());
            let presses = AtomicUsize::new(0);
            loop {
                #[cfg(unix)]
                let got = sigint.recv().await.is_some();
                #[cfg(not(unix))]
                let got = tokio::signal::ctrl_c().await.is_ok();
                if !got {
                    return;
                }
                match presses.fetch_add(1, Ordering::SeqCst) {
                    0 => {
                        eprintln!("interrupted: finishing the running evaluations, then reporting the best so far (Ctrl-C again to abort)");
                        stop.store(true, Ordering::SeqCst);
                    }
                    1 => cancel.store(true, Ordering::SeqCst),
                    _ => std::process::exit(130),
                }
            }
        });
    });
    match spawned {
        Ok(_) => {
            let _ = installed.recv_timeout(std::time::Duration::from_secs(5));
        }
        Err(e) => tracing::warn!(error = %e, "cannot watch for Ctrl-C; it will end the process without a report"),
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
pub fn run(a: HyperoptArgs, settings: &Settings, ui: Ui) -> anyhow::Result<ExitCode> {
    if let Some(p) = &a.heatmap {
        svg_path("heatmap", p)?;
    }
    // Every flag is checked before the store is touched, so a typo is reported as such.
    let req = a.request(settings)?;
    let registry = a.source.registry_for(&req.backtest.strategy, settings)?;
    let v = req.validate(&registry).map_err(flag_error)?;
    let store = open_store(settings)?;
    let pb = progress(v.planned_epochs(&registry) as u64, "hyperopt", ui.quiet || a.json || a.progress_json);
    let stop = Arc::new(AtomicBool::new(false));
    let cancel = Arc::new(AtomicBool::new(false));
    on_interrupt(Arc::clone(&stop), Arc::clone(&cancel));
    let result = hyperopt::run_until(
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
        &stop,
        None,
    )
    .map_err(flag_error)?;
    pb.finish_and_clear();
    if result.outcome.stopped_early {
        eprintln!("stopped early: {} of {} epochs evaluated", result.outcome.study.epochs.len(), v.config.epochs);
    }
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
        let halves = [
            ("in", &c.in_sample_window, c.in_sample_loss, &c.in_sample),
            ("out", &c.out_of_sample_window, c.out_of_sample_loss, &c.out_of_sample),
        ];
        for (which, window, loss, m) in halves {
            t.row(vec![
                format!("{label} {which}"),
                window.clone(),
                format!("{loss:.5}"),
                m.trades.to_string(),
                pct(m.profit_total),
                pct(m.max_drawdown),
                format!("{:.3}", m.sharpe),
            ]);
        }
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
