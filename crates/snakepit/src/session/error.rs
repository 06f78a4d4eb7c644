//! Errors of session-store operations.

/// What went wrong in a session-store operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// No session has this id (or it expired).
    #[error("no session `{0}`")]
    NotFound(String),
}
