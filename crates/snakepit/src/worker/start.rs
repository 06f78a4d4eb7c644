//! Starting a worker: spawn the process, wait for its hello, answer with a welcome, and hand
//! the process to its supervisor.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

use futures_util::StreamExt;
use nix::sys::signal::Signal;
use tokio::sync::{mpsc, watch};
use tokio_util::codec::FramedRead;
use tracing::Instrument;

use super::WorkerId;
use super::handle::Worker;
use super::host::HostCalls;
use super::link::LinkWriter;
use super::pending::PendingTable;
use super::shared::Shared;
use super::state::{Lifecycle, WorkerEvent};
use super::supervisor::{Exit, Supervisor};
use crate::error::{Error, ExitInfo, Result};
use crate::process::reaper;
use crate::process::{LinkMode, SpawnRequest, SpawnedProcess, signal_group, spawn};
use crate::protocol::{Encoding, Kind, Message, PROTOCOL_VERSION, decode, frame_codec};
use crate::registry::Run;
use crate::telemetry::Event;

/// How long the output readers get to catch the last lines of a worker that failed to start.
const OUTPUT_SETTLE: Duration = Duration::from_millis(300);

/// What it takes to start a worker of a pool.
#[derive(Debug, Clone)]
pub(crate) struct WorkerSpec {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) cwd: Option<PathBuf>,
    /// How its link is wired: stdio for a classic worker, else what the adapter asked for.
    pub(crate) link: LinkMode,
    pub(crate) startup_timeout: Duration,
    pub(crate) max_frame: usize,
    /// The most calls at once the pool's profile gives a worker; a worker announcing more
    /// gets this many.
    pub(crate) max_capacity: usize,
    /// The pool's shared-memory budget, shared by all its workers.
    pub(crate) shm: crate::shm::Budget,
    /// The size from which buffers travel as memfds.
    pub(crate) shm_threshold: usize,
    /// The run registry entry the worker is recorded in.
    pub(crate) run: Option<Arc<Run>>,
    /// The host tools the worker's calls can use.
    pub(crate) host: Option<Arc<dyn HostCalls>>,
    /// Where the worker's spawn and readiness are reported.
    pub(crate) telemetry: crate::telemetry::Telemetry,
    /// The pool's zygote, when workers are forked from one (`PythonAdapter::preload`).
    pub(crate) zygote: Option<Arc<crate::zygote::Zygote>>,
}

impl WorkerSpec {
    /// Whether the worker speaks the classic protocol, which only a stdio link carries.
    fn classic(&self) -> bool {
        self.link == LinkMode::Stdio
    }
}

/// A started process, spawned or forked, before its handshake.
struct Started {
    pid: u32,
    reader: crate::process::LinkReader,
    writer: crate::process::LinkWriter,
    output: crate::process::OutputTail,
    exit: Exit,
    /// The host's end of the fd channel; none for a stdio (classic) link.
    shm: Option<std::os::fd::OwnedFd>,
}

/// Forks the worker from the pool's zygote when it is alive, otherwise spawns it; a zygote
/// that fails to fork is warned about and the worker spawned.
async fn launch(spec: &WorkerSpec, worker: WorkerId) -> Result<Started> {
    if let Some(zygote) = spec.zygote.as_deref().filter(|zygote| zygote.alive()) {
        match crate::zygote::fork_worker(zygote, worker, spec.link, spec.startup_timeout).await {
            Ok(forked) => {
                return Ok(Started {
                    pid: forked.pid,
                    reader: forked.reader,
                    writer: forked.writer,
                    output: forked.output,
                    exit: Exit::reported(forked.exit),
                    shm: Some(forked.shm),
                });
            }
            Err(err) => {
                tracing::warn!(%worker, error = %err, "the zygote did not fork a worker; spawning it");
            }
        }
    } else if spec.zygote.is_some() {
        tracing::warn!(%worker, "the zygote is gone; spawning the worker");
    }
    let process = spawn(SpawnRequest {
        program: spec.program.clone(),
        args: spec.args.clone(),
        env: spec.env.clone(),
        cwd: spec.cwd.clone(),
        link: spec.link,
        worker,
    })
    .await?;
    let SpawnedProcess {
        child,
        pid,
        reader,
        writer,
        shm,
        output,
    } = process;
    Ok(Started {
        pid,
        reader,
        writer,
        output,
        exit: Exit::watch(child),
        shm,
    })
}

