//! Exit codes, one per class of failure, and the one place a failure is printed.
//!
//! A command returns an `anyhow::Error`; [`code_of`] finds its class by walking the error's
//! chain for a [`Failure`] tag or a `snakepit::Error`, and [`report`] prints it once on
//! stderr, red only on a terminal and never under `NO_COLOR`.

use std::fmt;
use std::io::IsTerminal as _;

/// What a failure was, and the exit code it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    /// Success.
    Success = 0,
    /// Any other failure (a file that cannot be written, ...).
    Failure = 1,
    /// The command line was wrong (a flag, `--args` that is not a JSON object).
    Usage = 2,
    /// The workers did not start (interpreter missing or too old, adapter not importable).
    Start = 3,
    /// The tool raised an exception.
    WorkerException = 4,
    /// The call, or its wait for a worker, timed out.
    Timeout = 5,
    /// The pool refused the call: its queue is full, its circuit is open, the session busy.
    Saturated = 6,
    /// The worker died (or broke the protocol) during the call, or its session is lost.
    WorkerLost = 7,
    /// `doctor` or `bench --check` found a problem.
    CheckFailed = 8,
    /// Stopped by Ctrl-C (SIGINT).
    Interrupted = 130,
    /// Stopped by SIGTERM.
    Terminated = 143,
}

/// The exit codes, as `--help` lists them.
pub(crate) const HELP: &str = "\
Exit codes:
  0    success
  1    other failure
  2    usage: a bad flag or --args
  3    the workers did not start (interpreter, Python version, adapter import)
  4    the tool raised an exception
  5    timeout (the call, or the wait for a free worker)
  6    refused: queue full, circuit open, session busy
  7    the worker died or broke the protocol during the call; session lost
  8    a check failed (doctor, bench --check)
  130  interrupted (Ctrl-C); 143 terminated (SIGTERM)";

/// A failure whose class is known where it happens, put in an error's chain with
/// `anyhow::Error::context`.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) code: Code,
    pub(crate) message: String,
}

impl Failure {
    /// A failure of class `code`, described by `message`.
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// A usage error: `anyhow::Error` of class [`Code::Usage`].
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure::new(Code::Usage, message))
}

/// The class of a library error.
pub(crate) fn code_of_library(err: &snakepit::Error) -> Code {
    use snakepit::Error as E;
    match err {
        E::Worker(_) => Code::WorkerException,
        E::Timeout { .. } | E::QueueTimeout { .. } => Code::Timeout,
        E::PoolSaturated { .. } | E::CircuitOpen { .. } | E::SessionBusy { .. } => Code::Saturated,
        E::WorkerExited { .. } | E::WorkerProtocol { .. } | E::SessionLost { .. } => {
            Code::WorkerLost
        }
        E::StartFailed { .. } | E::Spawn { .. } | E::Config(_) => Code::Start,
        E::InvalidCall { .. } => Code::Usage,
        _ => Code::Failure,
    }
}

/// The class of a command's failure: the outermost [`Failure`] tag, else the first library
/// error in the chain.
pub(crate) fn code_of(err: &anyhow::Error) -> Code {
    // A tag added with `.context(..)` is found by downcasting the error itself.
    if let Some(failure) = err.downcast_ref::<Failure>() {
        return failure.code;
    }
    for cause in err.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return failure.code;
        }
        if let Some(library) = cause.downcast_ref::<snakepit::Error>() {
            return code_of_library(library);
        }
    }
    Code::Failure
}

/// A library error as the command's failure, tagged with its class. When the workers'
/// output is being shown on stderr (not `-q`), the stderr tail a start failure or a lost
/// worker carries is left out: those lines are already on the screen, and each failure is
/// printed once.
pub(crate) fn library_failure(err: snakepit::Error, what: &str) -> anyhow::Error {
    let code = code_of_library(&err);
    let quiet = !crate::logging::output_shown();
    let shown = "(its stderr is above)";
    match err {
        snakepit::Error::StartFailed {
            worker,
            reason,
            stderr_tail,
        } if !quiet && !stderr_tail.trim().is_empty() => anyhow::Error::new(Failure::new(
            code,
            format!("{what}: worker {worker} failed to start: {reason} {shown}"),
        )),
        snakepit::Error::WorkerExited {
            worker,
            exit,
            stderr_tail,
        } if !quiet && !stderr_tail.trim().is_empty() => anyhow::Error::new(Failure::new(
            code,
            format!("{what}: worker {worker} exited during the call ({exit}) {shown}"),
        )),
        other => anyhow::Error::new(other).context(Failure::new(code, what.to_owned())),
    }
}

/// Whether stderr gets colours: a terminal, and `NO_COLOR` unset or empty.
pub(crate) fn stderr_colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether stdout gets colours: a terminal, and `NO_COLOR` unset or empty.
pub(crate) fn stdout_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Prints `err` once on stderr (`error: ...` and its causes), and returns its exit code.
pub(crate) fn report(err: &anyhow::Error) -> Code {
    let code = code_of(err);
    let (red, reset) = if stderr_colour() {
        ("\x1b[1;31m", "\x1b[0m")
    } else {
        ("", "")
    };
    // Each cause once: a cause whose text the previous one already contains adds nothing.
    let mut text = String::new();
    let mut previous = String::new();
    for cause in err.chain() {
        let line = cause.to_string();
        if line.is_empty() || previous.contains(&line) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&line);
        previous = line;
    }
    eprintln!("{red}error{reset}: {text}");
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_win_over_library_errors_and_library_errors_are_classified() {
        let timeout = anyhow::Error::new(snakepit::Error::QueueTimeout {
            waited: std::time::Duration::from_secs(1),
        });
        assert_eq!(code_of(&timeout), Code::Timeout);
        let tagged = timeout.context(Failure::new(Code::Start, "could not start"));
        assert_eq!(code_of(&tagged), Code::Start);
        assert_eq!(code_of(&usage("bad")), Code::Usage);
        assert_eq!(code_of(&anyhow::anyhow!("plain")), Code::Failure);
    }
}
