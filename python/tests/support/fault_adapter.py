"""A test-only adapter whose tools misbehave on purpose: sleep, block, crash, flood, leak.

The Python and Rust test suites both spawn workers with
``--adapter fault_adapter:FaultAdapter`` (with ``tests/support`` on ``PYTHONPATH``) to check
how the runtime and the host handle slow, stuck, crashing and rude tools.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from snakepit_bridge import BaseAdapter, CallContext, HostToolError, Stream, tool


class _Overlap:
    """Counts, per tool, how many calls run at once and the most that ever did."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: dict[str, int] = {}
        self.most: dict[str, int] = {}

    def enter(self, name: str) -> None:
        with self.lock:
            self.active[name] = self.active.get(name, 0) + 1
            self.most[name] = max(self.most.get(name, 0), self.active[name])

    def leave(self, name: str) -> int:
        with self.lock:
            self.active[name] -= 1
            return self.most[name]


class FaultAdapter(BaseAdapter):
    """Tools that fail in every way a real tool might."""

    def __init__(self) -> None:
        self.overlap = _Overlap()
        self.initialize_count = 0
        self.children: list[subprocess.Popen[bytes]] = []
        self.ballast: list[bytes] = []

    def initialize(self) -> None:
        """Count the calls so a test can prove the runtime initialises exactly once."""
        self.initialize_count += 1

    @tool
    def sleep(self, seconds: float, ctx: CallContext) -> dict[str, float]:
        """Sleep cooperatively: a cancel interrupts it at once.

        Args:
            seconds: How long to sleep.
        """
        ctx.sleep(seconds)
        return {"slept": seconds}

    @tool
    def block(self, seconds: float) -> dict[str, float]:
        """Sleep without checkpoints, ignoring any cancel."""
        time.sleep(seconds)
        return {"blocked": seconds}

    @tool
    def spin(self, seconds: float) -> dict[str, int]:
        """Busy-loop holding the GIL for ``seconds``."""
        end = time.monotonic() + seconds
        rounds = 0
        while time.monotonic() < end:
            rounds += 1
        return {"rounds": rounds}

    @tool
    async def async_sleep(self, seconds: float) -> dict[str, float]:
        """Sleep on the event loop; a cancel arrives as asyncio.CancelledError."""
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    @tool
    def crash_exit(self, code: int = 3) -> None:
        """Exit the process at once with ``code``, skipping all cleanup."""
        os._exit(code)

    @tool
    def crash_signal(self, signum: int = 9) -> None:
        """Kill the process with signal ``signum``."""
        os.kill(os.getpid(), signum)

    @tool
    def garbage(self, seconds: float = 5.0) -> None:
        """Write a frame that is not a message straight to the link, then linger."""
        link_fd = int(os.environ["SNAKEPIT_FD"])
        os.write(link_fd, b"\x00\x00\x00\x04abcd")
        time.sleep(seconds)

    @tool
    def oversize(self, seconds: float = 5.0) -> None:
        """Write a frame header announcing 0x7FFFFFFF bytes, then linger."""
        link_fd = int(os.environ["SNAKEPIT_FD"])
        os.write(link_fd, b"\x7f\xff\xff\xff{")
        time.sleep(seconds)

    @tool
    def noisy(self, message: str = "noise", times: int = 3) -> dict[str, bool]:
        """Print to stdout and stderr, which must never reach the link."""
        for index in range(times):
            print(f"{message} stdout {index}")
            print(f"{message} stderr {index}", file=sys.stderr)
        sys.stdout.flush()
        return {"ok": True}

    @tool
    def raise_error(self, kind: str = "ValueError", message: str = "boom") -> None:
        """Raise the builtin exception named ``kind`` with ``message``."""
        exception_class = getattr(builtins, kind, None)
        if not (isinstance(exception_class, type) and issubclass(exception_class, Exception)):
            raise LookupError(f"{kind!r} is not a builtin exception")
        raise exception_class(message)

    @tool
    def pid(self) -> int:
        """Return the worker's process id."""
        return os.getpid()

    @tool
    def unserializable(self) -> Any:
        """Return an object no encoding can carry."""
        return {"value": object()}

    @tool
    def convertible(self) -> Any:
        """Return values the runtime must convert: sets, dates, decimals, paths, enums..."""
        import dataclasses
        import datetime
        import decimal
        import enum
        import pathlib

        class Color(enum.Enum):
            RED = "red"

        @dataclasses.dataclass
        class Point:
            x: int
            y: int

        class Frame:
            def to_dict(self) -> dict[int, str]:
                return {1: "one"}

        class Array:
            def tolist(self) -> list[list[int]]:
                return [[1, 2], [3, 4]]

        return {
            "set": {3, 1, 2},
            "frozenset": frozenset({"b", "a"}),
            "tuple": (1, (2, 3)),
            "bytes": b"\x00\xffraw",
            "decimal": decimal.Decimal("1.10"),
            "path": pathlib.PurePosixPath("/tmp/x"),
            "enum": Color.RED,
            "date": datetime.date(2024, 1, 2),
            "datetime": datetime.datetime(2024, 1, 2, 3, 4, 5),
            "time": datetime.time(6, 7),
            "dataclass": Point(1, 2),
            "to_dict": Frame(),
            "tolist": Array(),
        }

    @tool
    def deep(self, depth: int = 100) -> Any:
        """Return lists nested ``depth`` deep around a set (so conversion must run)."""
        value: Any = {1}
        for _ in range(depth):
            value = [value]
        return value

    @tool
    def nested(self, levels: int, stream: Stream) -> Any:
        """Return (and, when streaming, first send as a chunk) ``1`` wrapped in ``levels``
        lists: a value ``levels`` deep."""
        value: Any = 1
        for _ in range(levels):
            value = [value]
        stream.send(value)
        return value

    @tool
    def levels(self, params: dict[str, Any]) -> int:
        """Return how many lists or maps deep the argument map nests (the map itself is 1)."""
        deepest = 0
        stack: list[tuple[Any, int]] = [(params, 1)]
        while stack:
            value, level = stack.pop()
            deepest = max(deepest, level)
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, level + 1) for item in items if isinstance(item, (dict, list)))
        return deepest

    @tool
    def wide(self, n: int = 200_000) -> Any:
        """Return a list of ``n`` sets, more than one conversion may convert."""
        return [{index} for index in range(n)]

    @tool
    def huge(self, size: int) -> str:
        """Return a string of ``size`` bytes (to go over the frame limit)."""
        return "x" * size

    @tool
    def stream_unserializable(self, stream: Stream) -> str:
        """Send a chunk that needs conversion, then return."""
        stream.send({"when": {1, 2}, "what": object()})
        return "sent"

    @tool
    def stream_convertible(self, stream: Stream) -> str:
        """Send a chunk that needs conversion (a set), then return."""
        stream.send({"when": {1, 2}})
        return "sent"

    @tool
    def tag(self, value: Any, spin_ms: float = 0.0) -> dict[str, Any]:
        """Return ``{"value": value, "thread": <thread name>}`` after busy-waiting ``spin_ms``."""
        end = time.monotonic() + spin_ms / 1000.0
        while time.monotonic() < end:
            pass
        return {"value": value, "thread": threading.current_thread().name}

    @tool(inline=True)
    def tag_inline(self, value: Any) -> dict[str, Any]:
        """``tag`` marked ``inline=True``: a worker of capacity above 1 runs it on its reader."""
        return {"value": value, "thread": threading.current_thread().name}

    @tool(inline=True)
    def inline_generator(self) -> Any:
        """An inline tool that breaks its promise: it returns a generator to drive."""
        return (index for index in range(3))

    @tool
    def overlapping(self, seconds: float) -> int:
        """Block ``seconds``; return the most calls of this tool ever seen at once."""
        self.overlap.enter("overlapping")
        try:
            time.sleep(seconds)
        finally:
            most = self.overlap.leave("overlapping")
        return most

    @tool(thread_safe=False)
    def exclusive(self, seconds: float) -> int:
        """Like ``overlapping``, but marked not thread-safe: it must never overlap itself."""
        self.overlap.enter("exclusive")
        try:
            time.sleep(seconds)
        finally:
            most = self.overlap.leave("exclusive")
        return most

    @tool
    async def aoverlapping(self, seconds: float) -> int:
        """Await a sleep; return the most calls of this tool ever seen at once."""
        self.overlap.enter("aoverlapping")
        try:
            await asyncio.sleep(seconds)
        finally:
            most = self.overlap.leave("aoverlapping")
        return most

    @tool
    def initialized(self) -> int:
        """Return how many times initialize() ran (always 1)."""
        return self.initialize_count

    @tool
    def add(self, a: int, b: int = 0) -> int:
        """Add two integers, bound as keyword arguments.

        Args:
            a: The first addend.
            b: The second addend.
        """
        return a + b

    @tool
    def whole(self, params: dict[str, Any]) -> list[str]:
        """Return the sorted keys of the whole argument map."""
        return sorted(params)

    @tool
    def context(self, ctx: CallContext) -> dict[str, Any]:
        """Return what the call context knows about this call."""
        return {
            "call_id": ctx.call_id,
            "command": ctx.command,
            "session_id": ctx.session_id,
            "worker_id": ctx.worker_id,
            "timeout_ms": ctx.timeout_ms,
            "has_deadline": ctx.deadline is not None,
        }

    @tool
    def count(self, n: int, delay_ms: int = 0) -> Iterator[dict[str, int]]:
        """A generator: yield ``{"i": i}`` for i in 0..n-1, sleeping between, then return n.

        Args:
            n: How many chunks.
            delay_ms: How long to sleep before each chunk (a plain sleep, no checkpoint).
        """
        for index in range(n):
            if delay_ms:
                time.sleep(delay_ms / 1000.0)
            yield {"i": index}
        return {"total": n}

    @tool(supports_streaming=True)
    def send_count(self, n: int, stream: Stream) -> dict[str, int]:
        """Send ``{"n": i}`` for i in 0..n-1 with ``stream.send``, then return n."""
        for index in range(n):
            stream.send({"n": index})
        return {"total": n}

    @tool
    def send_forever(self, stream: Stream, delay_ms: int = 10) -> None:
        """Send chunks with ``stream.send`` until a cancel raises Cancelled from it."""
        index = 0
        while True:
            stream.send({"n": index})
            index += 1
            time.sleep(delay_ms / 1000.0)

    @tool
    async def acount(self, n: int, delay_ms: int = 0) -> AsyncIterator[dict[str, int]]:
        """An async generator: yield ``{"i": i}`` for i in 0..n-1, awaiting a sleep between."""
        for index in range(n):
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000.0)
            yield {"i": index}

    @tool
    def endless(
        self, closed_file: str | None = None, delay_ms: int = 10
    ) -> Iterator[dict[str, int]]:
        """Yield forever; when closed (GeneratorExit) write ``closed_file``, then re-raise.

        Args:
            closed_file: The file to write when the generator is closed, if any.
            delay_ms: How long to sleep between chunks (a plain sleep, no checkpoint).
        """
        index = 0
        try:
            while True:
                yield {"i": index}
                index += 1
                time.sleep(delay_ms / 1000.0)
        except GeneratorExit:
            if closed_file:
                with open(closed_file + ".tmp", "w") as handle:
                    handle.write(f"closed after {index}")
                os.rename(closed_file + ".tmp", closed_file)
            raise

    @tool
    async def aendless(
        self, closed_file: str | None = None, delay_ms: int = 10
    ) -> AsyncIterator[int]:
        """An async generator that yields forever; writes ``closed_file`` when stopped."""
        index = 0
        try:
            while True:
                yield index
                index += 1
                await asyncio.sleep(delay_ms / 1000.0)
        except (GeneratorExit, asyncio.CancelledError) as exc:
            if closed_file:
                with open(closed_file + ".tmp", "w") as handle:
                    handle.write(type(exc).__name__)
                os.rename(closed_file + ".tmp", closed_file)
            raise

    @tool
    def remember(self, key: str, value: Any, ctx: CallContext) -> Any:
        """Store ``value`` under ``key`` in the session state; return the session id."""
        ctx.session[key] = value
        return ctx.session_id

    @tool
    def recall(self, key: str, ctx: CallContext) -> Any:
        """Return what the session state holds under ``key`` (or null)."""
        return ctx.session.get(key)

    @tool
    def session_keys(self, ctx: CallContext) -> list[str]:
        """Return the sorted keys of the session state."""
        return sorted(ctx.session)

    @tool
    def host(self, name: str, args: dict[str, Any], ctx: CallContext) -> Any:
        """Call the host tool ``name`` with ``args`` and return its result."""
        return ctx.call_host_tool(name, **args)

    @tool
    async def ahost(self, name: str, args: dict[str, Any], ctx: CallContext) -> Any:
        """Call the host tool ``name`` from an async tool, awaiting the answer."""
        return await ctx.acall_host_tool(name, **args)

    @tool
    async def ahost_blocking(self, name: str, args: dict[str, Any], ctx: CallContext) -> Any:
        """Call the host tool ``name`` from an async tool with the blocking form."""
        return ctx.call_host_tool(name, args)

    @tool
    def host_odd_args(self, name: str, ctx: CallContext) -> Any:
        """Call the host tool ``name`` with arguments that need conversion (a set, bytes)."""
        return ctx.call_host_tool(name, {"values": {2, 1}}, when=b"raw")

    @tool
    def host_error(self, name: str, args: dict[str, Any], ctx: CallContext) -> dict[str, str]:
        """Call the host tool ``name`` and return the HostToolError it raises."""
        try:
            result = ctx.call_host_tool(name, **args)
        except HostToolError as exc:
            return {"type": exc.error_type, "message": exc.message}
        raise AssertionError(f"host tool {name!r} succeeded with {result!r}")

    @tool
    def list_host(self, ctx: CallContext) -> list[str]:
        """Return the sorted names of the host tools visible to this call."""
        return sorted(spec["name"] for spec in ctx.list_host_tools())

    @tool
    def get_var(self, name: str, ctx: CallContext) -> Any:
        """Return the value of the session variable ``name``."""
        return ctx.get_variable(name)

    @tool
    def set_var(self, name: str, value: Any, ctx: CallContext) -> Any:
        """Set the session variable ``name``; return the updated variable."""
        return ctx.set_variable(name, value)

    @tool
    def list_vars(self, ctx: CallContext) -> Any:
        """Return the session's variables."""
        return ctx.list_variables()

    @tool
    def spawn_child(
        self, seconds: float = 1000.0, pid_file: str | None = None, block_seconds: float = 0.0
    ) -> int:
        """Start a grandchild process (`sleep`) that outlives the call; return its pid.

        Args:
            seconds: How long the grandchild sleeps.
            pid_file: Where to write the grandchild's pid before blocking, if anywhere.
            block_seconds: How long to block after starting it (plain sleep, ignores cancel).
        """
        child = subprocess.Popen(["sleep", str(seconds)])
        self.children.append(child)
        if pid_file:
            with open(pid_file + ".tmp", "w") as handle:
                handle.write(str(child.pid))
            os.rename(pid_file + ".tmp", pid_file)
        time.sleep(block_seconds)
        return child.pid

    @tool
    def ignore_term(self) -> bool:
        """Ignore SIGTERM from now on, so only SIGKILL can stop this worker."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return True

    @tool
    def big_count(self, n: int, size: int, progress_file: str) -> Iterator[dict[str, Any]]:
        """Yield ``n`` chunks of ``size`` bytes of text, recording in ``progress_file`` how
        many have been produced, then return the total.

        Args:
            n: How many chunks.
            size: The length of each chunk's text.
            progress_file: Where the count of produced chunks is written before each yield.
        """
        text = "x" * size
        for index in range(n):
            with open(progress_file + ".tmp", "w") as handle:
                handle.write(str(index + 1))
            os.rename(progress_file + ".tmp", progress_file)
            yield {"i": index, "text": text}
        return {"total": n}

    @tool
    def crash_once(self, marker: str) -> str:
        """Exit abruptly if ``marker`` does not exist yet (creating it); else answer."""
        if not os.path.exists(marker):
            with open(marker, "w"):
                pass
            os._exit(13)
        return "survived"

    @tool
    def hang_gil_later(self, delay: float = 0.2, seconds: int = 60) -> bool:
        """Answer at once; ``delay`` later a thread holds the GIL inside C for ``seconds``.

        The worker then hangs while idle: it can answer nothing, not even a ping.
        """
        import ctypes
        import threading

        def hog() -> None:
            time.sleep(delay)
            # PyDLL keeps the GIL across the foreign call.
            ctypes.PyDLL(None).sleep(int(seconds))

        threading.Thread(target=hog, daemon=True).start()
        return True

    @tool
    def allocate(self, mb: int) -> int:
        """Keep ``mb`` MiB more allocated (and touched) in this worker; return the total."""
        self.ballast.append(b"\x01" * (mb * 1024 * 1024))
        return sum(len(block) for block in self.ballast) // (1024 * 1024)

    @tool
    def flood(self, mb: int) -> int:
        """Write ``mb`` MiB to stdout without a newline, then end the line; return ``mb``."""
        chunk = b"x" * (1024 * 1024)
        for _ in range(mb):
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.write(b"\nafter the flood\n")
        sys.stdout.flush()
        return mb


class WideAdapter(FaultAdapter):
    """The fault adapter declaring a capacity of 3 as its default."""

    capacity = 3


class SerialAdapter(FaultAdapter):
    """The fault adapter declaring its synchronous tools unsafe to run at once."""

    thread_safe = False
