//! The bridges embedded in the library, written out once per version to a cache directory:
//! the Python bridge (workers get it on their `PYTHONPATH`) and the Node bridge (workers run
//! its `src/main.js`). The Python bridge is byte-compiled for each interpreter that runs it
//! ([`compile_bridge`]), so a worker never compiles it again, even with
//! `PYTHONDONTWRITEBYTECODE` set.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result};

include!(concat!(env!("OUT_DIR"), "/bridge_files.rs"));
include!(concat!(env!("OUT_DIR"), "/node_bridge_files.rs"));

/// One embedded tree of files.
struct Embedded {
    /// The prefix of its cache directory's name.
    prefix: &'static str,
    /// Its files: path relative to the cache directory, and contents.
    files: &'static [(&'static str, &'static [u8])],
    /// A file whose presence says the tree was written whole.
    marker: &'static str,
}

const PYTHON: Embedded = Embedded {
    prefix: "bridge",
    files: FILES,
    marker: "snakepit_bridge/__init__.py",
};

const NODE: Embedded = Embedded {
    prefix: "node-bridge",
    files: NODE_FILES,
    marker: "src/main.js",
};

/// The directory holding the embedded `snakepit_bridge` package, written on first use.
///
/// # Errors
///
/// [`Error::Io`] when no cache directory can be written.
pub(crate) fn bridge_dir() -> Result<PathBuf> {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    if let Some(dir) = DIR.get() {
        return Ok(dir.clone());
    }
    let dir = write_tree(&cache_root(), &PYTHON)?;
    Ok(DIR.get_or_init(|| dir).clone())
}

/// The directory holding the embedded Node bridge (`package.json`, `src/`), written on
/// first use.
///
/// # Errors
///
/// [`Error::Io`] when no cache directory can be written.
pub(crate) fn node_bridge_dir() -> Result<PathBuf> {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    if let Some(dir) = DIR.get() {
        return Ok(dir.clone());
    }
    let dir = write_tree(&cache_root(), &NODE)?;
    Ok(DIR.get_or_init(|| dir).clone())
}

/// Byte-compiles the bridge in `dir` with `python` (`compileall` writes the `__pycache__`
/// files whatever `PYTHONDONTWRITEBYTECODE` says), once per interpreter and copy: a marker
/// file named after the interpreter says it is done. Blocks; a failure only costs speed and
/// is logged.
pub(crate) fn compile_bridge(python: &Path, dir: &Path) {
    static DONE: OnceLock<Mutex<HashSet<(PathBuf, PathBuf)>>> = OnceLock::new();
    let key = (python.to_path_buf(), dir.to_path_buf());
    let done = DONE.get_or_init(Mutex::default);
    if done
        .lock()
        .expect("compile lock is never poisoned")
        .contains(&key)
    {
        return;
    }
    let mut hasher = DefaultHasher::new();
    python.hash(&mut hasher);
    let marker = dir.join(format!(".compiled-{:016x}", hasher.finish()));
    if !marker.is_file() {
        let Some(target) = dir.join("snakepit_bridge").to_str().map(str::to_owned) else {
            return;
        };
        match crate::process::run_to_string(python, &["-m", "compileall", "-q", &target]) {
            Ok(_) => {
                if let Err(err) = std::fs::write(&marker, python.as_os_str().as_encoded_bytes()) {
                    tracing::debug!(error = %err, "could not mark the bridge as compiled");
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, python = %python.display(), "could not byte-compile the bridge; workers compile it at every start");
                return;
            }
        }
    }
    done.lock()
        .expect("compile lock is never poisoned")
        .insert(key);
}

fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("SNAKEPIT_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("snakepit")
}

fn fingerprint(files: &[(&str, &[u8])]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for (path, contents) in files {
        path.hash(&mut hasher);
        contents.hash(&mut hasher);
    }
    hasher.finish()
}

fn write_tree(root: &Path, tree: &Embedded) -> Result<PathBuf> {
    let io_error = |context: String| move |source| Error::Io { context, source };
    let fingerprint = fingerprint(tree.files);
    let target = root.join(format!(
        "{}-{}-{fingerprint:016x}",
        tree.prefix,
        env!("CARGO_PKG_VERSION"),
    ));
    if target.join(tree.marker).is_file() {
        return Ok(target);
    }
    std::fs::create_dir_all(root)
        .map_err(io_error(format!("could not create {}", root.display())))?;
    let staging = root.join(format!(
        ".staging-{}-{}-{fingerprint:016x}",
        tree.prefix,
        std::process::id(),
    ));
    for (relative, contents) in tree.files {
        let path = staging.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io_error(format!("could not create {}", parent.display())))?;
        }
        std::fs::write(&path, contents)
            .map_err(io_error(format!("could not write {}", path.display())))?;
    }
    // Another process may have written the same version meanwhile; either copy serves.
    if std::fs::rename(&staging, &target).is_err() {
        if let Err(err) = std::fs::remove_dir_all(&staging) {
            tracing::debug!(error = %err, "could not remove a staging copy of the bridge");
        }
        if !target.join(tree.marker).is_file() {
            return Err(Error::Io {
                context: format!("could not place the bridge at {}", target.display()),
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            });
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bridge_is_embedded_and_written_out_whole() {
        assert!(
            FILES
                .iter()
                .any(|(path, _)| *path == "snakepit_bridge/__init__.py")
        );
        assert!(
            FILES
                .iter()
                .any(|(path, _)| *path == "snakepit_bridge/runtime.py")
        );
        let root = tempfile::tempdir().unwrap();
        let dir = write_tree(root.path(), &PYTHON).unwrap();
        for (relative, contents) in FILES {
            assert_eq!(
                std::fs::read(dir.join(relative)).unwrap(),
                *contents,
                "{relative}"
            );
        }
        // A second write finds the first one.
        assert_eq!(write_tree(root.path(), &PYTHON).unwrap(), dir);
    }

    #[test]
    fn the_bridge_is_byte_compiled_for_the_interpreter_that_runs_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = write_tree(root.path(), &PYTHON).unwrap();
        let python = crate::python::find_interpreter(None, Path::new(".")).path;
        compile_bridge(&python, &dir);
        let compiled: Vec<String> = std::fs::read_dir(dir.join("snakepit_bridge/__pycache__"))
            .expect("compileall wrote __pycache__")
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            compiled.iter().any(|name| name.starts_with("runtime.")
                && std::path::Path::new(name)
                    .extension()
                    .is_some_and(|ext| ext == "pyc")),
            "{compiled:?}"
        );
    }

    #[test]
    fn the_node_bridge_is_embedded_beside_the_python_one() {
        for needed in [
            "package.json",
            "src/main.js",
            "src/runtime.js",
            "src/floor.js",
        ] {
            assert!(
                NODE_FILES.iter().any(|(path, _)| *path == needed),
                "{needed}"
            );
        }
        assert!(
            NODE_FILES
                .iter()
                .all(|(path, _)| !path.contains("node_modules"))
        );
        let root = tempfile::tempdir().unwrap();
        let python = write_tree(root.path(), &PYTHON).unwrap();
        let node = write_tree(root.path(), &NODE).unwrap();
        assert_ne!(python, node);
        for (relative, contents) in NODE_FILES {
            assert_eq!(std::fs::read(node.join(relative)).unwrap(), *contents);
        }
    }
}
