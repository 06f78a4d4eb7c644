//! The generic adapter: any executable as a worker, native or classic protocol.

use std::ffi::OsString;
use std::path::PathBuf;

use super::{Adapter, LinkTransport, WorkerCommand, WorkerProtocol};
use crate::error::Result;

/// Workers running any executable.
///
/// ```no_run
/// # async fn demo() -> snakepit::Result<()> {
/// use snakepit::{GenericAdapter, Pool, WorkerProtocol};
///
/// // A classic v0.0.1 worker, such as a Ruby bridge script.
/// let adapter = GenericAdapter::new("ruby").arg("bridge.rb").protocol(WorkerProtocol::Classic);
/// let pool = Pool::builder(adapter).size(2).start().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GenericAdapter {
    command: WorkerCommand,
}

impl GenericAdapter {
    /// Workers running `program`, speaking the native protocol.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            command: WorkerCommand::new(program),
        }
    }

    /// Adds an argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.command.args.push(arg.into());
        self
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.command.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the workers.
    #[must_use]
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.command.env.push((key.into(), value.into()));
        self
    }

    /// The workers' working directory.
    #[must_use]
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.command.cwd = Some(dir.into());
        self
    }

    /// The protocol the workers speak. Default: [`WorkerProtocol::Native`].
    #[must_use]
    pub fn protocol(mut self, protocol: WorkerProtocol) -> Self {
        self.command.protocol = protocol;
        self
    }

    /// What a native link is made of. Default: [`LinkTransport::Socket`]; choose
    /// [`LinkTransport::Pipes`] only for a program that reads `SNAKEPIT_FD=3,5`.
    #[must_use]
    pub fn transport(mut self, transport: LinkTransport) -> Self {
        self.command.transport = transport;
        self
    }
}

impl Adapter for GenericAdapter {
    fn name(&self) -> String {
        self.command.program.display().to_string()
    }

    fn worker_command(&self) -> Result<WorkerCommand> {
        Ok(self.command.clone())
    }
}
