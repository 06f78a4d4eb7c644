//! Installing the embedded bridge into an interpreter's `site-packages`, so that the
//! adapter's own tests (and `python -m snakepit_bridge`) import the same `snakepit_bridge`
//! the pool runs, with no package index involved.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::adapter::bridge_dir;
use crate::error::{Error, Result};
use crate::process::{RunRequest, run_lines};

const PURELIB: &str = "import sysconfig; print(sysconfig.get_paths()['purelib'])";

/// The `site-packages` directory of `python`.
///
/// # Errors
///
/// [`Error::Spawn`] when it cannot run, [`Error::Config`] when it fails.
pub fn site_packages(python: &Path) -> Result<PathBuf> {
    let request = RunRequest::new(python, ["-c", PURELIB], Duration::from_secs(60));
    let output = run_lines(&request, &mut |_, _| {})?;
    let dir = output.stdout.trim();
    if !output.success() || dir.is_empty() {
        return Err(Error::Config(format!(
            "`{}` did not name its site-packages: {}",
            python.display(),
            output.stderr.trim()
        )));
    }
    Ok(PathBuf::from(dir))
}

/// Copies the bridge embedded in this library into `python`'s `site-packages` (replacing
/// an older copy), with the metadata pip needs to list and uninstall it. Returns the
/// package's directory.
///
/// # Errors
///
/// As [`site_packages`], and [`Error::Io`] when a file cannot be written.
pub fn install_bridge(python: &Path) -> Result<PathBuf> {
    let site = site_packages(python)?;
    let source = bridge_dir()?.join("snakepit_bridge");
    let target = site.join("snakepit_bridge");
    let io = |what: &Path| {
        let context = format!("could not install the bridge at {}", what.display());
        move |source| Error::Io { context, source }
    };
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(io(&target))?;
    }
    let mut record = Vec::new();
    copy_tree(&source, &target, &site, &mut record).map_err(io(&target))?;
    let version = env!("CARGO_PKG_VERSION");
    let dist = site.join(format!("snakepit_bridge-{version}.dist-info"));
    for stale in std::fs::read_dir(&site).map_err(io(&site))?.flatten() {
        let name = stale.file_name().to_string_lossy().into_owned();
        if name.starts_with("snakepit_bridge-") && name.ends_with(".dist-info") {
            std::fs::remove_dir_all(stale.path()).map_err(io(&stale.path()))?;
        }
    }
    std::fs::create_dir_all(&dist).map_err(io(&dist))?;
    let metadata = format!(
        "Metadata-Version: 2.1\nName: snakepit-bridge\nVersion: {version}\n\
         Summary: The Python worker runtime for snakepit (installed by snakepit setup)\n"
    );
    let dist_name = format!("snakepit_bridge-{version}.dist-info");
    for (file, contents) in [("METADATA", metadata.as_str()), ("INSTALLER", "snakepit\n")] {
        std::fs::write(dist.join(file), contents).map_err(io(&dist))?;
        record.push(format!("{dist_name}/{file},,"));
    }
    record.push(format!("{dist_name}/RECORD,,"));
    std::fs::write(dist.join("RECORD"), record.join("\n") + "\n").map_err(io(&dist))?;
    Ok(target)
}

fn copy_tree(from: &Path, to: &Path, site: &Path, record: &mut Vec<String>) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&path, &target, site, record)?;
        } else {
            std::fs::copy(&path, &target)?;
            if let Ok(relative) = target.strip_prefix(site) {
                record.push(format!("{},,", relative.display()));
            }
        }
    }
    Ok(())
}
