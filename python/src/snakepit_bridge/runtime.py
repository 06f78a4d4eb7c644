"""The worker runtime: handshake, then serving calls until the host goes away.

This module owns a worker's life after its adapter is imported:

1. instantiate the adapter and run ``initialize()`` once (sync or ``async def``);
2. send ``hello`` (JSON, announcing the worker's ``capacity``) and read the host's
   ``welcome``, which names the encoding;
3. serve messages until ``shutdown`` or end-of-file, in one of two serving modes:
   capacity 1 runs each call inline on the main thread (:mod:`snakepit_bridge.inline`, no
   threads, no event loop unless a tool is async); capacity above 1 runs calls
   concurrently (:mod:`snakepit_bridge.threaded`).

Both modes share the call path here: :meth:`Runtime.open_call` turns a ``call`` message into
per-call state (:class:`~snakepit_bridge.calls.Call`) or answers it with an error at once,
:meth:`Runtime.run_call` runs the tool (:mod:`snakepit_bridge.drive`) and sends its result
(:mod:`snakepit_bridge.answers`).
Every failure of a call becomes an error result; the worker itself only stops when the link
does.
"""

from __future__ import annotations

import os
import sys

from . import protocol, telemetry
from .adapter import Tool, discover_tools
from .answers import Answers
from .calls import Call, Server
from .compat import dispatcher_tool, has_own_dispatcher, legacy_tools
from .context import CallContext, Stream
from .depth import MAX_DEPTH, exceeds, may_exceed, scan_envelope
from .drive import DRIVEN, drive_result, run_tool
from .environment import capacity_for, offered_encodings
from .errors import (
    AdapterLoadError,
    DepthLimitExceeded,
    LinkClosed,
    ProtocolError,
    error,
    error_payload,
)
from .link import Link
from .loading import load_adapter_class
from .log import log
from .protocol import message_kind, own_encoder
from .staging import shared_from

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from typing import Any, Callable

    from .inline import InlineServer

__all__ = [
    "AdapterLoadError",
    "Runtime",
    "capacity_for",
    "load_adapter_class",
    "main",
    "offered_encodings",
]

PROTOCOL_VERSION = 1

#: The exit code of a worker whose adapter cannot be imported, created or initialised.
EXIT_ADAPTER = 2
#: The exit code of a worker that received a frame breaking the protocol.
EXIT_PROTOCOL = 1


