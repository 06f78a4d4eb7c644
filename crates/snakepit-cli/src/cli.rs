//! The command-line interface: every subcommand and flag, as clap derive types.
//!
//! Only parsing lives here; what each subcommand does lives in [`crate::commands`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run, call and benchmark a pool of long-lived Python workers.
#[derive(Debug, Parser)]
#[command(name = "snakepit", version, about, after_help = crate::exit::HELP)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Show more of the library's log on stderr (-v warnings, -vv info, -vvv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub(crate) verbose: u8,
    /// Show nothing but results and errors (not even the workers' output).
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start a pool of the bundled adapter, run a batch of calls, show the stats and shut down.
    Demo(DemoArgs),
    /// Run one command on a worker and print its result.
    Call(CallArgs),
    /// List the tools the workers offer: name, parameters, description, streaming.
    Tools(ToolsArgs),
    /// Measure the pool's latency and throughput against the bare framed echo (the floor).
    Bench(BenchArgs),
    /// List the runs in the registry (live pools on this machine) and their workers.
    Status(RegistryArgs),
    /// Kill the leftover workers of dead runs and remove those runs from the registry.
    Cleanup(CleanupArgs),
    /// Create the adapter's virtual environment, install its requirements and msgpack, and
    /// record the interpreter in snakepit.toml.
    Setup(crate::commands::setup::SetupArgs),
    /// Check the interpreter, packages, bridge, adapter and machine; say how to fix what fails.
    Doctor(crate::commands::doctor::DoctorArgs),
    /// Write a new project from a template (`snakepit new adapter NAME`).
    New(crate::commands::new::NewArgs),
    /// Print a shell completion script (`snakepit completions bash > ...`).
    Completions(crate::commands::completions::CompletionsArgs),
    /// Work with the config file (`snakepit.toml`).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Serve named pools over HTTP/JSON with a live dashboard, until SIGTERM or SIGINT.
    Serve(ServeArgs),
    /// Print a pool's stats (of a running server with `--server`).
    Stats(StatsArgs),
    /// Measure a trivial call through the HTTP server against the same pool in-process.
    ServeBench(ServeBenchArgs),
}

/// Arguments of `snakepit serve-bench`.
#[derive(Debug, Args)]
pub(crate) struct ServeBenchArgs {
    /// Concurrent callers (HTTP connections for the server figures).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) connections: u16,
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) seconds: f64,
    /// Workers of the pool. Default: the CPUs.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) workers: Option<u16>,
    /// The Python interpreter. Default: `$SNAKEPIT_PYTHON`, else `python3`.
    #[arg(long, value_name = "PATH")]
    pub(crate) python: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// The runtime's threads.
    #[command(flatten)]
    pub(crate) runtime: RuntimeArgs,
}

/// The runtime of a server command (`serve`, `serve-bench`).
#[derive(Debug, Args)]
pub(crate) struct RuntimeArgs {
    /// Threads of the async runtime that serves HTTP and drives the pools. Default:
    /// `$TOKIO_WORKER_THREADS`, else half the CPUs, at least one (the workers need the rest).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) threads: Option<u16>,
}

/// Arguments of `snakepit serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The config file of the named pools. Default: `$SNAKEPIT_CONFIG`, else
    /// `./snakepit.toml` when it exists, else one pool `default` of the bundled showcase.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Where to listen. Any address but loopback needs a token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8750")]
    pub(crate) bind: std::net::SocketAddr,
    /// A file holding the bearer token (else `$SNAKEPIT_TOKEN`; never on the command line).
    #[arg(long, value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// Workers of the embedded `default` pool (without a config file). Default: the CPUs.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) workers: Option<u16>,
    /// The largest request body accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub(crate) max_body: usize,
    /// Allow cross-origin requests from this origin (repeatable). Default: no CORS.
    #[arg(long, value_name = "ORIGIN")]
    pub(crate) cors_origin: Vec<String>,
    /// The runtime's threads.
    #[command(flatten)]
    pub(crate) runtime: RuntimeArgs,
}

/// How to reach a running `snakepit serve` (its pool is `--pool`, default `default`).
#[derive(Debug, Args)]
pub(crate) struct RemoteArgs {
    /// Talk to the server at this URL (such as `http://127.0.0.1:8750`) instead of starting
    /// a pool. Its token comes from `$SNAKEPIT_TOKEN` or `--token-file`.
    #[arg(long, value_name = "URL")]
    pub(crate) server: Option<String>,
    /// A file holding the server's bearer token.
    #[arg(long, value_name = "FILE", requires = "server")]
    pub(crate) token_file: Option<PathBuf>,
}

