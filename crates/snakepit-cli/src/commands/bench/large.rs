//! Large data: float64 arrays host → worker → host through shared memory, beside two
//! `memcpy`s of the same size measured in the same run; a size sweep across the threshold;
//! the JSON-list path for reference; and the small-call p50 of the same pool before and
//! after, so lingering cost shows (`docs/design/shared-memory.md`).
//!
//! The worker's tool (`double_shared` of the bench adapter) writes `arr * 2` into an array
//! it allocated with `ctx.alloc_array`, so the result goes back without a copy; the 80 MB
//! and 16 MiB inputs are filled in place in `Pool::alloc_shared` buffers, so neither side
//! copies. The sweep sends plain buffers (one copy into a memfd above the threshold).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::{Value, json};
use snakepit::Pool;
use snakepit::value::{Buffer, Dtype, NdArray};

use super::setup::{bench_pool, ping_samples};
use super::stats::{Latency, median};

/// The round trip of 80 MB may take at most this many times two `memcpy`s of 80 MB.
pub(crate) const TARGET_ROUNDTRIP_RATIO: f64 = 2.0;
/// The small-call p50 after the large runs may exceed the one before by at most this.
pub(crate) const TARGET_PING_DRIFT: f64 = 0.03;

/// How many times each large round trip runs; the figure is the median.
const RUNS: usize = 5;
/// 80 MB of float64.
const BIG: usize = 80_000_000;
/// 16 MiB.
const MEDIUM: usize = 16 * 1024 * 1024;
/// The JSON-list reference size.
const JSON_BYTES: usize = 8_000_000;

/// The large-data figures.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LargeFigures {
    /// Median round trip of 80 MB of float64, host → worker → host, in ms.
    pub(crate) roundtrip_80mb_ms: f64,
    /// Median time of two `memcpy`s of 80 MB in this process, in ms.
    pub(crate) memcpy2_80mb_ms: f64,
    /// `roundtrip_80mb_ms / memcpy2_80mb_ms`.
    pub(crate) roundtrip_ratio: f64,
    /// The same round trip with the host reading every element of the result (its pages
    /// are mapped as they are read), in ms.
    pub(crate) roundtrip_read_80mb_ms: f64,
    /// Median round trip of 16 MiB, in ms.
    pub(crate) roundtrip_16mib_ms: f64,
    /// Median time to make a fresh 80 MB shared buffer and fill it (a memfd per buffer),
    /// in ms.
    pub(crate) fresh_fill_80mb_ms: f64,
    /// Median time to fill an 80 MB shared buffer already mapped and touched (what a
    /// reused arena would cost), in ms.
    pub(crate) reused_fill_80mb_ms: f64,
    /// Round trips from 1 KiB to 64 MiB: bytes, median ms, whether the result came back in
    /// shared memory.
    pub(crate) sweep: Vec<SweepPoint>,
    /// The shared-memory threshold the pool used, in bytes.
    pub(crate) threshold_bytes: usize,
    /// One round trip of 8 MB as a JSON list of numbers, in ms.
    pub(crate) json_list_8mb_ms: f64,
    /// Small-call (`ping`) p50 of the same pool before the large runs, in µs: the best of
    /// ten blocks of `--iterations / 2` pings, 50 ms apart.
    pub(crate) ping_p50_us_before: f64,
    /// The same after them, in µs.
    pub(crate) ping_p50_us_after: f64,
}

/// One size of the sweep.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct SweepPoint {
    /// Bytes each way.
    pub(crate) bytes: usize,
    /// Median round trip, in ms.
    pub(crate) ms: f64,
    /// Whether the result came back as shared memory.
    pub(crate) shared: bool,
}

#[derive(Serialize)]
struct Args<'a> {
    array: &'a NdArray,
}

