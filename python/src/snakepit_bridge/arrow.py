"""Arrow record batches and tables in values (``docs/PROTOCOL.md``, "Arrow").

A record batch travels as the map ``{"__snakepit_arrow__": <bytes marker>}``: the marker's
buffer holds an Arrow IPC stream (a schema and one batch). Large streams go through shared
memory like any buffer, and the decoded batch's columns view the received memory (no copy).

:func:`decode` turns such a map into a ``pyarrow.RecordBatch`` (or a ``pyarrow.Table`` when
the stream holds several batches); :func:`is_arrow` and :func:`encode` do the reverse for a
``pyarrow.RecordBatch`` or ``pyarrow.Table`` in a result. pyarrow is imported only when an
Arrow value is met.
"""

from __future__ import annotations

import sys

from .errors import ProtocolError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ARROW_KEY", "decode", "encode", "is_arrow"]

#: The reserved key of an Arrow value.
ARROW_KEY = "__snakepit_arrow__"


def decode(data: Any) -> Any:
    """A ``pyarrow.RecordBatch`` (one batch) or ``pyarrow.Table`` read from IPC stream bytes."""
    try:
        import pyarrow
    except ImportError:
        raise ProtocolError("an Arrow value arrived, but pyarrow is not installed") from None
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"an Arrow value holds a {type(data).__name__}, not bytes")
    try:
        reader = pyarrow.ipc.open_stream(pyarrow.py_buffer(data))
        batches = list(reader)
    except pyarrow.ArrowException as exc:
        raise ProtocolError(f"an Arrow value is not a valid IPC stream: {exc}") from None
    if len(batches) == 1:
        return batches[0]
    return pyarrow.Table.from_batches(batches, schema=reader.schema)


def is_arrow(value: Any) -> bool:
    """Whether ``value`` is a ``pyarrow.RecordBatch`` or ``pyarrow.Table``."""
    pyarrow = sys.modules.get("pyarrow")
    return pyarrow is not None and isinstance(value, (pyarrow.RecordBatch, pyarrow.Table))


def encode(value: Any) -> memoryview:
    """The IPC stream bytes of a record batch, or of a table as one batch."""
    import pyarrow

    if isinstance(value, pyarrow.Table):
        batches = value.combine_chunks().to_batches()
    else:
        batches = [value]
    sink = pyarrow.BufferOutputStream()
    with pyarrow.ipc.new_stream(sink, value.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return memoryview(sink.getvalue())