/// Starts one worker and waits until it is ready.
///
/// # Errors
///
/// [`Error::Spawn`] when the program cannot run, [`Error::StartFailed`] (with the worker's
/// stderr tail) when it exits, stays silent past the startup timeout, or does not greet.
pub(crate) async fn start(
    spec: &WorkerSpec,
    events: mpsc::UnboundedSender<WorkerEvent>,
) -> Result<Worker> {
    let worker = WorkerId::next();
    let span = tracing::info_span!("worker.start", %worker);
    async move {
        let spawned_at = std::time::Instant::now();
        if let Some(run) = &spec.run {
            run.worker_spawning(worker);
        }
        let spawned = launch(spec, worker).await;
        let mut process = match spawned {
            Ok(process) => process,
            Err(err) => {
                if let Some(run) = &spec.run {
                    run.worker_gone(worker);
                }
                return Err(err);
            }
        };
        if let Some(run) = &spec.run {
            run.worker_spawned(worker, process.pid);
        }
        let pid = process.pid;
        spec.telemetry.emit(|| Event::WorkerSpawned { worker, pid });
        let mut reader = FramedRead::new(
            std::mem::replace(&mut process.reader, Box::new(tokio::io::empty())),
            frame_codec(spec.max_frame),
        );
        let mut writer = LinkWriter::new(
            std::mem::replace(&mut process.writer, Box::new(tokio::io::sink())),
            Encoding::Json,
            spec.max_frame,
        );
        let (tools, capacity) = if spec.classic() {
            (Vec::new(), 1)
        } else {
            let greeted = greet(spec, worker, &mut reader, &mut writer, &mut process).await;
            match greeted {
                Ok(greeted) => greeted,
                Err(reason) => {
                    return Err(abandon(worker, reason, process, spec.run.as_deref()).await);
                }
            }
        };
        // The sweep finds a worker only once its pid and start time are on disk.
        if let Some(run) = &spec.run {
            run.flushed().await;
        }
        let (control, control_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            id: worker,
            pid: process.pid,
            classic: spec.classic(),
            capacity,
            lifecycle: watch::Sender::new(Lifecycle::Starting),
            served: AtomicU64::new(0),
            rss: AtomicU64::new(0),
            started: std::time::Instant::now(),
            writer: tokio::sync::Mutex::new(writer),
            read: super::reading::ReadSide::new(reader),
            pending: PendingTable::new(),
            next_call: AtomicU64::new(1),
            tools,
            last_tool: AtomicU32::new(0),
            output: process.output,
            run: spec.run.clone(),
            host: spec.host.clone(),
            shm: super::shm::WorkerShm::new(
                process.shm.take(),
                spec.shm.clone(),
                spec.shm_threshold,
            ),
        });
        wake_on_release(&shared);
        tracing::info!(%worker, pid = process.pid, capacity, "worker ready");
        let supervisor = Supervisor {
            shared: Arc::clone(&shared),
            exit: process.exit,
            control: control_rx,
            events,
        };
        tokio::spawn(
            supervisor
                .run()
                .instrument(tracing::info_span!("worker", %worker)),
        );
        shared.advance(Lifecycle::Ready);
        let start_duration = spawned_at.elapsed();
        spec.telemetry.emit(|| Event::WorkerReady {
            worker,
            pid,
            start_duration,
        });
        Ok(Worker::new(shared, control))
    }
    .instrument(span)
    .await
}

