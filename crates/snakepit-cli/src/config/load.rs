//! [`Config`]: finding `snakepit.toml`, reading it into the schema, checking it, applying
//! the environment's overrides and completing it; choosing a pool; printing it back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::ConfigError;
use super::schema::{FileTable, PoolName, PoolTable};
use super::{env, resolve};

/// The environment variable naming the config file.
pub(crate) const CONFIG_ENV: &str = "SNAKEPIT_CONFIG";

/// The file looked for in the current directory.
pub(crate) const DEFAULT_FILE: &str = "snakepit.toml";

/// The name of the pool used when none is asked for and the file has several.
pub(crate) const DEFAULT_POOL: &str = "default";

/// A config file, checked and completed: every default filled in, the environment's
/// overrides applied, paths absolute, each Python pool's interpreter chosen.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The file, as it was named.
    pub(crate) path: PathBuf,
    /// The resolved contents.
    pub(crate) file: FileTable,
    /// The environment overrides applied, as `NAME=value`.
    pub(crate) overrides: Vec<String>,
    /// Where each Python pool's interpreter came from.
    pub(crate) notes: Vec<String>,
}

/// The config file to use: `explicit` (from `--config`), else `$SNAKEPIT_CONFIG`, else
/// `./snakepit.toml` when it exists; `None` when there is none.
///
/// # Errors
///
/// A file named by `--config` or `$SNAKEPIT_CONFIG` that does not exist.
pub(crate) fn locate(explicit: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    if let Some(path) = explicit {
        if !path.is_file() {
            bail!("config file {} does not exist", path.display());
        }
        return Ok(Some(path.to_path_buf()));
    }
    if let Some(path) = std::env::var_os(CONFIG_ENV).filter(|value| !value.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!(
                "config file {} (from ${CONFIG_ENV}) does not exist",
                path.display()
            );
        }
        return Ok(Some(path));
    }
    let path = PathBuf::from(DEFAULT_FILE);
    Ok(path.is_file().then_some(path))
}

impl Config {
    /// Reads and resolves the file at `path`, with this process's environment.
    ///
    /// # Errors
    ///
    /// An unreadable file, or a [`ConfigError`] naming file, line and key.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read config file {}", path.display()))?;
        let vars: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect();
        let config = Self::parse(path, &text, &vars)?;
        Ok(config)
    }

    /// Resolves `text`, the contents of `path`, with the environment `vars`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming file, line and key, or the environment variable.
    pub(crate) fn parse(
        path: &Path,
        text: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut file: FileTable = toml::from_str(text)
            .map_err(|err| ConfigError::at(path, text, err.span(), err.message()))?;
        for (_, pool) in &file.pools.0 {
            resolve::check_adapter(&pool.adapter, &|span, message| {
                ConfigError::at(path, text, span, &message)
            })?;
            resolve::check_profile(pool, &|span, message| {
                ConfigError::at(path, text, span, &message)
            })?;
        }
        let applied = env::apply(&mut file, vars, path)?;
        for variable in &applied.unused {
            tracing::warn!(
                "{variable} names no pool and key of {}; ignored",
                path.display()
            );
        }
        let dir = file_dir(path);
        let notes = resolve::complete(&mut file, &dir);
        Ok(Self {
            path: path.to_path_buf(),
            file,
            overrides: applied.applied,
            notes,
        })
    }

    /// The pool named `name`; without a name, the pool named `default`, else the only one.
    ///
    /// # Errors
    ///
    /// No such pool, or no way to choose one.
    pub(crate) fn pool(&self, name: Option<&str>) -> anyhow::Result<(&PoolName, &PoolTable)> {
        let pools = &self.file.pools.0;
        let names = || {
            pools
                .iter()
                .map(|(name, _)| name.get_ref().0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let find = |wanted: &str| {
            pools
                .iter()
                .find(|(name, _)| name.get_ref().0 == wanted)
                .map(|(name, table)| (name.get_ref(), table))
        };
        if pools.is_empty() {
            bail!("{} defines no pools", self.path.display());
        }
        match name {
            Some(wanted) => find(wanted).with_context(|| {
                format!(
                    "{} has no pool `{wanted}` (its pools: {})",
                    self.path.display(),
                    names()
                )
            }),
            None => match find(DEFAULT_POOL) {
                Some(found) => Ok(found),
                None if pools.len() == 1 => Ok((pools[0].0.get_ref(), &pools[0].1)),
                None => bail!(
                    "{} has several pools and none named `{DEFAULT_POOL}`: choose one with --pool ({})",
                    self.path.display(),
                    names()
                ),
            },
        }
    }

    /// The resolved file as TOML, which reads back to the same settings.
    ///
    /// # Errors
    ///
    /// A value TOML cannot hold (a path that is not UTF-8).
    pub(crate) fn to_toml(&self) -> anyhow::Result<String> {
        toml::to_string(&self.file).context("could not print the config as TOML")
    }
}

/// The absolute directory of `path`, against which its relative paths are taken.
fn file_dir(path: &Path) -> PathBuf {
    let parent = path.parent().unwrap_or(Path::new(""));
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    std::path::absolute(parent)
        .map(|dir| resolve::absolute(&dir, Path::new(".")))
        .unwrap_or_else(|_| parent.to_path_buf())
}
