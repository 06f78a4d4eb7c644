//! Reading files: every setting, the library's defaults, printing back, environment
//! overrides, interpreters, choosing a pool.

use std::path::{Path, PathBuf};
use std::time::Duration;

use snakepit::session::SessionStoreConfig;
use snakepit::{Affinity, PoolConfig, Profile, RetryPolicy};

use super::{parse, parse_with};
use crate::config::Config;
use crate::config::schema::{AdapterKind, ProtocolName};

const FULL: &str = r#"
[python]
interpreter = ".venv/bin/python"

[pools.default]
size = 3
startup_timeout = "40s"
max_queue = 50
queue_timeout = "250ms"
call_timeout = "1m 30s"
cancel_grace = "1s"
drain_timeout = "7s"
stop_grace = "3s"
max_frame = "16MiB"
registry = false
state_dir = "state"
instance_name = "demo"
affinity = "strict_queue"
profile = "concurrent"
capacity = 16
serial_sessions = true

[pools.default.adapter]
type = "python"
class = "demo_adapter:DemoAdapter"
paths = [".", "src"]
python = "/opt/python/bin/python3"
bridge = "installed"
preload = ["numpy", "demo_models"]
transport = "pipes"
cwd = "work"
env = { MODE = "test", LEVEL = "2" }

[pools.default.retry]
policy = "always"
max_retries = 5
backoff = "10ms"
per_command = { charge = "never" }

[pools.default.circuit]
enabled = false
failure_threshold = 3
reset_after = "2s"

[pools.default.health]
heartbeat_interval = "off"
heartbeat_timeout = "1s"
restart_backoff = "20ms"
restart_backoff_max = "2s"
crash_window = "30s"
taint_after = 2
taint_duration = "1m"

[pools.default.recycle]
max_requests = 1000
max_age = "1h"
max_memory_bytes = "512MiB"
jitter = 0.2
check_interval = "500ms"

[pools.default.sessions]
default_ttl = "10m"
max_sessions = 500
sweep_interval = "0s"

[pools.ruby.adapter]
type = "generic"
command = ["./bridge.rb", "--fast"]
protocol = "classic"
"#;

