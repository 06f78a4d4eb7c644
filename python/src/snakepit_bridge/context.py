"""Per-call context handed to tools: identity, deadline, cancellation, host calls, sessions.

This module owns :class:`CallContext`, the object a tool receives when it declares a
parameter named ``ctx``, and the :class:`Stream` a streaming tool receives as ``stream``.
Both are thin views of the runtime's per-call state (:class:`~snakepit_bridge.calls.Call`),
so they behave the same whether the call runs inline on the main thread (capacity 1) or on
one of several threads (capacity above 1).

Checkpoints (``ctx.cancelled``, ``ctx.sleep()``, ``ctx.raise_if_cancelled()``,
``stream.send()`` and ``ctx.call_host_tool()``) see a ``cancel`` for this call and stop the
tool with :class:`~snakepit_bridge.errors.Cancelled`; pings are answered meanwhile.

Host calls (``docs/PROTOCOL.md``, "Host calls") block: ``ctx.call_host_tool()`` sends a
``host_call`` and waits until its ``host_result`` arrives. It also works inside an
``async def`` tool, where it blocks the event loop for the round trip (still answering pings
and honouring a cancel); ``await ctx.acall_host_tool()`` is the non-blocking form.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Mapping

from .drive import chunk_data
from .errors import Cancelled, HostToolError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .calls import Call

__all__ = ["CallContext", "Cancelled", "HostToolError", "Stream"]


def _host_args(tool: str, args: Mapping[str, Any] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    if args is None:
        return kwargs
    if not isinstance(args, Mapping):
        raise TypeError(f"host tool {tool!r} takes its arguments as a map or keywords")
    merged = dict(args)
    merged.update(kwargs)
    return merged


def _host_value(reply: dict[str, Any], tool: str) -> Any:
    if reply.get("success"):
        return reply.get("result")
    raise HostToolError.from_reply(reply.get("error"), tool)


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
        "correlation_id",
        "trace_id",
        "_call",
        "_sessions",
        "_session",
        "_host_tools",
    )

    def __init__(
        self,
        call_id: Any = 0,
        command: str = "",
        session_id: str | None = None,
        worker_id: str | None = None,
        timeout_ms: int | None = None,
        call: Call | None = None,
        sessions: dict[Any, dict[str, Any]] | None = None,
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
        #: The call's correlation id from the host (``None`` from hosts that send none).
        self.correlation_id: str | None = None
        #: The trace id of the call's span, when the host traces calls (``None`` otherwise).
        self.trace_id: str | None = None
        self._call = call
        self._sessions = sessions
        self._session: dict[str, Any] | None = None
        self._host_tools: dict[str, Any] | None = None

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
        """Whether the host cancelled this call; looks for a cancel without blocking."""
        call = self._call
        if call is None:
            return False
        return call.checkpoint()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the host cancelled this call."""
        if self.cancelled:
            raise Cancelled()

    def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds``, waking at once with :class:`Cancelled` if the call is cancelled.

        While it sleeps it answers pings and queues other host messages for later.
        """
        end = time.monotonic() + max(0.0, float(seconds))
        call = self._call
        if call is None:
            time.sleep(max(0.0, float(seconds)))
            return
        while True:
            remaining = end - time.monotonic()
            if call.wait(max(0.0, remaining)):
                raise Cancelled()
            if remaining <= 0:
                return

    # Session state.

    @property
    def session(self) -> dict[str, Any]:
        """State kept on this worker for the call's session, across calls.

        The same dict comes back for every call of the same ``session_id`` until the host
        drops the session (``session_drop``). A call without a session gets a fresh dict
        that is forgotten when the call ends.
        """
        state = self._session
        if state is None:
            sessions = self._sessions
            if self.session_id is None or sessions is None:
                state = {}
            else:
                state = sessions.get(self.session_id)
                if state is None:
                    # setdefault is atomic, so two concurrent calls share one state.
                    state = sessions.setdefault(self.session_id, {})
            self._session = state
        return state

    # Host calls.

    def _running_call(self) -> Call:
        call = self._call
        if call is None:
            raise RuntimeError("host tools can only be called from a call served by a worker")
        return call

    def call_host_tool(
        self, tool: str, args: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> Any:
        """Call the host tool ``tool`` and return its result, blocking until it answers.

        Arguments go as keywords (``call_host_tool("calculate", a=1, b=2)``) or as one map
        (``call_host_tool("calculate", {"a": 1, "b": 2})``). While waiting, pings are answered
        and a cancel of this call raises :class:`Cancelled`.

        Raises:
            HostToolError: The host tool failed or does not exist (see ``error_type``).
            Cancelled: The host cancelled this call (or went away) meanwhile.
        """
        call = self._running_call()
        return _host_value(call.host_call(tool, _host_args(tool, args, kwargs)), tool)

    #: The v0.7.5 name of :meth:`call_host_tool`.
    call_elixir_tool = call_host_tool

    async def acall_host_tool(
        self, tool: str, args: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> Any:
        """The ``async`` form of :meth:`call_host_tool`, for ``async def`` tools.

        The event loop keeps running while the host answers; a cancel arrives as
        ``asyncio.CancelledError`` at this ``await``.
        """
        call = self._running_call()
        reply = await call.ahost_call(tool, _host_args(tool, args, kwargs))
        return _host_value(reply, tool)

    #: The v0.7.5 name of :meth:`acall_host_tool`.
    acall_elixir_tool = acall_host_tool

    def list_host_tools(self) -> list[dict[str, Any]]:
        """The host tools visible to this call: ``[{"name", "description", "parameters"}]``."""
        listed: list[dict[str, Any]] = self.call_host_tool("snakepit.list_host_tools")
        return listed

    async def alist_host_tools(self) -> list[dict[str, Any]]:
        """The ``async`` form of :meth:`list_host_tools`."""
        tools = await self.acall_host_tool("snakepit.list_host_tools")
        listed: list[dict[str, Any]] = tools
        return listed

    @property
    def elixir_tools(self) -> dict[str, Any]:
        """The host tools visible to this call by name (the v0.7.5 name), fetched once."""
        if self._host_tools is None:
            self._host_tools = {spec["name"]: spec for spec in self.list_host_tools()}
        return self._host_tools

    def register_variable(self, name: str, var_type: str, value: Any, **options: Any) -> Any:
        """Create the session variable ``name`` of type ``var_type`` (the v0.4 API).

        It calls the host tool ``snakepit.register_variable`` with ``name``, ``type``,
        ``value`` and any ``options``, and returns the host's answer. The result may also be
        awaited, as the v0.4 adapters do.
        """
        arguments = {"name": name, "type": var_type, "value": value, **options}
        return _Awaitable(self.call_host_tool("snakepit.register_variable", arguments))

    def alloc_array(self, shape: Any, dtype: Any = "float64", zeroed: bool = True) -> Any:
        """A numpy array in shared memory: fill it and return it (anywhere in the result),
        and it reaches the host without a copy (``docs/PROTOCOL.md``, "Shared memory").
        Zeroed unless ``zeroed`` is false (then its contents are undefined, as with
        ``numpy.empty``). Do not use it after returning it: the host reads the same memory,
        and the worker reuses it once the host lets go of it."""
        from .shm import alloc_array

        return alloc_array(shape, dtype, zeroed)

    def stream(self) -> Stream:
        """The call's :class:`Stream` (chunks go out only when the host asked for them)."""
        call = self._call
        return Stream(self.call_id, call, enabled=call is not None and call.streaming)

    def get_variable(self, name: str) -> Any:
        """The value of the session variable ``name`` (kept by the host)."""
        return _variable_value(self.call_host_tool("snakepit.get_variable", name=name))

    def __getitem__(self, name: str) -> Any:
        """``ctx["name"]``: the value of the session variable ``name`` (the v0.4 API)."""
        return self.get_variable(name)

    def __setitem__(self, name: str, value: Any) -> None:
        """``ctx["name"] = value``: set the session variable ``name`` (the v0.4 API)."""
        self.set_variable(name, value)

    async def aget_variable(self, name: str) -> Any:
        """The ``async`` form of :meth:`get_variable`."""
        return _variable_value(await self.acall_host_tool("snakepit.get_variable", name=name))

    def set_variable(self, name: str, value: Any) -> dict[str, Any]:
        """Set the session variable ``name``; returns the updated variable map."""
        variable = self.call_host_tool("snakepit.set_variable", name=name, value=value)
        found: dict[str, Any] = variable
        return found

    async def aset_variable(self, name: str, value: Any) -> dict[str, Any]:
        """The ``async`` form of :meth:`set_variable`."""
        variable = await self.acall_host_tool("snakepit.set_variable", name=name, value=value)
        found: dict[str, Any] = variable
        return found

    def list_variables(self) -> Any:
        """The session's variables, as the host lists them."""
        return self.call_host_tool("snakepit.list_variables")

    async def alist_variables(self) -> Any:
        """The ``async`` form of :meth:`list_variables`."""
        return await self.acall_host_tool("snakepit.list_variables")


