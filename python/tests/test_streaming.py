"""Streaming end to end: generator, async generator and ``stream.send`` tools on a real worker.

See docs/PROTOCOL.md, "Streaming": chunks ``{kind: chunk, id, seq, data}`` come before the
call's result, in order, as soon as the tool produces them; a cancel closes the generator.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from harness import SHOWCASE_ADAPTER, Worker, wait_for_file

#: A cancelled stream must answer well within this many seconds.
PROMPT = 2.0


def data(chunks: list[dict[str, Any]]) -> list[Any]:
    assert [chunk["seq"] for chunk in chunks] == list(range(len(chunks)))
    return [chunk["data"] for chunk in chunks]


def test_generator_streams_chunks_then_its_return_value(worker: Worker) -> None:
    chunks, result = worker.stream("count", {"n": 4})
    assert all(chunk["kind"] == "chunk" and chunk["id"] == result["id"] for chunk in chunks)
    assert data(chunks) == [{"i": index} for index in range(4)]
    assert result["success"] is True and result["result"] == {"total": 4}


def test_async_generator_streams_chunks_then_null(worker: Worker) -> None:
    chunks, result = worker.stream("acount", {"n": 3, "delay_ms": 1})
    assert data(chunks) == [{"i": index} for index in range(3)]
    assert result["success"] is True and result["result"] is None


def test_stream_send_streams_chunks(worker: Worker) -> None:
    chunks, result = worker.stream("send_count", {"n": 5})
    assert data(chunks) == [{"n": index} for index in range(5)]
    assert result["result"] == {"total": 5}


def test_hello_marks_streaming_tools(worker: Worker) -> None:
    assert worker.hello is not None
    tools = {spec["name"]: spec for spec in worker.hello["tools"]}
    for name in ["count", "acount", "send_count", "endless"]:
        assert tools[name]["streaming"] is True, name
    assert tools["add"]["streaming"] is False


@pytest.mark.parametrize("command", ["count", "acount"])
def test_first_chunk_arrives_before_the_tool_finishes(worker: Worker, command: str) -> None:
    call_id = worker.start_call(command, {"n": 3, "delay_ms": 300}, stream=True)
    first = worker.recv()
    assert first == {"kind": "chunk", "id": call_id, "seq": 0, "data": {"i": 0}}
    # The next chunk is 300 ms away, and the result further still.
    assert not worker.readable(0.1)
    chunks, result = worker.collect(call_id)
    assert data([first, *chunks]) == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert result["success"] is True


def test_without_stream_a_generator_returns_a_list_or_its_return_value(worker: Worker) -> None:
    # count returns {"total": n}, which wins over the collected values.
    reply = worker.call("count", {"n": 3})
    assert reply["result"] == {"total": 3}
    # An async generator returns nothing, so the values are collected.
    assert worker.call("acount", {"n": 3})["result"] == [{"i": 0}, {"i": 1}, {"i": 2}]
    # No chunk was sent: the next frame is the next call's result.
    assert worker.call("add", {"a": 1})["result"] == 1


def test_cancel_closes_a_sync_generator(worker: Worker, tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    call_id = worker.start_call("endless", {"closed_file": str(closed)}, stream=True)
    for seq in range(3):
        assert worker.recv() == {"kind": "chunk", "id": call_id, "seq": seq, "data": {"i": seq}}
    started = time.monotonic()
    worker.send({"kind": "cancel", "id": call_id})
    chunks, result = worker.collect(call_id)
    assert time.monotonic() - started < PROMPT
    assert result["success"] is False and result["error"]["type"] == "Cancelled"
    assert wait_for_file(closed).startswith("closed after")
    assert worker.call("add", {"a": 2})["result"] == 2


def test_cancel_closes_an_async_generator(worker: Worker, tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    call_id = worker.start_call("aendless", {"closed_file": str(closed)}, stream=True)
    assert worker.recv()["seq"] == 0
    worker.send({"kind": "cancel", "id": call_id})
    _, result = worker.collect(call_id)
    assert result["error"]["type"] == "Cancelled"
    assert wait_for_file(closed) in ("GeneratorExit", "CancelledError")
    assert worker.call("acount", {"n": 1})["result"] == [{"i": 0}]


def test_cancel_stops_a_stream_send_tool(worker: Worker) -> None:
    call_id = worker.start_call("send_forever", {}, stream=True)
    assert worker.recv()["seq"] == 0
    worker.send({"kind": "cancel", "id": call_id})
    _, result = worker.collect(call_id)
    assert result["error"]["type"] == "Cancelled"
    assert worker.call("add", {"a": 3})["result"] == 3


def test_ping_during_a_stream_is_answered(worker: Worker, tmp_path: Path) -> None:
    call_id = worker.start_call("endless", {"closed_file": str(tmp_path / "c")}, stream=True)
    worker.send({"kind": "ping", "id": 4242})
    while True:
        message = worker.recv()
        if message["kind"] == "pong":
            assert message["id"] == 4242
            break
        assert message["kind"] == "chunk" and message["id"] == call_id
    worker.send({"kind": "cancel", "id": call_id})
    _, result = worker.collect(call_id)
    assert result["error"]["type"] == "Cancelled"


def test_chunks_needing_conversion_are_converted_and_unserializable_ones_fail(
    worker: Worker,
) -> None:
    chunks, result = worker.stream("stream_unserializable")
    assert chunks == []
    assert result["success"] is False
    assert result["error"]["type"] == "SerializationError"
    assert "chunk 0 of call" in result["error"]["message"]
    assert "builtins.object" in result["error"]["message"]
    chunks, result = worker.stream("stream_convertible")
    assert data(chunks) == [{"when": [1, 2]}]
    assert result["result"] == "sent"


def test_showcase_progress_and_batch_process() -> None:
    showcase = Worker.adapter(SHOWCASE_ADAPTER)
    try:
        chunks, result = showcase.stream("progress", {"steps": 4, "delay_ms": 1})
        assert data(chunks) == [
            {"step": step, "steps": 4, "progress": step * 25.0} for step in range(1, 5)
        ]
        assert result["result"] == {"steps": 4, "done": True}
        chunks, result = showcase.stream("batch_process", {"items": [1, "ab", 2.5, None]})
        assert data(chunks) == [
            {"progress": 25.0, "item": 2},
            {"progress": 50.0, "item": "AB"},
            {"progress": 75.0, "item": 5.0},
            {"progress": 100.0, "item": None},
        ]
        assert result["result"] == {"total": 4}
        assert showcase.call("batch_process", {"items": [1]})["result"] == {"total": 1}
    finally:
        showcase.close()
