//! Under load, with a worker SIGKILLed every second, every idempotent call through the
//! server is answered exactly once with its own result.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use snakepit::RetryConfig;
use snakepit_server::PoolDef;

use crate::support::{eventually, serve, showcase};

const CLIENTS: usize = 64;
const KILLS: usize = 4;

#[tokio::test(flavor = "multi_thread")]
async fn no_call_is_lost_or_mixed_up_while_workers_are_killed() {
    let mut retry = RetryConfig::default();
    retry.max_retries = 4;
    let server = serve(vec![PoolDef::new("default", "x", showcase(4).retry(retry))]).await;
    let pool = server.handle.pool("default").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let url = server.url("/v1/pools/default/commands/echo");

    let clients: Vec<_> = (0..CLIENTS)
        .map(|client_id| {
            let client = server.client.clone();
            let url = url.clone();
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut answered = 0_u64;
                let mut failures = Vec::new();
                let mut seq = 0_u64;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    let sent = json!({"client": client_id, "seq": seq});
                    let response = client
                        .post(&url)
                        .json(&json!({"args": sent, "idempotent": true}))
                        .send()
                        .await
                        .expect("the server answers");
                    let status = response.status().as_u16();
                    let body: Value = response.json().await.expect("a JSON body");
                    if status == 200 && body["result"] == sent {
                        answered += 1;
                    } else {
                        failures.push((status, body));
                    }
                }
                (seq, answered, failures)
            })
        })
        .collect();

    let mut killed = Vec::new();
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let pids = pool.worker_pids();
        let victim = pids[killed.len() % pids.len()];
        kill(
            Pid::from_raw(i32::try_from(victim).unwrap()),
            Signal::SIGKILL,
        )
        .unwrap();
        killed.push(victim);
    }
    stop.store(true, Ordering::Relaxed);

    let (mut sent, mut answered) = (0, 0);
    for client in clients {
        let (client_sent, client_answered, failures) = client.await.unwrap();
        assert!(failures.is_empty(), "failed calls: {failures:?}");
        sent += client_sent;
        answered += client_answered;
    }
    assert_eq!(
        sent, answered,
        "every call answered once, with its own arguments"
    );
    assert!(sent > CLIENTS as u64, "the load ran: {sent} calls");
    let replaced = eventually(Duration::from_secs(20), || async {
        let stats = pool.stats();
        stats.restarts >= KILLS as u64 && stats.workers == 4
    })
    .await;
    let stats = pool.stats();
    assert!(replaced, "every killed worker is replaced: {stats:?}");
    eprintln!(
        "{sent} calls, {} retried after a kill, {} workers restarted",
        stats.retries, stats.restarts
    );
    server.stop().await;
}
