//! Command-line flags over a pool from the config file: each worker flag that is given
//! replaces what the file says (`--adapter`, `--worker-cmd`, `--classic`, `--python`,
//! `--pool-size`), and `--python-path` adds to the file's paths.

use anyhow::{Context as _, bail};
use snakepit::PoolBuilder;
use toml::Spanned;

use super::schema::{AdapterKind, PoolTable, ProtocolName};
use super::value::{ClassPath, Count};
use super::{Config, build, resolve};
use crate::cli::WorkerArgs;

/// The pool `args` pick from `config` (`--pool`, else `default`, else the only one), with
/// the flags applied.
///
/// # Errors
///
/// No such pool, or a bad flag value.
pub(crate) fn pool_builder(config: &Config, args: &WorkerArgs) -> anyhow::Result<PoolBuilder> {
    let (name, table) = config.pool(args.pool.as_deref())?;
    let mut table = table.clone();
    apply(&mut table, args)?;
    build::pool_builder(&table).with_context(|| format!("pool `{name}`"))
}

/// Applies the flags that were given to `table`.
///
/// # Errors
///
/// A `--worker-cmd` that is not a command line, or an `--adapter` that is not
/// `package.module:Class`.
pub(crate) fn apply(table: &mut PoolTable, args: &WorkerArgs) -> anyhow::Result<()> {
    let adapter = &mut table.adapter;
    let cwd = std::env::current_dir().context("the current directory is unusable")?;
    if let Some(worker_cmd) = &args.worker_cmd {
        let words = shlex::split(worker_cmd)
            .with_context(|| format!("--worker-cmd is not a valid command line: {worker_cmd}"))?;
        if words.is_empty() {
            bail!("--worker-cmd is empty");
        }
        adapter.kind = Some(Spanned::new(0..0, AdapterKind::Generic));
        adapter.command = Some(Spanned::new(0..0, words));
        let protocol = if args.classic {
            ProtocolName::Classic
        } else {
            ProtocolName::Native
        };
        adapter.protocol = Some(Spanned::new(0..0, protocol));
        adapter.class = None;
        adapter.python = None;
        adapter.paths = None;
        adapter.bridge = None;
        // A command line given here runs from here.
        adapter.cwd = Some(cwd.clone());
    }
    if let Some(class) = &args.adapter {
        let class: ClassPath = class
            .parse()
            .map_err(|message| anyhow::anyhow!("--adapter: {message}"))?;
        if adapter
            .kind
            .as_ref()
            .is_some_and(|kind| *kind.get_ref() != AdapterKind::Python)
        {
            adapter.kind = Some(Spanned::new(0..0, AdapterKind::Python));
            adapter.command = None;
            adapter.protocol = None;
            adapter.paths = Some(Spanned::new(0..0, vec![cwd.clone()]));
        }
        adapter.class = Some(Spanned::new(0..0, class));
    }
    if let Some(python) = &args.python {
        adapter.python = Some(Spanned::new(0..0, resolve::program_path(&cwd, python)));
    }
    if !args.python_path.is_empty() {
        let mut paths = adapter
            .paths
            .take()
            .map(Spanned::into_inner)
            .unwrap_or_default();
        paths.extend(
            args.python_path
                .iter()
                .map(|dir| resolve::absolute(&cwd, dir)),
        );
        adapter.paths = Some(Spanned::new(0..0, paths));
    }
    if let Some(size) = args.pool_size {
        table.size = Count(usize::from(size));
    }
    Ok(())
}
