"""Tests of the frame format and the two encodings against the shared example frames."""

from __future__ import annotations

import io
import json
import math
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from snakepit_bridge import protocol
from snakepit_bridge.protocol import (
    DEFAULT_MAX_FRAME,
    FrameReader,
    ProtocolError,
    decode,
    detect_encoding,
    encode,
    encode_frame,
    message_kind,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "protocol" / "examples"
VALID = sorted((EXAMPLES / "valid").glob("*.json"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.hex"))

#: Both encodings: msgpack is installed by scripts/test.sh, so its cases fail without it.
ENCODINGS = ["json", "msgpack"]


def kind_from_file_name(path: Path) -> str:
    """The longest known kind that the file name starts with (``host_call_x`` → host_call)."""
    stem = path.stem
    candidates = [
        kind for kind in protocol.KNOWN_KINDS if stem == kind or stem.startswith(kind + "_")
    ]
    assert candidates, f"{path.name} does not start with a known kind"
    return max(candidates, key=len)


def read_all(data: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> list[dict[str, Any]]:
    reader = FrameReader(io.BytesIO(data).read, max_frame)
    messages = []
    while True:
        message = reader.next_message()
        if message is None:
            return messages
        messages.append(message)


def test_examples_exist() -> None:
    assert len(VALID) >= 10
    assert len(INVALID) >= 5


def test_msgpack_is_installed_for_development() -> None:
    # scripts/test.sh installs msgpack; without it this fails (it must never be skipped),
    # and so do the msgpack cases below.
    import msgpack

    assert msgpack.version >= (1, 0)
    assert protocol.HAS_MSGPACK
    assert protocol.available_encodings() == ["msgpack", "json"]


@pytest.mark.parametrize("path", VALID, ids=lambda path: path.name)
def test_valid_example_decodes_and_classifies(path: Path) -> None:
    raw = path.read_bytes().strip()
    message = decode(raw)
    assert message == json.loads(raw)
    assert message_kind(message) == kind_from_file_name(path)
    assert detect_encoding(raw) == "json"


@pytest.mark.parametrize("path", VALID, ids=lambda path: path.name)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_valid_example_round_trips(path: Path, encoding: str) -> None:
    message = json.loads(path.read_bytes())
    payload = encode(message, encoding)
    assert detect_encoding(payload) == encoding
    assert decode(payload) == message
    assert read_all(encode_frame(message, encoding)) == [message]


def test_kind_from_file_name_takes_the_longest_match() -> None:
    assert kind_from_file_name(Path("result_classic_ok.json")) == "result"
    assert kind_from_file_name(Path("call_classic.json")) == "call"
    assert kind_from_file_name(Path("host_call.json")) == "host_call"
    assert kind_from_file_name(Path("host_result.json")) == "host_result"
    assert kind_from_file_name(Path("session_drop.json")) == "session_drop"


@pytest.mark.parametrize("path", INVALID, ids=lambda path: path.name)
def test_invalid_example_is_rejected_promptly(path: Path) -> None:
    data = bytes.fromhex(path.read_text().strip())
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            read_all(data)
        except BaseException as exc:  # The test inspects whatever was raised.
            outcome["error"] = exc

    # A thread with a deadline turns a hang into a clear failure instead of a stuck suite.
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=5.0)
    assert not thread.is_alive(), f"{path.name} made the reader hang"
    assert isinstance(outcome.get("error"), ProtocolError), outcome


def test_message_kind_rules() -> None:
    assert message_kind({"kind": "ping", "id": 1}) == "ping"
    assert message_kind({"id": 1, "command": "x"}) == "call"
    assert message_kind({"id": 1, "success": True}) == "result"
    assert message_kind({"id": 1}) is None
    assert message_kind({"kind": 5}) is None


def test_decode_rejects_non_maps_and_bad_bytes() -> None:
    for payload in [b"", b"[1]", b"7", b"{", b"{}x", b"\xff", b"\x91\x01", b'{"a": NaNx}']:
        with pytest.raises(ProtocolError):
            decode(payload)


def test_reader_rejects_zero_and_oversize_lengths() -> None:
    with pytest.raises(ProtocolError, match="zero"):
        read_all(b"\x00\x00\x00\x00")
    with pytest.raises(ProtocolError, match="exceeds"):
        read_all(encode_frame({"a": "x" * 100}), max_frame=50)


def test_reader_handles_several_frames_per_read_and_split_reads() -> None:
    messages = [{"kind": "ping", "id": index} for index in range(1, 50)]
    data = b"".join(encode_frame(message) for message in messages)
    assert read_all(data) == messages

    # A source that hands out one byte at a time exercises every partial-frame path.
    source = io.BytesIO(data)
    reader = FrameReader(lambda size: source.read(1))
    assert [reader.next_message() for _ in messages] == messages
    assert reader.next_message() is None


def test_reader_assembles_a_large_frame() -> None:
    message = {"blob": "y" * (3 * 1024 * 1024)}
    source = io.BytesIO(encode_frame(message))
    reader = FrameReader(lambda size: source.read(min(size, 100_000)))
    assert reader.next_message() == message


def test_encode_refuses_what_the_wire_cannot_carry() -> None:
    with pytest.raises((TypeError, ValueError)):
        encode({"x": object()}, "json")
    with pytest.raises(ValueError):
        encode({"x": math.nan}, "json")
    with pytest.raises(ProtocolError):
        encode({}, "yaml")


def test_encode_msgpack_refuses_objects() -> None:
    with pytest.raises((TypeError, ValueError)):
        encode({"x": object()}, "msgpack")
    # The persistent packer must still work after a failure.
    assert decode(encode({"x": 1}, "msgpack")) == {"x": 1}


def test_max_frame_from_env() -> None:
    assert protocol.max_frame_from_env({}) == DEFAULT_MAX_FRAME
    assert protocol.max_frame_from_env({"SNAKEPIT_MAX_FRAME": "1024"}) == 1024
    assert protocol.max_frame_from_env({"SNAKEPIT_MAX_FRAME": "nope"}) == DEFAULT_MAX_FRAME
    assert protocol.max_frame_from_env({"SNAKEPIT_MAX_FRAME": "0"}) == DEFAULT_MAX_FRAME


# Randomized round trips, reproducible through a fixed seed.


def random_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(9 if depth < 4 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.random() < 0.5
    if choice == 2:
        return rng.randrange(-(2**63), 2**64)
    if choice == 3:
        return rng.uniform(-1e12, 1e12)
    if choice == 4:
        alphabet = 'abcxyz é✓𝄞"\\\n\t{}[]'
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
    if choice == 5:
        return rng.randrange(0, 300)
    if choice in (6, 7):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return random_map(rng, depth + 1)


def random_map(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    return {f"k{rng.randrange(1000)}": random_value(rng, depth) for _ in range(rng.randrange(6))}


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_random_round_trips(encoding: str) -> None:
    rng = random.Random(20240611)
    messages = [random_map(rng) for _ in range(300)]
    data = b"".join(encode_frame(message, encoding) for message in messages)
    assert read_all(data) == messages


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_truncation_at_every_offset_is_a_protocol_error(encoding: str) -> None:
    for path in VALID:
        data = encode_frame(json.loads(path.read_bytes()), encoding)
        for cut in range(1, len(data)):
            with pytest.raises(ProtocolError):
                read_all(data[:cut])
        # The empty stream is a clean end-of-file, not an error.
        assert read_all(b"") == []


def test_mixed_encodings_on_one_stream() -> None:
    encodings = ENCODINGS
    messages = [{"kind": "ping", "id": index} for index in range(10)]
    data = b"".join(
        encode_frame(message, encodings[index % len(encodings)])
        for index, message in enumerate(messages)
    )
    assert read_all(data) == messages
