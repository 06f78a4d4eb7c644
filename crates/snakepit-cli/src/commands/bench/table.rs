//! The human-readable report: every figure with its target and an ok/MISSED verdict.

use super::ping::{
    BLOCKING_TARGET_WORKERS, TARGET_BLOCKING_THROUGHPUT_RATIO, TARGET_P50_RATIO,
    TARGET_THROUGHPUT_RATIO,
};
use super::report::BenchReport;
use super::session::{STORE_SESSIONS_PER_TASK, STORE_TASKS, TARGET_STORE_OPS_PER_S};
use super::stream::{ROUNDS, TARGET_STREAM_RATIO, chunk_count};

/// Prints `report`, measured with `iterations` calls per figure.
pub(super) fn print(report: &BenchReport, iterations: usize) {
    print_ping(report, iterations);
    let ping_p50 = report
        .ping_p50_us()
        .map_or_else(|| "-".to_owned(), |p50| format!("{p50:.1}"));
    print_sessions(report, &ping_p50);
    print_stream(report, iterations);
    print_host_tool(report, iterations, &ping_p50);
    print_large(report);
    super::node::print(report.node.as_ref(), iterations);
    super::start::print(&report.start, report.rounds);
    super::profiles::print(&report.profiles, iterations);
    if let Some(peers) = &report.peers {
        super::peers::print(peers, iterations.max(1000));
    }
    super::telemetry::print(&report.telemetry, iterations);
}

fn print_ping(report: &BenchReport, iterations: usize) {
    let pinned = report.pinned.map_or_else(
        || "not pinned".to_owned(),
        |cpu| format!("pinned to CPU {cpu}"),
    );
    println!(
        "snakepit bench: ping, {iterations} calls per figure, median of {} rounds, encoding {}, {pinned}",
        report.rounds, report.encoding
    );
    println!(
        "targets: pool p50 <= {TARGET_P50_RATIO}x floor, pool calls/s >= {TARGET_THROUGHPUT_RATIO}x floor, \
         and >= {TARGET_BLOCKING_THROUGHPUT_RATIO}x blocking floor with {BLOCKING_TARGET_WORKERS} workers\n"
    );
    println!(
        "{:<8} {:<9} {:>10} {:>10} {:>12}",
        "workers", "setup", "p50 µs", "p99 µs", "calls/s"
    );
    for row in &report.ping {
        for (setup, figures) in [
            ("floor", row.floor),
            ("blocking", row.blocking_floor),
            ("pool", row.pool),
        ] {
            println!(
                "{:<8} {setup:<9} {:>10.1} {:>10.1} {:>12.0}",
                row.workers, figures.p50_us, figures.p99_us, figures.calls_per_s
            );
        }
        println!(
            "{:<8} {:<9} p50 {:.2}x floor (<= {TARGET_P50_RATIO}x) {}; calls/s {:.2}x floor (>= {TARGET_THROUGHPUT_RATIO}x) {}; {:.2}x blocking{}",
            row.workers,
            "ratio",
            row.ratio.p50,
            verdict(row.ratio.p50 <= TARGET_P50_RATIO),
            row.ratio.throughput,
            verdict(row.ratio.throughput >= TARGET_THROUGHPUT_RATIO),
            row.ratio.throughput_vs_blocking,
            if row.workers == BLOCKING_TARGET_WORKERS {
                format!(
                    " (>= {TARGET_BLOCKING_THROUGHPUT_RATIO}x) {}",
                    verdict(row.ratio.throughput_vs_blocking >= TARGET_BLOCKING_THROUGHPUT_RATIO)
                )
            } else {
                String::new()
            },
        );
    }
}

fn print_sessions(report: &BenchReport, ping_p50: &str) {
    let sessions = &report.sessions;
    println!(
        "\nsessions: store get/update from {STORE_TASKS} tasks over {} sessions; ping in a session through 1 worker",
        STORE_TASKS * STORE_SESSIONS_PER_TASK
    );
    println!(
        "{:<12} {:>12.0} ops/s (target >= {TARGET_STORE_OPS_PER_S:.0}) {}",
        "store",
        sessions.store_ops_per_s,
        verdict(sessions.store_ops_per_s >= TARGET_STORE_OPS_PER_S),
    );
    println!(
        "{:<12} p50 {:.1} µs, p99 {:.1} µs (plain ping p50 {ping_p50} µs)",
        "in session", sessions.in_session_p50_us, sessions.in_session_p99_us,
    );
}

fn print_stream(report: &BenchReport, iterations: usize) {
    let stream = &report.stream;
    println!(
        "\nstream: {} chunks through 1 worker beside the streaming floor, median of {ROUNDS} streams",
        chunk_count(iterations)
    );
    println!(
        "{:<12} {:>12.0} frames/s",
        "floor", stream.floor_frames_per_s
    );
    println!("{:<12} {:>12.0} chunks/s", "pool", stream.chunks_per_s);
    println!(
        "{:<12} {:.0}% of floor (target >= {:.0}%) {}",
        "ratio",
        stream.ratio * 100.0,
        TARGET_STREAM_RATIO * 100.0,
        verdict(stream.ratio >= TARGET_STREAM_RATIO),
    );
}

fn print_host_tool(report: &BenchReport, iterations: usize, ping_p50: &str) {
    let host_tool = &report.host_tool;
    println!(
        "\nhost tool: a worker calls the no-op host tool {iterations} times, timed in the worker"
    );
    println!(
        "{:<12} p50 {:.1} µs, p99 {:.1} µs (plain ping p50 {ping_p50} µs)",
        "round trip", host_tool.p50_us, host_tool.p99_us,
    );
}

fn print_large(report: &BenchReport) {
    use super::large::{TARGET_PING_DRIFT, TARGET_ROUNDTRIP_RATIO};
    let large = &report.large;
    println!("\nlarge data: float64 host -> worker (arr * 2 into ctx.alloc_array) -> host");
    println!(
        "{:<12} {:.1} ms, two memcpys {:.1} ms: {:.2}x (target <= {TARGET_ROUNDTRIP_RATIO}x) {}",
        "80 MB",
        large.roundtrip_80mb_ms,
        large.memcpy2_80mb_ms,
        large.roundtrip_ratio,
        verdict(large.roundtrip_ratio <= TARGET_ROUNDTRIP_RATIO),
    );
    println!(
        "{:<12} {:.1} ms with the host reading every element of the result",
        "80 MB, read", large.roundtrip_read_80mb_ms
    );
    println!("{:<12} {:.1} ms", "16 MiB", large.roundtrip_16mib_ms);
    println!(
        "{:<12} fresh memfd {:.1} ms, reused mapping {:.1} ms (80 MB fill)",
        "alloc", large.fresh_fill_80mb_ms, large.reused_fill_80mb_ms
    );
    for point in &large.sweep {
        println!(
            "{:<12} {:>9} B {:>9.3} ms {}",
            "sweep",
            point.bytes,
            point.ms,
            if point.shared { "shared" } else { "inline" }
        );
    }
    println!(
        "{:<12} {:.1} ms (8 MB as a JSON list)",
        "json", large.json_list_8mb_ms
    );
    let drift = large.ping_p50_us_after / large.ping_p50_us_before - 1.0;
    println!(
        "{:<12} p50 {:.1} µs before, {:.1} µs after ({:+.1}%, target <= {:.0}%) {}",
        "ping",
        large.ping_p50_us_before,
        large.ping_p50_us_after,
        drift * 100.0,
        TARGET_PING_DRIFT * 100.0,
        verdict(drift <= TARGET_PING_DRIFT),
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "ok" } else { "MISSED" }
}
