//! Capture of a worker's stdout and stderr: every line becomes a `tracing` event tagged with
//! the worker id, and the last lines of stderr are kept for error messages.
//!
//! Memory stays bounded whatever the worker writes: lines are split by tokio-util's
//! `AnyDelimiterCodec` with a maximum length, so a line longer than [`MAX_LINE`] is cut after
//! its first [`MAX_LINE`] bytes (and marked with [`CUT_MARKER`]) and the rest of it is skipped
//! as it arrives, never buffered. Bytes that are not UTF-8 are replaced, never an error that
//! stops the capture. The stderr tail keeps at most [`TAIL_LINES`] lines.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::io::AsyncRead;
use tokio::task::JoinHandle;
use tokio_util::codec::{AnyDelimiterCodec, AnyDelimiterCodecError, Decoder, FramedRead};

use crate::worker::WorkerId;

/// How many stderr lines an error message carries.
const TAIL_LINES: usize = 40;
/// Lines longer than this many bytes are cut, so a worker cannot make the host buffer
/// without bound.
pub(super) const MAX_LINE: usize = 8 * 1024;
/// Appended to a line that was cut at [`MAX_LINE`] bytes.
pub(super) const CUT_MARKER: &str = " [line cut at 8 KiB]";

/// The captured output of one worker.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutputTail {
    tail: Arc<Mutex<VecDeque<String>>>,
    readers: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// The correlation id of the call the worker runs, when it runs one call at a time;
    /// empty otherwise. Kept in one reused buffer: setting it allocates nothing.
    current: Arc<Mutex<String>>,
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
            let current = Arc::clone(&output.current);
            readers.push(tokio::spawn(read_lines(stdout, move |text| {
                log_line(worker, "stdout", &current, text);
            })));
        }
        if let Some(stderr) = stderr {
            let tail = Arc::clone(&output.tail);
            let current = Arc::clone(&output.current);
            readers.push(tokio::spawn(read_lines(stderr, move |text| {
                log_line(worker, "stderr", &current, text);
                let mut tail = tail.lock().expect("output lock is never poisoned");
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(text.to_owned());
            })));
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

    /// Records the correlation id of the call the worker now runs (`None`: no call), so its
    /// output lines carry it. Only for workers that run one call at a time.
    pub(crate) fn set_call(&self, correlation_id: Option<&str>) {
        let mut current = self.current.lock().expect("output lock is never poisoned");
        current.clear();
        if let Some(correlation_id) = correlation_id {
            current.push_str(correlation_id);
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

fn log_line(worker: WorkerId, stream: &'static str, current: &Mutex<String>, text: &str) {
    let correlation_id = {
        let current = current.lock().expect("output lock is never poisoned");
        (!current.is_empty()).then(|| current.clone())
    };
    tracing::info!(
        target: "snakepit::worker::output",
        worker = %worker,
        stream,
        correlation_id = correlation_id.as_deref(),
        "{text}"
    );
}

/// Reads `source` line by line until it ends or fails, and hands each line (without its
/// line ending, cut and marked when over [`MAX_LINE`], non-UTF-8 bytes replaced) to `emit`.
pub(super) async fn read_lines(source: impl AsyncRead + Unpin, mut emit: impl FnMut(&str)) {
    let mut lines = FramedRead::new(source, BoundedLines::new());
    while let Some(line) = lines.next().await {
        match line {
            Ok(line) => {
                let text = String::from_utf8_lossy(&line.bytes);
                let text = text.trim_end_matches('\r');
                if line.cut {
                    emit(&format!("{text}{CUT_MARKER}"));
                } else {
                    emit(text);
                }
            }
            Err(err) => {
                tracing::debug!(error = %err, "worker output unreadable");
                break;
            }
        }
    }
}

/// One line of output.
#[derive(Debug)]
struct Line {
    bytes: Bytes,
    /// Whether the line was longer than [`MAX_LINE`] and this is only its start.
    cut: bool,
}

/// `AnyDelimiterCodec` split on `\n` with a maximum length, turned from "an error, then the
/// line skipped" into "the line's first [`MAX_LINE`] bytes, then the rest skipped": the
/// codec never yields an error for a long line, so the stream of lines never ends early.
#[derive(Debug)]
struct BoundedLines {
    codec: AnyDelimiterCodec,
}

impl BoundedLines {
    fn new() -> Self {
        Self {
            codec: AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), Vec::new(), MAX_LINE),
        }
    }

    fn map(
        outcome: Result<Option<Bytes>, AnyDelimiterCodecError>,
        buf: &mut BytesMut,
    ) -> io::Result<Option<Line>> {
        match outcome {
            Ok(line) => Ok(line.map(|bytes| Line { bytes, cut: false })),
            // The codec keeps the buffer as it was and skips up to the next newline on its
            // next call; the start of the line is kept here.
            Err(AnyDelimiterCodecError::MaxChunkLengthExceeded) => Ok(Some(Line {
                bytes: buf.split_to(MAX_LINE).freeze(),
                cut: true,
            })),
            Err(AnyDelimiterCodecError::Io(err)) => Err(err),
        }
    }
}

impl Decoder for BoundedLines {
    type Item = Line;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Line>> {
        let outcome = self.codec.decode(buf);
        Self::map(outcome, buf)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> io::Result<Option<Line>> {
        let outcome = self.codec.decode_eof(buf);
        Self::map(outcome, buf)
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};

    use tokio::io::ReadBuf;

    use super::*;

    /// Collects what `tracing` writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn output_lines_carry_the_running_calls_correlation_id() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let (mut stdout_in, stdout_out) = tokio::io::duplex(1024);
        let output = OutputTail::capture(
            WorkerId::next(),
            Some(stdout_out),
            None::<tokio::io::DuplexStream>,
        );
        output.set_call(Some("corr-1"));
        tokio::io::AsyncWriteExt::write_all(&mut stdout_in, b"inside the call\n")
            .await
            .unwrap();
        let seen = |text: &'static str| {
            let captured = captured.clone();
            async move { String::from_utf8_lossy(&captured.0.lock().unwrap()).contains(text) }
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !seen("inside the call").await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the line never arrived"
            );
            tokio::task::yield_now().await;
        }
        output.set_call(None);
        tokio::io::AsyncWriteExt::write_all(&mut stdout_in, b"between calls\n")
            .await
            .unwrap();
        drop(stdout_in);
        output.settle(Duration::from_secs(5)).await;
        let text = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
        let inside = text
            .lines()
            .find(|line| line.contains("inside the call"))
            .unwrap();
        assert!(inside.contains("correlation_id=\"corr-1\""), "{inside}");
        let between = text
            .lines()
            .find(|line| line.contains("between calls"))
            .unwrap();
        assert!(!between.contains("correlation_id"), "{between}");
    }

    /// A worker's stdout: `flood` bytes without a newline, then `rest`; counts the bytes it
    /// has handed out.
    struct Flood {
        flood: usize,
        rest: &'static [u8],
        handed_out: Arc<AtomicUsize>,
    }

    impl AsyncRead for Flood {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];
            let done = self.handed_out.load(Ordering::SeqCst);
            let n = if done < self.flood {
                let n = buf.remaining().min(self.flood - done).min(CHUNK.len());
                buf.put_slice(&CHUNK[..n]);
                n
            } else {
                let rest = &self.rest[(done - self.flood).min(self.rest.len())..];
                let n = buf.remaining().min(rest.len());
                buf.put_slice(&rest[..n]);
                n
            };
            self.handed_out.fetch_add(n, Ordering::SeqCst);
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_huge_line_is_cut_without_being_buffered_and_the_next_line_arrives() {
        const FLOOD: usize = 64 * 1024 * 1024;
        let handed_out = Arc::new(AtomicUsize::new(0));
        let source = Flood {
            flood: FLOOD,
            rest: b"\nnext line\n",
            handed_out: Arc::clone(&handed_out),
        };
        let mut seen = Vec::new();
        read_lines(source, |line| {
            seen.push((handed_out.load(Ordering::SeqCst), line.to_owned()));
        })
        .await;
        assert_eq!(handed_out.load(Ordering::SeqCst), FLOOD + 11);
        assert_eq!(
            seen.len(),
            2,
            "{:?}",
            seen.iter().map(|(at, _)| at).collect::<Vec<_>>()
        );
        let (read_when_cut, cut) = &seen[0];
        assert_eq!(cut.len(), MAX_LINE + CUT_MARKER.len());
        assert!(cut.ends_with(CUT_MARKER));
        assert!(cut[..MAX_LINE].bytes().all(|byte| byte == b'x'));
        // The cut line is logged as soon as it is too long, not when its end arrives: the
        // host never held more than a few chunks of it.
        assert!(
            *read_when_cut < 1024 * 1024,
            "the line was emitted only after {read_when_cut} bytes were read"
        );
        assert_eq!(seen[1].1, "next line");
    }

    #[tokio::test]
    async fn the_read_buffer_stays_small_while_a_long_line_is_skipped() {
        let source = Flood {
            flood: 16 * 1024 * 1024,
            rest: b"\nend\n",
            handed_out: Arc::new(AtomicUsize::new(0)),
        };
        let mut lines = FramedRead::new(source, BoundedLines::new());
        let mut largest = 0;
        let mut texts = Vec::new();
        while let Some(line) = lines.next().await {
            largest = largest.max(lines.read_buffer().capacity());
            texts.push((line.unwrap().cut, lines.read_buffer().len()));
        }
        assert_eq!(texts.len(), 2);
        assert!(texts[0].0 && !texts[1].0);
        assert!(
            largest <= 256 * 1024,
            "the read buffer grew to {largest} bytes"
        );
    }

    #[tokio::test]
    async fn bad_utf8_and_line_endings_do_not_stop_the_capture() {
        let bytes: &[u8] = b"\xff\xfea\nb\r\n\n\xc3(c";
        let mut seen = Vec::new();
        read_lines(bytes, |line| seen.push(line.to_owned())).await;
        assert_eq!(seen, ["\u{fffd}\u{fffd}a", "b", "", "\u{fffd}(c"]);
    }

    #[tokio::test]
    async fn the_stderr_tail_keeps_the_last_lines() {
        let text: String = (0..100).map(|n| format!("line {n}\n")).collect();
        let stderr = std::io::Cursor::new(text.into_bytes());
        let output = OutputTail::capture(WorkerId::next(), None::<tokio::io::Empty>, Some(stderr));
        output.settle(Duration::from_secs(10)).await;
        let tail = output.tail();
        let lines: Vec<&str> = tail.lines().collect();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines.first(), Some(&"line 60"));
        assert_eq!(lines.last(), Some(&"line 99"));
    }
}
