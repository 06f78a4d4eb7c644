"""Encoding tool output: convert what the wire cannot carry as is, or fail the call clearly.

This module owns what happens when a tool returns (or streams, or passes to a host tool) a
value. The fast path encodes the message as is. Only when that fails is the value converted
by :func:`to_wire` and encoded again. Conversions, tried in this order:

* ``bytes`` / ``bytearray`` / ``memoryview`` and ``numpy.ndarray`` (of a wire dtype): a
  buffer marker, their bytes an entry of the message's ``buffers`` (``buffers.py``); without
  a ``buffers`` list to fill, bytes are a MessagePack ``bin``, in JSON the map
  ``{"type": "bytes", "base64": "..."}``;
* ``set``, ``frozenset``, ``tuple`` (and lists): a list; maps with non-string keys get
  string keys;
* ``Enum``: its value; ``Decimal`` and paths: ``str``; ``date``/``datetime``/``time``
  (anything with ``isoformat()``): the ISO text;
* dataclass instances: ``dataclasses.asdict``; numpy dtypes: their name (``"int64"``);
  objects with ``to_dict()`` (pandas) or ``tolist()`` (numpy arrays and scalars): what
  those return.

Nothing is ever silently replaced or cut: a value no rule converts (an arbitrary object,
NaN in JSON, an integer beyond 64 bits) raises :class:`SerializationError` naming its type,
a value nested deeper than ``MAX_DEPTH`` (``docs/PROTOCOL.md``, "Depth limit") raises
:class:`DepthLimitExceeded`, and so does a message over the frame limit (the former). The
conversion uses an explicit stack, so no value can exhaust Python's recursion limit.
"""

from __future__ import annotations

import math
import sys

from .arrow import ARROW_KEY, is_arrow
from .arrow import encode as encode_arrow
from .buffers import is_binary, to_marker
from .depth import MAX_DEPTH, exceeds, may_exceed
from .errors import DepthLimitExceeded, SerializationError
from .protocol import encode
from .staging import discard_staged, shared_from

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["MAX_DEPTH", "SerializationError", "encode_lenient", "encode_plain", "to_wire"]

#: How much of a value's ``repr`` an error message quotes.
REPR_LIMIT = 80

#: How many conversions (an enum's value, a to_dict() ...) one value may go through.
_MAX_REPLACEMENTS = 16


def _type_name(value: Any) -> str:
    kind = type(value)
    module = getattr(kind, "__module__", None) or "builtins"
    return f"{module}.{kind.__qualname__}"


