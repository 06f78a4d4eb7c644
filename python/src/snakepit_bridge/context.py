"""Per-call context handed to tools: identity, deadline and cooperative cancellation.

This module owns :class:`CallContext`, the object a tool receives when it declares a
parameter named ``ctx``, the :class:`Cancelled` exception its checkpoints raise, and the
minimal :class:`Stream` a streaming tool receives as ``stream``.

A synchronous tool runs on the worker's main thread, so nobody reads the link while it
runs. Its checkpoints (``ctx.cancelled``, ``ctx.sleep()``, ``ctx.raise_if_cancelled()`` and
``stream.send()``) read the link themselves: a ``cancel`` for this call stops the tool, a
``ping`` is answered at once and anything else is queued for the main loop.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .link import Link

__all__ = ["CallContext", "Cancelled", "Stream"]


class Cancelled(Exception):
    """The host cancelled the running call (or went away); the call should stop now."""

    def __init__(self, message: str = "the call was cancelled by the host") -> None:
        super().__init__(message)


class CallContext:
    """What a tool may know about the call it is serving.

    Attributes:
        call_id: The id the host gave this call.
        command: The tool name the host asked for.
        session_id: The session the call belongs to, or ``None``.
        worker_id: This worker's id from ``SNAKEPIT_WORKER_ID`` (``None`` if unset).
        timeout_ms: The call's timeout in milliseconds, or ``None`` for no deadline.
        deadline: The ``time.monotonic()`` instant the host gives up, or ``None``.
    """

    __slots__ = (
        "call_id",
        "command",
        "session_id",
        "worker_id",
        "timeout_ms",
        "deadline",
        "_link",
    )

    def __init__(
        self,
        call_id: int = 0,
        command: str = "",
        session_id: str | None = None,
        worker_id: str | None = None,
        timeout_ms: int | None = None,
        link: Link | None = None,
    ) -> None:
        self.call_id = call_id
        self.command = command
        self.session_id = session_id
        self.worker_id = (
            worker_id if worker_id is not None else os.environ.get("SNAKEPIT_WORKER_ID")
        )
        self.timeout_ms = timeout_ms
        self.deadline: float | None = (
            time.monotonic() + timeout_ms / 1000.0 if timeout_ms is not None else None
        )
        self._link = link

    def __repr__(self) -> str:
        return (
            f"CallContext(call_id={self.call_id!r}, command={self.command!r}, "
            f"session_id={self.session_id!r}, worker_id={self.worker_id!r})"
        )

    @property
    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or ``None`` without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    @property
    def cancelled(self) -> bool:
        """Whether the host cancelled this call; checks the link without blocking."""
        link = self._link
        if link is None:
            return False
        return link.poll(0.0)

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the host cancelled this call."""
        if self.cancelled:
            raise Cancelled()

    def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds``, waking at once with :class:`Cancelled` if the call is cancelled.

        While it sleeps it answers pings and queues other host messages for later.
        """
        end = time.monotonic() + max(0.0, float(seconds))
        link = self._link
        if link is None:
            time.sleep(max(0.0, float(seconds)))
            return
        while True:
            remaining = end - time.monotonic()
            if link.poll(max(0.0, remaining)):
                raise Cancelled()
            if remaining <= 0:
                return


class Stream:
    """The object a streaming tool receives as ``stream``.

    ``send(data)`` checks for a cancel and then writes one ``chunk`` frame
    ``{"kind": "chunk", "id", "seq", "data"}``. Chunks are only written when the host asked
    for a stream (the call had ``"stream": true``); otherwise ``send`` still checks for a
    cancel but drops the data, so a streaming tool also works as a plain call.
    """

    __slots__ = ("call_id", "seq", "enabled", "_link")

    def __init__(self, call_id: int, link: Link | None, enabled: bool = True) -> None:
        self.call_id = call_id
        self.seq = 0
        self.enabled = enabled
        self._link = link

    def send(self, data: Any) -> None:
        """Send one chunk to the host; raises :class:`Cancelled` if the call was cancelled."""
        link = self._link
        if link is None:
            return
        if link.poll(0.0):
            raise Cancelled()
        if not self.enabled:
            return
        link.send({"kind": "chunk", "id": self.call_id, "seq": self.seq, "data": data})
        self.seq += 1
