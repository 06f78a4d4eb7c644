//! End-to-end tests of `snakepit.toml` through the real binary: `snakepit config check`,
//! and `snakepit call`/`tools` driven by a config file with a real Python worker.
//!
//! The interpreter is `$SNAKEPIT_PYTHON`, else `python3`; a test fails (it does not skip)
//! when that interpreter cannot run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// An adapter of the test's own, imported from the config file's directory.
const GREETER: &str = r#"
import os

from snakepit_bridge import BaseAdapter, tool


class Greeter(BaseAdapter):
    @tool
    def hello(self, name: str) -> dict:
        """Greets `name`, saying where the worker runs and what it was given."""
        return {
            "greeting": f"hello {name}",
            "mood": os.environ.get("GREETER_MOOD"),
            "cwd": os.getcwd(),
            "pid": os.getpid(),
        }
"#;

const CONFIG: &str = r#"
[pools.default]
size = 2
call_timeout = "7s"

[pools.default.adapter]
class = "greeter:Greeter"
env = { GREETER_MOOD = "cheerful" }

[pools.other]
size = 1
affinity = "strict_queue"

[pools.other.adapter]
class = "greeter:Greeter"
env = { GREETER_MOOD = "grumpy" }
"#;

/// The interpreter the tests use, checked to run.
fn python() -> PathBuf {
    let python =
        std::env::var_os("SNAKEPIT_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let output = command(&python)
        .arg("--version")
        .output()
        .unwrap_or_else(|err| panic!("cannot run Python `{}`: {err}", python.display()));
    assert!(
        output.status.success(),
        "Python `{}` failed",
        python.display()
    );
    python
}

#[expect(
    clippy::disallowed_methods,
    reason = "the tests run the real binary and interpreter, not pool workers"
)]
fn command(program: &Path) -> Command {
    Command::new(program)
}

/// Runs `snakepit args` in `dir` with the tests' interpreter, no inherited config file and
/// no inherited pool overrides, plus `env`.
fn snakepit_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut snakepit = command(Path::new(env!("CARGO_BIN_EXE_snakepit")));
    snakepit
        .args(args)
        .current_dir(dir)
        .env("SNAKEPIT_PYTHON", python())
        .env("SNAKEPIT_STATE_DIR", dir.join("state"))
        .env_remove("SNAKEPIT_CONFIG");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SNAKEPIT_POOL_") {
            snakepit.env_remove(name);
        }
    }
    snakepit.envs(env.iter().copied());
    snakepit.output().expect("the snakepit binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

/// A project directory with the greeter adapter and `snakepit.toml`.
fn project(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("greeter.py"), GREETER).expect("the adapter is written");
    std::fs::write(dir.path().join("snakepit.toml"), config).expect("the config is written");
    dir
}

