"""Telemetry from inside a tool: ``emit(name, measurements, metadata)`` and
``with span(name):``, sent to the host as ``event`` frames (``docs/PROTOCOL.md``).

Events are buffered while a call runs and written in one batch when the call ends (or when
the buffer fills), before the call's result, so the host sees them in order. Emitting never
blocks on the host and never fails the tool: an event that cannot be encoded or sent is
dropped and counted in :data:`dropped`. Names should match ``[a-z][a-z0-9_]*(.[a-z0-9_]+)*``;
the host drops others, and caps how many distinct names it accepts.
"""

from __future__ import annotations

import _thread
import time
from contextvars import ContextVar

from .protocol import encode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType
    from typing import Any

    from .link import Link

__all__ = ["emit", "span", "flush", "correlation_id", "dropped"]

#: Events buffered before a batch is written even though the call still runs.
BATCH = 64

#: Events dropped on this side (could not be encoded or written).
dropped = 0

#: The ``call`` message of the call running on this thread (or task): events read its
#: ``id``, ``correlation_id`` and ``traceparent`` when they are emitted, so that starting a
#: call costs one assignment.
_current: ContextVar[dict[str, Any] | None] = ContextVar("snakepit_telemetry_call", default=None)
_link: Link | None = None
# `threading.Lock` is this; `threading` itself is not needed by a worker of capacity 1.
_lock = _thread.allocate_lock()
_buffer: list[bytes] = []


#: The runtime's hook as a call starts: ``set_call(message)`` with its ``call`` message; its
#: events carry its id, correlation id and ``traceparent``. A call ends with :func:`end_call`,
#: or, on a serving loop's fast path, a flush of :data:`buffered` and ``set_call(None)``. The
#: serving loop gives the link once, with :func:`bind`.
set_call = _current.set
#: Events waiting to be written (the list itself; never rebound).
buffered = _buffer


def bind(link: Link) -> None:
    """Write events to ``link`` from now on."""
    global _link
    _link = link


def trace_id(traceparent: str | None) -> str | None:
    """The trace id in a W3C ``traceparent`` (``00-<trace>-<span>-<flags>``), or ``None``."""
    if not isinstance(traceparent, str):
        return None
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def correlation_id() -> str | None:
    """The correlation id of the call running on this thread, or ``None``.

    A worker that runs several calls at once (capacity above 1) runs them on other threads
    than the one that read them: there, pass ``correlation_id=ctx.correlation_id``.
    """
    current = _current.get()
    return current.get("correlation_id") if current is not None else None


def emit(
    name: str,
    measurements: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    correlation_id: str | None = None,
    _span: dict[str, int] | None = None,
) -> None:
    """Record event ``name`` with numbers ``measurements`` and context ``metadata``."""
    global dropped
    data: dict[str, Any] = {
        "measurements": dict(measurements or {}),
        "metadata": dict(metadata or {}),
    }
    if _span is not None:
        data["span"] = _span
    message: dict[str, Any] = {"kind": "event", "name": name, "data": data}
    current = _current.get()
    if current is not None:
        message["id"] = current.get("id")
        correlation_id = correlation_id or current.get("correlation_id")
        traceparent = current.get("traceparent")
        if traceparent is not None:
            message["traceparent"] = traceparent
    if correlation_id is not None:
        message["correlation_id"] = correlation_id
    link = _link
    try:
        payload = encode(message, link.encoding if link is not None else "json")
    except Exception:
        dropped += 1
        return
    with _lock:
        _buffer.append(len(payload).to_bytes(4, "big") + payload)
        full = len(_buffer) >= BATCH
    if full:
        flush()


class span:
    """Time the block: emits ``<name>.stop`` (or ``<name>.exception``) with ``duration_us``.

    Use it as ``with span(name, metadata):``. The event also carries the block's start and
    end (Unix nanoseconds), from which a host with OpenTelemetry records a span that is a
    child of the call's span. (A class rather than a ``contextlib`` generator, whose import
    a worker's start would pay.)
    """

    __slots__ = ("name", "metadata", "correlation_id", "_started", "_start_ns")

    def __init__(
        self,
        name: str,
        metadata: Mapping[str, Any] | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.name = name
        self.metadata = metadata
        self.correlation_id = correlation_id
        self._started = 0.0
        self._start_ns = 0

    def __enter__(self) -> None:
        self._started = time.perf_counter()
        self._start_ns = time.time_ns()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        elapsed = (time.perf_counter() - self._started) * 1e6
        timing = {"start_unix_ns": self._start_ns, "end_unix_ns": time.time_ns()}
        if kind is None:
            emit(
                f"{self.name}.stop",
                {"duration_us": elapsed},
                self.metadata,
                self.correlation_id,
                timing,
            )
            return
        meta = dict(self.metadata or {})
        meta["error"] = kind.__name__
        emit(f"{self.name}.exception", {"duration_us": elapsed}, meta, self.correlation_id, timing)


def flush() -> None:
    """Write the buffered events in one batch; drops them (counted) if the link fails."""
    global dropped
    with _lock:
        if not _buffer:
            return
        batch = b"".join(_buffer)
        count = len(_buffer)
        _buffer.clear()
    link = _link
    if link is None:
        dropped += count
        return
    try:
        link.write_raw(batch)
    except Exception:
        dropped += count


def end_call() -> None:
    """The runtime's hook: a call ends; the events so far go out before its result."""
    if _buffer:
        flush()
    _current.set(None)
