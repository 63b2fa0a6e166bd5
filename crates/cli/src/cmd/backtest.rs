//! `tradai backtest` and `tradai strategies list`: thin translation of flags into a
//! [`BacktestRequest`] and of its outcome into a report, an export file and a plot.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use tradai_app::backtest::{self, BacktestRequest, SettingsOverrides};
use tradai_engine::{ParamKind, StrategyRegistry};
use tradai_settings::Settings;

use crate::args::{flag_error, BacktestArgs, StrategiesCommand};
use crate::cmd::data::open_store;
use crate::output::{print_json, Table};

/// The request a set of `tradai backtest` flags describes (with a `--strategy-config` file read).
fn request(a: &BacktestArgs) -> anyhow::Result<BacktestRequest> {
    let (params, overrides) = match &a.strategy_config {
        None => (None, None),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read strategy config '{}'", path.display()))?;
            let mut v: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("strategy config '{}' is not valid JSON", path.display()))?;
            let obj = v.as_object_mut().ok_or_else(|| anyhow::anyhow!("strategy config '{}' must be a JSON object", path.display()))?;
            if let Some(s) = obj.remove("strategy") {
                anyhow::ensure!(
                    s.as_str() == Some(a.run.strategy.as_str()),
                    "strategy config '{}' is for strategy {s}, not '{}'",
                    path.display(),
                    a.run.strategy
                );
            }
            let params = obj.remove("params").map(|p| match p {
                serde_json::Value::Object(m) => Ok(m),
                other => Err(anyhow::anyhow!("invalid \"params\" in '{}': expected an object, got {other}", path.display())),
            });
            let params = params.transpose()?;
            let overrides: SettingsOverrides = serde_json::from_value(serde_json::Value::Object(obj.clone()))
                .with_context(|| format!("invalid strategy config '{}'", path.display()))?;
            (params, Some(overrides))
        }
    };
    Ok(BacktestRequest { params, overrides, ..a.run.request() })
}

/// Runs `tradai backtest`.
pub fn run(a: BacktestArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    if let Some(p) = &a.plot {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        anyhow::ensure!(
            ext.eq_ignore_ascii_case("svg"),
            "invalid --plot '{}': the plot is written as SVG, use a .svg file name",
            p.display()
        );
    }
    let req = request(&a)?;
    let registry = a.source.registry(&a.run.strategy)?;
    // Validate before touching the store so a typo is reported as such, not as a store error.
    req.validate(&registry).map_err(flag_error)?;
    let store = open_store(settings)?;
    let cancel = AtomicBool::new(false);
    // The typed report: the trades' JSON is built only for --export.
    let report = backtest::run_report_in(&store, &req, &registry, &|_| {}, &cancel).map_err(flag_error)?;
    if let Some(path) = &a.export {
        let doc = report.export_json()?;
        let text = serde_json::to_string_pretty(&doc)?;
        std::fs::write(path, text).with_context(|| format!("cannot write export file '{}'", path.display()))?;
        // Millions of small allocations; the process exits soon, so they are not freed one by one.
        std::mem::forget(doc);
    }
    if let Some(path) = &a.plot {
        std::fs::write(path, &report.equity_svg).with_context(|| format!("cannot write plot '{}'", path.display()))?;
    }
    if a.json {
        // Through a JSON value, so the keys print sorted as in the export file.
        print_json(&serde_json::to_value(&report.export.summary)?)?;
    } else {
        let mut text = report.report_text.clone();
        if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            text = tradai_metrics::render_text_report(
                &report.export.summary,
                &tradai_metrics::ReportOptions { strategy: a.run.strategy.clone(), color: true },
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

/// Runs `tradai strategies ...`.
pub fn strategies(cmd: StrategiesCommand) -> anyhow::Result<ExitCode> {
    let registry = StrategyRegistry::builtin();
    match cmd {
        StrategiesCommand::List { json } => {
            let mut rows = Vec::new();
            for info in registry.list() {
                let s = registry.get(&info.name)?;
                rows.push((info, s.settings()));
            }
            if json {
                print_json(
                    &rows
                        .iter()
                        .map(|(i, s)| serde_json::json!({"name": i.name, "settings": s, "parameters": i.parameters}))
                        .collect::<Vec<_>>(),
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = Table::new(&["strategy", "timeframe", "startup>", "stoploss>", "ROI", "trailing", "short", "parameters"]);
            for (i, s) in &rows {
                let roi = s.minimal_roi.iter().map(|(k, v)| format!("{k}m:{v}")).collect::<Vec<_>>().join(" ");
                let params = i
                    .parameters
                    .iter()
                    .map(|p| match &p.kind {
                        ParamKind::Int { low, high } => format!("{}={} [{low}..{high}]", p.name, p.default),
                        ParamKind::Decimal { low, high, .. } => format!("{}={} [{low}..{high}]", p.name, p.default),
                        _ => format!("{}={}", p.name, p.default),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                t.row(vec![
                    i.name.clone(),
                    s.timeframe.to_string(),
                    s.startup_candle_count.to_string(),
                    s.stoploss.to_string(),
                    roi,
                    if s.trailing_stop { "yes".into() } else { "no".into() },
                    if s.can_short { "yes".into() } else { "no".into() },
                    params,
                ]);
            }
            print!("{}", t.render());
        }
    }
    Ok(ExitCode::SUCCESS)
}