class _Awaitable:
    """A value that was computed at once but may also be awaited (``await x`` gives it)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        yield from ()
        return self.value

    def __repr__(self) -> str:
        return repr(self.value)


def _variable_value(variable: Any) -> Any:
    if isinstance(variable, dict) and "value" in variable:
        return variable["value"]
    return variable


class Stream:
    """The object a streaming tool receives as ``stream``.

    ``send(data)`` checks for a cancel and then writes one ``chunk`` frame
    ``{"kind": "chunk", "id", "seq", "data"}`` at once (nothing is buffered; the write
    blocks while the host's buffer for this call is full). Chunks are only written when the
    host asked for a stream (the call had ``"stream": true``); otherwise ``send`` still
    checks for a cancel but drops the data, so a streaming tool also works as a plain call.
    """

    __slots__ = ("call_id", "enabled", "_call")

    def __init__(self, call_id: Any, call: Call | None, enabled: bool = True) -> None:
        self.call_id = call_id
        self.enabled = enabled
        self._call = call

    @property
    def seq(self) -> int:
        """The sequence number of the next chunk."""
        return 0 if self._call is None else self._call.seq

    def send(self, data: Any) -> None:
        """Send one chunk to the host; raises :class:`Cancelled` if the call was cancelled."""
        call = self._call
        if call is None:
            return
        if call.checkpoint():
            raise Cancelled()
        if self.enabled:
            call.send_chunk(chunk_data(data))

    def emit(self, data: Any) -> None:
        """Write one chunk without checking for a cancel (the caller just checked)."""
        call = self._call
        if call is not None and self.enabled:
            call.send_chunk(chunk_data(data))
