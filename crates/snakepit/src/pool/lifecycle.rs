//! Starting a pool, replacing workers that exit, telling workers about removed sessions,
//! shutting down, and the kill on drop.

use std::hash::RandomState;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::circuit::CircuitBreaker;
use super::handle::{Pool, PoolShared};
use super::heartbeat::heartbeat;
use super::host::PoolHost;
use super::observe;
use super::recycle::watch_limits;
use super::replace;
use super::roster::{AfterExit, Roster};
use super::stats::Counters;
use crate::adapter::Adapter;
use crate::config::PoolConfig;
use crate::error::{ExitClass, Result};
use crate::session::{RemovalReason, RemovedSession, SessionStore};
use crate::telemetry::Event;
use crate::tool::HostTools;
use crate::worker::{WorkerEvent, WorkerId, WorkerSpec, start};

/// How long telling a worker to drop a removed session's state may take.
const SESSION_DROP_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the pool, starts every worker concurrently, and returns once all are ready.
pub(super) async fn start_pool(
    adapter: Arc<dyn Adapter>,
    config: PoolConfig,
    spec: WorkerSpec,
    sessions: SessionStore,
) -> Result<Pool> {
    let span = tracing::info_span!("pool.start", adapter = %adapter.name(), size = config.size);
    async move {
        let (events, event_receiver) = mpsc::unbounded_channel();
        let host = Arc::new(HostTools::new(&sessions));
        let shared = Arc::new_cyclic(|pool: &Weak<PoolShared>| PoolShared {
            adapter,
            roster: Roster::new(config.max_queue, config.size, config.health),
            circuit: CircuitBreaker::new(config.circuit).observed(spec.telemetry.bus.clone()),
            telemetry: spec.telemetry.clone(),
            jitter_seed: RandomState::new(),
            spec: WorkerSpec {
                host: Some(Arc::new(PoolHost {
                    pool: Weak::clone(pool),
                })),
                ..spec
            },
            config,
            counters: Counters::default(),
            events,
            tools: std::sync::OnceLock::new(),
            tasks: TaskTracker::new(),
            closing: CancellationToken::new(),
            sessions,
            gates: super::serial::SessionGates::default(),
            host,
        });
        let size = shared.config.size;
        let starts = (0..size).map(|_| start(&shared.spec, shared.events.clone()));
        let mut started = Vec::with_capacity(size);
        let mut failure = None;
        for outcome in futures_util::future::join_all(starts).await {
            match outcome {
                Ok(worker) => started.push(worker),
                Err(err) => {
                    tracing::error!(error = %err, "worker failed to start");
                    failure.get_or_insert(err);
                }
            }
        }
        if let Some(err) = failure {
            for worker in &started {
                worker.kill();
            }
            return Err(err);
        }
        if let Some(first) = started.first() {
            let _set = shared.tools.set(first.tools().to_vec());
        }
        let removals = shared.sessions.subscribe_removals();
        tokio::spawn(forget_sessions(Arc::downgrade(&shared), removals).in_current_span());
        for (slot, worker) in started.into_iter().enumerate() {
            shared.roster.begin_start(slot);
            replace::join(&shared, worker, slot);
        }
        tokio::spawn(manage(Arc::downgrade(&shared), event_receiver).in_current_span());
        tokio::spawn(heartbeat(Arc::downgrade(&shared)).in_current_span());
        tokio::spawn(observe::sample_gauges(Arc::downgrade(&shared)).in_current_span());
        let limits = shared.config.recycle;
        if limits.max_age.is_some() || limits.max_memory_bytes.is_some() {
            tokio::spawn(watch_limits(Arc::downgrade(&shared)).in_current_span());
        }
        tracing::info!("pool ready");
        Ok(Pool { shared })
    }
    .instrument(span)
    .await
}

