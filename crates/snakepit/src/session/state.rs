//! What a session holds, and the snapshot of it that lookups return.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::time::Instant;

use super::{SessionId, Variable};
use crate::worker::WorkerId;

/// A session's state, as the closure of [`SessionStore::update`](super::SessionStore::update)
/// sees it.
///
/// `metadata` and `programs` are free-form and can be changed directly. Variables are typed
/// and validated, so they are read-only here; change them through
/// [`SessionStore::update_variable`](super::SessionStore::update_variable).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Session {
    pub(super) id: SessionId,
    pub(super) created_at: Instant,
    pub(super) last_access: Instant,
    pub(super) ttl: Duration,
    /// Free-form data the host keeps with the session.
    pub metadata: Map<String, Value>,
    /// The session's programs, by id. See
    /// [`SessionStore::store_program`](super::SessionStore::store_program).
    pub programs: BTreeMap<String, Value>,
    pub(super) variables: BTreeMap<String, Variable>,
}

impl Session {
    pub(super) fn new(id: SessionId, now: Instant, ttl: Duration) -> Self {
        Self {
            id,
            created_at: now,
            last_access: now,
            ttl,
            metadata: Map::new(),
            programs: BTreeMap::new(),
            variables: BTreeMap::new(),
        }
    }

    /// The session's id.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// When the session was created.
    pub fn created_at(&self) -> Instant {
        self.created_at
    }

    /// When the session was last accessed: the start of the current operation.
    pub fn last_access(&self) -> Instant {
        self.last_access
    }

    /// How long the session lives after its last access.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The session's typed variables, by name, as stored: a tensor's or embedding's value
    /// is only in [`Variable::array`] (its `value` is null).
    pub fn variables(&self) -> &BTreeMap<String, Variable> {
        &self.variables
    }

    /// One typed variable.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.get(name)
    }
}

/// A snapshot of a session's bookkeeping, returned by lookups such as
/// [`SessionStore::get`](super::SessionStore::get). It does not change when the session does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    pub(super) id: SessionId,
    pub(super) created_at: Instant,
    pub(super) last_access: Instant,
    pub(super) ttl: Duration,
    pub(super) owner: Option<WorkerId>,
    pub(super) serial: bool,
}

impl SessionInfo {
    /// The session's id.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// When the session was created.
    pub fn created_at(&self) -> Instant {
        self.created_at
    }

    /// When the session was last accessed (for lookups that refresh it, this lookup).
    pub fn last_access(&self) -> Instant {
        self.last_access
    }

    /// How long the session lives after its last access.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// When the session expires unless it is accessed again; `None` when the TTL is too long
    /// to represent.
    pub fn expires_at(&self) -> Option<Instant> {
        self.last_access.checked_add(self.ttl)
    }

    /// The worker the session is bound to, if any: calls in this session go to that worker
    /// while it is alive.
    pub fn owner(&self) -> Option<WorkerId> {
        self.owner
    }

    /// Whether the session's calls run one at a time, even on a worker that takes several
    /// calls at once ([`SessionStore::set_serial`](super::SessionStore::set_serial), or the
    /// pool's `serial_sessions` for every session).
    pub fn serial(&self) -> bool {
        self.serial
    }
}
