"""Tests of the {{name}} adapter's tools, run in-process (no host, no pool)."""

from snakepit_bridge.testing import AdapterHarness

from {{module}} import {{class}}


def test_hello_greets_by_name():
    assert AdapterHarness({{class}}).call("hello", name="Ada") == "Hello, Ada!"


def test_count_streams_each_number_then_the_total():
    run = AdapterHarness({{class}}).stream("count", to=3)
    assert [chunk["number"] for chunk in run.chunks] == [1, 2, 3]
    assert run.result == {"counted": 3}


def test_remember_keeps_state_per_session():
    harness = AdapterHarness({{class}})
    harness.call("remember", key="a", value=1, session="s1")
    assert harness.call("remember", key="b", value=2, session="s1") == {"a": 1, "b": 2}
    assert harness.call("remember", key="c", value=3, session="s2") == {"c": 3}
