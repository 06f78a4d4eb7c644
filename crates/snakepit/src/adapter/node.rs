//! The Node adapter: runs `node <bridge>/src/main.js --adapter /abs/file.mjs:Export`.
//!
//! The Node bridge (`node/` in the repository) is embedded in the library and written to a
//! cache directory on first use, so only `node` (18 or newer) is needed on the machine.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::bridge::node_bridge_dir;
use super::{Adapter, LinkTransport, WorkerCommand, WorkerProtocol};
use crate::error::{Error, Result};

/// The bundled Node showcase adapter, relative to the bridge's `src/` directory: `ping`,
/// `echo`, `compute`, `random`, `progress` and `info`.
pub const NODE_SHOWCASE_ADAPTER: &str = "examples/showcase.js:ShowcaseAdapter";

/// The oldest Node major version the bridge supports.
const MIN_NODE_MAJOR: u32 = 18;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A file of the embedded bridge, relative to its `src/`, with the export.
    Bundled(&'static str),
    /// The user's `file:Export`.
    User(String),
}

/// Workers running a JavaScript adapter through the Node bridge.
///
/// ```no_run
/// # async fn demo() -> snakepit::Result<()> {
/// use snakepit::{NodeAdapter, Pool};
///
/// // The class `Greeter` exported by ./adapters/greeter.mjs.
/// let adapter = NodeAdapter::new("./adapters/greeter.mjs:Greeter");
/// let pool = Pool::builder(adapter).size(4).start().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct NodeAdapter {
    target: Target,
    node: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
}

impl NodeAdapter {
    /// An adapter running the export `Export` of the module `file`, written
    /// `./file.mjs:Export` (without `:Export`, the default export). A relative path is
    /// resolved against the workers' working directory when the pool starts.
    pub fn new(adapter: impl Into<String>) -> Self {
        Self {
            target: Target::User(adapter.into()),
            node: None,
            env: Vec::new(),
            cwd: None,
        }
    }

    /// The bundled showcase adapter: `ping`, `echo`, `compute`, `random`, `progress`, `info`.
    pub fn showcase() -> Self {
        Self {
            target: Target::Bundled(NODE_SHOWCASE_ADAPTER),
            ..Self::new("")
        }
    }

    /// The `node` executable. Default: `$SNAKEPIT_NODE`, else `node` from `PATH`. It is
    /// resolved once to the real executable and its version checked (18 or newer).
    #[must_use]
    pub fn node(mut self, node: impl Into<PathBuf>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// Sets an environment variable for the workers.
    #[must_use]
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The workers' working directory (also what a relative adapter path is resolved
    /// against).
    #[must_use]
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    fn node_program(&self) -> PathBuf {
        self.node
            .clone()
            .or_else(|| std::env::var_os("SNAKEPIT_NODE").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("node"))
    }

    /// The `file:Export` the bridge is given: absolute, so the workers' directory does not
    /// matter.
    fn adapter_spec(&self, bridge: &Path) -> Result<String> {
        let spec = match &self.target {
            Target::Bundled(relative) => return Ok(format!("{}/{relative}", src(bridge))),
            Target::User(spec) => spec,
        };
        let (file, export) = split_spec(spec);
        if file.is_empty() {
            return Err(Error::Config(format!(
                "a Node adapter is written `./file.mjs:Export`, not `{spec}`"
            )));
        }
        let mut path = PathBuf::from(file);
        if path.is_relative() {
            let base = match &self.cwd {
                Some(dir) => dir.clone(),
                None => std::env::current_dir().map_err(|source| Error::Io {
                    context: "could not read the current directory".to_owned(),
                    source,
                })?,
            };
            path = base.join(path);
        }
        if !path.is_file() {
            return Err(Error::Config(format!(
                "the Node adapter file `{}` does not exist",
                path.display()
            )));
        }
        Ok(match export {
            Some(export) => format!("{}:{export}", path.display()),
            None => path.display().to_string(),
        })
    }

    /// How to start the benchmark floor, a bare framed echo in Node (`src/floor.js`), with
    /// the same `node` as the workers.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `node` does not run or is too old, [`Error::Io`] when the
    /// bridge cannot be written out.
    pub fn floor_command(&self) -> Result<WorkerCommand> {
        let program = resolve_node(&self.node_program())?;
        let bridge = node_bridge_dir()?;
        let mut command = WorkerCommand::new(program);
        command.args = vec![OsString::from(format!("{}/floor.js", src(&bridge)))];
        command.env.clone_from(&self.env);
        Ok(command)
    }
}

fn src(bridge: &Path) -> String {
    bridge.join("src").display().to_string()
}

/// Splits `file:Export` at its last colon, unless what follows is a path.
fn split_spec(spec: &str) -> (&str, Option<&str>) {
    match spec.rsplit_once(':') {
        Some((file, export)) if file.len() > 1 && !export.contains('/') => {
            (file, (!export.is_empty()).then_some(export))
        }
        _ => (spec, None),
    }
}

impl Adapter for NodeAdapter {
    fn name(&self) -> String {
        match &self.target {
            Target::Bundled(relative) => format!("node:{relative}"),
            Target::User(spec) => spec.clone(),
        }
    }

