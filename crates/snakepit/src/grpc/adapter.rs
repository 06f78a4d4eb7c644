//! [`GrpcPythonAdapter`]: the original Snakepit's Python tree (`grpc_server.py`, its
//! `snakepit_bridge` package and the user's adapter class) run unchanged as the pool's
//! workers.

use std::ffi::OsString;
use std::path::PathBuf;

use super::launch::LAUNCH_ENV;
use crate::adapter::{Adapter, WorkerCommand, WorkerProtocol, resolve_interpreter};
use crate::error::{Error, Result};

/// The original's default adapter class.
pub const GRPC_SHOWCASE_ADAPTER: &str = "snakepit_bridge.adapters.showcase.ShowcaseAdapter";

/// Workers running the original Snakepit's `grpc_server.py` and its gRPC protocol.
///
/// The host serves `BridgeService` to each worker on `127.0.0.1` (an ephemeral port) and
/// translates between the pool and the worker, so every pool feature works: calls, streams,
/// sessions, typed errors, deadlines (the worker is killed after the cancel grace, as it
/// cannot stop a running tool), heartbeats, recycling, host tools. The worker gets the same
/// process group, parent-death signal, reaper and registry record as a native worker.
///
/// ```no_run
/// # async fn demo() -> snakepit::Result<()> {
/// use snakepit::{Pool, grpc::GrpcPythonAdapter};
///
/// let adapter = GrpcPythonAdapter::new("./priv/python", "my_app.adapters.MyAdapter");
/// let pool = Pool::builder(adapter).size(2).start().await?;
/// let sum = pool.execute("add", serde_json::json!({"a": 2, "b": 3})).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GrpcPythonAdapter {
    tree: PathBuf,
    adapter: String,
    python: Option<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    log_level: String,
}

impl GrpcPythonAdapter {
    /// Workers running `tree/grpc_server.py --adapter <adapter>`; `tree` is the directory
    /// holding `grpc_server.py` (the original's `priv/python`), `adapter` the dotted
    /// `package.module.Class`.
    pub fn new(tree: impl Into<PathBuf>, adapter: impl Into<String>) -> Self {
        Self {
            tree: tree.into(),
            adapter: adapter.into(),
            python: None,
            args: Vec::new(),
            env: Vec::new(),
            log_level: "error".to_owned(),
        }
    }

    /// The original's showcase adapter in `tree`.
    pub fn showcase(tree: impl Into<PathBuf>) -> Self {
        Self::new(tree, GRPC_SHOWCASE_ADAPTER)
    }

    /// The interpreter to run (it needs grpcio and protobuf). Default: the
    /// [lookup order](crate::python) of [`PythonAdapter`](crate::PythonAdapter).
    #[must_use]
    pub fn python(mut self, interpreter: impl Into<PathBuf>) -> Self {
        self.python = Some(interpreter.into());
        self
    }

    /// Adds an argument to `grpc_server.py`'s command line (such as a heartbeat flag).
    #[must_use]
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets an environment variable for the workers (such as `SNAKEPIT_HEARTBEAT_CONFIG`).
    #[must_use]
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The workers' `SNAKEPIT_LOG_LEVEL` (`debug`, `info`, `warning`, `error`, `none`).
    /// Default: `error`. Their logs reach the host's log as the worker's stderr lines.
    #[must_use]
    pub fn log_level(mut self, level: impl Into<String>) -> Self {
        self.log_level = level.into();
        self
    }
}

impl Adapter for GrpcPythonAdapter {
    fn name(&self) -> String {
        self.adapter.clone()
    }

    fn worker_command(&self) -> Result<WorkerCommand> {
        let tree = self.tree.canonicalize().map_err(|err| {
            Error::Config(format!(
                "the gRPC worker tree `{}` is not usable: {err}",
                self.tree.display()
            ))
        })?;
        let server = tree.join("grpc_server.py");
        if !server.is_file() {
            return Err(Error::Config(format!(
                "no grpc_server.py in the gRPC worker tree `{}`",
                tree.display()
            )));
        }
        if self.adapter.is_empty() || !self.adapter.contains('.') || self.adapter.contains(':') {
            return Err(Error::Config(format!(
                "a gRPC adapter is written `package.module.Class`, not `{}`",
                self.adapter
            )));
        }
        let interpreter = self.python.clone().unwrap_or_else(|| {
            let project_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            crate::python::find_interpreter(None, &project_dir).path
        });
        let program = resolve_interpreter(&interpreter)?;
        let mut path = vec![tree.clone()];
        if let Some(existing) = std::env::var_os("PYTHONPATH") {
            path.extend(std::env::split_paths(&existing));
        }
        let python_path = std::env::join_paths(&path)
            .map_err(|err| Error::Config(format!("unusable PYTHONPATH entry: {err}")))?;
        let mut args: Vec<OsString> = vec![
            server.into(),
            "--adapter".into(),
            self.adapter.clone().into(),
            "--port".into(),
            "0".into(),
        ];
        args.extend(self.args.iter().cloned());
        let mut env: Vec<(OsString, OsString)> = vec![
            ("PYTHONPATH".into(), python_path),
            // Otherwise every span is printed to stdout as multi-line JSON.
            ("SNAKEPIT_OTEL_CONSOLE".into(), "false".into()),
            ("SNAKEPIT_LOG_LEVEL".into(), self.log_level.clone().into()),
        ];
        env.extend(self.env.iter().cloned());
        env.push((LAUNCH_ENV.into(), self.adapter.clone().into()));
        let mut command = WorkerCommand::new(program);
        command.args = args;
        command.env = env;
        command.cwd = Some(tree);
        command.protocol = WorkerProtocol::Native;
        Ok(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_without_grpc_server_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = GrpcPythonAdapter::new(dir.path(), "a.B")
            .worker_command()
            .unwrap_err();
        assert!(err.to_string().contains("grpc_server.py"), "{err}");
    }

    #[test]
    fn a_colon_adapter_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("grpc_server.py"), "").unwrap();
        let err = GrpcPythonAdapter::new(dir.path(), "pkg.mod:Class")
            .worker_command()
            .unwrap_err();
        assert!(err.to_string().contains("package.module.Class"), "{err}");
    }
}
