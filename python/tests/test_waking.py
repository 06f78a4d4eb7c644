"""A worker waiting for its next call is woken only by input, not by the host reading.

A thread blocked in ``read()`` on a socket sits on the socket's one wait queue, which the
kernel also wakes with "writable" when the peer consumes what this side wrote. The
descriptor reader waits in ``poll()`` for input instead, so the host reading a reply does
not wake the worker waiting for the next call.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable

from snakepit_bridge.link import descriptor_reader


def _switches(tid: int) -> int:
    with open(f"/proc/self/task/{tid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches line")


def _state(tid: int) -> str:
    with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def _needless_wakes(make_read: Callable[[int], Callable[[int], bytes]]) -> int:
    """How often a worker thread, asleep waiting for its next input, was woken and went
    back to sleep while the peer read its answer."""
    host, worker = socket.socketpair()
    read = make_read(worker.fileno())
    ready = threading.Event()
    tid: list[int] = []
    got: list[bytes] = []
    after: list[int] = []

    def wait_for_next_call() -> None:
        tid.append(threading.get_native_id())
        worker.sendall(b"answer")
        ready.set()
        got.append(read(64))
        after.append(_switches(tid[0]))

    thread = threading.Thread(target=wait_for_next_call)
    thread.start()
    assert ready.wait(5.0)
    deadline = time.monotonic() + 5.0
    while _state(tid[0]) != "S":
        assert time.monotonic() < deadline, "the worker thread never blocked"
        time.sleep(0.001)
    before = _switches(tid[0])
    assert host.recv(64) == b"answer"
    # A worker woken for nothing goes back to sleep, one more switch: look for it a while.
    deadline = time.monotonic() + 0.2
    while _switches(tid[0]) == before and time.monotonic() < deadline:
        time.sleep(0.001)
    host.sendall(b"next call")
    thread.join(5.0)
    assert got == [b"next call"]
    slept = after[0] - before
    host.close()
    worker.close()
    return slept


def test_the_host_reading_an_answer_does_not_wake_a_waiting_worker() -> None:
    # With ``os.read`` itself as the reader the count is 1 on Linux: the thread is woken
    # by the peer's read, finds nothing, and sleeps again.
    assert _needless_wakes(descriptor_reader) == 0
