//! `snakepit call`: start a small pool, run one command, print its result, shut down.
//!
//! The worker is the bundled showcase adapter, another Python adapter (`--adapter`) or any
//! executable (`--worker-cmd`, native protocol unless `--classic`). The pool is shut down
//! before returning, whether the call succeeded or not.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use futures_util::StreamExt;
use serde_json::Value;
use snakepit::{Call, StreamItem};

use super::workers::pool_builder;

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
    let timeout = args
        .timeout
        .map(|seconds| {
            Duration::try_from_secs_f64(seconds)
                .with_context(|| format!("--timeout {seconds} is not a usable duration"))
        })
        .transpose()?;
    let session = args.session.clone();
    let builder = pool_builder(&args.worker)?;
    let command = args.command.clone();
    let (stream, json) = (args.stream, args.json);
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
            if stream {
                stream_call(call, json).await
            } else {
                call.send().await
            }
        })
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

/// Runs a streaming call, printing each chunk as it arrives; returns the final result.
async fn stream_call(call: Call<'_>, json: bool) -> snakepit::Result<Value> {
    let mut stream = call.stream().await?;
    let mut bar = ProgressBar::default();
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamItem::Chunk(chunk)) => {
                if let Some(progress) = chunk.get("progress").and_then(Value::as_f64) {
                    bar.draw(progress);
                }
                if json {
                    println!("{chunk}");
                } else if !bar.drawn {
                    println!("chunk: {chunk}");
                }
            }
            Ok(StreamItem::Done(result)) => {
                bar.finish();
                return Ok(result);
            }
            Err(err) => {
                bar.finish();
                return Err(err);
            }
        }
    }
    Err(snakepit::Error::Shutdown)
}

/// A one-line progress bar on stderr, redrawn in place.
#[derive(Debug, Default)]
struct ProgressBar {
    drawn: bool,
}

impl ProgressBar {
    const WIDTH: usize = 30;

    fn draw(&mut self, percent: f64) {
        let percent = percent.clamp(0.0, 100.0);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a clamped percentage scaled to the bar width"
        )]
        let filled = ((percent / 100.0) * Self::WIDTH as f64).round() as usize;
        eprint!(
            "\r[{}{}] {percent:5.1}%",
            "#".repeat(filled),
            " ".repeat(Self::WIDTH - filled.min(Self::WIDTH))
        );
        self.drawn = true;
    }

    fn finish(&self) {
        if self.drawn {
            eprintln!();
        }
    }
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
