"""The depth limit of values on the wire, checked without recursion.

This module owns ``docs/PROTOCOL.md``, "Depth limit": a value carried by a message (a
call's ``args``, a ``result``, a chunk's ``data``, a host call's ``args`` or result) may
nest at most :data:`MAX_DEPTH` lists or maps. Scalars add no level: ``1`` is 0 deep, ``[]``
and ``{}`` are 1 deep, ``[[1]]`` is 2, and ``1`` wrapped in 512 lists is the deepest value
allowed (the host's ``protocol/depth.rs`` counts the same way).

* :func:`exceeds` walks a decoded value with an explicit stack;
* :func:`may_exceed` bounds the depth of an encoded payload from its bytes at C speed, so
  the walk only runs for payloads that could be too deep;
* :func:`scan_envelope` recovers the top-level scalar fields (``kind``, ``id``, ``ref``) of a
  payload too deep for the decoders, without decoding it, so the runtime can answer that one
  message instead of treating the frame as a protocol error.
"""

from __future__ import annotations

from .errors import ProtocolError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["MAX_DEPTH", "exceeds", "may_exceed", "scan_envelope"]

#: How many lists or maps deep a value on the wire may nest.
MAX_DEPTH = 512

_CONTAINERS = (list, tuple, dict)
# Every byte that is not a MessagePack container header (fixmap, fixarray, array16/32,
# map16/32): deleting them leaves at most one byte per container.
_MSGPACK_OTHER = bytes(
    byte for byte in range(256) if not (0x80 <= byte <= 0x9F or 0xDC <= byte <= 0xDF)
)


def exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests more than ``limit`` lists, tuples or maps deep."""
    if not isinstance(value, _CONTAINERS):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop = stack.pop
    push = stack.append
    while stack:
        container, level = pop()
        if level > limit:
            return True
        child = level + 1
        for item in container.values() if isinstance(container, dict) else container:
            if isinstance(item, _CONTAINERS):
                push((item, child))
    return False


def may_exceed(payload: bytes | bytearray | memoryview, levels: int = MAX_DEPTH) -> bool:
    """Whether the message in ``payload`` could hold a value deeper than ``levels``.

    A value ``levels + 1`` deep inside a message needs ``levels + 2`` containers (the
    message map and its own), each at least one byte, so a payload with fewer container
    bytes cannot hold one. ``False`` is certain; ``True`` means walk.
    """
    if len(payload) <= levels:
        return False
    data = bytes(payload)
    if data[:1] == b"{":
        containers = data.count(b"[") + data.count(b"{")
    else:
        containers = len(data.translate(None, _MSGPACK_OTHER))
    return containers > levels


def scan_envelope(payload: bytes | bytearray | memoryview) -> dict[str, Any]:
    """The top-level scalar fields of a message map, read without decoding nested values.

    Nested values are skipped with a counter, never recursion, so any depth is fine. Raises
    :class:`ProtocolError` when the payload is not a well-formed map at its top level.
    """
    data = bytes(payload)
    if data[:1] == b"{":
        return _scan_json(data)
    return _scan_msgpack(data)


#: The JSON token pattern of :func:`_scan_json`, compiled on first use (``re`` and ``json``
#: are imported only when a JSON frame too deep to decode must be scanned).
_JSON_TOKEN: Any = None


def _json_token() -> Any:
    global _JSON_TOKEN
    if _JSON_TOKEN is None:
        import re

        _JSON_TOKEN = re.compile(
            rb'\s*(?:("(?:[^"\\]|\\.)*")|([\[{])|([\]}])|([,:])|([^\s\[\]{},:"]+))',
            re.DOTALL,
        )
    return _JSON_TOKEN


def _scan_json(data: bytes) -> dict[str, Any]:
    import json

    token = _json_token()
    fields: dict[str, Any] = {}
    depth = 0
    key: str | None = None
    expect_key = False
    position = 0
    end = len(data.rstrip())
    while position < end:
        match = token.match(data, position)
        if match is None:
            raise ProtocolError(f"invalid JSON payload at byte {position}")
        position = match.end()
        string, opening, closing, punctuation, literal = match.groups()
        if opening is not None:
            depth += 1
            if depth == 1:
                expect_key = True
            else:
                key = None
        elif closing is not None:
            depth -= 1
            if depth == 0:
                return fields
            if depth == 1:
                key = None
        elif punctuation == b",":
            if depth == 1:
                expect_key = True
        elif punctuation == b":":
            pass
        elif depth == 1:
            try:
                if expect_key and string is not None:
                    key = json.loads(string)
                    expect_key = False
                elif key is not None:
                    fields[key] = json.loads(string if string is not None else literal)
                    key = None
            except ValueError as exc:
                raise ProtocolError(f"invalid JSON in the top-level map: {exc}") from None
    raise ProtocolError("the JSON payload ends inside its top-level map")


def _msgpack_item(data: bytes, position: int) -> tuple[int, int]:
    """The size of the item at ``position`` excluding its children, and its child count."""
    try:
        first = data[position]
        if first <= 0x7F or first >= 0xE0 or first in (0xC0, 0xC2, 0xC3):
            return 1, 0
        if first <= 0x8F:
            return 1, 2 * (first & 0x0F)
        if first <= 0x9F:
            return 1, first & 0x0F
        if first <= 0xBF:
            return 1 + (first & 0x1F), 0
        fixed = _MSGPACK_FIXED.get(first)
        if fixed is not None:
            return fixed, 0
        width, extra, children = _MSGPACK_SIZED[first]
        count = int.from_bytes(data[position + 1 : position + 1 + width], "big")
        if len(data) < position + 1 + width:
            raise IndexError(position)
        if children:
            return 1 + width, count * children
        return 1 + width + extra + count, 0
    except (IndexError, KeyError):
        raise ProtocolError(f"invalid msgpack payload at byte {position}") from None


_MSGPACK_FIXED = {
    0xCA: 5, 0xCB: 9, 0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9, 0xD0: 2, 0xD1: 3, 0xD2: 5,
    0xD3: 9, 0xD4: 3, 0xD5: 4, 0xD6: 6, 0xD7: 10, 0xD8: 18,
}  # fmt: skip
# first byte -> (length width, extra header bytes, children per count; 0 for byte payloads)
_MSGPACK_SIZED = {
    0xC4: (1, 0, 0), 0xC5: (2, 0, 0), 0xC6: (4, 0, 0), 0xC7: (1, 1, 0), 0xC8: (2, 1, 0),
    0xC9: (4, 1, 0), 0xD9: (1, 0, 0), 0xDA: (2, 0, 0), 0xDB: (4, 0, 0), 0xDC: (2, 0, 1),
    0xDD: (4, 0, 1), 0xDE: (2, 0, 2), 0xDF: (4, 0, 2),
}  # fmt: skip


def _scan_msgpack(data: bytes) -> dict[str, Any]:
    import msgpack

    size, children = _msgpack_item(data, 0)
    first = data[0]
    if not (0x80 <= first <= 0x8F or first in (0xDE, 0xDF)):
        raise ProtocolError("the msgpack payload is not a map")
    fields: dict[str, Any] = {}
    position = size
    key: Any = None
    for index in range(children):
        start = position
        size, nested = _msgpack_item(data, position)
        position += size
        remaining = nested
        while remaining:
            skipped, more = _msgpack_item(data, position)
            position += skipped
            remaining += more - 1
        if position > len(data):
            raise ProtocolError("the msgpack payload ends inside its top-level map")
        if index % 2 == 0:
            key = msgpack.unpackb(data[start:position]) if not nested else None
        elif not nested and isinstance(key, str):
            fields[key] = msgpack.unpackb(data[start:position], raw=False)
    return fields
