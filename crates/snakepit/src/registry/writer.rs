//! The run record's writer: one thread per run that writes the record to disk, so the code
//! that changes it (worker starts and exits, on the async runtime) never waits on the file
//! system.
//!
//! A change edits the record in memory under a mutex and bumps its version; that is all a
//! caller pays. The thread wakes, takes a snapshot of the newest version and writes it
//! (to a staging file, renamed into place). Changes made while a write runs are coalesced
//! into the next write, and since only the newest state is ever written, by one thread, the
//! file always moves forward: ordered, never a stale state after a newer one.
//! [`RecordWriter::flushed`] waits until everything changed before the call is on disk.
//! When the writer is dropped the thread finishes the write in progress, removes the run's
//! files (the final state of a run that ended), and exits; the drop waits for that.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::watch;

use super::RunRecord;

/// Writes one run's record off the async runtime; see the module docs.
#[derive(Debug)]
pub(super) struct RecordWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// The newest version on disk (or whose write failed and was logged).
    written: watch::Sender<u64>,
    /// How many times the record file was written.
    writes: AtomicU64,
}

#[derive(Debug)]
struct State {
    record: RunRecord,
    version: u64,
    closing: bool,
}

/// The files of one run.
#[derive(Debug, Clone)]
pub(super) struct RunFiles {
    pub(super) record: PathBuf,
    pub(super) lock: PathBuf,
}

impl RecordWriter {
    /// Writes `record` to `files.record` now (so a new run is on disk when this returns) and
    /// starts the writer thread. Blocking: call it where `Run::create` runs, off the runtime.
    ///
    /// # Errors
    ///
    /// The I/O error when the first write fails or the thread cannot start.
    pub(super) fn start(files: RunFiles, record: RunRecord) -> io::Result<Self> {
        save(&files.record, &record)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                record,
                version: 0,
                closing: false,
            }),
            wake: Condvar::new(),
            written: watch::Sender::new(0),
            writes: AtomicU64::new(1),
        });
        let thread = std::thread::Builder::new()
            .name("snakepit-registry".to_owned())
            .spawn({
                let shared = Arc::clone(&shared);
                move || write_loop(&shared, &files)
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Changes the record in memory and wakes the thread to write it. Does not wait for the
    /// disk.
    pub(super) fn change(&self, edit: impl FnOnce(&mut RunRecord)) {
        let mut state = self.shared.lock();
        edit(&mut state.record);
        state.version += 1;
        drop(state);
        self.shared.wake.notify_one();
    }

    /// Resolves once every change made before this call is on disk (or its write failed,
    /// which is logged).
    pub(super) async fn flushed(&self) {
        let target = self.shared.lock().version;
        let mut written = self.shared.written.subscribe();
        // The sender lives in `shared`, which `self` keeps alive, so this cannot fail.
        let _on_disk = written.wait_for(|version| *version >= target).await;
    }

    /// A copy of the record as it is in memory.
    #[cfg(test)]
    pub(super) fn snapshot(&self) -> RunRecord {
        self.shared.lock().record.clone()
    }

    /// How many times the record file was written, the first write included.
    #[cfg(test)]
    pub(super) fn writes(&self) -> u64 {
        self.shared.writes.load(Ordering::Relaxed)
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::warn!("the run registry writer panicked");
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain data edited by short closures; a panic in one leaves it usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn write_loop(shared: &Shared, files: &RunFiles) {
    let mut written = 0;
    loop {
        let (record, version) = {
            let mut state = shared.lock();
            while state.version == written && !state.closing {
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.closing {
                break;
            }
            (state.record.clone(), state.version)
        };
        if let Err(err) = save(&files.record, &record) {
            tracing::warn!(path = %files.record.display(), error = %err, "could not update the run registry");
        }
        shared.writes.fetch_add(1, Ordering::Relaxed);
        written = version;
        shared.written.send_replace(written);
    }
    for path in [&files.record, &files.lock] {
        if let Err(err) = fs::remove_file(path) {
            tracing::debug!(path = %path.display(), error = %err, "could not remove a run file");
        }
    }
}

/// Writes the record to a staging file and renames it into place, so a reader never sees a
/// half-written record.
fn save(path: &Path, record: &RunRecord) -> io::Result<()> {
    let staging = path.with_extension("json.new");
    let bytes = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    fs::write(&staging, bytes)?;
    fs::rename(&staging, path)
}
