//! Reading process identity from `/proc`: start time and process group.
//!
//! A pid alone does not name a process: pids are reused. A pid together with its start time
//! (clock ticks since boot, field 22 of `/proc/PID/stat`) does, and that pair is what the run
//! registry records and checks before it kills anything.
//!
//! Resident memory of process groups, for recycling by memory, is read here too: one pass
//! over `/proc` for all groups at once ([`group_rss_all`]).
//!
//! Everything here reads files and blocks: call it from a blocking thread
//! (`tokio::task::spawn_blocking`), never directly on the async runtime. Outside Linux there
//! is no `/proc`: lookups find no process, and group memory reads as 0.

use std::collections::HashMap;
use std::fs;

/// What `/proc/PID/stat` says about one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// The process's state letter (`R`, `S`, `Z`, ...).
    pub(crate) state: char,
    /// Its process group.
    pub(crate) pgrp: u32,
    /// When it started, in clock ticks since boot.
    pub(crate) start_ticks: u64,
}

/// Reads `/proc/PID/stat`; `None` when the process does not exist.
pub(crate) fn stat(pid: u32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; the fields start after the last ')'.
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// Whether the process exists and has not exited (a zombie has exited).
pub(crate) fn is_running(pid: u32) -> bool {
    stat(pid).is_some_and(|stat| stat.state != 'Z' && stat.state != 'X')
}

/// Whether `pid` is still the process that started at `start_ticks`.
pub(crate) fn is_same_process(pid: u32, start_ticks: u64) -> bool {
    stat(pid).is_some_and(|stat| stat.start_ticks == start_ticks && stat.state != 'Z')
}

/// Every live process in process group `pgrp`.
pub(crate) fn group_members(pgrp: u32) -> Vec<(u32, ProcStat)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat(pid)?)))
        .filter(|(_, stat)| stat.pgrp == pgrp && stat.state != 'Z')
        .collect()
}

/// The resident memory of each process group in `pgids` (the sum over its live members), in
/// bytes, from one pass over `/proc`. Every requested group is in the map; a group with no
/// live member (or whose memory cannot be read) has 0.
///
/// Blocking: it reads a file per process on the machine. Call it through
/// `tokio::task::spawn_blocking` (or [`group_rss_all_off_runtime`]), once per tick for all
/// workers, never on an async worker thread.
pub(crate) fn group_rss_all(pgids: &[u32]) -> HashMap<u32, u64> {
    let mut totals: HashMap<u32, u64> = pgids.iter().map(|pgid| (*pgid, 0)).collect();
    if totals.is_empty() {
        return totals;
    }
    let Ok(entries) = fs::read_dir("/proc") else {
        return totals;
    };
    for pid in entries.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
        let Some(stat) = stat(pid) else {
            continue;
        };
        if stat.state == 'Z' || stat.state == 'X' {
            continue;
        }
        if let Some(total) = totals.get_mut(&stat.pgrp) {
            *total += rss_bytes(pid);
        }
    }
    totals
}

/// [`group_rss_all`] run on tokio's blocking pool, so the runtime's worker threads never
/// wait on `/proc`. A scan that panicked reads as all zeros.
pub(crate) async fn group_rss_all_off_runtime(pgids: Vec<u32>) -> HashMap<u32, u64> {
    let zeros = || pgids.iter().map(|pgid| (*pgid, 0)).collect();
    let requested = pgids.clone();
    match tokio::task::spawn_blocking(move || group_rss_all(&requested)).await {
        Ok(totals) => totals,
        Err(err) => {
            tracing::warn!(error = %err, "reading worker memory from /proc failed");
            zeros()
        }
    }
}

/// The resident memory of one process, in bytes (0 when it cannot be read).
fn rss_bytes(pid: u32) -> u64 {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    use super::*;

    /// `sh -c script` leading its own process group.
    #[expect(
        clippy::disallowed_methods,
        reason = "test processes, killed by the test"
    )]
    fn group_leader(script: &str) -> Child {
        use std::os::unix::process::CommandExt;
        Command::new("sh")
            .args(["-c", script])
            .process_group(0)
            .spawn()
            .unwrap()
    }

    fn end(mut child: Child) {
        let pgid = child.id();
        crate::process::signal_group(pgid, nix::sys::signal::Signal::SIGKILL).unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn one_scan_sums_the_memory_of_each_group() {
        // A group of three processes, one of them holding ~40 MB in a shell variable.
        let big = group_leader(
            "x=$(head -c 40000000 /dev/zero | tr '\\0' x); sleep 60 & sleep 60 & wait",
        );
        let small = group_leader("exec sleep 60");
        let (big_pgid, small_pgid) = (big.id(), small.id());
        let gone = u32::MAX - 7;
        let deadline = Instant::now() + Duration::from_secs(30);
        let totals = loop {
            let totals = group_rss_all(&[big_pgid, small_pgid, gone]);
            let members = group_members(big_pgid).len();
            if (totals[&big_pgid] >= 40_000_000 && members == 3) || Instant::now() > deadline {
                break totals;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(totals.len(), 3);
        assert!(totals[&big_pgid] >= 40_000_000, "{totals:?}");
        assert!(totals[&small_pgid] > 0, "{totals:?}");
        assert!(totals[&small_pgid] < 40_000_000, "{totals:?}");
        assert_eq!(totals[&gone], 0);
        // The same as summing the members one by one (sleep's memory does not move).
        let members: u64 = group_members(small_pgid)
            .iter()
            .map(|(pid, _)| rss_bytes(*pid))
            .sum();
        assert_eq!(group_rss_all(&[small_pgid])[&small_pgid], members);
        assert!(group_rss_all(&[]).is_empty());
        end(big);
        end(small);
    }

    #[tokio::test]
    async fn the_async_scan_runs_off_the_runtime() {
        let me = stat(std::process::id()).unwrap().pgrp;
        let totals = group_rss_all_off_runtime(vec![me]).await;
        assert!(totals[&me] > 0);
    }

    #[test]
    fn this_process_is_itself_and_not_another() {
        let me = std::process::id();
        let mine = stat(me).unwrap();
        assert!(is_running(me));
        assert!(is_same_process(me, mine.start_ticks));
        assert!(!is_same_process(me, mine.start_ticks + 1));
        assert!(group_members(mine.pgrp).iter().any(|(pid, _)| *pid == me));
        assert!(stat(u32::MAX - 1).is_none());
        assert!(rss_bytes(me) > 0);
    }
}
