//! Reading process identity from `/proc`: start time and process group.
//!
//! A pid alone does not name a process: pids are reused. A pid together with its start time
//! (clock ticks since boot, field 22 of `/proc/PID/stat`) does, and that pair is what the run
//! registry records and checks before it kills anything.

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

/// The resident memory of every live process in group `pgrp`, in bytes.
pub(crate) fn group_rss_bytes(pgrp: u32) -> u64 {
    group_members(pgrp)
        .iter()
        .map(|(pid, _)| rss_bytes(*pid))
        .sum()
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
    use super::*;

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
