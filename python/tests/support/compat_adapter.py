"""A test-only adapter written against the original Snakepit's documented adapter API.

It dispatches every call itself through ``execute_tool`` (falling back to its ``@tool``
methods through ``super()``), calls host tools the v0.7.5 way, and streams every kind of
item the original accepted: maps, strings, bytes and ``StreamChunk``-like objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from snakepit_bridge.base_adapter import BaseAdapter, tool
from snakepit_bridge.session_context import SessionContext


class StreamChunk:
    """The shape of the original's stream chunk: ``data``, ``is_final``, ``metadata``."""

    def __init__(self, data: Any, is_final: bool = False, metadata: Any = None) -> None:
        self.data = data
        self.is_final = is_final
        self.metadata = metadata or {}


class CompatAdapter(BaseAdapter):
    """Dispatches calls itself, like adapters written for the original's gRPC worker."""

    def __init__(self) -> None:
        super().__init__()
        self.dispatched: list[str] = []

    def execute_tool(self, tool_name: str, arguments: dict[str, Any], context: Any) -> Any:
        self.dispatched.append(tool_name)
        if tool_name == "greet":
            return {"hello": arguments.get("name", "world"), "session": context.session_id}
        if tool_name == "dispatched":
            return list(self.dispatched)
        return super().execute_tool(tool_name, arguments, context)

    @tool(description="Add through the host.", required_variables=["temperature"])
    def host_sum(self, params: dict[str, Any], ctx: SessionContext) -> dict[str, Any]:
        as_keywords = ctx.call_elixir_tool("calculate", a=params["a"], b=params["b"])
        as_map = ctx.call_elixir_tool("calculate", {"a": params["a"], "b": params["b"]})
        return {"keywords": as_keywords, "map": as_map, "tools": sorted(ctx.elixir_tools)}

    @tool(description="Write and read a session variable by item access (v0.4).")
    def item_access(self, params: dict[str, Any], ctx: SessionContext) -> Any:
        ctx["temperature"] = params["value"]
        return ctx["temperature"]

    @tool(supports_streaming=True)
    def items(self, params: dict[str, Any]) -> Iterator[Any]:
        yield {"kind": "map"}
        yield "text"
        yield b"\x00raw"
        yield StreamChunk({"progress": 50}, is_final=False, metadata={"m": 1})
        yield StreamChunk({"progress": 100}, is_final=True)

    @tool(supports_streaming=True)
    def sent(self, params: dict[str, Any], stream: Any) -> str:
        stream.send(StreamChunk("via send", is_final=True))
        return "done"
