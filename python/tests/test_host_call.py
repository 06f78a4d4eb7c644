"""Host calls end to end: the test plays the host, answering the worker's ``host_call``.

See docs/PROTOCOL.md, "Host calls": the worker sends ``host_call {id, ref, tool, args}`` and
waits for ``host_result`` with that ``ref``, answering pings and honouring a cancel meanwhile.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from harness import Worker

from snakepit_bridge.protocol import encode_frame

#: A cancelled call must answer well within this many seconds.
PROMPT = 2.0


def expect_host_call(worker: Worker, call_id: int, tool: str, args: dict[str, Any]) -> Any:
    """Read the next frame, check it is the expected ``host_call`` and return its ``ref``."""
    message = worker.recv()
    assert message["kind"] == "host_call", message
    assert message["id"] == call_id and message["tool"] == tool and message["args"] == args
    return message["ref"]


def answer(worker: Worker, call_id: int, ref: Any, result: Any) -> None:
    worker.send(
        {"kind": "host_result", "id": call_id, "ref": ref, "success": True, "result": result}
    )


def fail(worker: Worker, call_id: int, ref: Any, kind: str, message: str) -> None:
    worker.send(
        {
            "kind": "host_result",
            "id": call_id,
            "ref": ref,
            "success": False,
            "error": {"type": kind, "message": message},
        }
    )


@pytest.mark.parametrize("command", ["host", "ahost", "ahost_blocking"])
def test_host_call_round_trip(worker: Worker, command: str) -> None:
    for round_trip in range(2):
        call_id = worker.start_call(
            command, {"name": "calculate", "args": {"a": 1, "b": round_trip}}
        )
        ref = expect_host_call(worker, call_id, "calculate", {"a": 1, "b": round_trip})
        answer(worker, call_id, ref, {"sum": 1 + round_trip})
        reply = worker.recv()
        assert reply["kind"] == "result" and reply["id"] == call_id, reply
        assert reply["result"] == {"sum": 1 + round_trip}


def test_refs_are_unique(worker: Worker) -> None:
    refs = []
    for _ in range(3):
        call_id = worker.start_call("host", {"name": "t", "args": {}})
        refs.append(expect_host_call(worker, call_id, "t", {}))
        answer(worker, call_id, refs[-1], None)
        assert worker.recv()["result"] is None
    assert len(set(refs)) == 3


def test_host_error_raises_host_tool_error(worker: Worker) -> None:
    call_id = worker.start_call("host_error", {"name": "nope", "args": {"x": 1}})
    ref = expect_host_call(worker, call_id, "nope", {"x": 1})
    fail(worker, call_id, ref, "UnknownHostTool", "no host tool 'nope'; visible: calculate")
    reply = worker.recv()
    assert reply["result"] == {
        "type": "UnknownHostTool",
        "message": "no host tool 'nope'; visible: calculate",
    }


def test_uncaught_host_tool_error_fails_the_call(worker: Worker) -> None:
    call_id = worker.start_call("host", {"name": "calculate", "args": {}})
    ref = expect_host_call(worker, call_id, "calculate", {})
    fail(worker, call_id, ref, "HostToolError", "bad input")
    reply = worker.recv()
    assert reply["success"] is False
    assert reply["error"]["type"] == "HostToolError"
    assert "bad input" in reply["error"]["message"]


@pytest.mark.parametrize("command", ["host", "ahost", "ahost_blocking"])
def test_cancel_while_waiting_for_a_host_result(worker: Worker, command: str) -> None:
    call_id = worker.start_call(command, {"name": "slow", "args": {}})
    ref = expect_host_call(worker, call_id, "slow", {})
    started = time.monotonic()
    worker.send({"kind": "cancel", "id": call_id})
    reply = worker.recv()
    assert time.monotonic() - started < PROMPT
    assert reply["id"] == call_id and reply["error"]["type"] == "Cancelled"
    # A late answer to the abandoned host call is dropped; the worker keeps serving.
    answer(worker, call_id, ref, "too late")
    assert worker.call("add", {"a": 4})["result"] == 4


@pytest.mark.parametrize("command", ["host", "ahost", "ahost_blocking"])
def test_ping_while_waiting_for_a_host_result(worker: Worker, command: str) -> None:
    call_id = worker.start_call(command, {"name": "slow", "args": {}})
    ref = expect_host_call(worker, call_id, "slow", {})
    worker.send({"kind": "ping", "id": 777})
    assert worker.recv() == {"kind": "pong", "id": 777}
    # A cancel of some other call and a host_result of an unknown ref change nothing.
    worker.send({"kind": "cancel", "id": call_id + 100})
    answer(worker, call_id, 999_999, "stray")
    answer(worker, call_id, ref, "done")
    reply = worker.recv()
    assert reply["id"] == call_id and reply["result"] == "done"


def test_host_result_in_the_same_read_as_a_ping(worker: Worker) -> None:
    call_id = worker.start_call("host", {"name": "t", "args": {}})
    ref = expect_host_call(worker, call_id, "t", {})
    worker.sock.sendall(
        encode_frame({"kind": "ping", "id": 1}, worker.encoding)
        + encode_frame(
            {"kind": "host_result", "id": call_id, "ref": ref, "success": True, "result": 5},
            worker.encoding,
        )
    )
    assert worker.recv() == {"kind": "pong", "id": 1}
    assert worker.recv()["result"] == 5


def test_built_in_host_tools(worker: Worker) -> None:
    call_id = worker.start_call("list_host", session_id="s1")
    ref = expect_host_call(worker, call_id, "snakepit.list_host_tools", {})
    answer(
        worker,
        call_id,
        ref,
        [
            {"name": "zeta", "description": None, "parameters": []},
            {"name": "alpha", "description": "A", "parameters": []},
        ],
    )
    assert worker.recv()["result"] == ["alpha", "zeta"]

    call_id = worker.start_call("get_var", {"name": "temperature"}, session_id="s1")
    ref = expect_host_call(worker, call_id, "snakepit.get_variable", {"name": "temperature"})
    variable = {"name": "temperature", "type": "float", "value": 0.7, "version": 3}
    answer(worker, call_id, ref, variable)
    assert worker.recv()["result"] == 0.7

    call_id = worker.start_call("set_var", {"name": "temperature", "value": 0.9}, session_id="s1")
    ref = expect_host_call(
        worker, call_id, "snakepit.set_variable", {"name": "temperature", "value": 0.9}
    )
    answer(worker, call_id, ref, {**variable, "value": 0.9, "version": 4})
    assert worker.recv()["result"] == {**variable, "value": 0.9, "version": 4}

    call_id = worker.start_call("list_vars", session_id="s1")
    ref = expect_host_call(worker, call_id, "snakepit.list_variables", {})
    answer(worker, call_id, ref, [variable])
    assert worker.recv()["result"] == [variable]


def test_host_call_args_are_converted_when_needed(worker: Worker) -> None:
    call_id = worker.start_call("host_odd_args", {"name": "t"})
    ref = expect_host_call(worker, call_id, "t", {"values": [1, 2], "when": b"raw"})
    answer(worker, call_id, ref, {"ok": True})
    assert worker.recv()["result"] == {"ok": True}
