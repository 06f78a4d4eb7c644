//! The parts of `snakepit doctor` that are not about Python: check lines, the project's
//! `snakepit.toml` as far as doctor needs it, the state and cache directories, the registry,
//! `/dev/shm` and the open-file limit.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    Warn,
    Fail,
}

/// One check: what, how it came out, and the fix when it did not pass.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    pub(crate) name: &'static str,
    pub(crate) status: Status,
    pub(crate) detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fix: Option<String>,
}

impl Check {
    pub(crate) fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub(crate) fn warn(name: &'static str, detail: impl Into<String>, fix: &str) -> Self {
        Self {
            name,
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.to_owned()),
        }
    }

    pub(crate) fn fail(name: &'static str, detail: impl Into<String>, fix: &str) -> Self {
        Self {
            name,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.to_owned()),
        }
    }

    /// The check as one line (plus the fix on the next), coloured when asked.
    pub(crate) fn line(&self, colour: bool) -> String {
        let (mark, code) = match self.status {
            Status::Ok => ("✔", "32"),
            Status::Warn => ("!", "33"),
            Status::Fail => ("✘", "31"),
        };
        let mark = if colour {
            format!("\x1b[{code}m{mark}\x1b[0m")
        } else {
            mark.to_owned()
        };
        let mut line = format!("{mark} {}: {}", self.name, self.detail);
        if let Some(fix) = &self.fix {
            line.push_str(&format!("\n    fix: {fix}"));
        }
        line
    }
}

/// What doctor takes from the config file (`snakepit.toml`, through [`crate::config`]).
#[derive(Debug, Default)]
pub(crate) struct ProjectConfig {
    pub(crate) interpreter: Option<PathBuf>,
    pub(crate) class: Option<String>,
    pub(crate) paths: Vec<PathBuf>,
    pub(crate) size: Option<usize>,
}

/// Reads the default pool of the config file, if there is one; a file that cannot be used
/// becomes a failed check.
pub(crate) fn project_config(explicit: Option<&Path>) -> (ProjectConfig, Option<Check>) {
    let mut project = ProjectConfig::default();
    let loaded = crate::config::locate(explicit).and_then(|found| {
        found
            .map(|path| crate::config::Config::load(&path))
            .transpose()
    });
    let config = match loaded {
        Ok(Some(config)) => config,
        Ok(None) => return (project, None),
        Err(err) => {
            let check = Check::fail(
                "config",
                format!("{err:#}"),
                "fix the file (`snakepit config check` shows it resolved)",
            );
            return (project, Some(check));
        }
    };
    let pool = match config.pool(None) {
        Ok((_, pool)) => pool,
        Err(err) => {
            let check = Check::fail("config", format!("{err:#}"), "name a pool `default`");
            return (project, Some(check));
        }
    };
    let adapter = &pool.adapter;
    project.interpreter = adapter
        .python
        .as_ref()
        .map(|python| python.get_ref().clone());
    project.class = adapter
        .class
        .as_ref()
        .map(|class| class.get_ref().0.clone());
    project.paths = adapter
        .paths
        .as_ref()
        .map(|paths| paths.get_ref().clone())
        .unwrap_or_default();
    project.size = Some(pool.size.0);
    let check = Check::ok("config", format!("{}", config.path.display()));
    (project, Some(check))
}

/// The interpreter when neither `--python` nor a config file names one: the lookup order.
pub(crate) fn default_interpreter() -> PathBuf {
    let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    snakepit::python::find_interpreter(None, &here).path
}

/// The error and its sources on one line (so the operating system's reason shows).
pub(crate) fn with_sources(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(&format!(": {cause_text}"));
        }
        source = cause.source();
    }
    text
}

pub(crate) fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("failed")
        .to_owned()
}

pub(crate) fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("      {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn tool_names(printed: &str) -> String {
    let names: Vec<String> = serde_json::from_str(printed.trim()).unwrap_or_default();
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

/// The checks of the machine: directories, registry, `/dev/shm`, open files.
pub(crate) fn machine(size: usize) -> Vec<Check> {
    let state = snakepit::registry::default_state_dir();
    let mut list = vec![
        writable("state dir", &state),
        writable("cache dir", &cache_dir()),
    ];
    match snakepit::registry::list_runs(&state) {
        Ok(runs) => {
            let dead = runs.iter().filter(|run| !run.live).count();
            let live = runs.len() - dead;
            list.push(if dead == 0 {
                Check::ok("registry", format!("{live} live run(s), no leftovers"))
            } else {
                Check::warn(
                    "registry",
                    format!(
                        "{dead} dead run(s) left in {} ({live} live)",
                        state.display()
                    ),
                    "snakepit cleanup (the next pool start also sweeps them)",
                )
            });
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            list.push(Check::ok("registry", "empty"));
        }
        Err(err) => list.push(Check::warn(
            "registry",
            err.to_string(),
            "check the state dir",
        )),
    }
    list.push(shm());
    list.push(open_files(size));
    list
}

fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SNAKEPIT_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("snakepit")
}

fn writable(name: &'static str, dir: &Path) -> Check {
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    let result = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&probe, b"ok"));
    let _ = std::fs::remove_file(&probe);
    match result {
        Ok(()) => Check::ok(name, format!("{} is writable", dir.display())),
        Err(err) => Check::fail(
            name,
            format!("{} is not writable: {err}", dir.display()),
            "fix its permissions, or point SNAKEPIT_STATE_DIR / SNAKEPIT_CACHE_DIR elsewhere",
        ),
    }
}

fn shm() -> Check {
    match nix::sys::statvfs::statvfs("/dev/shm") {
        Ok(stats) => {
            let free = stats
                .blocks_available()
                .saturating_mul(stats.fragment_size());
            let mib = free / (1024 * 1024);
            if mib < 64 {
                Check::warn(
                    "/dev/shm",
                    format!("{mib} MiB free"),
                    "give the container more shared memory (--shm-size)",
                )
            } else {
                Check::ok("/dev/shm", format!("{mib} MiB free"))
            }
        }
        Err(err) => Check::warn(
            "/dev/shm",
            format!("not available: {err}"),
            "only large-data features use it",
        ),
    }
}

/// Each worker holds a handful of descriptors (its link, two output pipes, a pidfd).
const FDS_PER_WORKER: usize = 8;

fn open_files(size: usize) -> Check {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| {
                    line.split_whitespace()
                        .nth(3)
                        .and_then(|soft| soft.parse::<usize>().ok())
                })
        });
    let needed = size * FDS_PER_WORKER + 64;
    match limit {
        Some(limit) if limit >= needed => Check::ok(
            "open files",
            format!("limit {limit}, a pool of {size} needs about {needed}"),
        ),
        Some(limit) => Check::fail(
            "open files",
            format!("limit {limit}, a pool of {size} needs about {needed}"),
            "raise it (ulimit -n 4096) or run fewer workers",
        ),
        None => Check::warn("open files", "limit unknown", "check `ulimit -n`"),
    }
}
