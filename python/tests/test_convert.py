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
    MAX_ELEMENTS,
    SerializationError,
    encode_lenient,
    to_wire,
)

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


def test_unknown_objects_become_the_marker() -> None:
    marker = to_wire(object(), "json")
    assert marker["__unserializable__"] == "builtins.object"
    assert marker["repr"].startswith("<object object at")
    long = to_wire(type("Long", (), {"__repr__": lambda self: "y" * 1000})(), "json")
    assert len(long["repr"]) == 200 and long["repr"].endswith("...")
    assert to_wire(BrokenRepr(), "json")["repr"] == "<repr failed: RuntimeError>"
    assert to_wire(FailingToDict(), "json")["__unserializable__"].endswith(".FailingToDict")
    assert to_wire(int, "json")["__unserializable__"] == "builtins.type"
    # A plain object with attributes is not guessed at.
    assert "__unserializable__" in to_wire(type("Plain", (), {})(), "json")


def test_wire_limits_of_numbers_and_text() -> None:
    assert to_wire(float("nan"), "json")["repr"] == "nan"
    assert to_wire(float("inf"), "msgpack") == float("inf")
    assert to_wire(2**70, "msgpack")["repr"] == str(2**70)
    assert to_wire("a\ud800b", "json") == "a?b"


def test_conversion_is_bounded() -> None:
    deep: Any = {1}
    for _ in range(200):
        deep = [deep]
    converted = to_wire(deep, "json")
    depth = 0
    while isinstance(converted, list):
        converted = converted[0]
        depth += 1
    assert depth == MAX_DEPTH + 1
    assert converted["__unserializable__"] == "builtins.list"

    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert to_wire(cyclic, "json") is not None

    wide = [{index} for index in range(MAX_ELEMENTS)]
    converted = to_wire(wide, "json")
    assert converted[0] == [0]
    assert converted[-1]["__unserializable__"] == "builtins.set"


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
