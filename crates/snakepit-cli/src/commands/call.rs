//! `snakepit call`: start a small pool, run one command, print its result, shut down.
//!
//! The worker is the bundled showcase adapter, another Python adapter (`--adapter`) or any
//! executable (`--worker-cmd`, native protocol unless `--classic`). The pool is shut down
//! before returning, whether the call succeeded or not. A streamed call prints each chunk on
//! stdout as it arrives (one JSON line each with `--json`), with a progress bar on stderr
//! when stderr is a terminal and the chunks carry a `progress` percentage. With
//! `--server URL` the call goes to a running `snakepit serve` instead.

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt;
use serde_json::Value;
use snakepit::{Call, RetryConfig, StreamItem};

use super::remote::{Remote, RemoteCall};
use super::workers::pool_builder;
use crate::args::read_args;
use crate::cli::CallArgs;
use crate::exit::Failure;

/// Parses a positive number of seconds (`--timeout`, `--startup-timeout`); 0 is refused.
pub(crate) fn positive_seconds(text: &str) -> Result<f64, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if seconds.is_nan() || seconds <= 0.0 || Duration::try_from_secs_f64(seconds).is_err() {
        return Err(format!(
            "`{text}` is not a usable duration: it must be more than 0 seconds"
        ));
    }
    Ok(seconds)
}

/// Runs `snakepit call`.
///
/// # Errors
///
/// Bad arguments, a pool that does not start, or a failed call, each tagged with its exit
/// code. A Python exception is reported with its type, message and traceback.
pub(crate) async fn run(args: CallArgs, quiet: bool) -> anyhow::Result<()> {
    let call_args = read_args(&args.args)?;
    let timeout = args.timeout.map(Duration::from_secs_f64);
    let session = args.session.clone();
    let idempotent = args.idempotent || args.retries.is_some_and(|n| n > 0);
    if let Some(remote) = Remote::from_args(&args.remote, args.worker.pool.as_deref())? {
        let options = RemoteCall {
            session,
            timeout,
            idempotent,
        };
        let json = args.json;
        let result = if args.stream {
            let print = |chunk: Value| {
                if json {
                    println!("{chunk}");
                } else {
                    println!("chunk: {chunk}");
                }
            };
            remote
                .stream(&args.command, call_args, &options, print)
                .await?
        } else {
            remote.call(&args.command, call_args, &options).await?
        };
        return print_result(&result, args.session.as_deref(), args.json, quiet);
    }
    let mut builder = pool_builder(&args.worker)?;
    if let Some(seconds) = args.startup_timeout {
        builder = builder.startup_timeout(Duration::from_secs_f64(seconds));
    }
    if let Some(retries) = args.retries {
        let mut retry = RetryConfig::default();
        retry.max_retries = retries;
        builder = builder.retry(retry);
    }
    let command = args.command.clone();
    let (stream, json) = (args.stream, args.json);
    let bar = stream && !quiet && std::io::stderr().is_terminal();
    // Script mode: the workers are gone before `run_script` returns, on success and on error.
    let outcome = builder
        .run_script(move |pool| async move {
            let mut call = pool.call(command).json(call_args);
            if let Some(timeout) = timeout {
                call = call.timeout(timeout);
            }
            if let Some(session) = session {
                call = call.session(session);
            }
            if idempotent {
                call = call.idempotent();
            }
            if stream {
                stream_call(call, json, bar).await
            } else {
                call.send().await
            }
        })
        .await
        .map_err(|err| crate::exit::library_failure(err, "the workers did not start"))?;
    let result = outcome.map_err(|err| describe_failure(&args.command, err))?;
    print_result(&result, args.session.as_deref(), args.json, quiet)
}

/// Prints the result on stdout. In a session, text output starts with a `session ID:` line;
/// JSON output stays the bare result and the session is named on stderr (unless `-q`).
fn print_result(
    result: &Value,
    session: Option<&str>,
    json: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    let text = if json {
        serde_json::to_string(result)
    } else {
        serde_json::to_string_pretty(result)
    }
    .context("could not print the result as JSON")?;
    match (session, json) {
        (Some(session), false) => println!("session {session}:"),
        (Some(session), true) if !quiet => eprintln!("session {session}"),
        _ => {}
    }
    println!("{text}");
    Ok(())
}

/// Runs a streaming call, printing each chunk as it arrives; returns the final result.
async fn stream_call(call: Call<'_>, json: bool, show_bar: bool) -> snakepit::Result<Value> {
    let mut stream = call.stream().await?;
    let bar = show_bar.then(|| {
        let bar = indicatif::ProgressBar::new(1000);
        bar.set_style(
            indicatif::ProgressStyle::with_template("[{bar:30}] {msg}")
                .expect("a fixed template parses")
                .progress_chars("#>-"),
        );
        bar
    });
    let print = |line: String| match &bar {
        Some(bar) => bar.suspend(|| println!("{line}")),
        None => println!("{line}"),
    };
    let outcome = loop {
        match stream.next().await {
            Some(Ok(StreamItem::Chunk(chunk))) => {
                if let (Some(bar), Some(progress)) =
                    (&bar, chunk.get("progress").and_then(Value::as_f64))
                {
                    let percent = progress.clamp(0.0, 100.0);
                    #[expect(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "a clamped percentage scaled to 1000 steps"
                    )]
                    bar.set_position((percent * 10.0).round() as u64);
                    bar.set_message(format!("{percent:5.1}%"));
                }
                print(if json {
                    chunk.to_string()
                } else {
                    format!("chunk: {chunk}")
                });
            }
            Some(Ok(StreamItem::Done(result))) => break Ok(result),
            Some(Err(err)) => break Err(err),
            None => break Err(snakepit::Error::Shutdown),
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    outcome
}

/// Turns a failed call into the error to report, with the traceback of a Python exception.
fn describe_failure(command: &str, err: snakepit::Error) -> anyhow::Error {
    let code = crate::exit::code_of_library(&err);
    match err {
        snakepit::Error::Worker(failure) => {
            let text = match &failure.traceback {
                Some(traceback) if !traceback.trim().is_empty() => {
                    format!("{failure}\n{}", traceback.trim_end())
                }
                _ => failure.to_string(),
            };
            anyhow::Error::new(Failure::new(code, text))
        }
        other => crate::exit::library_failure(other, &format!("call `{command}` failed")),
    }
}
