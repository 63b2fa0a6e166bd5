//! The command line at the top: the `tradai` parser, the flags every command accepts, and the
//! list of commands. Each command's own flags live beside it in `cmd/<name>.rs`, and flags
//! several commands share in `flags.rs`; this module only assembles them (it imports from
//! `cmd`, never the other way round).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use tradai_settings::{Settings, SettingsSources};

use crate::cmd;
use crate::output::Ui;

/// TradAI: crypto trading research and automation, in one binary.
///
/// Settings come from built-in defaults, then ./tradai.toml (or --config), then TRADAI_*
/// environment variables (TRADAI_DATA_DIR, TRADAI_BINANCE__API_KEY, ...), then flags.
/// `tradai config show` prints the result with secrets masked.
#[derive(Debug, Parser)]
#[command(name = "tradai", version, about, long_about, propagate_version = true, max_term_width = 100)]
#[command(after_help = "Typical session (sample candles ship in sample-data/):
  tradai data import freqtrade sample-data/binance --exchange binance
  tradai data list
  tradai backtest -s EmaCross -p ETH/BTC,LTC/BTC -i 5m --stake-amount 0.05")]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every command (before or after the subcommand).
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Candle store location: a directory (default ~/.tradai/data) or s3://bucket/prefix.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// Settings file (default: ./tradai.toml when present).
    #[arg(short = 'c', long, global = true, value_name = "FILE", env = "TRADAI_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format: human lines or JSON lines (logs go to stderr).
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<LogFormatArg>,
    /// Log filter, e.g. `debug` or `tradai=debug,info`.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Only warnings and errors; no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Colours in reports and logs: auto (only on a terminal, and not with NO_COLOR set),
    /// always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    /// Human-readable lines.
    Human,
    /// JSON lines.
    Json,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// Colour when the output is a terminal and NO_COLOR is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorArg {
    /// Whether to colour a stream that `is_terminal` says is (or is not) a terminal.
    #[must_use]
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    /// Whether to colour standard output.
    #[must_use]
    pub fn stdout(self) -> bool {
        self.enabled(std::io::stdout().is_terminal())
    }

    /// Whether to colour standard error (logs).
    #[must_use]
    pub fn stderr(self) -> bool {
        self.enabled(std::io::stderr().is_terminal())
    }
}

