"""The depth limit end to end (docs/PROTOCOL.md, "Depth limit"), in both encodings.

Arguments too deep for the limit (or for the decoders) fail that one call with
``DepthLimitExceeded`` and the worker keeps serving; results and chunks deeper than the
limit fail their call the same way instead of arriving cut or marked.
"""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from harness import FAULT_ADAPTER, Worker, worker_env

from snakepit_bridge.depth import MAX_DEPTH, scan_envelope
from snakepit_bridge.errors import ProtocolError

ENCODINGS = ["json", "msgpack"]


@pytest.fixture(params=ENCODINGS)
def encoded_worker(request: pytest.FixtureRequest) -> Any:
    encoding = request.param
    worker = Worker.adapter(
        FAULT_ADAPTER, env=worker_env(SNAKEPIT_ENCODINGS=encoding), encoding=encoding
    )
    assert worker.encoding == encoding
    yield worker
    worker.close()


def deep_call_payload(encoding: str, call_id: int, lists: int) -> bytes:
    """A ``levels`` call whose args are ``{"x": 1 wrapped in `lists` lists}``, built as bytes
    so that no encoder limit applies (with the args map, ``lists + 1`` deep)."""
    if encoding == "json":
        inner = "[" * lists + "1" + "]" * lists
        text = f'{{"kind":"call","id":{call_id},"command":"levels","args":{{"x":{inner}}}}}'
        return text.encode()
    pack = msgpack.packb
    return (
        b"\x84"
        + pack("kind")
        + pack("call")
        + pack("id")
        + pack(call_id)
        + pack("command")
        + pack("levels")
        + pack("args")
        + b"\x81"
        + pack("x")
        + b"\x91" * lists
        + b"\x01"
    )


def send_raw(worker: Worker, payload: bytes) -> None:
    worker.sock.sendall(len(payload).to_bytes(4, "big") + payload)


@pytest.mark.parametrize("lists", [MAX_DEPTH, 1000, 5000, 100_000])
def test_too_deep_arguments_fail_that_call_and_the_worker_serves_on(
    encoded_worker: Worker, lists: int
) -> None:
    worker = encoded_worker
    send_raw(worker, deep_call_payload(worker.encoding, 41, lists))
    reply = worker.recv()
    assert reply["kind"] == "result" and reply["id"] == 41, reply
    assert reply["success"] is False
    assert reply["error"]["type"] == "DepthLimitExceeded"
    assert "512" in reply["error"]["message"] and "'levels'" in reply["error"]["message"]
    assert worker.call("add", {"a": 1, "b": 2})["result"] == 3
    assert worker.process.poll() is None


def test_arguments_at_the_limit_arrive_intact(encoded_worker: Worker) -> None:
    worker = encoded_worker
    # The args map and 511 lists around 1: 512 deep, the deepest allowed.
    send_raw(worker, deep_call_payload(worker.encoding, 42, MAX_DEPTH - 1))
    reply = worker.recv()
    assert reply["id"] == 42 and reply["result"] == MAX_DEPTH


@pytest.mark.parametrize("streaming", [False, True])
def test_results_and_chunks_up_to_the_limit_arrive_and_deeper_ones_fail(
    encoded_worker: Worker, streaming: bool
) -> None:
    worker = encoded_worker

    def outcome(levels: int) -> tuple[list[Any], dict[str, Any]]:
        if streaming:
            return worker.stream("nested", {"levels": levels})
        return [], worker.call("nested", {"levels": levels})

    chunks, reply = outcome(MAX_DEPTH)
    assert reply["success"] is True, reply
    value = reply["result"]
    for _ in range(MAX_DEPTH):
        value = value[0]
    assert value == 1
    if streaming:
        assert [chunk["data"] for chunk in chunks] == [reply["result"]]
    for levels in (MAX_DEPTH + 1, 1000, 3000):
        chunks, reply = outcome(levels)
        assert chunks == []
        assert reply["success"] is False
        assert reply["error"]["type"] == "DepthLimitExceeded"
        assert "512" in reply["error"]["message"]
        assert ("chunk 0" in reply["error"]["message"]) is streaming
    assert worker.call("add", {"a": 4})["result"] == 4


def test_deep_host_result_fails_the_host_call_only(encoded_worker: Worker) -> None:
    worker = encoded_worker
    call_id = worker.start_call("host_error", {"name": "deep", "args": {}})
    message = worker.recv()
    assert message["kind"] == "host_call"
    ref = message["ref"]
    if worker.encoding == "json":
        inner = "[" * 3000 + "1" + "]" * 3000
        payload = (
            f'{{"kind":"host_result","id":{call_id},"ref":{ref},"success":true,"result":{inner}}}'
        ).encode()
    else:
        pack = msgpack.packb
        payload = (
            b"\x85"
            + pack("kind")
            + pack("host_result")
            + pack("id")
            + pack(call_id)
            + pack("ref")
            + pack(ref)
            + pack("success")
            + pack(True)
            + pack("result")
            + b"\x91" * 3000
            + b"\x01"
        )
    send_raw(worker, payload)
    reply = worker.recv()
    assert reply["id"] == call_id and reply["success"] is True
    assert reply["result"]["type"] == "DepthLimitExceeded"
    assert worker.call("add", {"a": 5})["result"] == 5


def test_a_deep_frame_naming_no_call_is_a_protocol_error(encoded_worker: Worker) -> None:
    worker = encoded_worker
    payload = deep_call_payload(worker.encoding, 43, 100_000)
    # Replace the kind with one that names no call: a session_drop cannot be answered.
    send_raw(worker, payload.replace(b"call", b"cull", 1))
    _, _, stderr = worker.close()
    assert worker.process.returncode == 1
    assert "protocol error" in stderr and "512" in stderr


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_scan_envelope_reads_top_level_fields_only(encoding: str) -> None:
    payload = deep_call_payload(encoding, 7, 50_000)
    assert scan_envelope(payload) == {"kind": "call", "id": 7, "command": "levels"}
    with pytest.raises(ProtocolError):
        scan_envelope(payload[: len(payload) // 2])
