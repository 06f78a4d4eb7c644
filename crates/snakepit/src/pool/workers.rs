//! [`Pool::workers`]: a snapshot of every worker of the pool (pid, state, running commands,
//! calls served, memory, age, capacity and load), read from what the roster, the workers'
//! pending calls and the gauge sampler already keep. Taking one costs the caller a roster
//! lock and one pending-table lock per worker; the call path does nothing more for it than
//! note which tool a call runs.

use std::time::{Duration, SystemTime};

use super::handle::Pool;
use crate::worker::{WorkerId, WorkerState};

/// One worker as [`Pool::workers`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerSnapshot {
    /// The worker's id.
    pub id: WorkerId,
    /// Its process id, also its process group id.
    pub pid: u32,
    /// Where it is in its life.
    pub state: WorkerState,
    /// The commands it runs now, sorted (several when its capacity is above one); a command
    /// it did not list among its tools shows as [`crate::UNLISTED_COMMAND`].
    pub running: Vec<String>,
    /// Calls it has answered.
    pub calls_served: u64,
    /// Resident memory of its process group in bytes, as the pool's sampler read it last
    /// (about once a second); `None` until the first reading.
    pub rss_bytes: Option<u64>,
    /// How long ago it became ready.
    pub age: Duration,
    /// When it became ready, by the wall clock.
    pub started_at: SystemTime,
    /// How many calls it takes at once.
    pub capacity: usize,
    /// How many places on it are taken now (calls running, or cancelled calls it has not
    /// answered yet).
    pub load: usize,
}

impl Pool {
    /// Every worker of the pool now, retiring ones included, ordered by id (oldest first).
    /// A worker is listed from the end of its handshake until it leaves the pool (a worker
    /// still starting is not; after [`Pool::shutdown`] the last ones show as exited).
    ///
    /// ```no_run
    /// # fn demo(pool: &snakepit::Pool) {
    /// for worker in pool.workers() {
    ///     println!("{} pid {} {} running {:?}", worker.id, worker.pid, worker.state, worker.running);
    /// }
    /// # }
    /// ```
    pub fn workers(&self) -> Vec<WorkerSnapshot> {
        let now = SystemTime::now();
        let mut workers: Vec<WorkerSnapshot> = self
            .shared
            .roster
            .loads()
            .into_iter()
            .map(|(worker, load)| {
                let age = worker.age();
                WorkerSnapshot {
                    id: worker.id(),
                    pid: worker.pid(),
                    state: worker.state(),
                    running: worker.running_commands(),
                    calls_served: worker.served(),
                    rss_bytes: worker.rss(),
                    age,
                    started_at: now.checked_sub(age).unwrap_or(now),
                    capacity: worker.capacity(),
                    load,
                }
            })
            .collect();
        workers.sort_by_key(|worker| worker.id);
        workers
    }
}
