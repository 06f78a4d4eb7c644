//! `GET /v1/events`: the event bus as Server-Sent Events, and the ticker that feeds it a
//! `snapshot` of every pool each interval and a `worker` event when a worker appears or goes,
//! and the pools' own events as `pool` events (see [`crate::forward`]).
//!
//! A subscriber that falls behind loses events and gets a `lagged` event saying how many;
//! it never slows the server. Every stream ends when the server starts to shut down.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, stream};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::monitor::pool_snapshot;
use crate::state::AppState;

/// Every pool's snapshot, as one `snapshot` event's data.
pub fn snapshot(state: &AppState) -> Value {
    let pools: Vec<Value> = state
        .pools()
        .values()
        .map(|served| pool_snapshot(&served.name, &served.pool, &served.monitor))
        .collect();
    json!({ "pools": pools })
}

/// `GET /v1/events`: a `snapshot` first, then every event as it happens.
pub async fn events(
    State(state): State<Arc<AppState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.subscribe();
    crate::forward::ensure(&state);
    let first = Event::default()
        .event("snapshot")
        .data(snapshot(&state).to_string());
    let shutdown = state.shutdown.clone();
    let rest = stream::unfold(receiver, move |mut receiver| {
        let shutdown = shutdown.clone();
        async move {
            let event = tokio::select! {
                () = shutdown.cancelled() => return None,
                received = receiver.recv() => match received {
                    Ok(event) => Event::default().event(event.name).data(event.data.to_string()),
                    Err(RecvError::Lagged(lost)) => {
                        Event::default().event("lagged").data(json!({"lost": lost}).to_string())
                    }
                    Err(RecvError::Closed) => return None,
                },
            };
            Some((Ok(event), receiver))
        }
    });
    let all = futures_util::StreamExt::chain(stream::once(async move { Ok(first) }), rest);
    Sse::new(all).keep_alive(KeepAlive::default())
}

/// Watches the pools every `interval` until shutdown: emits `worker` events for pids that
/// appeared or went, and a `snapshot` when anyone listens.
pub async fn ticker(state: Arc<AppState>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for served in state.pools().values() {
            served.monitor.sample(served.pool.stats().requests);
            let changes = served.monitor.observe(&served.pool.worker_pids());
            for (change, pids) in [("started", &changes.started), ("exited", &changes.exited)] {
                for pid in pids {
                    state.emit(
                        "worker",
                        json!({"pool": served.name, "pid": pid, "change": change}),
                    );
                }
            }
        }
        if state.listened() {
            crate::forward::ensure(&state);
            state.emit("snapshot", snapshot(&state));
        }
    }
}
