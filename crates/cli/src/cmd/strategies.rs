//! `tradai strategies list`: the built-in strategies, their settings and tunable parameters.

use std::process::ExitCode;

use clap::Subcommand;
use tradai_engine::{ParamKind, StrategyRegistry};

use crate::output::{print_json, Table};

/// `tradai strategies ...`
#[derive(Debug, Subcommand)]
pub enum StrategiesCommand {
    /// List strategies with their timeframe, exits and parameters.
    #[command(after_help = "Example:\n  tradai strategies list --json")]
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `tradai strategies ...`.
pub fn run(cmd: StrategiesCommand) -> anyhow::Result<ExitCode> {
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
