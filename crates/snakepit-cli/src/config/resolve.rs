//! Completing a parsed file: adapter keys checked against the adapter's `type`, relative
//! paths made absolute against the file's directory, the interpreter of each Python pool
//! chosen by the lookup order, and the defaults that depend on the pool (its instance name,
//! the registry's directory) filled in.

use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use snakepit::python::{InterpreterSource, find_interpreter};
use toml::Spanned;

use super::ConfigError;
use super::schema::{AdapterKind, AdapterTable, FileTable, PoolName, PoolTable, ProfileName};
use super::value::ClassPath;

/// The adapter class a Python pool runs when its table names none.
pub(crate) const DEFAULT_CLASS: &str = snakepit::adapter::SHOWCASE_ADAPTER;

/// Refuses adapter keys that do not belong to the adapter's type, and a generic adapter
/// without a command. `fail` makes the error for a span of the file.
pub(crate) fn check_adapter(
    adapter: &AdapterTable,
    fail: &dyn Fn(Option<Range<usize>>, String) -> ConfigError,
) -> Result<(), ConfigError> {
    fn span<T>(value: Option<&Spanned<T>>) -> Option<Range<usize>> {
        value.map(Spanned::span)
    }
    let kind = adapter.kind();
    const PYTHON: &[AdapterKind] = &[AdapterKind::Python];
    const GENERIC: &[AdapterKind] = &[AdapterKind::Generic];
    const GRPC: &[AdapterKind] = &[AdapterKind::Grpc];
    const NODE: &[AdapterKind] = &[AdapterKind::Node];
    let keys = [
        ("class", span(adapter.class.as_ref()), PYTHON),
        ("module", span(adapter.module.as_ref()), NODE),
        ("node", span(adapter.node.as_ref()), NODE),
        (
            "python",
            span(adapter.python.as_ref()),
            &[AdapterKind::Python, AdapterKind::Grpc][..],
        ),
        ("paths", span(adapter.paths.as_ref()), PYTHON),
        ("bridge", span(adapter.bridge.as_ref()), PYTHON),
        ("preload", span(adapter.preload.as_ref()), PYTHON),
        (
            "transport",
            span(adapter.transport.as_ref()),
            &[AdapterKind::Python, AdapterKind::Generic][..],
        ),
        ("command", span(adapter.command.as_ref()), GENERIC),
        ("protocol", span(adapter.protocol.as_ref()), GENERIC),
        ("tree", span(adapter.tree.as_ref()), GRPC),
        ("grpc_adapter", span(adapter.grpc_adapter.as_ref()), GRPC),
    ];
    for (key, span, owners) in keys {
        if let Some(span) = span.filter(|_| !owners.contains(&kind)) {
            let owners: Vec<&str> = owners.iter().map(|owner| owner.name()).collect();
            return Err(fail(
                Some(span),
                format!(
                    "`{key}` is a key of {} adapters, and this adapter's type is {}",
                    owners.join(" and "),
                    kind.name()
                ),
            ));
        }
    }
    if kind == AdapterKind::Grpc && adapter.tree.is_none() {
        return Err(fail(
            adapter.kind.as_ref().map(Spanned::span),
            "a grpc adapter needs `tree`, the directory holding their grpc_server.py".to_owned(),
        ));
    }
    if kind == AdapterKind::Generic {
        match &adapter.command {
            None => {
                return Err(fail(
                    adapter.kind.as_ref().map(Spanned::span),
                    "a generic adapter needs `command = [\"program\", \"arg\", ...]`".to_owned(),
                ));
            }
            Some(command) if command.get_ref().first().is_none_or(String::is_empty) => {
                return Err(fail(
                    Some(command.span()),
                    "the command is empty".to_owned(),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Refuses a `concurrent` profile without `capacity`, and a `capacity` beside the
/// `process` profile (its capacity is 1). `fail` makes the error for a span of the file.
pub(crate) fn check_profile(
    pool: &PoolTable,
    fail: &dyn Fn(Option<Range<usize>>, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let capacity = pool.capacity.as_ref();
    match (pool.profile.get_ref(), capacity) {
        (ProfileName::Concurrent, None) => Err(fail(
            Some(pool.profile.span()),
            "the concurrent profile needs `capacity`, the calls each worker runs at once"
                .to_owned(),
        )),
        (ProfileName::Concurrent, Some(capacity))
            if capacity.get_ref().0 > snakepit::Profile::MAX_CAPACITY =>
        {
            Err(fail(
                Some(capacity.span()),
                format!(
                    "capacity must be at most {}",
                    snakepit::Profile::MAX_CAPACITY
                ),
            ))
        }
        (ProfileName::Process, Some(capacity)) => Err(fail(
            Some(capacity.span()),
            "`capacity` belongs to `profile = \"concurrent\"`; the process profile runs one call at a time".to_owned(),
        )),
        _ => Ok(()),
    }
}

/// Completes every pool of `file`, read from a file in `dir`. Returns notes on where each
/// Python pool's interpreter came from.
pub(crate) fn complete(file: &mut FileTable, dir: &Path) -> Vec<String> {
    let shared = file
        .python
        .interpreter
        .take()
        .map(|interpreter| program_path(dir, &interpreter));
    file.python.interpreter.clone_from(&shared);
    let mut notes = Vec::new();
    for (name, pool) in &mut file.pools.0 {
        if let Some(note) = complete_pool(name.get_ref(), pool, dir, shared.as_deref()) {
            notes.push(note);
        }
    }
    notes
}

fn complete_pool(
    name: &PoolName,
    pool: &mut PoolTable,
    dir: &Path,
    shared: Option<&Path>,
) -> Option<String> {
    if pool.instance_name.is_none() {
        pool.instance_name = Some(name.0.clone());
    }
    if let Some(state_dir) = &pool.state_dir {
        pool.state_dir = Some(absolute(dir, state_dir));
    } else {
        pool.state_dir = Some(snakepit::registry::default_state_dir());
    }
    let adapter = &mut pool.adapter;
    adapter.cwd = Some(absolute(
        dir,
        adapter.cwd.as_deref().unwrap_or(Path::new(".")),
    ));
    let kind = adapter
        .kind
        .get_or_insert_with(|| Spanned::new(0..0, AdapterKind::Python));
    match *kind.get_ref() {
        AdapterKind::Node => {
            if let Some(node) = &mut adapter.node {
                let resolved = program_path(dir, node.get_ref());
                *node.get_mut() = resolved;
            }
            None
        }
        AdapterKind::Generic => {
            if let Some(command) = &mut adapter.command {
                if let Some(program) = command.get_mut().first_mut() {
                    *program = program_path(dir, Path::new(program.as_str()))
                        .to_string_lossy()
                        .into_owned();
                }
            }
            if adapter.protocol.is_none() {
                adapter.protocol = Some(Spanned::new(0..0, super::schema::ProtocolName::Native));
            }
            None
        }
        AdapterKind::Grpc => {
            if let Some(tree) = &mut adapter.tree {
                *tree.get_mut() = absolute(dir, tree.get_ref());
            }
            if let Some(python) = &mut adapter.python {
                *python.get_mut() = program_path(dir, python.get_ref());
            }
            None
        }
        AdapterKind::Python => {
            if adapter.class.is_none() {
                adapter.class = Some(Spanned::new(0..0, ClassPath(DEFAULT_CLASS.to_owned())));
            }
            let paths = adapter
                .paths
                .take()
                .map_or_else(|| vec![PathBuf::from(".")], Spanned::into_inner);
            adapter.paths = Some(Spanned::new(
                0..0,
                paths.iter().map(|path| absolute(dir, path)).collect(),
            ));
            if adapter.bridge.is_none() {
                adapter.bridge = Some(Spanned::new(0..0, super::schema::BridgeName::Embedded));
            }
            let (python, source) = match &adapter.python {
                Some(python) => (
                    program_path(dir, python.get_ref()),
                    "the pool's `python`".to_owned(),
                ),
                None => {
                    let found = find_interpreter(shared, dir);
                    let source = match found.source {
                        InterpreterSource::Configured => "[python].interpreter".to_owned(),
                        other => other.to_string(),
                    };
                    (found.path, source)
                }
            };
            let note = format!(
                "pools.{name}.adapter.python: {} (from {source})",
                python.display()
            );
            adapter.python = Some(Spanned::new(0..0, python));
            Some(note)
        }
    }
}

/// `path` against `dir` when relative, without `.` components.
pub(crate) fn absolute(dir: &Path, path: &Path) -> PathBuf {
    let joined = dir.join(path);
    let mut clean = PathBuf::new();
    for component in joined.components() {
        if component != Component::CurDir {
            clean.push(component);
        }
    }
    clean
}

/// A program: a bare name (`python3`, `ruby`) is left for `PATH`; a relative path
/// (`.venv/bin/python`, `./worker`) is taken against `dir`.
pub(crate) fn program_path(dir: &Path, program: &Path) -> PathBuf {
    if program.components().count() > 1 || program.is_absolute() {
        absolute(dir, program)
    } else {
        program.to_path_buf()
    }
}