#[test]
fn config_check_prints_the_resolved_file_with_every_default() {
    let dir = project(CONFIG);
    let output = snakepit_in(
        dir.path(),
        &["config", "check"],
        &[("SNAKEPIT_POOL_OTHER_SIZE", "3")],
    );
    assert_success(&output);
    let text = stdout(&output);
    assert!(
        text.contains("environment override: SNAKEPIT_POOL_OTHER_SIZE=3"),
        "{text}"
    );
    let printed: toml::Table = toml::from_str(&text).unwrap();
    let default = &printed["pools"]["default"];
    assert_eq!(default["size"].as_integer(), Some(2));
    assert_eq!(default["call_timeout"].as_str(), Some("7s"));
    // Defaults are filled in from the library.
    assert_eq!(default["queue_timeout"].as_str(), Some("5s"));
    assert_eq!(default["retry"]["policy"].as_str(), Some("idempotent"));
    assert_eq!(default["recycle"]["max_age"].as_str(), Some("off"));
    assert_eq!(default["sessions"]["default_ttl"].as_str(), Some("1h"));
    // Paths are the file's directory.
    let project_dir = dir.path().canonicalize().unwrap();
    let paths = default["adapter"]["paths"].as_array().unwrap();
    assert_eq!(
        Path::new(paths[0].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        project_dir
    );
    assert_eq!(printed["pools"]["other"]["size"].as_integer(), Some(3));
    assert_eq!(
        printed["pools"]["other"]["affinity"].as_str(),
        Some("strict_queue")
    );

    // What it prints is a config file that checks the same.
    let copy = dir.path().join("printed.toml");
    std::fs::write(&copy, &text).unwrap();
    let again = snakepit_in(dir.path(), &["config", "check", "printed.toml"], &[]);
    assert_success(&again);
    let reprinted: toml::Table = toml::from_str(&stdout(&again)).unwrap();
    assert_eq!(reprinted["pools"], printed["pools"]);
}

#[test]
fn config_check_fails_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str); 6] = [
        ("snakepit = 1\n", "bad.toml:1: snakepit: unknown key"),
        (
            "[pools.default]\nsize = 2\nsise = 3\n",
            "bad.toml:3: pools.default.sise: unknown key",
        ),
        (
            "[pools.default.health]\nheartbeat_interval = \"10s\"\nheart_beat = \"1s\"\n",
            "bad.toml:3: pools.default.health.heart_beat: unknown key",
        ),
        (
            "[pools.default]\ncall_timeout = \"5 parsecs\"\n",
            "bad.toml:2: pools.default.call_timeout: `5 parsecs` is not a duration",
        ),
        (
            "[pools.default]\n\naffinity = \"sticky\"\n",
            "bad.toml:3: pools.default.affinity: unknown variant `sticky`",
        ),
        (
            "[pools.default]\nmax_queue = \"many\"\n",
            "bad.toml:2: pools.default.max_queue: invalid type: string \"many\"",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(dir.path().join("bad.toml"), text).unwrap();
        let output = snakepit_in(dir.path(), &["config", "check", "bad.toml"], &[]);
        assert!(!output.status.success(), "{text}: {}", stdout(&output));
        let message = stderr(&output);
        assert!(
            message.contains(expected),
            "{text}\nexpected: {expected}\ngot: {message}"
        );
    }

    // A bad override names its variable.
    std::fs::write(dir.path().join("good.toml"), "[pools.default]\n").unwrap();
    let output = snakepit_in(
        dir.path(),
        &["config", "check", "good.toml"],
        &[("SNAKEPIT_POOL_DEFAULT_CALL_TIMEOUT", "soon")],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output)
            .contains("$SNAKEPIT_POOL_DEFAULT_CALL_TIMEOUT: pools.default.call_timeout: `soon`"),
        "{}",
        stderr(&output)
    );

    // No file at all.
    let output = snakepit_in(dir.path(), &["config", "check"], &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no config file"),
        "{}",
        stderr(&output)
    );
    let output = snakepit_in(dir.path(), &["config", "check", "missing.toml"], &[]);
    assert!(
        stderr(&output).contains("missing.toml does not exist"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn call_and_tools_run_the_pool_of_the_config_file() {
    let dir = project(CONFIG);
    let output = snakepit_in(
        dir.path(),
        &["call", "hello", "--args", r#"{"name": "Ada"}"#, "--json"],
        &[],
    );
    assert_success(&output);
    let result: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(result["greeting"], "hello Ada");
    assert_eq!(result["mood"], "cheerful");
    assert_eq!(
        Path::new(result["cwd"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        dir.path().canonicalize().unwrap()
    );

    // --pool picks another pool of the file.
    let output = snakepit_in(
        dir.path(),
        &[
            "call",
            "hello",
            "--args",
            r#"{"name": "Bob"}"#,
            "--json",
            "--pool",
            "other",
        ],
        &[],
    );
    assert_success(&output);
    let result: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(result["mood"], "grumpy");

    let output = snakepit_in(dir.path(), &["tools"], &[]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("hello(name: str)"),
        "{}",
        stdout(&output)
    );

    // --config from elsewhere, and $SNAKEPIT_CONFIG: the file's directory, not the current
    // one, is where the adapter is found.
    let elsewhere = tempfile::tempdir().unwrap();
    let file = dir.path().join("snakepit.toml");
    let output = snakepit_in(
        elsewhere.path(),
        &[
            "call",
            "hello",
            "--args",
            r#"{"name": "Cy"}"#,
            "--json",
            "--config",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert_success(&output);
    let output = snakepit_in(
        elsewhere.path(),
        &["call", "hello", "--args", r#"{"name": "Cy"}"#, "--json"],
        &[("SNAKEPIT_CONFIG", file.to_str().unwrap())],
    );
    assert_success(&output);
    assert_eq!(
        serde_json::from_str::<Value>(stdout(&output).trim()).unwrap()["greeting"],
        "hello Cy"
    );
}

#[test]
fn flags_override_the_file() {
    let dir = project(CONFIG);
    // The file's adapter is replaced by --adapter: the showcase's `ping` answers.
    let output = snakepit_in(
        dir.path(),
        &[
            "call",
            "ping",
            "--json",
            "--adapter",
            "snakepit_bridge.examples.showcase:ShowcaseAdapter",
            "--pool-size",
            "1",
        ],
        &[],
    );
    assert_success(&output);
    let result: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(result["status"], "ok");

    // A file that does not check stops the call with the file's message.
    std::fs::write(
        dir.path().join("snakepit.toml"),
        "[pools.default]\nsize = 0\n",
    )
    .unwrap();
    let output = snakepit_in(dir.path(), &["call", "hello"], &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("snakepit.toml:2: pools.default.size: must be at least 1"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_node_pool_of_the_config_file_runs_its_module_from_the_files_directory() {
    let dir = project(
        "[pools.js]\nsize = 1\n[pools.js.adapter]\ntype = \"node\"\nmodule = \"./greeter.mjs:Greeter\"\n",
    );
    std::fs::write(
        dir.path().join("greeter.mjs"),
        "export class Greeter {\n  hello({ name }) { return { greeting: `hello ${name}`, cwd: process.cwd() }; }\n}\n",
    )
    .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let config = dir.path().join("snakepit.toml");
    let output = snakepit_in(
        elsewhere.path(),
        &[
            "call",
            "hello",
            "--config",
            config.to_str().unwrap(),
            "--args",
            r#"{"name": "Ada"}"#,
            "--json",
        ],
        &[],
    );
    assert_success(&output);
    let result: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(result["greeting"], "hello Ada");
    assert_eq!(
        Path::new(result["cwd"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        dir.path().canonicalize().unwrap()
    );
    // A key of another adapter type is refused, naming it.
    let bad = project("[pools.js.adapter]\ntype = \"node\"\nclass = \"a:B\"\n");
    let output = snakepit_in(bad.path(), &["config", "check"], &[]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("`class`"), "{}", stderr(&output));
}
