//! One run's lock and record.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::writer::{RecordWriter, RunFiles};
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
///
/// Changes ([`worker_spawning`](Self::worker_spawning), [`worker_spawned`](Self::worker_spawned),
/// [`worker_gone`](Self::worker_gone)) are cheap and never wait on the disk: the run's
/// writer thread writes them, coalesced and in order. [`flushed`](Self::flushed) waits until
/// they are on disk.
///
/// # What the sweep relies on
///
/// A worker is killed by a later sweep only if its pid and start time are in the record on
/// disk when the host dies. The worker's start awaits [`flushed`](Self::flushed) after
/// [`worker_spawned`](Self::worker_spawned) and before the worker is ready, so every worker
/// the pool hands calls to is on disk. A host that dies between the spawn and that write
/// leaves a worker the record does not name; the parent-death signal and the reaper kill that
/// one.
#[derive(Debug)]
pub(crate) struct Run {
    // Dropped first: the writer finishes, removes the run's files, then the lock is released.
    writer: RecordWriter,
    _lock: Flock<File>,
}

impl Run {
    /// Registers a new run in `dir`: its lock is taken and its record written when this
    /// returns. Blocking; call it off the runtime.
    ///
    /// # Errors
    ///
    /// The I/O error when the directory or its files cannot be written, or the writer thread
    /// cannot start.
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
        let files = RunFiles {
            record: dir.join(format!("{run_id}.json")),
            lock: lock_path,
        };
        let record = RunRecord {
            run_id,
            host_pid,
            host_start_ticks: stat(host_pid).map_or(0, |stat| stat.start_ticks),
            instance: instance.to_owned(),
            started_unix,
            workers: BTreeMap::new(),
        };
        let writer = match RecordWriter::start(files.clone(), record) {
            Ok(writer) => writer,
            Err(err) => {
                for path in [&files.record, &files.lock] {
                    // Best effort: the run never started.
                    let _gone = fs::remove_file(path);
                }
                return Err(err);
            }
        };
        Ok(Self {
            writer,
            _lock: lock,
        })
    }

    /// Records a worker about to be spawned. Does not wait for the disk.
    pub(crate) fn worker_spawning(&self, worker: WorkerId) {
        self.writer.change(|record| {
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

    /// Confirms a spawned worker with its identity. Reads the process's start time from
    /// `/proc` (no disk I/O) and does not wait for the disk; await
    /// [`flushed`](Self::flushed) before the worker counts as started.
    pub(crate) fn worker_spawned(&self, worker: WorkerId, pid: u32) {
        let start_ticks = stat(pid).map(|stat| stat.start_ticks);
        self.writer.change(|record| {
            if let Some(entry) = record.workers.get_mut(&worker.to_string()) {
                entry.pid = Some(pid);
                entry.pgid = Some(pid);
                entry.start_ticks = start_ticks;
            }
        });
    }

    /// Forgets a worker whose process group is gone. Does not wait for the disk.
    pub(crate) fn worker_gone(&self, worker: WorkerId) {
        self.writer.change(|record| {
            record.workers.remove(&worker.to_string());
        });
    }

    /// Resolves once every change made before this call is on disk (a failed write is
    /// logged and counts as done, so this never hangs).
    pub(crate) async fn flushed(&self) {
        self.writer.flushed().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::registry::list_runs;

    fn on_disk(dir: &Path) -> RunRecord {
        let runs = list_runs(dir).unwrap();
        assert_eq!(runs.len(), 1, "{runs:?}");
        runs[0].record.clone().expect("the record is readable")
    }

    #[tokio::test]
    async fn changes_reach_the_disk_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let run = Run::create(dir.path(), "test").unwrap();
        assert!(on_disk(dir.path()).workers.is_empty());
        let me = std::process::id();
        let workers: Vec<WorkerId> = (0..50).map(|_| WorkerId::next()).collect();
        for (n, worker) in workers.iter().enumerate() {
            run.worker_spawning(*worker);
            run.worker_spawned(*worker, me);
            if n % 2 == 0 {
                run.worker_gone(*worker);
            }
        }
        run.flushed().await;
        let record = on_disk(dir.path());
        assert_eq!(record, run.writer.snapshot());
        let kept: Vec<String> = workers
            .iter()
            .skip(1)
            .step_by(2)
            .map(ToString::to_string)
            .collect();
        assert_eq!(record.workers.keys().cloned().collect::<Vec<_>>(), {
            let mut sorted = kept.clone();
            sorted.sort();
            sorted
        });
        let entry = &record.workers[&kept[0]];
        assert_eq!((entry.pid, entry.pgid), (Some(me), Some(me)));
        assert_eq!(entry.start_ticks, stat(me).map(|stat| stat.start_ticks));
        assert!(run.writer.writes() <= 1 + 50 * 3);
    }

    /// While the writer is stuck on the disk (a FIFO in place of the staging file blocks its
    /// write), changes still return at once, and they are written together afterwards.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_never_wait_for_the_disk_and_are_coalesced() {
        let dir = tempfile::tempdir().unwrap();
        let run = Run::create(dir.path(), "test").unwrap();
        let record_path = dir
            .path()
            .join(format!("{}.json", run.writer.snapshot().run_id));
        let staging = record_path.with_extension("json.new");
        nix::unistd::mkfifo(&staging, nix::sys::stat::Mode::S_IRWXU).unwrap();

        let first = WorkerId::next();
        run.worker_spawning(first);
        // Every one of these returns although the writer is blocked opening the FIFO.
        let others: Vec<WorkerId> = (0..100).map(|_| WorkerId::next()).collect();
        for worker in &others {
            run.worker_spawning(*worker);
        }
        assert_eq!(run.writer.writes(), 1, "a write got past the FIFO");

        let drained = std::thread::spawn(move || std::fs::read(&staging).unwrap());
        tokio::time::timeout(Duration::from_secs(30), run.flushed())
            .await
            .expect("the writer did not catch up");
        assert!(!drained.join().unwrap().is_empty());
        // The blocked write, then at most one write for everything that piled up behind it.
        let writes = run.writer.writes();
        assert!((2..=3).contains(&writes), "{writes} writes");
        // The FIFO was renamed over the record; one more write puts a plain file there.
        run.worker_spawning(WorkerId::next());
        run.flushed().await;
        assert_eq!(on_disk(dir.path()).workers.len(), 102);
    }

    #[tokio::test]
    async fn a_failed_write_is_logged_and_flushed_still_resolves() {
        let dir = tempfile::tempdir().unwrap();
        let run = Run::create(dir.path(), "test").unwrap();
        std::fs::remove_dir_all(dir.path()).unwrap();
        run.worker_spawning(WorkerId::next());
        tokio::time::timeout(Duration::from_secs(30), run.flushed())
            .await
            .expect("flushed hung on a failed write");
    }

    #[tokio::test]
    async fn dropping_the_run_removes_its_files_after_the_last_write() {
        let dir = tempfile::tempdir().unwrap();
        let run = Run::create(dir.path(), "test").unwrap();
        for _ in 0..20 {
            run.worker_spawning(WorkerId::next());
        }
        drop(run);
        // The writer thread has ended: nothing can bring a file back.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        assert!(list_runs(dir.path()).unwrap().is_empty());
    }
}
