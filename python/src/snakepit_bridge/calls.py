"""Per-call state: what the runtime knows about one running call.

This module owns :class:`Call`, created by the runtime for every ``call`` message and
forgotten when its ``result`` is sent: its id and command, whether the host cancelled it,
the sequence number of its next stream chunk, and the :class:`Server` that serves it.

The server is the runtime's serving mode, which decides how a call waits:

* the inline server (capacity 1, :mod:`snakepit_bridge.inline`) runs the call on the main
  thread and reads the link itself at every checkpoint;
* the threaded server (capacity above 1, :mod:`snakepit_bridge.threaded`) has a reader
  thread that sets the call's cancel flag and hands host results to the waiting call.

``CallContext`` and ``Stream`` talk to a call only through the methods below, so a tool
behaves the same in both modes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    Protocol = object

__all__ = ["Call", "Server"]


class Server(Protocol):
    """What a call needs from the runtime's serving mode."""

    def checkpoint(self, call: Call) -> bool:
        """Look for host messages without blocking; ``True`` if ``call`` must stop."""
        ...

    def wait(self, call: Call, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; ``True`` as soon as ``call`` must stop."""
        ...

    def host_call(self, call: Call, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """Send a ``host_call`` and block until its ``host_result`` arrives; return it."""
        ...

    def ahost_call(self, call: Call, tool: str, args: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        """The ``async`` form of :meth:`host_call`, for a call running on the event loop."""
        ...

    def send_chunk(self, call: Call, seq: int, data: Any) -> None:
        """Write one ``chunk`` of ``call``."""
        ...

    def run_coroutine(self, call: Call, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coroutine`` on the event loop for ``call``, cancelling it on a cancel."""
        ...


class Call:
    """One running call.

    Attributes:
        id: The id the host gave the call.
        command: The tool it runs.
        streaming: Whether the host asked for chunks (``"stream": true``).
        cancelled: Whether the host cancelled it (or went away).
        seq: The sequence number of its next chunk.
        server: The serving mode that runs it.
    """

    __slots__ = ("id", "command", "streaming", "cancelled", "seq", "server")

    def __init__(self, call_id: Any, command: str, streaming: bool, server: Server) -> None:
        self.id = call_id
        self.command = command
        self.streaming = streaming
        self.cancelled = False
        self.seq = 0
        self.server = server

    def __repr__(self) -> str:
        return f"Call(id={self.id!r}, command={self.command!r}, cancelled={self.cancelled})"

    def checkpoint(self) -> bool:
        """Whether the call must stop now; reads host messages without blocking."""
        return self.cancelled or self.server.checkpoint(self)

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; ``True`` as soon as the call must stop."""
        return self.cancelled or self.server.wait(self, timeout)

    def host_call(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """Call host tool ``tool`` and return its ``host_result`` message (blocking)."""
        return self.server.host_call(self, tool, args)

    def ahost_call(self, tool: str, args: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        """Call host tool ``tool`` from the event loop; await its ``host_result``."""
        return self.server.ahost_call(self, tool, args)

    def send_chunk(self, data: Any) -> None:
        """Write ``data`` as the call's next chunk."""
        self.server.send_chunk(self, self.seq, data)
        self.seq += 1
