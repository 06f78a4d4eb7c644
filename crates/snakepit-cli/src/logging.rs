//! Logging for the command line: `-v`/`-q` pick how much of the library's log reaches
//! stderr, and every line a worker prints on its stdout or stderr is shown on stderr,
//! tagged with the worker's id, while the command runs.
//!
//! By default the library's own log is off: a failure reaches the user once, as the
//! command's error. `-v` shows warnings, `-vv` info, `-vvv` debug; `-q` hides the workers'
//! output too. `RUST_LOG`, when set, replaces the library's filter.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::exit::stderr_colour;

/// The target of the library's events for worker output lines.
const OUTPUT_TARGET: &str = "snakepit::worker::output";

static OUTPUT_SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the workers' output lines are being shown on stderr.
pub(crate) fn output_shown() -> bool {
    OUTPUT_SHOWN.load(std::sync::atomic::Ordering::Relaxed)
}

/// Sets up logging for `verbose` (`-v` count) and `quiet`.
pub(crate) fn init(verbose: u8, quiet: bool) {
    OUTPUT_SHOWN.store(!quiet, std::sync::atomic::Ordering::Relaxed);
    let library = match std::env::var("RUST_LOG") {
        Ok(filter) if !filter.is_empty() => EnvFilter::new(filter),
        _ => EnvFilter::new(match (quiet, verbose) {
            (true, _) | (false, 0) => "off",
            (false, 1) => "warn",
            (false, 2) => "info",
            (false, _) => "debug",
        }),
    };
    let library = library.add_directive(
        format!("{OUTPUT_TARGET}=off")
            .parse()
            .expect("a fixed directive parses"),
    );
    let output_level = if quiet {
        LevelFilter::OFF
    } else {
        LevelFilter::from_level(Level::INFO)
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(stderr_colour())
        .with_filter(library);
    let output = WorkerOutput {
        colour: stderr_colour(),
    }
    .with_filter(Targets::new().with_target(OUTPUT_TARGET, output_level));
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(output)
        .try_init();
}

/// Prints worker output events as `[worker stream] line`.
struct WorkerOutput {
    colour: bool,
}

impl<S: Subscriber> Layer<S> for WorkerOutput {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let tag = if fields.stream.is_empty() {
            fields.worker
        } else {
            format!("{} {}", fields.worker, fields.stream)
        };
        if self.colour {
            eprintln!("\x1b[2m[{tag}]\x1b[0m {}", fields.message);
        } else {
            eprintln!("[{tag}] {}", fields.message);
        }
    }
}

#[derive(Default)]
struct Fields {
    worker: String,
    stream: String,
    message: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "stream" => self.stream = value.to_owned(),
            "worker" => self.worker = value.to_owned(),
            "message" => self.message = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let target = match field.name() {
            "stream" => &mut self.stream,
            "worker" => &mut self.worker,
            "message" => &mut self.message,
            _ => return,
        };
        target.clear();
        let _ = write!(target, "{value:?}");
    }
}
