"""Binary values: buffer markers decode to numpy views (or memoryviews), bytes-like values
and numpy arrays encode to markers and buffers, bad markers are protocol errors, and numpy
is not imported until an array is involved."""

from __future__ import annotations

import base64
import subprocess
import sys
from typing import Any

import numpy
import pytest
from harness import Worker, worker_env

from snakepit_bridge import buffers
from snakepit_bridge.convert import encode_lenient, to_wire
from snakepit_bridge.errors import ProtocolError
from snakepit_bridge.protocol import decode, encode

MARKER = buffers.MARKER_KEY
ENCODINGS = ["json", "msgpack"]
BINARY_ADAPTER = "binary_adapter:BinaryAdapter"


def entry(data: bytes, encoding: str) -> Any:
    return {"base64": base64.b64encode(data).decode()} if encoding == "json" else data


def call_with(value: Any, encoding: str, entries: list[bytes]) -> dict[str, Any]:
    message = {
        "kind": "call",
        "id": 1,
        "command": "echo",
        "args": {"value": value},
        "buffers": [entry(data, encoding) for data in entries],
    }
    return decode(encode(message, encoding))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_array_markers_decode_to_read_only_numpy_views(encoding: str) -> None:
    data = numpy.arange(6, dtype="<i4").tobytes()
    message = call_with(
        {"a": {MARKER: 0, "dtype": "int32", "shape": [2, 3]}, "b": [{MARKER: 1}]},
        encoding,
        [data, b"raw"],
    )
    assert "buffers" not in message
    array = message["args"]["value"]["a"]
    assert isinstance(array, numpy.ndarray)
    assert array.dtype == numpy.int32 and array.shape == (2, 3)
    assert array.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert array.base is not None
    assert not array.flags.writeable
    assert message["args"]["value"]["b"] == [b"raw"]


@pytest.mark.parametrize("dtype", sorted(set(buffers.DTYPES) - {"bfloat16"}))
def test_every_dtype_round_trips_exactly(dtype: str) -> None:
    rng = numpy.random.default_rng(7)
    raw = rng.integers(0, 256, size=64 * 1024, dtype=numpy.uint8)
    if dtype == "bool":
        raw &= 1
    original = raw.view(numpy.dtype(dtype).newbyteorder("<")).reshape(-1)
    for encoding in ENCODINGS:
        wire: list[Any] = []
        marker = to_wire({"x": original}, encoding, buffers=wire)
        reply = {"kind": "host_result", "result": marker, "buffers": wire}
        message = decode(encode(reply, encoding))
        back = message["result"]["x"]
        assert back.dtype == original.dtype
        assert back.tobytes() == original.tobytes()


def test_without_numpy_arrays_decode_to_memoryviews(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buffers, "_numpy", None)
    monkeypatch.setattr(buffers, "_numpy_tried", True)
    data = numpy.array([[1.5, 2.5], [3.5, 4.5]]).tobytes()
    message = call_with({MARKER: 0, "dtype": "float64", "shape": [2, 2]}, "msgpack", [data])
    view = message["args"]["value"]
    assert isinstance(view, memoryview)
    assert view.format == "d" and view.shape == (2, 2)
    assert view.tolist() == [[1.5, 2.5], [3.5, 4.5]]
    complex_data = numpy.array([1j], dtype="<c16").tobytes()
    raw = call_with({MARKER: 0, "dtype": "complex128", "shape": [1]}, "json", [complex_data])
    assert bytes(raw["args"]["value"]) == complex_data


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_results_encode_bytes_like_values_and_arrays_as_buffers(encoding: str) -> None:
    strided = numpy.arange(12, dtype=numpy.float64).reshape(3, 4)[:, ::2]
    result = {
        "bytes": b"\x00\x01",
        "bytearray": bytearray(b"ab"),
        "memoryview": memoryview(b"xyz")[::2],
        "strided": strided,
        "big_endian": numpy.array([1, 2], dtype=">u2"),
        "scalar": numpy.array(3 + 4j, dtype=numpy.complex64),
        "objects": numpy.array(["a"], dtype=object),
    }
    message = {"kind": "result", "id": 1, "success": True, "result": result}
    payload = encode_lenient(message, "result", encoding, 1 << 26, "the result")
    decoded = decode(payload)["result"]
    assert decoded["bytes"] == b"\x00\x01"
    assert decoded["bytearray"] == b"ab"
    assert decoded["memoryview"] == b"xz"
    assert decoded["strided"].tolist() == strided.tolist()
    assert decoded["big_endian"].dtype == numpy.dtype("<u2")
    assert decoded["big_endian"].tolist() == [1, 2]
    assert decoded["scalar"].shape == () and decoded["scalar"] == 3 + 4j
    # An array of a dtype the wire has no name for is converted as before (tolist).
    assert decoded["objects"] == ["a"]


