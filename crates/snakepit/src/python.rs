//! Finding the Python interpreter: the documented lookup order, and resolving a
//! version-manager shim (pyenv, asdf, ...) to the real binary once.
//!
//! The lookup order, first match wins:
//!
//! 1. `$SNAKEPIT_PYTHON`;
//! 2. the interpreter a configuration names (the caller passes it; the library reads no
//!    configuration file);
//! 3. `.venv/bin/python` in the project directory;
//! 4. `$VIRTUAL_ENV/bin/python` (an activated virtual environment);
//! 5. `python3` on `PATH`.
//!
//! [`find_interpreter`] only looks; it runs nothing. [`resolve_interpreter`] runs the
//! interpreter once to ask it for `sys.executable`, so a shim that would otherwise cost a
//! shell script per worker start is paid for once per process.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Result;

/// The environment variable that names the interpreter, ahead of everything else.
pub const PYTHON_ENV: &str = "SNAKEPIT_PYTHON";

/// Where [`find_interpreter`] found the interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InterpreterSource {
    /// `$SNAKEPIT_PYTHON`.
    Environment,
    /// The interpreter the caller's configuration names.
    Configured,
    /// `.venv/bin/python` in the project directory.
    ProjectVenv,
    /// `$VIRTUAL_ENV/bin/python`.
    ActiveVenv,
    /// `python3`, looked up on `PATH` when it runs.
    Path,
}

impl fmt::Display for InterpreterSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Environment => "$SNAKEPIT_PYTHON",
            Self::Configured => "the configuration",
            Self::ProjectVenv => "the project's .venv",
            Self::ActiveVenv => "$VIRTUAL_ENV",
            Self::Path => "python3 on PATH",
        })
    }
}

/// An interpreter [`find_interpreter`] chose, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FoundInterpreter {
    /// The interpreter as found: a path, or `python3` to be looked up on `PATH`. Not yet
    /// resolved through shims; see [`resolve_interpreter`].
    pub path: PathBuf,
    /// Which step of the lookup order found it.
    pub source: InterpreterSource,
}

/// Chooses the interpreter by the lookup order in the [module docs](self): `$SNAKEPIT_PYTHON`,
/// then `configured`, then `project_dir/.venv/bin/python`, then `$VIRTUAL_ENV/bin/python`,
/// then `python3`.
///
/// Runs nothing and never fails: the environment variable and the configured path are taken
/// as given (a missing file shows up, with the operating system's reason, when it is run);
/// the two virtual environments count only when their `bin/python` exists.
pub fn find_interpreter(configured: Option<&Path>, project_dir: &Path) -> FoundInterpreter {
    find_interpreter_in(
        &|name| std::env::var_os(name).filter(|value| !value.is_empty()),
        configured,
        project_dir,
    )
}

/// [`find_interpreter`] with the environment passed in, for tests.
fn find_interpreter_in(
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
    configured: Option<&Path>,
    project_dir: &Path,
) -> FoundInterpreter {
    let found = |path: PathBuf, source| FoundInterpreter { path, source };
    if let Some(path) = env(PYTHON_ENV) {
        return found(PathBuf::from(path), InterpreterSource::Environment);
    }
    if let Some(path) = configured {
        return found(path.to_path_buf(), InterpreterSource::Configured);
    }
    let project_venv = project_dir.join(".venv/bin/python");
    if project_venv.is_file() {
        return found(project_venv, InterpreterSource::ProjectVenv);
    }
    if let Some(venv) = env("VIRTUAL_ENV") {
        let active = PathBuf::from(venv).join("bin/python");
        if active.is_file() {
            return found(active, InterpreterSource::ActiveVenv);
        }
    }
    found(PathBuf::from("python3"), InterpreterSource::Path)
}

/// Resolves an interpreter (a name on `PATH`, a version-manager shim, a venv's `python`) to
/// the executable that actually runs, by asking it for `sys.executable`. Each distinct
/// `interpreter` is run once per process; later calls answer from a cache. Blocks while the
/// interpreter runs: call it from a blocking thread in async code.
///
/// # Errors
///
/// [`Error::Config`](crate::Error::Config) when the interpreter cannot be run or fails.
pub fn resolve_interpreter(interpreter: &Path) -> Result<PathBuf> {
    crate::adapter::resolve_interpreter(interpreter)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::ffi::OsString;

    use super::*;

    fn lookup(vars: &[(&str, &Path)], configured: Option<&Path>, dir: &Path) -> FoundInterpreter {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.as_os_str().to_owned()))
            .collect();
        find_interpreter_in(&|name| vars.get(name).cloned(), configured, dir)
    }

    fn venv(root: &Path) -> PathBuf {
        let python = root.join("bin/python");
        std::fs::create_dir_all(python.parent().unwrap()).unwrap();
        std::fs::write(&python, "").unwrap();
        python
    }

    #[test]
    fn each_step_of_the_lookup_order_wins_over_the_later_ones() {
        let project = tempfile::tempdir().unwrap();
        let active = tempfile::tempdir().unwrap();
        let configured = Path::new("/opt/python/bin/python3.12");
        let from_env = Path::new("/custom/python");

        // Nothing anywhere: python3 on PATH.
        let found = lookup(&[], None, project.path());
        assert_eq!(found.path, Path::new("python3"));
        assert_eq!(found.source, InterpreterSource::Path);

        // An activated venv whose python is missing does not count.
        let found = lookup(&[("VIRTUAL_ENV", active.path())], None, project.path());
        assert_eq!(found.source, InterpreterSource::Path);
        let active_python = venv(active.path());
        let found = lookup(&[("VIRTUAL_ENV", active.path())], None, project.path());
        assert_eq!(
            (found.path, found.source),
            (active_python, InterpreterSource::ActiveVenv)
        );

        // The project's .venv beats the activated one.
        let project_python = venv(&project.path().join(".venv"));
        let found = lookup(&[("VIRTUAL_ENV", active.path())], None, project.path());
        assert_eq!(
            (found.path, found.source),
            (project_python, InterpreterSource::ProjectVenv)
        );

        // The configuration beats both venvs.
        let found = lookup(
            &[("VIRTUAL_ENV", active.path())],
            Some(configured),
            project.path(),
        );
        assert_eq!(
            (found.path.as_path(), found.source),
            (configured, InterpreterSource::Configured)
        );

        // $SNAKEPIT_PYTHON beats everything, even when the file does not exist.
        let found = lookup(
            &[("VIRTUAL_ENV", active.path()), (PYTHON_ENV, from_env)],
            Some(configured),
            project.path(),
        );
        assert_eq!(
            (found.path.as_path(), found.source),
            (from_env, InterpreterSource::Environment)
        );
    }
}
