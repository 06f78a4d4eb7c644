//! Sessions: per-user or per-conversation state kept on the host, with a TTL.
//!
//! A [`SessionStore`] holds sessions by [`SessionId`]. Each session has free-form metadata,
//! programs (JSON values by id, with global programs every session can see) and typed,
//! validated [variables](Variable), each following its [`VariableSpec`]. A session expires when it has not been accessed for its
//! TTL; expired sessions are invisible at once and a background task removes them.
//!
//! The pool binds each session to the worker that ran its last call (session affinity) and
//! listens for removals, so it can tell that worker to forget the session.
//!
//! ```
//! use std::time::Duration;
//!
//! use serde_json::json;
//! use snakepit::session::{SessionStore, SessionStoreConfig, VariableSpec};
//!
//! # fn main() -> Result<(), snakepit::session::SessionError> {
//! let store = SessionStore::new(SessionStoreConfig::default());
//! store.create("user_123", Some(Duration::from_secs(7200)))?;
//! store.store_program("user_123", "prog_1", json!({"model": "gpt-4", "temperature": 0.8}))?;
//! let temperature = VariableSpec::Float { min: Some(0.0), max: Some(1.0) };
//! store.define_variable("user_123", "temperature", temperature, json!(0.7))?;
//! let temperature = store.update_variable("user_123", "temperature", json!(0.9))?;
//! assert_eq!(temperature.version, 1);
//! assert!(store.update_variable("user_123", "temperature", json!(1.5)).is_err());
//! store.update("user_123", |session| {
//!     session.metadata.insert("turns".into(), json!(1));
//! })?;
//! store.delete("user_123")?;
//! assert!(!store.exists("user_123"));
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "bench")]
pub(crate) mod bench;
mod binary;
mod config;
mod dtype;
mod error;
mod expiry;
mod flat;
mod id;
mod owner;
mod program;
mod removal;
mod shard;
mod spec;
mod state;
mod store;
mod tensor;
mod validate;
mod variable;

pub use config::{SessionStoreConfig, SessionStoreStats};
pub use dtype::Dtype;
pub use error::SessionError;
pub use flat::Constraints;
pub use id::SessionId;
pub(crate) use removal::RemovalReason;
pub(crate) use removal::RemovedSession;
pub use spec::{ItemSpec, VariableSpec};
pub use state::{Session, SessionInfo};
pub use store::SessionStore;
pub use variable::{Variable, VariableType};
