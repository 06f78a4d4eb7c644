//! `snakepit doctor`: checks that a pool can start here, one line per check with ✔ (fine),
//! ✘ (broken, with the fix) or ! (works, but worth knowing), or one JSON object.
//!
//! It checks the interpreter (path, version, the real binary behind a shim), msgpack and
//! numpy, that the bridge and the adapter import (the adapter's traceback when it does not)
//! and which tools it has, that the state and cache directories are writable, leftover runs
//! in the registry, `/dev/shm` space, and the open-file limit against the pool size. The
//! exit code is 8 when a check fails.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use snakepit::packages::{self, run_python};
use snakepit::{Adapter as _, PythonAdapter};

use super::doctor_checks::{self as checks, Check, Status};
use crate::exit::{Code, Failure, stdout_colour};

/// Arguments of `snakepit doctor`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// The adapter class to import. Default: the one snakepit.toml names.
    #[arg(long, value_name = "MODULE:CLASS")]
    pub(crate) adapter: Option<String>,
    /// The Python interpreter. Default: the lookup order (`$SNAKEPIT_PYTHON`, snakepit.toml,
    /// `./.venv/bin/python`, `$VIRTUAL_ENV/bin/python`, `python3`).
    #[arg(long, value_name = "PATH")]
    pub(crate) python: Option<PathBuf>,
    /// The pool size to check the open-file limit against. Default: snakepit.toml's, else 4.
    #[arg(long, value_name = "N")]
    pub(crate) pool_size: Option<usize>,
    /// The config file. Default: `$SNAKEPIT_CONFIG`, else `./snakepit.toml` when it exists.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    checks: Vec<Check>,
}

