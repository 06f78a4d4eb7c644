//! [`WorkerError`] and [`ErrorKind`]: an exception raised by a worker's tool, as data.

use std::fmt;

/// An error the worker's code reported: for Python, the exception's type, message and
/// traceback.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{command}` failed: {kind}: {message}")]
pub struct WorkerError {
    /// The exception type, such as [`ErrorKind::ValueError`], or one of the runtime's own
    /// kinds (`UnknownCommand`, `InvalidArguments`, `Cancelled`, `SerializationError`).
    pub kind: ErrorKind,
    /// The exception's message.
    pub message: String,
    /// The formatted traceback, when the worker sent one.
    pub traceback: Option<String>,
    /// The command that failed.
    pub command: String,
}

/// The kind of a worker error: the common Python built-in exceptions, the runtime's own
/// kinds, and anything else by name. Compares equal to its name as a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `ValueError`
    ValueError,
    /// `TypeError`
    TypeError,
    /// `KeyError`
    KeyError,
    /// `IndexError`
    IndexError,
    /// `AttributeError`
    AttributeError,
    /// `RuntimeError`
    RuntimeError,
    /// `ZeroDivisionError`
    ZeroDivisionError,
    /// `ArithmeticError` and `OverflowError`
    ArithmeticError,
    /// `NotImplementedError`
    NotImplementedError,
    /// `AssertionError`
    AssertionError,
    /// `ImportError` and `ModuleNotFoundError`
    ImportError,
    /// `FileNotFoundError`
    FileNotFoundError,
    /// `PermissionError`
    PermissionError,
    /// `OSError`
    OsError,
    /// `TimeoutError`
    TimeoutError,
    /// `MemoryError`
    MemoryError,
    /// `RecursionError`
    RecursionError,
    /// The worker has no tool of that name.
    UnknownCommand,
    /// The arguments did not fit the tool's signature.
    InvalidArguments,
    /// The call was cancelled.
    Cancelled,
    /// The result could not be encoded.
    SerializationError,
    /// A host tool the worker called failed.
    HostToolError,
    /// A classic worker's error (a bare message).
    Error,
    /// Any other exception type, by name.
    Other(String),
}

/// The kinds with a variant of their own, and their names.
const KINDS: [(ErrorKind, &str); 23] = [
    (ErrorKind::ValueError, "ValueError"),
    (ErrorKind::TypeError, "TypeError"),
    (ErrorKind::KeyError, "KeyError"),
    (ErrorKind::IndexError, "IndexError"),
    (ErrorKind::AttributeError, "AttributeError"),
    (ErrorKind::RuntimeError, "RuntimeError"),
    (ErrorKind::ZeroDivisionError, "ZeroDivisionError"),
    (ErrorKind::ArithmeticError, "ArithmeticError"),
    (ErrorKind::NotImplementedError, "NotImplementedError"),
    (ErrorKind::AssertionError, "AssertionError"),
    (ErrorKind::ImportError, "ImportError"),
    (ErrorKind::FileNotFoundError, "FileNotFoundError"),
    (ErrorKind::PermissionError, "PermissionError"),
    (ErrorKind::OsError, "OSError"),
    (ErrorKind::TimeoutError, "TimeoutError"),
    (ErrorKind::MemoryError, "MemoryError"),
    (ErrorKind::RecursionError, "RecursionError"),
    (ErrorKind::UnknownCommand, "UnknownCommand"),
    (ErrorKind::InvalidArguments, "InvalidArguments"),
    (ErrorKind::Cancelled, "Cancelled"),
    (ErrorKind::SerializationError, "SerializationError"),
    (ErrorKind::HostToolError, "HostToolError"),
    (ErrorKind::Error, "Error"),
];

impl ErrorKind {
    /// The kind a worker named. Aliases map to their family (`ModuleNotFoundError` is an
    /// [`ErrorKind::ImportError`], `OverflowError` an [`ErrorKind::ArithmeticError`]).
    pub fn from_name(name: &str) -> Self {
        let name = match name {
            "ModuleNotFoundError" => "ImportError",
            "OverflowError" => "ArithmeticError",
            "IOError" => "OSError",
            other => other,
        };
        KINDS
            .iter()
            .find(|(_, known)| *known == name)
            .map_or_else(|| Self::Other(name.to_owned()), |(kind, _)| kind.clone())
    }

    /// The kind's name (for `Other`, the name the worker gave).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(name) => name,
            known => KINDS
                .iter()
                .find(|(kind, _)| kind == known)
                .map_or("Other", |(_, name)| name),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ErrorKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
