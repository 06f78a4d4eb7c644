//! Where the CPU goes in a benchmark (`serve-bench`, `bench --only ping-concurrent`): the
//! CPU time this process, the pool's workers and a load generator used, divided by the
//! calls made. Wall-clock calls/s on a shared machine swing with whatever else runs; CPU
//! per call swings much less, and says which side a change made cheaper.
//!
//! Read from `/proc`: this process's own time (every thread: the server, the pool's host
//! side, and the in-process callers or hyper client when they run here), the time of its
//! children it has reaped (a load generator that has exited; workers and baseline servers
//! are not reaped while they serve), and the time of given live processes (the workers).

use std::time::Duration;

/// Linux reports process times in clock ticks of 1/100 s (`USER_HZ`) on every architecture
/// it supports.
const TICK: Duration = Duration::from_millis(10);

/// CPU time used so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cpu {
    /// This process, every thread.
    own: Duration,
    /// Its reaped children (a load generator once it has exited).
    reaped: Duration,
    /// The processes given to [`sample`] (the workers, a baseline's server).
    others: Duration,
}

/// CPU per call of one measurement, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PerCall {
    /// This process (server and pool host side, plus an in-process client).
    pub(crate) own_us: f64,
    /// The given processes (the pool's workers, or the baseline's server).
    pub(crate) others_us: f64,
    /// A load generator in its own process.
    pub(crate) loadgen_us: f64,
}

/// Reads `utime stime cutime cstime` of `/proc/{pid}/stat`, in ticks.
fn times(pid: &str) -> Option<[u64; 4]> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, i.e. index 11 here.
    let field = |index: usize| fields.get(index)?.parse::<u64>().ok();
    Some([field(11)?, field(12)?, field(13)?, field(14)?])
}

fn ticks(count: u64) -> Duration {
    TICK * u32::try_from(count).unwrap_or(u32::MAX)
}

/// The CPU used so far by this process, its reaped children, and `pids`.
pub(crate) fn sample(pids: &[u32]) -> Cpu {
    let [utime, stime, cutime, cstime] = times("self").unwrap_or_default();
    let others = pids
        .iter()
        .filter_map(|pid| times(&pid.to_string()))
        .map(|[utime, stime, ..]| ticks(utime + stime))
        .sum();
    Cpu {
        own: ticks(utime + stime),
        reaped: ticks(cutime + cstime),
        others,
    }
}

impl Cpu {
    /// The CPU used between `self` (before) and `after`, per call of `calls`.
    pub(crate) fn per_call(self, after: Self, calls: u64) -> PerCall {
        #[expect(clippy::cast_precision_loss, reason = "a call count")]
        let calls = calls.max(1) as f64;
        let per = |before: Duration, after: Duration| {
            after.saturating_sub(before).as_secs_f64() * 1_000_000.0 / calls
        };
        PerCall {
            own_us: per(self.own, after.own),
            others_us: per(self.others, after.others),
            loadgen_us: per(self.reaped, after.reaped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_grows_with_work() {
        let before = sample(&[std::process::id()]);
        let started = std::time::Instant::now();
        let mut spin = 0_u64;
        while started.elapsed() < Duration::from_millis(200) {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let after = sample(&[std::process::id()]);
        let used = before.per_call(after, 1);
        assert!(used.own_us >= 50_000.0, "{used:?}");
        assert!(
            used.others_us >= 50_000.0,
            "the pid given is this one: {used:?}"
        );
    }
}
