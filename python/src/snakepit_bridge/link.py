"""The worker's link to its host: one full-duplex byte stream carrying frames.

This module owns the descriptors of the link and everything that touches them:

* opening the link, either the socket named by ``SNAKEPIT_FD`` (the native transport) or a
  copy of stdin/stdout (the stdio transport, after which fd 1 points at stderr so that
  ``print()`` can never corrupt a frame);
* writing whole frames with one ``write`` in the common case;
* reading frames through a buffered :class:`~snakepit_bridge.protocol.FrameReader`;
* watching the link while a call runs: a ``cancel`` for the running call sets a flag, a
  ``ping`` is answered at once, a ``host_result`` goes to the host call waiting for it, and
  every other message is queued for the main loop, so no frame is ever lost;
* the worker's side of host calls: ``host_call`` out, its ``host_result`` back by ``ref``.
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections import deque
from typing import Any, Callable

from .context import Cancelled
from .convert import encode_lenient
from .protocol import (
    DEFAULT_MAX_FRAME,
    FrameReader,
    ProtocolError,
    decode,
    encode,
    message_kind,
)

__all__ = ["Link", "LinkClosed"]

#: How often, at most, a non-blocking cancel check reads the link (seconds).
_CHECK_INTERVAL = 0.001


class LinkClosed(Exception):
    """The host closed the link (end-of-file or a broken pipe)."""


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
        #: Messages read while a call was running, waiting for the main loop.
        self.pending: deque[dict[str, Any]] = deque()
        #: The id of the call that is running now, or ``None`` between calls (the runtime
        #: sets it, together with :attr:`cancel_requested`, around every call).
        self.current_call: int | None = None
        #: Whether the host asked to cancel :attr:`current_call`.
        self.cancel_requested = False
        self._last_check = 0.0
        #: Whether the host is gone (end-of-file, a broken pipe or a protocol error).
        self.closed = False
        #: The protocol error that closed the link, re-raised by the main loop.
        self.failure: ProtocolError | None = None
        #: ``host_result`` messages that arrived for open host calls, by ``ref``.
        self.host_results: dict[Any, dict[str, Any]] = {}
        #: Callbacks to run when the ``host_result`` of a ``ref`` arrives (async host calls).
        self.host_waiters: dict[Any, Callable[[], None]] = {}
        self._open_refs: set[int] = set()
        self._next_ref = 1
        self._poller: Any = None
        if hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(self.read_fd, select.POLLIN)

    @classmethod
    def from_environment(cls) -> Link:
        """Open the link the host prepared: ``SNAKEPIT_FD``, else stdin/stdout."""
        from .protocol import max_frame_from_env

        max_frame = max_frame_from_env()
        raw_fd = os.environ.get("SNAKEPIT_FD")
        if raw_fd:
            return cls(int(raw_fd), max_frame=max_frame)
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

    def _read(self, size: int) -> bytes:
        try:
            return os.read(self.read_fd, size)
        except ConnectionResetError:
            return b""

    # Writing.

    def write_raw(self, data: bytes) -> None:
        """Write bytes to the link, looping over short writes.

        Raises :class:`LinkClosed` when the host has gone away.
        """
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

    def send(self, message: dict[str, Any], encoding: str | None = None) -> None:
        """Encode, frame and write one message in the negotiated (or given) encoding."""
        payload = encode(message, encoding or self.encoding)
        self.write_raw(len(payload).to_bytes(4, "big") + payload)

    def send_chunk(self, call_id: Any, seq: int, data: Any) -> None:
        """Write one ``chunk`` of call ``call_id``, converting data the wire cannot carry.

        Raises :class:`~snakepit_bridge.convert.SerializationError` when even the converted
        chunk cannot be encoded or is over the frame limit.
        """
        message = {"kind": "chunk", "id": call_id, "seq": seq, "data": data}
        self.send_lenient(message, "data", f"chunk {seq} of call {call_id}")

    def send_lenient(self, message: dict[str, Any], field: str, what: str) -> None:
        """Encode and write ``message``, converting its ``field`` if the wire cannot carry it.

        Raises :class:`~snakepit_bridge.convert.SerializationError` when even the converted
        message cannot be encoded or is over the frame limit; nothing is written then.
        """
        payload = encode_lenient(message, field, self.encoding, self.reader.max_frame, what)
        self.write_raw(len(payload).to_bytes(4, "big") + payload)

    # Host calls.

    def start_host_call(self, call_id: Any, tool: str, args: dict[str, Any]) -> int:
        """Send a ``host_call`` for ``tool`` under call ``call_id``; return its ``ref``."""
        if self.cancel_requested or self.closed:
            raise Cancelled()
        ref = self._next_ref
        self._next_ref += 1
        payload = encode_lenient(
            {"kind": "host_call", "id": call_id, "ref": ref, "tool": tool, "args": args},
            "args",
            self.encoding,
            self.reader.max_frame,
            f"the arguments of host tool {tool!r}",
        )
        self._open_refs.add(ref)
        self.write_raw(len(payload).to_bytes(4, "big") + payload)
        return ref

    def wait_host_result(self, ref: int) -> dict[str, Any]:
        """Block until the ``host_result`` for ``ref`` arrives and return it.

        Pings are answered meanwhile and other messages queued. Raises
        :class:`~snakepit_bridge.context.Cancelled` when the running call is cancelled or the
        host goes away first.
        """
        results = self.host_results
        try:
            while ref not in results:
                # Take what is buffered or readable now, then block for more only if needed.
                if self.poll(0.0):
                    raise Cancelled()
                if ref in results:
                    break
                if self.poll(None):
                    raise Cancelled()
            return results.pop(ref)
        finally:
            self.end_host_call(ref)

    def end_host_call(self, ref: int) -> None:
        """Forget ``ref``: a ``host_result`` arriving for it later is dropped."""
        self._open_refs.discard(ref)
        self.host_results.pop(ref, None)

    # Reading between calls.

    def next_message(self) -> dict[str, Any] | None:
        """Return the next message for the main loop, blocking; ``None`` once the host is gone.

        Raises :class:`ProtocolError` when the host sent a bad frame.
        """
        if self.pending:
            return self.pending.popleft()
        if self.failure is not None:
            raise self.failure
        if self.closed:
            return None
        reader = self.reader
        while True:
            payload = reader.next_buffered()
            if payload is not None:
                return decode(payload)
            if not reader.fill():
                self.closed = True
                return None

    # Watching the link while a call runs.

    def _absorb(self) -> None:
        """Handle every complete frame already buffered, without reading."""
        reader = self.reader
        while True:
            payload = reader.next_buffered()
            if payload is None:
                return
            message = decode(payload)
            kind = message_kind(message)
            if kind == "cancel" and message.get("id") == self.current_call:
                self.cancel_requested = True
            elif kind == "ping":
                self.send({"kind": "pong", "id": message.get("id")})
            elif kind == "host_result":
                ref = message.get("ref")
                if ref in self._open_refs:
                    self.host_results[ref] = message
                    waiter = self.host_waiters.get(ref)
                    if waiter is not None:
                        waiter()
                # A late answer to an abandoned host call is dropped.
            else:
                self.pending.append(message)

    def poll(self, timeout: float | None = 0.0) -> bool:
        """Wait up to ``timeout`` seconds (``None``: until something arrives) for host messages.

        Returns ``True`` when the running call should stop: the host cancelled it or is gone.
        A protocol error is recorded in :attr:`failure` for the main loop and also stops
        the call.
        """
        if self.cancel_requested or self.closed:
            return True
        if timeout == 0.0:
            # A non-blocking check costs a system call; streaming tools check at every
            # chunk, so look at the link at most once per millisecond.
            now = time.monotonic()
            if now - self._last_check < _CHECK_INTERVAL:
                return False
            self._last_check = now
        try:
            self._absorb()
            if self.cancel_requested:
                return True
            if self._wait_readable(timeout):
                if self.reader.fill():
                    self._absorb()
                else:
                    self.closed = True
        except ProtocolError as exc:
            self.failure = exc
            self.closed = True
        except LinkClosed:
            self.closed = True
        return self.cancel_requested or self.closed

    def on_readable(self) -> bool:
        """Read once because the descriptor is readable (an event-loop callback).

        Returns ``True`` when the running call should stop, like :meth:`poll`.
        """
        if self.closed:
            return True
        try:
            # A checkpoint of the tool may have read the link since the loop saw it readable.
            if not self._wait_readable(0.0):
                self._absorb()
            elif self.reader.fill():
                self._absorb()
            else:
                self.closed = True
        except ProtocolError as exc:
            self.failure = exc
            self.closed = True
        except LinkClosed:
            self.closed = True
        return self.cancel_requested or self.closed

    def _wait_readable(self, timeout: float | None) -> bool:
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
