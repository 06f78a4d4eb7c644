//! `Pools`: named pools started concurrently, found by name, their stats, one shutdown for
//! all, and a start failure that names its pool.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use snakepit::{Error, Pool, PoolBuilder, Pools, PythonAdapter};

use crate::support;

/// An adapter whose workers, while starting, announce themselves and then wait until a
/// worker of the peer pool has announced itself too. Two pools of it start only when their
/// starts overlap: one after the other, the first would wait in vain.
const RENDEZVOUS_ADAPTER: &str = r#"
import os
import pathlib
import time

from snakepit_bridge import BaseAdapter, tool


class RendezvousAdapter(BaseAdapter):
    def initialize(self) -> None:
        meeting = pathlib.Path(os.environ["RENDEZVOUS_DIR"])
        (meeting / f"{os.environ['POOL']}-{os.getpid()}").touch()
        deadline = time.monotonic() + 20
        while not any(meeting.glob(os.environ["PEER"] + "-*")):
            if time.monotonic() > deadline:
                raise RuntimeError("the peer pool never started: the pools started one by one")
            time.sleep(0.01)

    @tool
    def name(self) -> str:
        return os.environ["POOL"]
"#;

fn rendezvous_pool(dir: &Path, pool: &str, peer: &str, size: usize) -> PoolBuilder {
    let adapter = PythonAdapter::new("rendezvous_adapter:RendezvousAdapter")
        .python(support::python())
        .python_path(dir)
        .env("RENDEZVOUS_DIR", dir.join("meeting"))
        .env("POOL", pool)
        .env("PEER", peer);
    support::builder(adapter, size).instance_name(pool)
}

fn rendezvous_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rendezvous_adapter.py"), RENDEZVOUS_ADAPTER).unwrap();
    std::fs::create_dir(dir.path().join("meeting")).unwrap();
    dir
}

#[tokio::test]
async fn two_named_pools_start_together_answer_by_name_and_shut_down_together() {
    let dir = rendezvous_dir();
    let pools = Pools::builder()
        .pool("alpha", rendezvous_pool(dir.path(), "alpha", "beta", 2))
        .pool("beta", rendezvous_pool(dir.path(), "beta", "alpha", 1))
        .start()
        .await
        .unwrap();
    assert_eq!(pools.names(), ["alpha", "beta"]);
    assert_eq!(pools.len(), 2);
    assert!(pools.get("gamma").is_none());

    for name in ["alpha", "beta"] {
        let pool = pools.get(name).unwrap();
        assert_eq!(pool.execute("name", json!({})).await.unwrap(), json!(name));
    }
    let stats = pools.stats();
    let summary: Vec<(&str, usize, u64)> = stats
        .iter()
        .map(|(name, stats)| (name.as_str(), stats.workers, stats.requests))
        .collect();
    assert_eq!(summary, [("alpha", 2, 1), ("beta", 1, 1)]);

    let mut pids = pools.get("alpha").unwrap().worker_pids();
    pids.extend(pools.get("beta").unwrap().worker_pids());
    assert_eq!(pids.len(), 3);

    // A clone sees the same pools; one shutdown stops them all and empties the registry.
    let clone = pools.clone();
    let kept = pools.get("beta").unwrap();
    clone.shutdown().await;
    for pid in &pids {
        assert!(!support::is_alive(*pid), "worker {pid} outlived shutdown");
    }
    assert!(pools.is_empty());
    let err = kept.execute("name", json!({})).await.unwrap_err();
    assert!(matches!(err, Error::Shutdown), "{err:?}");
}

#[tokio::test]
async fn a_pool_that_does_not_start_is_named_and_the_others_are_stopped() {
    // Its own peer: it starts alone, and its markers name its workers' pids.
    let dir = rendezvous_dir();
    let good = rendezvous_pool(dir.path(), "good", "good", 2);
    let bad = support::builder(
        PythonAdapter::new("no_such_module_anywhere:Adapter").python(support::python()),
        1,
    )
    .startup_timeout(Duration::from_secs(20));
    let err = Pools::builder()
        .pool("good", good)
        .pool("bad", bad)
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.pool(), "bad");
    assert!(
        matches!(err.error(), Error::StartFailed { .. }),
        "{:?}",
        err.error()
    );
    assert!(err.to_string().contains("`bad`"), "{err}");
    let good_pids: Vec<u32> = std::fs::read_dir(dir.path().join("meeting"))
        .unwrap()
        .map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_prefix("good-").unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(good_pids.len(), 2);
    support::assert_all_gone(&good_pids, Duration::from_secs(5)).await;

    let twice = Pools::builder()
        .pool("same", support::builder(support::showcase_adapter(), 1))
        .pool("same", support::builder(support::showcase_adapter(), 1))
        .start()
        .await
        .unwrap_err();
    assert_eq!(twice.pool(), "same");
    assert!(matches!(twice.error(), Error::Config(_)), "{twice:?}");
}

#[tokio::test]
async fn insert_replaces_a_pool_in_place_and_hands_back_the_old_one() {
    let pools = Pools::new();
    let first = support::builder(support::showcase_adapter(), 1)
        .start()
        .await
        .unwrap();
    let old_pids = first.worker_pids();
    assert!(pools.insert("default", first).is_none());
    let extra = support::builder(support::showcase_adapter(), 1)
        .start()
        .await
        .unwrap();
    assert!(pools.insert("extra", extra).is_none());

    let second: Pool = support::builder(support::showcase_adapter(), 1)
        .start()
        .await
        .unwrap();
    let new_pids = second.worker_pids();
    let old = pools.insert("default", second).unwrap();
    assert_eq!(pools.names(), ["default", "extra"]);
    assert_eq!(pools.get("default").unwrap().worker_pids(), new_pids);
    old.shutdown().await;
    support::assert_all_gone(&old_pids, Duration::from_secs(5)).await;

    let extra = pools.remove("extra").unwrap();
    assert_eq!(pools.names(), ["default"]);
    extra.shutdown().await;
    pools.shutdown().await;
    support::assert_all_gone(&new_pids, Duration::from_secs(5)).await;
}
