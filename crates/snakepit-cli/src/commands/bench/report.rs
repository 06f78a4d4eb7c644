//! The report of one `snakepit bench` run: what `--json` prints, and what the table shows.

use serde::Serialize;

use super::host_tool::HostToolFigures;
use super::ping::PingRow;
use super::session::SessionFigures;
use super::stream::StreamFigures;

/// Everything one `snakepit bench` run measured; printed as is with `--json`.
#[derive(Debug, Serialize)]
pub(crate) struct BenchReport {
    /// The codec of the pools and the floors: `msgpack` or `json`.
    pub(crate) encoding: &'static str,
    /// The CPU the process was pinned to, if any.
    pub(crate) pinned: Option<usize>,
    /// How many rounds each `ping` figure is the median of.
    pub(crate) rounds: usize,
    /// `ping` through the pool beside both floors, per worker count.
    pub(crate) ping: Vec<PingRow>,
    /// The session store, and `ping` in a session.
    pub(crate) sessions: SessionFigures,
    /// Streaming through the pool beside the streaming floor.
    pub(crate) stream: StreamFigures,
    /// Host tool round trips from a worker.
    pub(crate) host_tool: HostToolFigures,
    /// Large arrays through shared memory.
    pub(crate) large: super::large::LargeFigures,
    /// `ping` p50 with telemetry off and on.
    pub(crate) telemetry: super::telemetry::TelemetryFigures,
    /// The concurrent profile beside the pipelined floor, and I/O-bound calls per profile.
    pub(crate) profiles: super::profiles::ProfileFigures,
    /// The standard library's process pools beside the pool; `None` without `--peers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) peers: Option<super::peers::PeerFigures>,
    /// A trivial call through a Node worker beside the Node floor; `None` without `node`.
    pub(crate) node: Option<super::node::NodeFigures>,
    /// Worker start times: spawned, forked from a zygote, replaced.
    pub(crate) start: super::start::StartFigures,
}

impl BenchReport {
    /// The p50 of plain `ping` through one worker, the yardstick of the later sections.
    pub(super) fn ping_p50_us(&self) -> Option<f64> {
        self.ping
            .iter()
            .find(|row| row.workers == 1)
            .map(|row| row.pool.p50_us)
    }
}
