"""Tests of the fallback conversion of values the wire cannot carry (no worker process)."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import pathlib
from typing import Any

import pytest

from snakepit_bridge import protocol
from snakepit_bridge.convert import (
    MAX_DEPTH,
    SerializationError,
    encode_lenient,
    to_wire,
)
from snakepit_bridge.errors import DepthLimitExceeded

#: msgpack is installed by scripts/test.sh, so its cases fail (never skip) without it.
ENCODINGS = ["json", "msgpack"]


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


@dataclasses.dataclass
class Point:
    x: int
    y: tuple[int, int]


class FakeFrame:
    def to_dict(self) -> dict[Any, Any]:
        return {0: {"a": 1}, "b": {2, 1}}


class FakeArray:
    def tolist(self) -> list[float]:
        return [1.0, 2.0]


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class FailingToDict:
    def to_dict(self) -> Any:
        raise ValueError("nope")


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_common_objects_are_converted(encoding: str) -> None:
    value = {
        "set": {3, 1, 2},
        "frozenset": frozenset({"b", "a"}),
        "tuple": (1, (2, 3)),
        "decimal": decimal.Decimal("1.10"),
        "path": pathlib.PurePosixPath("/tmp/x"),
        "enum": [Color.RED, Color.BLUE],
        "date": datetime.date(2024, 1, 2),
        "datetime": datetime.datetime(2024, 1, 2, 3, 4, 5),
        "time": datetime.time(6, 7),
        "dataclass": Point(1, (2, 3)),
        "frame": FakeFrame(),
        "array": FakeArray(),
        "mixed_set": {1, "a"},
        (1, 2): "tuple key",
        Color.RED: "enum key",
    }
    converted = to_wire(value, encoding)
    assert converted["set"] == [1, 2, 3]
    assert converted["frozenset"] == ["a", "b"]
    assert converted["tuple"] == [1, [2, 3]]
    assert converted["decimal"] == "1.10"
    assert converted["path"] == "/tmp/x"
    assert converted["enum"] == ["red", 2]
    assert converted["date"] == "2024-01-02"
    assert converted["datetime"] == "2024-01-02T03:04:05"
    assert converted["time"] == "06:07:00"
    assert converted["dataclass"] == {"x": 1, "y": [2, 3]}
    assert converted["frame"] == {"0": {"a": 1}, "b": [1, 2]}
    assert converted["array"] == [1.0, 2.0]
    assert sorted(converted["mixed_set"], key=str) == [1, "a"]
    assert converted["(1, 2)"] == "tuple key"
    assert converted["red"] == "enum key"
    # The converted value encodes and decodes back to itself.
    message = {"kind": "result", "id": 1, "success": True, "result": converted}
    assert protocol.decode(protocol.encode(message, encoding)) == message


def test_bytes_per_encoding() -> None:
    assert to_wire(b"\x00\xff", "msgpack") == b"\x00\xff"
    assert to_wire(bytearray(b"ab"), "json") == {"type": "bytes", "base64": "YWI="}
    assert to_wire(memoryview(b"ab"), "msgpack") == b"ab"


def test_unknown_objects_fail_naming_their_type() -> None:
    with pytest.raises(SerializationError, match=r"builtins\.object \(<object object at"):
        to_wire({"value": object()}, "json")
    with pytest.raises(SerializationError, match=r"\.\.\.\)"):
        to_wire(type("Long", (), {"__repr__": lambda self: "y" * 1000})(), "json")
    with pytest.raises(SerializationError, match="repr failed: RuntimeError"):
        to_wire(BrokenRepr(), "json")
    with pytest.raises(SerializationError, match=r"FailingToDict.*to_dict\(\) raised"):
        to_wire(FailingToDict(), "json")
    with pytest.raises(SerializationError, match="builtins.type"):
        to_wire(int, "json")
    # A plain object with attributes is not guessed at.
    with pytest.raises(SerializationError):
        to_wire(type("Plain", (), {})(), "json")


def test_wire_limits_of_numbers_and_text() -> None:
    with pytest.raises(SerializationError, match="non-finite"):
        to_wire([float("nan")], "json")
    assert to_wire(float("inf"), "msgpack") == float("inf")
    with pytest.raises(SerializationError, match="beyond 64 bits"):
        to_wire({"n": 2**70}, "msgpack")
    assert to_wire("a\ud800b", "json") == "a?b"


def nest(levels: int, inner: Any) -> Any:
    """``inner`` wrapped in ``levels`` lists: ``levels`` deep around a scalar."""
    for _ in range(levels):
        inner = [inner]
    return inner


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_conversion_stops_at_the_depth_limit(encoding: str) -> None:
    # A set needs conversion (and is a list on the wire): 511 lists around {1} make 512.
    converted = to_wire(nest(MAX_DEPTH - 1, {1}), encoding)
    for _ in range(MAX_DEPTH - 1):
        converted = converted[0]
    assert converted == [1]
    with pytest.raises(DepthLimitExceeded, match="512 levels"):
        to_wire(nest(MAX_DEPTH, {1}), encoding)
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(DepthLimitExceeded):
        to_wire(cyclic, encoding)
    # Far deeper than Python's recursion limit: still a clean error, never RecursionError.
    with pytest.raises(DepthLimitExceeded):
        to_wire(nest(100_000, {1}), encoding)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_wide_values_convert_completely(encoding: str) -> None:
    wide = [{index} for index in range(200_000)]
    converted = to_wire(wide, encoding)
    assert len(converted) == 200_000 and converted[-1] == [199_999]
    with pytest.raises(SerializationError, match="more than 1000 values"):
        to_wire(wide, encoding, max_values=1000)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_encode_lenient_enforces_the_depth_limit(encoding: str) -> None:
    # Plain values the encoder takes as they are: 512 lists or maps deep pass, 513 fail, in
    # both encodings (msgpack's own limit is 1024, JSON's about 1000). Scalars add no level.
    for inner in (1, [], {}):
        deepest = MAX_DEPTH if inner == 1 else MAX_DEPTH - 1
        message = {"kind": "result", "id": 1, "success": True, "result": nest(deepest, inner)}
        payload = encode_lenient(message, "result", encoding, 1 << 24, "the result")
        assert protocol.decode(payload) == message
        message["result"] = nest(deepest + 1, inner)
        with pytest.raises(DepthLimitExceeded, match="the result nests deeper than .* 512"):
            encode_lenient(message, "result", encoding, 1 << 24, "the result")
    message["result"] = nest(5000, 1)
    with pytest.raises(DepthLimitExceeded):
        encode_lenient(message, "result", encoding, 1 << 24, "the result")
    message["result"] = {"x": object()}
    with pytest.raises(SerializationError, match="^the result holds a builtins.object"):
        encode_lenient(message, "result", encoding, 1 << 24, "the result")


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_encode_lenient(encoding: str) -> None:
    plain = {"kind": "result", "id": 1, "success": True, "result": [1, 2]}
    assert protocol.decode(encode_lenient(plain, "result", encoding, 1 << 20, "it")) == plain
    odd = {"kind": "result", "id": 1, "success": True, "result": {1, 2}}
    decoded = protocol.decode(encode_lenient(odd, "result", encoding, 1 << 20, "it"))
    assert decoded["result"] == [1, 2]
    assert odd["result"] == {1, 2}, "the caller's message is not modified"
    with pytest.raises(SerializationError, match="over the maximum frame size"):
        encode_lenient({"result": "x" * 100}, "result", encoding, 50, "the result")
