"""Source compatibility with the adapter API of the original Snakepit (v0.4 and v0.7.5).

This module owns how an adapter written against the original's documented Python API runs
on this bridge unchanged:

* an adapter that overrides ``execute_tool(self, tool_name, arguments, context)`` is its own
  dispatcher: every call goes through it (:func:`dispatcher_tool`), and
  ``BaseAdapter.execute_tool`` (what ``super().execute_tool(...)`` reaches) runs the
  ``@tool`` method of that name;
* v0.4 adapters (without ``@tool`` methods) name commands by methods
  ``execute_<command>(self, args)`` (sync or ``async def``) and may define
  ``set_session_context(context)``, called before each such command with the call's
  context (:func:`legacy_tools`);
* v0.4 command handlers (``BaseCommandHandler`` with ``register_command``) run through
  ``ProtocolHandler(handler).run()`` (:class:`ProtocolHandler`), which serves them as tools;
* a streamed item with ``.data`` and ``.is_final`` (the original's ``StreamChunk``) is sent
  as its ``data`` (:func:`chunk_data`).

``SessionContext`` is :class:`~snakepit_bridge.context.CallContext`: it already has
``session_id``, ``call_elixir_tool`` (keywords or one map) and ``elixir_tools``.
"""

from __future__ import annotations

import sys

from . import signature as sig
from .adapter import Tool, make_tool, tool
from .drive import chunk_data
from .errors import UnknownCommand

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from .context import CallContext

__all__ = [
    "BaseCommandHandler",
    "ProtocolHandler",
    "chunk_data",
    "dispatcher_tool",
    "has_own_dispatcher",
    "legacy_tools",
    "setup_broken_pipe_suppression",
    "setup_graceful_shutdown",
]

_LEGACY_PREFIX = "execute_"


def has_own_dispatcher(adapter: Any) -> bool:
    """Whether ``adapter`` overrides ``BaseAdapter.execute_tool`` with its own dispatcher."""
    from .adapter import BaseAdapter

    method = getattr(type(adapter), "execute_tool", None)
    return method is not None and method is not BaseAdapter.execute_tool


def dispatcher_tool(adapter: Any, command: str, known: Tool | None) -> Tool:
    """A tool that runs ``command`` through the adapter's own ``execute_tool``.

    ``known`` is the ``@tool`` method of that name, if any: its spec (streaming, description)
    is kept. The dispatcher gets the arguments as a map and the call's context.
    """
    execute = adapter.execute_tool

    def dispatch(params: dict[str, Any], ctx: CallContext) -> Any:
        return execute(command, params, ctx)

    description = known.spec["description"] if known is not None else None
    streaming = known is not None and bool(known.spec["streaming"])
    return make_tool(command, dispatch, description, streaming)


def legacy_tools(adapter: Any, existing: dict[str, Tool]) -> dict[str, Tool]:
    """Tools for the v0.4 ``execute_<command>(self, args)`` methods of ``adapter``.

    Only an adapter without ``@tool`` methods is read this way, so a helper method that
    happens to be called ``execute_...`` in a current adapter never becomes a tool.
    """
    tools: dict[str, Tool] = {}
    if existing:
        return tools
    for attribute in dir(type(adapter)):
        if not attribute.startswith(_LEGACY_PREFIX) or attribute == "execute_tool":
            continue
        command = attribute[len(_LEGACY_PREFIX) :]
        method = getattr(adapter, attribute)
        if command in existing or not callable(method):
            continue
        tools[command] = _legacy_tool(adapter, command, method)
    return tools


def _legacy_tool(adapter: Any, command: str, method: Callable[..., Any]) -> Tool:
    set_context = getattr(adapter, "set_session_context", None)
    if sig.is_coroutine_function(method):

        async def run_async(params: dict[str, Any], ctx: CallContext) -> Any:
            if set_context is not None:
                set_context(ctx)
            return await method(params)

        function: Callable[..., Any] = run_async
    else:

        def run(params: dict[str, Any], ctx: CallContext) -> Any:
            if set_context is not None:
                set_context(ctx)
            return method(params)

        function = run
    return make_tool(command, function, sig.getdoc(method))


class BaseCommandHandler:
    """The v0.4 command handler: commands registered by name, each ``handler(args)``."""

    def __init__(self) -> None:
        self._commands: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self._register_commands()

    def _register_commands(self) -> None:
        """Register the handler's commands with :meth:`register_command` (override this)."""

    def register_command(self, name: str, handler: Callable[[dict[str, Any]], Any]) -> None:
        """Serve command ``name`` with ``handler(args)``."""
        self._commands[name] = handler

    def get_supported_commands(self) -> list[str]:
        """The registered command names."""
        return list(self._commands)

    def process_command(self, command: str, args: dict[str, Any]) -> Any:
        """Run ``command`` with ``args``; an unknown command raises ``UnknownCommand``."""
        handler = self._commands.get(command)
        if handler is None:
            known = ", ".join(self._commands) or "(none)"
            raise UnknownCommand(f"unknown command {command!r}; available tools: {known}")
        return handler(args)


class ProtocolHandler:
    """Serves a :class:`BaseCommandHandler` as a worker: its commands become tools."""

    def __init__(self, command_handler: BaseCommandHandler) -> None:
        self.command_handler = command_handler
        self.shutdown_requested = False

    def adapter(self) -> Any:
        """An adapter instance whose tools are the handler's commands."""
        from .adapter import BaseAdapter

        handler = self.command_handler
        methods: dict[str, Any] = {}
        for index, name in enumerate(handler.get_supported_commands()):
            methods[f"command_{index}"] = tool(name=name)(_command_method(handler, name))
        return type(type(handler).__name__, (BaseAdapter,), methods)()

    def run(self) -> int:
        """Open the link the host prepared and serve until it leaves; the exit code."""
        from .link import Link
        from .runtime import EXIT_ADAPTER, Runtime

        try:
            link = Link.from_environment()
        except (OSError, ValueError) as exc:
            print(f"snakepit_bridge: cannot open the link: {exc}", file=sys.stderr)
            return EXIT_ADAPTER
        handler = self.command_handler
        name = f"{type(handler).__module__}:{type(handler).__qualname__}"
        return Runtime(self.adapter(), name, link).run()


def _command_method(handler: BaseCommandHandler, name: str) -> Callable[..., Any]:
    def command(self: Any, params: dict[str, Any]) -> Any:
        return handler.process_command(name, params)

    return command


def setup_graceful_shutdown(protocol_handler: ProtocolHandler) -> None:
    """Exit cleanly (code 0) on SIGTERM or SIGINT, marking the handler as shutting down."""

    def stop(signum: int, frame: Any) -> None:
        protocol_handler.shutdown_requested = True
        raise SystemExit(0)

    import signal

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def setup_broken_pipe_suppression() -> None:
    """Leave quietly (code 0) when the host's end of a pipe is gone, instead of a traceback."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, trace: Any) -> None:
        if issubclass(kind, BrokenPipeError):
            raise SystemExit(0)
        previous(kind, value, trace)

    sys.excepthook = hook
