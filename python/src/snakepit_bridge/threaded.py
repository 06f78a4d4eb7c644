"""The threaded serving mode (capacity above 1): several calls run at once on one worker.

The main thread is the frame reader and never runs a tool, so it answers at once, however
busy the tools are:

* a ``call`` goes to a pool of ``capacity`` threads (a synchronous tool, a sync generator)
  or becomes a task on one event loop thread (an ``async def`` tool or async generator);
* a ``cancel`` sets that call's cancel flag and wakes it: a checkpoint or ``ctx.sleep`` of
  a thread sees it at once, an async call's task is cancelled;
* a ``ping`` is answered with its ``pong`` straight away;
* a ``host_result`` is handed, by its ``ref``, to the host call waiting for it;
* ``session_drop`` forgets a session; ``shutdown`` and end-of-file end the worker.

Writes from all threads are combined by the link (one thread at a time writes every frame
queued meanwhile), so frames never interleave, and each thread encodes with its own msgpack
packer. A call gets its wake-up event only when it first waits (``ctx.sleep``, a host
call). A tool marked ``@tool(thread_safe=False)`` holds a lock of its own while it runs; an
adapter whose ``thread_safe`` is ``False`` has one lock for all its synchronous tools.

A tool marked ``@tool(inline=True)`` (it promises never to block) is the one exception to
"the reader never runs a tool": it runs on the reader thread as soon as its frame is read,
with no hand-off to a pool thread, which is most of what a trivial call costs here. Every
other synchronous tool runs on the pool, however quick it is; nothing is inlined by guess.
Inline results are queued on the link and written together once everything read so far is
handled, just before the reader blocks for more (or sooner, with a pool thread's write).
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Coroutine

from . import telemetry
from .calls import Call
from .drive import DRIVEN
from .errors import Cancelled, LinkClosed, error_payload
from .log import log
from .protocol import QUIET_KINDS, message_kind, share_encoders
from .threaded_async import AsyncCalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from typing import Any, Callable

    from .adapter import Tool
    from .context import CallContext, Stream
    from .runtime import Runtime

    Opened = tuple[Call, Tool, dict[str, Any], CallContext | None, Stream | None]

__all__ = ["ThreadedServer"]


class ThreadedServer(AsyncCalls):
    """Serves up to ``capacity`` calls at once; implements the calls' ``Server``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.link = runtime.link
        self.link.share_writes()
        share_encoders()
        telemetry.bind(self.link)
        #: The calls running now, by id.
        self.calls: dict[Any, Call] = {}
        self._events: dict[Any, threading.Event] = {}
        self._tasks: dict[Any, asyncio.Task[None]] = {}
        self._host_waiters: dict[int, Callable[[dict[str, Any]], None]] = {}
        self._refs = itertools.count(1)
        self._ref_lock = threading.Lock()
        self._work: queue.SimpleQueue[Opened] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync_locks: dict[str, threading.Lock] = {}
        self._async_locks: dict[str, asyncio.Lock] = {}
        shared = threading.Lock()
        adapter_safe = getattr(runtime.adapter, "thread_safe", True) is not False
        for name, tool in runtime.tools.items():
            if tool.on_loop:
                continue
            if not adapter_safe:
                self._sync_locks[name] = shared
            elif not tool.thread_safe:
                self._sync_locks[name] = threading.Lock()
        #: The ``@tool(inline=True)`` tools, run on this (the reader) thread. A tool that
        #: takes a lock goes to the pool: the reader must never wait for a pool thread.
        self._inline: dict[Any, Tool] = {
            name: tool
            for name, tool in runtime.plain_tools.items()
            if tool.inline and name not in self._sync_locks
        }

    # The reader.

    def serve(self) -> int:
        """Read and dispatch messages until ``shutdown`` or end-of-file; the exit code."""
        runtime = self.runtime
        # A message read during the handshake is served first.
        message = runtime.first_message
        runtime.first_message = None
        try:
            link = self.link
            next_buffered = link.reader.next_buffered
            decode = runtime.decode
            dispatch = self.dispatch
            inline = self._inline
            run_inline = self._run_inline
            while True:
                if message is None:
                    payload = next_buffered()
                    if payload is None:
                        # All that was read is handled: write the inline results it made in
                        # one go, then wait for more.
                        link.flush_queued()
                        payload = link.next_payload()
                        if payload is None:
                            return 0
                    message = decode(payload)
                    if message is None:
                        continue
                kind = message.get("kind")
                if inline and (kind == "call" or (kind is None and "command" in message)):
                    # An inline tool's call goes straight from the frame to the tool.
                    try:
                        tool = inline.get(message.get("command"))
                    except TypeError:  # An unhashable command names no tool.
                        tool = None
                    args = message.get("args")
                    if args is None:
                        args = {}
                    if tool is not None and type(args) is dict:
                        run_inline(message, tool, args)
                        message = None
                        continue
                if dispatch(message):
                    return 0
                message = None
        finally:
            # The host is gone or said stop: let every running tool see a cancel.
            for call in list(self.calls.values()):
                self._cancel(call)
            try:
                self.link.flush_queued()
            except LinkClosed:
                pass

    def dispatch(self, message: dict[str, Any]) -> bool:
        """Handle one message; ``True`` when the worker must stop."""
        kind = message.get("kind")
        if kind is None:
            kind = message_kind(message)
        if kind == "call":
            self._start(message)
        elif kind == "cancel":
            call = self.calls.get(message.get("id"))
            if call is not None:
                self._cancel(call)
        elif kind == "ping":
            self.link.send({"kind": "pong", "id": message.get("id")})
        elif kind == "host_result":
            waiter = self._host_waiters.pop(message.get("ref"), None)  # type: ignore[arg-type]
            if waiter is not None:
                waiter(message)
        elif kind == "session_drop":
            self.runtime.sessions.pop(message.get("session_id"), None)
        elif kind == "shutdown":
            return True
        elif kind not in QUIET_KINDS:
            log(f"ignoring message of unknown kind {kind!r}")
        return False

    def _start(self, message: dict[str, Any]) -> None:
        """Start a call on the pool's threads or the event loop (inline tools never get
        here: :meth:`serve` runs them as it reads them)."""
        opened = self.runtime.open_call(message, self)
        if opened is None:
            return
        call, tool = opened[0], opened[1]
        self.calls[call.id] = call
        if tool.on_loop:
            loop = self._event_loop()
            loop.call_soon_threadsafe(self._start_task, opened)
            return
        if len(self._threads) < self.runtime.capacity:
            thread = threading.Thread(
                target=self._work_loop, name=f"snakepit-call-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        self._work.put(opened)

    def _run_inline(self, message: dict[str, Any], tool: Tool, args: dict[str, Any]) -> None:
        """Run an ``@tool(inline=True)`` call here, on the reader thread, and send its
        result: :meth:`Runtime.open_call` and :meth:`Runtime.run_call` with nothing to set
        up, since such a tool takes neither ctx nor stream and is never cancelled."""
        runtime = self.runtime
        call_id = message.get("id")
        telemetry.set_call(message)
        try:
            result = tool.invoke(args, None, None)
            if type(result) in DRIVEN:
                # Driving it could wait for the reader, which is this thread.
                close = getattr(result, "close", None)
                if close is not None:
                    close()
                raise TypeError(
                    f"inline tool {tool.name!r} returned a {type(result).__name__}; "
                    "an inline=True tool must return its result"
                )
        except LinkClosed:
            raise
        except Exception as exc:
            runtime.send_error(call_id, error_payload(exc))
            return
        runtime.send_fast_result(call_id, tool.name, result, queue=True)

    def _cancel(self, call: Call) -> None:
        call.cancelled = True
        event = self._events.get(call.id)
        if event is not None:
            event.set()
        loop = self._loop
        if loop is not None and call.id in self._tasks:
            loop.call_soon_threadsafe(self._cancel_task, call.id)

    def _event_for(self, call: Call) -> threading.Event | None:
        """The event that wakes ``call`` on a cancel (or a host result), made on first use;
        ``None`` once the call has ended. Most calls never wait, so they never pay for one."""
        event = self._events.get(call.id)
        if event is None:
            if call.id not in self.calls:
                return None
            event = self._events.setdefault(call.id, threading.Event())
            # A cancel that came before the event existed only set the flag.
            if call.cancelled:
                event.set()
        return event

    def _finish(self, call: Call) -> None:
        self.calls.pop(call.id, None)
        self._events.pop(call.id, None)

    # Synchronous calls, on the pool's threads.

    def _work_loop(self) -> None:
        work = self._work
        while True:
            opened = work.get()
            call = opened[0]
            lock = self._sync_locks.get(opened[1].name)
            try:
                if lock is None:
                    self.runtime.run_call(*opened)
                else:
                    with lock:
                        self.runtime.run_call(*opened)
            except LinkClosed:
                pass
            except BaseException as exc:  # A thread must never die with work queued.
                log(f"call {call.id} ended with {type(exc).__name__}: {exc}")
            finally:
                self._finish(call)

    # The calls' Server interface.

    def checkpoint(self, call: Call) -> bool:
        """Whether ``call`` was cancelled (the reader thread sets the flag)."""
        return call.cancelled or self.link.closed

    def wait(self, call: Call, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, waking at once when ``call`` is cancelled."""
        event = self._event_for(call)
        if event is None:
            return True
        event.wait(timeout)
        if not call.cancelled:
            event.clear()
        return call.cancelled or self.link.closed

    def send_chunk(self, call: Call, seq: int, data: Any) -> None:
        """Write one chunk, converting data the wire cannot carry."""
        message = {"kind": "chunk", "id": call.id, "seq": seq, "data": data}
        self.runtime.send_lenient(message, "data", f"chunk {seq} of call {call.id}")

    def _start_host_call(
        self,
        call: Call,
        tool: str,
        args: dict[str, Any],
        deliver: Callable[[dict[str, Any]], None],
    ) -> int:
        if call.cancelled or self.link.closed:
            raise Cancelled()
        with self._ref_lock:
            ref = next(self._refs)
        message = {"kind": "host_call", "id": call.id, "ref": ref, "tool": tool, "args": args}
        # Registered before it is sent: the answer may come back before send() returns.
        self._host_waiters[ref] = deliver
        try:
            self.runtime.send_lenient(message, "args", f"the arguments of host tool {tool!r}")
        except BaseException:
            self._host_waiters.pop(ref, None)
            raise
        return ref

    def host_call(self, call: Call, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """Send a ``host_call`` and block until the reader hands over its ``host_result``."""
        event = self._event_for(call)
        if event is None:
            raise Cancelled()
        replies: list[dict[str, Any]] = []

        def deliver(message: dict[str, Any]) -> None:
            replies.append(message)
            event.set()

        ref = self._start_host_call(call, tool, args, deliver)
        try:
            while not replies:
                if call.cancelled or self.link.closed:
                    raise Cancelled()
                event.wait()
                if not call.cancelled:
                    event.clear()
            return replies[0]
        finally:
            self._host_waiters.pop(ref, None)

    async def ahost_call(self, call: Call, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """Send a ``host_call`` and await its ``host_result`` on the event loop."""
        import asyncio

        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()

        def settle(message: dict[str, Any]) -> None:
            if not future.done():
                future.set_result(message)

        def deliver(message: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(settle, message)

        ref = self._start_host_call(call, tool, args, deliver)
        try:
            return await future
        finally:
            self._host_waiters.pop(ref, None)

    def run_coroutine(self, call: Call, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the event loop thread from a pool thread; cancel it on a cancel."""
        import asyncio

        event = self._event_for(call)
        future = asyncio.run_coroutine_threadsafe(coroutine, self._event_loop())
        if event is not None:
            future.add_done_callback(lambda _: event.set())
            while not future.done():
                event.wait()
                if call.cancelled:
                    future.cancel()
                    break
                event.clear()
        try:
            return future.result()
        except BaseException as exc:
            if call.cancelled or future.cancelled() or isinstance(exc, asyncio.CancelledError):
                raise Cancelled() from None
            raise