/// Runs the large-data measurements on a one-worker pool.
///
/// # Errors
///
/// When the pool does not start or a call fails or returns a wrong result.
pub(super) async fn measure(python: &Path, iterations: usize) -> anyhow::Result<LargeFigures> {
    let pool = bench_pool(python).await?;
    let outcome = run(&pool, iterations).await;
    pool.shutdown().await;
    outcome
}

async fn run(pool: &Pool, iterations: usize) -> anyhow::Result<LargeFigures> {
    ping_p50(pool, iterations).await?;
    let ping_p50_us_before = ping_p50(pool, iterations).await?;
    let memcpy2_80mb_ms = memcpy2(BIG);
    let (fresh_fill_80mb_ms, reused_fill_80mb_ms) = fills(pool, BIG)?;
    let big = filled(pool, BIG)?;
    let roundtrip_80mb_ms = roundtrips(pool, &big, false).await?;
    let roundtrip_read_80mb_ms = roundtrips(pool, &big, true).await?;
    drop(big);
    let medium = filled(pool, MEDIUM)?;
    let roundtrip_16mib_ms = roundtrips(pool, &medium, false).await?;
    drop(medium);
    let mut sweep = Vec::new();
    let mut bytes = 1024;
    while bytes <= 64 * 1024 * 1024 {
        let array = NdArray::new(Dtype::Float64, vec![bytes / 8], vec![0_u8; bytes])?;
        let mut times = Vec::with_capacity(RUNS);
        let mut shared = false;
        for _ in 0..RUNS {
            let (ms, result) = roundtrip(pool, &array).await?;
            shared = result.data().is_shared();
            times.push(ms);
        }
        sweep.push(SweepPoint {
            bytes,
            ms: median(&mut times),
            shared,
        });
        bytes *= 4;
    }
    let json_list_8mb_ms = json_list(pool, JSON_BYTES / 8).await?;
    let ping_p50_us_after = ping_p50(pool, iterations).await?;
    Ok(LargeFigures {
        roundtrip_80mb_ms,
        memcpy2_80mb_ms,
        roundtrip_ratio: roundtrip_80mb_ms / memcpy2_80mb_ms,
        roundtrip_read_80mb_ms,
        roundtrip_16mib_ms,
        fresh_fill_80mb_ms,
        reused_fill_80mb_ms,
        sweep,
        threshold_bytes: snakepit::DEFAULT_SHM_THRESHOLD,
        json_list_8mb_ms,
        ping_p50_us_before,
        ping_p50_us_after,
    })
}

/// How many blocks of pings the before and after figures each take the best p50 of.
const PING_BLOCKS: usize = 10;
/// The pause between two blocks, so the blocks sample several placements of the host's
/// threads and the worker on the CPUs.
const PING_PAUSE: Duration = Duration::from_millis(50);

/// The best p50 of [`PING_BLOCKS`] blocks of `iterations / 2` sequential pings (at least
/// 500), in µs.
///
/// Unpinned latency on a shared VM is bimodal: it depends on which CPUs the host's threads
/// and the worker land on, for a second or more at a time (measured here: 26 µs in one
/// placement, 38–52 µs in another, before and after alike). The best block of several,
/// spread over about a second, is the figure a lingering cost would raise and a placement
/// leaves alone.
async fn ping_p50(pool: &Pool, iterations: usize) -> anyhow::Result<f64> {
    let mut best = f64::INFINITY;
    for block in 0..PING_BLOCKS {
        if block > 0 {
            tokio::time::sleep(PING_PAUSE).await;
        }
        let samples = ping_samples(pool, "ping", (iterations / 2).max(500)).await?;
        best = best.min(Latency::of_durations(&samples).p50_us);
    }
    Ok(best)
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1e3
}

/// The median time of two `memcpy`s of `bytes` between buffers already touched.
fn memcpy2(bytes: usize) -> f64 {
    let source = vec![1_u8; bytes];
    let mut middle = vec![2_u8; bytes];
    let mut target = vec![3_u8; bytes];
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        middle.copy_from_slice(std::hint::black_box(&source));
        target.copy_from_slice(std::hint::black_box(&middle));
        times.push(millis(started.elapsed()));
        std::hint::black_box(&target);
    }
    median(&mut times)
}

