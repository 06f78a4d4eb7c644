//! Workers forked from a preloading zygote (`PythonAdapter::preload`): separate processes in
//! groups of their own, the preloaded module imported once, and no orphans whoever is
//! killed: the host (with busy workers and their grandchildren), the zygote, a worker; and
//! forked workers have the fd channel, so large buffers go in shared memory both ways.
//!
//! The host-kill test runs this binary again as a second host, as `lifecycle.rs` does.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

use crate::support;

/// The variable that makes a re-run of this binary play the second host.
const HOST_VAR: &str = "SNAKEPIT_TEST_ZYGOTE_HOST";

/// The fault adapter with workers forked from a zygote that preloads `preload_marker`, which
/// appends its importer's pid to `log`.
fn zygote_adapter(log: &Path) -> snakepit::PythonAdapter {
    support::fault_adapter()
        .env("SNAKEPIT_PRELOAD_LOG", log)
        .preload(["preload_marker"])
}

/// `(parent pid, process group)` of a live process, from `/proc`.
/// A started pool of `size` zygote workers whose imports are logged under `scratch`.
async fn zygote_pool(scratch: &Path, size: usize) -> snakepit::Pool {
    support::builder(zygote_adapter(&scratch.join("imports")), size)
        .start()
        .await
        .unwrap()
}

fn parent_and_group(pid: u32) -> (u32, u32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    (fields[1].parse().unwrap(), fields[2].parse().unwrap())
}

/// The pids the preload log holds, one per import.
fn imports(log: &Path) -> Vec<u32> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|line| line.parse().unwrap())
        .collect()
}

fn sigkill(pid: u32) {
    kill(Pid::from_raw(i32::try_from(pid).unwrap()), Signal::SIGKILL).unwrap();
}

