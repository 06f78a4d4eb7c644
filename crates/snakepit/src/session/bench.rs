//! A micro-benchmark of the store's hot path, for `snakepit bench`.

use std::time::Instant;

use serde_json::Value;

use super::{SessionStore, SessionStoreConfig};

/// Runs get/update mixes from many tasks and returns ops per second.
///
/// Spawns `tasks` tokio tasks on the current runtime (a multi-thread runtime is assumed, so
/// they run in parallel). Each task creates `sessions_per_task` sessions of its own, then
/// performs `ops_per_task` operations cycling over them: three [`SessionStore::get`]s for
/// every [`SessionStore::update`] (which bumps a counter in the metadata). Only these
/// operations are timed, by the wall clock.
///
/// # Panics
///
/// Panics when called outside a tokio runtime.
pub async fn bench_store_ops(tasks: usize, sessions_per_task: usize, ops_per_task: usize) -> f64 {
    let sessions_per_task = sessions_per_task.max(1);
    let store = SessionStore::new(SessionStoreConfig {
        max_sessions: tasks.saturating_mul(sessions_per_task).max(1),
        ..SessionStoreConfig::default()
    });
    let mut all_ids = Vec::with_capacity(tasks);
    for task in 0..tasks {
        let ids: Vec<String> = (0..sessions_per_task)
            .map(|session| format!("bench-{task}-{session}"))
            .collect();
        for id in &ids {
            if let Err(err) = store.create(id.as_str(), None) {
                tracing::error!(error = %err, "bench could not create a session");
            }
        }
        all_ids.push(ids);
    }

    let started = Instant::now();
    let handles: Vec<_> = all_ids
        .into_iter()
        .map(|ids| {
            let store = store.clone();
            tokio::spawn(async move { run_ops(&store, &ids, ops_per_task) })
        })
        .collect();
    let mut done: u64 = 0;
    for handle in handles {
        match handle.await {
            Ok(ops) => done += ops,
            Err(err) => tracing::error!(error = %err, "bench task failed"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if elapsed > 0.0 {
        done as f64 / elapsed
    } else {
        0.0
    }
}

/// Performs the operations of one task and returns how many succeeded.
fn run_ops(store: &SessionStore, ids: &[String], ops: usize) -> u64 {
    let mut succeeded = 0;
    for (op, id) in (0..ops).zip(ids.iter().cycle()) {
        let ok = if op % 4 == 3 {
            store
                .update(id, |session| match session.metadata.get_mut("counter") {
                    Some(counter) => *counter = Value::from(counter.as_u64().unwrap_or(0) + 1),
                    None => {
                        session
                            .metadata
                            .insert("counter".to_owned(), Value::from(1));
                    }
                })
                .is_ok()
        } else {
            store.get(id).is_ok()
        };
        succeeded += u64::from(ok);
    }
    succeeded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bench_runs_and_reports_a_rate() {
        let rate = bench_store_ops(2, 4, 1_000).await;
        assert!(rate > 0.0, "rate {rate}");
    }
}
