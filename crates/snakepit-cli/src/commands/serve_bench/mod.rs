//! `snakepit serve-bench`: calls/s and p50/p99 of a trivial call (`ping`) at N concurrent
//! callers, measured in one run these ways:
//!
//! 1. in-process: N tasks calling `pool.execute` on the pool, at the start and again at the
//!    end of the run (the machine's load drifts; the ratios use their mean);
//! 2. through the server under `wrk` (`wrk.rs`), a C load generator in its own process, at
//!    N connections posting to `/v1/pools/default/commands/ping`, served from the same pool;
//! 3. through the server from N keep-alive HTTP/1.1 connections of a hyper client in this
//!    process (client and server then share one runtime);
//! 4. the HTTP floor: the same connections on `/healthz`, which touches no worker;
//! 5. the grpcio baseline (`grpc.rs`): the same function behind a Python grpcio server,
//!    called by a Python grpcio client at N concurrent calls, and by `h2load` (`h2load.rs`)
//!    at N connections when it is installed.
//!
//! The ratio server/in-process is the cost of HTTP; the floor shows how much of it is the
//! HTTP stack. Every load generator shares this machine's CPUs with the server, so each row
//! also says how much CPU each process spent per call (`cpu.rs`): this process, the workers
//! (or the grpcio server), the load generator. The pool served is the very pool measured
//! in-process: the same settings and the same worker processes. The
//! Prometheus recorder is installed before the first measurement, as `snakepit serve` does,
//! so every figure includes recording the call's metrics.

mod grpc;
mod h2load;
mod report;
mod wrk;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use snakepit::Pool;
use snakepit_server::state::Served;
use snakepit_server::{Server, ServerConfig};
use tokio::net::{TcpListener, TcpStream};

use crate::cli::ServeBenchArgs;
use crate::commands::cpu;

/// One measurement.
#[derive(Debug)]
struct Figures {
    calls: u64,
    errors: u64,
    per_second: f64,
    p50_us: u64,
    p99_us: u64,
    /// CPU per call, when measured.
    cpu: Option<cpu::PerCall>,
}

