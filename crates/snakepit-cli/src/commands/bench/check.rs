//! `snakepit bench --check`: every target the report misses, in words.

use super::peers::{TARGET_MP_POOL_RATIO, TARGET_PPE_RATIO};
use super::ping::{
    BLOCKING_TARGET_WORKERS, PingRow, TARGET_BLOCKING_THROUGHPUT_RATIO, TARGET_P50_RATIO,
    TARGET_THROUGHPUT_RATIO,
};
use super::profiles::TARGET_CONCURRENT_RATIO;
use super::report::BenchReport;
use super::session::TARGET_STORE_OPS_PER_S;
use super::stream::TARGET_STREAM_RATIO;

/// One line per missed target; empty when every target is met.
pub(super) fn missed(report: &BenchReport) -> Vec<String> {
    let mut missed: Vec<String> = report.ping.iter().flat_map(missed_ping).collect();
    if report.sessions.store_ops_per_s < TARGET_STORE_OPS_PER_S {
        missed.push(format!(
            "session store: {:.0} ops/s < {TARGET_STORE_OPS_PER_S:.0}",
            report.sessions.store_ops_per_s
        ));
    }
    if report.stream.ratio < TARGET_STREAM_RATIO {
        missed.push(format!(
            "stream: {:.2}x the streaming floor < {TARGET_STREAM_RATIO}x",
            report.stream.ratio
        ));
    }
    if !report.start.one_worker_target_met() {
        missed.push(format!(
            "start: one plain worker in {:.1} ms, more than 10 ms over a bare interpreter's {:.1} ms",
            report.start.one_worker_ms, report.start.bare_python_ms
        ));
    }
    if !report.start.zygote_target_met() {
        missed.push(format!(
            "start: 8 zygote workers in {:.1} ms > {:.1} ms",
            report.start.zygote_8_ms,
            report.start.target_zygote_ms()
        ));
    }
    let profiles = &report.profiles;
    if profiles.concurrent_inline_ratio < TARGET_CONCURRENT_RATIO {
        missed.push(format!(
            "profiles: concurrent pool (ping_inline) {:.2}x the pipelined floor < {TARGET_CONCURRENT_RATIO}x",
            profiles.concurrent_inline_ratio
        ));
    }
    if let Some(peers) = &report.peers {
        if peers.ppe_ratio < TARGET_PPE_RATIO {
            missed.push(format!(
                "peers: pool {:.1}x ProcessPoolExecutor < {TARGET_PPE_RATIO}x",
                peers.ppe_ratio
            ));
        }
        if peers.mp_pool_ratio < TARGET_MP_POOL_RATIO {
            missed.push(format!(
                "peers: pool {:.1}x multiprocessing.Pool < {TARGET_MP_POOL_RATIO}x",
                peers.mp_pool_ratio
            ));
        }
    }
    missed
}

/// The `ping` targets one row misses.
fn missed_ping(row: &PingRow) -> Vec<String> {
    let workers = row.workers;
    let mut missed = Vec::new();
    if row.ratio.p50 > TARGET_P50_RATIO {
        missed.push(format!(
            "ping, {workers} workers: pool p50 {:.2}x the tokio floor > {TARGET_P50_RATIO}x",
            row.ratio.p50
        ));
    }
    if row.ratio.throughput < TARGET_THROUGHPUT_RATIO {
        missed.push(format!(
            "ping, {workers} workers: pool calls/s {:.2}x the tokio floor < {TARGET_THROUGHPUT_RATIO}x",
            row.ratio.throughput
        ));
    }
    if workers == BLOCKING_TARGET_WORKERS
        && row.ratio.throughput_vs_blocking < TARGET_BLOCKING_THROUGHPUT_RATIO
    {
        missed.push(format!(
            "ping, {workers} workers: pool calls/s {:.2}x the blocking floor < {TARGET_BLOCKING_THROUGHPUT_RATIO}x",
            row.ratio.throughput_vs_blocking
        ));
    }
    missed
}

#[cfg(test)]
mod tests {
    use super::super::ping::{Figures, Ratio};
    use super::*;

    fn row(workers: usize, p50: f64, throughput: f64, throughput_vs_blocking: f64) -> PingRow {
        let figures = Figures {
            p50_us: 10.0,
            p99_us: 20.0,
            calls_per_s: 1000.0,
        };
        PingRow {
            workers,
            floor: figures,
            blocking_floor: figures,
            pool: figures,
            ratio: Ratio {
                p50,
                throughput,
                throughput_vs_blocking,
            },
        }
    }

    #[test]
    fn a_row_on_target_misses_nothing() {
        assert!(missed_ping(&row(1, 1.5, 0.8, 0.1)).is_empty());
        assert!(missed_ping(&row(2, 1.2, 0.9, 0.6)).is_empty());
    }

    #[test]
    fn each_missed_ping_target_is_named() {
        let missed = missed_ping(&row(2, 1.6, 0.7, 0.5));
        assert_eq!(missed.len(), 3, "{missed:?}");
        assert!(
            missed[0].contains("p50 1.60x the tokio floor"),
            "{missed:?}"
        );
        assert!(missed[1].contains("0.70x the tokio floor"), "{missed:?}");
        assert!(missed[2].contains("0.50x the blocking floor"), "{missed:?}");
    }

    #[test]
    fn the_blocking_target_holds_for_two_workers_only() {
        assert!(missed_ping(&row(1, 1.0, 1.0, 0.3)).is_empty());
        assert_eq!(missed_ping(&row(2, 1.0, 1.0, 0.3)).len(), 1);
    }
}