#[test]
fn a_full_file_sets_every_setting() {
    let config = parse(FULL);
    let (name, table) = config.pool(Some("default")).unwrap();
    assert_eq!(name.0, "default");
    let pool = table.pool_config();
    let mut expected = PoolConfig::default();
    expected.size = 3;
    expected.startup_timeout = Duration::from_secs(40);
    expected.max_queue = 50;
    expected.queue_timeout = Duration::from_millis(250);
    expected.call_timeout = Duration::from_secs(90);
    expected.cancel_grace = Duration::from_secs(1);
    expected.drain_timeout = Duration::from_secs(7);
    expected.stop_grace = Duration::from_secs(3);
    expected.max_frame = 16 << 20;
    expected.registry = false;
    expected.state_dir = Some(PathBuf::from("/project/state"));
    expected.instance_name = Some("demo".to_owned());
    expected.affinity = Affinity::StrictQueue;
    expected.profile = Profile::concurrent(16);
    expected.serial_sessions = true;
    expected.retry.policy = RetryPolicy::Always;
    expected.retry.max_retries = 5;
    expected.retry.backoff = Duration::from_millis(10);
    expected
        .retry
        .per_command
        .insert("charge".to_owned(), RetryPolicy::Never);
    expected.circuit.enabled = false;
    expected.circuit.failure_threshold = 3;
    expected.circuit.reset_after = Duration::from_secs(2);
    expected.health.heartbeat_interval = None;
    expected.health.heartbeat_timeout = Duration::from_secs(1);
    expected.health.restart_backoff = Duration::from_millis(20);
    expected.health.restart_backoff_max = Duration::from_secs(2);
    expected.health.crash_window = Duration::from_secs(30);
    expected.health.taint_after = 2;
    expected.health.taint_duration = Duration::from_secs(60);
    expected.recycle.max_requests = Some(1000);
    expected.recycle.max_age = Some(Duration::from_secs(3600));
    expected.recycle.max_memory_bytes = Some(512 << 20);
    expected.recycle.jitter = 0.2;
    expected.recycle.check_interval = Duration::from_millis(500);
    assert_eq!(pool, expected);
    let mut sessions = SessionStoreConfig::default();
    sessions.default_ttl = Duration::from_secs(600);
    sessions.max_sessions = 500;
    sessions.sweep_interval = Duration::ZERO;
    assert_eq!(table.session_config(), sessions);

    let adapter = &table.adapter;
    assert_eq!(
        adapter.class.as_ref().unwrap().get_ref().0,
        "demo_adapter:DemoAdapter"
    );
    assert_eq!(
        adapter.paths.as_ref().unwrap().get_ref(),
        &[PathBuf::from("/project"), PathBuf::from("/project/src")]
    );
    assert_eq!(
        adapter.python.as_ref().unwrap().get_ref(),
        Path::new("/opt/python/bin/python3")
    );
    assert_eq!(adapter.cwd.as_deref(), Some(Path::new("/project/work")));
    assert_eq!(
        adapter.preload.as_ref().unwrap().get_ref(),
        &["numpy", "demo_models"]
    );
    assert_eq!(
        adapter.transport.as_ref().map(|t| t.get_ref().transport()),
        Some(snakepit::LinkTransport::Pipes)
    );
    assert_eq!(adapter.env["MODE"], "test");
    assert_eq!(
        config.file.python.interpreter.as_deref(),
        Some(Path::new("/project/.venv/bin/python"))
    );

    let (_, ruby) = config.pool(Some("ruby")).unwrap();
    assert_eq!(
        *ruby.adapter.kind.as_ref().unwrap().get_ref(),
        AdapterKind::Generic
    );
    assert_eq!(
        ruby.adapter.command.as_ref().unwrap().get_ref(),
        &["/project/bridge.rb", "--fast"]
    );
    assert_eq!(
        *ruby.adapter.protocol.as_ref().unwrap().get_ref(),
        ProtocolName::Classic
    );
    // The generic worker runs in the file's directory, so its relative arguments work.
    assert_eq!(ruby.adapter.cwd.as_deref(), Some(Path::new("/project")));
    assert_eq!(ruby.instance_name.as_deref(), Some("ruby"));
    // Pools keep the file's order.
    let names: Vec<&str> = config
        .file
        .pools
        .0
        .iter()
        .map(|(name, _)| name.get_ref().0.as_str())
        .collect();
    assert_eq!(names, ["default", "ruby"]);
}

#[test]
fn absent_keys_take_the_librarys_defaults() {
    let config = parse("[pools.solo]\n");
    let (_, table) = config.pool(None).unwrap();
    let mut expected = PoolConfig::default();
    expected.instance_name = Some("solo".to_owned());
    expected.state_dir = Some(snakepit::registry::default_state_dir());
    assert_eq!(table.pool_config(), expected);
    assert_eq!(table.session_config(), SessionStoreConfig::default());
    let adapter = &table.adapter;
    assert_eq!(
        adapter.class.as_ref().unwrap().get_ref().0,
        snakepit::adapter::SHOWCASE_ADAPTER
    );
    assert_eq!(
        adapter.paths.as_ref().unwrap().get_ref(),
        &[PathBuf::from("/project")]
    );
    assert_eq!(adapter.cwd.as_deref(), Some(Path::new("/project")));
    assert!(adapter.python.is_some());
}

