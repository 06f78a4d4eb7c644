"""The worker runtime: handshake, then the call loop until the host goes away.

This module owns a worker's life after its adapter is imported:

1. instantiate the adapter and run ``initialize()`` once (sync or ``async def``);
2. send ``hello`` (JSON) and read the host's ``welcome``, which names the encoding;
3. serve messages: ``call`` → run the tool → ``result``; ``ping`` → ``pong``;
   ``session_drop`` → forget that session's state; ``shutdown`` or end-of-file → exit 0;
   a stray ``cancel`` or ``host_result`` and unknown kinds are ignored.

A synchronous tool runs inline on the main thread, with no thread hand-off, because per-call
latency is what the pool is judged on. An ``async def`` tool runs on one persistent event loop
that watches the link while the tool runs, so a ``cancel`` becomes ``asyncio.CancelledError``
inside the tool. A generator tool (sync or async) is driven here: each yielded value becomes
a ``chunk`` (or, without ``"stream": true``, an item of the result list), and the link is
checked for a cancel between values, which closes the generator. Every failure of a call
becomes an error result; the worker itself only stops when the link does.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import platform
import sys
import traceback
from collections.abc import AsyncGenerator, Generator
from types import AsyncGeneratorType, GeneratorType
from typing import Any

from . import adapter as _adapter_module
from . import protocol
from .adapter import Tool, discover_tools
from .context import CallContext, Cancelled, Stream
from .convert import SerializationError
from .link import Link, LinkClosed
from .protocol import ProtocolError, message_kind

__all__ = ["AdapterLoadError", "Runtime", "load_adapter_class", "main", "offered_encodings"]

PROTOCOL_VERSION = 1

#: The exit code of a worker whose adapter cannot be imported, created or initialised.
EXIT_ADAPTER = 2
#: The exit code of a worker that received a frame breaking the protocol.
EXIT_PROTOCOL = 1

_OWN_FILES = frozenset({__file__, _adapter_module.__file__})
_QUIET_KINDS = frozenset({"cancel", "host_result", "welcome"})


class AdapterLoadError(Exception):
    """The adapter named on the command line could not be imported or found."""


def load_adapter_class(spec: str) -> type:
    """Import ``module:Class`` (or ``module.Class``) and return the class."""
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
    else:
        module_name, _, attribute = spec.rpartition(".")
    if not module_name or not attribute:
        raise AdapterLoadError(f"adapter {spec!r} is not of the form 'module:Class'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise AdapterLoadError(
            f"cannot import module {module_name!r} for adapter {spec!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AdapterLoadError(
                f"module {module_name!r} has no attribute {attribute!r} (adapter {spec!r})"
            ) from None
    if not isinstance(target, type):
        raise AdapterLoadError(f"adapter {spec!r} is a {type(target).__name__}, not a class")
    return target


def offered_encodings(environ: dict[str, str] | None = None) -> list[str]:
    """The encodings to offer in ``hello``: those available, narrowed by ``SNAKEPIT_ENCODINGS``."""
    env = os.environ if environ is None else environ
    available = protocol.available_encodings()
    raw = env.get("SNAKEPIT_ENCODINGS", "").strip()
    if not raw:
        return available
    wanted = [name.strip() for name in raw.split(",") if name.strip()]
    offered = [name for name in wanted if name in available]
    return offered or ["json"]


def _error(kind: str, message: str, trace: str | None = None) -> dict[str, Any]:
    return {"type": kind, "message": message, "traceback": trace}


def _exception_error(exc: BaseException) -> dict[str, Any]:
    try:
        message = str(exc)
    except Exception:
        message = repr(exc)
    # Drop the runtime's own frames from the top, so the traceback starts in the tool.
    tb = exc.__traceback__
    while (
        tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename in _OWN_FILES
    ):
        tb = tb.tb_next
    trace = "".join(traceback.format_exception(type(exc), exc, tb))
    return _error(type(exc).__name__, message, trace)


class Runtime:
    """One worker: an adapter instance, its tools and the link to the host."""

    def __init__(self, adapter: Any, adapter_name: str, link: Link) -> None:
        self.adapter = adapter
        self.adapter_name = adapter_name
        self.link = link
        self.tools: dict[str, Tool] = discover_tools(adapter)
        self.worker_id: str | None = os.environ.get("SNAKEPIT_WORKER_ID")
        self.encodings = offered_encodings()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Per-session state (``ctx.session``) by session id, until ``session_drop``.
        self.sessions: dict[Any, dict[str, Any]] = {}
        self._tool_list = ", ".join(self.tools) or "(none)"

    # Lifecycle.

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The runtime's persistent event loop, created the first time it is needed."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
        return self._loop

    def initialize(self) -> None:
        """Run the adapter's ``initialize()`` once, awaiting it if it is a coroutine."""
        initialize = getattr(self.adapter, "initialize", None)
        if initialize is None:
            return
        outcome = initialize()
        if inspect.isawaitable(outcome):
            self.loop.run_until_complete(outcome)

    def hello(self) -> dict[str, Any]:
        """The ``hello`` message announcing this worker."""
        return {
            "kind": "hello",
            "protocol": PROTOCOL_VERSION,
            "pid": os.getpid(),
            "encodings": self.encodings,
            "adapter": self.adapter_name,
            "runtime": f"python {platform.python_version()}",
            "tools": [tool.spec for tool in self.tools.values()],
        }

    def handshake(self) -> bool:
        """Send ``hello`` and apply the ``welcome``; ``False`` if the host left or said stop."""
        self.link.send(self.hello(), "json")
        message = self.link.next_message()
        if message is None:
            return False
        kind = message_kind(message)
        if kind != "welcome":
            # A host that skips the handshake (classic flavour) gets JSON, and its first
            # message is served by the main loop like any other.
            self.link.pending.appendleft(message)
            return True
        encoding = message.get("encoding", "json")
        if encoding not in self.encodings:
            _log(f"host chose encoding {encoding!r}, which was not offered; using json")
            encoding = "json"
        self.link.encoding = encoding
        if self.worker_id is None and isinstance(message.get("worker_id"), str):
            self.worker_id = message["worker_id"]
        max_frame = message.get("max_frame")
        if isinstance(max_frame, int) and 0 < max_frame <= 0xFFFFFFFF:
            self.link.reader.max_frame = max_frame
        return True

    def run(self) -> int:
        """Handshake and serve until the host leaves; returns the process exit code."""
        try:
            if not self.handshake():
                return 0
            return self.serve()
        except LinkClosed:
            return 0
        except ProtocolError as exc:
            _log(f"protocol error on the link, exiting: {exc}")
            return EXIT_PROTOCOL
        finally:
            if self._loop is not None:
                self._loop.close()

    def serve(self) -> int:
        """The main loop: one message at a time until ``shutdown`` or end-of-file."""
        link = self.link
        next_message = link.next_message
        handle_call = self.handle_call
        while True:
            message = next_message()
            if message is None:
                return 0
            kind = message.get("kind")
            if kind is None:
                kind = message_kind(message)
            if kind == "call":
                handle_call(message)
            elif kind == "ping":
                link.send({"kind": "pong", "id": message.get("id")})
            elif kind == "session_drop":
                self.sessions.pop(message.get("session_id"), None)
            elif kind == "shutdown":
                return 0
            elif kind not in _QUIET_KINDS:
                _log(f"ignoring message of unknown kind {kind!r}")

    # Calls.

    def handle_call(self, message: dict[str, Any]) -> None:
        """Run one call and send its result (or error) to the host."""
        call_id = message.get("id")
        command = message.get("command")
        tool = self.tools.get(command)  # type: ignore[arg-type]
        if tool is None:
            self._send_error(
                call_id,
                _error(
                    "UnknownCommand",
                    f"unknown command {command!r}; available tools: {self._tool_list}",
                ),
            )
            return
        args = message.get("args")
        if args is None:
            args = {}
        elif type(args) is not dict:
            self._send_error(
                call_id,
                _error(
                    "InvalidArguments",
                    f"tool {command!r} needs its args as a map, got {type(args).__name__}",
                ),
            )
            return
        link = self.link
        link.current_call = call_id
        link.cancel_requested = False
        ctx = None
        stream = None
        if tool.wants_ctx:
            ctx = CallContext(
                call_id,
                command,  # type: ignore[arg-type]
                message.get("session_id"),
                self.worker_id,
                message.get("timeout_ms"),
                link,
                self.sessions,
            )
        if tool.needs_stream:
            stream = Stream(call_id, link, enabled=bool(message.get("stream")))  # type: ignore[arg-type]
        try:
            if tool.on_loop:
                result = self._run_async(tool, args, ctx, stream)
            else:
                result = tool.invoke(args, ctx, stream)
                if type(result) is GeneratorType:
                    result = self._drive(result, stream, bool(message.get("stream")))
                elif type(result) is AsyncGeneratorType:
                    result = self._run_async_generator(result, stream, bool(message.get("stream")))
        except LinkClosed:
            raise
        except Cancelled as exc:
            link.current_call = None
            self._send_error(call_id, _error("Cancelled", str(exc)))
            return
        except Exception as exc:
            link.current_call = None
            error = _exception_error(exc)
            if error["type"] == "InvalidArguments":
                error["traceback"] = None
            self._send_error(call_id, error)
            return
        link.current_call = None
        self._send_result(call_id, command, result)  # type: ignore[arg-type]

    def _drive(
        self, generator: Generator[Any, None, Any], stream: Stream | None, streaming: bool
    ) -> Any:
        """Run a generator tool: chunk (or collect) each value; return the final result.

        Before each value goes out the link is checked for a cancel; on one the generator is
        closed (``GeneratorExit`` inside the tool) and :class:`Cancelled` raised.
        """
        if stream is None:
            stream = Stream(self.link.current_call or 0, self.link, enabled=streaming)
        collected: list[Any] = []
        try:
            while True:
                try:
                    value = next(generator)
                except StopIteration as stop:
                    returned = stop.value
                    break
                self._deliver(value, stream, streaming, collected)
        except BaseException:
            _close_quietly(generator)
            raise
        if streaming or returned is not None:
            return returned
        return collected

    def _deliver(self, value: Any, stream: Stream, streaming: bool, collected: list[Any]) -> None:
        """Hand one yielded value on: a chunk when streaming, else collected; after a cancel
        check of the link, so a cancelled generator is closed before its next value goes out.
        """
        if self.link.poll(0.0):
            raise Cancelled()
        if streaming:
            stream.emit(value)
        else:
            collected.append(value)

    async def _drive_async(
        self, generator: AsyncGenerator[Any, None], stream: Stream, streaming: bool
    ) -> Any:
        """The ``async`` twin of :meth:`_drive` (an async generator returns no value)."""
        collected: list[Any] = []
        try:
            async for value in generator:
                # A generator that never awaits starves the loop's link watcher, so look here.
                self._deliver(value, stream, streaming, collected)
        finally:
            try:
                await generator.aclose()
            except Exception as exc:
                _log(f"an async generator raised {type(exc).__name__} while being closed: {exc}")
        return None if streaming else collected

    def _run_async_generator(
        self, generator: AsyncGenerator[Any, None], stream: Stream | None, streaming: bool
    ) -> Any:
        if stream is None:
            stream = Stream(self.link.current_call or 0, self.link, enabled=streaming)
        return self._run_coroutine(self._drive_async(generator, stream, streaming))

    def _run_async(
        self,
        tool: Tool,
        args: dict[str, Any],
        ctx: CallContext | None,
        stream: Stream | None,
    ) -> Any:
        """Run an ``async def`` tool on the event loop, cancelling it if the host asks."""
        outcome = tool.invoke(args, ctx, stream)
        if tool.is_async_generator:
            assert stream is not None
            outcome = self._drive_async(outcome, stream, stream.enabled)
        return self._run_coroutine(outcome)

    def _run_coroutine(self, coroutine: Any) -> Any:
        """Run a coroutine on the event loop, cancelling it if the host asks."""
        loop = self.loop
        link = self.link
        task = loop.create_task(coroutine)
        fd = link.read_fd

        def on_readable() -> None:
            if link.on_readable():
                task.cancel()
                # Stop watching: at end-of-file the descriptor stays readable forever.
                loop.remove_reader(fd)

        # A cancel may already be in the buffer, read together with the call itself.
        if link.poll(0.0):
            task.cancel()
        else:
            loop.add_reader(fd, on_readable)
        try:
            return loop.run_until_complete(task)
        except asyncio.CancelledError:
            raise Cancelled() from None
        finally:
            loop.remove_reader(fd)

    def _send_result(self, call_id: Any, command: str, result: Any) -> None:
        message = {"kind": "result", "id": call_id, "success": True, "result": result}
        try:
            self.link.send_lenient(message, "result", f"the result of tool {command!r}")
        except SerializationError as exc:
            self._send_error(call_id, _error("SerializationError", str(exc)))

    def _send_error(self, call_id: Any, error: dict[str, Any]) -> None:
        message = {"kind": "result", "id": call_id, "success": False, "error": error}
        try:
            self.link.send(message)
        except (TypeError, ValueError, OverflowError):
            # Only odd exception text (a lone surrogate, say) can fail here; escape it.
            safe = {
                key: (ascii(value) if value is not None else None) for key, value in error.items()
            }
            message["error"] = safe
            self.link.send(message)


