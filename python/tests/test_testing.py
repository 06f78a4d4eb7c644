"""The in-process harness runs tools as a worker would, and ``--call`` prints a result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from snakepit_bridge import BaseAdapter, HostToolError, InvalidArguments, tool
from snakepit_bridge.testing import AdapterHarness, UnknownTool


class Sample(BaseAdapter):
    def initialize(self):
        self.greeting = "Hello"

    @tool
    def hello(self, name: str) -> str:
        return f"{self.greeting}, {name}!"

    @tool
    def count(self, n: int = 3):
        for index in range(n):
            yield index + 1
        return {"done": n}

    @tool
    def batch(self, items: list, stream):
        for item in items:
            stream.send({"item": item})
        return len(items)

    @tool
    async def later(self, value: int) -> int:
        return value * 2

    @tool
    def remember(self, key: str, value, ctx):
        ctx.session[key] = value
        return ctx.session_id

    @tool
    def ask_host(self, user_id: int, ctx):
        return ctx.call_host_tool("lookup_user", user_id=user_id)

    @tool
    def bump(self, ctx):
        value = ctx.get_variable("counter")
        ctx.set_variable("counter", value + 1)
        return value + 1


def test_plain_tool_runs_with_initialize_applied():
    assert AdapterHarness(Sample).call("hello", name="Ada") == "Hello, Ada!"
    assert AdapterHarness(Sample).call("hello", {"name": "Bob"}) == "Hello, Bob!"


def test_arguments_are_checked_like_the_worker_does():
    with pytest.raises(InvalidArguments, match="missing required argument 'name'"):
        AdapterHarness(Sample).call("hello")
    with pytest.raises(UnknownTool, match="hello"):
        AdapterHarness(Sample).call("nope")


def test_generator_streams_chunks_then_result_and_collects_without_a_stream():
    harness = AdapterHarness(Sample)
    run = harness.stream("count", n=3)
    assert run.chunks == [1, 2, 3]
    assert run.result == {"done": 3}
    assert harness.call("count", n=2) == {"done": 2}


def test_stream_parameter_chunks_are_kept_only_when_streaming():
    harness = AdapterHarness(Sample)
    run = harness.stream("batch", items=["a", "b"])
    assert run.chunks == [{"item": "a"}, {"item": "b"}]
    assert run.result == 2
    assert harness.call("batch", items=["a"]) == 1


def test_async_tool_is_awaited():
    harness = AdapterHarness(Sample)
    assert harness.call("later", value=21) == 42
    harness.close()


def test_session_state_survives_between_calls_of_one_session():
    harness = AdapterHarness(Sample)
    assert harness.call("remember", key="k", value=1, session="s1") == "s1"
    harness.call("remember", key="j", value=2, session="s1")
    harness.call("remember", key="x", value=3, session="s2")
    assert harness.session_state("s1") == {"k": 1, "j": 2}
    harness.drop_session("s1")
    assert harness.session_state("s1") == {}


def test_fake_host_tools_answer_and_fail_as_host_tool_errors():
    def lookup_user(user_id):
        if user_id < 0:
            raise ValueError("no such user")
        return {"id": user_id}

    harness = AdapterHarness(Sample, host_tools={"lookup_user": lookup_user})
    assert harness.call("ask_host", user_id=7) == {"id": 7}
    with pytest.raises(HostToolError) as failure:
        harness.call("ask_host", user_id=-1)
    assert failure.value.error_type == "HostToolError"
    assert "no such user" in failure.value.message
    with pytest.raises(HostToolError) as unknown:
        AdapterHarness(Sample).call("ask_host", user_id=1)
    assert unknown.value.error_type == "UnknownHostTool"


def test_session_variables_are_read_and_written():
    harness = AdapterHarness(Sample)
    harness.set_variable("s", "counter", 1)
    assert harness.call("bump", session="s") == 2
    assert harness.variables("s") == {"counter": 2}


def _bridge(args, cwd):
    src = os.path.join(os.path.dirname(__file__), "..", "src")
    env = dict(os.environ, PYTHONPATH=os.path.abspath(src))
    env.pop("SNAKEPIT_FD", None)
    return subprocess.run(
        [sys.executable, "-m", "snakepit_bridge", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_call_flag_prints_the_result_of_an_adapter_in_the_current_directory(tmp_path):
    (tmp_path / "greeter.py").write_text(
        textwrap.dedent(
            """
            from snakepit_bridge import BaseAdapter, tool

            class Greeter(BaseAdapter):
                @tool
                def greet(self, name: str) -> str:
                    return f"hi {name}"
            """
        )
    )
    done = _bridge(["--adapter", "greeter:Greeter", "--call", "greet", '{"name":"Ada"}'], tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == "hi Ada"
    missing = _bridge(["--adapter", "greeter:Greeter", "--call", "nope"], tmp_path)
    assert missing.returncode == 2
    assert "greet" in missing.stderr
