//! The pool's circuit breaker: consecutive failures open it, a reset period later one probe
//! call at a time goes through, and a success closes it again.

use std::sync::Mutex;
use std::time::Instant;

use crate::config::CircuitConfig;
use crate::error::{Error, Result};
use crate::telemetry::{Event, EventBus};

/// The state of a circuit breaker, as [`PoolStats`](crate::PoolStats) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CircuitState {
    /// Calls flow.
    #[default]
    Closed,
    /// Calls fail fast.
    Open,
    /// One probe call at a time is let through.
    HalfOpen,
}

/// Permission to make one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Permit {
    /// An ordinary call.
    Normal,
    /// The probe of a half-open circuit.
    Probe,
}

/// How a call ended, as the breaker counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The worker answered (with a result or an error of the tool's own).
    Success,
    /// The worker crashed, broke the protocol or ran past the deadline.
    Failure,
    /// The call never reached a worker.
    Neutral,
}

impl Outcome {
    pub(super) fn of<T>(result: &Result<T>) -> Self {
        match result {
            Ok(_) => Self::Success,
            Err(err) => Self::of_error(err),
        }
    }

    pub(super) fn of_error(err: &Error) -> Self {
        match err {
            Error::Worker(_) | Error::InvalidResponse { .. } | Error::TooDeep { .. } => {
                Self::Success
            }
            Error::WorkerExited { .. } | Error::WorkerProtocol { .. } | Error::Timeout { .. } => {
                Self::Failure
            }
            _ => Self::Neutral,
        }
    }
}

#[derive(Debug)]
enum State {
    Closed,
    Open { since: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
struct Inner {
    state: State,
    failures: u32,
}

/// A circuit breaker.
#[derive(Debug)]
pub(super) struct CircuitBreaker {
    config: CircuitConfig,
    inner: Mutex<Inner>,
    /// Where state changes are reported.
    events: Option<EventBus>,
}

impl CircuitBreaker {
    pub(super) fn new(config: CircuitConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner {
                state: State::Closed,
                failures: 0,
            }),
            events: None,
        }
    }

    /// Reports the breaker's state changes on `events`.
    pub(super) fn observed(mut self, events: EventBus) -> Self {
        self.events = Some(events);
        self
    }

    fn emit(&self, make: impl FnOnce() -> Event) {
        if let Some(events) = &self.events {
            events.emit(make);
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("circuit lock is never poisoned")
    }

    /// Lets a call through, or refuses it while the circuit is open.
    pub(super) fn allow(&self, now: Instant) -> Result<Permit> {
        if !self.config.enabled {
            return Ok(Permit::Normal);
        }
        let mut inner = self.inner();
        let refused = Err(Error::CircuitOpen {
            failures: inner.failures,
        });
        match inner.state {
            State::Closed => Ok(Permit::Normal),
            State::Open { since }
                if now.saturating_duration_since(since) >= self.config.reset_after =>
            {
                inner.state = State::HalfOpen { probing: true };
                self.emit(|| Event::CircuitHalfOpen {});
                Ok(Permit::Probe)
            }
            State::Open { .. } | State::HalfOpen { probing: true } => refused,
            State::HalfOpen { probing: false } => {
                inner.state = State::HalfOpen { probing: true };
                Ok(Permit::Probe)
            }
        }
    }

    /// Counts how a permitted call ended.
    pub(super) fn record(&self, permit: Permit, outcome: Outcome, now: Instant) {
        if !self.config.enabled {
            return;
        }
        let mut inner = self.inner();
        match outcome {
            Outcome::Success => {
                if permit == Permit::Probe || matches!(inner.state, State::Closed) {
                    if permit == Permit::Probe {
                        self.emit(|| Event::CircuitClosed {});
                    }
                    inner.state = State::Closed;
                    inner.failures = 0;
                }
            }
            Outcome::Failure => {
                inner.failures = inner.failures.saturating_add(1);
                let opens = permit == Permit::Probe
                    || (matches!(inner.state, State::Closed)
                        && inner.failures >= self.config.failure_threshold);
                if opens {
                    tracing::warn!(failures = inner.failures, "circuit breaker opened");
                    inner.state = State::Open { since: now };
                    let failures = inner.failures;
                    self.emit(|| Event::CircuitOpened { failures });
                }
            }
            Outcome::Neutral => {
                if permit == Permit::Probe {
                    inner.state = State::HalfOpen { probing: false };
                }
            }
        }
    }

    /// The state as reported in stats (an open circuit past its reset period shows as
    /// half-open).
    pub(super) fn state(&self, now: Instant) -> CircuitState {
        if !self.config.enabled {
            return CircuitState::Closed;
        }
        match self.inner().state {
            State::Closed => CircuitState::Closed,
            State::Open { since }
                if now.saturating_duration_since(since) < self.config.reset_after =>
            {
                CircuitState::Open
            }
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(CircuitConfig {
            enabled: true,
            failure_threshold: 3,
            reset_after: Duration::from_secs(10),
        })
    }

    #[test]
    fn opens_after_consecutive_failures_fails_fast_half_opens_and_closes() {
        let breaker = breaker();
        let start = Instant::now();
        for _ in 0..2 {
            let permit = breaker.allow(start).unwrap();
            breaker.record(permit, Outcome::Failure, start);
        }
        assert_eq!(breaker.state(start), CircuitState::Closed);
        let permit = breaker.allow(start).unwrap();
        breaker.record(permit, Outcome::Failure, start);
        assert_eq!(breaker.state(start), CircuitState::Open);
        assert!(matches!(
            breaker.allow(start),
            Err(Error::CircuitOpen { failures: 3 })
        ));

        let later = start + Duration::from_secs(10);
        assert_eq!(breaker.state(later), CircuitState::HalfOpen);
        let probe = breaker.allow(later).unwrap();
        assert_eq!(probe, Permit::Probe);
        // One probe at a time.
        assert!(breaker.allow(later).is_err());
        breaker.record(probe, Outcome::Success, later);
        assert_eq!(breaker.state(later), CircuitState::Closed);
        assert_eq!(breaker.allow(later).unwrap(), Permit::Normal);
    }

    #[test]
    fn a_failed_probe_opens_again_and_a_neutral_one_frees_the_probe() {
        let breaker = breaker();
        let start = Instant::now();
        for _ in 0..3 {
            let permit = breaker.allow(start).unwrap();
            breaker.record(permit, Outcome::Failure, start);
        }
        let later = start + Duration::from_secs(11);
        let probe = breaker.allow(later).unwrap();
        breaker.record(probe, Outcome::Neutral, later);
        let probe = breaker.allow(later).unwrap();
        breaker.record(probe, Outcome::Failure, later);
        assert_eq!(breaker.state(later), CircuitState::Open);
    }

    #[test]
    fn a_success_resets_the_count() {
        let breaker = breaker();
        let now = Instant::now();
        for outcome in [
            Outcome::Failure,
            Outcome::Failure,
            Outcome::Success,
            Outcome::Failure,
            Outcome::Failure,
        ] {
            let permit = breaker.allow(now).unwrap();
            breaker.record(permit, outcome, now);
        }
        assert_eq!(breaker.state(now), CircuitState::Closed);
    }
}
