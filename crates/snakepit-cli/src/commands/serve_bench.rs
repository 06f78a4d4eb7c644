//! `snakepit serve-bench`: calls/s and p50/p99 of a trivial call (`ping`) at N concurrent
//! callers, measured in one run three ways:
//!
//! 1. in-process: N tasks calling `pool.execute` on the pool;
//! 2. through the server: N keep-alive HTTP/1.1 connections (a small hyper load client in
//!    this process) posting to `/v1/pools/default/commands/ping`, served from the same pool;
//! 3. the HTTP floor: the same connections on `/healthz`, which touches no worker.
//!
//! 4. when `wrk` is on `PATH`: the same route under `wrk` (a C load generator, lighter than
//!    the in-process client) at the same connection count.
//!
//! The ratio server/in-process is the cost of HTTP; the floor shows how much of it is the
//! HTTP stack (client and server share this machine's CPUs, as a load generator would).

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
use snakepit::{Pool, PythonAdapter};
use snakepit_server::state::Served;
use snakepit_server::{Server, ServerConfig};
use tokio::net::{TcpListener, TcpStream};

use crate::cli::ServeBenchArgs;

/// One measurement.
#[derive(Debug)]
struct Figures {
    calls: u64,
    errors: u64,
    per_second: f64,
    p50_us: u64,
    p99_us: u64,
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
        }
    }

    fn json(&self) -> Value {
        json!({
            "calls": self.calls, "errors": self.errors,
            "calls_per_s": self.per_second.round(),
            "p50_us": self.p50_us, "p99_us": self.p99_us,
        })
    }
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// Measures `callers` tasks each running `call` in a loop for `duration` after a warm-up.
async fn measure<C, Fut>(callers: Vec<C>, duration: Duration) -> Figures
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
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((part, failed)) = task.await {
            latencies.extend(part);
            errors += failed;
        }
    }
    Figures::from(&mut latencies, errors, elapsed)
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
    let mut adapter = PythonAdapter::showcase();
    if let Some(python) = &args.python {
        adapter = adapter.python(python);
    }
    let mut builder = Pool::builder(adapter).instance_name("serve-bench");
    if let Some(workers) = args.workers {
        builder = builder.size(usize::from(workers));
    }
    let pool = builder.start().await.context("could not start the pool")?;
    let size = pool.config().size;

    let in_process = measure(
        (0..callers)
            .map(|_| {
                let pool = pool.clone();
                move || {
                    let pool = pool.clone();
                    async move { pool.execute("ping", json!({})).await.is_ok() }
                }
            })
            .collect(),
        duration,
    )
    .await;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut config = ServerConfig::default();
    config.bind = addr;
    let served = BTreeMap::from([(
        "default".to_owned(),
        Arc::new(Served::new("default", pool.clone(), "bench")),
    )]);
    let server = Server::with_listener(listener, config, served);
    let handle = server.handle();
    let serving = tokio::spawn(server.run(std::future::pending()));

    let mut connections = Vec::with_capacity(callers);
    for _ in 0..callers {
        connections.push(connection(addr, "/v1/pools/default/commands/ping", true).await?);
    }
    let through_server = measure(connections, duration).await;
    let mut connections = Vec::with_capacity(callers);
    for _ in 0..callers {
        connections.push(connection(addr, "/healthz", false).await?);
    }
    let http_floor = measure(connections, duration).await;
    let wrk = run_wrk(addr, callers, args.seconds).await;

    handle.shutdown();
    serving.await.context("the server task failed")??;
    if in_process.calls == 0 || through_server.calls == 0 {
        bail!("a measurement made no calls: {in_process:?} {through_server:?}");
    }
    let ratio = through_server.per_second / in_process.per_second;
    if args.json {
        let report = json!({
            "connections": callers, "workers": size, "seconds": args.seconds,
            "in_process": in_process.json(), "server": through_server.json(),
            "http_floor": http_floor.json(), "server_over_in_process": (ratio * 1000.0).round() / 1000.0,
            "wrk": wrk.as_ref().map(Figures::json),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "trivial call (`ping`), {callers} concurrent callers, {size} workers, {:.1} s each",
        args.seconds
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>8}",
        "", "calls/s", "p50 µs", "p99 µs", "errors"
    );
    for (name, figures) in [
        ("in-process (pool.execute)", &in_process),
        ("HTTP server (POST /v1/..)", &through_server),
        ("HTTP floor (GET /healthz)", &http_floor),
    ] {
        println!(
            "{name:<28} {:>10.0} {:>10} {:>10} {:>8}",
            figures.per_second, figures.p50_us, figures.p99_us, figures.errors
        );
    }
    match &wrk {
        Some(figures) => {
            println!(
                "{:<28} {:>10.0} {:>10} {:>10} {:>8}",
                "HTTP server under wrk",
                figures.per_second,
                figures.p50_us,
                figures.p99_us,
                figures.errors
            );
            println!(
                "server / in-process calls/s: {ratio:.2} (hyper client), {:.2} (wrk)",
                figures.per_second / in_process.per_second
            );
        }
        None => println!("server / in-process calls/s: {ratio:.2} (wrk not found on PATH)"),
    }
    Ok(())
}

