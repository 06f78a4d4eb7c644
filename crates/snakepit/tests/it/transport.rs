//! The link of two pipes (`LinkTransport::Pipes`): a Python worker reads its calls from one
//! pipe and writes its answers to the other; frames larger than a pipe's buffer, shared
//! memory beside the link, a killed worker's end, a forked worker and a concurrent worker's
//! threads all work over it, and the descriptors the worker holds really are pipes.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use snakepit::{Error, LinkTransport, Pool, PythonAdapter};

use crate::shm::{describe, floats, shm_adapter};
use crate::support;

/// What descriptor `fd` of process `pid` is (`pipe:[..]`, `socket:[..]`), or `None`.
fn descriptor(pid: u64, fd: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .ok()
        .map(|target| target.to_string_lossy().into_owned())
}

/// A started pool of one worker of `adapter`, on pipes.
async fn on_pipes(adapter: PythonAdapter) -> Pool {
    support::builder(adapter.transport(LinkTransport::Pipes), 1)
        .start()
        .await
        .unwrap()
}

async fn worker_pid(pool: &Pool) -> u64 {
    pool.execute("pid", json!({}))
        .await
        .unwrap()
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn a_worker_on_pipes_reads_one_and_writes_the_other_and_takes_large_frames() {
    let pipes = on_pipes(support::fault_adapter()).await;
    let pid = worker_pid(&pipes).await;
    for fd in [3, 5] {
        let kind = descriptor(pid, fd).unwrap_or_default();
        assert!(kind.starts_with("pipe:"), "fd {fd} of the worker is {kind}");
    }
    // Four times a pipe's buffer, both ways.
    let size = 256 * 1024;
    let text = pipes.execute("huge", json!({"size": size})).await.unwrap();
    assert_eq!(text.as_str().map(str::len), Some(size));
    let echoed = pipes
        .execute("tag", json!({"value": "y".repeat(size)}))
        .await
        .unwrap();
    assert_eq!(echoed["value"].as_str().map(str::len), Some(size));
    pipes.shutdown().await;

    // The default is one socket on fd 3, and nothing on fd 5.
    let socket = support::fault_pool(1).await;
    let pid = worker_pid(&socket).await;
    let kind = descriptor(pid, 3).unwrap_or_default();
    assert!(kind.starts_with("socket:"), "fd 3 of the worker is {kind}");
    assert_eq!(descriptor(pid, 5), None);
    socket.shutdown().await;
}

#[tokio::test]
async fn a_killed_worker_on_pipes_fails_its_call_at_once_and_is_replaced() {
    let pool = on_pipes(support::fault_adapter()).await;
    let pid = worker_pid(&pool).await;
    let call = support::occupy(&pool, "sleep", json!({"seconds": 30.0})).await;
    let killed_at = Instant::now();
    kill(Pid::from_raw(i32::try_from(pid).unwrap()), Signal::SIGKILL).unwrap();
    let err = call.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::WorkerExited { .. }), "{err:?}");
    assert!(
        killed_at.elapsed() < Duration::from_secs(5),
        "the end of the answers' pipe was seen late: {:?}",
        killed_at.elapsed()
    );
    let replaced = support::eventually(Duration::from_secs(20), || async {
        pool.execute("pid", json!({}))
            .await
            .ok()
            .and_then(|value| value.as_u64())
            .is_some_and(|new| new != pid)
    })
    .await;
    assert!(replaced, "no new worker answered: {:?}", pool.stats());
    pool.shutdown().await;
}

#[tokio::test]
async fn large_buffers_go_in_shared_memory_beside_a_link_of_pipes() {
    let pool = on_pipes(shm_adapter()).await;
    let described = describe(&pool, &floats(100_000)).await;
    assert_eq!(described, json!({"shared": true, "writeable": false}));
    pool.shutdown().await;
}

#[tokio::test]
async fn a_worker_forked_by_the_zygote_gets_pipes_too() {
    let pool = on_pipes(support::fault_adapter().preload(["json"])).await;
    let pid = worker_pid(&pool).await;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let parent: u32 = after_name.split(' ').nth(1).unwrap().parse().unwrap();
    assert_ne!(
        parent,
        std::process::id(),
        "the worker was spawned, not forked"
    );
    for fd in [3, 5] {
        let kind = descriptor(pid, fd).unwrap_or_default();
        assert!(kind.starts_with("pipe:"), "fd {fd} of the worker is {kind}");
    }
    assert_eq!(
        pool.execute("tag", json!({"value": 7})).await.unwrap()["value"],
        json!(7)
    );
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_worker_on_pipes_answers_every_call_to_its_caller() {
    let pool = support::builder(support::fault_adapter().transport(LinkTransport::Pipes), 1)
        .profile(snakepit::Profile::concurrent(4))
        .max_queue(500)
        .start()
        .await
        .unwrap();
    let calls: Vec<_> = (0..300)
        .map(|n| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let tool = if n % 2 == 0 { "tag" } else { "tag_inline" };
                let reply = pool.execute(tool, json!({"value": n})).await.unwrap();
                (n, reply)
            })
        })
        .collect();
    for call in calls {
        let (n, reply) = call.await.unwrap();
        assert_eq!(reply["value"], json!(n));
    }
    assert_eq!(pool.stats().errors, 0);
    assert_eq!(pool.stats().restarts, 0);
    pool.shutdown().await;
}
