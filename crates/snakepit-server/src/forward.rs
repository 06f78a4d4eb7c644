//! The library's pool events ([`snakepit::Pool::events`]) on `/v1/events`, as `pool` events.
//!
//! A pool emits events only while someone subscribes to them, and every call then pays for
//! two of them; so the server subscribes to a pool's events only while `/v1/events` has a
//! listener. [`ensure`] starts the missing forwarders (one task per served pool) when a
//! listener arrives and on every tick; a forwarder ends on its own once nobody listens, when
//! its pool is replaced or gone, or at shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use snakepit::telemetry::{Event, Received};
use tokio::task::JoinHandle;

use crate::state::{AppState, Served};

/// One running forwarder: the pool it forwards and its task.
type Forwarder = (Arc<Served>, JoinHandle<()>);

/// The running forwarders, by pool name.
#[derive(Debug, Default)]
pub struct Forwarders(Mutex<HashMap<String, Forwarder>>);

/// Starts a forwarder for every served pool that lacks one, when anyone listens.
pub fn ensure(state: &Arc<AppState>) {
    if !state.listened() || state.shutdown.is_cancelled() {
        return;
    }
    let pools = state.pools();
    let mut running = state
        .forwarders
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    running.retain(|name, (served, task)| {
        let current = pools.get(name).is_some_and(|now| Arc::ptr_eq(now, served));
        if !current {
            task.abort();
        }
        current && !task.is_finished()
    });
    for (name, served) in pools.iter() {
        if running.contains_key(name) {
            continue;
        }
        // Subscribe now, before the caller goes on: no event after this is missed.
        let events = served.pool.events();
        let task = tokio::spawn(forward(Arc::clone(state), name.clone(), events));
        running.insert(name.clone(), (Arc::clone(served), task));
    }
}

async fn forward(state: Arc<AppState>, pool: String, mut events: snakepit::telemetry::Events) {
    loop {
        let received = tokio::select! {
            () = state.shutdown.cancelled() => return,
            received = events.recv() => received,
        };
        if !state.listened() {
            return;
        }
        match received {
            Some(Received::Event(event)) => state.emit("pool", event_json(&pool, &event)),
            Some(Received::Lagged(lost)) => {
                state.emit("lagged", json!({"pool": pool, "lost": lost}));
            }
            Some(_) => {}
            None => return,
        }
    }
}

fn ms(duration: std::time::Duration) -> Value {
    json!((duration.as_secs_f64() * 1_000_000.0).round() / 1000.0)
}

/// One library event as the data of a `pool` event: the pool, the event's dotted name, its
/// correlation id when it belongs to a call, and the fields of the common events.
pub fn event_json(pool: &str, event: &Event) -> Value {
    let mut data = Map::new();
    data.insert("pool".into(), json!(pool));
    data.insert("event".into(), json!(event.name()));
    if let Some(id) = event.correlation_id() {
        data.insert("correlation_id".into(), json!(id.as_str()));
    }
    let mut put = |key: &str, value: Value| {
        data.insert(key.into(), value);
    };
    match event {
        Event::WorkerSpawned { worker, pid, .. } | Event::WorkerReady { worker, pid, .. } => {
            put("worker", json!(worker.to_string()));
            put("pid", json!(pid));
        }
        Event::WorkerExited { worker, exit, .. } => {
            put("worker", json!(worker.to_string()));
            put(
                "exit",
                json!(exit.map(|class| format!("{class:?}").to_lowercase())),
            );
        }
        Event::WorkerRecycled {
            worker,
            replacement,
            reason,
            ..
        } => {
            put("worker", json!(worker.to_string()));
            put("replacement", json!(replacement.to_string()));
            put("reason", json!(reason));
        }
        Event::CallDispatched {
            command,
            worker,
            queue_wait,
            ..
        } => {
            put("command", json!(command));
            put("worker", json!(worker.to_string()));
            put("queue_wait_ms", ms(*queue_wait));
        }
        Event::CallFinished {
            command,
            worker,
            duration,
            outcome,
            ..
        } => {
            put("command", json!(command));
            put("worker", json!(worker.map(|worker| worker.to_string())));
            put("duration_ms", ms(*duration));
            put("outcome", json!(outcome.as_str()));
        }
        Event::QueueSaturated { command, .. } | Event::QueueTimeout { command, .. } => {
            put("command", json!(command));
        }
        _ => {}
    }
    Value::Object(data)
}
