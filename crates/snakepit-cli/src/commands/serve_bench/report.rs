//! What `snakepit serve-bench` prints: one row per measurement (calls/s, p50, p99, errors,
//! and the CPU per call of each process involved), then the ratios, as a table or as JSON.

use serde_json::{Value, json};

use super::Figures;
use super::grpc::Baseline;

/// Every measurement of one run.
#[derive(Debug)]
pub(super) struct Measured {
    pub(super) callers: usize,
    pub(super) workers: usize,
    /// Threads of the runtime the server, the pool's host side and the in-process callers
    /// share.
    pub(super) threads: usize,
    pub(super) seconds: f64,
    pub(super) in_process_first: Figures,
    pub(super) in_process_last: Figures,
    pub(super) wrk: Option<Figures>,
    pub(super) through_server: Figures,
    pub(super) http_floor: Figures,
    pub(super) grpcio: anyhow::Result<Baseline>,
}

impl Measured {
    /// The mean of the two in-process figures (the machine's load drifts during a run).
    fn in_process(&self) -> f64 {
        f64::midpoint(
            self.in_process_first.per_second,
            self.in_process_last.per_second,
        )
    }

    /// The server's best figure: under `wrk` when it ran, else the hyper client's.
    fn server(&self) -> (&'static str, &Figures) {
        match &self.wrk {
            Some(wrk) => ("wrk", wrk),
            None => ("hyper client", &self.through_server),
        }
    }

    /// The grpcio figure the server is compared with: under `h2load` when it ran (a C load
    /// generator, as `wrk` is for the server), else with its Python client.
    fn grpcio(&self) -> Option<(&'static str, &Figures)> {
        let baseline = self.grpcio.as_ref().ok()?;
        Some(match &baseline.h2load {
            Some(h2load) => ("h2load", h2load),
            None => ("grpcio client", &baseline.python_client),
        })
    }

    /// The whole run as JSON.
    pub(super) fn json(&self) -> Value {
        let round = |value: f64| (value * 1000.0).round() / 1000.0;
        let in_process = self.in_process();
        let ratio = |figures: &Figures| round(figures.per_second / in_process);
        let (_, server) = self.server();
        json!({
            "connections": self.callers, "workers": self.workers, "runtime_threads": self.threads,
            "seconds": self.seconds,
            "in_process_first": self.in_process_first.json(),
            "in_process_last": self.in_process_last.json(),
            "wrk": self.wrk.as_ref().map(Figures::json),
            "server": self.through_server.json(),
            "http_floor": self.http_floor.json(),
            "grpcio": self.grpcio.as_ref().map(|baseline| json!({
                "python_client": baseline.python_client.json(),
                "h2load": baseline.h2load.as_ref().map(Figures::json),
            })).map_err(|err| format!("{err:#}")),
            "server_over_in_process": ratio(&self.through_server),
            "wrk_over_in_process": self.wrk.as_ref().map(ratio),
            "server_over_grpcio": self.grpcio().map(|(_, grpc)| round(server.per_second / grpc.per_second)),
        })
    }

    /// The run as a table.
    pub(super) fn print(&self) {
        println!(
            "trivial call (`ping`), {} concurrent callers, {} workers, {} runtime threads, {:.1} s each",
            self.callers, self.workers, self.threads, self.seconds
        );
        println!(
            "{:<36} {:>8} {:>7} {:>7} {:>6} | CPU µs/call: {:>6} {:>7} {:>7}",
            "", "calls/s", "p50 µs", "p99 µs", "errors", "this", "workers", "loadgen"
        );
        row("in-process (pool.execute), first", &self.in_process_first);
        match &self.wrk {
            Some(figures) => row("HTTP server under wrk", figures),
            None => println!(
                "{:<36} wrk not found on PATH (apt-get install wrk)",
                "HTTP server under wrk"
            ),
        }
        row("HTTP server, hyper client in-proc", &self.through_server);
        row("HTTP floor (GET /healthz, in-proc)", &self.http_floor);
        row("in-process (pool.execute), last", &self.in_process_last);
        match &self.grpcio {
            Ok(baseline) => {
                row("grpcio server, grpcio client", &baseline.python_client);
                match &baseline.h2load {
                    Some(figures) => row("grpcio server under h2load", figures),
                    None => println!(
                        "{:<36} not measured: h2load missing (apt-get install nghttp2-client) or failed",
                        "grpcio server under h2load"
                    ),
                }
            }
            Err(err) => println!("{:<36} not measured: {err:#}", "grpcio server"),
        }
        println!(
            "(CPU µs/call: `this` is this process: server and pool host side, and the client \
             when it runs in-process; `workers` the pool's workers, or the grpcio server)"
        );
        let in_process = self.in_process();
        print!(
            "server / in-process calls/s: {:.2} (hyper client)",
            self.through_server.per_second / in_process
        );
        match &self.wrk {
            Some(wrk) => println!(", {:.2} (wrk)", wrk.per_second / in_process),
            None => println!(),
        }
        if let Some((with, grpc)) = self.grpcio() {
            let (generator, server) = self.server();
            println!(
                "server ({generator}) / grpcio ({with}) calls/s: {:.1}",
                server.per_second / grpc.per_second
            );
        }
    }
}

fn row(name: &str, figures: &Figures) {
    let cpu = figures.cpu.map_or_else(String::new, |cpu| {
        format!(
            "{:>6.1} {:>7.1} {:>7.1}",
            cpu.own_us, cpu.others_us, cpu.loadgen_us
        )
    });
    println!(
        "{name:<36} {:>8.0} {:>7} {:>7} {:>6} |              {cpu}",
        figures.per_second, figures.p50_us, figures.p99_us, figures.errors
    );
}
