//! `tradai completions <shell>`: a shell completion script generated from the parser itself,
//! so it can never fall behind the flags.

use std::process::ExitCode;

use clap::Args;
use clap_complete::Shell;

/// Help examples of `tradai completions`.
pub const EXAMPLES: &str = "Examples:
  tradai completions bash > ~/.local/share/bash-completion/completions/tradai
  tradai completions zsh > ~/.zfunc/_tradai
  tradai completions fish > ~/.config/fish/completions/tradai.fish";

/// `tradai completions` flags.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Runs `tradai completions`.
pub fn run(a: &CompletionsArgs, mut cmd: clap::Command) -> anyhow::Result<ExitCode> {
    clap_complete::generate(a.shell, &mut cmd, "tradai", &mut std::io::stdout().lock());
    Ok(ExitCode::SUCCESS)
}
