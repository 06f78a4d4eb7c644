//! `snakepit setup`: the adapter's virtual environment, its requirements, msgpack and the
//! bridge, and the interpreter recorded in `snakepit.toml`.
//!
//! The venv is made with `uv venv` when uv is on PATH, else `python -m venv`, and packages
//! are installed with uv or the venv's pip. On a terminal a spinner shows the installer's
//! current step; otherwise each step is a plain line.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use snakepit::packages::{self, Installer, Packages};

use crate::exit::{Code, Failure};

/// Arguments of `snakepit setup`.
#[derive(Debug, Args)]
pub(crate) struct SetupArgs {
    /// The requirements file to install. Default: `./requirements.txt` when it exists.
    #[arg(long, value_name = "FILE")]
    pub(crate) requirements: Option<PathBuf>,
    /// The Python to build the venv from: a path, a name on PATH, or a version such as
    /// `3.12` (`python3.12` on PATH; uv may also fetch it). Default: `python3`.
    #[arg(long, value_name = "VERSION|PATH")]
    pub(crate) python: Option<String>,
    /// Where the virtual environment goes. Default: `./.venv`.
    #[arg(long, value_name = "DIR", default_value = ".venv")]
    pub(crate) venv: PathBuf,
    /// The configuration file that records the interpreter. Default: `./snakepit.toml` when
    /// it exists.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// The package that makes the link faster (MessagePack instead of JSON).
const MSGPACK: &str = "msgpack>=1.0";

/// Runs `snakepit setup`.
///
/// # Errors
///
/// When the base interpreter is missing or older than 3.9 (start class), or the venv or an
/// install fails (the installer's message quoted).
pub(crate) async fn run(args: &SetupArgs, quiet: bool) -> anyhow::Result<()> {
    let requirements = match &args.requirements {
        Some(file) if !file.is_file() => {
            return Err(crate::exit::usage(format!(
                "--requirements {} is not a file",
                file.display()
            )));
        }
        Some(file) => Some(file.clone()),
        None => Some(PathBuf::from("requirements.txt")).filter(|file| file.is_file()),
    };
    let base = base_python(args.python.as_deref());
    let venv = args.venv.clone();
    let config = args
        .config
        .clone()
        .or_else(|| Some(PathBuf::from("snakepit.toml")).filter(|file| file.is_file()));
    let progress = Progress::new(quiet);
    let progress = tokio::task::spawn_blocking(move || {
        setup(
            &base,
            &venv,
            requirements.as_deref(),
            config.as_deref(),
            &progress,
        )
        .map(|()| progress)
    })
    .await
    .context("setup stopped unexpectedly")??;
    progress.finish();
    Ok(())
}

fn base_python(asked: Option<&str>) -> PathBuf {
    match asked {
        None => PathBuf::from("python3"),
        // A bare version: uv understands it; for venv, look for `python3.12` on PATH.
        Some(version)
            if version.chars().all(|c| c.is_ascii_digit() || c == '.')
                && Installer::Auto.resolve() != Installer::Uv =>
        {
            PathBuf::from(format!("python{version}"))
        }
        Some(other) => PathBuf::from(other),
    }
}

fn setup(
    base: &Path,
    venv: &Path,
    requirements: Option<&Path>,
    config: Option<&Path>,
    progress: &Progress,
) -> anyhow::Result<()> {
    let installer = Installer::Auto.resolve();
    let timeout = packages::DEFAULT_INSTALL_TIMEOUT;
    let python = if packages::venv_python(venv).exists() {
        progress.step(&format!(
            "using the virtual environment in {}",
            venv.display()
        ));
        packages::venv_python(venv)
    } else {
        if installer != Installer::Uv || base.components().count() > 1 {
            let info = packages::probe(base, Duration::from_secs(60))
                .map_err(|err| start_failure(err, base))?;
            packages::check_python_version(&info.version, &info.executable)
                .map_err(|err| start_failure(err, base))?;
        }
        progress.step(&format!(
            "creating a virtual environment in {} ({} from {})",
            venv.display(),
            installer.name(),
            base.display()
        ));
        packages::create_venv(base, venv, installer, timeout, &mut |line| {
            progress.line(line)
        })
        .map_err(|err| start_failure(err, base))?
    };
    let packages = Packages::new(&python).installer(installer);
    match requirements {
        Some(file) => {
            progress.step(&format!(
                "installing {} and {MSGPACK} with {}",
                file.display(),
                installer.name()
            ));
            packages
                .install_requirements_file(file, &[MSGPACK], &mut |line| progress.line(line))?;
        }
        None => {
            progress.step(&format!("installing {MSGPACK} with {}", installer.name()));
            packages.install(&[MSGPACK], &mut |line| progress.line(line))?;
        }
    }
    progress.step("installing the snakepit bridge");
    let bridge = packages::install_bridge(&python)?;
    progress.done(&format!("bridge at {}", bridge.display()));
    match config {
        Some(file) => {
            record_interpreter(file, &python)?;
            progress.done(&format!(
                "recorded [python] interpreter in {}",
                file.display()
            ));
        }
        None if venv == Path::new(".venv") => progress.done(
            "no snakepit.toml: snakepit finds ./.venv/bin/python by itself (lookup order)",
        ),
        None => progress.done(&format!(
            "no snakepit.toml: export SNAKEPIT_PYTHON={} (or add [python] interpreter to snakepit.toml)",
            python.display()
        )),
    }
    progress.done(&format!("ready: {}", python.display()));
    Ok(())
}

fn start_failure(err: snakepit::Error, base: &Path) -> anyhow::Error {
    anyhow::Error::new(err).context(Failure::new(
        Code::Start,
        format!(
            "cannot use `{}` to build the virtual environment",
            base.display()
        ),
    ))
}

/// Sets `[python] interpreter` in `file`, keeping its comments and layout. The path is
/// written relative to the file's directory when it is inside it.
fn record_interpreter(file: &Path, python: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("could not read {}", file.display()))?;
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", file.display()))?;
    let base = file
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let shown = absolute(python)
        .strip_prefix(absolute(&base))
        .map_or_else(|_| absolute(python), Path::to_path_buf);
    let table = document
        .entry("python")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
        .as_table_mut()
        .with_context(|| format!("`python` in {} is not a table", file.display()))?;
    table.insert("interpreter", toml_edit::value(shown.display().to_string()));
    std::fs::write(file, document.to_string())
        .with_context(|| format!("could not write {}", file.display()))
}

