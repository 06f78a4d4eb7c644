//! Serial sessions: with [`PoolConfig::serial_sessions`](crate::PoolConfig::serial_sessions)
//! on, or for one session marked with
//! [`SessionStore::set_serial`](crate::session::SessionStore::set_serial), a session's calls
//! pass a gate one at a time, so they never overlap, even on a worker that takes several
//! calls at once.
//!
//! The gate of a session is taken before the call looks for a worker and held by the call's
//! [`Lease`](super::lease::Lease) until the call has answered. Gates exist only while a call
//! of their session holds or waits for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OwnedMutexGuard;

use crate::error::{Error, Result};
use crate::session::SessionId;

type Gates = Mutex<HashMap<SessionId, Arc<tokio::sync::Mutex<()>>>>;

/// The gates of the sessions that have a call running or waiting.
#[derive(Debug, Default)]
pub(super) struct SessionGates {
    gates: Arc<Gates>,
}

/// The right of one call to run in its session; dropping it lets the next call in.
#[derive(Debug)]
pub(super) struct SessionGate {
    guard: Option<OwnedMutexGuard<()>>,
    session: SessionId,
    gates: Arc<Gates>,
}

impl SessionGates {
    /// The gate of `session`, made if missing.
    fn gate(&self, session: &SessionId) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.gates.lock().expect("gate lock is never poisoned");
        Arc::clone(gates.entry(session.clone()).or_default())
    }

    fn held(&self, session: &SessionId, guard: OwnedMutexGuard<()>) -> SessionGate {
        SessionGate {
            guard: Some(guard),
            session: session.clone(),
            gates: Arc::clone(&self.gates),
        }
    }

    /// Passes the gate of `session`, waiting up to `patience` for the call before it.
    ///
    /// # Errors
    ///
    /// [`Error::QueueTimeout`] when the session's previous call runs past `patience`.
    pub(super) async fn enter(
        &self,
        session: &SessionId,
        patience: Duration,
    ) -> Result<SessionGate> {
        let started = Instant::now();
        let gate = self.gate(session);
        match tokio::time::timeout(patience, gate.lock_owned()).await {
            Ok(guard) => Ok(self.held(session, guard)),
            Err(_) => {
                self.forget_if_unused(session);
                Err(Error::QueueTimeout {
                    waited: started.elapsed(),
                })
            }
        }
    }

    /// Passes the gate of `session` if no call of it runs; never waits.
    pub(super) fn try_enter(&self, session: &SessionId) -> Option<SessionGate> {
        let gate = self.gate(session);
        match gate.try_lock_owned() {
            Ok(guard) => Some(self.held(session, guard)),
            Err(_) => {
                self.forget_if_unused(session);
                None
            }
        }
    }

    fn forget_if_unused(&self, session: &SessionId) {
        forget_if_unused(&self.gates, session);
    }

    /// How many sessions have a gate now (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.gates
            .lock()
            .expect("gate lock is never poisoned")
            .len()
    }
}

/// Drops the gate of `session` when only the map holds it.
fn forget_if_unused(gates: &Gates, session: &SessionId) {
    let mut gates = gates.lock().expect("gate lock is never poisoned");
    if gates
        .get(session)
        .is_some_and(|gate| Arc::strong_count(gate) == 1)
    {
        gates.remove(session);
    }
}

impl Drop for SessionGate {
    fn drop(&mut self) {
        drop(self.guard.take());
        forget_if_unused(&self.gates, &self.session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(name: &str) -> SessionId {
        SessionId::new(name)
    }

    #[tokio::test]
    async fn one_call_per_session_passes_and_gates_go_when_unused() {
        let gates = SessionGates::default();
        let first = gates
            .enter(&session("a"), Duration::from_secs(1))
            .await
            .unwrap();
        assert!(gates.try_enter(&session("a")).is_none());
        let other = gates
            .try_enter(&session("b"))
            .expect("another session passes");
        assert_eq!(gates.len(), 2);
        let waited = gates.enter(&session("a"), Duration::from_millis(20)).await;
        assert!(matches!(waited, Err(Error::QueueTimeout { .. })));
        drop(first);
        drop(other);
        assert_eq!(gates.len(), 0);
        let again = gates
            .try_enter(&session("a"))
            .expect("the gate is free again");
        drop(again);
        assert_eq!(gates.len(), 0);
    }

    #[tokio::test]
    async fn a_waiting_call_passes_when_the_one_before_answers() {
        let gates = Arc::new(SessionGates::default());
        let first = gates
            .enter(&session("s"), Duration::from_secs(1))
            .await
            .unwrap();
        let waiter = {
            let gates = Arc::clone(&gates);
            tokio::spawn(async move { gates.enter(&session("s"), Duration::from_secs(5)).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        let second = waiter.await.unwrap().expect("the waiter passes");
        assert_eq!(gates.len(), 1);
        drop(second);
        assert_eq!(gates.len(), 0);
    }
}
