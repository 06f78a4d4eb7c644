//! The `snakepit` command line: a thin binary over the `snakepit` library.
//!
//! It parses the arguments, sets up logging, pins the process to a CPU when `bench --pin`
//! asks for it (before any runtime thread exists, so every thread and every worker inherits
//! the affinity), builds the tokio runtime and hands over to one of [`commands`].

mod cli;
mod commands;
mod config;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `warn`).
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Bench(args) = &cli.command {
        if let Some(cpu) = args.pin {
            commands::bench::pin_to_cpu(cpu)?;
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the tokio runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => commands::demo::run(&args).await,
            Command::Call(args) => commands::call::run(args).await,
            Command::Tools(args) => commands::tools::run(&args).await,
            Command::Bench(args) => commands::bench::run(args).await,
            Command::Status(args) => commands::registry::status(&args),
            Command::Cleanup(args) => commands::registry::cleanup(&args),
            Command::Config(command) => commands::config::run(&command),
        }
    })
}
