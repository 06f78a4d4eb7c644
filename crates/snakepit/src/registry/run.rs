//! One run's lock and record.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::process::stat;
use crate::worker::WorkerId;

/// The default state directory: `$SNAKEPIT_STATE_DIR`, else `$XDG_STATE_HOME/snakepit`, else
/// `~/.local/state/snakepit`, else a `snakepit-state` directory in the temp dir.
pub fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SNAKEPIT_STATE_DIR") {
        return PathBuf::from(dir);
    }
    std::env::var_os("XDG_STATE_HOME")
        .map(|dir| PathBuf::from(dir).join("snakepit"))
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state/snakepit"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("snakepit-state"))
}

/// What the registry knows of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunRecord {
    /// The run's id: unique on this machine.
    pub run_id: String,
    /// The host process.
    pub host_pid: u32,
    /// The host's start time, in clock ticks since boot.
    pub host_start_ticks: u64,
    /// The pool's instance name.
    pub instance: String,
    /// When the run started, in seconds since the Unix epoch.
    pub started_unix: u64,
    /// The run's workers by id.
    pub workers: BTreeMap<String, WorkerRecord>,
}

/// What the registry knows of one worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkerRecord {
    /// The worker's id.
    pub worker_id: String,
    /// Its pid, once spawned.
    pub pid: Option<u32>,
    /// Its process group (equal to its pid: every worker leads its group).
    pub pgid: Option<u32>,
    /// Its start time in clock ticks since boot, once spawned.
    pub start_ticks: Option<u64>,
}

/// A live run: holds the lock and keeps the record up to date. Dropping it removes both.
#[derive(Debug)]
pub(crate) struct Run {
    record_path: PathBuf,
    lock_path: PathBuf,
    record: Mutex<RunRecord>,
    _lock: Flock<File>,
}

impl Run {
    /// Registers a new run in `dir`.
    ///
    /// # Errors
    ///
    /// The I/O error when the directory or its files cannot be written.
    pub(crate) fn create(dir: &Path, instance: &str) -> io::Result<Self> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(dir)?;
        let host_pid = std::process::id();
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let run_id = format!(
            "{host_pid}-{}-{}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos()),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        // The lock file is locked before it gets its real name, so a sweeper never sees an
        // unlocked lock file of a live run.
        let staging = dir.join(format!(".{run_id}.lock.new"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staging)?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, errno)| io::Error::from(errno))?;
        let lock_path = dir.join(format!("{run_id}.lock"));
        fs::rename(&staging, &lock_path)?;
        let run = Self {
            record_path: dir.join(format!("{run_id}.json")),
            lock_path,
            record: Mutex::new(RunRecord {
                run_id,
                host_pid,
                host_start_ticks: stat(host_pid).map_or(0, |stat| stat.start_ticks),
                instance: instance.to_owned(),
                started_unix,
                workers: BTreeMap::new(),
            }),
            _lock: lock,
        };
        run.save(
            &run.record
                .lock()
                .expect("run record lock is never poisoned"),
        );
        Ok(run)
    }

    /// Records a worker about to be spawned.
    pub(crate) fn worker_spawning(&self, worker: WorkerId) {
        self.change(|record| {
            let id = worker.to_string();
            record.workers.insert(
                id.clone(),
                WorkerRecord {
                    worker_id: id,
                    pid: None,
                    pgid: None,
                    start_ticks: None,
                },
            );
        });
    }

    /// Confirms a spawned worker with its identity.
    pub(crate) fn worker_spawned(&self, worker: WorkerId, pid: u32) {
        let start_ticks = stat(pid).map(|stat| stat.start_ticks);
        self.change(|record| {
            if let Some(entry) = record.workers.get_mut(&worker.to_string()) {
                entry.pid = Some(pid);
                entry.pgid = Some(pid);
                entry.start_ticks = start_ticks;
            }
        });
    }

    /// Forgets a worker whose process group is gone.
    pub(crate) fn worker_gone(&self, worker: WorkerId) {
        self.change(|record| {
            record.workers.remove(&worker.to_string());
        });
    }

    fn change(&self, edit: impl FnOnce(&mut RunRecord)) {
        let mut record = self
            .record
            .lock()
            .expect("run record lock is never poisoned");
        edit(&mut record);
        self.save(&record);
    }

    fn save(&self, record: &RunRecord) {
        let staging = self.record_path.with_extension("json.new");
        let written = serde_json::to_vec_pretty(record)
            .map_err(io::Error::other)
            .and_then(|bytes| fs::write(&staging, bytes))
            .and_then(|()| fs::rename(&staging, &self.record_path));
        if let Err(err) = written {
            tracing::warn!(path = %self.record_path.display(), error = %err, "could not update the run registry");
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        for path in [&self.record_path, &self.lock_path] {
            if let Err(err) = fs::remove_file(path) {
                tracing::debug!(path = %path.display(), error = %err, "could not remove a run file");
            }
        }
    }
}
