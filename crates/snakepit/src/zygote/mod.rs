//! The zygote: one fork server per pool that imports the adapter's heavy modules once and
//! forks workers on request (design: `docs/design/zygote.md`).
//!
//! The zygote is started by the spawner like a worker, with a `SOCK_SEQPACKET` control
//! socket instead of a link. For each worker the host sends a fork request carrying the
//! worker's descriptors (`SCM_RIGHTS`) with their target numbers and environment additions;
//! the zygote answers with the child's pid, reaps its children and reports their exits. A
//! reader task routes those reports. When the zygote dies, the pool warns once and starts
//! new workers with a normal spawn (`worker/start.rs`); forked workers keep serving, their
//! ends watched through a pidfd (`fork.rs`).

mod fork;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Deserialize;
use tokio::sync::oneshot;

pub(crate) use fork::fork_worker;

use crate::error::{Error, Result};
use crate::process::{
    ControlledProcess, LinkMode, OutputTail, SpawnRequest, signal_group, spawn_control,
};
use crate::registry::Run;
use crate::worker::WorkerId;

/// The largest control message the zygote sends, in bytes.
const MAX_MESSAGE: usize = 1 << 16;

/// How to start a pool's zygote.
#[derive(Debug, Clone)]
pub(crate) struct ZygoteSpec {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) startup_timeout: Duration,
    pub(crate) run: Option<Arc<Run>>,
}

/// One report from the zygote.
#[derive(Debug, Deserialize)]
struct Report {
    op: String,
    id: Option<u64>,
    pid: Option<u32>,
    status: Option<i32>,
    error: Option<String>,
    preloaded: Option<Vec<String>>,
}

/// A fork request's answer: the child's pid and where its raw wait status will arrive.
type Forked = std::result::Result<(u32, oneshot::Receiver<i32>), String>;

/// What the reader task shares with the handle.
#[derive(Debug, Default)]
struct Routes {
    alive: AtomicBool,
    /// Set when the pool stops the zygote, so its end is not reported as a death.
    stopping: AtomicBool,
    forks: Mutex<HashMap<u64, oneshot::Sender<Forked>>>,
    exits: Mutex<HashMap<u32, oneshot::Sender<i32>>>,
}

/// A running zygote.
#[derive(Debug)]
pub(crate) struct Zygote {
    id: WorkerId,
    pid: u32,
    socket: Arc<tokio::net::UnixStream>,
    routes: Arc<Routes>,
    next: AtomicU64,
    run: Option<Arc<Run>>,
    /// Taken and reaped when the zygote is stopped.
    child: Mutex<Option<tokio::process::Child>>,
    _output: OutputTail,
}

impl Zygote {
    /// Starts the zygote and waits until it has preloaded everything.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] when the program cannot run; [`Error::StartFailed`] (with its stderr
    /// tail) when it exits or is silent past the startup timeout.
    pub(crate) async fn start(spec: &ZygoteSpec) -> Result<Arc<Self>> {
        let id = WorkerId::next();
        if let Some(run) = &spec.run {
            run.worker_spawning(id);
        }
        let mut env = spec.env.clone();
        env.push(("SNAKEPIT_ZYGOTE".into(), "1".into()));
        let spawned = spawn_control(SpawnRequest {
            program: spec.program.clone(),
            args: spec.args.clone(),
            env,
            cwd: spec.cwd.clone(),
            link: LinkMode::Control,
            worker: id,
        })
        .await;
        let ControlledProcess {
            mut child,
            pid,
            control,
            output,
        } = match spawned {
            Ok(process) => process,
            Err(err) => {
                if let Some(run) = &spec.run {
                    run.worker_gone(id);
                }
                return Err(err);
            }
        };
        if let Some(run) = &spec.run {
            run.worker_spawned(id, pid);
        }
        let ready = async {
            control.set_nonblocking(true).map_err(|err| err.to_string())?;
            let socket = tokio::net::UnixStream::from_std(control).map_err(|err| err.to_string())?;
            let report = tokio::select! {
                report = read_report(&socket) => report.map_err(|err| format!("its control socket failed: {err}"))?,
                status = child.wait() => return Err(match status {
                    Ok(status) => format!("it exited ({}) before it was ready", crate::error::ExitInfo::from_status(status)),
                    Err(err) => format!("it could not be waited on: {err}"),
                }),
                () = tokio::time::sleep(spec.startup_timeout) => {
                    return Err(format!("it was not ready within {:?}", spec.startup_timeout));
                }
            };
            match report {
                Some(report) if report.op == "ready" => Ok((socket, report.preloaded.unwrap_or_default())),
                Some(report) => Err(format!("its first report is `{}`, not `ready`", report.op)),
                None => Err("it closed its control socket before it was ready".to_owned()),
            }
        }
        .await;
        let (socket, preloaded) = match ready {
            Ok(ready) => ready,
            Err(reason) => {
                let run = spec.run.clone();
                if let Err(err) = signal_group(pid, Signal::SIGKILL) {
                    tracing::debug!(error = %err, "could not kill a zygote that failed to start");
                }
                let _status = child.wait().await;
                crate::worker::released(run.as_deref(), id, pid);
                output.settle(Duration::from_millis(300)).await;
                return Err(Error::StartFailed {
                    worker: id,
                    reason: format!("the zygote did not start: {reason}"),
                    stderr_tail: output.tail(),
                });
            }
        };
        tracing::info!(zygote = %id, pid, ?preloaded, "zygote ready");
        let socket = Arc::new(socket);
        let routes = Arc::new(Routes::default());
        routes.alive.store(true, Ordering::Release);
        tokio::spawn(read_reports(Arc::clone(&socket), Arc::clone(&routes), id));
        Ok(Arc::new(Self {
            id,
            pid,
            socket,
            routes,
            next: AtomicU64::new(1),
            run: spec.run.clone(),
            child: Mutex::new(Some(child)),
            _output: output,
        }))
    }

