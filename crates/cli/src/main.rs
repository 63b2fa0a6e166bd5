//! Entry point of the `tradai` binary: parse flags, set up logging, run one command.
//!
//! `main` stays thin: every command returns `anyhow::Result<ExitCode>`, and an error is printed
//! as one line (`error: ...` with its causes joined) so scripts and people both can read it.

mod args;
mod cmd;
mod flags;
mod logging;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Cli::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` joins the cause chain with ": " on a single line.
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: args::Cli) -> anyhow::Result<ExitCode> {
    let settings = args.global.load_settings()?;
    logging::init(&settings, &args.global);
    let ui = output::Ui { quiet: args.global.quiet, color: args.global.color.stdout() };
    args.command.run(&settings, ui)
}