/// Replaces workers that exit, for as long as the pool exists and is open.
async fn manage(pool: Weak<PoolShared>, mut events: mpsc::UnboundedReceiver<WorkerEvent>) {
    while let Some(WorkerEvent::Exited { worker }) = events.recv().await {
        let Some(shared) = pool.upgrade() else { break };
        observe_exit(&shared, worker);
        match shared.roster.on_exit(worker, std::time::Instant::now()) {
            AfterExit::Nothing => {}
            AfterExit::Replace { slot, restart } => {
                if restart.tainted {
                    shared.telemetry.emit(|| Event::WorkerTainted {
                        worker,
                        slot,
                        duration: restart.after,
                    });
                    tracing::error!(%worker, slot, delay = ?restart.after, "worker slot keeps crashing; tainted");
                }
                replace::spawn(&shared, slot, restart.after);
            }
        }
    }
}

/// Reports a worker's exit with its class (metrics and event).
fn observe_exit(shared: &PoolShared, worker: WorkerId) {
    let exit = shared
        .roster
        .get(worker)
        .and_then(|handle| match handle.closed_error() {
            crate::Error::WorkerExited { exit, .. } => Some(exit.class()),
            _ => None,
        });
    shared.telemetry.record_exit(exit_label(exit));
    shared
        .telemetry
        .emit(|| Event::WorkerExited { worker, exit });
}

fn exit_label(exit: Option<ExitClass>) -> &'static str {
    match exit {
        None => "stopped",
        Some(ExitClass::Clean) => "clean",
        Some(ExitClass::ExitCode(_)) => "exit_code",
        Some(ExitClass::Segfault) => "segfault",
        Some(ExitClass::Abort) => "abort",
        Some(ExitClass::Killed) => "killed",
        Some(ExitClass::KilledByPool) => "killed_by_pool",
        Some(ExitClass::Signal(_)) => "signal",
        Some(_) => "unknown",
    }
}

/// Tells the owning worker to drop the state of each removed session (each in a task of
/// its own, so a worker that does not read cannot hold up the others), and forgets the
/// session's host tools.
async fn forget_sessions(
    pool: Weak<PoolShared>,
    mut removals: mpsc::UnboundedReceiver<RemovedSession>,
) {
    while let Some(removed) = removals.recv().await {
        let Some(shared) = pool.upgrade() else { break };
        shared.telemetry.emit(|| match removed.reason {
            RemovalReason::Expired => Event::SessionExpired {
                session: removed.id.clone(),
            },
            RemovalReason::Deleted => Event::SessionDeleted {
                session: removed.id.clone(),
            },
        });
        shared.host.forget_session(&removed.id);
        let owner = removed.owner.and_then(|owner| shared.roster.get(owner));
        drop(shared);
        if let Some(worker) = owner {
            tokio::spawn(async move {
                let dropped =
                    tokio::time::timeout(SESSION_DROP_TIMEOUT, worker.drop_session(&removed.id));
                if dropped.await.is_err() {
                    tracing::warn!(worker = %worker.id(), session = %removed.id, "session_drop not sent in time");
                }
            });
        }
    }
}

impl Pool {
    /// Shuts the pool down: new calls and queued calls fail with
    /// [`Error::Shutdown`](crate::Error::Shutdown), running calls get up to the pool's
    /// `drain_timeout` to finish (then fail with `Shutdown`), and every worker is stopped:
    /// SIGTERM to its process group, `stop_grace`, then SIGKILL. Resolves when every worker
    /// process is gone. Calling it again does nothing more.
    pub async fn shutdown(&self) {
        let shared = &self.shared;
        shared.roster.close();
        shared.closing.cancel();
        let deadline = Instant::now() + shared.config.drain_timeout;
        loop {
            let released = shared.roster.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let busy = self.stats().busy;
            if busy == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                tracing::warn!(
                    busy,
                    "calls still running at shutdown; stopping their workers"
                );
                break;
            }
        }
        // A replacement that was starting is killed as soon as it is ready; wait for that.
        shared.tasks.close();
        shared.tasks.wait().await;
        if let Some(zygote) = &shared.spec.zygote {
            zygote.stop();
        }
        let workers = shared.roster.workers();
        let grace = shared.config.stop_grace;
        futures_util::future::join_all(workers.iter().map(|worker| worker.stop(grace))).await;
        tracing::info!(workers = workers.len(), "pool shut down");
    }
}

impl Drop for PoolShared {
    fn drop(&mut self) {
        for worker in self.roster.workers() {
            worker.kill_sync();
        }
    }
}
