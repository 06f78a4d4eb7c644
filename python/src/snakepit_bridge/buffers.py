"""Binary values on the wire: buffer markers and the ``buffers`` list of a message.

A message carrying binary data has a top-level ``buffers`` list (a msgpack ``bin`` per
entry, or ``{"base64": ...}`` in JSON), and its value holds a *buffer marker* where the data
belongs (``docs/PROTOCOL.md``, "Buffers"):

* bytes: ``{"__snakepit_buffer__": k}``
* an array: ``{"__snakepit_buffer__": k, "dtype": "float64", "shape": [2, 3]}`` (C order,
  little-endian)

This module owns both directions. :func:`resolve_message` turns the markers of a received
``call`` or ``host_result`` into values: an array marker becomes a read-only
``numpy.ndarray`` viewing the received bytes (no copy; ``arr.base`` is not ``None``) when
numpy is importable, else a ``memoryview`` cast to the element format where the standard
library has one; a bytes marker becomes ``bytes``. :func:`to_marker` does the reverse for a
result, chunk or host-call argument: ``bytes``, ``bytearray``, ``memoryview`` and
``numpy.ndarray`` become markers and their bytes an entry of the message's ``buffers``.

numpy is imported only when an array is decoded, never at bridge start.
"""

from __future__ import annotations

import sys

from .errors import ProtocolError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["MARKER_KEY", "DTYPES", "resolve_message", "to_marker", "is_binary"]

#: The reserved key of a buffer marker.
MARKER_KEY = "__snakepit_buffer__"

#: The reserved key of an Arrow value (``arrow.py``).
ARROW_KEY = "__snakepit_arrow__"

#: The dtypes of the wire, with their item size and ``struct`` format (``None``: the
#: standard library has no format for it, so without numpy the value stays raw bytes).
DTYPES: dict[str, tuple[int, str | None]] = {
    "bool": (1, "?"),
    "int8": (1, "b"),
    "int16": (2, "h"),
    "int32": (4, "i"),
    "int64": (8, "q"),
    "uint8": (1, "B"),
    "uint16": (2, "H"),
    "uint32": (4, "I"),
    "uint64": (8, "Q"),
    "float16": (2, "e"),
    "bfloat16": (2, None),
    "float32": (4, "f"),
    "float64": (8, "d"),
    "complex64": (8, None),
    "complex128": (16, None),
}

_numpy: Any = None
_numpy_tried = False


def numpy_module() -> Any:
    """The numpy module, imported on first use; ``None`` when it is not installed."""
    global _numpy, _numpy_tried
    if not _numpy_tried:
        _numpy_tried = True
        try:
            import numpy

            _numpy = numpy
        except ImportError:
            _numpy = None
    return _numpy


# Decoding.


def _entry(entry: Any, index: int) -> Any:
    if isinstance(entry, (bytes, bytearray, memoryview)):
        return entry
    if type(entry) is dict and isinstance(entry.get("base64"), str):
        try:
            import base64

            return base64.b64decode(entry["base64"], validate=True)
        except ValueError as exc:
            raise ProtocolError(f"buffer {index} holds invalid base64: {exc}") from None
    raise ProtocolError(f"buffer {index} is a {type(entry).__name__}, not bytes or base64")


def _is_shm(entry: Any) -> bool:
    return type(entry) is dict and "shm" in entry


def _shared_entries(entries: list[Any]) -> list[Any]:
    """Map the memfds of a message's shared-memory descriptors (``shm.py``), in order."""
    lengths = []
    for index, entry in enumerate(entries):
        if _is_shm(entry):
            length = entry.get("len")
            if entry.get("shm") != "memfd" or type(length) is not int or length < 0:
                raise ProtocolError(f"buffer {index} is an unknown shared-memory descriptor")
            lengths.append(length)
    if not lengths:
        return []
    from . import shm

    chan = shm.channel()
    if chan is None:
        raise ProtocolError("a message names shared buffers, but this worker has no fd channel")
    return list(chan.receive_buffers(lengths))


def _array(data: Any, dtype: Any, shape: Any) -> Any:
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ProtocolError(f"a buffer marker names an unknown dtype {dtype!r}")
    if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
        raise ProtocolError(f"a buffer marker's shape {shape!r} is not a list of sizes")
    itemsize, fmt = DTYPES[dtype]
    count = 1
    for extent in shape:
        count *= extent
    if count * itemsize != len(data):
        raise ProtocolError(
            f"an array of dtype {dtype} and shape {shape} needs {count * itemsize} bytes, "
            f"but its buffer holds {len(data)}"
        )
    numpy = numpy_module()
    if numpy is not None and dtype != "bfloat16":
        from .shm import SharedMap, as_array

        if isinstance(data, SharedMap):
            # A view of the mapping itself: ``arr.base`` is the mapping.
            return as_array(data, dtype, shape)
        return numpy.frombuffer(data, dtype=numpy.dtype(dtype).newbyteorder("<")).reshape(shape)
    view: Any = memoryview(data)
    if fmt is None or sys.byteorder != "little" or count == 0:
        return view
    return view.cast("B").cast(fmt, shape)


