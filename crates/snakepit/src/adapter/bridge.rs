//! The Python bridge embedded in the library, written out once per version to a cache
//! directory that workers get on their `PYTHONPATH`.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

include!(concat!(env!("OUT_DIR"), "/bridge_files.rs"));

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
    let dir = write_bridge(&cache_root())?;
    Ok(DIR.get_or_init(|| dir).clone())
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

fn fingerprint() -> u64 {
    let mut hasher = DefaultHasher::new();
    for (path, contents) in FILES {
        path.hash(&mut hasher);
        contents.hash(&mut hasher);
    }
    hasher.finish()
}

fn write_bridge(root: &Path) -> Result<PathBuf> {
    let io_error = |context: String| move |source| Error::Io { context, source };
    let target = root.join(format!(
        "bridge-{}-{:016x}",
        env!("CARGO_PKG_VERSION"),
        fingerprint()
    ));
    if target.join("snakepit_bridge/__init__.py").is_file() {
        return Ok(target);
    }
    std::fs::create_dir_all(root)
        .map_err(io_error(format!("could not create {}", root.display())))?;
    let staging = root.join(format!(
        ".staging-{}-{:016x}",
        std::process::id(),
        fingerprint()
    ));
    for (relative, contents) in FILES {
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
        if !target.join("snakepit_bridge/__init__.py").is_file() {
            return Err(Error::Io {
                context: format!("could not place the Python bridge at {}", target.display()),
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
        let dir = write_bridge(root.path()).unwrap();
        for (relative, contents) in FILES {
            assert_eq!(
                std::fs::read(dir.join(relative)).unwrap(),
                *contents,
                "{relative}"
            );
        }
        // A second write finds the first one.
        assert_eq!(write_bridge(root.path()).unwrap(), dir);
    }
}
