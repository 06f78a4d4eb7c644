"""The bridge's own exceptions, and how any exception becomes an error payload.

This module owns every exception class the bridge raises or reports, and the mapping of an
exception to the ``error`` map of a ``result`` (``docs/PROTOCOL.md``, "Messages"):
``{"type": <class name>, "message": <str(exc)>, "traceback": <text or null>}``. The
traceback starts in the tool: the bridge's own frames at its top are dropped.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "AdapterLoadError",
    "Cancelled",
    "DepthLimitExceeded",
    "HostToolError",
    "InvalidArguments",
    "LinkClosed",
    "ProtocolError",
    "SerializationError",
    "UnknownCommand",
    "error",
    "error_payload",
]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class ProtocolError(Exception):
    """A frame or message broke the wire contract; the link cannot be trusted any more."""


class LinkClosed(Exception):
    """The host closed the link (end-of-file or a broken pipe)."""


class Cancelled(Exception):
    """The host cancelled the running call (or went away); the call should stop now."""

    def __init__(self, message: str = "the call was cancelled by the host") -> None:
        super().__init__(message)


class InvalidArguments(Exception):
    """The arguments of a call do not fit the tool's signature."""


class SerializationError(Exception):
    """A value cannot be sent to the host, even after conversion (or it is too large)."""


class UnknownCommand(Exception):
    """No tool of the adapter has the name a call asked for."""


class DepthLimitExceeded(Exception):
    """A value is nested deeper than the protocol's depth limit (``MAX_DEPTH``, 512 levels)."""


class AdapterLoadError(Exception):
    """The adapter named on the command line could not be imported or found."""


class HostToolError(Exception):
    """A host tool called with ``ctx.call_host_tool`` failed.

    Attributes:
        error_type: The host's error type: ``UnknownHostTool``, ``HostToolError``,
            ``InvalidArguments``, or whatever the host tool reported.
        message: The host's error message.
        tool: The host tool that was called.
    """

    def __init__(self, error_type: str, message: str, tool: str = "") -> None:
        super().__init__(f"{error_type}: {message}" if error_type else message)
        self.error_type = error_type
        self.message = message
        self.tool = tool

    @classmethod
    def from_reply(cls, error: Any, tool: str) -> HostToolError:
        """Build the exception from a ``host_result`` error (a map, or a plain string)."""
        if isinstance(error, dict):
            return cls(str(error.get("type") or "Error"), str(error.get("message") or ""), tool)
        return cls("Error", str(error), tool)


#: Exceptions whose traceback says nothing the message does not (the caller's mistake).
_NO_TRACEBACK = (
    InvalidArguments,
    UnknownCommand,
    DepthLimitExceeded,
    SerializationError,
    Cancelled,
)


def error(kind: str, message: str, trace: str | None = None) -> dict[str, Any]:
    """An ``error`` payload: ``{"type", "message", "traceback"}``."""
    return {"type": kind, "message": message, "traceback": trace}


def error_payload(exc: BaseException) -> dict[str, Any]:
    """Map an exception raised by (or for) a tool to the ``error`` payload of its result."""
    try:
        message = str(exc)
    except Exception:
        message = repr(exc)
    if isinstance(exc, _NO_TRACEBACK):
        return error(type(exc).__name__, message)
    # Drop the bridge's own frames from the top, so the traceback starts in the tool.
    tb = exc.__traceback__
    while (
        tb is not None
        and tb.tb_next is not None
        and os.path.dirname(tb.tb_frame.f_code.co_filename) == _PACKAGE_DIR
    ):
        tb = tb.tb_next
    import traceback

    trace = "".join(traceback.format_exception(type(exc), exc, tb))
    return error(type(exc).__name__, message, trace)
