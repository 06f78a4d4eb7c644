//! Helpers the CLI tests share: run the real `snakepit` binary in a directory, with the
//! interpreter lookup and colours pinned down.

#![expect(dead_code, reason = "each test binary uses some of the helpers")]

use std::path::Path;
use std::process::{Command, Output};

#[expect(
    clippy::disallowed_methods,
    reason = "the tests run the real binary and interpreter, not pool workers"
)]
pub(crate) fn program(path: &Path) -> Command {
    Command::new(path)
}

pub(crate) fn snakepit(dir: &Path) -> Command {
    let mut command = program(Path::new(env!("CARGO_BIN_EXE_snakepit")));
    command
        .current_dir(dir)
        .env_remove("SNAKEPIT_PYTHON")
        .env_remove("VIRTUAL_ENV")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    command
}

pub(crate) fn run(mut command: Command) -> Output {
    command.output().expect("the snakepit binary runs")
}

pub(crate) fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub(crate) fn step(dir: &Path, args: &[&str]) -> Output {
    let mut command = snakepit(dir);
    command.args(args);
    let output = run(command);
    assert!(
        output.status.success(),
        "snakepit {args:?} failed: {}",
        text(&output)
    );
    output
}

pub(crate) fn call(dir: &Path, args: &[&str]) -> Output {
    let mut command = snakepit(dir);
    command.arg("call").args(args);
    run(command)
}