/// A float64 array of `bytes` filled in place in shared memory.
fn filled(pool: &Pool, bytes: usize) -> anyhow::Result<NdArray> {
    let mut shared = pool.alloc_shared(bytes)?;
    for (index, chunk) in shared.chunks_exact_mut(8).enumerate() {
        #[expect(clippy::cast_precision_loss, reason = "indices stay far below 2^52")]
        chunk.copy_from_slice(&(index as f64).to_le_bytes());
    }
    let buffer = Buffer::from(shared.freeze()?);
    Ok(NdArray::new(Dtype::Float64, vec![bytes / 8], buffer)?)
}

/// The median time to make and fill a fresh shared buffer, and to refill a reused one.
fn fills(pool: &Pool, bytes: usize) -> anyhow::Result<(f64, f64)> {
    let (mut fresh, mut reused) = (Vec::new(), Vec::new());
    let mut kept = pool.alloc_shared(bytes)?;
    kept.fill(1);
    for run in 0..RUNS {
        let started = Instant::now();
        let mut buffer = pool.alloc_shared(bytes)?;
        buffer.fill(u8::try_from(run % 200).unwrap_or(0) + 1);
        fresh.push(millis(started.elapsed()));
        drop(buffer);
        let started = Instant::now();
        kept.fill(u8::try_from(run % 200).unwrap_or(0) + 2);
        reused.push(millis(started.elapsed()));
    }
    std::hint::black_box(&kept);
    Ok((median(&mut fresh), median(&mut reused)))
}

/// One round trip through `double_shared`, checked, in ms; with `read`, the time includes
/// the host reading every element of the result.
async fn roundtrip_reading(
    pool: &Pool,
    array: &NdArray,
    read: bool,
) -> anyhow::Result<(f64, NdArray)> {
    let started = Instant::now();
    let doubled: NdArray = pool
        .call("double_shared")
        .args(&Args { array })?
        .send_as()
        .await
        .context("double_shared failed")?;
    if read {
        let sum: f64 = doubled.as_slice::<f64>()?.iter().sum();
        std::hint::black_box(sum);
    }
    let elapsed = millis(started.elapsed());
    let (input, output) = (array.as_slice::<f64>()?, doubled.as_slice::<f64>()?);
    if output.len() != input.len() || output.last().copied() != input.last().map(|x| x * 2.0) {
        bail!("double_shared returned a wrong array");
    }
    Ok((elapsed, doubled))
}

/// One round trip through `double_shared`, checked, in ms.
async fn roundtrip(pool: &Pool, array: &NdArray) -> anyhow::Result<(f64, NdArray)> {
    roundtrip_reading(pool, array, false).await
}

/// The median of [`RUNS`] round trips of `array`, in ms (one warm-up first); with `read`,
/// each includes the host reading the whole result.
async fn roundtrips(pool: &Pool, array: &NdArray, read: bool) -> anyhow::Result<f64> {
    roundtrip_reading(pool, array, read).await?;
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        times.push(roundtrip_reading(pool, array, read).await?.0);
    }
    Ok(median(&mut times))
}

/// One round trip of `count` numbers as a JSON list through `double_list`, in ms.
async fn json_list(pool: &Pool, count: usize) -> anyhow::Result<f64> {
    #[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
    let values: Vec<Value> = (0..count).map(|i| json!(i as f64 * 0.5)).collect();
    let started = Instant::now();
    let reply = pool
        .execute("double_list", json!({ "values": values }))
        .await
        .context("double_list failed")?;
    let elapsed = millis(started.elapsed());
    if reply.as_array().map(Vec::len) != Some(count) {
        bail!("double_list returned a wrong list");
    }
    Ok(elapsed)
}
