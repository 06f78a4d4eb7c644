//! Checking requirements against an interpreter: a small script (`check.py`) reads each
//! requirement with `packaging` (PEP 440 / PEP 508, as pip does) and compares it with what
//! `importlib.metadata` says is installed.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::process::{RunRequest, run_lines};

const CHECK_SCRIPT: &str = include_str!("check.py");

/// One requirement, as the interpreter judged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PackageStatus {
    /// The requirement as given, such as `numpy>=1.26,<3`.
    pub requirement: String,
    /// The distribution it names, such as `numpy`.
    pub name: String,
    /// The installed version, if any.
    pub installed: Option<String>,
    /// Whether what is installed satisfies the requirement.
    pub satisfied: bool,
    /// Why it is not satisfied (`not installed`, `1.2 is installed, >=2 is wanted`), or why
    /// it needs nothing here (an environment marker that does not apply).
    #[serde(default)]
    pub reason: Option<String>,
}

/// The status of every requirement checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PackageReport {
    /// One entry per requirement, in the order given.
    pub packages: Vec<PackageStatus>,
}

impl PackageReport {
    /// The requirements that are not satisfied.
    pub fn missing(&self) -> Vec<&PackageStatus> {
        self.packages
            .iter()
            .filter(|status| !status.satisfied)
            .collect()
    }

    /// Whether every requirement is satisfied.
    pub fn all_satisfied(&self) -> bool {
        self.packages.iter().all(|status| status.satisfied)
    }
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(flatten)]
    status: PackageStatus,
    #[serde(default)]
    error: Option<String>,
}

/// Runs the check script with `python`.
pub(super) fn check(
    python: &Path,
    requirements: &[String],
    timeout: Duration,
) -> Result<PackageReport> {
    let list = serde_json::to_string(requirements).map_err(|source| Error::Convert {
        what: "the requirements",
        source,
    })?;
    let request = RunRequest::new(python, ["-c", CHECK_SCRIPT, list.as_str()], timeout);
    let output = run_lines(&request, &mut |_, _| {})?;
    if !output.success() {
        return Err(Error::Config(format!(
            "`{}` could not check the requirements: {}",
            python.display(),
            output.stderr.trim()
        )));
    }
    let entries: Vec<Entry> =
        serde_json::from_str(output.stdout.trim()).map_err(|source| Error::Convert {
            what: "the requirement check report",
            source,
        })?;
    let mut packages = Vec::with_capacity(entries.len());
    for entry in entries {
        if let Some(error) = entry.error {
            return Err(Error::Config(format!(
                "requirement `{}`: {error}",
                entry.status.requirement
            )));
        }
        packages.push(entry.status);
    }
    Ok(PackageReport { packages })
}