#[test]
fn the_printed_config_reads_back_to_the_same_settings() {
    let config = parse(FULL);
    let printed = config.to_toml().unwrap();
    let again = parse(&printed);
    assert_eq!(again.file, config.file, "{printed}");
    for (name, table) in &config.file.pools.0 {
        let (_, reread) = again.pool(Some(&name.get_ref().0)).unwrap();
        assert_eq!(reread.pool_config(), table.pool_config(), "{printed}");
        assert_eq!(reread.session_config(), table.session_config());
    }
    // Every key is printed, defaults included.
    let defaults = parse("[pools.default]\n").to_toml().unwrap();
    for key in [
        "size =",
        "startup_timeout =",
        "max_queue =",
        "queue_timeout =",
        "call_timeout =",
        "cancel_grace =",
        "drain_timeout =",
        "stop_grace =",
        "max_frame =",
        "registry =",
        "state_dir =",
        "instance_name =",
        "affinity =",
        "policy =",
        "max_retries =",
        "backoff =",
        "enabled =",
        "failure_threshold =",
        "reset_after =",
        "heartbeat_interval =",
        "heartbeat_timeout =",
        "restart_backoff =",
        "restart_backoff_max =",
        "crash_window =",
        "taint_after =",
        "taint_duration =",
        "max_requests = \"off\"",
        "max_age = \"off\"",
        "max_memory_bytes = \"off\"",
        "jitter =",
        "check_interval =",
        "default_ttl =",
        "max_sessions =",
        "sweep_interval =",
        "type = \"python\"",
        "class =",
        "python =",
        "paths =",
        "bridge =",
        "cwd =",
    ] {
        assert!(defaults.contains(key), "`{key}` missing from\n{defaults}");
    }
}

#[test]
fn the_interpreter_follows_the_lookup_order_unless_the_pool_names_one() {
    let text = "[python]\ninterpreter = \"/shared/python\"\n[pools.a]\n[pools.b.adapter]\npython = \"venv/bin/python\"\n";
    let config = parse_with(text, &[]).unwrap();
    let python = |config: &Config, pool| {
        config
            .pool(Some(pool))
            .unwrap()
            .1
            .adapter
            .python
            .as_ref()
            .unwrap()
            .get_ref()
            .clone()
    };
    // `SNAKEPIT_PYTHON` (read by the library from the real environment) comes before
    // `[python].interpreter`.
    match std::env::var_os("SNAKEPIT_PYTHON") {
        Some(from_env) => assert_eq!(python(&config, "a"), PathBuf::from(from_env)),
        None => assert_eq!(python(&config, "a"), Path::new("/shared/python")),
    }
    assert_eq!(python(&config, "b"), Path::new("/project/venv/bin/python"));
    assert!(
        config
            .notes
            .iter()
            .any(|note| note.starts_with("pools.b.adapter.python: /project/venv/bin/python"))
    );
}

#[test]
fn choosing_a_pool() {
    let two = parse("[pools.a]\n[pools.b]\n");
    let err = two.pool(None).unwrap_err().to_string();
    assert!(err.contains("--pool") && err.contains("a, b"), "{err}");
    assert_eq!(two.pool(Some("b")).unwrap().0.0, "b");
    let err = two.pool(Some("c")).unwrap_err().to_string();
    assert!(err.contains("no pool `c`"), "{err}");
    let with_default = parse("[pools.a]\n[pools.default]\n");
    assert_eq!(with_default.pool(None).unwrap().0.0, "default");
    assert!(parse("").pool(None).is_err());
    // The file's order, not the alphabet's.
    let names: Vec<String> = parse("[pools.zeta]\n[pools.alpha]\n[pools.mid]\n")
        .file
        .pools
        .0
        .iter()
        .map(|(name, _)| name.get_ref().0.clone())
        .collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
}

#[test]
fn a_grpc_pool_names_its_tree_relative_to_the_file() {
    let config = parse(
        "[pools.legacy.adapter]\ntype = \"grpc\"\ntree = \"priv/python\"\ngrpc_adapter = \"my_app.adapters.MyAdapter\"\npython = \"/opt/py/bin/python3\"\n",
    );
    let (_, table) = config.pool(Some("legacy")).unwrap();
    assert_eq!(table.adapter.kind(), AdapterKind::Grpc);
    assert_eq!(
        table.adapter.tree.as_ref().unwrap().get_ref(),
        Path::new("/project/priv/python")
    );
    assert_eq!(
        table.adapter.grpc_adapter.as_ref().unwrap().get_ref(),
        "my_app.adapters.MyAdapter"
    );
    assert_eq!(
        table.adapter.python.as_ref().unwrap().get_ref(),
        Path::new("/opt/py/bin/python3")
    );
}
