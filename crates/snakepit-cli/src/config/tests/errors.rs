//! Every kind of error names the file, the line and the key.

use super::{error, parse_with};

#[test]
fn unknown_keys_are_named_at_every_level() {
    let message = error("pool = 1\n", 1, "pool");
    assert!(message.contains("unknown key"), "{message}");
    assert!(
        message.contains("pools"),
        "the known keys are listed: {message}"
    );
    error(
        "[pools.default]\nsize = 2\nsise = 3\n",
        3,
        "pools.default.sise",
    );
    error(
        "[pools.default.retry]\npolicy = \"never\"\n\n  polcy = \"always\"\n",
        4,
        "pools.default.retry.polcy",
    );
    error(
        "[pools.default.adapter]\nclass = \"a:B\"\nenvv = {}\n",
        3,
        "pools.default.adapter.envv",
    );
    error(
        "[python]\ninterpeter = \"python3\"\n",
        2,
        "python.interpeter",
    );
}

#[test]
fn a_profile_and_its_capacity_must_agree() {
    let message = error(
        "[pools.default]\nprofile = \"concurrent\"\n",
        2,
        "pools.default.profile",
    );
    assert!(message.contains("capacity"), "{message}");
    error(
        "[pools.default]\nprofile = \"process\"\ncapacity = 8\n",
        3,
        "pools.default.capacity",
    );
    error(
        "[pools.default]\ncapacity = 8\n",
        2,
        "pools.default.capacity",
    );
    error(
        "[pools.default]\nprofile = \"concurrent\"\ncapacity = 0\n",
        3,
        "pools.default.capacity",
    );
    error(
        "[pools.default]\nprofile = \"concurrent\"\ncapacity = 100000\n",
        3,
        "pools.default.capacity",
    );
    error(
        "[pools.default]\nprofile = \"threads\"\n",
        2,
        "pools.default.profile",
    );
}

#[test]
fn bad_values_are_named_with_their_line() {
    let message = error(
        "[pools.default]\ncall_timeout = \"5 parsecs\"\n",
        2,
        "pools.default.call_timeout",
    );
    assert!(message.contains("5 parsecs"), "{message}");
    assert!(
        message.contains("2 | call_timeout = \"5 parsecs\""),
        "{message}"
    );
    error(
        "[pools.default]\ncall_timeout = \"0s\"\n",
        2,
        "pools.default.call_timeout",
    );
    error(
        "[pools.default]\nqueue_timeout = 5\n",
        2,
        "pools.default.queue_timeout",
    );
    let message = error(
        "[pools.default]\n\naffinity = \"sticky\"\n",
        3,
        "pools.default.affinity",
    );
    assert!(
        message.contains("strict_fail_fast"),
        "the choices are listed: {message}"
    );
    let message = error("[pools.default]\nsize = \"two\"\n", 2, "pools.default.size");
    assert!(message.contains("two"), "{message}");
    error("[pools.default]\nsize = 0\n", 2, "pools.default.size");
    error(
        "[pools.default]\nregistry = \"yes\"\n",
        2,
        "pools.default.registry",
    );
    error(
        "[pools.default]\nmax_frame = 10\n",
        2,
        "pools.default.max_frame",
    );
    error(
        "[pools.default.recycle]\njitter = 2.0\n",
        2,
        "pools.default.recycle.jitter",
    );
    error(
        "[pools.default.recycle]\nmax_memory_bytes = \"lots\"\n",
        2,
        "pools.default.recycle.max_memory_bytes",
    );
    error(
        "[pools.default.health]\nheartbeat_interval = \"never\"\n",
        2,
        "pools.default.health.heartbeat_interval",
    );
    error(
        "[pools.default.retry]\nper_command = { pay = \"twice\" }\n",
        2,
        "pools.default.retry.per_command.pay",
    );
    error(
        "[pools.default.adapter]\nclass = \"no_class_here\"\n",
        2,
        "pools.default.adapter.class",
    );
    error(
        "[pools.default.adapter]\npaths = [\".\", 3]\n",
        2,
        "pools.default.adapter.paths[1]",
    );
    error(
        "[pools.default.adapter]\nenv = { N = 1 }\n",
        2,
        "pools.default.adapter.env.N",
    );
    error("[pools.\"a b\"]\nsize = 1\n", 1, "pools.\"a b\"");
    error(
        "[pools.default.adapter]\ntype = \"cobol\"\n",
        2,
        "pools.default.adapter.type",
    );
}

#[test]
fn adapter_keys_must_fit_the_adapter_type() {
    let message = error(
        "[pools.x.adapter]\ntype = \"generic\"\ncommand = [\"w\"]\nclass = \"a:B\"\n",
        4,
        "pools.x.adapter.class",
    );
    assert!(message.contains("python adapters"), "{message}");
    error(
        "[pools.x.adapter]\ncommand = [\"w\"]\n",
        2,
        "pools.x.adapter.command",
    );
    let message = error(
        "[pools.x.adapter]\ntype = \"node\"\npreload = [\"numpy\"]\n",
        3,
        "pools.x.adapter.preload",
    );
    assert!(message.contains("python adapters"), "{message}");
    let message = error(
        "[pools.x.adapter]\ntype = \"node\"\ntransport = \"pipes\"\n",
        3,
        "pools.x.adapter.transport",
    );
    assert!(message.contains("python and generic adapters"), "{message}");
    error(
        "[pools.x.adapter]\ntransport = \"tubes\"\n",
        2,
        "pools.x.adapter.transport",
    );
    error(
        "[pools.x.adapter]\ntype = \"generic\"\n",
        2,
        "pools.x.adapter.type",
    );
    error(
        "[pools.x.adapter]\ntype = \"generic\"\ncommand = []\n",
        3,
        "pools.x.adapter.command",
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let err = parse_with("[pools.default]\nsize = = 2\n", &[]).unwrap_err();
    assert_eq!(err.line(), Some(2), "{err}");
    assert!(
        err.to_string().starts_with("/project/snakepit.toml:2"),
        "{err}"
    );
}

#[test]
fn grpc_adapters_need_a_tree_and_take_only_their_keys() {
    let message = error(
        "[pools.g.adapter]\ntype = \"grpc\"\n",
        2,
        "pools.g.adapter.type",
    );
    assert!(message.contains("tree"), "{message}");
    let message = error(
        "[pools.g.adapter]\ntype = \"grpc\"\ntree = \"t\"\nclass = \"a:B\"\n",
        4,
        "pools.g.adapter.class",
    );
    assert!(message.contains("python adapters"), "{message}");
    let message = error(
        "[pools.g.adapter]\ntree = \"t\"\n",
        2,
        "pools.g.adapter.tree",
    );
    assert!(message.contains("grpc adapters"), "{message}");
}