/// Arguments of `snakepit stats`.
#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// The server.
    #[command(flatten)]
    pub(crate) remote: RemoteArgs,
    /// The workers (without `--server`: a fresh pool's stats).
    #[command(flatten)]
    pub(crate) worker: WorkerArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The subcommands of `snakepit config`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Check a config file and print it resolved: every default filled in, environment
    /// overrides applied, paths absolute. Exits non-zero naming file, line and key on error.
    Check(ConfigCheckArgs),
}

/// Arguments of `snakepit config check`.
#[derive(Debug, Args)]
pub(crate) struct ConfigCheckArgs {
    /// The file. Default: `$SNAKEPIT_CONFIG`, else `./snakepit.toml`.
    #[arg(value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
    /// Print JSON instead of TOML.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where the run registry is.
#[derive(Debug, Args)]
pub(crate) struct RegistryArgs {
    /// The registry's directory. Default: `$SNAKEPIT_STATE_DIR`, else
    /// `$XDG_STATE_HOME/snakepit`, else `~/.local/state/snakepit`.
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `snakepit cleanup`.
#[derive(Debug, Args)]
pub(crate) struct CleanupArgs {
    /// The registry.
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
    /// Show what would be killed, and kill nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// Arguments of `snakepit demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How many workers the pool runs.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) workers: u16,
    /// The Python interpreter. Default: the lookup order (`$SNAKEPIT_PYTHON`, `./.venv`, ...).
    #[arg(long, value_name = "PATH")]
    pub(crate) python: Option<PathBuf>,
}

/// Which workers to run: the bundled showcase adapter, another Python adapter, or any
/// executable.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// The adapter: a Python class `package.module:Class`, or with `--runtime node` a
    /// JavaScript export `./file.mjs:Export`. Default: the runtime's bundled showcase.
    #[arg(long, value_name = "MODULE:CLASS", conflicts_with = "worker_cmd")]
    pub(crate) adapter: Option<String>,
    /// What runs the adapter: `python` or `node` (the embedded Node bridge; needs `node`).
    /// Default: the config file pool's adapter type, else `python`.
    #[arg(long, value_enum, conflicts_with = "worker_cmd")]
    pub(crate) runtime: Option<Runtime>,
    /// The `node` executable for `--runtime node`. Default: `$SNAKEPIT_NODE`, else `node`.
    #[arg(long, value_name = "PATH", conflicts_with = "worker_cmd")]
    pub(crate) node: Option<PathBuf>,
    /// Run any executable as the worker instead of a Python adapter, such as
    /// `'ruby bridge.rb'` (split like a shell would).
    #[arg(long, value_name = "'PROGRAM ARGS'")]
    pub(crate) worker_cmd: Option<String>,
    /// The `--worker-cmd` program speaks the classic v0.0.1 protocol over stdin/stdout.
    #[arg(long, requires = "worker_cmd")]
    pub(crate) classic: bool,
    /// The Python interpreter. Default: the config file's pool, else `$SNAKEPIT_PYTHON`,
    /// `./.venv/bin/python`, `$VIRTUAL_ENV/bin/python`, `python3` (see docs/config.md).
    #[arg(long, value_name = "PATH", conflicts_with = "worker_cmd")]
    pub(crate) python: Option<PathBuf>,
    /// A directory to add to the workers' `PYTHONPATH` (repeatable).
    #[arg(long, value_name = "DIR", conflicts_with = "worker_cmd")]
    pub(crate) python_path: Vec<PathBuf>,
    /// Run the original Snakepit's gRPC workers unchanged: the directory holding their
    /// `grpc_server.py` (`priv/python`). `--adapter` is then `package.module.Class`
    /// (default: their ShowcaseAdapter). No config file is read.
    #[arg(long, value_name = "TREE_DIR", conflicts_with_all = ["worker_cmd", "python_path", "config", "pool"])]
    pub(crate) grpc: Option<PathBuf>,
    /// How many workers to start. Default: the config file's `size`, else 1.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) pool_size: Option<u16>,
    /// The config file. Default: `$SNAKEPIT_CONFIG`, else `./snakepit.toml` when it exists.
    /// Flags given here override the file.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The config file's pool to run. Default: the pool named `default`, else the only one.
    #[arg(long, value_name = "NAME")]
    pub(crate) pool: Option<String>,
}

/// The runtime that runs an adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Runtime {
    /// A Python adapter class through the Python bridge.
    Python,
    /// A JavaScript adapter through the Node bridge.
    Node,
}

