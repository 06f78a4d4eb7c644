//! From resolved pool tables to the library: a [`PoolBuilder`] per pool (its adapter, its
//! settings, its session store) and a [`PoolsBuilder`] of every pool in a file.

use anyhow::Context as _;
use snakepit::grpc::GrpcPythonAdapter;
use snakepit::session::SessionStore;
use snakepit::{
    BridgeSource, GenericAdapter, NodeAdapter, Pool, PoolBuilder, Pools, PoolsBuilder,
    PythonAdapter, WorkerProtocol,
};

use super::Config;
use super::resolve::DEFAULT_CLASS;
use super::schema::{AdapterKind, BridgeName, PoolTable, ProtocolName};

/// The builder of the pool a resolved table describes. Call it inside the tokio runtime:
/// the session store starts its sweep task there.
///
/// # Errors
///
/// A generic adapter without a command (a resolved table always has one).
pub(crate) fn pool_builder(table: &PoolTable) -> anyhow::Result<PoolBuilder> {
    let adapter = &table.adapter;
    let builder = match adapter.kind() {
        AdapterKind::Python => {
            let class = adapter
                .class
                .as_ref()
                .map_or(DEFAULT_CLASS, |class| class.get_ref().0.as_str());
            let mut python = PythonAdapter::new(class);
            if let Some(interpreter) = &adapter.python {
                python = python.python(interpreter.get_ref());
            }
            for dir in adapter.paths.iter().flat_map(|paths| paths.get_ref()) {
                python = python.python_path(dir);
            }
            for (key, value) in &adapter.env {
                python = python.env(key, value);
            }
            if let Some(cwd) = &adapter.cwd {
                python = python.current_dir(cwd);
            }
            if adapter
                .bridge
                .as_ref()
                .is_some_and(|bridge| *bridge.get_ref() == BridgeName::Installed)
            {
                python = python.bridge(BridgeSource::Installed);
            }
            if let Some(modules) = &adapter.preload {
                python = python.preload(modules.get_ref().iter().cloned());
            }
            if let Some(transport) = &adapter.transport {
                python = python.transport(transport.get_ref().transport());
            }
            Pool::builder(python)
        }
        AdapterKind::Node => {
            let mut node = adapter
                .module
                .as_ref()
                .map_or_else(NodeAdapter::showcase, |module| {
                    NodeAdapter::new(module.get_ref())
                });
            if let Some(program) = &adapter.node {
                node = node.node(program.get_ref());
            }
            for (key, value) in &adapter.env {
                node = node.env(key, value);
            }
            if let Some(cwd) = &adapter.cwd {
                node = node.current_dir(cwd);
            }
            Pool::builder(node)
        }
        AdapterKind::Generic => {
            let command = adapter
                .command
                .as_ref()
                .map(|command| command.get_ref().as_slice())
                .unwrap_or_default();
            let (program, args) = command
                .split_first()
                .context("a generic adapter needs a command")?;
            let mut generic = GenericAdapter::new(program).args(args);
            for (key, value) in &adapter.env {
                generic = generic.env(key, value);
            }
            if let Some(cwd) = &adapter.cwd {
                generic = generic.current_dir(cwd);
            }
            if adapter
                .protocol
                .as_ref()
                .is_some_and(|protocol| *protocol.get_ref() == ProtocolName::Classic)
            {
                generic = generic.protocol(WorkerProtocol::Classic);
            }
            if let Some(transport) = &adapter.transport {
                generic = generic.transport(transport.get_ref().transport());
            }
            Pool::builder(generic)
        }
        AdapterKind::Grpc => {
            let tree = adapter
                .tree
                .as_ref()
                .context("a grpc adapter needs a tree")?
                .get_ref();
            let mut grpc = match &adapter.grpc_adapter {
                Some(class) => GrpcPythonAdapter::new(tree, class.get_ref()),
                None => GrpcPythonAdapter::showcase(tree),
            };
            if let Some(interpreter) = &adapter.python {
                grpc = grpc.python(interpreter.get_ref());
            }
            for (key, value) in &adapter.env {
                grpc = grpc.env(key, value);
            }
            Pool::builder(grpc)
        }
    };
    Ok(builder
        .config(table.pool_config())
        .sessions(SessionStore::new(table.session_config())))
}

impl Config {
    /// Every pool of the file, by name, ready to [`start`](PoolsBuilder::start).
    ///
    /// # Errors
    ///
    /// As [`pool_builder`].
    pub(crate) fn pools(&self) -> anyhow::Result<PoolsBuilder> {
        let mut pools = Pools::builder();
        for (name, table) in &self.file.pools.0 {
            pools = pools.pool(
                name.get_ref().0.clone(),
                pool_builder(table).with_context(|| format!("pool `{}`", name.get_ref()))?,
            );
        }
        Ok(pools)
    }
}
