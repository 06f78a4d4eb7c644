//! Which worker a call gets: any worker with a free place, or the one that owns the call's
//! session (which may run several of the session's calls at once, up to its capacity,
//! unless the pool's sessions are serial: then the call first passes its session's gate).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use super::handle::PoolShared;
use super::lease::{Lease, QueueSlot};
use super::roster::Checkout;
use super::serial::SessionGate;
use crate::config::Affinity;
use crate::error::{Error, Result};
use crate::session::SessionId;
use crate::telemetry::{CorrelationId, Event};
use crate::worker::{Worker, WorkerId};

/// Takes a place on a worker for a call, in `session` if given, waiting in the queue up to
/// the queue timeout. A call in a session makes the worker it gets the session's owner.
pub(super) async fn checkout_for(
    shared: &Arc<PoolShared>,
    session: Option<&SessionId>,
    affinity: Affinity,
    correlation: &CorrelationId,
) -> Result<Lease> {
    match session {
        None => checkout(shared).await,
        // Boxed: the session path's future is large, and every call's future would
        // otherwise carry its size (and be copied with it) even without a session.
        Some(session) => {
            Box::pin(checkout_in_session_for(
                shared,
                session,
                affinity,
                correlation,
            ))
            .await
        }
    }
}

/// [`checkout_for`] of a call in `session`.
async fn checkout_in_session_for(
    shared: &Arc<PoolShared>,
    session: &SessionId,
    affinity: Affinity,
    correlation: &CorrelationId,
) -> Result<Lease> {
    // Creating the session first fails a full store before the call takes a worker.
    let info = shared.sessions.get_or_create(session)?;
    if info.created_at() == info.last_access() {
        shared.telemetry.emit(|| Event::SessionCreated {
            session: session.clone(),
        });
    }
    let gate = if shared.config.serial_sessions || info.serial() {
        Some(enter_serial(shared, session, affinity).await?)
    } else {
        None
    };
    loop {
        let mut lease = checkout_in_session(shared, session, affinity, correlation).await?;
        let worker = lease.worker().id();
        if affinity == Affinity::Hint {
            shared.sessions.bind_owner(session, Some(worker))?;
            lease.hold_gate(gate);
            return Ok(lease);
        }
        // Strict modes: two first calls of a session may race for different workers; the
        // first to claim the session owns it, and the other call goes to that owner.
        if shared.sessions.claim_owner(session, worker)? == worker {
            lease.hold_gate(gate);
            return Ok(lease);
        }
    }
}

/// Waits until no other call of the serial `session` runs (up to the queue timeout); with
/// [`Affinity::StrictFailFast`], fails at once with [`Error::SessionBusy`] instead.
async fn enter_serial(
    shared: &Arc<PoolShared>,
    session: &SessionId,
    affinity: Affinity,
) -> Result<SessionGate> {
    if affinity == Affinity::StrictFailFast {
        if let Some(gate) = shared.gates.try_enter(session) {
            return Ok(gate);
        }
        if let Some(owner) = shared.sessions.owner(session) {
            return Err(Error::SessionBusy {
                session: session.as_str().to_owned(),
                worker: owner,
            });
        }
    }
    shared
        .gates
        .enter(session, shared.config.queue_timeout)
        .await
}

async fn checkout_in_session(
    shared: &Arc<PoolShared>,
    session: &SessionId,
    affinity: Affinity,
    correlation: &CorrelationId,
) -> Result<Lease> {
    let owner = shared.sessions.owner(session);
    let broken = |worker: WorkerId| {
        shared.telemetry.emit(|| Event::SessionAffinityBroken {
            session: session.clone(),
            worker,
            correlation_id: correlation.clone(),
        });
    };
    // A lost session is reported once; the session is unbound, so its next call starts
    // afresh on a new owner.
    let lost = |worker: WorkerId| {
        broken(worker);
        if let Err(err) = shared.sessions.bind_owner(session, None) {
            tracing::debug!(%session, error = %err, "could not unbind a lost session");
        }
        Error::SessionLost {
            session: session.as_str().to_owned(),
            worker,
        }
    };
    let roster = &shared.roster;
    let lease = |worker| Ok(Lease::new(Arc::clone(shared), worker));
    match (owner, affinity) {
        (None, _) => checkout(shared).await,
        (Some(owner), Affinity::Hint) => match roster.try_take(owner) {
            Some(worker) => lease(worker),
            None => {
                // The owner is busy, or gone: then the session's state is lost.
                if !roster.is_live(owner) {
                    broken(owner);
                }
                match roster.try_take_any() {
                    Some(worker) => lease(worker),
                    None => checkout(shared).await,
                }
            }
        },
        (Some(owner), Affinity::StrictQueue) => match roster.checkout_worker(owner)? {
            Checkout::Ready(worker) => lease(worker),
            Checkout::Wait { ticket, receiver } => {
                wait(shared, ticket, receiver, || lost(owner)).await
            }
            Checkout::Gone => Err(lost(owner)),
        },
        (Some(owner), Affinity::StrictFailFast) => {
            if !roster.is_live(owner) {
                return Err(lost(owner));
            }
            match roster.try_take(owner) {
                Some(worker) => lease(worker),
                None if roster.is_live(owner) => Err(Error::SessionBusy {
                    session: session.as_str().to_owned(),
                    worker: owner,
                }),
                None => Err(lost(owner)),
            }
        }
    }
}

/// Takes a place on any worker, waiting in the FIFO queue up to the queue timeout.
pub(super) async fn checkout(shared: &Arc<PoolShared>) -> Result<Lease> {
    match shared.roster.checkout()? {
        Checkout::Ready(worker) => Ok(Lease::new(Arc::clone(shared), worker)),
        // Boxed, as the session path is: only a call that queues pays for the wait's size.
        Checkout::Wait { ticket, receiver } => {
            Box::pin(wait(shared, ticket, receiver, || Error::Shutdown)).await
        }
        Checkout::Gone => Err(Error::Shutdown),
    }
}

/// Waits in the queue for a worker; `closed` is the error when the wait can never succeed.
async fn wait(
    shared: &Arc<PoolShared>,
    ticket: u64,
    receiver: oneshot::Receiver<Worker>,
    closed: impl FnOnce() -> Error,
) -> Result<Lease> {
    let started = Instant::now();
    let mut slot = QueueSlot {
        shared: Arc::clone(shared),
        ticket,
        receiver: Some(receiver),
    };
    let receiver = slot.receiver.as_mut().expect("the slot holds its receiver");
    match tokio::time::timeout(shared.config.queue_timeout, receiver).await {
        Ok(Ok(worker)) => {
            slot.receiver = None;
            Ok(Lease::new(Arc::clone(shared), worker))
        }
        Ok(Err(_)) if shared.roster.is_closed() => Err(Error::Shutdown),
        Ok(Err(_)) => Err(closed()),
        Err(_) => Err(Error::QueueTimeout {
            waited: started.elapsed(),
        }),
    }
}
