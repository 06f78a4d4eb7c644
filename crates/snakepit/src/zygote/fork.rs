//! One worker forked by the zygote: its link and output pipes are made here and passed to
//! the zygote; the host keeps its ends, registers the child with the reaper, and watches its
//! end through the zygote's report or, once the zygote is gone, a pidfd.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::sync::oneshot;

use super::Zygote;
use crate::error::{Error, Result};
use crate::process::{
    LinkMode, LinkReader, LinkWriter, OutputTail, SHM_FD, fork_pipe, reaper, wait_for_end,
};
use crate::worker::WorkerId;

/// How long the zygote's exit report is awaited once a pidfd says the worker is gone.
const REPORT_GRACE: Duration = Duration::from_millis(300);

/// A worker the zygote forked: like a spawned process, but its end arrives on a channel
/// because the host is not its parent.
pub(crate) struct ForkedProcess {
    pub(crate) pid: u32,
    pub(crate) reader: LinkReader,
    pub(crate) writer: LinkWriter,
    pub(crate) output: OutputTail,
    /// The host's end of the worker's fd channel (shared memory).
    pub(crate) shm: OwnedFd,
    pub(crate) exit: oneshot::Receiver<io::Result<ExitStatus>>,
}

/// Forks one worker from `zygote`: makes its link, its fd channel (shared memory) and its
/// stdout/stderr pipes, sends the child's ends with the fork request, and starts watching its end.
///
/// # Errors
///
/// [`Error::Io`] when a descriptor cannot be made; [`Error::Config`] carrying the reason
/// when the zygote does not fork (the caller then spawns instead).
pub(crate) async fn fork_worker(
    zygote: &Zygote,
    worker: WorkerId,
    link: LinkMode,
    timeout: Duration,
) -> Result<ForkedProcess> {
    let io_error = |context: &str| {
        let context = context.to_owned();
        move |source| Error::Io { context, source }
    };
    // The link is made exactly as for a spawned worker (see `crate::process`).
    let Some((host, child)) = crate::process::make_link(link)? else {
        return Err(Error::Config(
            "a forked worker needs a socketpair or pipes for its link".to_owned(),
        ));
    };
    let link_env = child.env_value();
    // The fd channel is made exactly as for a spawned worker (see `crate::shm`).
    let (shm_host, shm_child) = crate::shm::pair()?;
    let (stdout_read, stdout_write) = fork_pipe()?;
    let (stderr_read, stderr_write) = fork_pipe()?;
    let mut fds: Vec<(i32, OwnedFd)> = child
        .placed
        .into_iter()
        .map(|(fd, number)| (number, fd))
        .collect();
    fds.extend([(SHM_FD, shm_child), (1, stdout_write), (2, stderr_write)]);
    let worker_id = worker.to_string();
    let shm_env = SHM_FD.to_string();
    let env = [
        ("SNAKEPIT_WORKER_ID", std::ffi::OsStr::new(&worker_id)),
        ("SNAKEPIT_FD", std::ffi::OsStr::new(&link_env)),
        ("SNAKEPIT_SHM_FD", std::ffi::OsStr::new(&shm_env)),
    ];
    let (pid, status) = zygote
        .fork(&fds, &env, timeout)
        .await
        .map_err(Error::Config)?;
    // The child holds its ends now; the host's copies must go, or end-of-file never comes.
    drop(fds);
    if let Some(reaper) = reaper() {
        reaper.register(pid);
    }
    let stdout = tokio::net::unix::pipe::Receiver::from_owned_fd(stdout_read)
        .map_err(io_error("could not watch a forked worker's stdout"))?;
    let stderr = tokio::net::unix::pipe::Receiver::from_owned_fd(stderr_read)
        .map_err(io_error("could not watch a forked worker's stderr"))?;
    let output = OutputTail::capture(worker, Some(stdout), Some(stderr));
    let (reader, writer) = host.into_async()?;
    let (sender, exit) = oneshot::channel();
    tokio::spawn(async move {
        // The supervisor may be gone; then nobody needs the status.
        let _unheard = sender.send(watch_end(pid, status).await);
    });
    Ok(ForkedProcess {
        pid,
        reader,
        writer,
        output,
        shm: shm_host,
        exit,
    })
}

/// Waits for the end of a forked worker: the zygote's report carries its wait status; when
/// the zygote is gone, a pidfd says when it ended (its status is then unknown).
async fn watch_end(pid: u32, report: oneshot::Receiver<i32>) -> io::Result<ExitStatus> {
    let unknown = || io::Error::other("the worker's zygote is gone: its exit status is unknown");
    let report = async { report.await.ok() };
    tokio::pin!(report);
    let ended = wait_for_end(pid);
    tokio::pin!(ended);
    let mut zygote_gone = false;
    loop {
        tokio::select! {
            raw = &mut report, if !zygote_gone => match raw {
                Some(raw) => return Ok(ExitStatus::from_raw(raw)),
                None => zygote_gone = true,
            },
            ended = &mut ended => {
                if zygote_gone {
                    return Err(unknown());
                }
                if let Err(err) = ended {
                    tracing::debug!(pid, error = %err, "no pidfd; waiting for the zygote's report");
                    return report.await.map(ExitStatus::from_raw).ok_or_else(unknown);
                }
                return match tokio::time::timeout(REPORT_GRACE, report).await {
                    Ok(Some(raw)) => Ok(ExitStatus::from_raw(raw)),
                    _ => Err(unknown()),
                };
            }
        }
    }
}
