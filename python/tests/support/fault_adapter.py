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
import time
from typing import Any

from snakepit_bridge import BaseAdapter, CallContext, Stream, tool


class FaultAdapter(BaseAdapter):
    """Tools that fail in every way a real tool might."""

    def __init__(self) -> None:
        self.initialize_count = 0
        self.children: list[subprocess.Popen[bytes]] = []

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

    @tool(supports_streaming=True)
    def count(self, n: int, stream: Stream) -> dict[str, int]:
        """Stream the numbers 0..n-1 as chunks, then return n."""
        for index in range(n):
            stream.send({"n": index})
        return {"total": n}

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
