"""Source compatibility: adapters written against the original Snakepit's Python API.

The adapters printed in the original's READMEs (``tests/support/readme/``, written out
unchanged) and a dispatcher-style adapter run on this bridge as real workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness import SUPPORT_DIR, Worker, wait_exit, worker_env

import snakepit_bridge
from snakepit_bridge import BaseAdapter, SessionContext, tool
from snakepit_bridge.adapter import discover_tools


def answer_host_calls(worker: Worker, call_id: int, answers: dict[str, Any]) -> Any:
    """Answer the call's host calls from ``answers`` (by tool) until its result arrives."""
    seen: list[tuple[str, dict[str, Any]]] = []
    while True:
        message = worker.recv()
        assert message["id"] == call_id, message
        if message["kind"] == "result":
            return message, seen
        assert message["kind"] == "host_call", message
        seen.append((message["tool"], message["args"]))
        worker.send(
            {
                "kind": "host_result",
                "id": call_id,
                "ref": message["ref"],
                "success": True,
                "result": answers[message["tool"]],
            }
        )


def test_module_paths_of_the_original_are_aliases() -> None:
    from snakepit_bridge.adapters.base import BaseAdapter as FromAdapters
    from snakepit_bridge.base_adapter import BaseAdapter as FromBase
    from snakepit_bridge.base_adapter import tool as base_tool
    from snakepit_bridge.core import setup_graceful_shutdown
    from snakepit_bridge.session_context import SessionContext as FromSession

    assert FromAdapters is FromBase is BaseAdapter
    assert base_tool is tool
    assert FromSession is SessionContext is snakepit_bridge.CallContext
    assert callable(setup_graceful_shutdown)


def test_get_tools_and_tool_options() -> None:
    from compat_adapter import CompatAdapter

    specs = {spec["name"]: spec for spec in CompatAdapter().get_tools()}
    assert sorted(specs) == ["host_sum", "item_access", "items", "sent"]
    assert specs["host_sum"]["description"] == "Add through the host."
    assert specs["host_sum"]["required_variables"] == ["temperature"]
    assert specs["items"]["streaming"] is True
    assert "required_variables" not in specs["items"]
    assert discover_tools(CompatAdapter())["host_sum"].spec == specs["host_sum"]


def test_readme_v075_my_adapter() -> None:
    worker = Worker.adapter("readme.my_adapter:MyAdapter")
    try:
        assert worker.hello is not None
        tools = {spec["name"]: spec for spec in worker.hello["tools"]}
        assert tools["batch_process"]["streaming"] is True
        assert tools["process_data"]["description"] == "Process data and return result."
        assert worker.call("process_data", {"input": 21})["result"] == {"result": 42}
        chunks, result = worker.stream("batch_process", {"items": [1, 2, 3, 4]})
        assert [chunk["data"] for chunk in chunks] == [
            {"progress": 25.0, "item": 2},
            {"progress": 50.0, "item": 4},
            {"progress": 75.0, "item": 6},
            {"progress": 100.0, "item": 8},
        ]
        assert result["result"] == {"total": 4}
    finally:
        assert worker.close()[0] == 0


def test_readme_v04_simple_command_handler() -> None:
    script = SUPPORT_DIR / "readme" / "my_simple_adapter.py"
    worker = Worker([str(script)])
    try:
        assert worker.hello is not None
        assert worker.hello["adapter"] == "__main__:MySimpleHandler"
        assert sorted(spec["name"] for spec in worker.hello["tools"]) == [
            "uppercase",
            "word_count",
        ]
        assert worker.call("uppercase", {"text": "snake pit"})["result"] == {"result": "SNAKE PIT"}
        assert worker.call("word_count", {"text": "a b a c"})["result"] == {
            "word_count": 4,
            "char_count": 7,
            "unique_words": 3,
        }
        assert worker.call("nope")["error"]["type"] == "UnknownCommand"
        worker.send({"kind": "shutdown"})
        assert wait_exit(worker.process) == 0
    finally:
        worker.close()


