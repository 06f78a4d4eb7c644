//! Installers: `uv` when it is on `PATH`, else the interpreter's own pip; and virtual
//! environments, made with `uv venv` or `python -m venv`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::process::{RunRequest, run_lines};

/// Which program installs packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Installer {
    /// `uv` when it is on `PATH`, else pip.
    #[default]
    Auto,
    /// `python -m pip`.
    Pip,
    /// `uv pip --python PYTHON`.
    Uv,
}

impl Installer {
    /// The installer `Auto` stands for on this machine; others stay as they are.
    pub fn resolve(self) -> Self {
        match self {
            Self::Auto if find_uv().is_some() => Self::Uv,
            Self::Auto => Self::Pip,
            other => other,
        }
    }

    /// The installer's name, as shown to people.
    pub fn name(self) -> &'static str {
        match self.resolve() {
            Self::Uv => "uv",
            _ => "pip",
        }
    }
}

/// `uv` on `PATH`, if it is there.
pub fn find_uv() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("uv"))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The interpreter of the virtual environment in `dir`.
pub fn venv_python(dir: &Path) -> PathBuf {
    dir.join("bin").join("python")
}

/// Variables that keep installers quiet, non-interactive and away from the user's site.
fn installer_env() -> Vec<(OsString, OsString)> {
    [
        ("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
        ("PIP_NO_INPUT", "1"),
        ("PYTHONNOUSERSITE", "1"),
    ]
    .into_iter()
    .map(|(key, value)| (key.into(), value.into()))
    .collect()
}

/// Creates a virtual environment in `dir` with `python` (a path, a name on `PATH`, or for
/// uv also a version such as `3.12`), unless `dir` already holds one; returns its
/// interpreter. `progress` gets each line the tool prints.
///
/// # Errors
///
/// [`Error::Spawn`] when `python` (or uv) cannot run; [`Error::Config`] with the tool's
/// message when it fails.
pub fn create_venv(
    python: &Path,
    dir: &Path,
    installer: Installer,
    timeout: Duration,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    let interpreter = venv_python(dir);
    if interpreter.exists() {
        return Ok(interpreter);
    }
    let (program, args): (PathBuf, Vec<OsString>) = match (installer.resolve(), find_uv()) {
        (Installer::Uv, Some(uv)) => (
            uv,
            vec!["venv".into(), "--python".into(), python.into(), dir.into()],
        ),
        _ => (
            python.to_path_buf(),
            vec!["-m".into(), "venv".into(), dir.into()],
        ),
    };
    let mut request = RunRequest::new(&program, args, timeout);
    request.env = installer_env();
    let output = run_lines(&request, &mut |_, line| progress(line))?;
    if !output.success() || !interpreter.exists() {
        return Err(Error::Config(format!(
            "could not create a virtual environment in {} with `{}`: {}",
            dir.display(),
            program.display(),
            tail(&output.stderr, &output.stdout)
        )));
    }
    Ok(interpreter)
}

/// Runs the installer for `args` (requirements, or `-r FILE`).
pub(super) fn install(
    python: &Path,
    installer: Installer,
    args: Vec<String>,
    what: &str,
    timeout: Duration,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let resolved = installer.resolve();
    let (program, mut command): (PathBuf, Vec<OsString>) = match (resolved, find_uv()) {
        (Installer::Uv, Some(uv)) => (
            uv,
            vec![
                "pip".into(),
                "install".into(),
                "--python".into(),
                python.into(),
            ],
        ),
        (Installer::Uv, None) => {
            return Err(Error::Config(format!(
                "cannot install {what}: uv was asked for and is not on PATH"
            )));
        }
        _ => (
            python.to_path_buf(),
            vec![
                "-m".into(),
                "pip".into(),
                "install".into(),
                "--progress-bar".into(),
                "off".into(),
            ],
        ),
    };
    command.extend(args.into_iter().map(OsString::from));
    let mut request = RunRequest::new(&program, command, timeout);
    request.env = installer_env();
    let output = run_lines(&request, &mut |_, line| {
        if !line.trim().is_empty() {
            progress(line.trim());
        }
    })?;
    if output.success() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "could not install {what} with {}: {}",
        resolved.name(),
        tail(&output.stderr, &output.stdout)
    )))
}

/// The end of what a failed tool said: its last error lines, else its last output lines.
fn tail(stderr: &str, stdout: &str) -> String {
    let text = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let start = lines.len().saturating_sub(12);
    let tail = lines[start..].join("\n");
    if tail.is_empty() {
        "(it printed nothing)".to_owned()
    } else {
        tail
    }
}
