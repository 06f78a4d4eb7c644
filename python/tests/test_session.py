"""Per-session state on the worker (``ctx.session``) and ``session_drop``, end to end."""

from __future__ import annotations

from harness import Worker


def test_session_state_persists_across_calls(worker: Worker) -> None:
    reply = worker.call("remember", {"key": "model", "value": "gpt"}, session_id="a")
    assert reply["result"] == "a"
    worker.call("remember", {"key": "n", "value": 1}, session_id="a")
    assert worker.call("recall", {"key": "model"}, session_id="a")["result"] == "gpt"
    assert worker.call("session_keys", session_id="a")["result"] == ["model", "n"]


def test_sessions_are_separate(worker: Worker) -> None:
    worker.call("remember", {"key": "k", "value": "for a"}, session_id="a")
    worker.call("remember", {"key": "k", "value": "for b"}, session_id="b")
    assert worker.call("recall", {"key": "k"}, session_id="a")["result"] == "for a"
    assert worker.call("recall", {"key": "k"}, session_id="b")["result"] == "for b"


def test_calls_without_a_session_share_nothing(worker: Worker) -> None:
    assert worker.call("remember", {"key": "k", "value": 1})["result"] is None
    assert worker.call("recall", {"key": "k"})["result"] is None
    assert worker.call("session_keys")["result"] == []


def test_session_drop_forgets_the_state(worker: Worker) -> None:
    worker.call("remember", {"key": "k", "value": 1}, session_id="a")
    worker.call("remember", {"key": "k", "value": 2}, session_id="b")
    worker.send({"kind": "session_drop", "session_id": "a"})
    assert worker.call("session_keys", session_id="a")["result"] == []
    assert worker.call("recall", {"key": "k"}, session_id="b")["result"] == 2
    # Dropping an unknown session is harmless.
    worker.send({"kind": "session_drop", "session_id": "never-seen"})
    assert worker.call("recall", {"key": "k"}, session_id="b")["result"] == 2


def test_session_drop_during_a_call_applies_after_it(worker: Worker) -> None:
    worker.call("remember", {"key": "k", "value": 1}, session_id="a")
    call_id = worker.start_call("sleep", {"seconds": 0.1})
    worker.send({"kind": "session_drop", "session_id": "a"})
    assert worker.recv()["id"] == call_id
    assert worker.call("session_keys", session_id="a")["result"] == []
