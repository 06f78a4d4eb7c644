//! Capture of a worker's stdout and stderr: every line becomes a `tracing` event tagged with
//! the worker id, and the last lines of stderr are kept for error messages.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::task::JoinHandle;

use crate::worker::WorkerId;

/// How many stderr lines an error message carries.
const TAIL_LINES: usize = 40;
/// Lines longer than this are cut, so a worker cannot make the host buffer without bound.
const MAX_LINE: usize = 8 * 1024;

/// The captured output of one worker.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutputTail {
    tail: Arc<Mutex<VecDeque<String>>>,
    readers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl OutputTail {
    /// Starts capturing the given streams. `stdout` is absent when it carries the link.
    pub(crate) fn capture(
        worker: WorkerId,
        stdout: Option<impl AsyncRead + Send + Unpin + 'static>,
        stderr: Option<impl AsyncRead + Send + Unpin + 'static>,
    ) -> Self {
        let output = Self::default();
        let mut readers = Vec::new();
        if let Some(stdout) = stdout {
            readers.push(tokio::spawn(read_lines(worker, "stdout", stdout, None)));
        }
        if let Some(stderr) = stderr {
            let tail = Arc::clone(&output.tail);
            readers.push(tokio::spawn(read_lines(
                worker,
                "stderr",
                stderr,
                Some(tail),
            )));
        }
        *output
            .readers
            .lock()
            .expect("output lock is never poisoned") = readers;
        output
    }

    /// Waits, at most `limit`, until the worker's output streams are closed, so the tail
    /// holds everything a dead worker wrote.
    pub(crate) async fn settle(&self, limit: Duration) {
        let readers =
            std::mem::take(&mut *self.readers.lock().expect("output lock is never poisoned"));
        let all = futures_util::future::join_all(readers);
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::debug!("worker output still open after the worker exited");
        }
    }

    /// The last lines of stderr, joined.
    pub(crate) fn tail(&self) -> String {
        let tail = self.tail.lock().expect("output lock is never poisoned");
        tail.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

async fn read_lines(
    worker: WorkerId,
    stream: &'static str,
    source: impl AsyncRead + Unpin,
    tail: Option<Arc<Mutex<VecDeque<String>>>>,
) {
    let mut reader = BufReader::new(source);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) => break,
            Ok(_) => {
                line.truncate(MAX_LINE);
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\n', '\r']);
                tracing::info!(target: "snakepit::worker::output", worker = %worker, stream, "{text}");
                if let Some(tail) = &tail {
                    let mut tail = tail.lock().expect("output lock is never poisoned");
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(text.to_owned());
                }
            }
            Err(err) => {
                tracing::debug!(worker = %worker, stream, error = %err, "worker output unreadable");
                break;
            }
        }
    }
}
