//! `snakepit demo`: a tour of the pool with the bundled showcase adapter.
//!
//! It starts the pool, runs a batch of calls concurrently (pings, echoes, arithmetic with
//! one division by zero that comes back as a typed error, and worker facts), streams the
//! `progress` tool chunk by chunk, prints every result and the pool's stats, shuts down and
//! then checks that every worker process is gone.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures_util::StreamExt;
use futures_util::future::join_all;
use serde_json::{Value, json};
use snakepit::{Pool, PoolStats, PythonAdapter, StreamItem};

use crate::cli::DemoArgs;

/// How long the workers get to disappear after shutdown.
const EXIT_DEADLINE: Duration = Duration::from_secs(5);

/// Runs `snakepit demo`.
///
/// # Errors
///
/// When the pool does not start, or a worker process outlives the shutdown.
pub(crate) async fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let size = usize::from(args.workers);
    let started = Instant::now();
    // Script mode: every worker is stopped before `run_script` returns, whatever happens.
    let adapter = match &args.python {
        Some(python) => PythonAdapter::showcase().python(python),
        None => PythonAdapter::showcase(),
    };
    let pids = Pool::builder(adapter)
        .size(size)
        .run_script(move |pool| async move { tour(pool, size, started).await })
        .await
        .context("could not start the showcase pool")?;
    println!("\npool shut down; checking that the workers are gone...");
    let survivors = wait_for_exit(&pids, EXIT_DEADLINE).await;
    if !survivors.is_empty() {
        bail!(
            "worker processes still running {} s after shutdown: {}",
            EXIT_DEADLINE.as_secs(),
            join(&survivors)
        );
    }
    println!("all {} worker processes are gone", pids.len());
    Ok(())
}

/// Streams the `progress` tool and shows each chunk as it arrives.
async fn stream_progress(pool: &Pool) {
    println!("\nstreaming `progress` (5 steps, 100 ms apart); chunks print as they arrive:");
    let began = Instant::now();
    let stream = pool
        .execute_stream("progress", json!({"steps": 5, "delay_ms": 100}))
        .await;
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(err) => {
            println!("  err  could not start the stream: {err}");
            return;
        }
    };
    while let Some(item) = stream.next().await {
        let at = began.elapsed().as_millis();
        match item {
            Ok(StreamItem::Chunk(chunk)) => println!("  {at:>5} ms  chunk  {chunk}"),
            Ok(StreamItem::Done(result)) => println!("  {at:>5} ms  done   {result}"),
            Err(err) => println!("  {at:>5} ms  err    {err}"),
        }
    }
}

/// Runs the batch of calls and prints what happened; returns the workers' pids.
async fn tour(pool: Pool, size: usize, started: Instant) -> Vec<u32> {
    let pids = pool.worker_pids();
    println!(
        "started {size} workers of {} in {} ms (pids {})",
        pool.adapter_name(),
        started.elapsed().as_millis(),
        join(&pids),
    );
    let tools: Vec<&str> = pool.tools().iter().map(|tool| tool.name.as_str()).collect();
    println!("tools: {}", tools.join(", "));

    let batch = calls(size);
    println!("\nrunning {} calls concurrently:", batch.len());
    let began = Instant::now();
    let outcomes = join_all(batch.iter().map(|(command, args)| {
        let pool = pool.clone();
        async move { pool.execute(command, args.clone()).await }
    }))
    .await;
    let elapsed = began.elapsed();
    for ((command, args), outcome) in batch.iter().zip(outcomes) {
        let call = format!("{command} {args}");
        match outcome {
            Ok(result) => println!("  ok   {call:<55} -> {result}"),
            Err(snakepit::Error::Worker(failure)) => println!(
                "  err  {call:<55} -> {}: {} (a typed worker error)",
                failure.kind, failure.message
            ),
            Err(err) => println!("  err  {call:<55} -> {err}"),
        }
    }
    println!("finished in {} ms", elapsed.as_millis());

    stream_progress(&pool).await;

    println!("\nstats:");
    print_stats(&pool.stats());
    pids
}

/// The demo batch: enough calls that every worker gets some.
fn calls(workers: usize) -> Vec<(&'static str, Value)> {
    let mut batch = Vec::new();
    for index in 0..workers.max(2) {
        batch.push(("ping", json!({})));
        batch.push(("echo", json!({"call": index, "text": "hello"})));
    }
    for (operation, a, b) in [
        ("add", 5, 3),
        ("subtract", 10, 4),
        ("multiply", 6, 7),
        ("divide", 22, 7),
        ("divide", 1, 0),
    ] {
        batch.push(("compute", json!({"operation": operation, "a": a, "b": b})));
    }
    batch.push(("info", json!({})));
    batch
}

fn print_stats(stats: &PoolStats) {
    let rows = [
        ("workers", stats.workers.to_string()),
        ("available", stats.available.to_string()),
        ("busy", stats.busy.to_string()),
        ("requests", stats.requests.to_string()),
        ("queued", stats.queued.to_string()),
        ("errors", stats.errors.to_string()),
        ("timeouts", stats.timeouts.to_string()),
        ("queue_timeouts", stats.queue_timeouts.to_string()),
        ("pool_saturated", stats.pool_saturated.to_string()),
        ("restarts", stats.restarts.to_string()),
        ("retries", stats.retries.to_string()),
        ("recycled", stats.recycled.to_string()),
        ("circuit", format!("{:?}", stats.circuit).to_lowercase()),
        ("tainted_slots", stats.tainted_slots.to_string()),
        ("degraded", stats.degraded.to_string()),
    ];
    for (name, value) in rows {
        println!("  {name:<15} {value}");
    }
}

/// Polls until every pid is gone (or a zombie), or the deadline passes; returns the pids
/// still running.
async fn wait_for_exit(pids: &[u32], deadline: Duration) -> Vec<u32> {
    let until = Instant::now() + deadline;
    loop {
        let running: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|pid| is_running(*pid))
            .collect();
        if running.is_empty() || Instant::now() >= until {
            return running;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `/proc` shows `pid` as a live process (absent or a zombie counts as gone).
fn is_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may hold spaces.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    state != Some("Z")
}

fn join(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