/// The one zygote all of `pool`'s workers were forked from.
fn zygote_of(pool: &snakepit::Pool) -> u32 {
    let parents: std::collections::BTreeSet<u32> = pool
        .worker_pids()
        .into_iter()
        .map(|pid| parent_and_group(pid).0)
        .collect();
    assert_eq!(
        parents.len(),
        1,
        "the workers have several parents: {parents:?}"
    );
    parents.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zygote_workers_are_separate_processes_in_own_groups_and_import_once() {
    let scratch = tempfile::tempdir().unwrap();
    let log = scratch.path().join("imports");
    let pool = support::builder(zygote_adapter(&log), 3)
        .start()
        .await
        .unwrap();
    let workers = pool.worker_pids();
    assert_eq!(workers.len(), 3);
    let zygote = zygote_of(&pool);
    assert_ne!(
        zygote,
        std::process::id(),
        "workers were spawned, not forked"
    );
    for pid in &workers {
        let (parent, group) = parent_and_group(*pid);
        assert_eq!(parent, zygote);
        assert_eq!(
            group, *pid,
            "worker {pid} is not the leader of its own group"
        );
    }
    // Each worker serves calls as itself.
    let mut served = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let pid = pool.execute("pid", json!({})).await.unwrap();
        served.insert(u32::try_from(pid.as_u64().unwrap()).unwrap());
    }
    assert!(served.iter().all(|pid| workers.contains(pid)), "{served:?}");
    // Imported once, by the zygote; no worker imported it again.
    assert_eq!(imports(&log), vec![zygote]);
    pool.shutdown().await;
    support::assert_all_gone(&[&workers[..], &[zygote]].concat(), Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_zygote_worker_is_replaced_by_a_forked_one() {
    let scratch = tempfile::tempdir().unwrap();
    let pool = zygote_pool(scratch.path(), 2).await;
    let zygote = zygote_of(&pool);
    let victim = pool.worker_pids()[0];
    sigkill(victim);
    let replaced = support::eventually(Duration::from_secs(30), || async {
        let pids = pool.worker_pids();
        pids.len() == 2 && !pids.contains(&victim)
    })
    .await;
    assert!(
        replaced,
        "the killed worker was not replaced: {:?}",
        pool.stats()
    );
    assert_eq!(zygote_of(&pool), zygote, "the replacement was not forked");
    assert!(pool.execute("pid", json!({})).await.is_ok());
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_zygote_dies_workers_keep_serving_and_new_ones_are_spawned() {
    let scratch = tempfile::tempdir().unwrap();
    let pool = zygote_pool(scratch.path(), 2).await;
    let zygote = zygote_of(&pool);
    let forked = pool.worker_pids();
    sigkill(zygote);
    support::assert_all_gone(&[zygote], Duration::from_secs(5)).await;
    // The forked workers outlive their zygote and keep serving.
    for _ in 0..4 {
        let pid = pool.execute("pid", json!({})).await.unwrap();
        assert!(forked.contains(&u32::try_from(pid.as_u64().unwrap()).unwrap()));
    }
    // A worker that crashes now is replaced by a spawned one: the host is its parent.
    let crashed = pool.execute("crash_exit", json!({"code": 3})).await;
    assert!(crashed.is_err());
    let respawned = support::eventually(Duration::from_secs(30), || async {
        let pids = pool.worker_pids();
        pids.len() == 2 && pids.iter().any(|pid| !forked.contains(pid))
    })
    .await;
    assert!(
        respawned,
        "the crashed worker was not replaced: {:?}",
        pool.stats()
    );
    let new: Vec<u32> = pool
        .worker_pids()
        .into_iter()
        .filter(|pid| !forked.contains(pid))
        .collect();
    assert_eq!(new.len(), 1);
    let (parent, group) = parent_and_group(new[0]);
    assert_eq!(parent, std::process::id());
    assert_eq!(group, new[0]);
    // A worker orphaned by the zygote still goes at shutdown.
    let all = pool.worker_pids();
    pool.shutdown().await;
    support::assert_all_gone(&all, Duration::from_secs(5)).await;
}

/// Runs `test` of this binary again as the second host and returns it with the pids it
/// prints: `ZYGOTE <pid> WORKERS <pid>...`.
fn spawn_host(test: &str, state_dir: &Path, scratch: &Path) -> (Child, u32, Vec<u32>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(HOST_VAR, "busy")
        .env("SNAKEPIT_TEST_STATE", state_dir)
        .env("SNAKEPIT_TEST_SCRATCH", scratch)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some((_, rest)) = line.split_once("ZYGOTE ") {
            let mut pids = rest
                .split_whitespace()
                .filter(|word| *word != "WORKERS")
                .map(|pid| pid.parse().unwrap());
            let zygote = pids.next().unwrap();
            return (child, zygote, pids.collect());
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    panic!("the second host ended without printing its workers");
}

fn host_env(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(name).unwrap())
}

/// The second host: 3 zygote workers, each busy in a call that started a grandchild.
async fn busy_zygote_host() -> ! {
    let scratch = host_env("SNAKEPIT_TEST_SCRATCH");
    let pool = support::builder(zygote_adapter(&scratch.join("imports")), 3)
        .state_dir(host_env("SNAKEPIT_TEST_STATE"))
        .start()
        .await
        .unwrap();
    for n in 0..3 {
        let pool = pool.clone();
        let pid_file = scratch.join(format!("grandchild-{n}"));
        tokio::spawn(async move {
            let args = json!({"pid_file": pid_file, "block_seconds": 120});
            pool.execute("spawn_child", args).await
        });
    }
    let busy =
        support::eventually(Duration::from_secs(30), || async { pool.stats().busy == 3 }).await;
    assert!(busy, "the second host's workers did not all get busy");
    let pids: Vec<String> = pool.worker_pids().iter().map(u32::to_string).collect();
    println!("ZYGOTE {} WORKERS {}", zygote_of(&pool), pids.join(" "));
    tokio::time::sleep(Duration::from_secs(120)).await;
    panic!("the second host was never killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_host_takes_its_zygote_workers_and_their_children_along() {
    if std::env::var(HOST_VAR).is_ok_and(|host| host == "busy") {
        busy_zygote_host().await;
    }
    let state = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (mut host, zygote, workers) = spawn_host(
        "zygote::a_sigkilled_host_takes_its_zygote_workers_and_their_children_along",
        state.path(),
        scratch.path(),
    );
    assert_eq!(workers.len(), 3);
    let files: Vec<PathBuf> = (0..3)
        .map(|n| scratch.path().join(format!("grandchild-{n}")))
        .collect();
    let written = support::eventually(Duration::from_secs(30), || async {
        files.iter().all(|file| file.exists())
    })
    .await;
    assert!(written, "the workers did not all start their grandchildren");
    let grandchildren: Vec<u32> = files
        .iter()
        .map(|file| {
            std::fs::read_to_string(file)
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    let everyone: Vec<u32> = workers
        .iter()
        .chain(&grandchildren)
        .chain([&zygote])
        .copied()
        .collect();
    assert!(everyone.iter().all(|pid| support::is_alive(*pid)));
    host.kill().unwrap();
    host.wait().unwrap();
    support::assert_all_gone(&everyone, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_workers_output_is_captured_and_its_crash_classified() {
    let scratch = tempfile::tempdir().unwrap();
    let pool = zygote_pool(scratch.path(), 1).await;
    pool.execute("noisy", json!({"message": "forked-noise", "times": 2}))
        .await
        .unwrap();
    let crashed = pool
        .execute("crash_exit", json!({"code": 7}))
        .await
        .unwrap_err();
    let text = format!("{crashed:?}");
    assert!(text.contains("forked-noise stderr 1"), "{text}");
    match crashed {
        snakepit::Error::WorkerExited { exit, .. } => assert_eq!(exit.code, Some(7), "{exit:?}"),
        other => panic!("not a worker exit: {other:?}"),
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn a_preload_that_fails_fails_the_pool_start_naming_the_module() {
    let adapter = support::fault_adapter().preload(["no_such_module_for_the_zygote"]);
    let err = support::builder(adapter, 2).start().await.unwrap_err();
    let text = err.to_string() + &format!("{err:?}");
    assert!(text.contains("zygote"), "{text}");
    assert!(text.contains("no_such_module_for_the_zygote"), "{text}");
}

#[tokio::test]
async fn zygote_forked_workers_get_the_fd_channel_both_ways() {
    let adapter = crate::shm::shm_adapter().preload(["numpy"]);
    let pool = support::builder(adapter, 1).start().await.unwrap();
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 1);
    assert_ne!(
        parent_and_group(pids[0]).0,
        std::process::id(),
        "the worker was spawned, not forked from the zygote"
    );
    let over = crate::shm::describe(&pool, &crate::shm::floats(100_000)).await;
    assert_eq!(over, json!({"shared": true, "writeable": false}));
    let under = crate::shm::describe(&pool, &crate::shm::floats(8191)).await;
    assert_eq!(under["shared"], json!(false));
    let input = crate::shm::floats(1_000_000);
    let doubled: snakepit::value::NdArray = pool
        .call("double")
        .args(&crate::shm::Array1 { array: &input })
        .unwrap()
        .send_as()
        .await
        .unwrap();
    assert!(doubled.data().is_shared(), "the result came inline");
    let expected: Vec<f64> = input
        .as_slice::<f64>()
        .unwrap()
        .iter()
        .map(|x| x * 2.0)
        .collect();
    assert_eq!(doubled.as_slice::<f64>().unwrap(), &expected[..]);
    pool.shutdown().await;
}
