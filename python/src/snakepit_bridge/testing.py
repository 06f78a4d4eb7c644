"""Run an adapter's tools in-process, without the host: the harness for adapter tests.

This module owns :class:`AdapterHarness`, which instantiates an adapter class (running its
``initialize()``), finds its tools and calls them the way a worker does: arguments are bound
and checked by the same rules, a generator tool is driven chunk by chunk, an ``async def``
tool runs on an event loop, and a tool taking ``ctx`` gets a context with the call's
session state (``ctx.session``), session variables and a table of fake host tools::

    from snakepit_bridge.testing import AdapterHarness

    harness = AdapterHarness(MyAdapter, host_tools={"lookup_user": lambda user_id: {"id": user_id}})
    assert harness.call("hello", name="Ada") == "Hello, Ada!"
    run = harness.stream("count_to", n=3)
    assert run.chunks == [1, 2, 3] and run.result == {"done": True}
    harness.call("remember", key="k", value=1, session="s1")
    assert harness.session_state("s1") == {"k": 1}

Exceptions a tool raises reach the test unchanged. Nothing here needs a link, a host or
``msgpack``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .adapter import Tool, discover_tools
from .context import CallContext, HostToolError, Stream

__all__ = ["AdapterHarness", "StreamRun", "UnknownTool"]

HostTool = Callable[..., Any]


class UnknownTool(KeyError):
    """The adapter has no tool of the name asked for."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown tool"


@dataclass
class StreamRun:
    """What a streamed call produced: its chunks in order, then its result."""

    chunks: list[Any] = field(default_factory=list)
    result: Any = None


class _CollectingStream(Stream):
    """A :class:`Stream` that keeps every chunk instead of writing it to a link."""

    __slots__ = ("chunks",)

    def __init__(self, enabled: bool) -> None:
        super().__init__(0, None, enabled=enabled)
        self.chunks: list[Any] = []

    @property
    def seq(self) -> int:
        """The sequence number of the next chunk."""
        return len(self.chunks)

    def send(self, data: Any) -> None:
        if self.enabled:
            self.chunks.append(data)

    def emit(self, data: Any) -> None:
        self.send(data)


