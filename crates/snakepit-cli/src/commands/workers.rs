//! The pool that `call` and `tools` run: the config file's pool with the worker flags over
//! it (see [`crate::config`]), or, without a config file, the worker flags alone.

use anyhow::{Context as _, bail};
use snakepit::grpc::GrpcPythonAdapter;
use snakepit::{GenericAdapter, NodeAdapter, Pool, PoolBuilder, PythonAdapter, WorkerProtocol};

use crate::cli::{Runtime, WorkerArgs};
use crate::config;

/// The pool the config file and the flags describe.
///
/// # Errors
///
/// A config file that cannot be used, or a `--worker-cmd` that is not a valid command line.
pub(crate) fn pool_builder(args: &WorkerArgs) -> anyhow::Result<PoolBuilder> {
    if let Some(tree) = &args.grpc {
        let mut adapter = match &args.adapter {
            Some(class) => GrpcPythonAdapter::new(tree, class),
            None => GrpcPythonAdapter::showcase(tree),
        };
        if let Some(python) = &args.python {
            adapter = adapter.python(python);
        }
        return Ok(Pool::builder(adapter).size(args.pool_size.map_or(1, usize::from)));
    }
    if let Some(path) = config::locate(args.config.as_deref())? {
        return config::pool_builder_with_flags(&config::Config::load(&path)?, args);
    }
    let size = args.pool_size.map_or(1, usize::from);
    if let Some(worker_cmd) = &args.worker_cmd {
        let words = shlex::split(worker_cmd)
            .with_context(|| format!("--worker-cmd is not a valid command line: {worker_cmd}"))?;
        let Some((program, program_args)) = words.split_first() else {
            bail!("--worker-cmd is empty");
        };
        let protocol = if args.classic {
            WorkerProtocol::Classic
        } else {
            WorkerProtocol::Native
        };
        let adapter = GenericAdapter::new(program)
            .args(program_args)
            .protocol(protocol);
        return Ok(Pool::builder(adapter).size(size));
    }
    if args.runtime == Some(Runtime::Node) {
        let mut adapter = args
            .adapter
            .as_ref()
            .map_or_else(NodeAdapter::showcase, NodeAdapter::new);
        if let Some(node) = &args.node {
            adapter = adapter.node(node);
        }
        return Ok(Pool::builder(adapter).size(size));
    }
    let mut adapter = match &args.adapter {
        Some(class) => PythonAdapter::new(class),
        None => PythonAdapter::showcase(),
    };
    if let Some(python) = &args.python {
        adapter = adapter.python(python);
    }
    for dir in &args.python_path {
        adapter = adapter.python_path(dir);
    }
    Ok(Pool::builder(adapter).size(size))
}
