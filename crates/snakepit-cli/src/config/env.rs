//! Environment overrides of the common pool keys: `SNAKEPIT_POOL_<NAME>_<KEY>`, where
//! `<NAME>` is the pool's name upper-cased with `-` as `_`. They win over the file; a bad
//! value is an error naming the variable. A `SNAKEPIT_POOL_` variable that matches no pool
//! and key is reported as a warning (it may belong to another config file).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Deserialize as _;
use serde::de::IntoDeserializer as _;
use toml::Spanned;

use super::ConfigError;
use super::schema::{AdapterKind, AffinityName, FileTable, PoolTable, ProfileName};
use super::value::{Count, Dur, NonZeroDur};

/// The prefix of every pool override.
pub(crate) const PREFIX: &str = "SNAKEPIT_POOL_";

/// The overridable keys: the variable's suffix and the key it sets.
pub(crate) const KEYS: [(&str, &str); 10] = [
    ("SIZE", "size"),
    ("MAX_QUEUE", "max_queue"),
    ("STARTUP_TIMEOUT", "startup_timeout"),
    ("QUEUE_TIMEOUT", "queue_timeout"),
    ("CALL_TIMEOUT", "call_timeout"),
    ("AFFINITY", "affinity"),
    ("PROFILE", "profile"),
    ("CAPACITY", "capacity"),
    ("MAX_RETRIES", "retry.max_retries"),
    ("PYTHON", "adapter.python"),
];

/// What applying the overrides did.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// The variables applied, as `NAME=value`.
    pub(crate) applied: Vec<String>,
    /// `SNAKEPIT_POOL_` variables that name no pool and key.
    pub(crate) unused: Vec<String>,
}

/// Applies the overrides in `vars` to the pools of `file` (read from `path`).
///
/// # Errors
///
/// A bad value, naming the variable; two pools whose names read the same in a variable.
pub(crate) fn apply(
    file: &mut FileTable,
    vars: &BTreeMap<String, String>,
    path: &std::path::Path,
) -> Result<Applied, ConfigError> {
    let mut owners: BTreeMap<String, &str> = BTreeMap::new();
    for (name, _) in &file.pools.0 {
        let name = name.get_ref();
        if let Some(other) = owners.insert(name.env_name(), &name.0) {
            return Err(ConfigError::in_file(
                path,
                Some(format!("pools.{name}")),
                format!(
                    "pools `{other}` and `{name}` have the same name in environment variables ({PREFIX}{}_...)",
                    name.env_name()
                ),
            ));
        }
    }
    let mut result = Applied::default();
    let mut known = Vec::new();
    for (name, pool) in &mut file.pools.0 {
        let name = name.get_ref();
        let mut profile_vars = Vec::new();
        for (suffix, key) in KEYS {
            let variable = format!("{PREFIX}{}_{suffix}", name.env_name());
            known.push(variable.clone());
            let Some(value) = vars.get(&variable) else {
                continue;
            };
            let full_key = format!("pools.{name}.{key}");
            set(pool, suffix, value)
                .map_err(|message| ConfigError::in_env(&variable, full_key, message))?;
            if matches!(suffix, "PROFILE" | "CAPACITY") {
                profile_vars.push(variable.clone());
            }
            result.applied.push(format!("{variable}={value}"));
        }
        // A profile or capacity from the environment must agree with the other, wherever
        // that one comes from.
        if !profile_vars.is_empty() {
            super::resolve::check_profile(pool, &|_, message| {
                ConfigError::in_env(
                    &profile_vars.join(", $"),
                    format!("pools.{name}.profile"),
                    message,
                )
            })?;
        }
    }
    result.unused = vars
        .keys()
        .filter(|variable| variable.starts_with(PREFIX) && !known.contains(variable))
        .cloned()
        .collect();
    Ok(result)
}

fn set(pool: &mut PoolTable, suffix: &str, value: &str) -> Result<(), String> {
    fn parse<T: FromStr<Err = String>>(value: &str) -> Result<T, String> {
        value.parse()
    }
    fn number<T: FromStr>(value: &str) -> Result<T, String> {
        value
            .trim()
            .parse()
            .map_err(|_| format!("`{value}` is not a whole number"))
    }
    match suffix {
        "SIZE" => pool.size = parse::<Count>(value)?,
        "MAX_QUEUE" => pool.max_queue = number(value)?,
        "STARTUP_TIMEOUT" => pool.startup_timeout = parse::<NonZeroDur>(value)?,
        "QUEUE_TIMEOUT" => pool.queue_timeout = parse::<Dur>(value)?,
        "CALL_TIMEOUT" => pool.call_timeout = parse::<NonZeroDur>(value)?,
        "AFFINITY" => {
            pool.affinity = AffinityName::deserialize(value.trim().into_deserializer()
                as serde::de::value::StrDeserializer<'_, serde::de::value::Error>)
            .map_err(|err| err.to_string())?;
        }
        "PROFILE" => {
            let profile = ProfileName::deserialize(value.trim().into_deserializer()
                as serde::de::value::StrDeserializer<'_, serde::de::value::Error>)
            .map_err(|err| err.to_string())?;
            pool.profile = Spanned::new(0..0, profile);
        }
        "CAPACITY" => pool.capacity = Some(Spanned::new(0..0, parse::<Count>(value)?)),
        "MAX_RETRIES" => pool.retry.max_retries = number(value)?,
        "PYTHON" => {
            if pool.adapter.kind() != AdapterKind::Python {
                return Err("the pool's adapter is not a Python adapter".to_owned());
            }
            if value.is_empty() {
                return Err("is empty".to_owned());
            }
            pool.adapter.python = Some(Spanned::new(0..0, PathBuf::from(value)));
        }
        other => unreachable!("KEYS lists no `{other}`"),
    }
    Ok(())
}