class _HarnessContext(CallContext):
    """A :class:`CallContext` whose host calls go to the harness's fake host tools."""

    __slots__ = ("_harness",)

    def __init__(self, harness: AdapterHarness, command: str, session: str | None) -> None:
        super().__init__(
            call_id=harness._next_call_id(),
            command=command,
            session_id=session,
            worker_id="test",
            timeout_ms=None,
            call=None,
            sessions=harness._sessions,
        )
        self._harness = harness

    def call_host_tool(
        self, tool: str, args: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> Any:
        arguments = dict(args or {})
        arguments.update(kwargs)
        return self._harness._host_call(self.session_id, tool, arguments)

    async def acall_host_tool(
        self, tool: str, args: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> Any:
        return self.call_host_tool(tool, args, **kwargs)


class AdapterHarness:
    """One adapter instance and its tools, callable from a test without a host.

    Args:
        adapter: The adapter class (instantiated here, ``initialize()`` run once) or an
            instance (used as it is).
        host_tools: Fake host tools by name, each called with the tool's arguments as
            keywords; what it returns is the host tool's result and what it raises reaches
            the tool as :class:`~snakepit_bridge.HostToolError`.
    """

    def __init__(
        self, adapter: type | Any, host_tools: Mapping[str, HostTool] | None = None
    ) -> None:
        self.adapter = adapter() if isinstance(adapter, type) else adapter
        self.host_tools: dict[str, HostTool] = dict(host_tools or {})
        self._sessions: dict[Any, dict[str, Any]] = {}
        self._variables: dict[str | None, dict[str, Any]] = {}
        self._calls = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        if isinstance(adapter, type):
            self._await(getattr(self.adapter, "initialize", lambda: None)())
        self.tools: dict[str, Tool] = discover_tools(self.adapter)

    # Calls.

    def call(
        self,
        tool: str,
        args: Mapping[str, Any] | None = None,
        /,
        *,
        session: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run ``tool`` as a plain call and return its result.

        Arguments go as keywords or as one map. A generator tool's values are collected into
        a list (as the worker does for a call that did not ask for a stream).
        """
        return self._run(tool, _merge(args, kwargs), session, streaming=False).result

    def stream(
        self,
        tool: str,
        args: Mapping[str, Any] | None = None,
        /,
        *,
        session: str | None = None,
        **kwargs: Any,
    ) -> StreamRun:
        """Run ``tool`` as a streamed call; returns its chunks and its result."""
        return self._run(tool, _merge(args, kwargs), session, streaming=True)

    # Session state and variables.

    def session_state(self, session: str) -> dict[str, Any]:
        """The worker-side state (``ctx.session``) kept for ``session``."""
        return self._sessions.setdefault(session, {})

    def drop_session(self, session: str) -> None:
        """Forget ``session``'s state, as the worker does when the host drops it."""
        self._sessions.pop(session, None)
        self._variables.pop(session, None)

    def set_variable(self, session: str, name: str, value: Any) -> None:
        """Give ``session`` the host-side variable ``name`` (read by ``ctx.get_variable``)."""
        self._variables.setdefault(session, {})[name] = value

    def variables(self, session: str) -> dict[str, Any]:
        """The host-side variables of ``session``, as tools left them."""
        return dict(self._variables.get(session, {}))

    def close(self) -> None:
        """Close the event loop used by ``async`` tools, if one was made."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    # Internals.

    def _next_call_id(self) -> int:
        self._calls += 1
        return self._calls

    def _run(
        self, name: str, args: dict[str, Any], session: str | None, streaming: bool
    ) -> StreamRun:
        tool = self.tools.get(name)
        if tool is None:
            known = ", ".join(self.tools) or "(none)"
            raise UnknownTool(f"adapter has no tool {name!r}; its tools: {known}")
        ctx = _HarnessContext(self, name, session) if tool.wants_ctx else None
        stream = _CollectingStream(enabled=streaming)
        outcome = self._await(tool.invoke(args, ctx, stream if tool.wants_stream else None))
        if inspect.isgenerator(outcome):
            collected: list[Any] = []
            while True:
                try:
                    value = next(outcome)
                except StopIteration as stop:
                    returned = stop.value
                    break
                (stream.chunks if streaming else collected).append(value)
            result = returned if streaming or returned is not None else collected
        elif inspect.isasyncgen(outcome):
            values = self._await(_drain(outcome))
            if streaming:
                stream.chunks.extend(values)
            result = None if streaming else values
        else:
            result = outcome
        return StreamRun(chunks=stream.chunks, result=result)

    def _await(self, value: Any) -> Any:
        if not inspect.isawaitable(value):
            return value
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(value)

    def _host_call(self, session: str | None, tool: str, args: dict[str, Any]) -> Any:
        if tool.startswith("snakepit."):
            return self._builtin(session, tool, args)
        function = self.host_tools.get(tool)
        if function is None:
            raise HostToolError("UnknownHostTool", f"no host tool named {tool!r}", tool)
        try:
            return function(**args)
        except HostToolError:
            raise
        except Exception as exc:
            raise HostToolError("HostToolError", str(exc), tool) from exc

    def _builtin(self, session: str | None, tool: str, args: dict[str, Any]) -> Any:
        if tool == "snakepit.list_host_tools":
            return [
                {"name": name, "description": inspect.getdoc(function) or "", "parameters": []}
                for name, function in sorted(self.host_tools.items())
            ]
        if session is None:
            raise HostToolError("NoSession", "session variables need a call in a session", tool)
        variables = self._variables.setdefault(session, {})
        if tool == "snakepit.list_variables":
            return [{"name": name, "value": value} for name, value in sorted(variables.items())]
        name = args.get("name")
        if tool == "snakepit.get_variable":
            if name not in variables:
                raise HostToolError("UnknownVariable", f"no variable {name!r}", tool)
            return {"name": name, "value": variables[name]}
        if tool == "snakepit.set_variable":
            variables[str(name)] = args.get("value")
            return {"name": name, "value": args.get("value")}
        raise HostToolError("UnknownHostTool", f"no host tool named {tool!r}", tool)


def _merge(args: Mapping[str, Any] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    merged = dict(args or {})
    merged.update(kwargs)
    return merged


async def _drain(generator: Any) -> list[Any]:
    return [value async for value in generator]
