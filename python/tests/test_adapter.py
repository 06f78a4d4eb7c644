"""Tests of tool discovery, tool specs and argument binding, without a worker process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import snakepit_bridge
from snakepit_bridge import BaseAdapter, CallContext, Cancelled, HostToolError, tool
from snakepit_bridge.adapter import InvalidArguments, discover_tools
from snakepit_bridge.context import Stream
from snakepit_bridge.examples.showcase import ShowcaseAdapter
from snakepit_bridge.runtime import Runtime, load_adapter_class, offered_encodings


class SampleAdapter(BaseAdapter):
    @tool
    def plain(self, a: int, b: str = "x", *, flag: bool = False) -> dict[str, Any]:
        """Do a plain thing.

        This second paragraph is not part of the description.

        Args:
            a: The first value,
                which continues here.
            b (str): The second value.
            flag: Whether to flag.

        Returns:
            A map.
        """
        return {"a": a, "b": b, "flag": flag}

    @tool(name="renamed", description="Explicit description.")
    def original(self, params: dict[str, Any]) -> dict[str, Any]:
        """Docstring that loses to the explicit description.

        Args:
            x (int): A documented key.
        """
        return params

    @tool
    def with_ctx(self, ctx: CallContext, value: int | None = None) -> dict[str, Any]:
        return {"call_id": ctx.call_id, "session": ctx.session_id, "value": value}

    @tool
    def params_and_ctx(self, params: dict[str, Any], ctx: CallContext) -> list[Any]:
        return [params, ctx.command]

    @tool
    def extras(self, a: int, **kwargs: Any) -> dict[str, Any]:
        return {"a": a, "rest": kwargs}

    @tool(supports_streaming=True)
    def batch_process(self, params: dict[str, Any], stream: Stream) -> dict[str, int]:
        """Stream progress updates during processing."""
        for item in params["items"]:
            stream.send({"item": item})
        return {"total": len(params["items"])}

    @tool
    async def later(self, n: int) -> int:
        return n

    def not_a_tool(self) -> None:
        """Undecorated methods are not tools."""


class ChildAdapter(SampleAdapter):
    @tool
    def plain(self, a: int) -> int:  # type: ignore[override]
        """The override wins."""
        return a


def test_package_exports() -> None:
    assert snakepit_bridge.__version__ == "0.1.0"
    for name in [
        "BaseAdapter",
        "tool",
        "CallContext",
        "Cancelled",
        "HostToolError",
        "SerializationError",
    ]:
        assert hasattr(snakepit_bridge, name)
    assert issubclass(Cancelled, Exception)


def test_discovery_finds_decorated_methods_only() -> None:
    tools = discover_tools(SampleAdapter())
    assert sorted(tools) == [
        "batch_process",
        "extras",
        "later",
        "params_and_ctx",
        "plain",
        "renamed",
        "with_ctx",
    ]
    assert tools["later"].is_async
    assert not tools["plain"].is_async


def test_discovery_honours_overrides() -> None:
    tools = discover_tools(ChildAdapter())
    assert tools["plain"].spec["description"] == "The override wins."
    assert tools["plain"]({"a": 4}) == 4
    assert "renamed" in tools


def test_spec_of_a_keyword_tool() -> None:
    spec = discover_tools(SampleAdapter())["plain"].spec
    assert spec["name"] == "plain"
    assert spec["description"] == "Do a plain thing."
    assert spec["streaming"] is False
    assert spec["parameters"] == [
        {
            "name": "a",
            "type": "int",
            "required": True,
            "default": None,
            "description": "The first value, which continues here.",
        },
        {
            "name": "b",
            "type": "str",
            "required": False,
            "default": "x",
            "description": "The second value.",
        },
        {
            "name": "flag",
            "type": "bool",
            "required": False,
            "default": False,
            "description": "Whether to flag.",
        },
    ]


def test_spec_of_params_ctx_and_streaming_tools() -> None:
    tools = discover_tools(SampleAdapter())
    renamed = tools["renamed"].spec
    assert renamed["description"] == "Explicit description."
    assert renamed["parameters"] == [
        {
            "name": "x",
            "type": "int",
            "required": False,
            "default": None,
            "description": "A documented key.",
        }
    ]
    with_ctx = tools["with_ctx"].spec
    assert [parameter["name"] for parameter in with_ctx["parameters"]] == ["value"]
    assert with_ctx["parameters"][0]["type"] == "int | None"
    assert with_ctx["description"] is None
    assert tools["batch_process"].spec["streaming"] is True
    assert tools["batch_process"].spec["parameters"] == []


def test_params_binding_receives_the_whole_map() -> None:
    tools = discover_tools(SampleAdapter())
    assert tools["renamed"]({"anything": 1, "else": [2]}) == {"anything": 1, "else": [2]}
    assert tools["params_and_ctx"]({"k": 1}) == [{"k": 1}, "params_and_ctx"]


def test_keyword_binding_and_defaults() -> None:
    plain = discover_tools(SampleAdapter())["plain"]
    assert plain({"a": 1}) == {"a": 1, "b": "x", "flag": False}
    assert plain({"a": 1, "b": "y", "flag": True}) == {"a": 1, "b": "y", "flag": True}


def test_ctx_injection() -> None:
    with_ctx = discover_tools(SampleAdapter())["with_ctx"]
    ctx = CallContext(call_id=9, command="with_ctx", session_id="s1", worker_id="w1")
    assert with_ctx.invoke({"value": 3}, ctx, None) == {"call_id": 9, "session": "s1", "value": 3}


def test_missing_and_unexpected_arguments_are_invalid() -> None:
    tools = discover_tools(SampleAdapter())
    with pytest.raises(InvalidArguments, match=r"tool 'plain' is missing required argument 'a'"):
        tools["plain"]({})
    with pytest.raises(InvalidArguments, match=r"tool 'plain' got unexpected argument 'zzz'"):
        tools["plain"]({"a": 1, "zzz": 2})
    with pytest.raises(InvalidArguments, match=r"'ctx'"):
        tools["with_ctx"]({"ctx": 1})


def test_kwargs_accept_extras() -> None:
    extras = discover_tools(SampleAdapter())["extras"]
    assert extras({"a": 1, "b": 2, "c": 3}) == {"a": 1, "rest": {"b": 2, "c": 3}}
    with pytest.raises(InvalidArguments, match="'a'"):
        extras({"b": 2})


def test_argument_less_tool_rejects_arguments() -> None:
    ping = discover_tools(ShowcaseAdapter())["ping"]
    assert ping({}) == {"status": "ok", "message": "pong"}
    with pytest.raises(InvalidArguments, match="unexpected argument 'x'"):
        ping({"x": 1})


def test_streaming_tool_works_without_a_host() -> None:
    batch = discover_tools(SampleAdapter())["batch_process"]
    assert batch({"items": [1, 2, 3]}) == {"total": 3}


def test_context_without_a_link() -> None:
    ctx = CallContext(call_id=1, command="x", timeout_ms=1000)
    assert not ctx.cancelled
    ctx.raise_if_cancelled()
    ctx.sleep(0)
    assert ctx.remaining is not None and 0 < ctx.remaining <= 1.0
    assert CallContext().deadline is None


def test_duplicate_tool_names_are_rejected() -> None:
    class Clash(BaseAdapter):
        @tool(name="same")
        def first(self) -> None: ...

        @tool(name="same")
        def second(self) -> None: ...

    with pytest.raises(ValueError, match="same"):
        discover_tools(Clash())


def test_unknown_command_names_the_tools() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.sent: list[dict[str, Any]] = []
            self.encoding = "json"
            self.pending: list[Any] = []

        def send(self, message: dict[str, Any], encoding: str | None = None) -> None:
            self.sent.append(message)

    recorder = Recorder()
    runtime = Runtime(ShowcaseAdapter(), "showcase", recorder)  # type: ignore[arg-type]
    runtime.handle_call({"kind": "call", "id": 4, "command": "frobnicate", "args": {}})
    (reply,) = recorder.sent
    assert reply["id"] == 4 and reply["success"] is False
    assert reply["error"]["type"] == "UnknownCommand"
    message = reply["error"]["message"]
    assert "frobnicate" in message
    for name in ["compute", "echo", "info", "ping"]:
        assert name in message


def test_showcase_tools() -> None:
    tools = discover_tools(ShowcaseAdapter())
    assert sorted(tools) == ["batch_process", "compute", "echo", "info", "ping", "progress"]
    assert tools["progress"].spec["streaming"] is True
    assert tools["batch_process"].spec["streaming"] is True
    assert tools["compute"].spec["streaming"] is False
    for spec in (t.spec for t in tools.values()):
        assert spec["description"], spec
    compute = tools["compute"]
    assert compute({"operation": "add", "a": 5, "b": 3}) == 8
    assert compute({"operation": "subtract", "a": 5, "b": 3}) == 2
    assert compute({"operation": "multiply", "a": 5, "b": 3}) == 15
    assert compute({"operation": "divide", "a": 6, "b": 3}) == 2
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        compute({"operation": "divide", "a": 1, "b": 0})
    with pytest.raises(ValueError, match="add, subtract, multiply, divide"):
        compute({"operation": "power", "a": 1, "b": 2})
    assert tools["echo"]({"x": [1, {"y": None}]}) == {"x": [1, {"y": None}]}
    info = tools["info"]({})
    assert info["adapter"] == "snakepit_bridge.examples.showcase:ShowcaseAdapter"
    assert "json" in info["encodings"]


def test_load_adapter_class() -> None:
    assert load_adapter_class("snakepit_bridge.examples.showcase:ShowcaseAdapter") is (
        ShowcaseAdapter
    )
    assert load_adapter_class("snakepit_bridge.examples.showcase.ShowcaseAdapter") is (
        ShowcaseAdapter
    )


def test_offered_encodings() -> None:
    assert offered_encodings({"SNAKEPIT_ENCODINGS": "json"}) == ["json"]
    assert offered_encodings({"SNAKEPIT_ENCODINGS": "nonsense"}) == ["json"]
    assert offered_encodings({})[-1] == "json"


class GeneratorAdapter(BaseAdapter):
    @tool
    def numbers(self, n: int) -> Iterator[int]:
        yield from range(n)

    @tool
    async def anumbers(self, n: int) -> AsyncIterator[int]:
        for index in range(n):
            yield index


def test_generator_tools_are_streaming() -> None:
    tools = discover_tools(GeneratorAdapter())
    assert tools["numbers"].spec["streaming"] is True
    assert tools["numbers"].is_generator and not tools["numbers"].on_loop
    assert tools["anumbers"].spec["streaming"] is True
    assert tools["anumbers"].is_async_generator and tools["anumbers"].on_loop
    # Called directly, a generator tool returns its generator.
    assert list(tools["numbers"]({"n": 3})) == [0, 1, 2]


def test_showcase_streaming_tools_called_directly() -> None:
    tools = discover_tools(ShowcaseAdapter())
    generator = tools["progress"]({"steps": 2, "delay_ms": 0})
    assert next(generator) == {"step": 1, "steps": 2, "progress": 50.0}
    assert next(generator) == {"step": 2, "steps": 2, "progress": 100.0}
    with pytest.raises(StopIteration) as stop:
        next(generator)
    assert stop.value.value == {"steps": 2, "done": True}
    result = tools["batch_process"]({"items": [1, "a", 2.5]})
    assert result == {"total": 3}
    assert ShowcaseAdapter._process_item("ab") == "AB"
    assert ShowcaseAdapter._process_item(4) == 8


def test_context_session_without_a_worker() -> None:
    sessions: dict[Any, dict[str, Any]] = {}
    first = CallContext(1, "t", "s1", sessions=sessions)
    first.session["k"] = 1
    assert sessions == {"s1": {"k": 1}}
    assert CallContext(2, "t", "s1", sessions=sessions).session == {"k": 1}
    assert CallContext(3, "t", "s2", sessions=sessions).session == {}
    lone = CallContext(4, "t", None, sessions=sessions)
    lone.session["x"] = 1
    assert lone.session == {"x": 1}
    assert CallContext(5, "t", None, sessions=sessions).session == {}
    assert set(sessions) == {"s1", "s2"}


def test_host_calls_need_a_worker() -> None:
    with pytest.raises(RuntimeError, match="worker"):
        CallContext().call_host_tool("anything", a=1)
    assert CallContext.call_elixir_tool is CallContext.call_host_tool


def test_host_tool_error() -> None:
    error = HostToolError.from_reply({"type": "UnknownHostTool", "message": "no x"}, "x")
    assert (error.error_type, error.message, error.tool) == ("UnknownHostTool", "no x", "x")
    assert str(error) == "UnknownHostTool: no x"
    plain = HostToolError.from_reply("it broke", "y")
    assert (plain.error_type, plain.message) == ("Error", "it broke")


def test_only_a_plain_synchronous_tool_can_be_inline() -> None:
    class Inline(BaseAdapter):
        @tool(inline=True)
        def quick(self, n: int) -> int:
            return n + 1

    found = discover_tools(Inline())["quick"]
    assert found.inline and found({"n": 1}) == 2

    class AsyncInline(BaseAdapter):
        @tool(inline=True)
        async def slow(self) -> None:
            return None

    class ContextInline(BaseAdapter):
        @tool(inline=True)
        def waits(self, ctx: CallContext) -> None:
            return None

    class GeneratorInline(BaseAdapter):
        @tool(inline=True)
        def yields(self) -> Iterator[int]:
            yield 1

    for adapter in (AsyncInline(), ContextInline(), GeneratorInline()):
        with pytest.raises(TypeError, match="inline=True"):
            discover_tools(adapter)
