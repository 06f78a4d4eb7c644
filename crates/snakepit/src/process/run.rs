//! Short-lived helper processes run to completion (an interpreter asked a question, an
//! installer): output captured line by line, a deadline, and the whole process group killed
//! when the deadline passes.

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Read};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::unix::signal_group;
use crate::error::{Error, Result};

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pipe {
    Stdout,
    Stderr,
}

/// What a helper process left behind.
#[derive(Debug, Clone)]
pub(crate) struct RunOutput {
    /// The exit code, or `None` when a signal ended it.
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl RunOutput {
    /// Whether the process exited with code 0.
    pub(crate) fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// One helper process to run.
#[derive(Debug, Clone)]
pub(crate) struct RunRequest {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) timeout: Duration,
}

impl RunRequest {
    pub(crate) fn new<I, S>(program: &Path, args: I, timeout: Duration) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Self {
            program: program.to_path_buf(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            cwd: None,
            timeout,
        }
    }
}

/// Runs `request` to completion in its own process group, calling `on_line` with every line
/// it prints as the line arrives, and returns its exit code and output.
///
/// # Errors
///
/// [`Error::Spawn`] (with the operating system's reason) when it cannot start;
/// [`Error::Io`] when it outlives its timeout (its group is killed first).
#[expect(
    clippy::disallowed_methods,
    reason = "a short-lived helper process in its own group, run to completion and reaped here"
)]
pub(crate) fn run_lines(
    request: &RunRequest,
    on_line: &mut dyn FnMut(Pipe, &str),
) -> Result<RunOutput> {
    let mut command = std::process::Command::new(&request.program);
    command
        .args(&request.args)
        .envs(request.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = &request.cwd {
        command.current_dir(dir);
    }
    let mut child = command.spawn().map_err(|source| Error::Spawn {
        program: request.program.clone(),
        source,
    })?;
    let (sender, lines) = mpsc::channel();
    // Each reader thread ends when its pipe closes; once both have, the channel disconnects.
    if let Some(out) = child.stdout.take() {
        forward(out, Pipe::Stdout, sender.clone());
    }
    if let Some(err) = child.stderr.take() {
        forward(err, Pipe::Stderr, sender.clone());
    }
    drop(sender);
    let deadline = Instant::now() + request.timeout;
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok((pipe, line)) => {
                on_line(pipe, &line);
                let buffer = if pipe == Pipe::Stdout {
                    &mut stdout
                } else {
                    &mut stderr
                };
                buffer.push_str(&line);
                buffer.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
        }
    }
    if timed_out {
        if let Err(err) = signal_group(child.id(), Signal::SIGKILL) {
            tracing::debug!(error = %err, "could not kill a helper process group");
        }
    }
    let status = child.wait().map_err(|source| Error::Io {
        context: format!("could not wait for `{}`", request.program.display()),
        source,
    })?;
    if timed_out {
        return Err(Error::Io {
            context: format!(
                "`{}` did not finish within {:?} and was killed",
                request.program.display(),
                request.timeout
            ),
            source: std::io::Error::from(std::io::ErrorKind::TimedOut),
        });
    }
    Ok(RunOutput {
        code: status.code(),
        stdout,
        stderr,
    })
}

fn forward<R: Read + Send + 'static>(pipe: R, which: Pipe, sender: mpsc::Sender<(Pipe, String)>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    let text = text.trim_end_matches(['\n', '\r']);
                    // pip redraws progress with carriage returns; keep the last state.
                    let text = text.rsplit('\r').next().unwrap_or_default().to_owned();
                    if sender.send((which, text)).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_arrive_in_order_and_the_exit_code_is_kept() {
        let request = RunRequest::new(
            Path::new("sh"),
            ["-c", "echo one; echo two >&2; echo three; exit 3"],
            Duration::from_secs(30),
        );
        let mut seen = Vec::new();
        let output = run_lines(&request, &mut |pipe, line| {
            seen.push((pipe, line.to_owned()))
        })
        .unwrap();
        assert_eq!(output.code, Some(3));
        assert_eq!(output.stdout, "one\nthree\n");
        assert_eq!(output.stderr, "two\n");
        assert!(seen.contains(&(Pipe::Stderr, "two".to_owned())));
    }

    #[test]
    fn a_process_past_its_deadline_is_killed_with_its_group() {
        let request = RunRequest::new(
            Path::new("sh"),
            ["-c", "sleep 60 & sleep 60"],
            Duration::from_millis(300),
        );
        let started = Instant::now();
        let err = run_lines(&request, &mut |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("did not finish"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn a_missing_program_keeps_the_os_reason() {
        let request = RunRequest::new(
            Path::new("/nonexistent/python"),
            Vec::<OsString>::new(),
            Duration::from_secs(5),
        );
        let err = run_lines(&request, &mut |_, _| {}).unwrap_err();
        let Error::Spawn { source, .. } = err else {
            panic!("expected a spawn error, got {err:?}");
        };
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    }
}
