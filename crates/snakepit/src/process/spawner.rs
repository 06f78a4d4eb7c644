//! The spawner: one long-lived thread that forks every worker.
//!
//! On Linux the parent-death signal fires when the *thread* that forked the child exits, not
//! the process. Spawning from tokio's worker or blocking threads, which come and go, would
//! kill workers at random; spawning from this one thread, which lives as long as the
//! process, ties each worker's life to the host's.
//!
//! A gRPC worker (`crate::grpc`) is spawned the same way, but the child gets no link: the
//! host keeps both ends of the socketpair, one for the pool and one for the translator.

use std::ffi::OsString;
#[cfg(feature = "bench")]
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::mpsc;

use tokio::process::Child;
use tokio::sync::oneshot;

use super::link::{self, ChildEnds, HostEnds, LinkMode, LinkReader, LinkWriter};
use super::output::OutputTail;
use super::reaper::Reaper;
use super::unix::{Placements, SHM_FD, prepare_child};
use crate::error::{Error, Result};
use crate::worker::WorkerId;

/// Everything needed to start one worker process.
#[derive(Debug, Clone)]
pub(crate) struct SpawnRequest {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) link: LinkMode,
    pub(crate) worker: WorkerId,
}

/// A started worker process with its link and its captured output.
pub(crate) struct SpawnedProcess {
    pub(crate) child: Child,
    pub(crate) pid: u32,
    pub(crate) reader: LinkReader,
    pub(crate) writer: LinkWriter,
    /// The host's end of the worker's fd channel (shared memory), for a socketpair link.
    pub(crate) shm: Option<OwnedFd>,
    pub(crate) output: OutputTail,
}

impl std::fmt::Debug for SpawnedProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpawnedProcess")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

type Job = Box<dyn FnOnce() + Send>;

static REAPER: OnceLock<Option<Reaper>> = OnceLock::new();

/// The reaper, once the spawner thread has forked it; `None` if that failed.
pub(crate) fn reaper() -> Option<&'static Reaper> {
    REAPER.get().and_then(Option::as_ref)
}

fn spawner() -> &'static mpsc::Sender<Job> {
    static SPAWNER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("snakepit-spawner".to_owned())
            .spawn(move || {
                // The reaper is forked before any worker, so it inherits no link.
                REAPER.get_or_init(|| match Reaper::start() {
                    Ok(reaper) => Some(reaper),
                    Err(err) => {
                        tracing::warn!(error = %err, "no reaper: processes started by workers may outlive a crashed host");
                        None
                    }
                });
                for job in receiver {
                    job();
                }
            })
            .expect("the spawner thread must start: without it no worker can");
        sender
    })
}

/// A started process before its link is wired to the runtime: the host's ends (none for a
/// stdio link) are still plain blocking descriptors.
struct Started {
    child: Child,
    pid: u32,
    host_end: Option<HostEnds>,
    shm_end: Option<OwnedFd>,
    output: OutputTail,
}

/// Forks the process on the spawner thread and captures its output; the link stays a plain
/// socket.
async fn start(mut request: SpawnRequest) -> Result<Started> {
    // A gRPC worker gets no link: the translator keeps the child's end inside the host.
    let grpc = crate::grpc::Launch::prepare(&mut request)?;
    let (host_end, child_end) = match link::make(request.link)? {
        Some((host, child)) => (Some(host), Some(child)),
        None => (None, None),
    };
    let (child_end, translator_end) = match grpc {
        Some(_) => {
            let socket = child_end.and_then(ChildEnds::into_socket).ok_or_else(|| {
                Error::Config("a gRPC worker's link must be a socketpair".to_owned())
            })?;
            (None, Some(socket))
        }
        None => (child_end, None),
    };
    // A native worker gets a second socketpair for memfds (see `crate::shm`).
    // A zygote (control link) gets none: each worker it forks gets its own with the fork
    // request (`crate::zygote::fork_worker`).
    let (shm_end, shm_child_end) = match &child_end {
        Some(_) if matches!(request.link, LinkMode::Socketpair | LinkMode::Pipes) => {
            let (host, child) = crate::shm::pair()?;
            (Some(host), Some(child))
        }
        _ => (None, None),
    };
    let runtime = tokio::runtime::Handle::current();
    let (reply, spawned) = oneshot::channel();
    let program = request.program.clone();
    let job_request = request.clone();
    let job: Job = Box::new(move || {
        // The child end must stay open until the fork is done, so it moves into the job.
        let _runtime = runtime.enter();
        let outcome = spawn_here(&job_request, child_end.as_ref(), shm_child_end.as_ref());
        drop(child_end);
        drop(shm_child_end);
        // The receiver is gone only when the caller stopped waiting; the child's kill-on-drop
        // then reaps it.
        let _unwanted = reply.send(outcome);
    });
    spawner().send(job).map_err(|_| Error::Io {
        context: "the spawner thread is gone".to_owned(),
        source: io::Error::from(io::ErrorKind::BrokenPipe),
    })?;
    let mut child = spawned
        .await
        .map_err(|_| Error::Io {
            context: "the spawner thread dropped a request".to_owned(),
            source: io::Error::from(io::ErrorKind::BrokenPipe),
        })?
        .map_err(|source| Error::Spawn { program, source })?;
    let pid = child.id().ok_or_else(|| Error::Io {
        context: "the worker exited before its pid was read".to_owned(),
        source: io::Error::from(io::ErrorKind::NotFound),
    })?;
    if let Some(reaper) = reaper() {
        reaper.register(pid);
    }
    if let (Some(launch), Some(link)) = (grpc, translator_end) {
        launch.start(link, pid)?;
    }
    // With a stdio link, stdout carries the frames and only stderr is log output.
    let log_stdout = match request.link {
        LinkMode::Socketpair | LinkMode::Pipes | LinkMode::Control => child.stdout.take(),
        LinkMode::Stdio => None,
    };
    let output = OutputTail::capture(request.worker, log_stdout, child.stderr.take());
    Ok(Started {
        child,
        pid,
        host_end,
        shm_end,
        output,
    })
}

