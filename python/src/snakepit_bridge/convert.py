"""Graceful encoding of tool output: convert what the wire cannot carry, or mark it.

This module owns what happens when a tool returns (or streams, or passes to a host tool) a
value that the negotiated encoding cannot carry. The fast path never comes here: a message
is first encoded as is, and only when that fails is the offending field converted by
:func:`to_wire` and encoded again. Conversions, tried in this order:

* ``bytes`` / ``bytearray`` / ``memoryview``: MessagePack ``bin``; in JSON the map
  ``{"type": "bytes", "base64": "..."}``;
* ``set``, ``frozenset``, ``tuple`` (and lists): a list; maps with non-string keys get
  string keys;
* ``Enum``: its value; ``Decimal`` and paths: ``str``; ``date``/``datetime``/``time``
  (anything with ``isoformat()``): the ISO text;
* dataclass instances: ``dataclasses.asdict``; objects with ``to_dict()`` (pandas) or
  ``tolist()`` (numpy): what those return;
* anything else: the marker ``{"__unserializable__": "module.TypeName", "repr": "..."}``.

The conversion is recursive and bounded: deeper than :data:`MAX_DEPTH` or beyond
:data:`MAX_ELEMENTS` converted values, the marker takes the value's place. It never raises.
A message that still cannot be encoded, or that exceeds the frame limit, raises
:class:`SerializationError`.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import math
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from .errors import SerializationError
from .protocol import encode

__all__ = ["MAX_DEPTH", "MAX_ELEMENTS", "SerializationError", "encode_lenient", "to_wire"]

#: How deep the conversion descends into nested containers before giving up on a value.
MAX_DEPTH = 32
#: How many values one conversion converts before marking the rest.
MAX_ELEMENTS = 100_000
#: How much of a value's ``repr`` the marker keeps.
REPR_LIMIT = 200


def _type_name(value: Any) -> str:
    kind = type(value)
    module = getattr(kind, "__module__", None) or "builtins"
    return f"{module}.{kind.__qualname__}"


def marker(value: Any) -> dict[str, str]:
    """The map that stands in for a value no conversion applies to."""
    try:
        text = repr(value)
    except Exception as exc:  # A broken __repr__ must not break the worker.
        text = f"<repr failed: {type(exc).__name__}>"
    if len(text) > REPR_LIMIT:
        text = text[: REPR_LIMIT - 3] + "..."
    return {"__unserializable__": _type_name(value), "repr": text}


class _Converter:
    __slots__ = ("json", "budget")

    def __init__(self, encoding: str) -> None:
        self.json = encoding == "json"
        self.budget = MAX_ELEMENTS

    def key(self, key: Any) -> str:
        if isinstance(key, str):
            return self.text(key)
        if isinstance(key, enum.Enum):
            key = key.value
        if isinstance(key, bytes):
            return key.decode("utf-8", "replace")
        try:
            return self.text(str(key))
        except Exception:
            return _type_name(key)

    @staticmethod
    def text(value: str) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates cannot be carried by either encoding; replace them.
            return value.encode("utf-8", "replace").decode("utf-8")
        return value

    def convert(self, value: Any, depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0 or depth > MAX_DEPTH:
            return marker(value)
        try:
            return self._convert(value, depth)
        except Exception:  # A misbehaving to_dict()/tolist()/isoformat() gets the marker.
            return marker(value)

    def _convert(self, value: Any, depth: int) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, enum.Enum):
            return self.convert(value.value, depth + 1)
        if isinstance(value, int):
            if -(2**63) <= value < 2**64:
                return int(value)
            return marker(value)
        if isinstance(value, float):
            if self.json and not math.isfinite(value):
                return marker(value)
            return float(value)
        if isinstance(value, str):
            return self.text(str(value))
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            if self.json:
                return {"type": "bytes", "base64": base64.b64encode(data).decode("ascii")}
            return data
        if isinstance(value, dict):
            return {self.key(k): self.convert(v, depth + 1) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.convert(item, depth + 1) for item in value]
        if isinstance(value, (set, frozenset)):
            items = list(value)
            try:
                items.sort()
            except TypeError:
                pass
            return [self.convert(item, depth + 1) for item in items]
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, PurePath):
            return str(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.convert(dataclasses.asdict(value), depth + 1)
        if isinstance(value, type):
            return marker(value)
        for method in ("to_dict", "tolist", "isoformat"):
            function = getattr(value, method, None)
            if callable(function):
                return self.convert(function(), depth + 1)
        return marker(value)


def to_wire(value: Any, encoding: str) -> Any:
    """Return ``value`` converted to plain data that ``encoding`` can carry; never raises."""
    return _Converter(encoding).convert(value, 0)


def encode_lenient(
    message: dict[str, Any], field: str, encoding: str, max_frame: int, what: str
) -> bytes:
    """Encode ``message``, converting ``message[field]`` with :func:`to_wire` if needed.

    ``what`` names the value in error messages (``"the result of tool 'x'"``). Raises
    :class:`SerializationError` when the message cannot be encoded even after conversion,
    or when the payload exceeds ``max_frame`` bytes.
    """
    try:
        payload = encode(message, encoding)
    except Exception:
        message = dict(message)
        message[field] = to_wire(message[field], encoding)
        try:
            payload = encode(message, encoding)
        except Exception as exc:
            raise SerializationError(
                f"{what} cannot be encoded as {encoding}: {type(exc).__name__}: {exc}"
            ) from None
    if len(payload) > max_frame:
        raise SerializationError(
            f"{what} is {len(payload)} bytes, over the maximum frame size of {max_frame} bytes"
        )
    return payload
