//! `snakepit call`: start a small pool, run one command, print its result, shut down.
//!
//! The worker is the bundled showcase adapter, another Python adapter (`--adapter`) or any
//! executable (`--worker-cmd`, native protocol unless `--classic`). The pool is shut down
//! before returning, whether the call succeeded or not.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;
use snakepit::{CallOptions, GenericAdapter, Pool, PythonAdapter, WorkerProtocol};

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
    let pool = start_pool(&args).await?;
    let outcome = pool.execute_with(&args.command, call_args, &options).await;
    pool.shutdown().await;
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

/// Starts the pool the flags describe.
async fn start_pool(args: &CallArgs) -> anyhow::Result<Pool> {
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
        return Pool::builder(adapter)
            .size(size)
            .start()
            .await
            .with_context(|| format!("could not start workers running `{worker_cmd}`"));
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
    let name = args.adapter.as_deref().unwrap_or("the showcase adapter");
    Pool::builder(adapter)
        .size(size)
        .start()
        .await
        .with_context(|| format!("could not start workers of {name}"))
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
