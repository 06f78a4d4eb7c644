//! [`ExitInfo`] and [`ExitClass`]: how a worker process ended, and what kind of end it was.

use std::fmt;

/// How a worker process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExitInfo {
    /// The exit code, when the process exited by itself.
    pub code: Option<i32>,
    /// The signal that ended the process, when a signal did.
    pub signal: Option<i32>,
    /// Whether the pool itself killed the process (deadline, protocol error, heartbeat,
    /// stop).
    pub killed_by_pool: bool,
}

/// What kind of end a worker met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitClass {
    /// It exited with code 0.
    Clean,
    /// It exited with a non-zero code.
    ExitCode(i32),
    /// It crashed with a segmentation fault (or a bus error), typically in C code.
    Segfault,
    /// It aborted (SIGABRT), typically a failed assertion in C code.
    Abort,
    /// Something outside the pool killed it with SIGKILL: the kernel's OOM killer, or an
    /// operator.
    Killed,
    /// The pool killed it.
    KilledByPool,
    /// Another signal ended it.
    Signal(i32),
    /// The status is unknown.
    Unknown,
}

impl ExitInfo {
    /// Reads the exit information out of a process status.
    pub fn from_status(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        Self {
            code: status.code(),
            signal: status.signal(),
            killed_by_pool: false,
        }
    }

    /// The kind of end this was.
    pub fn class(&self) -> ExitClass {
        if self.killed_by_pool {
            return ExitClass::KilledByPool;
        }
        match (self.code, self.signal) {
            (Some(0), _) => ExitClass::Clean,
            (Some(code), _) => ExitClass::ExitCode(code),
            (None, Some(libc::SIGSEGV | libc::SIGBUS)) => ExitClass::Segfault,
            (None, Some(libc::SIGABRT)) => ExitClass::Abort,
            (None, Some(libc::SIGKILL)) => ExitClass::Killed,
            (None, Some(signal)) => ExitClass::Signal(signal),
            (None, None) => ExitClass::Unknown,
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit code {code}")?,
            (None, Some(signal)) => {
                write!(f, "killed by signal {signal} ({})", signal_name(signal))?
            }
            (None, None) => f.write_str("unknown exit status")?,
        }
        match self.class() {
            ExitClass::Segfault => f.write_str(": a segfault"),
            ExitClass::Abort => f.write_str(": an abort"),
            ExitClass::Killed => f.write_str(": the OOM killer or an external kill"),
            ExitClass::KilledByPool => f.write_str(", by the pool"),
            _ => Ok(()),
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "other",
    }
}
