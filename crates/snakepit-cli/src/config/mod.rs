//! `snakepit.toml`: named pools with their adapters and every pool setting, read, checked
//! and resolved by the CLI (the library reads no config file; it gets plain builders and a
//! [`snakepit::Pools`]).
//!
//! - `schema`: the file's shape (serde), `value`: its value types (durations, sizes, ...);
//! - `library`: the library's defaults in, the library's settings out;
//! - `load`: finding the file, [`Config`], choosing a pool, printing it back;
//! - `env`: `SNAKEPIT_POOL_<NAME>_<KEY>` overrides, `resolve`: paths, interpreters, defaults;
//! - `error`: [`ConfigError`] naming file, line and key;
//! - `build`: pool builders, `flags`: command-line flags over a pool from the file.
//!
//! The keys, their defaults and the overrides are documented in `docs/config.md`.

mod build;
mod env;
mod error;
mod flags;
mod library;
mod load;
mod resolve;
mod schema;
mod value;

#[cfg(test)]
mod tests;

pub(crate) use build::pool_builder as table_pool_builder;
pub(crate) use error::ConfigError;
pub(crate) use flags::pool_builder as pool_builder_with_flags;
pub(crate) use load::{CONFIG_ENV, Config, locate};