    /// Whether the zygote still answers; a dead zygote is never asked again.
    pub(crate) fn alive(&self) -> bool {
        self.routes.alive.load(Ordering::Acquire)
    }

    /// Asks for one fork: `fds` are (target descriptor number, descriptor) pairs placed in
    /// the child, `env` is added to its environment. Returns the child's pid and the
    /// receiver of its raw wait status.
    async fn fork(
        &self,
        fds: &[(i32, std::os::fd::OwnedFd)],
        env: &[(&str, &OsStr)],
        timeout: Duration,
    ) -> std::result::Result<(u32, oneshot::Receiver<i32>), String> {
        use std::os::fd::AsRawFd;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        self.routes
            .forks
            .lock()
            .expect("zygote routes lock is never poisoned")
            .insert(id, sender);
        let env: serde_json::Map<String, serde_json::Value> = env
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.to_string_lossy().into()))
            .collect();
        let request = serde_json::json!({
            "op": "fork",
            "id": id,
            "fds": fds.iter().map(|(target, _)| *target).collect::<Vec<_>>(),
            "env": env,
        });
        let raw: Vec<i32> = fds.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
        let payload = request.to_string();
        let answer = async {
            crate::process::send_with_fds(&self.socket, payload.as_bytes(), &raw)
                .await
                .map_err(|err| format!("the fork request could not be sent: {err}"))?;
            receiver
                .await
                .map_err(|_| "the zygote is gone".to_owned())?
        };
        let outcome = tokio::time::timeout(timeout, answer)
            .await
            .unwrap_or_else(|_| Err(format!("the zygote did not fork within {timeout:?}")));
        self.routes
            .forks
            .lock()
            .expect("zygote routes lock is never poisoned")
            .remove(&id);
        outcome
    }
}

impl Zygote {
    /// Kills the zygote (its workers have groups of their own and are stopped by the pool)
    /// and forgets it in the run registry and the reaper. Later starts spawn.
    pub(crate) fn stop(&self) {
        if self.routes.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        self.routes.alive.store(false, Ordering::Release);
        // Its workers have groups of their own.
        if let Err(err) = signal_group(self.pid, Signal::SIGKILL) {
            tracing::debug!(error = %err, "could not kill the zygote");
        }
        crate::worker::released(self.run.as_deref(), self.id, self.pid);
        let child = self
            .child
            .lock()
            .expect("zygote child lock is never poisoned")
            .take();
        if let (Some(mut child), Ok(runtime)) = (child, tokio::runtime::Handle::try_current()) {
            runtime.spawn(async move { child.wait().await });
        }
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one report; `None` at end-of-file.
async fn read_report(socket: &tokio::net::UnixStream) -> std::io::Result<Option<Report>> {
    let mut buffer = vec![0u8; MAX_MESSAGE];
    loop {
        socket.readable().await?;
        match socket.try_read(&mut buffer) {
            Ok(0) => return Ok(None),
            Ok(read) => {
                return serde_json::from_slice(&buffer[..read])
                    .map(Some)
                    .map_err(std::io::Error::other);
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    }
}

/// Routes the zygote's reports until its control socket closes; then marks it dead.
async fn read_reports(socket: Arc<tokio::net::UnixStream>, routes: Arc<Routes>, id: WorkerId) {
    loop {
        let report = match read_report(&socket).await {
            Ok(Some(report)) => report,
            Ok(None) => break,
            Err(err) => {
                tracing::warn!(zygote = %id, error = %err, "unreadable zygote report");
                break;
            }
        };
        match (report.op.as_str(), report.id, report.pid) {
            ("forked", Some(request), Some(pid)) => {
                let (sender, receiver) = oneshot::channel();
                routes
                    .exits
                    .lock()
                    .expect("zygote routes lock is never poisoned")
                    .insert(pid, sender);
                if let Some(waiting) = routes
                    .forks
                    .lock()
                    .expect("zygote routes lock is never poisoned")
                    .remove(&request)
                {
                    // A requester that gave up leaves an orphan the exit path cleans up.
                    let _unheard = waiting.send(Ok((pid, receiver)));
                }
            }
            ("failed", Some(request), _) => {
                if let Some(waiting) = routes
                    .forks
                    .lock()
                    .expect("zygote routes lock is never poisoned")
                    .remove(&request)
                {
                    let error = report.error.unwrap_or_else(|| "fork failed".to_owned());
                    let _unheard = waiting.send(Err(error));
                }
            }
            ("exited", _, Some(pid)) => {
                if let Some(waiting) = routes
                    .exits
                    .lock()
                    .expect("zygote routes lock is never poisoned")
                    .remove(&pid)
                {
                    let _unheard = waiting.send(report.status.unwrap_or_default());
                }
            }
            (op, ..) => tracing::debug!(zygote = %id, op, "unexpected zygote report"),
        }
    }
    routes.alive.store(false, Ordering::Release);
    if !routes.stopping.load(Ordering::Acquire) {
        tracing::warn!(zygote = %id, "the zygote is gone; new workers are spawned without it");
    }
    routes
        .forks
        .lock()
        .expect("zygote routes lock is never poisoned")
        .clear();
    routes
        .exits
        .lock()
        .expect("zygote routes lock is never poisoned")
        .clear();
}
