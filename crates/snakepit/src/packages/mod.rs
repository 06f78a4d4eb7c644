//! Python packages and environments: check that requirements (PEP 440 specifiers, such as
//! `numpy>=1.26,<3`) are satisfied by an interpreter, install what is missing, create a
//! virtual environment, and ask an interpreter what it is.
//!
//! Everything here runs the interpreter (or `uv`, when it is on `PATH`) as a short-lived
//! subprocess with a timeout, and blocks while it runs: call it from
//! `tokio::task::spawn_blocking` in async code. Errors name the package and carry the
//! installer's own message.
//!
//! ```no_run
//! use snakepit::packages::Packages;
//!
//! let packages = Packages::new(".venv/bin/python");
//! let report = packages.check(&["numpy>=1.26,<3", "msgpack"])?;
//! for missing in report.missing() {
//!     println!("{}: {}", missing.requirement, missing.reason.as_deref().unwrap_or("?"));
//! }
//! packages.ensure(&["msgpack>=1.0"])?;   // installs it when it is missing
//! # Ok::<(), snakepit::Error>(())
//! ```

mod bridge;
mod check;
mod install;
mod probe;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use bridge::{install_bridge, site_packages};
pub use check::{PackageReport, PackageStatus};
pub use install::{Installer, create_venv, find_uv, venv_python};
pub use probe::{MIN_PYTHON, PythonInfo, PythonOutput, check_python_version, probe, run_python};
pub(crate) use probe::{PROBE_SCRIPT, parse_probe};

use crate::error::{Error, Result};

/// The default time an installer may take.
pub const DEFAULT_INSTALL_TIMEOUT: Duration = Duration::from_secs(300);
/// The default time a check may take.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// The packages of one interpreter.
#[derive(Debug, Clone)]
pub struct Packages {
    python: PathBuf,
    installer: Installer,
    install_timeout: Duration,
    check_timeout: Duration,
}

impl Packages {
    /// The packages of `python` (a venv's `bin/python`, or any interpreter).
    pub fn new(python: impl Into<PathBuf>) -> Self {
        Self {
            python: python.into(),
            installer: Installer::Auto,
            install_timeout: DEFAULT_INSTALL_TIMEOUT,
            check_timeout: DEFAULT_CHECK_TIMEOUT,
        }
    }

    /// Which installer to use. Default: [`Installer::Auto`] (`uv` when on `PATH`, else pip).
    #[must_use]
    pub fn installer(mut self, installer: Installer) -> Self {
        self.installer = installer;
        self
    }

    /// The longest an install may take before it is killed. Default: 300 s.
    #[must_use]
    pub fn install_timeout(mut self, timeout: Duration) -> Self {
        self.install_timeout = timeout;
        self
    }

    /// The interpreter.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// Checks each requirement against what the interpreter has installed.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] when the interpreter cannot run; [`Error::Config`] naming a
    /// requirement that is not valid PEP 508.
    pub fn check<S: AsRef<str>>(&self, requirements: &[S]) -> Result<PackageReport> {
        check::check(&self.python, &owned(requirements), self.check_timeout)
    }

    /// Installs `requirements` (requirement strings), calling `progress` with each line the
    /// installer prints.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the requirements and quoting the installer's message when it
    /// fails; [`Error::Io`] when it outlives its timeout.
    pub fn install<S: AsRef<str>>(
        &self,
        requirements: &[S],
        progress: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let requirements = owned(requirements);
        if requirements.is_empty() {
            return Ok(());
        }
        let what = requirements.join(", ");
        install::install(
            &self.python,
            self.installer,
            requirements,
            &what,
            self.install_timeout,
            progress,
        )
    }

    /// Installs everything a `requirements.txt` lists, and `extra` requirements, in one run
    /// of the installer.
    ///
    /// # Errors
    ///
    /// As [`Packages::install`].
    pub fn install_requirements_file<S: AsRef<str>>(
        &self,
        file: &Path,
        extra: &[S],
        progress: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let extra = owned(extra);
        let mut what = format!("the requirements in {}", file.display());
        if !extra.is_empty() {
            what = format!("{what} and {}", extra.join(", "));
        }
        let mut args = vec!["-r".to_owned(), file.display().to_string()];
        args.extend(extra);
        install::install(
            &self.python,
            self.installer,
            args,
            &what,
            self.install_timeout,
            progress,
        )
    }

    /// Checks the requirements, installs the ones not satisfied, and checks again.
    ///
    /// # Errors
    ///
    /// As [`Packages::install`], and [`Error::Config`] naming each requirement still not
    /// satisfied after the install.
    pub fn ensure<S: AsRef<str>>(&self, requirements: &[S]) -> Result<PackageReport> {
        let report = self.check(requirements)?;
        let missing: Vec<String> = report
            .missing()
            .into_iter()
            .map(|status| status.requirement.clone())
            .collect();
        if missing.is_empty() {
            return Ok(report);
        }
        self.install(&missing, &mut |_| {})?;
        let after = self.check(requirements)?;
        let still: Vec<String> = after
            .missing()
            .into_iter()
            .map(|status| {
                format!(
                    "{} ({})",
                    status.requirement,
                    status.reason.as_deref().unwrap_or("not satisfied")
                )
            })
            .collect();
        if still.is_empty() {
            Ok(after)
        } else {
            Err(Error::Config(format!(
                "still not satisfied after installing: {}",
                still.join(", ")
            )))
        }
    }
}

fn owned<S: AsRef<str>>(requirements: &[S]) -> Vec<String> {
    requirements
        .iter()
        .map(|requirement| requirement.as_ref().trim().to_owned())
        .filter(|requirement| !requirement.is_empty())
        .collect()
}
