"""Workers that take several calls at once (``SNAKEPIT_CAPACITY`` above 1), end to end.

The test plays a host that keeps up to ``capacity`` calls in flight on one worker and checks
that each answer reaches its own call, and that cancel, pings, host calls, streams and
sessions behave as they do one call at a time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness import FAULT_ADAPTER, Worker, worker_env

CAPACITY = 8
#: A cancelled call, or a ping, must be answered well within this many seconds.
PROMPT = 2.0


@pytest.fixture
def wide() -> Iterator[Worker]:
    """A fault-adapter worker of capacity 8."""
    worker = Worker.adapter(FAULT_ADAPTER, env=worker_env(SNAKEPIT_CAPACITY=str(CAPACITY)))
    yield worker
    worker.close()


def results_of(worker: Worker, ids: set[int]) -> dict[int, dict[str, Any]]:
    """Read messages until every call in ``ids`` has its result; chunks are not expected."""
    results: dict[int, dict[str, Any]] = {}
    while len(results) < len(ids):
        message = worker.recv()
        assert message["kind"] == "result" and message["id"] in ids, message
        assert message["id"] not in results, message
        results[message["id"]] = message
    return results


def test_hello_announces_the_capacity(wide: Worker) -> None:
    assert wide.hello is not None and wide.hello["capacity"] == CAPACITY
    plain = Worker.adapter(FAULT_ADAPTER)
    try:
        assert plain.hello is not None and plain.hello["capacity"] == 1
    finally:
        plain.close()


def test_the_adapter_declares_a_default_the_host_can_override() -> None:
    declared = Worker.adapter("fault_adapter:WideAdapter")
    overridden = Worker.adapter("fault_adapter:WideAdapter", env=worker_env(SNAKEPIT_CAPACITY="5"))
    invalid = Worker.adapter(FAULT_ADAPTER, env=worker_env(SNAKEPIT_CAPACITY="zero"))
    try:
        assert declared.hello is not None and declared.hello["capacity"] == 3
        assert overridden.hello is not None and overridden.hello["capacity"] == 5
        assert invalid.hello is not None and invalid.hello["capacity"] == 1
    finally:
        declared.close()
        overridden.close()
        _, _, stderr = invalid.close()
        assert "SNAKEPIT_CAPACITY" in stderr


def test_a_thousand_concurrent_calls_each_return_to_their_own_id(wide: Worker) -> None:
    rng = random.Random(1234)
    expected: dict[int, Any] = {}
    in_flight: set[int] = set()
    threads: set[str] = set()
    done = 0

    def start() -> None:
        payload = {"n": len(expected), "text": f"payload-{rng.random()}", "list": [len(expected)]}
        call_id = wide.start_call("tag", {"value": payload, "spin_ms": rng.random()})
        expected[call_id] = payload
        in_flight.add(call_id)

    def check(reply: dict[str, Any]) -> None:
        nonlocal done
        assert reply["result"]["value"] == expected[reply["id"]]
        threads.add(reply["result"]["thread"])
        done += 1

    _keep_in_flight(wide, in_flight, CAPACITY, start, check, lambda: len(expected) < 1000)
    assert done == 1000
    # The calls ran on the pool's threads, never on the reader.
    assert threads and all(name.startswith("snakepit-call-") for name in threads)
    assert len(threads) <= CAPACITY


def _keep_in_flight(
    worker: Worker,
    in_flight: set[int],
    depth: int,
    start: Callable[[], None],
    check: Callable[[dict[str, Any]], None],
    more: Callable[[], bool],
) -> None:
    """Start ``depth`` calls, then for each successful result check it and start another
    while ``more()`` says so, until every call started has answered."""
    for _ in range(depth):
        start()
    while in_flight:
        reply = worker.recv()
        assert reply["kind"] == "result" and reply["id"] in in_flight, reply
        in_flight.discard(reply["id"])
        assert reply["success"] is True, reply
        check(reply)
        if more():
            start()


def test_inline_calls_run_on_the_reader_and_return_to_their_own_callers(wide: Worker) -> None:
    """``@tool(inline=True)`` calls, interleaved with pool calls, each reach their own id."""
    rng = random.Random(99)
    expected: dict[int, tuple[str, Any]] = {}
    in_flight: set[int] = set()
    threads: dict[str, set[str]] = {"tag": set(), "tag_inline": set()}

    def start() -> None:
        command = "tag_inline" if rng.random() < 0.5 else "tag"
        payload = {"n": len(expected), "text": f"payload-{rng.random()}"}
        call_id = wide.start_call(command, {"value": payload})
        expected[call_id] = (command, payload)
        in_flight.add(call_id)

    def check(reply: dict[str, Any]) -> None:
        command, payload = expected[reply["id"]]
        assert reply["result"]["value"] == payload
        threads[command].add(reply["result"]["thread"])

    _keep_in_flight(wide, in_flight, 2 * CAPACITY, start, check, lambda: len(expected) < 1000)
    assert threads["tag_inline"] == {"MainThread"}
    assert threads["tag"] and all(name.startswith("snakepit-call-") for name in threads["tag"])


def test_inline_calls_and_pings_are_answered_while_every_pool_thread_is_busy(
    wide: Worker,
) -> None:
    ids = {wide.start_call("block", {"seconds": 1.5}) for _ in range(CAPACITY)}
    started = time.monotonic()
    inline_id = wide.start_call("tag_inline", {"value": 7})
    reply = wide.recv()
    assert reply["id"] == inline_id and reply["result"]["value"] == 7, reply
    wide.send({"kind": "ping", "id": 9100})
    assert wide.recv() == {"kind": "pong", "id": 9100}
    assert time.monotonic() - started < PROMPT
    results = results_of(wide, ids)
    assert all(reply["result"] == {"blocked": 1.5} for reply in results.values())


def test_an_inline_tool_that_returns_a_generator_gets_an_error(wide: Worker) -> None:
    call_id = wide.start_call("inline_generator", {})
    reply = wide.recv()
    assert reply["id"] == call_id and reply["success"] is False, reply
    assert "inline=True tool must return its result" in reply["error"]["message"]
    # The worker goes on serving.
    assert wide.call("tag_inline", {"value": 1})["result"]["value"] == 1


def test_cancel_of_one_concurrent_call_leaves_the_others_running(wide: Worker) -> None:
    sync_ids = [wide.start_call("sleep", {"seconds": 0.5}) for _ in range(3)]
    async_ids = [wide.start_call("async_sleep", {"seconds": 0.5}) for _ in range(3)]
    victims = {sync_ids[1], async_ids[1]}
    started = time.monotonic()
    for victim in victims:
        wide.send({"kind": "cancel", "id": victim})
    first = results_of(wide, victims)
    assert time.monotonic() - started < PROMPT
    for victim in victims:
        assert first[victim]["error"]["type"] == "Cancelled"
    rest = results_of(wide, set(sync_ids + async_ids) - victims)
    for call_id, reply in rest.items():
        assert reply["success"] is True, reply
        assert reply["result"] == {"slept": 0.5}, call_id


def test_a_non_thread_safe_tool_never_overlaps_itself(wide: Worker) -> None:
    half = CAPACITY // 2
    exclusive = {wide.start_call("exclusive", {"seconds": 0.05}) for _ in range(half)}
    overlapping = {wide.start_call("overlapping", {"seconds": 0.2}) for _ in range(half)}
    results = results_of(wide, exclusive | overlapping)
    for reply in results.values():
        assert reply["success"] is True, reply
    by_tool = {
        "exclusive": [results[call_id]["result"] for call_id in exclusive],
        "overlapping": [results[call_id]["result"] for call_id in overlapping],
    }
    assert by_tool["exclusive"] == [1] * half
    # The thread-safe twin did overlap, so the lock (not a lack of threads) kept it serial.
    assert max(by_tool["overlapping"]) > 1


def test_an_adapter_that_is_not_thread_safe_serialises_its_sync_tools() -> None:
    serial = Worker.adapter(
        "fault_adapter:SerialAdapter", env=worker_env(SNAKEPIT_CAPACITY=str(CAPACITY))
    )
    try:
        sync_ids = {serial.start_call("overlapping", {"seconds": 0.05}) for _ in range(4)}
        async_ids = {serial.start_call("aoverlapping", {"seconds": 0.2}) for _ in range(4)}
        results = results_of(serial, sync_ids | async_ids)
        sync = [results[call_id]["result"] for call_id in sync_ids]
        asynchronous = [results[call_id]["result"] for call_id in async_ids]
        assert sync == [1] * 4
        # Async tools still interleave on the event loop.
        assert max(asynchronous) > 1
    finally:
        serial.close()


def test_async_tools_run_concurrently(wide: Worker) -> None:
    ids = {wide.start_call("aoverlapping", {"seconds": 0.3}) for _ in range(CAPACITY)}
    results = results_of(wide, ids)
    assert max(reply["result"] for reply in results.values()) > 1


def test_pings_are_answered_while_every_thread_is_busy(wide: Worker) -> None:
    ids = {wide.start_call("block", {"seconds": 1.5}) for _ in range(CAPACITY)}
    for ping in range(3):
        started = time.monotonic()
        wide.send({"kind": "ping", "id": 9000 + ping})
        assert wide.recv() == {"kind": "pong", "id": 9000 + ping}
        assert time.monotonic() - started < PROMPT
    results = results_of(wide, ids)
    assert all(reply["result"] == {"blocked": 1.5} for reply in results.values())


@pytest.mark.parametrize("command", ["host", "ahost"])
def test_host_calls_from_concurrent_calls_reach_their_own_call(wide: Worker, command: str) -> None:
    count = CAPACITY
    ids = [
        wide.start_call(command, {"name": "calc", "args": {"n": index}}) for index in range(count)
    ]
    pending: dict[Any, tuple[int, int]] = {}
    while len(pending) < count:
        message = wide.recv()
        assert message["kind"] == "host_call" and message["tool"] == "calc", message
        pending[message["ref"]] = (message["id"], message["args"]["n"])
    assert sorted(call_id for call_id, _ in pending.values()) == ids
    # Answer in reverse order: each answer must reach the call that asked.
    for ref, (call_id, n) in sorted(pending.items(), key=lambda item: -item[1][1]):
        wide.send(
            {"kind": "host_result", "id": call_id, "ref": ref, "success": True, "result": n * 10}
        )
    results = results_of(wide, set(ids))
    for index, call_id in enumerate(ids):
        assert results[call_id]["result"] == index * 10


def test_blocking_host_calls_from_async_tools_take_turns(wide: Worker) -> None:
    # The blocking form holds the event loop for its round trip, so these go one by one.
    ids = [wide.start_call("ahost_blocking", {"name": "calc", "args": {"n": n}}) for n in range(3)]
    results: dict[int, Any] = {}
    while len(results) < len(ids):
        message = wide.recv()
        if message["kind"] == "host_call":
            reply = message["args"]["n"] * 10
            wide.send(
                {
                    "kind": "host_result",
                    "id": message["id"],
                    "ref": message["ref"],
                    "success": True,
                    "result": reply,
                }
            )
        else:
            assert message["kind"] == "result", message
            results[message["id"]] = message["result"]
    assert [results[call_id] for call_id in ids] == [0, 10, 20]


def test_cancel_reaches_a_call_waiting_for_its_host_result(wide: Worker) -> None:
    waiting = wide.start_call("host", {"name": "slow", "args": {}})
    message = wide.recv()
    assert message["kind"] == "host_call" and message["id"] == waiting
    other = wide.start_call("add", {"a": 1})
    assert results_of(wide, {other})[other]["result"] == 1
    wide.send({"kind": "cancel", "id": waiting})
    assert results_of(wide, {waiting})[waiting]["error"]["type"] == "Cancelled"
    wide.send({"kind": "host_result", "id": waiting, "ref": message["ref"], "success": True})
    assert wide.call("add", {"a": 2})["result"] == 2


def test_streams_interleave_and_stay_in_order(wide: Worker) -> None:
    streams = {
        wide.start_call("count", {"n": 20, "delay_ms": 5}, stream=True): 20,
        wide.start_call("acount", {"n": 15, "delay_ms": 5}, stream=True): 15,
        wide.start_call("send_count", {"n": 10}, stream=True): 10,
        wide.start_call("count", {"n": 12, "delay_ms": 3}, stream=True): 12,
    }
    chunks: dict[int, list[Any]] = {call_id: [] for call_id in streams}
    order: list[int] = []
    results: dict[int, dict[str, Any]] = {}
    while len(results) < len(streams):
        message = wide.recv()
        call_id = message["id"]
        assert call_id in streams and call_id not in results, message
        if message["kind"] == "chunk":
            assert message["seq"] == len(chunks[call_id])
            chunks[call_id].append(message["data"])
            order.append(call_id)
        else:
            assert message["kind"] == "result" and message["success"] is True, message
            results[call_id] = message
    for call_id, n in streams.items():
        assert len(chunks[call_id]) == n
    # Chunks of different calls were interleaved on the link, not sent call after call.
    switches = sum(1 for first, second in zip(order, order[1:]) if first != second)
    assert switches > len(streams)


def test_sessions_work_across_concurrent_calls(wide: Worker) -> None:
    ids = {
        wide.start_call("remember", {"key": f"k{index}", "value": index}, session_id="s")
        for index in range(CAPACITY)
    }
    results_of(wide, ids)
    keys = wide.call("session_keys", session_id="s")["result"]
    assert keys == sorted(f"k{index}" for index in range(CAPACITY))
    wide.send({"kind": "session_drop", "session_id": "s"})
    assert wide.call("session_keys", session_id="s")["result"] == []


def test_the_host_leaving_ends_a_busy_worker(wide: Worker) -> None:
    for _ in range(CAPACITY):
        wide.start_call("sleep", {"seconds": 60})
    code, _, _ = wide.close()
    assert code == 0


def test_hello_says_shm_only_with_an_fd_channel() -> None:
    # The test's harness gives the worker no fd channel, so it must not claim one.
    plain = Worker.adapter(FAULT_ADAPTER)
    try:
        assert plain.hello is not None and plain.hello["shm"] is False
    finally:
        plain.close()
