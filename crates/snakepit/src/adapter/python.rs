//! The Python adapter: runs `python -m snakepit_bridge --adapter module:Class` (spelled
//! `BRIDGE_MAIN` on the command line).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::{Adapter, LinkTransport, WorkerCommand, WorkerProtocol, bridge_dir};
use crate::error::{Error, Result};
use crate::packages;

/// What a worker's interpreter runs: `python -m snakepit_bridge`'s entry point, through `-c`
/// rather than `-m`, which would import `runpy` (and with it `importlib.util`,
/// `contextlib` and `functools`) at every worker start for nothing else.
const BRIDGE_MAIN: &str = "import sys; from snakepit_bridge.__main__ import main; sys.exit(main())";

/// The bundled example adapter (`ping`, `echo`, `compute`, `info`).
pub const SHOWCASE_ADAPTER: &str = "snakepit_bridge.examples.showcase:ShowcaseAdapter";

/// Where workers import `snakepit_bridge` from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BridgeSource {
    /// The copy embedded in this library, put first on `PYTHONPATH`. Needs only `python3`.
    #[default]
    Embedded,
    /// Whatever the interpreter imports, such as a `pip install`ed `snakepit-bridge`.
    Installed,
}

/// Workers running a Python adapter class through the bridge.
///
/// ```no_run
/// # async fn demo() -> snakepit::Result<()> {
/// use snakepit::{Pool, PythonAdapter};
///
/// let adapter = PythonAdapter::new("my_package.adapters:MyAdapter").python_path("./src");
/// let pool = Pool::builder(adapter).size(4).start().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PythonAdapter {
    adapter: String,
    python: Option<PathBuf>,
    python_path: Vec<PathBuf>,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    bridge: BridgeSource,
    preload: Option<Vec<String>>,
    transport: LinkTransport,
}

impl PythonAdapter {
    /// An adapter running the class `adapter`, written `package.module:Class`.
    pub fn new(adapter: impl Into<String>) -> Self {
        Self {
            adapter: adapter.into(),
            python: None,
            python_path: Vec::new(),
            env: Vec::new(),
            cwd: None,
            bridge: BridgeSource::default(),
            preload: None,
            transport: LinkTransport::Socket,
        }
    }

    /// The bundled example adapter: `ping`, `echo`, `compute` and `info`.
    pub fn showcase() -> Self {
        Self::new(SHOWCASE_ADAPTER)
    }

    /// What the workers' link is made of (the bridge reads both). Default:
    /// [`LinkTransport::Socket`]. [`LinkTransport::Pipes`] costs host and worker less CPU
    /// per call and spares a waiting worker the wake-up a socket gives it each time the host
    /// reads an answer; one caller calling in a closed loop on an idle machine may see more
    /// latency, since that wake-up also got the worker's CPU ready for the next call
    /// (`docs/design/worker-waits.md`). `snakepit serve`'s embedded pool uses pipes.
    #[must_use]
    pub fn transport(mut self, transport: LinkTransport) -> Self {
        self.transport = transport;
        self
    }

    /// Workers running the original Snakepit's gRPC tree instead of this bridge:
    /// `tree/grpc_server.py --adapter package.module.Class` (see [`GrpcPythonAdapter`]).
    ///
    /// [`GrpcPythonAdapter`]: crate::grpc::GrpcPythonAdapter
    pub fn grpc(
        tree: impl Into<PathBuf>,
        adapter: impl Into<String>,
    ) -> crate::grpc::GrpcPythonAdapter {
        crate::grpc::GrpcPythonAdapter::new(tree, adapter)
    }

    /// The interpreter to run. Default: the [lookup order](crate::python) (`$SNAKEPIT_PYTHON`,
    /// `./.venv/bin/python`, `$VIRTUAL_ENV/bin/python`, `python3` on `PATH`). It is resolved
    /// once to the real executable (so version-manager shims cost nothing per spawn).
    #[must_use]
    pub fn python(mut self, interpreter: impl Into<PathBuf>) -> Self {
        self.python = Some(interpreter.into());
        self
    }

