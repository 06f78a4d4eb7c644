"""Tests of the link's shared writes: frames from many threads, combined into few writes."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Callable

import pytest

from snakepit_bridge import link as link_module
from snakepit_bridge.link import Link, LinkClosed
from snakepit_bridge.protocol import FrameReader

THREADS = 8
FRAMES = 400


def test_frames_from_many_threads_arrive_whole_and_in_each_threads_order() -> None:
    host, worker = socket.socketpair()
    link = Link(worker.fileno())
    link.share_writes()
    received: list[bytes] = []

    def read_all() -> None:
        reader = FrameReader(host.recv)
        for _ in range(THREADS * FRAMES):
            payload = reader.next_payload()
            assert payload is not None
            received.append(bytes(payload))

    reading = threading.Thread(target=read_all)
    reading.start()

    def write(thread: int) -> None:
        for seq in range(FRAMES):
            link.send_payload(f"{thread}:{seq}:".encode() + b"x" * (seq % 97))

    writers = [threading.Thread(target=write, args=(index,)) for index in range(THREADS)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    reading.join(timeout=30)
    assert not reading.is_alive()
    seen: dict[int, list[int]] = {index: [] for index in range(THREADS)}
    for payload in received:
        thread, seq, padding = payload.split(b":")
        assert padding == b"x" * (int(seq) % 97)
        seen[int(thread)].append(int(seq))
    assert all(order == list(range(FRAMES)) for order in seen.values())
    host.close()
    worker.close()


def wait_until(condition: Callable[[], bool], limit: float = 10.0) -> bool:
    """Poll ``condition`` every 10 ms until it holds or ``limit`` seconds pass."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def send_until_closed(link: Link, payload: bytes, times: int) -> None:
    """Send ``payload`` ``times`` times; stop quietly when the host closes the link."""
    try:
        for _ in range(times):
            link.send_payload(payload)
    except LinkClosed:
        pass


def test_writers_wait_instead_of_queueing_without_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(link_module, "PENDING_LIMIT", 1024)
    host, worker = socket.socketpair()
    link = Link(worker.fileno())
    link.share_writes()
    big = b"y" * (1 << 16)
    # The host never reads: the flusher ends up blocked in the kernel.
    flusher = threading.Thread(target=send_until_closed, args=(link, big, 256))
    flusher.start()
    lock = link._write_lock
    assert lock is not None
    assert wait_until(lambda: lock.locked() and flusher.is_alive())
    others = [
        threading.Thread(target=send_until_closed, args=(link, b"z" * 600, 8)) for _ in range(4)
    ]
    for other in others:
        other.start()
    # Every other writer ends up waiting for the flusher, with the queue just over the limit.
    assert wait_until(lambda: link._waiting == len(others))
    assert link._pending_bytes <= 1024 + len(others) * 604
    host.close()
    for thread in [flusher, *others]:
        thread.join(timeout=10)
        assert not thread.is_alive()
    with pytest.raises(LinkClosed):
        link.send_payload(b"after")
    worker.close()


def test_queued_frames_wait_for_a_flush_or_another_write_and_keep_their_order() -> None:
    host, worker = socket.socketpair()
    link = Link(worker.fileno())
    link.share_writes()
    for seq in range(3):
        link.queue_raw(len(b"q%d" % seq).to_bytes(4, "big") + b"q%d" % seq)
    host.setblocking(False)
    with pytest.raises(BlockingIOError):
        host.recv(1024)
    # Another thread's write takes the queued frames with it, in order.
    writer = threading.Thread(target=link.send_payload, args=(b"w",))
    writer.start()
    writer.join()
    link.queue_raw(len(b"last").to_bytes(4, "big") + b"last")
    link.flush_queued()
    host.setblocking(True)
    host.settimeout(10)
    reader = FrameReader(host.recv)
    received = [bytes(reader.next_payload() or b"") for _ in range(5)]
    assert received == [b"q0", b"q1", b"q2", b"w", b"last"]
    host.close()
    worker.close()


def test_snakepit_fd_names_one_socket_or_two_pipes() -> None:
    assert link_module.link_fds("3") == (3, 3)
    assert link_module.link_fds("3,5") == (3, 5)
    for bad in ("", "3,5,7", "three"):
        with pytest.raises(ValueError):
            link_module.link_fds(bad)


def test_a_link_of_two_pipes_reads_from_one_and_writes_to_the_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls_read, calls_write = os.pipe()
    answers_read, answers_write = os.pipe()
    try:
        monkeypatch.setenv("SNAKEPIT_FD", f"{calls_read},{answers_write}")
        link = Link.from_environment()
        assert (link.read_fd, link.write_fd) == (calls_read, answers_write)
        os.write(calls_write, len(b"ping").to_bytes(4, "big") + b"ping")
        assert link.reader.next_payload() == b"ping"
        link.write_raw(b"pong")
        assert os.read(answers_read, 16) == b"pong"
    finally:
        for fd in (calls_read, calls_write, answers_read, answers_write):
            os.close(fd)
