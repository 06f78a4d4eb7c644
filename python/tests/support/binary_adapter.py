"""A test adapter for binary values: bytes and numpy arrays in arguments, results, stream
chunks and host calls (the Rust integration tests in ``tests/it/binary.rs`` drive it)."""

from __future__ import annotations

from typing import Any

import numpy

from snakepit_bridge import BaseAdapter, CallContext, Stream, tool


def describe(value: Any) -> dict[str, Any]:
    """What a value arrived as: its type, and for an array its dtype, shape, whether it is a
    view on the received bytes and whether it is writeable."""
    if isinstance(value, numpy.ndarray):
        return {
            "type": "ndarray",
            "dtype": value.dtype.name,
            "shape": list(value.shape),
            "view": value.base is not None,
            "writeable": bool(value.flags.writeable),
        }
    return {"type": type(value).__name__}


class BinaryAdapter(BaseAdapter):
    """Tools that echo, transform and describe binary values."""

    @tool
    def echo(self, value: Any) -> Any:
        """Return ``value`` as it arrived."""
        return value

    @tool
    def describe(self, value: Any) -> Any:
        """Describe ``value``, or each value of a list or map."""
        if isinstance(value, list):
            return [describe(item) for item in value]
        if isinstance(value, dict):
            return {key: describe(item) for key, item in value.items()}
        return describe(value)

    @tool
    def double(self, array: Any) -> Any:
        """Return ``array * 2`` (a new array)."""
        return array * 2

    @tool
    def write(self, array: Any) -> str:
        """Try to write into the received array; the exception's type name, or ``"wrote"``."""
        try:
            array[...] = 0
        except Exception as exc:
            return type(exc).__name__
        return "wrote"

    @tool
    def raw(self, size: int) -> dict[str, Any]:
        """Return ``size`` bytes counting up, as ``bytes``, ``bytearray`` and ``memoryview``."""
        data = bytes(i % 251 for i in range(size))
        return {"bytes": data, "bytearray": bytearray(data), "memoryview": memoryview(data)}

    @tool
    def chunks(self, array: Any, count: int, stream: Stream) -> Any:
        """Send ``count`` chunks ``{"i": i, "part": array * i}``, then return ``array``."""
        for index in range(count):
            stream.send({"i": index, "part": array * index})
        return array

    @tool
    def host_roundtrip(self, name: str, value: Any, ctx: CallContext) -> Any:
        """Send ``value`` to host tool ``name``; return its answer and how it arrived."""
        answer = ctx.call_host_tool(name, value=value)
        return {"answer": answer, "arrived": describe(answer)}

    @tool
    def variable(self, name: str, ctx: CallContext) -> Any:
        """Return how session variable ``name`` arrived, and its value."""
        value = ctx.get_variable(name)
        return {"arrived": describe(value), "value": value}

    @tool
    def bad_marker(self, index: int) -> Any:
        """Return a raw marker pointing at buffer ``index`` beside one real buffer."""
        return {"__snakepit_buffer__": index, "dtype": "float64", "shape": [1], "pad": b"x"}

    @tool
    def set_variable(self, name: str, value: Any, ctx: CallContext) -> None:
        """Set session variable ``name`` to ``value`` (an array stays an array)."""
        ctx.set_variable(name, value)

    @tool
    def list_variables(self, ctx: CallContext) -> Any:
        """How the value of each session variable arrived, and its sum, by name."""
        return {
            item["name"]: {**describe(item["value"]), "sum": float(numpy.sum(item["value"]))}
            for item in ctx.list_variables()
        }
