//! Shared memory through a real Python worker: buffers over the threshold travel as sealed
//! memfds both ways, Python gets read-only views, a tool's `ctx.alloc_array` result and a
//! host `alloc_shared` buffer go without a copy, hostile memfds fail only their call, the
//! cap holds, 200 workers killed mid-transfer leak no descriptor and no mapping, and a host
//! tool's large result reaches the worker in shared memory.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use snakepit::value::{Buffer, Dtype, NdArray};
use snakepit::{Error, Pool, PythonAdapter};

use crate::support;

pub(crate) fn shm_adapter() -> PythonAdapter {
    PythonAdapter::new("shm_adapter:ShmAdapter")
        .python(support::python())
        .python_path(support::python_support_dir())
}

async fn shm_pool() -> Pool {
    support::builder(shm_adapter(), 1).start().await.unwrap()
}

#[derive(serde::Serialize)]
struct Value1<'a> {
    value: &'a NdArray,
}

#[derive(serde::Serialize)]
pub(crate) struct Array1<'a> {
    pub(crate) array: &'a NdArray,
}

pub(crate) fn floats(count: usize) -> NdArray {
    NdArray::from_vec(
        (0..count).map(|i| i as f64 * 0.5).collect::<Vec<_>>(),
        &[count],
    )
    .unwrap()
}

/// Calls `command` with `{"array": array}` and reads the answer as `R`.
async fn send_array<R: serde::de::DeserializeOwned>(
    pool: &Pool,
    command: &str,
    array: &NdArray,
) -> snakepit::Result<R> {
    pool.call(command)
        .args(&Array1 { array })
        .unwrap()
        .send_as()
        .await
}

pub(crate) async fn describe(pool: &Pool, array: &NdArray) -> Value {
    pool.call("describe")
        .args(&Value1 { value: array })
        .unwrap()
        .send_as()
        .await
        .unwrap()
}

#[tokio::test]
async fn buffers_over_the_threshold_arrive_as_read_only_views_of_shared_memory() {
    let pool = shm_pool().await;
    // 64 KiB is the default threshold: 8192 float64 are exactly on it.
    let over = describe(&pool, &floats(8192)).await;
    assert_eq!(over, json!({"shared": true, "writeable": false}));
    let under = describe(&pool, &floats(8191)).await;
    assert_eq!(under["shared"], json!(false));
    let wrote: String = send_array(&pool, "write", &floats(100_000)).await.unwrap();
    assert_eq!(wrote, "ValueError", "a tool wrote into a shared input");
    pool.shutdown().await;
}