const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `snakepit doctor`.
///
/// # Errors
///
/// A [`Code::CheckFailed`] failure when any check fails.
pub(crate) async fn run(args: &DoctorArgs) -> anyhow::Result<()> {
    let (project, config_check) = checks::project_config(args.config.as_deref());
    let adapter = args.adapter.clone().or_else(|| project.class.clone());
    let python = args.python.clone().or_else(|| project.interpreter.clone());
    let size = args.pool_size.or(project.size).unwrap_or(4);
    let paths = project.paths.clone();
    let mut list = Vec::from_iter(config_check);
    list.extend(
        tokio::task::spawn_blocking(move || diagnose(python, adapter.as_deref(), &paths, size))
            .await?,
    );
    let failed = list
        .iter()
        .filter(|check| check.status == Status::Fail)
        .count();
    if args.json {
        let report = Report {
            ok: failed == 0,
            checks: list,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let colour = stdout_colour();
        for check in &list {
            println!("{}", check.line(colour));
        }
    }
    if failed > 0 {
        return Err(anyhow::Error::new(Failure::new(
            Code::CheckFailed,
            format!("doctor: {failed} check(s) failed"),
        )));
    }
    Ok(())
}

fn diagnose(
    python: Option<PathBuf>,
    adapter: Option<&str>,
    paths: &[PathBuf],
    size: usize,
) -> Vec<Check> {
    let mut list = Vec::new();
    let chosen = python.unwrap_or_else(checks::default_interpreter);
    match packages::probe(&chosen, TIMEOUT) {
        Err(err) => list.push(Check::fail(
            "interpreter",
            format!("cannot run `{}`: {}", chosen.display(), checks::with_sources(&err)),
            "install Python ≥ 3.9, run `snakepit setup`, or point --python / SNAKEPIT_PYTHON at one",
        )),
        Ok(info) => {
            let shim = if info.executable == info.interpreter {
                String::new()
            } else {
                format!(", runs {}", info.executable.display())
            };
            list.push(Check::ok(
                "interpreter",
                format!("{} (Python {}{shim})", info.interpreter.display(), info.version),
            ));
            match packages::check_python_version(&info.version, &info.executable) {
                Ok(()) => {
                    list.push(Check::ok("python version", format!("{} ≥ 3.9", info.version)));
                    list.extend(package_checks(&chosen));
                    list.extend(import_checks(&chosen, adapter, paths));
                }
                // Packages and imports of a Python the bridge cannot run tell nothing.
                Err(err) => list.push(Check::fail(
                    "python version",
                    checks::with_sources(&err),
                    "install Python ≥ 3.9 and run `snakepit setup --python 3.12` (or a path)",
                )),
            }
        }
    }
    list.extend(checks::machine(size));
    list
}

fn package_checks(python: &Path) -> Vec<Check> {
    let report = packages::Packages::new(python).check(&["msgpack", "numpy"]);
    let Ok(report) = report else {
        return vec![Check::warn(
            "packages",
            "could not check msgpack and numpy (neither packaging nor pip is importable)",
            "install pip in the environment",
        )];
    };
    let mut list = Vec::new();
    for status in &report.packages {
        let found = status.installed.as_deref();
        match (status.name.as_str(), found) {
            ("msgpack", Some(version)) => list.push(Check::ok(
                "msgpack",
                format!("{version}: the link uses MessagePack (faster than JSON for large payloads)"),
            )),
            ("msgpack", None) => list.push(Check::warn(
                "msgpack",
                "not installed: the link falls back to JSON (slower, larger frames for big payloads)",
                "snakepit setup, or pip install msgpack",
            )),
            (_, Some(version)) => list.push(Check::ok("numpy", version.to_owned())),
            (_, None) => list.push(Check::warn(
                "numpy",
                "not installed: only needed by adapters that pass large arrays",
                "pip install numpy, if your adapter uses it",
            )),
        }
    }
    list
}

fn import_checks(python: &Path, adapter: Option<&str>, paths: &[PathBuf]) -> Vec<Check> {
    let spec = adapter.unwrap_or(snakepit::adapter::SHOWCASE_ADAPTER);
    let mut python_adapter = PythonAdapter::new(spec).python(python);
    for dir in paths {
        python_adapter = python_adapter.python_path(dir);
    }
    let command = match python_adapter.worker_command() {
        Ok(command) => command,
        Err(err) => {
            return vec![Check::fail(
                "bridge",
                checks::with_sources(&err),
                "check that the cache directory ($SNAKEPIT_CACHE_DIR or ~/.cache/snakepit) is writable",
            )];
        }
    };
    let env: Vec<(OsString, OsString)> = command.env.clone();
    let bridge = run_python(
        &command.program,
        &[
            "-c",
            "import snakepit_bridge; print(snakepit_bridge.__version__)",
        ],
        &env,
        TIMEOUT,
    );
    let mut list = vec![match bridge {
        Ok(out) if out.success() => Check::ok(
            "bridge",
            format!("snakepit_bridge {} imports", out.stdout.trim()),
        ),
        Ok(out) => Check::fail(
            "bridge",
            checks::last_line(&out.stderr),
            "run `snakepit setup` again",
        ),
        Err(err) => Check::fail(
            "bridge",
            checks::with_sources(&err),
            "run `snakepit setup` again",
        ),
    }];
    if adapter.is_none() {
        list.push(Check::warn(
            "adapter",
            "none named: pass --adapter module:Class or add one to snakepit.toml",
            "snakepit new adapter NAME writes a project with one",
        ));
        return list;
    }
    let script = format!(
        "import json\nfrom snakepit_bridge.runtime import load_adapter_class\n\
         from snakepit_bridge.adapter import discover_tools\n\
         cls = load_adapter_class({spec:?})\n\
         print(json.dumps(sorted(discover_tools(cls()))))"
    );
    list.push(match run_python(&command.program, &["-c", &script], &env, TIMEOUT) {
        Ok(out) if out.success() => Check::ok(
            "adapter",
            format!("{spec} imports; tools: {}", checks::tool_names(&out.stdout)),
        ),
        Ok(out) => Check::fail(
            "adapter",
            format!("{spec} does not import:\n{}", checks::indent(out.stderr.trim_end())),
            "fix the error above; the adapter's directory must be on the path (snakepit.toml `paths`)",
        ),
        Err(err) => Check::fail("adapter", checks::with_sources(&err), "run `snakepit setup` again"),
    });
    list
}
