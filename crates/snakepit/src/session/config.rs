//! The store's settings and the statistics it reports.

use std::time::Duration;

/// Settings of a [`SessionStore`](super::SessionStore). Plain data; start from
/// [`Default`] and change what you need.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStoreConfig {
    /// How long a session lives after its last access when it was created without an
    /// explicit TTL. Default: one hour.
    pub default_ttl: Duration,
    /// The most live sessions the store holds; creating one more fails with
    /// [`SessionError::TooMany`](super::SessionError::TooMany). Default: 100 000.
    pub max_sessions: usize,
    /// How often the background task removes expired sessions. Zero turns the background
    /// sweep off (expired sessions are still invisible, and
    /// [`cleanup_expired`](super::SessionStore::cleanup_expired) still removes them).
    /// Default: 60 seconds.
    pub sweep_interval: Duration,
}

impl Default for SessionStoreConfig {
    fn default() -> Self {
        Self {
            default_ttl: Duration::from_secs(60 * 60),
            max_sessions: 100_000,
            sweep_interval: Duration::from_secs(60),
        }
    }
}

/// A snapshot of a store's counters, from [`SessionStore::stats`](super::SessionStore::stats).
///
/// The counters are read one after another without a common lock, so under concurrent
/// use they can be a few operations apart. At rest,
/// `sessions == created - deleted - expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SessionStoreStats {
    /// Sessions held now, including expired ones the sweep has not removed yet.
    pub sessions: usize,
    /// Sessions created since the store was made.
    pub created: u64,
    /// Sessions removed by [`delete`](super::SessionStore::delete).
    pub deleted: u64,
    /// Sessions removed because their TTL ran out.
    pub expired: u64,
    /// Programs stored with [`store_global_program`](super::SessionStore::store_global_program).
    pub global_programs: usize,
    /// The configured maximum number of sessions.
    pub max_sessions: usize,
}
