//! The interpreter lookup: a version-manager shim is resolved to the real binary.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use snakepit::python::{InterpreterSource, find_interpreter, resolve_interpreter};

use crate::support;

#[test]
fn a_shim_in_the_project_venv_is_found_and_resolved_to_the_real_binary() {
    let real = support::python();
    let real_executable = PathBuf::from(
        String::from_utf8(
            std::process::Command::new(&real)
                .args(["-c", "import sys; print(sys.executable)"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim(),
    );
    // A shim, like pyenv's: a shell script that runs the real interpreter.
    let project = tempfile::tempdir().unwrap();
    let shim = project.path().join(".venv/bin/python");
    std::fs::create_dir_all(shim.parent().unwrap()).unwrap();
    std::fs::write(
        &shim,
        format!("#!/bin/sh\nexec '{}' \"$@\"\n", real.display()),
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();

    let found = find_interpreter(Some(&shim), project.path());
    // $SNAKEPIT_PYTHON may be set for the test run; it comes first in the order.
    if std::env::var_os("SNAKEPIT_PYTHON").is_none() {
        assert_eq!(found.source, InterpreterSource::Configured);
        assert_eq!(found.path, shim);
    }
    let resolved = resolve_interpreter(&shim).unwrap();
    assert_ne!(resolved, shim);
    assert_eq!(resolved, real_executable);
    // Cached: the same answer again.
    assert_eq!(resolve_interpreter(&shim).unwrap(), real_executable);
}

#[test]
fn an_interpreter_that_cannot_run_is_a_config_error() {
    let err = resolve_interpreter(std::path::Path::new("/nonexistent/python")).unwrap_err();
    assert!(matches!(err, snakepit::Error::Config(_)), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/python"), "{err}");
}