/// Arguments of `snakepit call`.
#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// The command (tool) to run, such as `ping`.
    pub(crate) command: String,
    /// The arguments: a JSON object, `@FILE` (a file holding one) or `-` (read stdin).
    #[arg(long, value_name = "JSON|@FILE|-", default_value = "{}")]
    pub(crate) args: String,
    /// The workers.
    #[command(flatten)]
    pub(crate) worker: WorkerArgs,
    /// Run the call in this session (the worker sees the session id).
    #[arg(long, value_name = "ID")]
    pub(crate) session: Option<String>,
    /// Stream the call: print chunks as they arrive (a progress bar on stderr when chunks
    /// carry a `progress` figure), then the result.
    #[arg(long)]
    pub(crate) stream: bool,
    /// The call's deadline in seconds (more than 0). Default: the pool's call timeout.
    #[arg(long, value_name = "SECS", value_parser = crate::commands::call::positive_seconds)]
    pub(crate) timeout: Option<f64>,
    /// How long each worker may take to start, in seconds (more than 0). Default: 20.
    #[arg(long, value_name = "SECS", value_parser = crate::commands::call::positive_seconds)]
    pub(crate) startup_timeout: Option<f64>,
    /// The call is safe to run twice: retried on another worker if its worker crashes.
    #[arg(long)]
    pub(crate) idempotent: bool,
    /// How many times an idempotent call whose worker crashed is retried. Default: 2.
    #[arg(long, value_name = "N")]
    pub(crate) retries: Option<u32>,
    /// Print the result (and each chunk) as compact JSON on one line.
    #[arg(long)]
    pub(crate) json: bool,
    /// The server to call instead of starting a pool.
    #[command(flatten)]
    pub(crate) remote: RemoteArgs,
}

/// Arguments of `snakepit tools`.
#[derive(Debug, Args)]
pub(crate) struct ToolsArgs {
    /// The workers.
    #[command(flatten)]
    pub(crate) worker: WorkerArgs,
    /// The server to ask instead of starting a pool.
    #[command(flatten)]
    pub(crate) remote: RemoteArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `snakepit bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Calls per measurement.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) iterations: u32,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Pin this process, and so every worker it starts, to one CPU.
    #[arg(long, value_name = "CPU")]
    pub(crate) pin: Option<usize>,
    /// The Python interpreter. Default: `$SNAKEPIT_PYTHON`, else `python3`.
    #[arg(long, value_name = "PATH")]
    pub(crate) python: Option<PathBuf>,
    /// Measure only the gRPC path against the native one: the original's worker tree (the
    /// directory holding `grpc_server.py`), whose adapter has a `ping` tool.
    #[arg(long, value_name = "TREE_DIR")]
    pub(crate) grpc: Option<PathBuf>,
    /// The gRPC adapter class, `package.module.Class`. Default: their ShowcaseAdapter.
    #[arg(long, value_name = "MODULE.CLASS", requires = "grpc")]
    pub(crate) grpc_adapter: Option<String>,
    /// Rounds of `ping` per worker count, alternating the floors and the pool; every figure
    /// is the median over the rounds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) rounds: u32,
    /// Exit non-zero when a target is missed, naming each one.
    #[arg(long)]
    pub(crate) check: bool,
    /// Also measure `concurrent.futures.ProcessPoolExecutor` and `multiprocessing.Pool`
    /// beside the pool with the concurrent profile.
    #[arg(long)]
    pub(crate) peers: bool,
    /// Run only this one path, `--iterations` pings (sequential through one worker, or
    /// from the profiles section's callers for `ping-concurrent`), and print how long they
    /// took (for counting instructions per call under callgrind).
    #[arg(long, value_enum, value_name = "PATH", conflicts_with_all = ["json", "check", "grpc"])]
    pub(crate) only: Option<BenchOnly>,
    /// With `--only`: make the pings from N closed loops at once (N floors, or a pool of N
    /// workers), as the `ping` section's throughput does, instead of one after the other.
    #[arg(long, value_name = "N", requires = "only", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) loops: Option<u32>,
}

/// The single paths `snakepit bench --only` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BenchOnly {
    /// `ping` through the tokio floor.
    #[value(name = "ping-floor")]
    Floor,
    /// `ping` through the blocking floor.
    #[value(name = "ping-blocking-floor")]
    BlockingFloor,
    /// `ping` through a pool of one worker.
    #[value(name = "ping-pool")]
    Pool,
    /// `ping` through the tokio floor, each closed loop on a current-thread runtime of its
    /// own thread (with `--loops`).
    #[value(name = "ping-floor-per-thread")]
    FloorPerThread,
    /// `ping_inline` through the profiles section's concurrent pool (2 workers × capacity
    /// 8, 64 callers), with the CPU per call of the host and of the workers.
    #[value(name = "ping-concurrent")]
    Concurrent,
}
