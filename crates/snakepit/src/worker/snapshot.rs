//! What a worker shows of itself to the pool's snapshot ([`crate::Pool::workers`]): its
//! lifecycle state as a public word, the commands it runs now, the calls it served and its
//! resident memory. Reads only: nothing here runs on the call path.

use std::sync::atomic::Ordering;

use super::handle::Worker;
use super::pending::Running;
use super::state::Lifecycle;

/// Where a worker is in its life, as [`crate::WorkerSnapshot`] reports it. Only moves
/// forward: `Starting → Ready → Retiring → Stopping → Exited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WorkerState {
    /// Spawned; the handshake is not done.
    Starting,
    /// Takes calls.
    Ready,
    /// Being replaced (recycled): finishes its calls, takes no new one.
    Retiring,
    /// Being stopped or killed.
    Stopping,
    /// Gone.
    Exited,
}

impl WorkerState {
    /// The state as a lowercase word: `starting`, `ready`, `retiring`, `stopping`, `exited`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::Retiring => "retiring",
            Self::Stopping => "stopping",
            Self::Exited => "exited",
        }
    }
}

impl std::fmt::Display for WorkerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&Lifecycle> for WorkerState {
    fn from(lifecycle: &Lifecycle) -> Self {
        match lifecycle {
            Lifecycle::Starting => Self::Starting,
            Lifecycle::Ready => Self::Ready,
            Lifecycle::Retiring => Self::Retiring,
            Lifecycle::Stopping { .. } => Self::Stopping,
            Lifecycle::Exited(_) => Self::Exited,
        }
    }
}

/// The name shown for a running command the worker did not list among its tools.
pub const UNLISTED_COMMAND: &str = "(unlisted)";

impl Worker {
    /// The worker's lifecycle state.
    pub(crate) fn state(&self) -> WorkerState {
        WorkerState::from(&*self.shared().lifecycle.borrow())
    }

    /// The commands the worker runs now (heartbeat pings left out), sorted.
    pub(crate) fn running_commands(&self) -> Vec<String> {
        let shared = self.shared();
        let mut commands: Vec<String> = shared
            .pending
            .running()
            .into_iter()
            .map(|running| match running {
                Running::Tool(index) => shared
                    .tools
                    .get(index as usize)
                    .map_or(UNLISTED_COMMAND, |tool| tool.name.as_str())
                    .to_owned(),
                Running::Ping | Running::Unlisted => UNLISTED_COMMAND.to_owned(),
            })
            .collect();
        commands.sort_unstable();
        commands
    }

    /// How many calls the worker has answered.
    pub(crate) fn served(&self) -> u64 {
        self.shared().served.load(Ordering::Relaxed)
    }

    /// The resident memory of the worker's process group as last sampled, once sampled.
    pub(crate) fn rss(&self) -> Option<u64> {
        Some(self.shared().rss.load(Ordering::Relaxed)).filter(|bytes| *bytes > 0)
    }

    /// Records the resident memory the pool's sampler read.
    pub(crate) fn set_rss(&self, bytes: u64) {
        self.shared().rss.store(bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::pending::{Pending, PendingTable};
    use crate::worker::state::Closed;

    #[test]
    fn states_map_to_their_words() {
        let cases = [
            (Lifecycle::Starting, "starting"),
            (Lifecycle::Ready, "ready"),
            (Lifecycle::Retiring, "retiring"),
            (Lifecycle::Stopping { killed: true }, "stopping"),
            (Lifecycle::Exited(Closed::Shutdown), "exited"),
        ];
        for (lifecycle, word) in cases {
            assert_eq!(WorkerState::from(&lifecycle).to_string(), word);
        }
    }

    #[test]
    fn pending_calls_say_what_they_run_and_pings_are_left_out() {
        let table = PendingTable::new();
        for (id, running) in [
            (1, Running::Tool(2)),
            (2, Running::Ping),
            (3, Running::Unlisted),
        ] {
            let (reply, _receiver) = tokio::sync::oneshot::channel();
            let pending = Pending {
                reply,
                chunks: None,
                session: None,
                running,
            };
            assert!(table.insert(id, pending).is_some());
        }
        let mut running = table.running();
        running.sort_by_key(|running| format!("{running:?}"));
        assert_eq!(running, [Running::Tool(2), Running::Unlisted]);
        table.remove(1);
        assert_eq!(table.running(), [Running::Unlisted]);
        table.close(|| crate::Error::Shutdown);
        assert!(table.running().is_empty());
    }
}