/// Progress: a spinner with the installer's current line on a terminal, plain lines
/// otherwise, nothing but the result with `--quiet`.
struct Progress {
    spinner: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        let spinner = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let spinner = indicatif::ProgressBar::new_spinner();
            spinner.enable_steady_tick(Duration::from_millis(100));
            spinner
        });
        Self { spinner, quiet }
    }

    fn step(&self, text: &str) {
        match &self.spinner {
            Some(spinner) => spinner.set_message(text.to_owned()),
            None if !self.quiet => eprintln!("==> {text}"),
            None => {}
        }
    }

    fn line(&self, text: &str) {
        let text = text.trim();
        match &self.spinner {
            Some(spinner) => {
                let short: String = text.chars().take(70).collect();
                spinner.set_message(short);
            }
            None if !self.quiet && is_step(text) => eprintln!("    {text}"),
            None => {}
        }
    }

    fn done(&self, text: &str) {
        match &self.spinner {
            Some(spinner) => spinner.suspend(|| eprintln!("✔ {text}")),
            None if !self.quiet => eprintln!("✔ {text}"),
            None => {}
        }
    }

    fn finish(self) {
        if let Some(spinner) = self.spinner {
            spinner.finish_and_clear();
        }
    }
}

/// Whether an installer's line says what it is doing (not a download's detail).
fn is_step(line: &str) -> bool {
    [
        "Collecting",
        "Installing",
        "Successfully",
        "Requirement already",
        "Resolved",
        "Prepared",
        "Installed",
        "Using",
        "Creating",
    ]
    .iter()
    .any(|prefix| line.starts_with(prefix))
}
