//! Errors of session-store operations.
//!
//! One enum, [`SessionError`], covers every way a store operation can fail: an unknown or
//! expired session, a full store, and the variable and program lookups and validations. It
//! converts into the crate's [`Error`](crate::Error) through `Error::Session`.

/// What went wrong in a session-store operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// No session has this id (or it expired).
    #[error("no session `{0}`")]
    NotFound(String),
    /// A session with this id already exists.
    #[error("session `{0}` already exists")]
    AlreadyExists(String),
    /// The store already holds its maximum number of live sessions.
    #[error("the session store is full: it holds at most {max} sessions")]
    TooMany {
        /// The configured maximum ([`SessionStoreConfig::max_sessions`](super::SessionStoreConfig::max_sessions)).
        max: usize,
    },
    /// The session has no variable of this name.
    #[error("no variable `{name}` in session `{session}`")]
    VariableNotFound {
        /// The session.
        session: String,
        /// The variable's name.
        name: String,
    },
    /// The session already has a variable of this name.
    #[error("variable `{name}` already exists in session `{session}`")]
    VariableExists {
        /// The session.
        session: String,
        /// The variable's name.
        name: String,
    },
    /// A variable's value does not match its type or breaks one of its constraints, or the
    /// constraints themselves are not valid for the type. The stored value is unchanged.
    #[error("invalid variable `{name}`: {reason}")]
    InvalidVariable {
        /// The variable's name.
        name: String,
        /// Which rule was broken, for example `expected an integer, got a float (1.5)`.
        reason: String,
    },
    /// Neither the session nor the global programs have a program of this id.
    #[error("no program `{program}` in session `{session}` or among the global programs")]
    ProgramNotFound {
        /// The session.
        session: String,
        /// The program's id.
        program: String,
    },
}
