//! `snakepit status` and `snakepit cleanup`: the run registry, read and swept.

use std::path::PathBuf;

use anyhow::Context as _;
use snakepit::registry::{default_state_dir, list_runs, sweep};

use crate::cli::{CleanupArgs, RegistryArgs};

fn state_dir(args: &RegistryArgs) -> PathBuf {
    args.state_dir.clone().unwrap_or_else(default_state_dir)
}

/// Runs `snakepit status`: every run in the registry, live or dead, and its workers.
///
/// # Errors
///
/// When the registry cannot be read.
pub(crate) fn status(args: &RegistryArgs) -> anyhow::Result<()> {
    let dir = state_dir(args);
    let runs = list_runs(&dir)
        .with_context(|| format!("could not read the registry at {}", dir.display()))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&runs).context("could not print the runs")?
        );
        return Ok(());
    }
    if runs.is_empty() {
        println!("no runs in {}", dir.display());
        return Ok(());
    }
    for run in &runs {
        let state = if run.live {
            "live"
        } else {
            "dead (run `snakepit cleanup`)"
        };
        match &run.record {
            Some(record) => {
                println!(
                    "run {} [{state}]: {} on host pid {}",
                    run.run_id, record.instance, record.host_pid
                );
                for worker in record.workers.values() {
                    let pid = worker
                        .pid
                        .map_or_else(|| "spawning".to_owned(), |pid| pid.to_string());
                    let running = worker
                        .pid
                        .is_some_and(|pid| run.running_workers.contains(&pid));
                    println!(
                        "  {} pid {pid} {}",
                        worker.worker_id,
                        if running { "running" } else { "not running" }
                    );
                }
            }
            None => println!("run {} [{state}]: no readable record", run.run_id),
        }
    }
    Ok(())
}

/// Runs `snakepit cleanup`: kills the leftovers of dead runs (or, with `--dry-run`, shows
/// them) and removes those runs. Live runs are never touched.
///
/// # Errors
///
/// When the registry cannot be read.
pub(crate) fn cleanup(args: &CleanupArgs) -> anyhow::Result<()> {
    let dir = state_dir(&args.registry);
    let swept = sweep(&dir, args.dry_run)
        .with_context(|| format!("could not sweep the registry at {}", dir.display()))?;
    if args.registry.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&swept).context("could not print the sweep")?
        );
        return Ok(());
    }
    let verb = if args.dry_run { "would kill" } else { "killed" };
    if swept.is_empty() {
        println!("no dead runs in {}", dir.display());
    }
    for run in &swept {
        let instance = run.instance.as_deref().unwrap_or("unknown instance");
        println!(
            "dead run {} ({instance}, host pid {}): {verb} {:?}, left alone (pid reused) {:?}",
            run.run_id,
            run.host_pid
                .map_or_else(|| "?".to_owned(), |pid| pid.to_string()),
            run.killed,
            run.left_alone
        );
    }
    Ok(())
}