def _decode(marker: dict[str, Any], buffers: list[Any]) -> Any:
    target = marker.get(MARKER_KEY)
    if type(target) is int:
        if not 0 <= target < len(buffers):
            raise ProtocolError(
                f"buffer marker {target} points past the {len(buffers)} buffers of the message"
            )
        data = buffers[target]
    elif type(target) is dict:
        data = _entry(target, -1)
    else:
        raise ProtocolError(f"a buffer marker points at {target!r}")
    if "dtype" in marker or "shape" in marker:
        return _array(data, marker.get("dtype"), marker.get("shape"))
    if not isinstance(data, (bytes, bytearray, memoryview)):
        # A shared mapping: a read-only view of it, not a copy.
        return memoryview(data)
    return data


def _arrow(holder: dict[str, Any], buffers: list[Any]) -> Any:
    from . import arrow

    marker = holder[arrow.ARROW_KEY]
    if type(marker) is not dict or MARKER_KEY not in marker:
        raise ProtocolError("an Arrow value does not hold a buffer marker")
    return arrow.decode(_decode(marker, buffers))


def decode_markers(value: Any, buffers: list[Any]) -> Any:
    """``value`` with every buffer marker replaced by the data it points at (and every
    Arrow value by a ``pyarrow`` batch or table, ``arrow.py``)."""
    if type(value) is dict and MARKER_KEY in value:
        return _decode(value, buffers)
    if type(value) is dict and ARROW_KEY in value:
        return _arrow(value, buffers)
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            for key, child in item.items():
                if type(child) is dict:
                    if MARKER_KEY in child:
                        item[key] = _decode(child, buffers)
                    elif ARROW_KEY in child:
                        item[key] = _arrow(child, buffers)
                    else:
                        stack.append(child)
                elif type(child) is list:
                    stack.append(child)
        elif type(item) is list:
            for position, child in enumerate(item):
                if type(child) is dict:
                    if MARKER_KEY in child:
                        item[position] = _decode(child, buffers)
                    elif ARROW_KEY in child:
                        item[position] = _arrow(child, buffers)
                    else:
                        stack.append(child)
                elif type(child) is list:
                    stack.append(child)
    return value


def resolve_message(message: dict[str, Any]) -> dict[str, Any]:
    """Take the ``buffers`` out of ``message`` and put their data where its markers are.

    Raises :class:`ProtocolError` for a bad entry or marker (the host never sends one).
    """
    entries = message.pop("buffers")
    if type(entries) is not list:
        raise ProtocolError(f"a message's buffers are a {type(entries).__name__}, not a list")
    shared = _shared_entries(entries)
    buffers = [
        shared.pop(0) if _is_shm(entry) else _entry(entry, index)
        for index, entry in enumerate(entries)
    ]
    for field in ("args", "result", "data"):
        if field in message:
            message[field] = decode_markers(message[field], buffers)
    return message


# Encoding.


def is_binary(value: Any) -> bool:
    """Whether ``value`` travels as a buffer: bytes-like, or a numpy array of a wire dtype."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return True
    numpy = sys.modules.get("numpy")
    return (
        numpy is not None
        and isinstance(value, numpy.ndarray)
        and value.dtype.name in DTYPES
        and value.dtype.kind != "V"
    )


def to_marker(value: Any, json: bool, buffers: list[Any]) -> dict[str, Any]:
    """Append the bytes of ``value`` (see :func:`is_binary`) to ``buffers`` in the form
    the encoding carries, and return the marker that points at them."""
    if isinstance(value, memoryview):
        data: Any = value.cast("B") if value.c_contiguous else value.tobytes()
        marker: dict[str, Any] = {MARKER_KEY: len(buffers)}
    elif isinstance(value, (bytes, bytearray)):
        data = value
        marker = {MARKER_KEY: len(buffers)}
    else:
        numpy = sys.modules["numpy"]
        array = value
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        if not array.flags.c_contiguous:
            array = array.copy(order="C")
        data = memoryview(array.reshape(-1).view(numpy.uint8))
        marker = {MARKER_KEY: len(buffers), "dtype": array.dtype.name, "shape": list(array.shape)}
    from .shm import stage

    # An array in shared memory (ctx.alloc_array) goes as its own memfd, not a copy.
    descriptor = stage(data, value)
    if descriptor is not None:
        buffers.append(descriptor)
        return marker
    if json:
        import base64

        buffers.append({"base64": base64.b64encode(data).decode("ascii")})
    else:
        buffers.append(data)
    return marker
