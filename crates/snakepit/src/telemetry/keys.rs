//! [`CallKeys`]: the metric keys every call records under, built once per command and
//! worker. Building a key (its labels, their hash) costs more than recording it, and a call
//! records four; with no recorder installed it was all of a call's telemetry cost.

use std::sync::{Arc, Mutex};

use metrics::{Key, Label, SharedString};

use super::event::CallOutcome;
use super::metric::{CALL_DURATION, CALLS, QUEUE_WAIT, WORKER_CALLS};
use crate::id_hash::IdMap;
use crate::worker::WorkerId;

/// How many commands, and how many workers, have their keys kept; past that, keys are
/// built for each call (a pool called with ever new command names keeps a bounded cache,
/// so the cheap hash of [`IdMap`] cannot be made to cost more than this many compares).
const MAX_CACHED: usize = 1024;

/// The keys of a successful call of one command.
#[derive(Debug)]
pub(super) struct CommandKeys {
    /// `snakepit_calls_total{pool, command, outcome="ok"}`.
    pub(super) calls: Key,
    /// `snakepit_call_duration_seconds{pool, command, outcome="ok"}`.
    pub(super) duration: Key,
}

/// One pool's cached keys.
#[derive(Debug)]
pub(crate) struct CallKeys {
    pool: SharedString,
    /// `snakepit_queue_wait_seconds{pool}`.
    pub(super) queue_wait: Key,
    commands: Mutex<IdMap<Box<str>, Arc<CommandKeys>>>,
    workers: Mutex<IdMap<WorkerId, Arc<Key>>>,
}

impl CallKeys {
    pub(super) fn new(pool: &Arc<str>) -> Self {
        let pool = SharedString::from(Arc::clone(pool));
        Self {
            queue_wait: Key::from_parts(QUEUE_WAIT, vec![Label::new("pool", pool.clone())]),
            pool,
            commands: Mutex::new(IdMap::default()),
            workers: Mutex::new(IdMap::default()),
        }
    }

    /// The keys of a successful call of `command`.
    pub(super) fn command(&self, command: &str) -> Arc<CommandKeys> {
        let mut commands = self.commands.lock().expect("key lock is never poisoned");
        if let Some(keys) = commands.get(command) {
            return Arc::clone(keys);
        }
        let outcome = CallOutcome::Ok.as_str();
        let keys = Arc::new(CommandKeys {
            calls: self.call_key(CALLS, command, "outcome", outcome),
            duration: self.call_key(CALL_DURATION, command, "outcome", outcome),
        });
        if commands.len() < MAX_CACHED {
            commands.insert(Box::from(command), Arc::clone(&keys));
        }
        keys
    }

    /// `name{pool, command, <last>=<value>}`.
    pub(super) fn call_key(
        &self,
        name: &'static str,
        command: &str,
        last: &'static str,
        value: &'static str,
    ) -> Key {
        Key::from_parts(
            name,
            vec![
                Label::new("pool", self.pool.clone()),
                Label::new("command", command.to_owned()),
                Label::new(last, value),
            ],
        )
    }

    /// `snakepit_worker_calls_total{pool, worker}`.
    pub(super) fn worker(&self, worker: WorkerId) -> Arc<Key> {
        let mut workers = self.workers.lock().expect("key lock is never poisoned");
        if let Some(key) = workers.get(&worker) {
            return Arc::clone(key);
        }
        let key = Arc::new(Key::from_parts(
            WORKER_CALLS,
            vec![
                Label::new("pool", self.pool.clone()),
                Label::new("worker", worker.to_string()),
            ],
        ));
        if workers.len() >= MAX_CACHED {
            // Workers are replaced over time; the oldest ids are the ones no longer called.
            workers.clear();
        }
        workers.insert(worker, Arc::clone(&key));
        key
    }
}
