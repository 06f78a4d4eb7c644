//! `snakepit completions SHELL`: a completion script for bash, zsh or fish, from clap.

use clap::{Args, CommandFactory as _};
use clap_complete::Shell;

use crate::cli::Cli;

/// Arguments of `snakepit completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub(crate) shell: Shell,
}

/// Prints the completion script on stdout.
///
/// # Errors
///
/// Never; the signature matches the other commands.
pub(crate) fn run(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "snakepit", &mut std::io::stdout());
    Ok(())
}
