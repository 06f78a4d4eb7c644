//! `h2load` (nghttp2's C HTTP/2 load generator, Debian: `apt-get install nghttp2-client`)
//! against the grpcio baseline, when it is on `PATH`: the gRPC call is an HTTP/2 `POST` of
//! one length-prefixed message with `content-type: application/grpc`, so a C load generator
//! can drive grpcio as `wrk` drives snakepit's server.

use std::time::Duration;

use super::Figures;

/// The request: an uncompressed gRPC message frame (flag 0, big-endian length 2) of `{}`.
const MESSAGE: &[u8] = b"\x00\x00\x00\x00\x02{}";
/// The method the baseline serves.
const PATH: &str = "/snakepit.bench.Bench/Ping";
/// Calls before the measured window.
const WARM_UP: &str = "500ms";

/// Runs `h2load` against the grpcio server on `port`, one stream per connection on
/// `connections` connections for `seconds`; `None` when it is not installed or fails.
pub(super) async fn run(port: u16, connections: usize, seconds: f64) -> Option<Figures> {
    let base = std::env::temp_dir().join(format!("snakepit-h2load-{}", std::process::id()));
    let body = base.with_extension("bin");
    let log = base.with_extension("log");
    std::fs::write(&body, MESSAGE).ok()?;
    #[expect(
        clippy::disallowed_methods,
        reason = "runs the load generator, not a worker"
    )]
    let output = tokio::process::Command::new("h2load")
        .args(["-t1", &format!("-c{connections}"), "-m1"])
        .arg(format!("-D{}", seconds.ceil()))
        .arg(format!("--warm-up-time={WARM_UP}"))
        .arg("-d")
        .arg(&body)
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .arg(format!("--log-file={}", log.display()))
        .arg(format!("http://127.0.0.1:{port}{PATH}"))
        .kill_on_drop(true)
        .output()
        .await;
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&body);
    let _ = std::fs::remove_file(&log);
    let output = output.ok().filter(|output| output.status.success())?;
    parse(&String::from_utf8_lossy(&output.stdout), &logged)
}

/// Calls/s from h2load's summary (`finished in 4.00s, 5201.75 req/s, ..`), the calls and
/// failures from its `requests:` line, and p50/p99 from its per-request log (status code
/// and microseconds in the second and third columns).
fn parse(summary: &str, log: &str) -> Option<Figures> {
    let finished = summary
        .lines()
        .find_map(|line| line.trim().strip_prefix("finished in "))?;
    let per_second: f64 = finished
        .split(", ")
        .find_map(|part| part.strip_suffix(" req/s"))?
        .parse()
        .ok()?;
    let requests = summary
        .lines()
        .find_map(|line| line.trim().strip_prefix("requests: "))?;
    let count = |label: &str| -> Option<u64> {
        requests
            .split(", ")
            .find_map(|part| part.strip_suffix(label))?
            .trim()
            .parse()
            .ok()
    };
    let succeeded = count(" succeeded")?;
    let errors = count(" failed")? + count(" errored")?;
    let mut latencies: Vec<u64> = log
        .lines()
        .filter_map(|line| {
            let mut columns = line.split('\t').skip(1);
            let status = columns.next()?;
            let micros = columns.next()?.trim().parse().ok()?;
            (status == "200").then_some(micros)
        })
        .collect();
    if latencies.is_empty() {
        return None;
    }
    let mut figures = Figures::from(&mut latencies, errors, Duration::from_secs(1));
    figures.calls = succeeded;
    figures.per_second = per_second;
    Some(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h2load_output_is_read() {
        let summary = "finished in 4.00s, 5201.75 req/s, 459.25KB/s\nrequests: 20807 total, 20807 started, 20807 done, 20800 succeeded, 5 failed, 2 errored, 0 timeout\n";
        let log = "1\t200\t100\n2\t200\t300\n3\t-1\t5\n4\t200\t200\n";
        let figures = parse(summary, log).expect("parsed");
        assert_eq!(figures.calls, 20800);
        assert_eq!(figures.errors, 7);
        assert!((figures.per_second - 5201.75).abs() < 0.01);
        assert_eq!((figures.p50_us, figures.p99_us), (200, 300));
    }
}