def test_readme_v04_data_science_adapter(tmp_path: Path) -> None:
    csv = tmp_path / "data.csv"
    csv.write_text("x1,x2,y\n" + "".join(f"{i},{i * 2.5},{i % 3}\n" for i in range(10)))
    worker = Worker.adapter("readme.data_science_adapter:DataScienceAdapter")
    registered = {"registered": True}
    try:
        assert worker.hello is not None
        assert sorted(spec["name"] for spec in worker.hello["tools"]) == [
            "load_data",
            "preprocess",
            "train_model",
        ]
        call_id = worker.start_call("load_data", {"file_path": str(csv)}, session_id="s1")
        reply, host_calls = answer_host_calls(
            worker, call_id, {"snakepit.register_variable": registered}
        )
        assert reply["success"] is True, reply
        assert reply["result"] == {
            "rows": 10,
            "columns": 3,
            "column_names": ["x1", "x2", "y"],
            "dtypes": {"x1": "int64", "x2": "float64", "y": "int64"},
        }
        assert host_calls == [
            (
                "snakepit.register_variable",
                {"name": "data_shape", "type": "list", "value": [10, 3]},
            ),
            (
                "snakepit.register_variable",
                {"name": "columns", "type": "list", "value": ["x1", "x2", "y"]},
            ),
        ]
        data = {"x1": list(range(10)), "x2": [i * 2.0 for i in range(10)], "y": [1] * 10}
        reply = worker.call("preprocess", {"data": data, "target": "y"}, session_id="s1")
        assert reply["result"]["train_size"] == 8 and reply["result"]["test_size"] == 2
        assert reply["result"]["feature_means"] == [4.5, 9.0]
        call_id = worker.start_call("train_model", {}, session_id="s1")
        reply, host_calls = answer_host_calls(
            worker, call_id, {"snakepit.register_variable": registered}
        )
        assert reply["result"] == {
            "model_id": "s1_linear_regression",
            "model_type": "linear_regression",
            "training_complete": True,
        }
        assert host_calls == [
            (
                "snakepit.register_variable",
                {"name": "current_model", "type": "string", "value": "s1_linear_regression"},
            )
        ]
        reply = worker.call("train_model", {"model_type": "svm"}, session_id="s1")
        assert reply["error"]["type"] == "ValueError"
    finally:
        assert worker.close()[0] == 0


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_an_adapter_with_its_own_dispatcher(encoding: str) -> None:
    worker = Worker.adapter(
        "compat_adapter:CompatAdapter",
        env=worker_env(SNAKEPIT_ENCODINGS=encoding),
        encoding=encoding,
    )
    try:
        reply = worker.call("greet", {"name": "Ada"}, session_id="u1")
        assert reply["result"] == {"hello": "Ada", "session": "u1"}
        call_id = worker.start_call("host_sum", {"a": 1, "b": 2})
        tools = [{"name": "calculate", "description": None, "parameters": []}]
        reply, host_calls = answer_host_calls(
            worker, call_id, {"calculate": 3, "snakepit.list_host_tools": tools}
        )
        assert reply["result"] == {"keywords": 3, "map": 3, "tools": ["calculate"]}
        assert host_calls == [
            ("calculate", {"a": 1, "b": 2}),
            ("calculate", {"a": 1, "b": 2}),
            ("snakepit.list_host_tools", {}),
        ]
        call_id = worker.start_call("item_access", {"value": 0.7})
        reply, host_calls = answer_host_calls(
            worker,
            call_id,
            {
                "snakepit.set_variable": {"name": "temperature", "value": 0.7},
                "snakepit.get_variable": {"name": "temperature", "value": 0.7},
            },
        )
        assert reply["result"] == 0.7
        assert host_calls == [
            ("snakepit.set_variable", {"name": "temperature", "value": 0.7}),
            ("snakepit.get_variable", {"name": "temperature"}),
        ]
        chunks, result = worker.stream("items")
        raw = b"\x00raw"  # a buffer in either encoding, decoded back to bytes
        assert [chunk["data"] for chunk in chunks] == [
            {"kind": "map"},
            "text",
            raw,
            {"progress": 50},
            {"progress": 100},
        ]
        assert result["success"] is True
        chunks, result = worker.stream("sent")
        assert [chunk["data"] for chunk in chunks] == ["via send"]
        assert result["result"] == "done"
        reply = worker.call("missing")
        assert reply["error"]["type"] == "UnknownCommand"
        assert "host_sum" in reply["error"]["message"]
        assert worker.call("dispatched")["result"] == [
            "greet",
            "host_sum",
            "item_access",
            "items",
            "sent",
            "missing",
            "dispatched",
        ]
    finally:
        assert worker.close()[0] == 0
