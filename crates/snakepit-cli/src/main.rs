//! The `snakepit` command line: a thin binary over the `snakepit` library.
//!
//! It parses the arguments, sets up logging, pins the process to a CPU when `bench --pin`
//! asks for it (before any runtime thread exists, so every thread and every worker inherits
//! the affinity), builds the tokio runtime and hands over to one of [`commands`]. Ctrl-C and
//! SIGTERM end the command in order: its pool is dropped, which stops the workers and
//! removes the run from the registry, and the process exits with 130 or 143.

mod args;
mod cli;
mod commands;
mod config;
mod exit;
mod logging;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;

use crate::cli::{Cli, Command};
use crate::exit::Code;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose, cli.quiet);
    let code = match run(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    };
    ExitCode::from(code as u8)
}

fn run(cli: Cli) -> anyhow::Result<Code> {
    if let Command::Bench(args) = &cli.command {
        if let Some(cpu) = args.pin {
            commands::bench::pin_to_cpu(cpu)?;
        }
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = runtime_threads(&cli.command) {
        builder.worker_threads(threads);
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("could not start the tokio runtime")?;
    let quiet = cli.quiet;
    let outcome = runtime.block_on(async move {
        // `serve` handles its own signals: SIGTERM and SIGINT drain and exit 0, SIGHUP reloads.
        if matches!(cli.command, Command::Serve(_)) {
            return dispatch(cli.command, quiet).await.map(|()| None);
        }
        let signal = stop_signal();
        tokio::select! {
            result = dispatch(cli.command, quiet) => result.map(|()| None),
            code = signal => Ok(Some(code?)),
        }
    });
    // Whatever the command left running (its pool, tasks holding it) is dropped here, so the
    // workers are stopped and the run leaves the registry before the process exits.
    runtime.shutdown_timeout(Duration::from_secs(5));
    match outcome? {
        None => Ok(Code::Success),
        Some(code) => {
            eprintln!(
                "stopped by {}",
                if code == Code::Terminated {
                    "SIGTERM"
                } else {
                    "Ctrl-C"
                }
            );
            Ok(code)
        }
    }
}

/// How many threads the runtime gets, when the command decides: `serve` and `serve-bench`
/// take `--threads`, else `$TOKIO_WORKER_THREADS` (read by tokio itself), else half the
/// CPUs, at least one. A server's host side waits on sockets while its Python workers
/// compute; every runtime thread more than it needs competes with them for the CPUs and
/// adds a cross-thread wake-up to calls (`docs/design/serve.md`). Other commands keep
/// tokio's default, one thread per CPU.
fn runtime_threads(command: &Command) -> Option<usize> {
    let flag = match command {
        Command::Serve(args) => args.runtime.threads,
        Command::ServeBench(args) => args.runtime.threads,
        _ => return None,
    };
    if let Some(threads) = flag {
        return Some(usize::from(threads));
    }
    if std::env::var_os("TOKIO_WORKER_THREADS").is_some() {
        return None;
    }
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    Some((cpus / 2).max(1))
}

async fn dispatch(command: Command, quiet: bool) -> anyhow::Result<()> {
    match command {
        Command::Demo(args) => commands::demo::run(&args).await,
        Command::Call(args) => commands::call::run(args, quiet).await,
        Command::Tools(args) => commands::tools::run(&args).await,
        Command::Bench(args) => commands::bench::run(args).await,
        Command::Status(args) => commands::registry::status(&args),
        Command::Cleanup(args) => commands::registry::cleanup(&args),
        Command::Setup(args) => commands::setup::run(&args, quiet).await,
        Command::Doctor(args) => commands::doctor::run(&args).await,
        Command::New(args) => commands::new::run(&args),
        Command::Completions(args) => commands::completions::run(&args),
        Command::Config(command) => commands::config::run(&command),
        Command::Serve(args) => commands::serve::run(args).await,
        Command::Stats(args) => commands::stats::run(&args).await,
        Command::ServeBench(args) => commands::serve_bench::run(&args).await,
    }
}

/// Waits for SIGINT or SIGTERM; returns the exit code it stands for.
async fn stop_signal() -> anyhow::Result<Code> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("could not watch for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("could not watch for SIGTERM")?;
    tokio::select! {
        _ = interrupt.recv() => Ok(Code::Interrupted),
        _ = terminate.recv() => Ok(Code::Terminated),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::{Cli, runtime_threads};

    fn threads(args: &[&str]) -> Option<usize> {
        runtime_threads(&Cli::try_parse_from(args).unwrap().command)
    }

    #[test]
    fn the_server_commands_take_their_threads_flag_and_others_keep_the_default() {
        assert_eq!(threads(&["snakepit", "serve", "--threads", "3"]), Some(3));
        assert_eq!(
            threads(&["snakepit", "serve-bench", "--threads", "5"]),
            Some(5)
        );
        assert_eq!(threads(&["snakepit", "demo"]), None);
        assert!(Cli::try_parse_from(["snakepit", "serve", "--threads", "0"]).is_err());
    }

    #[test]
    fn a_server_without_the_flag_gets_half_the_cpus() {
        // `TOKIO_WORKER_THREADS` set in the environment leaves the choice to tokio.
        let expected = std::env::var_os("TOKIO_WORKER_THREADS").is_none().then(|| {
            let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
            (cpus / 2).max(1)
        });
        assert_eq!(threads(&["snakepit", "serve"]), expected);
    }
}
