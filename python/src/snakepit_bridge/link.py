"""The worker's link to its host: one full-duplex byte stream carrying frames.

This module owns the descriptors of the link and the bytes on them, nothing about calls:

* opening the link, either the descriptors named by ``SNAKEPIT_FD`` (the native transport:
  one socket, ``"3"``, or two pipes, ``"3,5"``: read from the first, write to the second) or a
  copy of stdin/stdout (the stdio transport, after which fd 1 points at stderr so that
  ``print()`` can never corrupt a frame);
* writing whole frames, with one ``write`` in the common case; once :meth:`Link.share_writes`
  is called, writes from several threads are combined: a frame is queued without a lock,
  and the thread that gets the write lock without waiting writes, in one ``write``, every
  frame queued meanwhile, so frames never interleave and concurrent results share a system
  call (a writer waits only when more than ``PENDING_LIMIT`` bytes are queued: the host's
  backpressure still holds); the reading thread may only queue (:meth:`Link.queue_raw`)
  and write the queue before it next blocks on a read (:meth:`Link.flush_queued`);
* reading frame payloads through a buffered :class:`~snakepit_bridge.protocol.FrameReader`,
  blocking or only from what is already buffered, and waiting for the link to be readable.

Decoding payloads into messages, and what a message means, belong to the runtime.
"""

from __future__ import annotations

import os
import select
import sys

from .errors import LinkClosed
from .protocol import DEFAULT_MAX_FRAME, FrameReader, encode, max_frame_from_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from typing import Any

    from .protocol import Buffer

__all__ = ["Link", "LinkClosed", "link_fds"]

#: With shared writes, how many queued bytes make a writer wait for the flusher.
PENDING_LIMIT = 1 << 20


def link_fds(value: str) -> tuple[int, int]:
    """The (read, write) descriptors named by a ``SNAKEPIT_FD`` value: ``"3"`` is one socket
    for both directions, ``"3,5"`` reads from 3 and writes to 5 (two pipes)."""
    parts = value.split(",")
    if len(parts) == 1:
        fd = int(parts[0])
        return fd, fd
    if len(parts) == 2:
        return int(parts[0]), int(parts[1])
    raise ValueError(f"SNAKEPIT_FD must be one descriptor or two, not {value!r}")


