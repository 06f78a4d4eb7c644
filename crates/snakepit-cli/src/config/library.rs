//! The pool tables to and from the library's settings: an absent key takes the library's
//! own default (the tables' `Default` is read off `PoolConfig::default()` and
//! `SessionStoreConfig::default()`), and a resolved table becomes a `PoolConfig` and a
//! `SessionStoreConfig`.

use snakepit::session::SessionStoreConfig;
use snakepit::{
    Affinity, CircuitConfig, HealthConfig, PoolConfig, Profile, RecycleConfig, RetryConfig,
    RetryPolicy,
};
use toml::Spanned;

use super::schema::{
    AdapterTable, AffinityName, CircuitTable, HealthTable, PolicyName, PoolTable, ProfileName,
    RecycleTable, RetryTable, SessionsTable,
};
use super::value::{Bytes, Count, Dur, Fraction, NonZeroDur, OptBytes, OptCount, OptDur};

impl Default for PoolTable {
    fn default() -> Self {
        let pool = PoolConfig::default();
        Self {
            size: Count(pool.size),
            startup_timeout: NonZeroDur(pool.startup_timeout),
            max_queue: pool.max_queue,
            queue_timeout: Dur(pool.queue_timeout),
            call_timeout: NonZeroDur(pool.call_timeout),
            cancel_grace: Dur(pool.cancel_grace),
            drain_timeout: Dur(pool.drain_timeout),
            stop_grace: Dur(pool.stop_grace),
            max_frame: Bytes(pool.max_frame as u64),
            registry: pool.registry,
            state_dir: pool.state_dir,
            instance_name: pool.instance_name,
            affinity: pool.affinity.into(),
            profile: Spanned::new(0..0, ProfileName::from(pool.profile)),
            capacity: match pool.profile {
                Profile::Process => None,
                profile => Some(Spanned::new(0..0, Count(profile.capacity()))),
            },
            serial_sessions: pool.serial_sessions,
            adapter: AdapterTable::default(),
            retry: RetryTable::default(),
            circuit: CircuitTable::default(),
            health: HealthTable::default(),
            recycle: RecycleTable::default(),
            sessions: SessionsTable::default(),
        }
    }
}

impl Default for RetryTable {
    fn default() -> Self {
        let retry = RetryConfig::default();
        Self {
            policy: retry.policy.into(),
            per_command: retry
                .per_command
                .into_iter()
                .map(|(command, policy)| (command, policy.into()))
                .collect(),
            max_retries: retry.max_retries,
            backoff: Dur(retry.backoff),
        }
    }
}

impl Default for CircuitTable {
    fn default() -> Self {
        let circuit = CircuitConfig::default();
        Self {
            enabled: circuit.enabled,
            failure_threshold: circuit.failure_threshold,
            reset_after: Dur(circuit.reset_after),
        }
    }
}

impl Default for HealthTable {
    fn default() -> Self {
        let health = HealthConfig::default();
        Self {
            heartbeat_interval: OptDur(health.heartbeat_interval),
            heartbeat_timeout: NonZeroDur(health.heartbeat_timeout),
            restart_backoff: Dur(health.restart_backoff),
            restart_backoff_max: Dur(health.restart_backoff_max),
            crash_window: Dur(health.crash_window),
            taint_after: health.taint_after,
            taint_duration: Dur(health.taint_duration),
        }
    }
}

impl Default for RecycleTable {
    fn default() -> Self {
        let recycle = RecycleConfig::default();
        Self {
            max_requests: OptCount(recycle.max_requests),
            max_age: OptDur(recycle.max_age),
            max_memory_bytes: OptBytes(recycle.max_memory_bytes),
            jitter: Fraction(recycle.jitter),
            check_interval: NonZeroDur(recycle.check_interval),
        }
    }
}

impl Default for SessionsTable {
    fn default() -> Self {
        let sessions = SessionStoreConfig::default();
        Self {
            default_ttl: NonZeroDur(sessions.default_ttl),
            max_sessions: sessions.max_sessions,
            sweep_interval: Dur(sessions.sweep_interval),
        }
    }
}

