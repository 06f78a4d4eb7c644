//! Asking an interpreter what it is: its real executable and version, and the minimum
//! version the bridge needs.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::process::{RunRequest, run_lines};

/// The oldest Python the bridge runs on.
pub const MIN_PYTHON: (u32, u32) = (3, 9);

/// What an interpreter said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PythonInfo {
    /// The interpreter as given (a name on `PATH`, a shim, a venv's `python`).
    pub interpreter: PathBuf,
    /// `sys.executable`: the program that really runs (a shim resolved).
    pub executable: PathBuf,
    /// The version, such as `3.11.7`.
    pub version: String,
}

/// The script [`probe`] runs: two lines, `sys.executable` and the version. It runs on any
/// Python, old ones included, so that their version can be reported.
pub(crate) const PROBE_SCRIPT: &str =
    "import sys; print(sys.executable); print('%d.%d.%d' % tuple(sys.version_info[:3]))";

/// Runs `interpreter` once and asks it for its executable and version.
///
/// # Errors
///
/// [`Error::Spawn`] with the operating system's reason when it cannot run (missing, not
/// executable); [`Error::Config`] when it fails or prints something unexpected.
pub fn probe(interpreter: &Path, timeout: Duration) -> Result<PythonInfo> {
    let request = RunRequest::new(interpreter, ["-c", PROBE_SCRIPT], timeout);
    let output = run_lines(&request, &mut |_, _| {})?;
    if !output.success() {
        return Err(Error::Config(format!(
            "`{}` failed when asked for its version: {}",
            interpreter.display(),
            output.stderr.trim()
        )));
    }
    parse_probe(interpreter, &output.stdout)
}

/// What [`run_python`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PythonOutput {
    /// The exit code, or `None` when a signal ended the interpreter.
    pub code: Option<i32>,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl PythonOutput {
    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `python` with `args` and extra environment `env` to completion, killing it (and its
/// process group) after `timeout`. For checks such as `snakepit doctor` runs.
///
/// # Errors
///
/// [`Error::Spawn`] with the operating system's reason when it cannot start; [`Error::Io`]
/// when it outlives `timeout`.
pub fn run_python(
    python: &Path,
    args: &[&str],
    env: &[(OsString, OsString)],
    timeout: Duration,
) -> Result<PythonOutput> {
    let mut request = RunRequest::new(python, args.iter().copied(), timeout);
    request.env = env.to_vec();
    let output = run_lines(&request, &mut |_, _| {})?;
    Ok(PythonOutput {
        code: output.code,
        stdout: output.stdout,
        stderr: output.stderr,
    })
}

/// Reads the two lines of [`PROBE_SCRIPT`].
pub(crate) fn parse_probe(interpreter: &Path, printed: &str) -> Result<PythonInfo> {
    let mut lines = printed.lines().map(str::trim);
    let (Some(executable), Some(version)) = (lines.next(), lines.next()) else {
        return Err(Error::Config(format!(
            "`{}` did not say what it is (printed {printed:?})",
            interpreter.display()
        )));
    };
    let executable = if executable.is_empty() {
        interpreter.to_path_buf()
    } else {
        PathBuf::from(executable)
    };
    Ok(PythonInfo {
        interpreter: interpreter.to_path_buf(),
        executable,
        version: version.to_owned(),
    })
}

/// Checks that `version` (such as `3.6.15`) is at least [`MIN_PYTHON`].
///
/// # Errors
///
/// [`Error::Config`] saying "needs Python ≥ 3.9 (found 3.6.15 at PATH)" for an older one or
/// a version that cannot be read.
pub fn check_python_version(version: &str, path: &Path) -> Result<()> {
    let mut parts = version.split('.').map(|part| part.parse::<u32>().ok());
    let found = match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor),
        _ => (0, 0),
    };
    if found >= MIN_PYTHON {
        return Ok(());
    }
    Err(Error::Config(format!(
        "snakepit needs Python ≥ {}.{} (found {version} at {})",
        MIN_PYTHON.0,
        MIN_PYTHON.1,
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_pythons_are_refused_with_their_version_and_path() {
        let path = Path::new("/opt/py36/bin/python3");
        let err = check_python_version("3.6.15", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: snakepit needs Python ≥ 3.9 (found 3.6.15 at /opt/py36/bin/python3)"
        );
        assert!(check_python_version("2.7.18", path).is_err());
        assert!(check_python_version("3.8.20", path).is_err());
        assert!(check_python_version("garbage", path).is_err());
    }

    #[test]
    fn supported_pythons_pass() {
        let path = Path::new("python3");
        for version in ["3.9.0", "3.10.14", "3.13.1", "4.0.0"] {
            check_python_version(version, path).unwrap();
        }
    }

    #[test]
    fn the_real_interpreter_answers_the_probe() {
        let info = probe(Path::new("python3"), Duration::from_secs(30)).unwrap();
        assert!(info.executable.is_absolute(), "{info:?}");
        check_python_version(&info.version, &info.executable).unwrap();
    }

    #[test]
    fn a_missing_interpreter_keeps_the_os_reason() {
        let err = probe(Path::new("/nonexistent/bin/python"), Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, Error::Spawn { .. }), "{err:?}");
        let reason = std::error::Error::source(&err).map(ToString::to_string);
        assert!(reason.is_some_and(|text| text.contains("No such file")));
    }
}
