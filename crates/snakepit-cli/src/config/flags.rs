//! Command-line flags over a pool from the config file: each worker flag that is given
//! replaces what the file says (`--adapter`, `--worker-cmd`, `--classic`, `--python`,
//! `--pool-size`), and `--python-path` adds to the file's paths.

use anyhow::{Context as _, bail};
use snakepit::PoolBuilder;
use toml::Spanned;

use super::schema::{AdapterKind, AdapterTable, PoolTable, ProtocolName};
use super::value::{ClassPath, Count};
use super::{Config, build, resolve};
use std::path::Path;

use crate::cli::{Runtime, WorkerArgs};

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
        adapter.module = None;
        adapter.node = None;
        // A command line given here runs from here.
        adapter.cwd = Some(cwd.clone());
    }
    let node = match args.runtime {
        Some(runtime) => runtime == Runtime::Node,
        None => adapter.kind() == AdapterKind::Node,
    };
    if node {
        apply_node(adapter, args, &cwd);
    } else {
        apply_python(adapter, args, &cwd)?;
    }
    if adapter.kind() != AdapterKind::Python
        && (args.python.is_some() || !args.python_path.is_empty())
    {
        bail!(
            "--python and --python-path apply to Python pools, and this pool's adapter is not one"
        );
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

/// `--adapter` for a Python pool; `--runtime python` over a node pool runs the Python
/// showcase (or `--adapter`'s class) from the current directory.
fn apply_python(adapter: &mut AdapterTable, args: &WorkerArgs, cwd: &Path) -> anyhow::Result<()> {
    if adapter.kind() == AdapterKind::Node {
        adapter.kind = Some(Spanned::new(0..0, AdapterKind::Python));
        adapter.module = None;
        adapter.node = None;
        adapter.paths = Some(Spanned::new(0..0, vec![cwd.to_path_buf()]));
        adapter.class = Some(Spanned::new(
            0..0,
            ClassPath(resolve::DEFAULT_CLASS.to_owned()),
        ));
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
            adapter.paths = Some(Spanned::new(0..0, vec![cwd.to_path_buf()]));
        }
        adapter.class = Some(Spanned::new(0..0, class));
    }
    Ok(())
}

/// `--runtime node` (or a node pool in the file): `--adapter` names the module, `--node` the
/// executable, both taken against the current directory.
fn apply_node(adapter: &mut AdapterTable, args: &WorkerArgs, cwd: &Path) {
    if adapter.kind() != AdapterKind::Node {
        adapter.kind = Some(Spanned::new(0..0, AdapterKind::Node));
        adapter.class = None;
        adapter.python = None;
        adapter.paths = None;
        adapter.bridge = None;
        adapter.command = None;
        adapter.protocol = None;
    }
    if let Some(module) = &args.adapter {
        let module = resolve::absolute(cwd, Path::new(module));
        adapter.module = Some(Spanned::new(0..0, module.to_string_lossy().into_owned()));
    }
    if let Some(node) = &args.node {
        adapter.node = Some(Spanned::new(0..0, resolve::program_path(cwd, node)));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    const FILE: &str = "[pools.py]\nsize = 4\n[pools.py.adapter]\nclass = \"a:B\"\npaths = [\"src\"]\n\n[pools.sh.adapter]\ntype = \"generic\"\ncommand = [\"./worker\"]\n\n[pools.js.adapter]\ntype = \"node\"\nmodule = \"./a.mjs:A\"\n";

    fn table_with(pool: &str, flags: &[&str]) -> anyhow::Result<PoolTable> {
        let config = Config::parse(Path::new("/p/snakepit.toml"), FILE, &BTreeMap::new())
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        let mut words = vec!["snakepit", "tools"];
        words.extend_from_slice(flags);
        let Command::Tools(args) = Cli::try_parse_from(words)?.command else {
            unreachable!("the words name `tools`")
        };
        let mut table = config.pool(Some(pool))?.1.clone();
        apply(&mut table, &args.worker)?;
        Ok(table)
    }

    #[test]
    fn flags_replace_or_extend_what_the_file_says() {
        let cwd = std::env::current_dir().unwrap();
        let table = table_with("py", &[]).unwrap();
        assert_eq!(table.size, Count(4));
        let table = table_with(
            "py",
            &[
                "--pool-size",
                "2",
                "--python-path",
                "lib",
                "--python",
                "py/bin/python",
            ],
        )
        .unwrap();
        assert_eq!(table.size, Count(2));
        assert_eq!(
            table.adapter.paths.unwrap().into_inner(),
            [PathBuf::from("/p/src"), cwd.join("lib")]
        );
        assert_eq!(
            table.adapter.python.unwrap().into_inner(),
            cwd.join("py/bin/python")
        );

        // --worker-cmd turns a Python pool into a generic one, run from here.
        let table = table_with("py", &["--worker-cmd", "ruby bridge.rb", "--classic"]).unwrap();
        assert_eq!(table.adapter.kind(), AdapterKind::Generic);
        assert_eq!(
            table.adapter.command.unwrap().into_inner(),
            ["ruby", "bridge.rb"]
        );
        assert_eq!(
            *table.adapter.protocol.unwrap().get_ref(),
            ProtocolName::Classic
        );
        assert!(table.adapter.class.is_none());
        assert_eq!(table.adapter.cwd, Some(cwd.clone()));

        // --adapter turns a generic pool into a Python one.
        let table = table_with("sh", &["--adapter", "m:C"]).unwrap();
        assert_eq!(table.adapter.kind(), AdapterKind::Python);
        assert_eq!(table.adapter.class.unwrap().into_inner().0, "m:C");
        assert!(table.adapter.command.is_none());

        // --runtime node turns any pool into a node one; --adapter then names the module.
        let table = table_with(
            "py",
            &[
                "--runtime",
                "node",
                "--adapter",
                "a.mjs:A",
                "--node",
                "bin/node",
            ],
        )
        .unwrap();
        assert_eq!(table.adapter.kind(), AdapterKind::Node);
        assert_eq!(
            table.adapter.module.unwrap().into_inner(),
            cwd.join("a.mjs:A").to_string_lossy()
        );
        assert_eq!(
            table.adapter.node.unwrap().into_inner(),
            cwd.join("bin/node")
        );
        assert!(table.adapter.class.is_none() && table.adapter.paths.is_none());
        // A node pool keeps its type; --runtime python makes it the Python showcase.
        let table = table_with("js", &["--adapter", "b.mjs"]).unwrap();
        assert_eq!(table.adapter.kind(), AdapterKind::Node);
        assert_eq!(
            table.adapter.module.unwrap().into_inner(),
            cwd.join("b.mjs").to_string_lossy()
        );
        let table = table_with("js", &["--runtime", "python"]).unwrap();
        assert_eq!(table.adapter.kind(), AdapterKind::Python);
        assert!(table.adapter.module.is_none());

        let err = table_with("sh", &["--python", "python3"]).unwrap_err();
        assert!(err.to_string().contains("Python pools"), "{err}");
        let err = table_with("py", &["--adapter", "not-a-class"]).unwrap_err();
        assert!(err.to_string().contains("--adapter"), "{err}");
    }
}
