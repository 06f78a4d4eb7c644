"""End-to-end tests: a real worker process on a socketpair (or stdio), driven like the host.

Every wait is bounded: socket reads time out and process exits are polled until a deadline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
from harness import (
    FAULT_ADAPTER,
    SHOWCASE_ADAPTER,
    STEP_TIMEOUT,
    Worker,
    wait_exit,
    worker_env,
)

from snakepit_bridge import protocol
from snakepit_bridge.protocol import FrameReader, encode_frame

#: A cancelled cooperative call must answer well within this many seconds.
PROMPT = 2.0


@pytest.fixture
def showcase() -> Any:
    showcase_worker = Worker.adapter(SHOWCASE_ADAPTER)
    yield showcase_worker
    showcase_worker.close()


def test_hello_describes_the_worker(worker: Worker) -> None:
    hello = worker.hello
    assert hello is not None
    assert hello["protocol"] == 1
    assert hello["pid"] == worker.process.pid
    assert hello["adapter"] == FAULT_ADAPTER
    assert hello["runtime"].startswith("python 3.")
    assert hello["encodings"] == protocol.available_encodings()
    tools = {spec["name"]: spec for spec in hello["tools"]}
    assert {"sleep", "add", "whole", "async_sleep", "noisy", "pid"} <= set(tools)
    assert tools["add"]["parameters"][0] == {
        "name": "a",
        "type": "int",
        "required": True,
        "default": None,
        "description": "The first addend.",
    }
    assert worker.encoding == ("msgpack" if protocol.HAS_MSGPACK else "json")


def test_calls_bind_arguments(worker: Worker) -> None:
    assert worker.call("add", {"a": 2, "b": 40})["result"] == 42
    assert worker.call("add", {"a": 2})["result"] == 2
    assert worker.call("whole", {"z": 1, "a": 2, "m": 3})["result"] == ["a", "m", "z"]
    assert worker.call("pid")["result"] == worker.process.pid
    assert worker.call("initialized")["result"] == 1


def test_context_carries_call_details(worker: Worker) -> None:
    reply = worker.call("context", session_id="user_123", timeout_ms=30000)
    assert reply["result"] == {
        "call_id": reply["id"],
        "command": "context",
        "session_id": "user_123",
        "worker_id": "w-test",
        "timeout_ms": 30000,
        "has_deadline": True,
    }


def test_classic_call_without_kind_is_served(worker: Worker) -> None:
    worker.send({"id": 77, "command": "add", "args": {"a": 1, "b": 1}})
    reply = worker.recv()
    assert reply["id"] == 77 and reply["success"] is True and reply["result"] == 2


def test_exception_becomes_an_error_with_traceback(worker: Worker) -> None:
    reply = worker.call("raise_error", {"kind": "KeyError", "message": "missing"})
    assert reply["success"] is False
    error = reply["error"]
    assert error["type"] == "KeyError"
    assert "missing" in error["message"]
    assert error["traceback"].startswith("Traceback (most recent call last):")
    assert "raise_error" in error["traceback"]
    # The next call still works.
    assert worker.call("add", {"a": 1})["result"] == 1


def test_invalid_arguments_and_unknown_command(worker: Worker) -> None:
    reply = worker.call("add", {"b": 1})
    assert reply["error"]["type"] == "InvalidArguments"
    assert "'add'" in reply["error"]["message"] and "'a'" in reply["error"]["message"]
    reply = worker.call("add", {"a": 1, "c": 1})
    assert reply["error"]["type"] == "InvalidArguments"
    assert "'c'" in reply["error"]["message"]
    reply = worker.call("frobnicate")
    assert reply["error"]["type"] == "UnknownCommand"
    assert "frobnicate" in reply["error"]["message"]
    assert "add" in reply["error"]["message"] and "sleep" in reply["error"]["message"]


def test_unserializable_result_fails_the_call_and_the_worker_survives(worker: Worker) -> None:
    reply = worker.call("unserializable")
    assert reply["success"] is False
    assert reply["error"]["type"] == "SerializationError"
    message = reply["error"]["message"]
    assert message.startswith("the result of tool 'unserializable' holds a builtins.object")
    assert worker.call("add", {"a": 5})["result"] == 5


@pytest.mark.parametrize("command", [["add"], {"a": 1}, None, 7])
def test_a_command_that_is_not_a_name_is_unknown(worker: Worker, command: Any) -> None:
    worker.send({"kind": "call", "id": 31, "command": command, "args": {"a": 1}})
    reply = worker.recv()
    assert reply["id"] == 31 and reply["error"]["type"] == "UnknownCommand"
    assert worker.call("add", {"a": 1})["result"] == 1


def test_ping_is_answered_with_pong(worker: Worker) -> None:
    worker.send({"kind": "ping", "id": 99})
    assert worker.recv() == {"kind": "pong", "id": 99}


def test_unknown_kind_and_stray_cancel_are_ignored(worker: Worker) -> None:
    worker.send({"kind": "mystery", "id": 1})
    worker.send({"kind": "cancel", "id": 12345})
    worker.send({"kind": "session_drop", "session_id": "s"})
    assert worker.call("add", {"a": 3})["result"] == 3
    code, _, stderr = worker.close()
    assert code == 0
    assert "mystery" in stderr


def test_noisy_prints_never_reach_the_link(worker: Worker) -> None:
    reply = worker.call("noisy", {"message": "hello-noise"})
    assert reply["result"] == {"ok": True}
    assert worker.call("add", {"a": 1})["result"] == 1
    code, stdout, stderr = worker.close()
    assert code == 0
    assert "hello-noise stdout 0" in stdout
    assert "hello-noise stderr 2" in stderr


def test_cancel_interrupts_a_cooperative_sleep(worker: Worker) -> None:
    call_id = worker.start_call("sleep", {"seconds": 30})
    # A ping during the call is answered at once, proving the tool is inside ctx.sleep.
    worker.send({"kind": "ping", "id": 5000})
    assert worker.recv() == {"kind": "pong", "id": 5000}
    started = time.monotonic()
    worker.send({"kind": "cancel", "id": call_id})
    reply = worker.recv()
    assert time.monotonic() - started < PROMPT
    assert reply["id"] == call_id and reply["success"] is False
    assert reply["error"]["type"] == "Cancelled"
    assert worker.call("add", {"a": 7})["result"] == 7


def test_cancel_for_another_call_does_not_stop_a_sleep(worker: Worker) -> None:
    call_id = worker.start_call("sleep", {"seconds": 0.2})
    worker.send({"kind": "cancel", "id": call_id + 1000})
    reply = worker.recv()
    assert reply["id"] == call_id and reply["result"] == {"slept": 0.2}


def test_cancel_interrupts_an_async_tool(worker: Worker) -> None:
    assert worker.call("async_sleep", {"seconds": 0.01})["result"] == {"slept": 0.01}
    call_id = worker.start_call("async_sleep", {"seconds": 30})
    worker.send({"kind": "ping", "id": 6000})
    assert worker.recv() == {"kind": "pong", "id": 6000}
    started = time.monotonic()
    worker.send({"kind": "cancel", "id": call_id})
    reply = worker.recv()
    assert time.monotonic() - started < PROMPT
    assert reply["id"] == call_id and reply["error"]["type"] == "Cancelled"
    assert worker.call("async_sleep", {"seconds": 0.01})["result"] == {"slept": 0.01}


def test_cancel_sent_with_the_call_stops_it(worker: Worker) -> None:
    # The call and its cancel arrive in one read; the cancel must still be seen.
    call_id = worker.next_id
    worker.next_id += 1
    call = {"kind": "call", "id": call_id, "command": "async_sleep", "args": {"seconds": 30}}
    cancel = {"kind": "cancel", "id": call_id}
    worker.sock.sendall(encode_frame(call, worker.encoding) + encode_frame(cancel, worker.encoding))
    reply = worker.recv()
    assert reply["id"] == call_id and reply["error"]["type"] == "Cancelled"


def test_streaming_tool_sends_chunks(worker: Worker) -> None:
    call_id = worker.start_call("send_count", {"n": 3}, stream=True)
    chunks = [worker.recv() for _ in range(3)]
    assert chunks == [
        {"kind": "chunk", "id": call_id, "seq": index, "data": {"n": index}} for index in range(3)
    ]
    reply = worker.recv()
    assert reply["id"] == call_id and reply["result"] == {"total": 3}
    # Without "stream": true the same tool answers with its result only.
    assert worker.call("send_count", {"n": 3})["result"] == {"total": 3}


def test_host_closing_the_link_stops_the_worker(worker: Worker) -> None:
    worker.sock.close()
    assert wait_exit(worker.process) == 0


def test_host_closing_the_link_during_a_sleep_stops_the_worker(worker: Worker) -> None:
    worker.start_call("sleep", {"seconds": 60})
    worker.send({"kind": "ping", "id": 1})
    assert worker.recv()["kind"] == "pong"
    worker.sock.close()
    assert wait_exit(worker.process) == 0


def test_shutdown_exits_zero(worker: Worker) -> None:
    worker.send({"kind": "shutdown"})
    assert wait_exit(worker.process) == 0


def test_bad_frame_from_the_host_stops_the_worker(worker: Worker) -> None:
    worker.sock.sendall(b"\x00\x00\x00\x03[1]")
    assert wait_exit(worker.process) == 1
    _, _, stderr = worker.close()
    assert "protocol error" in stderr


def test_crash_exit_code_is_visible(worker: Worker) -> None:
    worker.start_call("crash_exit", {"code": 3})
    assert wait_exit(worker.process) == 3


def test_json_only_mode() -> None:
    json_worker = Worker.adapter(FAULT_ADAPTER, env=worker_env(SNAKEPIT_ENCODINGS="json"))
    try:
        assert json_worker.hello is not None
        assert json_worker.hello["encodings"] == ["json"]
        assert json_worker.encoding == "json"
        json_worker.start_call("add", {"a": 1, "b": 2})
        payload = json_worker.reader.next_payload()
        assert payload is not None and payload[:1] == b"{"
        assert protocol.decode(payload)["result"] == 3
    finally:
        assert json_worker.close()[0] == 0


def test_showcase_adapter(showcase: Worker) -> None:
    assert showcase.call("ping")["result"] == {"status": "ok", "message": "pong"}
    message = {"message": "héllo ✓", "nested": {"list": [1, 2.5, None, True, "x"]}}
    assert showcase.call("echo", message)["result"] == message
    assert showcase.call("compute", {"operation": "add", "a": 5, "b": 3})["result"] == 8
    reply = showcase.call("compute", {"operation": "divide", "a": 1, "b": 0})
    assert reply["error"]["type"] == "ZeroDivisionError"
    assert reply["error"]["message"] == "division by zero"
    reply = showcase.call("compute", {"operation": "power", "a": 1, "b": 0})
    assert reply["error"]["type"] == "ValueError"
    info = showcase.call("info")["result"]
    assert info["pid"] == showcase.process.pid
    assert info["worker_id"] == "w-test"
    assert info["msgpack"] is protocol.HAS_MSGPACK


def test_broken_adapter_exits_with_code_2() -> None:
    for adapter in ["no_such_module_xyz:Adapter", "fault_adapter:NoSuchClass", "nocolon"]:
        process = subprocess.run(
            [sys.executable, "-m", "snakepit_bridge", "--adapter", adapter],
            env=worker_env(),
            capture_output=True,
            timeout=STEP_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
        assert process.returncode == 2, (adapter, process.stderr)
        assert b"error" in process.stderr and adapter.encode() in process.stderr


@pytest.mark.parametrize("adapter", [FAULT_ADAPTER, "loud_adapter:LoudAdapter"])
def test_stdio_mode(adapter: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "snakepit_bridge", "--adapter", adapter],
        env=worker_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    stdout_fd = process.stdout.fileno()
    reader = FrameReader(lambda size: os.read(stdout_fd, size))

    def send(message: dict[str, Any]) -> None:
        assert process.stdin is not None
        process.stdin.write(encode_frame(message, "json"))
        process.stdin.flush()

    try:
        hello = reader.next_message()
        assert hello is not None and hello["kind"] == "hello"
        send({"kind": "welcome", "protocol": 1, "encoding": "json", "worker_id": "w9"})
        if adapter == FAULT_ADAPTER:
            send({"kind": "call", "id": 1, "command": "noisy", "args": {"message": "via-stdio"}})
            reply = reader.next_message()
            assert reply is not None and reply["result"] == {"ok": True}
            send({"kind": "call", "id": 2, "command": "add", "args": {"a": 4}})
            reply = reader.next_message()
            assert reply is not None and reply["result"] == 4
            expected = ["via-stdio stdout 0", "via-stdio stderr 0"]
        else:
            send({"kind": "call", "id": 1, "command": "ready_state", "args": {}})
            reply = reader.next_message()
            assert reply is not None and reply["result"] is True
            expected = ["printed at import time", "loud_adapter: initializing"]
        process.stdin.close()
        assert wait_exit(process) == 0
        # Nothing but frames came out of stdout; the prints went to stderr.
        assert reader.next_message() is None
        stderr = process.stderr.read().decode() if process.stderr else ""
        for text in expected:
            assert text in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_floor_echoes(encoding: str) -> None:
    floor = Worker(["-m", "snakepit_bridge.floor"], handshake=False)
    floor.encoding = encoding
    try:
        for call_id in range(1, 4):
            args = {"n": call_id, "s": "é"}
            floor.send({"kind": "call", "id": call_id, "command": "ping", "args": args})
            payload = floor.reader.next_payload()
            assert payload is not None
            assert protocol.detect_encoding(payload) == encoding
            assert protocol.decode(payload) == {
                "kind": "result",
                "id": call_id,
                "success": True,
                "result": args,
            }
    finally:
        assert floor.close()[0] == 0


@pytest.mark.parametrize("command", ["garbage", "oversize"])
def test_fault_tools_break_the_link_for_the_host(worker: Worker, command: str) -> None:
    # These tools exist for the host's tests; here we only check the host side sees a bad frame.
    worker.start_call(command, {"seconds": 0.2})
    with pytest.raises(protocol.ProtocolError):
        worker.reader.next_message()


def test_failing_initialize_exits_with_code_2(tmp_path: Any) -> None:
    module = tmp_path / "bad_init_adapter.py"
    module.write_text(
        "from snakepit_bridge import BaseAdapter\n"
        "class BadInit(BaseAdapter):\n"
        "    def initialize(self):\n"
        "        raise RuntimeError('model file missing')\n"
    )
    env = worker_env()
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(tmp_path)])
    process = subprocess.run(
        [sys.executable, "-m", "snakepit_bridge", "--adapter", "bad_init_adapter:BadInit"],
        env=env,
        capture_output=True,
        timeout=STEP_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert process.returncode == 2
    assert b"model file missing" in process.stderr


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_results_needing_conversion_arrive_converted(encoding: str) -> None:
    env = worker_env(SNAKEPIT_ENCODINGS=encoding)
    converting = Worker.adapter(FAULT_ADAPTER, env=env, encoding=encoding)
    try:
        assert converting.encoding == encoding
        result = converting.call("convertible")["result"]
        # Bytes travel as a buffer (a msgpack bin, or base64 in JSON) and decode as bytes.
        expected_bytes = b"\x00\xffraw"
        assert result == {
            "set": [1, 2, 3],
            "frozenset": ["a", "b"],
            "tuple": [1, [2, 3]],
            "bytes": expected_bytes,
            "decimal": "1.10",
            "path": "/tmp/x",
            "enum": "red",
            "date": "2024-01-02",
            "datetime": "2024-01-02T03:04:05",
            "time": "06:07:00",
            "dataclass": {"x": 1, "y": 2},
            "to_dict": {"1": "one"},
            "tolist": [[1, 2], [3, 4]],
        }
        deep = converting.call("deep", {"depth": 100})["result"]
        for _ in range(100):
            deep = deep[0]
        assert deep == [1]
        wide = converting.call("wide", {"n": 150_000})["result"]
        assert len(wide) == 150_000 and wide[0] == [0] and wide[-1] == [149_999]
        assert converting.call("add", {"a": 6})["result"] == 6
    finally:
        converting.close()


def test_result_over_the_frame_limit_is_a_serialization_error() -> None:
    small = Worker.adapter(FAULT_ADAPTER, handshake=False)
    try:
        hello = small.recv()
        assert hello["kind"] == "hello"
        small.send({"kind": "welcome", "protocol": 1, "encoding": "json", "max_frame": 4096})
        reply = small.call("huge", {"size": 10_000})
        assert reply["success"] is False
        assert reply["error"]["type"] == "SerializationError"
        assert "maximum frame size of 4096" in reply["error"]["message"]
        assert small.call("huge", {"size": 10})["result"] == "x" * 10
    finally:
        small.close()