impl Figures {
    fn from(latencies: &mut [u64], errors: u64, elapsed: Duration) -> Self {
        latencies.sort_unstable();
        let pick = |q: f64| -> u64 {
            if latencies.is_empty() {
                return 0;
            }
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "an index into a sorted, non-empty list"
            )]
            let index = ((latencies.len() - 1) as f64 * q).round() as usize;
            latencies[index]
        };
        let calls = latencies.len() as u64;
        #[expect(clippy::cast_precision_loss, reason = "a call count")]
        let per_second = calls as f64 / elapsed.as_secs_f64();
        Self {
            calls,
            errors,
            per_second,
            p50_us: pick(0.50),
            p99_us: pick(0.99),
            cpu: None,
        }
    }

    fn json(&self) -> Value {
        let round = |us: f64| (us * 10.0).round() / 10.0;
        json!({
            "calls": self.calls, "errors": self.errors,
            "calls_per_s": self.per_second.round(),
            "p50_us": self.p50_us, "p99_us": self.p99_us,
            "cpu_us_per_call": self.cpu.map(|cpu| json!({
                "this_process": round(cpu.own_us),
                "workers_or_baseline_server": round(cpu.others_us),
                "load_generator": round(cpu.loadgen_us),
            })),
        })
    }
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// Measures `callers` tasks each running `call` in a loop for `duration` after a warm-up,
/// with the CPU this process and the processes `pids` (the workers) used meanwhile.
async fn measure<C, Fut>(callers: Vec<C>, duration: Duration, pids: &[u32]) -> Figures
where
    C: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let warm = Arc::new(AtomicBool::new(true));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = callers
        .into_iter()
        .map(|mut call| {
            let (warm, stop) = (Arc::clone(&warm), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(4096);
                let mut errors = 0_u64;
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let ok = call().await;
                    if warm.load(Ordering::Relaxed) {
                        continue;
                    }
                    if ok {
                        latencies.push(micros(started.elapsed()));
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    warm.store(false, Ordering::Relaxed);
    let cpu_before = cpu::sample(pids);
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let cpu_after = cpu::sample(pids);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((part, failed)) = task.await {
            latencies.extend(part);
            errors += failed;
        }
    }
    let mut figures = Figures::from(&mut latencies, errors, elapsed);
    figures.cpu = Some(cpu_before.per_call(cpu_after, figures.calls));
    figures
}

/// One request's future.
type Pending = Pin<Box<dyn Future<Output = bool> + Send>>;

/// One keep-alive HTTP/1.1 connection: each call sends one request on it (a `POST` of `{}`
/// or a `GET`) and reads the whole answer.
async fn connection(
    addr: SocketAddr,
    path: &'static str,
    post: bool,
) -> anyhow::Result<impl FnMut() -> Pending> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let sender = Arc::new(tokio::sync::Mutex::new(sender));
    let host = addr.to_string();
    Ok(move || {
        let sender = Arc::clone(&sender);
        let host = host.clone();
        let call: Pending = Box::pin(async move {
            let mut sender = sender.lock().await;
            if sender.ready().await.is_err() {
                return false;
            }
            let builder = Request::builder()
                .uri(path)
                .header(hyper::header::HOST, host)
                .header(hyper::header::CONTENT_TYPE, "application/json");
            let request = if post {
                builder
                    .method("POST")
                    .body(Full::new(Bytes::from_static(b"{}")))
            } else {
                builder.method("GET").body(Full::new(Bytes::new()))
            };
            let Ok(request) = request else { return false };
            match sender.send_request(request).await {
                Ok(response) => {
                    let ok = response.status().is_success();
                    ok && response.into_body().collect().await.is_ok()
                }
                Err(_) => false,
            }
        });
        call
    })
}

/// Runs `snakepit serve-bench`.
///
/// # Errors
///
/// A pool that does not start, a socket that cannot be bound or connected.
pub(crate) async fn run(args: &ServeBenchArgs) -> anyhow::Result<()> {
    let duration = Duration::try_from_secs_f64(args.seconds)
        .ok()
        .filter(|duration| !duration.is_zero())
        .context("--seconds must be a positive number")?;
    let callers = usize::from(args.connections);
    let python = args
        .python
        .clone()
        .or_else(|| std::env::var_os("SNAKEPIT_PYTHON").map(std::path::PathBuf::from))
        .unwrap_or_else(|| "python3".into());
    // The server installs the Prometheus recorder, after which every call records its
    // metrics: install it first, so every measurement pays the same.
    snakepit::telemetry::prometheus::install().context("could not install the metrics recorder")?;
    let adapter = super::serve::embedded_adapter().python(&python);
    let mut builder = Pool::builder(adapter).instance_name("serve-bench");
    if let Some(workers) = args.workers {
        builder = builder.size(usize::from(workers));
    }
    let pool = builder.start().await.context("could not start the pool")?;
    let size = pool.config().size;

    let pids = pool.worker_pids();
    let in_process_first = measure(in_process_callers(&pool, callers), duration, &pids).await;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut config = ServerConfig::default();
    config.bind = addr;
    // The very pool measured in-process, served: the same settings, the same workers.
    let served = BTreeMap::from([(
        "default".to_owned(),
        Arc::new(Served::new("default", pool.clone(), "bench")),
    )]);
    let server = Server::with_listener(listener, config, served);
    let handle = server.handle();
    let serving = tokio::spawn(server.run(std::future::pending()));

    let pids = pool.worker_pids();
    let before = cpu::sample(&pids);
    let mut wrk = wrk::run_wrk(addr, callers, args.seconds).await;
    if let Some(wrk) = &mut wrk {
        wrk.cpu = Some(before.per_call(cpu::sample(&pids), wrk.calls));
    }
    let mut connections = Vec::with_capacity(callers);
    for _ in 0..callers {
        connections.push(connection(addr, "/v1/pools/default/commands/ping", true).await?);
    }
    let through_server = measure(connections, duration, &pids).await;
    let mut connections = Vec::with_capacity(callers);
    for _ in 0..callers {
        connections.push(connection(addr, "/healthz", false).await?);
    }
    let http_floor = measure(connections, duration, &[]).await;
    let pids = pool.worker_pids();
    let in_process_last = measure(in_process_callers(&pool, callers), duration, &pids).await;
    // Stopping the server stops its pools, this one included.
    handle.shutdown();
    serving.await.context("the server task failed")??;
    let grpcio = grpc::measure(&python, callers, args.seconds).await;

    if in_process_first.calls == 0 || through_server.calls == 0 {
        bail!("a measurement made no calls: {in_process_first:?} {through_server:?}");
    }
    let measured = report::Measured {
        callers,
        workers: size,
        threads: tokio::runtime::Handle::current().metrics().num_workers(),
        seconds: args.seconds,
        in_process_first,
        in_process_last,
        wrk,
        through_server,
        http_floor,
        grpcio,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&measured.json())?);
    } else {
        measured.print();
    }
    Ok(())
}

/// `callers` tasks calling `ping` on `pool` in a loop.
fn in_process_callers(
    pool: &Pool,
    callers: usize,
) -> Vec<impl FnMut() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + 'static> {
    (0..callers)
        .map(|_| {
            let pool = pool.clone();
            move || {
                let pool = pool.clone();
                let call: Pending =
                    Box::pin(async move { pool.execute("ping", json!({})).await.is_ok() });
                call
            }
        })
        .collect()
}
