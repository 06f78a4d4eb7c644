"""What a worker imports before it says hello: only what a plain synchronous worker needs.

A worker's start is measured against ``python -c 'import msgpack'`` (``snakepit bench``,
``start``). These tests run a real worker of the bench adapter with ``-X importtime``, read
its ``hello`` and close the link, so the modules it imported are the ones its start paid
for; modules a plain worker has no use for must not be among them.
"""

from __future__ import annotations

import socket
import subprocess
import sys

from harness import STEP_TIMEOUT, wait_exit, worker_env

from snakepit_bridge.protocol import FrameReader

BENCH_ADAPTER = "snakepit_bridge.examples.bench:BenchAdapter"
#: How the host starts a worker (`BRIDGE_MAIN` in `crates/snakepit/src/adapter/python.rs`):
#: `python -m snakepit_bridge` without `runpy`.
BRIDGE_MAIN = "import sys; from snakepit_bridge.__main__ import main; sys.exit(main())"

#: Modules a plain synchronous worker (capacity 1, no async tool) does not need at start.
NOT_AT_START = {
    "asyncio",
    "typing",
    "json",
    "re",
    "enum",
    "threading",
    "inspect",
    "signal",
    "base64",
    "contextlib",
    "runpy",
    "concurrent.futures",
    "snakepit_bridge.threaded",
    "snakepit_bridge.shm",
}


def imported_before_hello(capacity: str = "1") -> tuple[dict[str, object], set[str]]:
    """Start a bench worker, read its hello, close the link; the hello and what it imported."""
    host, worker = socket.socketpair()
    env = worker_env(SNAKEPIT_FD=str(worker.fileno()), SNAKEPIT_CAPACITY=capacity)
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-c", BRIDGE_MAIN, "--adapter", BENCH_ADAPTER],
        env=env,
        pass_fds=[worker.fileno()],
        stderr=subprocess.PIPE,
    )
    worker.close()
    host.settimeout(STEP_TIMEOUT)
    hello = FrameReader(host.recv).next_message()
    host.close()
    assert wait_exit(process) == 0
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    process.stderr.close()
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert hello is not None and hello["kind"] == "hello", hello
    return hello, modules


def test_a_plain_worker_imports_nothing_it_does_not_need_before_its_hello() -> None:
    hello, modules = imported_before_hello()
    assert "snakepit_bridge.runtime" in modules, "importtime saw no import at all"
    assert hello["capacity"] == 1
    assert not modules & NOT_AT_START, sorted(modules & NOT_AT_START)


def test_the_hello_of_a_worker_with_msgpack_is_in_msgpack() -> None:
    host, worker = socket.socketpair()
    env = worker_env(SNAKEPIT_FD=str(worker.fileno()))
    process = subprocess.Popen(
        [sys.executable, "-m", "snakepit_bridge", "--adapter", BENCH_ADAPTER],
        env=env,
        pass_fds=[worker.fileno()],
    )
    worker.close()
    host.settimeout(STEP_TIMEOUT)
    payload = FrameReader(host.recv).next_payload()
    host.close()
    assert wait_exit(process) == 0
    assert payload is not None
    assert 0x80 <= payload[0] <= 0x8F or payload[0] in (0xDE, 0xDF), bytes(payload[:1])
