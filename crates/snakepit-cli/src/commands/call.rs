//! `snakepit call`: start a small pool, run one command, print its result, shut down.
//!
//! The worker is the bundled showcase adapter, another Python adapter (`--adapter`) or any
//! executable (`--worker-cmd`, native protocol unless `--classic`). The pool is shut down
//! before returning, whether the call succeeded or not.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;
use snakepit::{CallOptions, GenericAdapter, Pool, PoolBuilder, PythonAdapter, WorkerProtocol};

use crate::cli::CallArgs;

/// Runs `snakepit call`.
///
/// # Errors
///
/// Bad arguments, a pool that does not start, or a failed call. A Python exception is
/// reported with its type, message and traceback.
pub(crate) async fn run(args: CallArgs) -> anyhow::Result<()> {
    let call_args: Value = serde_json::from_str(&args.args)
        .with_context(|| format!("--args is not valid JSON: {}", args.args))?;
    if !call_args.is_object() {
        bail!("--args must be a JSON object, not {call_args}");
    }
    let options = match args.timeout {
        Some(seconds) => CallOptions::new().timeout(
            Duration::try_from_secs_f64(seconds)
                .with_context(|| format!("--timeout {seconds} is not a usable duration"))?,
        ),
        None => CallOptions::new(),
    };
    let builder = pool_builder(&args)?;
    let command = args.command.clone();
    // Script mode: the workers are gone before `run_script` returns, on success and on error.
    let outcome = builder
        .run_script(
            move |pool| async move { pool.execute_with(&command, call_args, &options).await },
        )
        .await
        .context("could not start the workers")?;
    let result = outcome.map_err(|err| describe_failure(&args.command, err))?;
    let text = if args.json {
        serde_json::to_string(&result)
    } else {
        serde_json::to_string_pretty(&result)
    }
    .context("could not print the result as JSON")?;
    println!("{text}");
    Ok(())
}

/// The pool the flags describe.
fn pool_builder(args: &CallArgs) -> anyhow::Result<PoolBuilder> {
    let size = usize::from(args.pool_size);
    if let Some(worker_cmd) = &args.worker_cmd {
        let words = shlex::split(worker_cmd)
            .with_context(|| format!("--worker-cmd is not a valid command line: {worker_cmd}"))?;
        let Some((program, program_args)) = words.split_first() else {
            bail!("--worker-cmd is empty");
        };
        let protocol = if args.classic {
            WorkerProtocol::Classic
        } else {
            WorkerProtocol::Native
        };
        let adapter = GenericAdapter::new(program)
            .args(program_args)
            .protocol(protocol);
        return Ok(Pool::builder(adapter).size(size));
    }
    let mut adapter = match &args.adapter {
        Some(class) => PythonAdapter::new(class),
        None => PythonAdapter::showcase(),
    };
    if let Some(python) = &args.python {
        adapter = adapter.python(python);
    }
    for dir in &args.python_path {
        adapter = adapter.python_path(dir);
    }
    Ok(Pool::builder(adapter).size(size))
}

/// Turns a failed call into the error to report, with the traceback of a Python exception.
fn describe_failure(command: &str, err: snakepit::Error) -> anyhow::Error {
    match err {
        snakepit::Error::Worker(failure) => match &failure.traceback {
            Some(traceback) if !traceback.trim().is_empty() => {
                anyhow!("{failure}\n{}", traceback.trim_end())
            }
            _ => anyhow!(failure),
        },
        other => anyhow::Error::new(other).context(format!("call `{command}` failed")),
    }
}