    /// Adds a directory to the workers' `PYTHONPATH` (where the adapter's module lives).
    #[must_use]
    pub fn python_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.python_path.push(dir.into());
        self
    }

    /// Sets an environment variable for the workers.
    #[must_use]
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The workers' working directory.
    #[must_use]
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Where workers import the bridge from. Default: [`BridgeSource::Embedded`].
    #[must_use]
    pub fn bridge(mut self, source: BridgeSource) -> Self {
        self.bridge = source;
        self
    }

    /// Starts workers from a zygote: one process per pool imports `modules` (then the
    /// adapter's module, and runs the adapter class's `preload()` classmethod when it has
    /// one), and every worker is forked from it, so none pays for those imports again.
    /// An empty list still preloads the adapter and the bridge. When the zygote dies, new
    /// workers are spawned as usual, with a warning. What `preload` must not do (start
    /// threads, open connections) is in `docs/design/zygote.md`.
    ///
    /// ```no_run
    /// # async fn demo() -> snakepit::Result<()> {
    /// use snakepit::{Pool, PythonAdapter};
    ///
    /// let adapter = PythonAdapter::new("my_models.adapter:Models").preload(["numpy", "my_models"]);
    /// let pool = Pool::builder(adapter).size(8).start().await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn preload<I, S>(mut self, modules: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.preload = Some(modules.into_iter().map(Into::into).collect());
        self
    }

    fn interpreter(&self) -> PathBuf {
        self.python.clone().unwrap_or_else(|| {
            let project_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            crate::python::find_interpreter(None, &project_dir).path
        })
    }
}

impl Adapter for PythonAdapter {
    fn name(&self) -> String {
        self.adapter.clone()
    }

    fn worker_command(&self) -> Result<WorkerCommand> {
        let Some((module, class)) = self.adapter.split_once(':') else {
            return Err(Error::Config(format!(
                "a Python adapter is written `package.module:Class`, not `{}`",
                self.adapter
            )));
        };
        if module.is_empty() || class.is_empty() {
            return Err(Error::Config(format!(
                "incomplete Python adapter `{}`",
                self.adapter
            )));
        }
        let program = resolve_interpreter(&self.interpreter())?;
        let mut path = Vec::new();
        if self.bridge == BridgeSource::Embedded {
            let dir = bridge_dir()?;
            super::bridge::compile_bridge(&program, &dir);
            path.push(dir);
        }
        path.extend(self.python_path.iter().cloned());
        if let Some(existing) = std::env::var_os("PYTHONPATH") {
            path.extend(std::env::split_paths(&existing));
        }
        let mut env = self.env.clone();
        if !path.is_empty() {
            let joined = std::env::join_paths(&path)
                .map_err(|err| Error::Config(format!("unusable PYTHONPATH entry: {err}")))?;
            env.push(("PYTHONPATH".into(), joined));
        }
        let zygote = self.preload.as_ref().map(|modules| {
            let mut args: Vec<OsString> =
                ["-m", "snakepit_bridge.zygote", "--adapter", &self.adapter]
                    .into_iter()
                    .map(OsString::from)
                    .collect();
            if !modules.is_empty() {
                args.push("--preload".into());
                args.push(modules.join(",").into());
            }
            Box::new(WorkerCommand {
                program: program.clone(),
                args,
                env: env.clone(),
                cwd: self.cwd.clone(),
                protocol: WorkerProtocol::Native,
                transport: LinkTransport::Socket,
                zygote: None,
            })
        });
        Ok(WorkerCommand {
            program,
            args: ["-c", BRIDGE_MAIN, "--adapter", &self.adapter]
                .into_iter()
                .map(OsString::from)
                .collect(),
            env,
            cwd: self.cwd.clone(),
            protocol: WorkerProtocol::Native,
            transport: self.transport,
            zygote,
        })
    }
}

/// Resolves an interpreter (a name on `PATH`, a shim, a venv's `python`) to the executable
/// that actually runs, once per process.
///
/// # Errors
///
/// [`Error::Config`] when the interpreter cannot be run.
pub(crate) fn resolve_interpreter(interpreter: &Path) -> Result<PathBuf> {
    static RESOLVED: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    let cache = RESOLVED.get_or_init(Mutex::default);
    if let Some(found) = cache
        .lock()
        .expect("resolver lock is never poisoned")
        .get(interpreter)
    {
        return Ok(found.clone());
    }
    let printed = crate::process::run_to_string(interpreter, &["-c", packages::PROBE_SCRIPT])
        .map_err(|err| match err {
            // Keep the operating system's reason (not found, permission denied).
            Error::Spawn { source, .. } => Error::Config(format!(
                "cannot run the Python interpreter `{}`: {source}",
                interpreter.display()
            )),
            other => Error::Config(format!(
                "cannot run the Python interpreter `{}`: {other}",
                interpreter.display()
            )),
        })?;
    let info = packages::parse_probe(interpreter, &printed)?;
    packages::check_python_version(&info.version, &info.executable)?;
    let resolved = info.executable;
    cache
        .lock()
        .expect("resolver lock is never poisoned")
        .insert(interpreter.to_path_buf(), resolved.clone());
    Ok(resolved)
}
