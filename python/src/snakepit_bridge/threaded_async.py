"""The async calls of the threaded serving mode (``threaded.py``): an ``async def`` tool or
async generator becomes a task on one event loop, run by a thread of its own that starts
with the first such call. A cancel cancels the task; a task cancelled before its first step
is answered for here, since its coroutine never ran. A tool marked
``@tool(thread_safe=False)`` holds an ``asyncio.Lock`` of its own while it runs.
"""

from __future__ import annotations

import threading

from .drive import run_async_tool
from .errors import Cancelled, LinkClosed, error, error_payload

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from typing import Any

    from .adapter import Tool
    from .calls import Call
    from .context import CallContext, Stream
    from .runtime import Runtime

    Opened = tuple[Call, Tool, dict[str, Any], CallContext | None, Stream | None]

__all__ = ["AsyncCalls"]


class AsyncCalls:
    """The event-loop half of :class:`~snakepit_bridge.threaded.ThreadedServer`."""

    runtime: Runtime
    _loop: asyncio.AbstractEventLoop | None
    _tasks: dict[Any, asyncio.Task[None]]
    _async_locks: dict[str, asyncio.Lock]

    def _finish(self, call: Call) -> None:
        raise NotImplementedError

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = self.runtime.loop
            thread = threading.Thread(
                target=self._run_loop, args=(loop,), name="snakepit-loop", daemon=True
            )
            thread.start()
        return loop

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        import asyncio

        asyncio.set_event_loop(loop)
        loop.run_forever()

    def _start_task(self, opened: Opened) -> None:
        call = opened[0]
        loop = self._event_loop()
        task = self._tasks[call.id] = loop.create_task(self._run_async(opened))
        task.add_done_callback(lambda done: self._task_done(call, done))
        if call.cancelled:
            task.cancel()

    def _task_done(self, call: Call, task: asyncio.Task[None]) -> None:
        if not task.cancelled():
            return
        # Cancelled before its first step: the coroutine never ran, so answer for it.
        self._tasks.pop(call.id, None)
        self._finish(call)
        try:
            self.runtime.send_error(call.id, error("Cancelled", str(Cancelled())))
        except LinkClosed:
            pass

    def _cancel_task(self, call_id: Any) -> None:
        task = self._tasks.get(call_id)
        if task is not None:
            task.cancel()

    async def _run_async(self, opened: Opened) -> None:
        import asyncio

        call, tool, args, ctx, stream = opened
        runtime = self.runtime
        try:
            try:
                lock = self._async_lock(tool)
                if lock is None:
                    result = await run_async_tool(tool, args, ctx, stream, call)
                else:
                    async with lock:
                        result = await run_async_tool(tool, args, ctx, stream, call)
            except asyncio.CancelledError:
                runtime.send_error(call.id, error("Cancelled", str(Cancelled())))
            except Exception as exc:
                runtime.send_error(call.id, error_payload(exc))
            else:
                runtime.send_result(call.id, call.command, result)
        except LinkClosed:
            pass
        finally:
            self._tasks.pop(call.id, None)
            self._finish(call)

    def _async_lock(self, tool: Tool) -> asyncio.Lock | None:
        if tool.thread_safe:
            return None
        import asyncio

        lock = self._async_locks.get(tool.name)
        if lock is None:
            lock = self._async_locks[tool.name] = asyncio.Lock()
        return lock
