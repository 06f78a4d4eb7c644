//! `wrk`, a C HTTP load generator, against the server's call route, when it is on `PATH`
//! (Debian: `apt-get install wrk`): lighter than the hyper client inside the bench's own
//! process, so its figure is the server's, not the server's and its client's.

use std::net::SocketAddr;

use super::Figures;

/// Runs `wrk` against the call route, if it is installed; `None` otherwise.
pub(super) async fn run_wrk(addr: SocketAddr, connections: usize, seconds: f64) -> Option<Figures> {
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
        cpu: None,
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