class Runtime(Answers):
    """One worker: an adapter instance, its tools, its sessions and the link to the host."""

    def __init__(self, adapter: Any, adapter_name: str, link: Link) -> None:
        self.adapter = adapter
        self.adapter_name = adapter_name
        self.link = link
        self.tools: dict[str, Tool] = discover_tools(adapter)
        self.tools.update(legacy_tools(adapter, self.tools))
        #: Whether the adapter dispatches every call itself (its own ``execute_tool``).
        self.own_dispatcher = has_own_dispatcher(adapter)
        #: The tools the inline fast path may run as they are: synchronous, without ctx or
        #: stream (none when the adapter dispatches calls itself).
        self.plain_tools: dict[Any, Tool] = {
            name: found
            for name, found in self.tools.items()
            if not (self.own_dispatcher or found.on_loop or found.wants_ctx or found.wants_stream)
        }
        self._dispatched: dict[str, Tool] = {}
        self.worker_id: str | None = os.environ.get("SNAKEPIT_WORKER_ID")
        self.encodings = offered_encodings()
        #: How many calls this worker runs at once (announced in ``hello``).
        self.capacity = capacity_for(adapter)
        #: Per-session state (``ctx.session``) by session id, until ``session_drop``.
        self.sessions: dict[Any, dict[str, Any]] = {}
        #: A message read during the handshake that the serving loop must see first.
        self.first_message: dict[str, Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inline: InlineServer | None = None
        self._tool_list = ", ".join(self.tools) or "(none)"
        #: Result payloads shorter than this need none of send_result's checks.
        self._small = min(MAX_DEPTH + 1, shared_from())
        #: The reading thread's own encoder for :meth:`send_fast_result`, for the link's
        #: encoding (made again when the handshake settles it).
        self._pack: Callable[[Any], bytes] | None = own_encoder(link.encoding)

    # Lifecycle.

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The runtime's persistent event loop, created the first time it is needed.

        ``asyncio`` is imported here, not at start-up: a worker without async tools never
        pays for it.
        """
        if self._loop is None:
            import asyncio

            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
        return self._loop

    def initialize(self) -> None:
        """Run the adapter's ``initialize()`` once, awaiting it if it is a coroutine."""
        initialize = getattr(self.adapter, "initialize", None)
        if initialize is None:
            return
        outcome = initialize()
        if hasattr(outcome, "__await__"):
            self.loop.run_until_complete(outcome)

    def hello(self) -> dict[str, Any]:
        """The ``hello`` message announcing this worker."""
        return {
            "kind": "hello",
            "protocol": PROTOCOL_VERSION,
            "pid": os.getpid(),
            "encodings": self.encodings,
            "adapter": self.adapter_name,
            "runtime": f"python {'.'.join(map(str, sys.version_info[:3]))}",
            "capacity": self.capacity,
            "shm": "SNAKEPIT_SHM_FD" in os.environ,
            "tools": [tool.spec for tool in self.tools.values()],
        }

    def handshake(self) -> bool:
        """Send ``hello`` and apply the ``welcome``; ``False`` if the host left.

        The ``hello`` goes in MessagePack when this interpreter has it (the host tells the
        encodings apart by the first byte, and answers in the same one), so that a worker
        starts without importing ``json``; else, or if a value in it needs JSON, in JSON.
        """
        hello = self.hello()
        try:
            self.link.send(hello, "msgpack" if "msgpack" in self.encodings else "json")
        except (TypeError, ValueError, OverflowError):
            self.link.send(hello, "json")
        message = None
        while message is None:
            payload = self.link.next_payload()
            if payload is None:
                return False
            message = self.decode(payload)
        if message_kind(message) != "welcome":
            # A host that skips the handshake (classic flavour) gets JSON, and its first
            # message is served by the main loop like any other.
            self.first_message = message
            return True
        encoding = message.get("encoding", "json")
        if encoding not in self.encodings:
            log(f"host chose encoding {encoding!r}, which was not offered; using json")
            encoding = "json"
        self.link.encoding = encoding
        self._pack = own_encoder(encoding)
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
            log(f"protocol error on the link, exiting: {exc}")
            return EXIT_PROTOCOL
        finally:
            if self._loop is not None and not self._loop.is_running():
                self._loop.close()

    def serve(self) -> int:
        """Serve messages until ``shutdown`` or end-of-file, in the mode the capacity picks."""
        if self.capacity > 1:
            from .threaded import ThreadedServer

            return ThreadedServer(self).serve()
        return self.inline_server().serve()

    def inline_server(self) -> InlineServer:
        """The inline (capacity 1) serving mode of this runtime."""
        if self._inline is None:
            from .inline import InlineServer

            self._inline = InlineServer(self)
        return self._inline

    # Messages.

    def decode(self, payload: protocol.Buffer) -> dict[str, Any] | None:
        """Decode one payload from the host into a message, enforcing the depth limit.

        A ``call`` whose ``args`` nest deeper than ``MAX_DEPTH`` (or deeper than the decoder
        goes) is answered here with a ``DepthLimitExceeded`` error and ``None`` returned; a
        ``host_result`` like that becomes a failed ``host_result`` for its host call. Any
        other frame too deep to decode, or one whose ``id`` cannot be read, is a protocol
        error.
        """
        try:
            message = protocol.decode(payload)
        except DepthLimitExceeded:
            return self._too_deep(scan_envelope(payload))
        if len(payload) > MAX_DEPTH:
            return self.check_depth(message, payload)
        return message

    def check_depth(
        self, message: dict[str, Any], payload: protocol.Buffer
    ) -> dict[str, Any] | None:
        """``message`` decoded from ``payload``, or what :meth:`decode` makes of it when its
        value is deeper than ``MAX_DEPTH`` (call this only for payloads over ``MAX_DEPTH``
        bytes: shorter ones cannot be too deep)."""
        if may_exceed(payload):
            kind = message_kind(message)
            field = "args" if kind == "call" else "result" if kind == "host_result" else None
            if field is not None and exceeds(message.get(field)):
                return self._too_deep(message)
        return message

    def too_deep(self, payload: protocol.Buffer) -> dict[str, Any] | None:
        """What :meth:`decode` makes of a payload the decoder found too deep."""
        return self._too_deep(scan_envelope(payload))

    def _too_deep(self, fields: dict[str, Any]) -> dict[str, Any] | None:
        kind = message_kind(fields)
        call_id = fields.get("id")
        limit = f"nest deeper than the limit of {MAX_DEPTH} levels (MAX_DEPTH)"
        if kind == "call" and call_id is not None:
            what = f"the arguments of call {call_id} (tool {fields.get('command')!r})"
            self.send_error(call_id, error("DepthLimitExceeded", f"{what} {limit}"))
            return None
        if kind == "host_result" and fields.get("ref") is not None:
            message = f"the result of host call {fields['ref']} {limit}"
            return {
                "kind": "host_result",
                "id": call_id,
                "ref": fields["ref"],
                "success": False,
                "error": error("DepthLimitExceeded", message),
            }
        raise ProtocolError(f"a {kind or 'message'} frame {limit}, and names no call to fail")

    # Calls.

    def handle_call(self, message: dict[str, Any]) -> None:
        """Run one call inline and send its result (or error) to the host."""
        self.inline_server().handle_call(message)

    def open_call(
        self, message: dict[str, Any], server: Server
    ) -> tuple[Call, Tool, dict[str, Any], CallContext | None, Stream | None] | None:
        """Turn a ``call`` message into per-call state, or answer it with an error now."""
        call_id = message.get("id")
        command: Any = message.get("command")
        try:
            tool = self.tools.get(command)
        except TypeError:  # An unhashable command names no tool.
            tool = None
        if self.own_dispatcher and isinstance(command, str):
            tool = self._dispatched.get(command)
            if tool is None:
                tool = dispatcher_tool(self.adapter, command, self.tools.get(command))
                self._dispatched[command] = tool
        if tool is None:
            self.send_error(
                call_id,
                error(
                    "UnknownCommand",
                    f"unknown command {command!r}; available tools: {self._tool_list}",
                ),
            )
            return None
        args = message.get("args")
        if args is None:
            args = {}
        elif type(args) is not dict:
            self.send_error(
                call_id,
                error(
                    "InvalidArguments",
                    f"tool {command!r} needs its args as a map, got {type(args).__name__}",
                ),
            )
            return None
        call = Call(call_id, tool.name, bool(message.get("stream")), server)
        telemetry.set_call(message)
        ctx = None
        stream = None
        if tool.wants_ctx:
            ctx = CallContext(
                call_id,
                tool.name,
                message.get("session_id"),
                self.worker_id,
                message.get("timeout_ms"),
                call,
                self.sessions,
            )
            ctx.correlation_id = message.get("correlation_id")
            ctx.trace_id = telemetry.trace_id(message.get("traceparent"))
        if tool.wants_stream:
            stream = Stream(call_id, call, enabled=call.streaming)
        return call, tool, args, ctx, stream

    def run_call(
        self,
        call: Call,
        tool: Tool,
        args: dict[str, Any],
        ctx: CallContext | None,
        stream: Stream | None,
    ) -> None:
        """Run ``tool`` for ``call`` and send the result, or the error it ended with."""
        try:
            if tool.on_loop:
                result = run_tool(tool, args, ctx, stream, call)
            else:
                result = tool.invoke(args, ctx, stream)
                if type(result) in DRIVEN:
                    result = drive_result(result, call)
        except LinkClosed:
            raise
        except Exception as exc:
            self.send_error(call.id, error_payload(exc))
            return
        self.send_result(call.id, call.command, result)


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
        log(f"error: cannot open the link to the host: {exc}")
        return EXIT_ADAPTER
    try:
        adapter_class = load_adapter_class(adapter_spec)
    except AdapterLoadError as exc:
        log(f"error: {exc}")
        if exc.__cause__ is not None:
            import traceback

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
        log(f"error: adapter {name} failed to start:")
        import traceback

        traceback.print_exc(file=sys.stderr)
        return EXIT_ADAPTER
    return runtime.run()