/// Waits for the hello, answers with the welcome, and returns the worker's tools. An error
/// is the reason the worker did not start.
async fn greet(
    spec: &WorkerSpec,
    worker: WorkerId,
    reader: &mut FramedRead<crate::process::LinkReader, tokio_util::codec::LengthDelimitedCodec>,
    writer: &mut LinkWriter,
    process: &mut Started,
) -> Result<(Vec<crate::protocol::ToolSpec>, usize), String> {
    let (hello_encoding, hello) = tokio::select! {
        frame = reader.next() => match frame {
            Some(Ok(payload)) => (
                Encoding::detect(&payload).unwrap_or(Encoding::Json),
                decode(&payload).map_err(|err| format!("its first frame is not a message: {err}"))?,
            ),
            Some(Err(err)) => return Err(format!("its first frame is invalid: {err}")),
            None => {
                let status = tokio::time::timeout(Duration::from_secs(2), process.exit.wait()).await;
                return Err(match status {
                    Ok(Some(status)) => format!("it exited ({}) before it was ready", ExitInfo::from_status(status)),
                    _ => "it closed its link before it was ready".to_owned(),
                });
            }
        },
        status = process.exit.wait() => {
            return Err(match status {
                Some(status) => format!("it exited ({}) before it was ready", ExitInfo::from_status(status)),
                None => "it ended before it was ready".to_owned(),
            });
        }
        () = tokio::time::sleep(spec.startup_timeout) => {
            return Err(format!("it was not ready within {:?}", spec.startup_timeout));
        }
    };
    if hello.kind() != Kind::Hello {
        return Err(format!(
            "its first message is a {:?}, not a hello",
            hello.kind()
        ));
    }
    if hello.protocol != Some(PROTOCOL_VERSION) {
        return Err(format!(
            "it speaks protocol {:?}; this host speaks {PROTOCOL_VERSION}",
            hello.protocol
        ));
    }
    let encoding = if hello
        .encodings
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|name| name == Encoding::MsgPack.as_str())
    {
        Encoding::MsgPack
    } else {
        Encoding::Json
    };
    let welcome = Message {
        protocol: Some(PROTOCOL_VERSION),
        encoding: Some(encoding.as_str().to_owned()),
        worker_id: Some(worker.to_string()),
        max_frame: u64::try_from(spec.max_frame).ok(),
        ..Message::new(Kind::Welcome)
    };
    // A worker that said hello in MessagePack gets its welcome in it too: a Python worker
    // then starts without importing a JSON decoder.
    if hello_encoding == Encoding::MsgPack && encoding == Encoding::MsgPack {
        writer.encoding = encoding;
    }
    writer
        .send(&welcome, &mut super::link::Progress::default())
        .await
        .map_err(|err| format!("the welcome could not be sent: {err}"))?;
    writer.encoding = encoding;
    tracing::debug!(%worker, adapter = ?hello.adapter, runtime = ?hello.runtime, %encoding, "handshake done");
    let capacity = hello
        .capacity
        .and_then(|capacity| usize::try_from(capacity).ok())
        .unwrap_or(1)
        .clamp(1, spec.max_capacity.max(1));
    // Only a worker that says it reads the fd channel gets memfds; others get every
    // buffer inline.
    if hello.shm != Some(true) {
        process.shm = None;
    }
    Ok((hello.tools.unwrap_or_default(), capacity))
}

/// Kills a worker that did not start and builds the error that says why.
async fn abandon(
    worker: WorkerId,
    reason: String,
    mut process: Started,
    run: Option<&Run>,
) -> Error {
    if let Err(err) = signal_group(process.pid, Signal::SIGKILL) {
        tracing::warn!(%worker, error = %err, "could not kill a worker that failed to start");
    }
    if process.exit.wait().await.is_none() {
        tracing::debug!(%worker, "could not reap a worker that failed to start");
    }
    // The leader is gone; whatever it started in its group goes with it.
    if let Err(err) = signal_group(process.pid, Signal::SIGKILL) {
        tracing::debug!(%worker, error = %err, "could not kill the group of a worker that failed to start");
    }
    released(run, worker, process.pid);
    process.output.settle(OUTPUT_SETTLE).await;
    Error::StartFailed {
        worker,
        reason,
        stderr_tail: process.output.tail(),
    }
}

/// Forgets a worker whose process group is gone: in the run registry and in the reaper.
pub(crate) fn released(run: Option<&Run>, worker: WorkerId, pid: u32) {
    if let Some(run) = run {
        run.worker_gone(worker);
    }
    if let Some(reaper) = reaper() {
        reaper.unregister(pid);
    }
}

/// Flushes the worker's released memfds on the runtime as soon as a first one waits, so an
/// idle worker may reuse them before its next call (a call would carry them too).
fn wake_on_release(shared: &Arc<Shared>) {
    let runtime = tokio::runtime::Handle::current();
    let weak = Arc::downgrade(shared);
    shared.shm.releases().on_first(move || {
        let weak = weak.clone();
        runtime.spawn(async move {
            if let Some(shared) = weak.upgrade() {
                // A failed write has killed the worker already; nothing is left to release.
                let _ = shared.flush_releases().await;
            }
        });
    });
}
