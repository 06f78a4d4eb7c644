//! Tests of the config module as a whole, with helpers they share: `parse` (a full file,
//! defaults, paths, interpreters, printing back), `errors` (every kind of error
//! with its file, line and key) and `env` (environment overrides).

mod env;
mod errors;
mod parse;

use std::collections::BTreeMap;
use std::path::Path;

use super::{Config, ConfigError};

pub(super) fn parse_with(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    Config::parse(Path::new("/project/snakepit.toml"), text, &vars)
}

pub(super) fn parse(text: &str) -> Config {
    parse_with(text, &[]).unwrap_or_else(|err| panic!("{err}"))
}

/// Parses `text`, expects an error, and checks its line and key and that its message
/// names all three.
pub(super) fn error(text: &str, line: usize, key: &str) -> String {
    let err = parse_with(text, &[]).expect_err("the file is invalid");
    let message = err.to_string();
    assert_eq!(err.line(), Some(line), "{message}");
    assert_eq!(err.key(), Some(key), "{message}");
    assert!(
        message.starts_with(&format!("/project/snakepit.toml:{line}: {key}: ")),
        "{message}"
    );
    message
}
