//! [`HostToolError`]: how a host tool fails, as the worker sees it.

use std::fmt;

/// A host tool's failure: a type name and a message, delivered to the worker as the
/// exception of its `call_host_tool`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostToolError {
    /// The error's type name, such as `HostToolError` or `InvalidArguments`.
    pub kind: String,
    /// What went wrong.
    pub message: String,
}

impl HostToolError {
    /// A failure of the default kind, `HostToolError`.
    pub fn new(message: impl Into<String>) -> Self {
        Self::with_kind("HostToolError", message)
    }

    /// A failure of `kind`.
    pub fn with_kind(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for HostToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for HostToolError {}

impl From<String> for HostToolError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for HostToolError {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}
