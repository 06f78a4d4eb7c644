//! Listing runs and sweeping the dead ones.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;

use super::RunRecord;
use crate::process::{group_members, is_running, signal_group, stat};

/// A run in the registry and whether its host still lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RunStatus {
    /// The run's id.
    pub run_id: String,
    /// Whether the host still holds the run's lock.
    pub live: bool,
    /// The run's record, when it could be read.
    pub record: Option<RunRecord>,
    /// The recorded worker pids that are still running.
    pub running_workers: Vec<u32>,
}

/// What a sweep did (or, in a dry run, would do) to one dead run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SweptRun {
    /// The run's id.
    pub run_id: String,
    /// The dead host's pid, when the record was readable.
    pub host_pid: Option<u32>,
    /// The run's instance name, when the record was readable.
    pub instance: Option<String>,
    /// Processes killed (or to kill, in a dry run): leftover workers and their descendants.
    pub killed: Vec<u32>,
    /// Recorded pids that now belong to other processes (their start time differs); never
    /// touched.
    pub left_alone: Vec<u32>,
}

fn run_files(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut runs = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        if let Some(run_id) = name
            .strip_suffix(".lock")
            .filter(|_| !name.starts_with('.'))
        {
            runs.push((run_id.to_owned(), path.clone()));
        }
    }
    runs.sort();
    Ok(runs)
}

/// Takes a run's lock if its host is gone; `None` while the host holds it.
fn lock_if_dead(lock_path: &Path) -> io::Result<Option<Flock<fs::File>>> {
    let file = fs::File::open(lock_path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(io::Error::from(errno)),
    }
}

fn read_record(dir: &Path, run_id: &str) -> Option<RunRecord> {
    let bytes = fs::read(dir.join(format!("{run_id}.json"))).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Lists the runs in the registry at `dir`.
///
/// # Errors
///
/// The I/O error when the directory cannot be read.
pub fn list_runs(dir: &Path) -> io::Result<Vec<RunStatus>> {
    let mut statuses = Vec::new();
    for (run_id, lock_path) in run_files(dir)? {
        let live = lock_if_dead(&lock_path)?.is_none();
        let record = read_record(dir, &run_id);
        let running_workers = record
            .iter()
            .flat_map(|record| record.workers.values())
            .filter_map(|worker| Some((worker.pid?, worker.start_ticks?)))
            .filter(|(pid, start)| crate::process::is_same_process(*pid, *start))
            .map(|(pid, _)| pid)
            .collect();
        statuses.push(RunStatus {
            run_id,
            live,
            record,
            running_workers,
        });
    }
    Ok(statuses)
}

/// Sweeps the runs at `dir` whose host is gone: kills their leftover workers and the
/// processes those started, then removes the runs. With `dry_run`, kills and removes nothing
/// and reports what it would do. Runs whose host lives are never touched.
///
/// A recorded worker is killed only if its pid still names the process that started at the
/// recorded time. If the worker itself is gone, the members of its process group that
/// started after it (its descendants) are killed, unless another process now leads a group
/// with that id.
///
/// # Errors
///
/// The I/O error when the directory cannot be read.
pub fn sweep(dir: &Path, dry_run: bool) -> io::Result<Vec<SweptRun>> {
    let mut swept = Vec::new();
    for (run_id, lock_path) in run_files(dir)? {
        let Some(lock) = lock_if_dead(&lock_path)? else {
            continue;
        };
        let record = read_record(dir, &run_id);
        let mut report = SweptRun {
            run_id: run_id.clone(),
            host_pid: record.as_ref().map(|record| record.host_pid),
            instance: record.as_ref().map(|record| record.instance.clone()),
            killed: Vec::new(),
            left_alone: Vec::new(),
        };
        for worker in record.iter().flat_map(|record| record.workers.values()) {
            let (Some(pid), Some(start_ticks)) = (worker.pid, worker.start_ticks) else {
                continue;
            };
            reap_worker(
                pid,
                worker.pgid.unwrap_or(pid),
                start_ticks,
                dry_run,
                &mut report,
            );
        }
        if !dry_run {
            for path in [dir.join(format!("{run_id}.json")), lock_path] {
                if let Err(err) = fs::remove_file(&path) {
                    tracing::debug!(path = %path.display(), error = %err, "could not remove a swept run file");
                }
            }
        }
        drop(lock);
        if !report.killed.is_empty() || !report.left_alone.is_empty() {
            tracing::warn!(run = %report.run_id, killed = ?report.killed, left_alone = ?report.left_alone, dry_run, "swept a dead run");
        }
        swept.push(report);
    }
    Ok(swept)
}

fn reap_worker(pid: u32, pgid: u32, start_ticks: u64, dry_run: bool, report: &mut SweptRun) {
    match stat(pid) {
        Some(leader) if leader.start_ticks == start_ticks && is_running(pid) => {
            report
                .killed
                .extend(group_members(pgid).into_iter().map(|(member, _)| member));
            if !dry_run {
                if let Err(err) = signal_group(pgid, Signal::SIGKILL) {
                    tracing::warn!(pgid, error = %err, "could not kill a leftover worker group");
                }
            }
        }
        Some(other) if other.state != 'Z' => report.left_alone.push(pid),
        _ => {
            // The worker is gone; what it started may still run in its group.
            for (member, member_stat) in group_members(pgid) {
                if member_stat.start_ticks < start_ticks {
                    continue;
                }
                report.killed.push(member);
                let Ok(raw) = i32::try_from(member) else {
                    continue;
                };
                if !dry_run {
                    if let Err(err) = kill(Pid::from_raw(raw), Signal::SIGKILL) {
                        tracing::debug!(member, error = %err, "could not kill a leftover process");
                    }
                }
            }
        }
    }
}
