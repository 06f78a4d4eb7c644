//! The first hour with the `snakepit` binary: a project from the template, its venv and
//! doctor, a requirements file from the package index, completions, the bundled classic
//! worker. Real processes, real Python, real package index.

mod support;

use std::path::Path;

use support::{program, run, snakepit, step, text};

#[test]
fn the_scaffold_flow_succeeds_step_by_step() {
    let root = tempfile::tempdir().unwrap();
    step(root.path(), &["new", "adapter", "demo"]);
    let demo = root.path().join("demo");
    step(&demo, &["setup"]);
    let config = std::fs::read_to_string(demo.join("snakepit.toml")).unwrap();
    assert!(
        config.contains("interpreter = \".venv/bin/python\""),
        "{config}"
    );
    assert!(
        config.contains("# `snakepit setup` records"),
        "comments are kept: {config}"
    );
    let doctor = step(&demo, &["doctor"]);
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        report
            .contains("✔ adapter: demo_adapter:DemoAdapter imports; tools: count, hello, remember"),
        "{report}"
    );
    let pytest = program(&demo.join(".venv/bin/python"))
        .args(["-m", "pytest", "-q"])
        .current_dir(&demo)
        .output()
        .unwrap();
    assert!(pytest.status.success(), "pytest: {}", text(&pytest));
    let hello = step(&demo, &["call", "hello", "--args", r#"{"name": "Ada"}"#]);
    assert_eq!(
        String::from_utf8_lossy(&hello.stdout).trim(),
        "\"Hello, Ada!\""
    );
}

#[test]
fn setup_installs_a_requirements_file_and_a_pool_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("requirements.txt"), "six>=1.10\n").unwrap();
    std::fs::write(
        dir.path().join("uses_six.py"),
        "import six\nfrom snakepit_bridge import BaseAdapter, tool\n\n\nclass UsesSix(BaseAdapter):\n    @tool\n    def version(self) -> str:\n        return six.__version__\n",
    )
    .unwrap();
    step(dir.path(), &["setup", "--venv", "env"]);
    let python = dir.path().join("env/bin/python");
    let output = step(
        dir.path(),
        &[
            "call",
            "version",
            "--adapter",
            "uses_six:UsesSix",
            "--python-path",
            ".",
            "--python",
            python.to_str().unwrap(),
            "--json",
        ],
    );
    let version: String = serde_json::from_slice(&output.stdout).unwrap();
    assert!(version.starts_with("1."), "{version}");
}

#[test]
fn doctor_names_each_fault_of_a_broken_setup() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = snakepit(dir.path());
    command.args(["doctor", "--python", "/nonexistent/bin/python"]);
    let output = run(command);
    assert_eq!(output.status.code(), Some(8), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("✘ interpreter: cannot run `/nonexistent/bin/python`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("No such file"),
        "the OS reason is kept: {stdout}"
    );

    std::fs::write(
        dir.path().join("broken.py"),
        "import not_a_module_anywhere\n",
    )
    .unwrap();
    let mut command = snakepit(dir.path());
    command.args(["doctor", "--adapter", "broken:Adapter", "--json"]);
    let output = run(command);
    assert_eq!(output.status.code(), Some(8), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let adapter = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "adapter")
        .unwrap();
    assert_eq!(adapter["status"], "fail");
    let detail = adapter["detail"].as_str().unwrap();
    assert!(
        detail.contains("not_a_module_anywhere"),
        "the traceback is shown: {detail}"
    );
}

#[test]
fn completions_are_printed_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let output = step(dir.path(), &["completions", shell]);
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("snakepit"),
            "{shell}"
        );
    }
}

#[test]
fn the_bundled_classic_ruby_worker_runs_as_the_readme_says() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let output = step(
        &examples,
        &[
            "call",
            "ping",
            "--worker-cmd",
            "ruby bridge.rb",
            "--classic",
            "--json",
        ],
    );
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["worker"], "ruby", "{}", text(&output));
}