/// Spawns a worker process in its own process group, on the spawner thread.
///
/// # Errors
///
/// [`Error::Spawn`] when the program cannot be started, [`Error::Io`] when the link cannot
/// be made.
pub(crate) async fn spawn(request: SpawnRequest) -> Result<SpawnedProcess> {
    let Started {
        mut child,
        pid,
        host_end,
        shm_end,
        output,
    } = start(request).await?;
    let (reader, writer): (LinkReader, LinkWriter) = match host_end {
        Some(host) => host.into_async()?,
        None => {
            let stdout = child.stdout.take();
            let stdin = child.stdin.take();
            match (stdout, stdin) {
                (Some(stdout), Some(stdin)) => (Box::new(stdout), Box::new(stdin)),
                _ => {
                    return Err(Error::Io {
                        context: "the worker's stdio link was not piped".to_owned(),
                        source: io::Error::from(io::ErrorKind::BrokenPipe),
                    });
                }
            }
        }
    };
    Ok(SpawnedProcess {
        child,
        pid,
        reader,
        writer,
        shm: shm_end,
        output,
    })
}

/// A started zygote: the process, the host's end of its control socket (blocking), and its
/// captured output.
#[derive(Debug)]
pub(crate) struct ControlledProcess {
    pub(crate) child: Child,
    pub(crate) pid: u32,
    pub(crate) control: StdUnixStream,
    pub(crate) output: OutputTail,
}

/// Spawns a process with a [`LinkMode::Control`] socket (a zygote), on the spawner thread.
///
/// # Errors
///
/// As [`spawn`].
pub(crate) async fn spawn_control(mut request: SpawnRequest) -> Result<ControlledProcess> {
    request.link = LinkMode::Control;
    let Started {
        child,
        pid,
        host_end,
        output,
        ..
    } = start(request).await?;
    let control = host_end
        .and_then(HostEnds::into_socket)
        .ok_or_else(|| Error::Io {
            context: "a zygote needs a control socket".to_owned(),
            source: io::Error::from(io::ErrorKind::InvalidInput),
        })?;
    Ok(ControlledProcess {
        child,
        pid,
        control,
        output,
    })
}

/// The host's ends of a started process's link as blocking files: for the blocking
/// benchmark floor, which drives its link from a plain OS thread.
#[cfg(feature = "bench")]
#[derive(Debug)]
pub(crate) struct StdLinkedProcess {
    pub(crate) child: Child,
    pub(crate) pid: u32,
    /// Where the answers are read.
    pub(crate) reader: File,
    /// Where the calls are written.
    pub(crate) writer: File,
}

/// Spawns like [`spawn`], but hands back the host's ends as blocking files instead of
/// registering them with the runtime.
///
/// # Errors
///
/// As [`spawn`]; [`Error::Io`] when `request` asks for a stdio link.
#[cfg(feature = "bench")]
pub(crate) async fn spawn_std_link(request: SpawnRequest) -> Result<StdLinkedProcess> {
    let Started {
        child,
        pid,
        host_end,
        output,
        ..
    } = start(request).await?;
    drop(output);
    let (reader, writer) = host_end
        .ok_or_else(|| Error::Io {
            context: "a blocking link needs a socketpair or pipes".to_owned(),
            source: io::Error::from(io::ErrorKind::InvalidInput),
        })?
        .into_blocking()?;
    Ok(StdLinkedProcess {
        child,
        pid,
        reader,
        writer,
    })
}

#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place that creates worker processes"
)]
fn spawn_here(
    request: &SpawnRequest,
    child_end: Option<&ChildEnds>,
    shm_end: Option<&OwnedFd>,
) -> io::Result<Child> {
    let mut command = tokio::process::Command::new(&request.program);
    command
        .args(&request.args)
        .envs(request.env.iter().map(|(key, value)| (key, value)))
        .env("SNAKEPIT_WORKER_ID", request.worker.to_string())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &request.cwd {
        command.current_dir(cwd);
    }
    match request.link {
        LinkMode::Socketpair | LinkMode::Pipes | LinkMode::Control => {
            if let Some(ends) = child_end {
                command.env("SNAKEPIT_FD", ends.env_value());
            }
            if shm_end.is_some() {
                command.env("SNAKEPIT_SHM_FD", SHM_FD.to_string());
            }
            command.stdin(Stdio::null()).stdout(Stdio::piped());
        }
        LinkMode::Stdio => {
            command.stdin(Stdio::piped()).stdout(Stdio::piped());
        }
    }
    let mut placements = Placements::default();
    for (fd, number) in child_end.map_or(&[][..], |ends| &ends.placed[..]) {
        placements.push(fd.as_raw_fd(), *number);
    }
    if let Some(fd) = shm_end {
        placements.push(fd.as_raw_fd(), SHM_FD);
    }
    prepare_child(&mut command, placements, std::process::id());
    command.spawn()
}

/// Runs a short helper program to completion and returns its trimmed stdout (used to resolve
/// an interpreter to its real path). Blocks; call it from a blocking thread.
///
/// # Errors
///
/// [`Error::Spawn`] when it cannot start, [`Error::Config`] when it fails.
#[expect(
    clippy::disallowed_methods,
    reason = "a short-lived probe process, run to completion and reaped here"
)]
pub(crate) fn run_to_string(program: &std::path::Path, args: &[&str]) -> Result<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            program: program.to_path_buf(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::Config(format!(
            "`{}` failed: {}",
            program.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