    fn worker_command(&self) -> Result<WorkerCommand> {
        let program = resolve_node(&self.node_program())?;
        let bridge = node_bridge_dir()?;
        let spec = self.adapter_spec(&bridge)?;
        Ok(WorkerCommand {
            program,
            args: vec![
                OsString::from(format!("{}/main.js", src(&bridge))),
                OsString::from("--adapter"),
                OsString::from(spec),
            ],
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            protocol: WorkerProtocol::Native,
            transport: LinkTransport::Socket,
            zygote: None,
        })
    }
}

/// Resolves `node` (a name on `PATH`, a version-manager shim) to the executable that runs,
/// once per process, and checks its version.
///
/// # Errors
///
/// [`Error::Config`] when `node` cannot be run or is older than 18.
fn resolve_node(node: &Path) -> Result<PathBuf> {
    static RESOLVED: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    let cache = RESOLVED.get_or_init(Mutex::default);
    if let Some(found) = cache
        .lock()
        .expect("resolver lock is never poisoned")
        .get(node)
    {
        return Ok(found.clone());
    }
    let printed = crate::process::run_to_string(
        node,
        &["-p", "process.versions.node + '\\n' + process.execPath"],
    )
    .map_err(|err| {
        Error::Config(format!(
            "cannot run Node.js `{}` (install Node.js 18 or newer, or set SNAKEPIT_NODE): {err}",
            node.display()
        ))
    })?;
    let (version, executable) = printed.split_once('\n').unwrap_or((printed.as_str(), ""));
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|major| major.trim().parse().ok())
        .unwrap_or(0);
    if major < MIN_NODE_MAJOR {
        return Err(Error::Config(format!(
            "Node.js `{}` is version {version}; the bridge needs {MIN_NODE_MAJOR} or newer",
            node.display()
        )));
    }
    let resolved = if executable.trim().is_empty() {
        node.to_path_buf()
    } else {
        PathBuf::from(executable.trim())
    };
    cache
        .lock()
        .expect("resolver lock is never poisoned")
        .insert(node.to_path_buf(), resolved.clone());
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_splits_at_its_last_colon_unless_a_path_follows() {
        assert_eq!(split_spec("./a.mjs:Greeter"), ("./a.mjs", Some("Greeter")));
        assert_eq!(split_spec("./a.mjs"), ("./a.mjs", None));
        assert_eq!(split_spec("/x/y.js:"), ("/x/y.js", None));
        assert_eq!(split_spec("C:/x/y.js"), ("C:/x/y.js", None));
    }

    #[test]
    fn a_missing_adapter_file_is_a_config_error() {
        let adapter = NodeAdapter::new("./no/such/file.mjs:Nope");
        let err = adapter.adapter_spec(Path::new("/tmp")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn a_missing_node_is_a_config_error() {
        let err = resolve_node(Path::new("/no/such/node")).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        assert!(err.to_string().contains("SNAKEPIT_NODE"), "{err}");
    }
}
