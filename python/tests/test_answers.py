"""Tests of how a worker writes answers: the fast path's frames are the messages it means."""

from __future__ import annotations

import socket
from typing import Any

import msgpack
import pytest

from snakepit_bridge.examples.bench import BenchAdapter
from snakepit_bridge.link import Link
from snakepit_bridge.protocol import FrameReader, own_encoder
from snakepit_bridge.runtime import Runtime

#: Ids and results of every msgpack width the envelope puts around them.
CASES: list[tuple[Any, Any]] = [
    (1, {}),
    (127, {"status": "ok"}),
    (2**16 + 3, [1, 2.5, None, True]),
    (2**40, "x" * 40),
    ("string-id", b"\x00\x01"),
    (7, None),
]


@pytest.fixture
def runtime() -> Any:
    host, worker = socket.socketpair()
    host.settimeout(5.0)
    link = Link(worker.fileno())
    link.encoding = "msgpack"
    runtime = Runtime(BenchAdapter(), "bench", link)
    runtime._pack = own_encoder("msgpack")
    yield runtime, FrameReader(host.recv)
    host.close()
    worker.close()


@pytest.mark.parametrize(("call_id", "result"), CASES)
def test_a_fast_result_is_the_whole_result_map_packed(
    runtime: tuple[Runtime, FrameReader], call_id: Any, result: Any
) -> None:
    worker, reader = runtime
    worker.send_fast_result(call_id, "empty", result)
    payload = reader.next_payload()
    assert payload is not None
    expected = {"kind": "result", "id": call_id, "success": True, "result": result}
    assert bytes(payload) == msgpack.packb(expected, use_bin_type=True)


def test_a_fast_result_the_packer_refuses_becomes_a_converted_result(
    runtime: tuple[Runtime, FrameReader],
) -> None:
    worker, reader = runtime
    worker.send_fast_result(3, "empty", {1, 2})
    payload = reader.next_payload()
    assert payload is not None
    message = msgpack.unpackb(payload, raw=False)
    assert message["id"] == 3 and message["success"] is True
    assert sorted(message["result"]) == [1, 2]