/// Runs `wrk` against the call route, if it is installed; `None` otherwise.
async fn run_wrk(addr: SocketAddr, connections: usize, seconds: f64) -> Option<Figures> {
    let script = std::env::temp_dir().join(format!("snakepit-wrk-{}.lua", std::process::id()));
    let lua = "wrk.method = \"POST\"\nwrk.body = \"{}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n";
    std::fs::write(&script, lua).ok()?;
    #[expect(
        clippy::disallowed_methods,
        reason = "runs the load generator, not a worker"
    )]
    let output = tokio::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{}s", seconds.ceil()),
        ])
        .arg("--latency")
        .arg("-s")
        .arg(&script)
        .arg(format!("http://{addr}/v1/pools/default/commands/ping"))
        .output()
        .await;
    let _ = std::fs::remove_file(&script);
    let output = output.ok().filter(|output| output.status.success())?;
    parse_wrk(&String::from_utf8_lossy(&output.stdout))
}

/// Reads calls/s, p50, p99 and non-2xx answers from `wrk --latency` output.
fn parse_wrk(text: &str) -> Option<Figures> {
    let field = |prefix: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix).map(str::trim))
    };
    let micros = |value: &str| -> Option<u64> {
        let (number, scale) = if let Some(us) = value.strip_suffix("us") {
            (us, 1.0)
        } else if let Some(ms) = value.strip_suffix("ms") {
            (ms, 1000.0)
        } else {
            (value.strip_suffix('s')?, 1_000_000.0)
        };
        let micros = number.parse::<f64>().ok()? * scale;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a positive latency in microseconds"
        )]
        Some(micros.round() as u64)
    };
    let per_second: f64 = field("Requests/sec:")?.parse().ok()?;
    let errors = field("Non-2xx or 3xx responses:")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let calls = text
        .lines()
        .find_map(|line| {
            line.trim()
                .split_once(" requests in ")
                .map(|(n, _)| n.to_owned())
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Some(Figures {
        calls,
        errors,
        per_second,
        p50_us: micros(field("50%")?)?,
        p99_us: micros(field("99%")?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_is_read() {
        let text = "Running 5s test @ http://127.0.0.1:1/\n  Latency Distribution\n     50%    3.08ms\n     75%  900.00us\n     99%    1.20s\n  97846 requests in 5.00s, 1 MB read\nRequests/sec:  19569.72\n";
        let figures = parse_wrk(text).expect("parsed");
        assert_eq!(figures.p50_us, 3080);
        assert_eq!(figures.p99_us, 1_200_000);
        assert_eq!(figures.calls, 97846);
        assert!((figures.per_second - 19569.72).abs() < 0.01);
    }
}
