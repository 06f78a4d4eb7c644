"""Test harness: spawn a real worker on a socketpair and talk to it like the host does.

Tests wait on conditions by polling until a deadline (``wait_exit``, socket timeouts), never
with bare sleeps.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from snakepit_bridge.protocol import FrameReader, encode_frame

PYTHON_DIR = Path(__file__).resolve().parents[2]
SRC_DIR = PYTHON_DIR / "src"
SUPPORT_DIR = PYTHON_DIR / "tests" / "support"
FAULT_ADAPTER = "fault_adapter:FaultAdapter"
SHOWCASE_ADAPTER = "snakepit_bridge.examples.showcase:ShowcaseAdapter"

#: How long any single step may take before a test fails instead of hanging.
STEP_TIMEOUT = 10.0


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a worker: this one plus the source and support directories."""
    env = dict(os.environ)
    env.pop("SNAKEPIT_FD", None)
    env.pop("SNAKEPIT_ENCODINGS", None)
    env.pop("SNAKEPIT_CAPACITY", None)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC_DIR), str(SUPPORT_DIR)])
    env["SNAKEPIT_WORKER_ID"] = "w-test"
    env.update(extra)
    return env


def wait_exit(process: subprocess.Popen[Any], timeout: float = STEP_TIMEOUT) -> int | None:
    """Poll ``process`` until it exits or ``timeout`` passes; return its exit code or ``None``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            return code
        time.sleep(0.01)
    return process.poll()


def wait_for_file(path: Path, timeout: float = STEP_TIMEOUT) -> str:
    """Poll until ``path`` exists and return its text; fails the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        time.sleep(0.01)
    raise AssertionError(f"{path} was not written within {timeout} s")


class Worker:
    """A worker process with the host's end of its socketpair."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str] | None = None,
        handshake: bool = True,
        encoding: str = "msgpack",
    ) -> None:
        host_end, worker_end = socket.socketpair()
        self.sock = host_end
        self.sock.settimeout(STEP_TIMEOUT)
        environment = env if env is not None else worker_env()
        environment["SNAKEPIT_FD"] = str(worker_end.fileno())
        self.process = subprocess.Popen(
            [sys.executable, *args],
            pass_fds=[worker_end.fileno()],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        worker_end.close()
        self.reader = FrameReader(self.sock.recv)
        self.encoding = "json"
        self.hello: dict[str, Any] | None = None
        self.next_id = 1
        if handshake:
            self.handshake(encoding)

    @classmethod
    def adapter(cls, adapter: str = FAULT_ADAPTER, **kwargs: Any) -> Worker:
        """Spawn ``python -m snakepit_bridge --adapter <adapter>``."""
        return cls(["-m", "snakepit_bridge", "--adapter", adapter], **kwargs)

    def handshake(self, encoding: str) -> None:
        """Read ``hello`` and answer with a ``welcome`` choosing ``encoding`` if offered."""
        hello = self.recv()
        assert hello["kind"] == "hello", hello
        self.hello = hello
        chosen = encoding if encoding in hello["encodings"] else "json"
        self.send(
            {
                "kind": "welcome",
                "protocol": 1,
                "encoding": chosen,
                "worker_id": "w-test",
                "max_frame": 64 * 1024 * 1024,
            },
            "json",
        )
        self.encoding = chosen

    def send(self, message: dict[str, Any], encoding: str | None = None) -> None:
        """Send one message in the negotiated (or given) encoding."""
        self.sock.sendall(encode_frame(message, encoding or self.encoding))

    def recv(self) -> dict[str, Any]:
        """Read one message; fails the test on end-of-file or a timeout."""
        message = self.reader.next_message()
        assert message is not None, "the worker closed the link"
        return message

    def start_call(self, command: str, args: dict[str, Any] | None = None, **extra: Any) -> int:
        """Send a ``call`` and return its id without waiting for the result."""
        call_id = self.next_id
        self.next_id += 1
        message = {"kind": "call", "id": call_id, "command": command, "args": args or {}}
        message.update(extra)
        self.send(message)
        return call_id

    def call(self, command: str, args: dict[str, Any] | None = None, **extra: Any) -> Any:
        """Run a call and return its ``result`` message."""
        call_id = self.start_call(command, args, **extra)
        reply = self.recv()
        assert reply["kind"] == "result" and reply["id"] == call_id, reply
        return reply

    def stream(
        self, command: str, args: dict[str, Any] | None = None, **extra: Any
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Run a call with ``"stream": true``; return its chunk messages and its result."""
        call_id = self.start_call(command, args, stream=True, **extra)
        return self.collect(call_id)

    def collect(self, call_id: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Read the chunks of call ``call_id`` up to its result; return both."""
        chunks = []
        while True:
            message = self.recv()
            assert message.get("id") == call_id, message
            if message["kind"] == "result":
                return chunks, message
            assert message["kind"] == "chunk", message
            chunks.append(message)

    def readable(self, timeout: float) -> bool:
        """Whether a frame (or part of one) arrives within ``timeout`` seconds."""
        if self.reader.buffered():
            return True
        ready, _, _ = select.select([self.sock], [], [], timeout)
        return bool(ready)

    def close(self) -> tuple[int | None, str, str]:
        """Close the host's end, wait for the worker, and return (code, stdout, stderr)."""
        self.sock.close()
        code = wait_exit(self.process)
        if code is None:
            self.process.kill()
            self.process.wait()
        stdout, stderr = self.process.communicate()
        return code, stdout.decode(errors="replace"), stderr.decode(errors="replace")