impl GlobalArgs {
    /// Loads the layered settings with these flags as the top layer.
    pub fn load_settings(&self) -> anyhow::Result<Settings> {
        let mut flags = BTreeMap::new();
        if let Some(d) = &self.data_dir {
            flags.insert("data_dir".to_owned(), d.clone());
        }
        if let Some(f) = self.log_format {
            flags.insert(
                "log_format".to_owned(),
                match f {
                    LogFormatArg::Human => "human",
                    LogFormatArg::Json => "json",
                }
                .to_owned(),
            );
        }
        if let Some(l) = &self.log_level {
            flags.insert("log_level".to_owned(), l.clone());
        }
        Ok(Settings::load(&SettingsSources::from_process(self.config.clone(), flags))?)
    }
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import, list, check and generate candle data.
    #[command(subcommand)]
    Data(cmd::data::DataCommand),
    /// Run a strategy over stored candles and report its trades and metrics.
    ///
    /// Follows Freqtrade's backtest semantics trade for trade: signals of candle t are acted on
    /// at candle t+1's open; exits are checked in the order exit signal, stop-loss, ROI,
    /// trailing stop.
    #[command(after_help = cmd::backtest::EXAMPLES)]
    Backtest(cmd::backtest::BacktestArgs),
    /// Search strategy parameters (and ROI, stop-loss, trailing) for the lowest loss.
    ///
    /// Samplers: tpe (Bayesian), random, grid; the same --seed and --jobs give the same
    /// results. --oos-timerange or --split checks the best parameters on held-out data.
    /// Ctrl-C stops the search after the running batch and reports (and writes) the best
    /// result so far; a second Ctrl-C aborts.
    #[command(after_help = cmd::hyperopt::EXAMPLES)]
    Hyperopt(cmd::hyperopt::HyperoptArgs),
    /// Run a trading node: the strategy on candles as they come, with the backtest's rules.
    ///
    /// Takes the same strategy, pair and money flags as `tradai backtest`. --replay trades over
    /// the stored candles as fast as possible: a dry-run replay gives the backtest's trades.
    /// State (trades, orders, wallet) is kept under the data dir; the same --bot-id resumes it.
    #[command(after_help = cmd::trade::EXAMPLES)]
    Trade(cmd::trade::TradeArgs),
    /// Built-in strategies and their tunable parameters.
    #[command(subcommand)]
    Strategies(cmd::strategies::StrategiesCommand),
    /// Check a strategy for look-ahead bias and for indicators that need more start-up candles.
    #[command(subcommand)]
    Analysis(cmd::analysis::AnalysisCommand),
    /// Inspect the effective settings.
    #[command(subcommand)]
    Config(cmd::config::ConfigCommand),
    /// Run every service (backend-api, data-collection, strategy-service) in one process.
    #[command(after_help = cmd::services::UP_EXAMPLES)]
    Up(cmd::services::UpArgs),
    /// Run one service on its own.
    #[command(after_help = cmd::services::SERVE_EXAMPLES)]
    Serve(cmd::services::ServeArgs),
    /// Run backtests and hyperopt jobs from the backend's SQS queue (EXECUTOR_MODE=sqs).
    ///
    /// Any number of workers share one queue, job table (DYNAMODB_TABLE_NAME, or this
    /// machine's job database) and data; a job delivered twice runs once.
    #[command(after_help = cmd::worker::EXAMPLES)]
    Worker(cmd::worker::WorkerArgs),
    /// Run the one job of a strategy container (the ECS task's entrypoint).
    ///
    /// Reads TRADING_MODE (backtest, hyperopt), STRATEGY_NAME, STRATEGY_STAGE and JOB_ID from
    /// the environment, claims that job, runs it and exits 0 when it is COMPLETED.
    #[command(after_help = cmd::strategy_container::EXAMPLES)]
    StrategyContainer(cmd::strategy_container::StrategyContainerArgs),
    /// Submit and follow jobs on a running backend (`--api URL`).
    #[command(subcommand)]
    Jobs(cmd::services::JobsCommand),
    /// Manage API keys of the backend.
    #[command(subcommand)]
    Keys(cmd::services::KeysCommand),
    /// Tracked runs (backtests, hyperopt): list, search, show, compare.
    ///
    /// Reads the tracker the settings name: the embedded store under the data dir by default,
    /// or an MLflow server (tracking.uri / TRADAI_TRACKING__URI / MLFLOW_TRACKING_URI).
    #[command(subcommand)]
    Runs(cmd::tracking::RunsCommand),
    /// The model registry: strategies and models, versions, champion/challenger, promote, rollback.
    #[command(subcommand)]
    Models(cmd::tracking::ModelsCommand),
    /// ML models: train, check drift, compare champion and challenger, retrain, roll back.
    #[command(subcommand)]
    Ml(cmd::ml::MlCommand),
    /// The platform's 18 handlers (health, heartbeats, drift, model lifecycle, queues): list, run.
    #[command(subcommand)]
    Handlers(cmd::handlers::HandlersCommand),
    /// Serve one handler as an AWS Lambda function (the container image's entry point).
    #[cfg(feature = "aws")]
    #[command(after_help = cmd::lambda::EXAMPLES)]
    Lambda(cmd::lambda::LambdaArgs),
    /// CloudFormation stacks of the platform: render, apply, diff.
    #[command(subcommand)]
    Deploy(cmd::deploy::DeployCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    #[command(after_help = cmd::completions::EXAMPLES)]
    Completions(cmd::completions::CompletionsArgs),
    /// Print the manual page (roff) of tradai to stdout.
    #[command(after_help = cmd::man::EXAMPLES)]
    Man(cmd::man::ManArgs),
}

impl Command {
    /// Runs this command.
    pub fn run(self, settings: &Settings, ui: Ui) -> anyhow::Result<ExitCode> {
        use cmd::{
            analysis, backtest, completions, config, data, deploy, handlers, hyperopt, man, ml, services, strategies, tracking, trade,
        };
        match self {
            Self::Config(c) => config::run(c, settings),
            Self::Up(a) => services::run_up(a, settings),
            Self::Serve(a) => services::run_serve(a, settings),
            Self::Jobs(c) => services::run_jobs(c, settings, ui),
            Self::Keys(c) => services::run_keys(c, settings),
            Self::Worker(a) => cmd::worker::run(a, settings),
            Self::StrategyContainer(a) => cmd::strategy_container::run(a, settings, ui),
            Self::Data(c) => data::run(c, settings, ui.quiet),
            Self::Backtest(a) => backtest::run(a, settings, ui),
            Self::Hyperopt(a) => hyperopt::run(a, settings, ui),
            Self::Strategies(c) => strategies::run(c),
            Self::Analysis(c) => analysis::run(c, settings),
            Self::Runs(c) => tracking::run_runs(c, settings),
            Self::Models(c) => tracking::run_models(c, settings),
            Self::Ml(c) => ml::run(c, settings, ui.quiet),
            Self::Trade(a) => trade::run(a, settings, ui),
            Self::Handlers(c) => handlers::run(c, settings),
            #[cfg(feature = "aws")]
            Self::Lambda(a) => cmd::lambda::run(&a, settings),
            Self::Deploy(c) => deploy::run(c, ui),
            Self::Completions(a) => completions::run(&a, Cli::command()),
            Self::Man(a) => man::run(&a, Cli::command()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// Every command a user can run, as its path of names (`["data", "import", "csv"]`).
    fn leaves(c: &clap::Command, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
        let subs: Vec<_> = c.get_subcommands().filter(|s| s.get_name() != "help").collect();
        if subs.is_empty() {
            out.push((path.clone(), c.get_after_help().map(ToString::to_string).unwrap_or_default()));
        }
        for s in subs {
            path.push(s.get_name().to_owned());
            leaves(s, path, out);
            path.pop();
        }
    }

    /// The example lines of a help text: lines that start with `tradai `.
    pub(crate) fn examples(help: &str) -> Vec<String> {
        help.lines().map(str::trim).filter(|l| l.starts_with("tradai ")).map(str::to_owned).collect()
    }

    #[test]
    fn every_command_has_an_example_that_parses_and_fits_a_terminal() {
        let mut all = Vec::new();
        leaves(&Cli::command(), &mut Vec::new(), &mut all);
        assert!(all.len() > 20, "{}", all.len());
        for (path, help) in all {
            let ex = examples(&help);
            let name = format!("tradai {}", path.join(" "));
            assert!(ex.iter().any(|e| e.starts_with(&name)), "{name} has no example of itself in its help: {help:?}");
            for e in ex {
                // Examples are pasted as they are: no continuation lines, none re-wrapped on an
                // 80-column terminal.
                assert!(e.len() < 80 && !e.ends_with('\\'), "{name}: example too long to stay on one line: {e}");
                // Shell redirections and `&&` chains are the shell's, not tradai's.
                let words: Vec<&str> = e.split_whitespace().take_while(|w| !matches!(*w, ">" | "&&" | "|")).collect();
                if let Err(err) = Cli::try_parse_from(&words) {
                    panic!("{name}: example does not parse: {e}\n{err}");
                }
            }
        }
    }
}
