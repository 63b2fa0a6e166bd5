//! `tradai backtest`: thin translation of flags into a [`RunSpec`] and of its report into
//! text, an export file and a plot.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::Args;
use tradai_app::backtest;
use tradai_app::{BacktestRequest, RunSpec};
use tradai_settings::Settings;

use crate::cmd::data::open_store;
use crate::flags::{flag_error, RunFlags};
use crate::output::{print_json, Ui};

/// Help examples of `tradai backtest` (they run on the sample candles).
pub const EXAMPLES: &str = "Examples (on the sample candles of ./scripts/quickstart.sh):
  tradai backtest -s EmaCross -p ETH/BTC,LTC/BTC -i 5m --timerange 20180115-
  tradai backtest -s EmaCross -p ETH/BTC --stake-amount 0.05 --wallet 1 --json
  tradai backtest -s EmaCross -p ETH/BTC LTC/BTC --export out.json --plot eq.svg

A Freqtrade strategy file (python3 with pandas and pyarrow) or a TOML strategy:
  tradai backtest --strategy-path my_strategies -s EmaCross -p ETH/BTC -i 5m
  tradai backtest --strategy-file EmaCrossToml.toml -s EmaCrossToml -p ETH/BTC

Run settings may also come from the [run] table of tradai.toml, e.g.
  [run]
  strategy = \"EmaCross\"
  pairs = [\"ETH/BTC\", \"LTC/BTC\"]
  stake_amount = 0.05
  dry_run_wallet = 1
Flags win over the file.";

/// `tradai backtest` flags: the run plus report options.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Strategy, market, window and money.
    #[command(flatten)]
    pub run: RunFlags,
    /// A strategy file instead of a built-in strategy.
    #[command(flatten)]
    pub source: crate::cmd::strategy_source::StrategySourceArgs,
    /// Strategy config JSON as `tradai hyperopt --best-config` writes it:
    /// {"strategy", "params", "minimal_roi", "stoploss", "trailing_*"}.
    #[arg(long, value_name = "FILE")]
    pub strategy_config: Option<PathBuf>,
    /// Write trades and summary as JSON (Freqtrade's export shape).
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Draw the equity curve and drawdown to an SVG file.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Print the summary as JSON instead of the text report.
    #[arg(long)]
    pub json: bool,
}

/// What a `--strategy-config` file adds to the run: its strategy, parameters and overrides.
fn strategy_config(path: &std::path::Path) -> anyhow::Result<BacktestRequest> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read strategy config '{}'", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("strategy config '{}' is not valid JSON", path.display()))?;
    strategy_config_doc(v, &format!("'{}'", path.display()))
}

/// What a strategy config document adds to a run (`{"strategy", "params", "minimal_roi",
/// "stoploss", "trailing_*"}`, as `tradai hyperopt --best-config` writes it and the registry
/// stores it): its strategy, parameters and overrides; `origin` names it in errors.
pub(crate) fn strategy_config_doc(v: serde_json::Value, origin: &str) -> anyhow::Result<BacktestRequest> {
    BacktestRequest::from_strategy_config(v, "strategy config").map_err(|e| match e {
        backtest::BacktestFailure::InvalidField { message, .. } => anyhow::anyhow!("invalid strategy config {origin}: {message}"),
        e => anyhow::Error::new(e),
    })
}

/// The run a set of `tradai backtest` flags describes (with a `--strategy-config` file read and
/// the settings' `[run]` table under the flags).
pub fn spec(a: &BacktestArgs, settings: &Settings) -> anyhow::Result<RunSpec> {
    let Some(path) = &a.strategy_config else { return a.run.spec(settings, BacktestRequest::default()) };
    let mut extra = strategy_config(path)?;
    let file_strategy = extra.strategy.take();
    let spec = a.run.spec(settings, BacktestRequest { strategy: a.run.strategy.clone().or(file_strategy.clone()), ..extra })?;
    if let Some(s) = file_strategy {
        anyhow::ensure!(s == spec.strategy, "strategy config '{}' is for strategy '{s}', not '{}'", path.display(), spec.strategy);
    }
    Ok(spec)
}

/// Runs `tradai backtest`.
pub fn run(a: BacktestArgs, settings: &Settings, ui: Ui) -> anyhow::Result<ExitCode> {
    if let Some(p) = &a.plot {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        anyhow::ensure!(
            ext.eq_ignore_ascii_case("svg"),
            "invalid --plot '{}': the plot is written as SVG, use a .svg file name",
            p.display()
        );
    }
    let spec = spec(&a, settings)?;
    // Validate before touching the store so a typo is reported as such, not as a store error.
    let registry = a.source.registry_for(&spec.strategy, settings)?;
    let validated = spec.validate(&registry).map_err(flag_error)?;
    let store = open_store(settings)?;
    let cancel = AtomicBool::new(false);
    // The typed report: the trades' JSON is built only for --export.
    let report = backtest::run_report(&store, &validated, &registry, &|_| {}, &cancel).map_err(flag_error)?;
    if let Some(path) = &a.export {
        let file = std::fs::File::create(path).with_context(|| format!("cannot write export file '{}'", path.display()))?;
        report.write_export(file).with_context(|| format!("cannot write export file '{}'", path.display()))?;
    }
    if let Some(path) = &a.plot {
        std::fs::write(path, &report.equity_svg).with_context(|| format!("cannot write plot '{}'", path.display()))?;
    }
    if a.json {
        // Through a JSON value, so the keys print sorted (the export file keeps Freqtrade's order).
        print_json(&serde_json::to_value(&report.export.summary)?)?;
    } else {
        let mut text = report.report_text.clone();
        if ui.color {
            text = tradai_metrics::render_text_report(
                &report.export.summary,
                &tradai_metrics::ReportOptions { strategy: validated.strategy.clone(), color: true },
            );
        }
        print!("{text}");
        if let Some(p) = &a.export {
            println!("trades and summary written to {}", p.display());
        }
        if let Some(p) = &a.plot {
            println!("equity plot written to {}", p.display());
        }
    }
    // A long run's trades are many allocations (a year of 1m candles: ~50k trades); the
    // process exits right after this, so they are not freed one by one.
    std::mem::forget(report);
    Ok(ExitCode::SUCCESS)
}
