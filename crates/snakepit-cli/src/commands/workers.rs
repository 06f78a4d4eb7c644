//! The pool that `call` and `tools` run: built from the shared worker flags.

use anyhow::{Context as _, bail};
use snakepit::{GenericAdapter, Pool, PoolBuilder, PythonAdapter, WorkerProtocol};

use crate::cli::WorkerArgs;

/// The pool the flags describe.
///
/// # Errors
///
/// A `--worker-cmd` that is not a valid command line.
pub(crate) fn pool_builder(args: &WorkerArgs) -> anyhow::Result<PoolBuilder> {
    let size = usize::from(args.pool_size);
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