#[tokio::test]
async fn results_round_trip_above_and_below_the_threshold() {
    let pool = shm_pool().await;
    for count in [10, 8191, 8192, 1_000_000] {
        let input = floats(count);
        let doubled: NdArray = send_array(&pool, "double", &input).await.unwrap();
        let expected: Vec<f64> = input
            .as_slice::<f64>()
            .unwrap()
            .iter()
            .map(|x| x * 2.0)
            .collect();
        assert_eq!(
            doubled.as_slice::<f64>().unwrap(),
            &expected[..],
            "{count} elements"
        );
        assert_eq!(
            doubled.data().is_shared(),
            count >= 8192,
            "{count} elements"
        );
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn a_buffer_the_host_fills_in_place_goes_without_a_copy() {
    let pool = shm_pool().await;
    let count = 200_000;
    let mut shared = pool.alloc_shared(count * 8).unwrap();
    for (i, chunk) in shared.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&(i as f64).to_le_bytes());
    }
    let buffer = Buffer::from(shared.freeze().unwrap());
    assert!(buffer.is_shared());
    let array = NdArray::new(Dtype::Float64, vec![count], buffer).unwrap();
    let doubled: NdArray = send_array(&pool, "double", &array).await.unwrap();
    assert_eq!(
        doubled.as_slice::<f64>().unwrap()[count - 1],
        (count - 1) as f64 * 2.0
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn hostile_memfds_fail_their_call_and_the_worker_serves_on() {
    let pool = shm_pool().await;
    let cases = [
        ("unsealed", "not sealed against shrinking"),
        ("shrunk_later", "not sealed against shrinking"),
        ("wrong_size", "but its memfd holds"),
        ("not_memfd", "not a memfd"),
        ("too_many", "more than the 64 one frame may"),
        ("missing", "no descriptors came"),
    ];
    for (mode, expected) in cases {
        let outcome = pool
            .call("hostile")
            .args(&json!({"mode": mode, "size": 200_000}))
            .unwrap()
            .send_as::<NdArray>()
            .await;
        let err = outcome.expect_err(mode);
        assert!(matches!(err, Error::Protocol(_)), "{mode}: {err}");
        assert!(err.to_string().contains(expected), "{mode}: {err}");
        // The worker is the same and the channel is still in step.
        let doubled: NdArray = send_array(&pool, "double", &floats(10_000)).await.unwrap();
        assert!(doubled.data().is_shared(), "after {mode}");
        assert_eq!(pool.stats().restarts, 0, "after {mode}");
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn shared_memory_over_the_pool_cap_is_a_clear_error() {
    let pool = support::builder(shm_adapter(), 1)
        .shm_cap(1_000_000)
        .start()
        .await
        .unwrap();
    let err = send_array::<NdArray>(&pool, "double", &floats(200_000))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::SharedMemoryCap { cap: 1_000_000, .. }),
        "{err}"
    );
    let held = pool.alloc_shared(600_000).unwrap();
    assert!(matches!(
        pool.alloc_shared(600_000),
        Err(Error::SharedMemoryCap { .. })
    ));
    drop(held);
    assert_eq!(pool.shared_memory_in_use(), 0);
    // Under the cap it works.
    let doubled: NdArray = send_array(&pool, "double", &floats(50_000)).await.unwrap();
    assert_eq!(doubled.shape(), &[50_000]);
    pool.shutdown().await;
}

/// Descriptors of this process that are memfds, all descriptors, and mappings of memfds.
fn counts() -> (usize, usize, usize) {
    let mut memfds = 0;
    let mut fds = 0;
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        fds += 1;
        if std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("/memfd:"))
        {
            memfds += 1;
        }
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mapped = maps.lines().filter(|line| line.contains("/memfd:")).count();
    (memfds, fds, mapped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_mid_transfer_leak_no_descriptor_and_no_mapping() {
    let mut health = snakepit::HealthConfig::default();
    health.restart_backoff = Duration::from_millis(1);
    health.restart_backoff_max = Duration::from_millis(5);
    health.taint_after = u32::MAX;
    let mut circuit = snakepit::CircuitConfig::default();
    circuit.enabled = false;
    let pool = support::builder(shm_adapter(), 1)
        .health(health)
        .circuit(circuit)
        .start()
        .await
        .unwrap();
    let warm: NdArray = send_array(&pool, "double", &floats(10_000)).await.unwrap();
    drop(warm);
    let before = counts();
    assert_eq!((before.0, before.2), (0, 0), "memfds before the test");
    let input = floats(20_000);
    for round in 0..200 {
        let outcome = if round % 2 == 0 {
            // Dies after its memfds are on the channel, before the frame that names them.
            pool.call("hostile")
                .args(&json!({"mode": "die_mid_transfer", "size": 200_000}))
                .unwrap()
                .send_as::<NdArray>()
                .await
        } else {
            // Dies holding the host's memfd, before it answers.
            send_array::<NdArray>(&pool, "die_on_receive", &input).await
        };
        assert!(
            matches!(outcome, Err(Error::WorkerExited { .. })),
            "round {round}: {outcome:?}"
        );
    }
    // The last replacement must be up (it holds a link and a channel, as at the start).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = send_array::<NdArray>(&pool, "double", &floats(10))
            .await
            .is_ok();
        let now = counts();
        // No memfd left open or mapped, and no more descriptors than before (a leak of one
        // per kill would be 200 more; a transient descriptor of the start may be gone).
        if ready && now.0 == 0 && now.2 == 0 && now.1 <= before.1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "leaked: before (memfds, fds, memfd maps) = {before:?}, after = {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn an_arrow_batch_round_trips_through_pyarrow() {
    use std::sync::Arc;

    use arrow_array::{Array, Float64Array, RecordBatch, StringArray};
    use snakepit::value::ArrowBatch;

    #[derive(serde::Serialize)]
    struct Batch<'a> {
        batch: &'a ArrowBatch,
    }
    #[derive(serde::Deserialize)]
    struct Doubled {
        #[serde(rename = "type")]
        arrived_as: String,
        batch: ArrowBatch,
    }
    let pool = shm_pool().await;
    for rows in [3, 100_000] {
        let x: Vec<f64> = (0..rows).map(|i| f64::from(i) * 0.25).collect();
        let names: Vec<String> = (0..rows).map(|i| format!("n{i}")).collect();
        let batch = RecordBatch::try_from_iter([
            ("x", Arc::new(Float64Array::from(x.clone())) as _),
            ("name", Arc::new(StringArray::from(names.clone())) as _),
        ])
        .unwrap();
        let doubled: Doubled = pool
            .call("arrow_double")
            .args(&Batch {
                batch: &ArrowBatch::new(batch),
            })
            .unwrap()
            .send_as()
            .await
            .unwrap();
        assert_eq!(doubled.arrived_as, "RecordBatch");
        let out = doubled.batch.batch();
        let column = out.column_by_name("x").unwrap();
        let column = column.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(column.len(), x.len());
        assert!(
            column
                .values()
                .iter()
                .zip(&x)
                .all(|(out, x)| *out == x * 2.0)
        );
        let names_back = out.column_by_name("name").unwrap();
        let names_back = names_back.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(
            names_back.value(rows as usize - 1),
            names[rows as usize - 1]
        );
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn a_host_tools_result_over_the_threshold_arrives_in_shared_memory() {
    use snakepit::tool::HostTool;
    #[derive(serde::Deserialize)]
    struct Args {
        value: NdArray,
    }
    #[derive(serde::Serialize)]
    struct Ask<'a> {
        name: &'a str,
        array: &'a NdArray,
    }
    let pool = shm_pool().await;
    pool.register_host_tool(HostTool::typed(
        "triple",
        "Triples a float64 array.",
        |_call, args: Args| async move {
            let tripled: Vec<f64> = args
                .value
                .as_slice::<f64>()?
                .iter()
                .map(|x| x * 3.0)
                .collect();
            NdArray::from_vec(tripled, args.value.shape())
        },
    ));
    for (count, shared) in [(8191, false), (8192, true), (500_000, true)] {
        let input = floats(count);
        let answer: Value = pool
            .call("host_describe")
            .args(&Ask {
                name: "triple",
                array: &input,
            })
            .unwrap()
            .send_as()
            .await
            .unwrap();
        let sum: f64 = input
            .as_slice::<f64>()
            .unwrap()
            .iter()
            .map(|x| x * 3.0)
            .sum();
        assert_eq!(answer["shared"], json!(shared), "{count} elements");
        assert_eq!(answer["writeable"], json!(false), "{count} elements");
        assert_eq!(answer["sum"], json!(sum), "{count} elements");
    }
    pool.shutdown().await;
}

#[derive(serde::Deserialize)]
struct Filled {
    array: NdArray,
    ident: u64,
}

async fn filled(pool: &Pool, value: f64) -> Filled {
    pool.call("filled")
        .args(&json!({"count": 100_000, "value": value}))
        .unwrap()
        .send_as()
        .await
        .unwrap()
}

fn all_equal(array: &NdArray, value: f64) -> bool {
    array.as_slice::<f64>().unwrap().iter().all(|x| *x == value)
}

#[tokio::test]
async fn a_released_result_memfd_is_reused_and_a_held_one_is_never_written() {
    let pool = shm_pool().await;
    let first = filled(&pool, 1.0).await;
    assert!(first.array.data().is_shared());
    // The host still holds the first result: the worker must take another memfd.
    let second = filled(&pool, 2.0).await;
    assert_ne!(first.ident, second.ident);
    assert!(all_equal(&first.array, 1.0), "a held result was written");
    assert!(all_equal(&second.array, 2.0));
    let held = second.ident;
    drop(first);
    // The release goes before the next call: that call reuses the first memfd.
    let third = filled(&pool, 3.0).await;
    assert_ne!(third.ident, held);
    assert!(all_equal(&third.array, 3.0));
    assert!(all_equal(&second.array, 2.0), "a held result was written");
    let reused = third.ident;
    drop(third);
    let fourth = filled(&pool, 4.0).await;
    assert_eq!(fourth.ident, reused, "a released memfd was not reused");
    assert!(all_equal(&fourth.array, 4.0));
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_hears_of_a_release_without_another_call() {
    let pool = support::builder(shm_adapter(), 1)
        .profile(snakepit::Profile::concurrent(2))
        .start()
        .await
        .unwrap();
    let held = filled(&pool, 1.0).await;
    let ident = held.ident;
    let waiting = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.execute("await_release", json!({"ident": ident, "timeout": 10.0}))
                .await
                .unwrap()
        })
    };
    // Drop the result only once the waiting call runs: its call frame must not be the one
    // that carries the release.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pool.workers().iter().any(|worker| {
        worker
            .running
            .iter()
            .any(|command| command == "await_release")
    }) {
        assert!(Instant::now() < deadline, "await_release never started");
        tokio::task::yield_now().await;
    }
    drop(held);
    assert_eq!(waiting.await.unwrap(), json!(true));
    pool.shutdown().await;
}
