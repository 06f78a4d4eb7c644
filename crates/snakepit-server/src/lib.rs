//! The snakepit server: named [`snakepit::Pool`]s behind an HTTP/JSON API any language can
//! call, Server-Sent Events for streaming calls and pool events, and a live dashboard.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use snakepit::{Pool, PythonAdapter};
//! use snakepit_server::{PoolDef, Server, ServerConfig};
//!
//! let pools = vec![PoolDef::new(
//!     "default",
//!     "showcase",
//!     Pool::builder(PythonAdapter::showcase()).size(2),
//! )];
//! let server = Server::start(ServerConfig::default(), pools).await?;
//! println!("listening on http://{}", server.local_addr()?);
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
//!
//! The routes, error kinds and status codes are in [`api`] and in the OpenAPI document the
//! server serves at `/openapi.json` ([`api::OPENAPI`]); the design is in
//! `docs/design/serve.md`.

pub mod api;
pub mod auth;
pub mod dispatch;
pub mod error;
pub mod forward;
pub mod monitor;
pub mod reload;
pub mod server;
pub mod state;

pub use auth::Token;
pub use error::{ApiError, ServerError};
pub use reload::{PoolDef, ReloadReport};
pub use server::{DEFAULT_BIND, Server, ServerConfig, ServerHandle};