impl PoolTable {
    /// The library's settings for this table.
    pub(crate) fn pool_config(&self) -> PoolConfig {
        let mut config = PoolConfig::default();
        config.size = self.size.0;
        config.startup_timeout = self.startup_timeout.0;
        config.max_queue = self.max_queue;
        config.queue_timeout = self.queue_timeout.0;
        config.call_timeout = self.call_timeout.0;
        config.cancel_grace = self.cancel_grace.0;
        config.drain_timeout = self.drain_timeout.0;
        config.stop_grace = self.stop_grace.0;
        config.max_frame = usize::try_from(self.max_frame.0).unwrap_or(usize::MAX);
        config.registry = self.registry;
        config.state_dir.clone_from(&self.state_dir);
        config.instance_name.clone_from(&self.instance_name);
        config.affinity = self.affinity.into();
        config.profile = match (self.profile.get_ref(), &self.capacity) {
            (ProfileName::Process, _) => Profile::Process,
            // `resolve::check_profile` refuses a concurrent profile without a capacity; the
            // library refuses capacity 0 again.
            (ProfileName::Concurrent, capacity) => {
                Profile::concurrent(capacity.as_ref().map_or(0, |capacity| capacity.get_ref().0))
            }
        };
        config.serial_sessions = self.serial_sessions;

        config.retry.policy = self.retry.policy.into();
        config.retry.per_command = self
            .retry
            .per_command
            .iter()
            .map(|(command, policy)| (command.clone(), (*policy).into()))
            .collect();
        config.retry.max_retries = self.retry.max_retries;
        config.retry.backoff = self.retry.backoff.0;

        config.circuit.enabled = self.circuit.enabled;
        config.circuit.failure_threshold = self.circuit.failure_threshold;
        config.circuit.reset_after = self.circuit.reset_after.0;

        let health = &self.health;
        config.health.heartbeat_interval = health.heartbeat_interval.0;
        config.health.heartbeat_timeout = health.heartbeat_timeout.0;
        config.health.restart_backoff = health.restart_backoff.0;
        config.health.restart_backoff_max = health.restart_backoff_max.0;
        config.health.crash_window = health.crash_window.0;
        config.health.taint_after = health.taint_after;
        config.health.taint_duration = health.taint_duration.0;

        let recycle = &self.recycle;
        config.recycle.max_requests = recycle.max_requests.0;
        config.recycle.max_age = recycle.max_age.0;
        config.recycle.max_memory_bytes = recycle.max_memory_bytes.0;
        config.recycle.jitter = recycle.jitter.0;
        config.recycle.check_interval = recycle.check_interval.0;
        config
    }

    /// The settings of the pool's session store.
    pub(crate) fn session_config(&self) -> SessionStoreConfig {
        let mut config = SessionStoreConfig::default();
        config.default_ttl = self.sessions.default_ttl.0;
        config.max_sessions = self.sessions.max_sessions;
        config.sweep_interval = self.sessions.sweep_interval.0;
        config
    }
}

impl From<Affinity> for AffinityName {
    fn from(affinity: Affinity) -> Self {
        match affinity {
            Affinity::StrictQueue => Self::StrictQueue,
            Affinity::StrictFailFast => Self::StrictFailFast,
            // A mode added to the library later reads as the default until the file learns
            // its name; `defaults_are_the_librarys` fails if that ever changes a default.
            _ => Self::Hint,
        }
    }
}

impl From<AffinityName> for Affinity {
    fn from(name: AffinityName) -> Self {
        match name {
            AffinityName::Hint => Self::Hint,
            AffinityName::StrictQueue => Self::StrictQueue,
            AffinityName::StrictFailFast => Self::StrictFailFast,
        }
    }
}

impl From<Profile> for ProfileName {
    fn from(profile: Profile) -> Self {
        match profile {
            Profile::Process => Self::Process,
            _ => Self::Concurrent,
        }
    }
}

impl From<RetryPolicy> for PolicyName {
    fn from(policy: RetryPolicy) -> Self {
        match policy {
            RetryPolicy::Never => Self::Never,
            RetryPolicy::Always => Self::Always,
            // As for affinity: `defaults_are_the_librarys` guards the default.
            _ => Self::Idempotent,
        }
    }
}

impl From<PolicyName> for RetryPolicy {
    fn from(name: PolicyName) -> Self {
        match name {
            PolicyName::Never => Self::Never,
            PolicyName::Idempotent => Self::Idempotent,
            PolicyName::Always => Self::Always,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_librarys() {
        assert_eq!(PoolTable::default().pool_config(), PoolConfig::default());
        assert_eq!(
            PoolTable::default().session_config(),
            SessionStoreConfig::default()
        );
    }
}