def _close_quietly(generator: Generator[Any, None, Any]) -> None:
    """Close a generator that is being abandoned, logging (not raising) what it raises."""
    try:
        generator.close()
    except Exception as exc:
        _log(f"a generator raised {type(exc).__name__} while being closed: {exc}")


def _log(text: str) -> None:
    print(f"snakepit_bridge: {text}", file=sys.stderr, flush=True)


def main(adapter_spec: str) -> int:
    """Load the adapter named ``module:Class``, open the link and run; returns an exit code."""
    if sys.stdout is not None:
        # The host reads stdout and stderr line by line, so flush each line, not each 8 KiB.
        try:
            sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
    # Open the link before importing the adapter: in stdio mode this moves fd 1 to stderr,
    # so that even a print() at import time cannot corrupt a frame.
    try:
        link = Link.from_environment()
    except (OSError, ValueError) as exc:
        _log(f"error: cannot open the link to the host: {exc}")
        return EXIT_ADAPTER
    try:
        adapter_class = load_adapter_class(adapter_spec)
    except AdapterLoadError as exc:
        _log(f"error: {exc}")
        if exc.__cause__ is not None:
            traceback.print_exception(
                type(exc.__cause__), exc.__cause__, exc.__cause__.__traceback__, file=sys.stderr
            )
        return EXIT_ADAPTER
    name = f"{adapter_class.__module__}:{adapter_class.__qualname__}"
    try:
        adapter = adapter_class()
        runtime = Runtime(adapter, name, link)
        runtime.initialize()
    except Exception:
        _log(f"error: adapter {name} failed to start:")
        traceback.print_exc(file=sys.stderr)
        return EXIT_ADAPTER
    return runtime.run()
