"""The inline serving mode (capacity 1): each call runs on the main thread, one at a time.

This is the fast path: no thread hand-off, no lock, no event loop unless a tool is async,
because per-call latency is what the pool is judged on. Nobody else reads the link while a
call runs, so the call's checkpoints read it themselves (:meth:`InlineServer.poll`):

* a ``cancel`` for the running call sets its cancel flag;
* a ``ping`` is answered at once;
* a ``host_result`` goes to the host call waiting for its ``ref``;
* every other message is queued for the main loop, so no frame is ever lost.

An ``async def`` tool runs on the runtime's event loop, which watches the link while the
tool runs, so a ``cancel`` becomes ``asyncio.CancelledError`` inside the tool.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Coroutine

from . import telemetry
from .calls import Call
from .convert import encode_lenient
from .depth import MAX_DEPTH
from .drive import DRIVEN, drive_result
from .errors import Cancelled, DepthLimitExceeded, LinkClosed, ProtocolError, error_payload
from .log import log
from .protocol import QUIET_KINDS, decode, message_kind
from .staging import take_staged

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from .runtime import Runtime

__all__ = ["InlineServer"]

#: How often, at most, a non-blocking cancel check reads the link (seconds).
_CHECK_INTERVAL = 0.001


class InlineServer:
    """Serves calls one at a time on the calling thread; implements the calls' ``Server``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.link = runtime.link
        #: Messages read while a call was running, waiting for the main loop.
        self.pending: deque[dict[str, Any]] = deque()
        if runtime.first_message is not None:
            self.pending.append(runtime.first_message)
            runtime.first_message = None
        #: The call running now, or ``None`` between calls.
        self.current: Call | None = None
        #: The protocol error that closed the link during a call, re-raised by the main loop.
        self.failure: ProtocolError | None = None
        self._host_results: dict[int, dict[str, Any]] = {}
        self._host_waiters: dict[int, Callable[[], None]] = {}
        self._open_refs: set[int] = set()
        self._next_ref = 1
        self._last_check = 0.0
        telemetry.bind(self.link)

    # The main loop.

    def serve(self) -> int:
        """Serve one message at a time until ``shutdown`` or end-of-file; the exit code."""
        link = self.link
        runtime = self.runtime
        pending = self.pending
        # The reader itself, not Link.next_payload: this loop is the hot path of every call,
        # and it does Link's end-of-file bookkeeping and Runtime.decode's checks inline.
        next_payload = link.reader.next_payload
        handle_call = self.handle_call
        while True:
            message: dict[str, Any] | None
            if pending:
                message = pending.popleft()
            else:
                if self.failure is not None:
                    raise self.failure
                payload = None if link.closed else next_payload()
                if payload is None:
                    link.closed = True
                    return 0
                try:
                    message = decode(payload)
                except DepthLimitExceeded:
                    message = runtime.too_deep(payload)
                else:
                    if len(payload) > MAX_DEPTH:
                        message = runtime.check_depth(message, payload)
                if message is None:
                    continue
            kind = message.get("kind")
            if kind is None:
                kind = message_kind(message)
            if kind == "call":
                handle_call(message)
            elif kind == "ping":
                link.send({"kind": "pong", "id": message.get("id")})
            elif kind == "session_drop":
                runtime.sessions.pop(message.get("session_id"), None)
            elif kind == "shutdown":
                return 0
            elif kind not in QUIET_KINDS:
                log(f"ignoring message of unknown kind {kind!r}")

    def handle_call(self, message: dict[str, Any]) -> None:
        """Run one call to its end and send its result."""
        runtime = self.runtime
        try:
            tool = runtime.plain_tools.get(message.get("command"))
        except TypeError:  # An unhashable command names no tool.
            tool = None
        args = message.get("args")
        if tool is not None and type(args) is dict:
            # The fast path, for a synchronous tool that takes neither ctx nor stream:
            # Runtime.open_call and Runtime.run_call with nothing to set up. Such a tool
            # never reads the link, so its call needs per-call state (a cancel flag the
            # link watch can set) only if it returns a generator to drive.
            call_id = message.get("id")
            telemetry.set_call(message)
            try:
                result = tool.invoke(args, None, None)
                if type(result) in DRIVEN:
                    streaming = bool(message.get("stream"))
                    call = self.current = Call(call_id, tool.name, streaming, self)
                    try:
                        result = drive_result(result, call)
                    finally:
                        self.current = None
            except LinkClosed:
                raise
            except Exception as exc:
                runtime.send_error(call_id, error_payload(exc))
                return
            runtime.send_fast_result(call_id, tool.name, result)
            return
        opened = runtime.open_call(message, self)
        if opened is None:
            return
        self.current = opened[0]
        try:
            runtime.run_call(*opened)
        finally:
            self.current = None

    # Watching the link while a call runs.

    def _absorb(self) -> None:
        """Handle every complete frame already buffered, without reading."""
        link = self.link
        decode = self.runtime.decode
        while True:
            payload = link.buffered_payload()
            if payload is None:
                return
            message = decode(payload)
            if message is None:
                continue
            kind = message_kind(message)
            current = self.current
            if kind == "cancel":
                if current is not None and message.get("id") == current.id:
                    current.cancelled = True
            elif kind == "ping":
                link.send({"kind": "pong", "id": message.get("id")})
            elif kind == "host_result":
                self.deliver_host_result(message.get("ref"), message)
            else:
                self.pending.append(message)

    def deliver_host_result(self, ref: Any, message: dict[str, Any]) -> None:
        """Hand a ``host_result`` to the host call waiting for ``ref`` (late ones are dropped)."""
        if ref in self._open_refs:
            self._host_results[ref] = message
            waiter = self._host_waiters.get(ref)
            if waiter is not None:
                waiter()

    def poll(self, call: Call | None, timeout: float | None = 0.0) -> bool:
        """Wait up to ``timeout`` seconds (``None``: until something arrives) for messages.

        Returns ``True`` when ``call`` should stop: the host cancelled it or is gone. A
        protocol error is recorded in :attr:`failure` for the main loop and also stops it.
        """
        link = self.link
        if (call is not None and call.cancelled) or link.closed:
            return True
        try:
            if timeout == 0.0:
                # A non-blocking check costs a system call; streaming tools check at every
                # chunk, so read the link at most once per millisecond (what is already
                # buffered is always looked at).
                self._absorb()
                now = time.monotonic()
                if now - self._last_check < _CHECK_INTERVAL:
                    return (call is not None and call.cancelled) or link.closed
                self._last_check = now
            else:
                self._absorb()
            if call is not None and call.cancelled:
                return True
            if link.wait_readable(timeout):
                if link.fill():
                    self._absorb()
        except ProtocolError as exc:
            self.failure = exc
            link.closed = True
        except LinkClosed:
            link.closed = True
        return (call is not None and call.cancelled) or link.closed

    def on_readable(self, call: Call) -> bool:
        """Read once because the descriptor is readable (an event-loop callback).

        Returns ``True`` when the running call should stop, like :meth:`poll`.
        """
        link = self.link
        if link.closed:
            return True
        try:
            # A checkpoint of the tool may have read the link since the loop saw it readable.
            if not link.wait_readable(0.0) or link.fill():
                self._absorb()
        except ProtocolError as exc:
            self.failure = exc
            link.closed = True
        except LinkClosed:
            link.closed = True
        return call.cancelled or link.closed

    # The calls' Server interface.

    def checkpoint(self, call: Call) -> bool:
        """Look for a cancel without blocking (at most one read per millisecond)."""
        return self.poll(call, 0.0)

    def wait(self, call: Call, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds, reading the link; ``True`` on a cancel."""
        return self.poll(call, timeout)

    def send_chunk(self, call: Call, seq: int, data: Any) -> None:
        """Write one chunk, converting data the wire cannot carry."""
        message = {"kind": "chunk", "id": call.id, "seq": seq, "data": data}
        self.runtime.send_lenient(message, "data", f"chunk {seq} of call {call.id}")

    def _start_host_call(self, call: Call, tool: str, args: dict[str, Any]) -> int:
        if call.cancelled or self.link.closed:
            raise Cancelled()
        ref = self._next_ref
        self._next_ref += 1
        link = self.link
        payload = encode_lenient(
            {"kind": "host_call", "id": call.id, "ref": ref, "tool": tool, "args": args},
            "args",
            link.encoding,
            link.max_frame,
            f"the arguments of host tool {tool!r}",
        )
        self._open_refs.add(ref)
        staged = take_staged()
        if staged:
            link.write_with_fds(len(payload).to_bytes(4, "big") + payload, staged)
        else:
            link.send_payload(payload)
        return ref

    def _end_host_call(self, ref: int) -> None:
        self._open_refs.discard(ref)
        self._host_results.pop(ref, None)
        self._host_waiters.pop(ref, None)

    def host_call(self, call: Call, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """Send a ``host_call`` and read the link until its ``host_result`` arrives."""
        ref = self._start_host_call(call, tool, args)
        results = self._host_results
        try:
            while ref not in results:
                # Take what is buffered or readable now, then block for more only if needed.
                if self.poll(call, 0.0):
                    raise Cancelled()
                if ref in results:
                    break
                if self.poll(call, None):
                    raise Cancelled()
            return results.pop(ref)
        finally:
            self._end_host_call(ref)

    async def ahost_call(self, call: Call, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """Send a ``host_call`` and await its ``host_result`` on the event loop."""
        import asyncio

        ref = self._start_host_call(call, tool, args)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        try:
            self._host_waiters[ref] = wake
            if ref not in self._host_results:
                await future
            return self._host_results.pop(ref)
        finally:
            self._end_host_call(ref)

    def run_coroutine(self, call: Call, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the event loop, cancelling it if the host asks."""
        import asyncio

        loop = self.runtime.loop
        task = loop.create_task(coroutine)
        fd = self.link.read_fd

        def on_readable() -> None:
            if self.on_readable(call):
                task.cancel()
                # Stop watching: at end-of-file the descriptor stays readable forever.
                loop.remove_reader(fd)

        # A cancel may already be in the buffer, read together with the call itself.
        if self.poll(call, 0.0):
            task.cancel()
        else:
            loop.add_reader(fd, on_readable)
        try:
            return loop.run_until_complete(task)
        except asyncio.CancelledError:
            raise Cancelled() from None
        finally:
            loop.remove_reader(fd)