def _describe(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # A broken __repr__ must not break the worker.
        text = f"<repr failed: {type(exc).__name__}>"
    if len(text) > REPR_LIMIT:
        text = text[: REPR_LIMIT - 3] + "..."
    return f"a {_type_name(value)} ({text})"


def _text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates cannot be carried by either encoding; replace them.
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


_NOT_SCALAR = object()


class _Unconvertible(Exception):
    """Internal: ``args[0]`` is a value no rule converts."""


def _key(key: Any) -> str:
    if isinstance(key, str):
        return _text(key)
    enum = sys.modules.get("enum")
    if enum is not None and isinstance(key, enum.Enum):
        key = key.value
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    try:
        return _text(str(key))
    except Exception:
        return _type_name(key)


def _scalar(value: Any, json: bool, buffers: list[Any] | None = None) -> Any:
    """The wire form of a scalar, or ``_NOT_SCALAR``; raises :class:`_Unconvertible` for a
    scalar the wire cannot carry."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if -(2**63) <= value < 2**64:
            return int(value)
        raise _Unconvertible(value, "an integer beyond 64 bits")
    if isinstance(value, float):
        if json and not math.isfinite(value):
            raise _Unconvertible(value, "a non-finite float, which JSON cannot carry")
        return float(value)
    if isinstance(value, str):
        return _text(str(value))
    if buffers is not None and is_binary(value):
        return to_marker(value, json, buffers)
    if buffers is not None and is_arrow(value):
        return {ARROW_KEY: to_marker(encode_arrow(value), json, buffers)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if json:
            import base64

            return {"type": "bytes", "base64": base64.b64encode(data).decode("ascii")}
        return data
    if _is_decimal_or_path(value):
        return str(value)
    return _NOT_SCALAR


def _is_decimal_or_path(value: Any) -> bool:
    # A Decimal or a path exists only once its module is imported: looking the classes up
    # in sys.modules spares every worker importing decimal and pathlib at start.
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(value, decimal.Decimal):
        return True
    pathlib = sys.modules.get("pathlib")
    return pathlib is not None and isinstance(value, pathlib.PurePath)


def _children(value: Any) -> tuple[Any, list[tuple[Any, Any]]] | None:
    """For a container-like value: its empty wire container and ``(slot, child)`` pairs."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        pairs = [(_key(key), item) for key, item in value.items()]
        for slot, _ in pairs:
            out[slot] = None
        return out, pairs
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if isinstance(value, (set, frozenset)):
            try:
                items.sort()
            except TypeError:
                pass
        return [None] * len(items), list(enumerate(items))
    return None


def _replacement(value: Any) -> Any:
    """What a value stands for when it is not plain data, or raise :class:`_Unconvertible`."""
    # A module not imported yet has no instances: an enum (or a dataclass) exists only once
    # its module is, so a worker never imports either just to rule them out.
    enum = sys.modules.get("enum")
    if enum is not None and isinstance(value, enum.Enum):
        return value.value
    dataclasses = sys.modules.get("dataclasses")
    if dataclasses is not None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if any(kind.__name__ == "dtype" and kind.__module__ == "numpy" for kind in type(value).__mro__):
        return str(value)  # numpy dtypes (pandas' df.dtypes holds them): "int64", ...
    if not isinstance(value, type):
        for method in ("to_dict", "tolist", "isoformat"):
            function = getattr(value, method, None)
            if callable(function):
                try:
                    return function()
                except Exception as exc:
                    raise _Unconvertible(value, f"its {method}() raised {exc!r}") from None
    raise _Unconvertible(value, None)


def to_wire(
    value: Any, encoding: str, max_values: int = 1 << 26, buffers: list[Any] | None = None
) -> Any:
    """Return ``value`` converted to plain data that ``encoding`` can carry.

    With a ``buffers`` list, binary values (bytes-like, numpy arrays) become buffer markers
    and their bytes are appended to it: the caller sends it as the message's ``buffers``.

    Raises :class:`SerializationError` for a value no rule converts (or more than
    ``max_values`` values, which could never fit a frame), and
    :class:`~snakepit_bridge.errors.DepthLimitExceeded` for one nested deeper than
    ``MAX_DEPTH`` levels (a cycle included).
    """
    json = encoding == "json"
    root: list[Any] = [None]
    # (value, the container its wire form goes in, the slot there, its level)
    stack: list[tuple[Any, Any, Any, int]] = [(value, root, 0, 1)]
    budget = max_values
    try:
        while stack:
            item, parent, slot, level = stack.pop()
            budget -= 1
            if budget < 0:
                raise SerializationError(f"more than {max_values} values to convert")
            shape = None
            for _ in range(_MAX_REPLACEMENTS):
                if not isinstance(item, (dict, list, tuple)):
                    scalar = _scalar(item, json, buffers)
                    if scalar is not _NOT_SCALAR:
                        parent[slot] = scalar
                        break
                shape = _children(item)
                if shape is not None:
                    break
                item = _replacement(item)
            else:
                raise _Unconvertible(item, "its conversions never end in plain data")
            if shape is None:
                continue
            container, pairs = shape
            if level > MAX_DEPTH:
                raise DepthLimitExceeded(
                    f"nests deeper than the limit of {MAX_DEPTH} levels (MAX_DEPTH)"
                )
            parent[slot] = container
            for child_slot, child in pairs:
                kind = type(child)
                if (
                    child is None
                    or kind is bool
                    or (kind is int and -(2**63) <= child < 2**64)
                    or (kind is float and (not json or math.isfinite(child)))
                ):
                    container[child_slot] = child
                else:
                    stack.append((child, container, child_slot, level + 1))
    except _Unconvertible as exc:
        bad, reason = exc.args
        raise SerializationError(
            f"holds {_describe(bad)}, {reason or 'which no conversion rule turns into data'}"
        ) from None
    return root[0]


def holds_large_bytes(value: Any) -> bool:
    """Whether ``value``, or one of the first 64 values of the list or map it is, is
    ``bytes``-like of at least the shared-memory threshold: msgpack would write it inline,
    so a payload that large is converted instead (its buffers then go in shared memory).
    The look is shallow and bounded: it runs on every payload over the threshold, and a
    long list of numbers must not pay for it."""
    limit = shared_from()
    kinds = (bytes, bytearray, memoryview)
    if isinstance(value, kinds):
        return len(value) >= limit
    if isinstance(value, dict):
        children: Any = value.values()
    elif isinstance(value, (list, tuple)):
        children = value
    else:
        return False
    for index, child in enumerate(children):
        if index == _SHALLOW:
            return False
        if isinstance(child, kinds) and len(child) >= limit:
            return True
    return False


#: How many values of a list or map :func:`holds_large_bytes` looks at.
_SHALLOW = 64


def encode_plain(
    message: dict[str, Any], field: str, encoding: str, max_frame: int
) -> bytes | None:
    """The payload of ``message`` when it encodes as it is and within every limit, else
    ``None`` (then :func:`encode_lenient` converts it or says why it cannot be sent)."""
    try:
        payload = encode(message, encoding)
    except Exception:
        return None
    if len(payload) >= shared_from() and holds_large_bytes(message[field]):
        return None
    if len(payload) > MAX_DEPTH and (
        len(payload) > max_frame or (may_exceed(payload) and exceeds(message[field]))
    ):
        return None
    return payload


def encode_lenient(
    message: dict[str, Any], field: str, encoding: str, max_frame: int, what: str
) -> bytes:
    """Encode ``message``, converting ``message[field]`` with :func:`to_wire` if needed.

    ``what`` names the value in error messages (``"the result of tool 'x'"``). Raises
    :class:`SerializationError` when the value cannot be carried even after conversion or
    the payload exceeds ``max_frame`` bytes, and
    :class:`~snakepit_bridge.errors.DepthLimitExceeded` when it nests deeper than
    ``MAX_DEPTH`` levels. Nothing is written in either case.
    """
    try:
        payload = encode(message, encoding)
    except Exception:
        payload = None
    if payload is not None:
        if may_exceed(payload) and exceeds(message[field]):
            raise DepthLimitExceeded(
                f"{what} nests deeper than the limit of {MAX_DEPTH} levels (MAX_DEPTH)"
            )
        if len(payload) >= shared_from() and holds_large_bytes(message[field]):
            # msgpack carried the bytes inline; convert them so they go in shared memory.
            payload = None
    if payload is None:
        converted = dict(message)
        buffers: list[Any] = []
        try:
            converted[field] = to_wire(message[field], encoding, max_frame, buffers)
        except (SerializationError, DepthLimitExceeded) as exc:
            discard_staged()
            raise type(exc)(f"{what} {exc}") from None
        if buffers:
            converted["buffers"] = buffers
        try:
            payload = encode(converted, encoding)
        except Exception as exc:
            discard_staged()
            raise SerializationError(
                f"{what} cannot be encoded as {encoding}: {type(exc).__name__}: {exc}"
            ) from None
    if len(payload) > max_frame:
        discard_staged()
        raise SerializationError(
            f"{what} is {len(payload)} bytes, over the maximum frame size of {max_frame} bytes"
        )
    return payload