@pytest.mark.parametrize(
    ("value", "entries", "reason"),
    [
        ({MARKER: 2}, [b"x"], "points past the 1 buffers"),
        ({MARKER: 0, "dtype": "float64", "shape": [2]}, [b"x" * 15], "needs 16 bytes"),
        ({MARKER: 0, "dtype": "float128", "shape": [1]}, [b"x" * 16], "unknown dtype"),
        ({MARKER: 0, "dtype": "int8", "shape": [-1]}, [b""], "not a list of sizes"),
        ({MARKER: "zero"}, [b""], "points at 'zero'"),
    ],
)
def test_bad_markers_are_protocol_errors(value: Any, entries: list[bytes], reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        call_with(value, "msgpack", entries)


def test_bad_buffer_entries_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError, match="invalid base64"):
        decode(encode({"kind": "call", "args": {}, "buffers": [{"base64": "!!"}]}, "json"))
    with pytest.raises(ProtocolError, match="not bytes or base64"):
        decode(encode({"kind": "call", "args": {}, "buffers": [3]}, "json"))
    with pytest.raises(ProtocolError, match="not a list"):
        decode(encode({"kind": "call", "args": {}, "buffers": {}}, "json"))


def test_the_bridge_does_not_import_numpy_until_an_array_arrives() -> None:
    script = (
        "import sys\n"
        "import snakepit_bridge, snakepit_bridge.runtime, snakepit_bridge.inline\n"
        "from snakepit_bridge.protocol import decode, encode\n"
        "decode(encode({'kind': 'call', 'args': {'b': {'__snakepit_buffer__': 0}},"
        " 'buffers': [b'x']}, 'msgpack'))\n"
        "before = 'numpy' in sys.modules\n"
        "decode(encode({'kind': 'call', 'args': {'__snakepit_buffer__': 0, 'dtype': 'uint8',"
        " 'shape': [1]}, 'buffers': [b'x']}, 'msgpack'))\n"
        "print(before, 'numpy' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=worker_env(), capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_real_worker_gets_views_and_answers_with_buffers(encoding: str) -> None:
    worker = Worker.adapter(
        BINARY_ADAPTER, env=worker_env(SNAKEPIT_ENCODINGS=encoding), encoding=encoding
    )
    try:
        data = numpy.arange(4, dtype="<f8").tobytes()
        array = {MARKER: 0, "dtype": "float64", "shape": [4]}
        described = worker.call("describe", {"value": array}, buffers=[entry(data, encoding)])
        assert described["result"] == {
            "type": "ndarray",
            "dtype": "float64",
            "shape": [4],
            "view": True,
            "writeable": False,
        }
        doubled = worker.call("double", {"array": array}, buffers=[entry(data, encoding)])
        assert doubled["result"].tolist() == [0.0, 2.0, 4.0, 6.0]
        chunks, result = worker.stream(
            "chunks", {"array": array, "count": 2}, buffers=[entry(data, encoding)]
        )
        assert [chunk["data"]["part"].tolist() for chunk in chunks] == [
            [0.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 2.0, 3.0],
        ]
        assert result["result"].tolist() == [0.0, 1.0, 2.0, 3.0]
    finally:
        worker.close()


def test_a_received_array_exports_through_dlpack_without_a_copy() -> None:
    data = numpy.arange(8, dtype="<f4").tobytes()
    array = call_with({MARKER: 0, "dtype": "float32", "shape": [2, 4]}, "msgpack", [data])
    view = array["args"]["value"]
    # What torch.from_dlpack / jax.dlpack.from_dlpack do, shown with numpy's own consumer.
    shared = numpy.from_dlpack(view)
    assert numpy.shares_memory(shared, view)
    assert shared.tolist() == view.tolist()