class Link:
    """A framed, buffered connection to the host over one or two file descriptors."""

    def __init__(
        self,
        read_fd: int,
        write_fd: int | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        self.read_fd = read_fd
        self.write_fd = read_fd if write_fd is None else write_fd
        for fd in {self.read_fd, self.write_fd}:
            os.set_blocking(fd, True)
            # Programs the tools start must not inherit the link: they would keep it open
            # after this worker dies, and the host would never see end-of-file.
            os.set_inheritable(fd, False)
        self.reader = FrameReader(self._read, max_frame)
        #: The encoding used for everything this side sends after the handshake.
        self.encoding = "json"
        #: Whether the host is gone (end-of-file or a broken pipe).
        self.closed = False
        self._write_lock: threading.Lock | None = None
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        #: Writers blocked because more than ``PENDING_LIMIT`` bytes are queued.
        self._waiting = 0
        self._poller: Any = None
        if hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(self.read_fd, select.POLLIN)

    @classmethod
    def from_environment(cls) -> Link:
        """Open the link the host prepared: ``SNAKEPIT_FD``, else stdin/stdout."""
        max_frame = max_frame_from_env()
        raw_fd = os.environ.get("SNAKEPIT_FD")
        if raw_fd:
            read_fd, write_fd = link_fds(raw_fd)
            return cls(read_fd, write_fd, max_frame=max_frame)
        # Stdio transport: keep private copies of fds 0 and 1 for the link, then point fd 1
        # at stderr and fd 0 at /dev/null, so that neither print() nor input() can touch it.
        sys.stdout.flush()
        read_fd = os.dup(0)
        write_fd = os.dup(1)
        os.dup2(2, 1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        return cls(read_fd, write_fd, max_frame=max_frame)

    @property
    def max_frame(self) -> int:
        """The largest payload either side may send, in bytes."""
        return self.reader.max_frame

    def _read(self, size: int) -> bytes:
        try:
            return os.read(self.read_fd, size)
        except ConnectionResetError:
            return b""

    # Writing.

    def share_writes(self) -> None:
        """Combine writes from now on: several threads will write frames."""
        import threading

        self._write_lock = threading.Lock()

    def write_raw(self, data: bytes) -> None:
        """Write bytes to the link as one unit, looping over short writes.

        Raises :class:`LinkClosed` when the host has gone away. With shared writes the bytes
        may be written by another thread, after this returns, in order with everything this
        thread wrote before.
        """
        if self._write_lock is not None:
            self._write_shared(data)
            return
        fd = self.write_fd
        try:
            written = os.write(fd, data)
            if written < len(data):
                view = memoryview(data)
                while written < len(data):
                    written += os.write(fd, view[written:])
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.closed = True
            raise LinkClosed(str(exc)) from None

    def _write_shared(self, data: bytes) -> None:
        """Queue ``data``; write the queue unless another thread is writing it already.

        No lock is taken to queue: the frame is appended to the list, then whoever gets the
        write lock without waiting writes everything queued, and looks again after letting
        the lock go, so a frame queued just before the lock was let go is never stranded.
        A writer waits for the lock only when more than ``PENDING_LIMIT`` bytes are queued.
        """
        if self.closed:
            raise LinkClosed("the host closed the link")
        self._pending.append(data)
        # Only a bound, so updated without a lock: a racing update is off by one frame.
        self._pending_bytes += len(data)
        self._drain()

    def queue_raw(self, data: bytes) -> None:
        """Queue bytes to be written with the next write or :meth:`flush_queued`.

        For the reading thread of shared writes: results it produces between two reads go
        out in one ``write`` when it has handled everything it read (or earlier, with any
        other thread's write). Without shared writes this is :meth:`write_raw`.
        """
        if self._write_lock is None:
            self.write_raw(data)
            return
        if self.closed:
            raise LinkClosed("the host closed the link")
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes > PENDING_LIMIT:
            self._drain()

    def flush_queued(self) -> None:
        """Write whatever :meth:`queue_raw` queued (unless another thread is writing it)."""
        if self._pending:
            self._drain()

    def _drain(self) -> None:
        """Write the queue unless another thread holds the write lock (then it will)."""
        lock = self._write_lock
        assert lock is not None
        pending = self._pending
        while True:
            if not lock.acquire(False):
                if self._pending_bytes <= PENDING_LIMIT:
                    return
                self._waiting += 1
                try:
                    lock.acquire()
                finally:
                    self._waiting -= 1
            try:
                self._flush_locked()
            finally:
                lock.release()
            if not pending:
                return

    def _flush_locked(self) -> None:
        """Write every queued frame; the caller holds the write lock."""
        pending = self._pending
        try:
            while pending:
                count = len(pending)
                batch = pending[0] if count == 1 else b"".join(pending[:count])
                # Other threads only ever append, so the first `count` frames are the batch.
                del pending[:count]
                self._pending_bytes = sum(map(len, pending)) if pending else 0
                self._write(batch)
        except BaseException:
            pending.clear()
            self._pending_bytes = 0
            raise

    def _write(self, data: bytes) -> None:
        fd = self.write_fd
        try:
            written = os.write(fd, data)
            if written < len(data):
                view = memoryview(data)
                while written < len(data):
                    written += os.write(fd, view[written:])
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.closed = True
            raise LinkClosed(str(exc)) from None

    def write_with_fds(self, data: bytes, staged: list[Any]) -> None:
        """Send the memfds ``staged`` for a frame on the fd channel, then the frame ``data``,
        as one unit (``shm.py``): no other frame's descriptors can come between."""
        from .shm import send_staged

        lock = self._write_lock
        if lock is not None:
            with lock:
                # Frames queued before this one go first.
                self._flush_locked()
                send_staged(staged)
                self._write(data)
            # Frames queued while the lock was held are this thread's to write.
            if self._pending:
                self._drain()
            return
        send_staged(staged)
        self._write(data)

    def send_payload(self, payload: bytes) -> None:
        """Frame and write one encoded payload."""
        self.write_raw(len(payload).to_bytes(4, "big") + payload)

    def send(self, message: dict[str, Any], encoding: str | None = None) -> None:
        """Encode, frame and write one message in the negotiated (or given) encoding."""
        payload = encode(message, encoding or self.encoding)
        self.write_raw(len(payload).to_bytes(4, "big") + payload)

    # Reading.

    def next_payload(self) -> Buffer | None:
        """Block until a whole payload is available; ``None`` once the host is gone.

        Raises :class:`~snakepit_bridge.errors.ProtocolError` for a bad frame.
        """
        if self.closed:
            return None
        payload = self.reader.next_payload()
        if payload is None:
            self.closed = True
        return payload

    def buffered_payload(self) -> Buffer | None:
        """The next payload already read into the buffer, or ``None``; never reads."""
        return self.reader.next_buffered()

    def fill(self) -> bool:
        """Read once into the buffer; ``False`` (and :attr:`closed`) at end-of-file."""
        if self.reader.fill():
            return True
        self.closed = True
        return False

    def wait_readable(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (``None``: forever) for the link to be readable."""
        if timeout is None:
            if self._poller is not None:
                return bool(self._poller.poll())
            ready, _, _ = select.select([self.read_fd], [], [])
            return bool(ready)
        if self._poller is not None:
            # poll() takes milliseconds; round up so a short wait never becomes a busy loop.
            millis = max(0, int(timeout * 1000.0 + 0.999)) if timeout > 0 else 0
            return bool(self._poller.poll(millis))
        ready, _, _ = select.select([self.read_fd], [], [], max(0.0, timeout))
        return bool(ready)
