"""The snakepit wire protocol: frames, encodings and message kinds.

This module owns everything `docs/PROTOCOL.md` says about bytes on the link:

* a frame is a 4-byte big-endian length ``N`` followed by ``N`` payload bytes, with
  ``1 <= N <= max_frame`` (``SNAKEPIT_MAX_FRAME``, default 64 MiB);
* a payload is one message, a map with string keys, encoded as JSON (first byte ``{``)
  or MessagePack (first byte a map header: 0x80-0x8F, 0xDE or 0xDF); a receiver accepts
  both encodings on every frame and tells them apart by the first byte;
* a message's kind is its ``kind`` field, else ``call`` when it has ``command``, else
  ``result`` when it has ``success`` (the classic v0.0.1 envelope);
* a message with a top-level ``buffers`` list carries binary data: :func:`decode` puts each
  buffer where its marker is (``buffers.py``).

Any violation (a zero or oversize length, a truncated frame, a payload that does not decode
to a map) raises :class:`ProtocolError`; the reader never waits for the rest of a bad frame.
The module uses only the standard library, plus ``msgpack`` when it is importable; ``json``
is imported the first time a JSON payload is encoded or decoded.
"""

from __future__ import annotations

import os

from .errors import DepthLimitExceeded, ProtocolError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Union

    Buffer = Union[bytes, bytearray, memoryview]

try:  # MessagePack is optional: without it the bridge speaks JSON only.
    import msgpack as _msgpack
except ImportError:  # pragma: no cover - exercised by the stdlib-only interpreter check.
    _msgpack = None

__all__ = [
    "DEFAULT_MAX_FRAME",
    "HAS_MSGPACK",
    "ProtocolError",
    "FrameReader",
    "available_encodings",
    "decode",
    "detect_encoding",
    "encode",
    "encode_frame",
    "frame",
    "max_frame_from_env",
    "message_kind",
    "read_message",
]

#: The frame size limit when ``SNAKEPIT_MAX_FRAME`` is not set: 64 MiB.
DEFAULT_MAX_FRAME = 64 * 1024 * 1024

#: Whether the ``msgpack`` package is importable in this interpreter.
HAS_MSGPACK = _msgpack is not None

#: Every message kind named in PROTOCOL.md, in both directions.
KNOWN_KINDS = frozenset(
    {
        "hello",
        "welcome",
        "call",
        "result",
        "chunk",
        "host_call",
        "host_result",
        "pong",
        "ping",
        "event",
        "cancel",
        "session_drop",
        "shutdown",
    }
)

#: Message kinds a worker ignores without logging them when no call needs them.
QUIET_KINDS = frozenset({"cancel", "host_result", "welcome", "release"})

_JSON_FIRST_BYTE = 0x7B
_READ_SIZE = 65536
_MAX_READ_SIZE = 16 * 1024 * 1024


def max_frame_from_env(environ: dict[str, str] | None = None) -> int:
    """Return the frame size limit named by ``SNAKEPIT_MAX_FRAME``, or the 64 MiB default.

    A value that is not a positive integer is ignored, because a worker must still start.
    """
    env = os.environ if environ is None else environ
    raw = env.get("SNAKEPIT_MAX_FRAME")
    if not raw:
        return DEFAULT_MAX_FRAME
    try:
        value = int(raw)
    except ValueError:
        return DEFAULT_MAX_FRAME
    # The length prefix is a u32, so nothing above 0xFFFFFFFF can ever be framed.
    return value if 0 < value <= 0xFFFFFFFF else DEFAULT_MAX_FRAME


def available_encodings() -> list[str]:
    """Return the encodings this interpreter can speak, preferred first."""
    return ["msgpack", "json"] if HAS_MSGPACK else ["json"]


# Encoding.

if _msgpack is not None:
    # A persistent packer avoids building one per message; it resets itself after an error.
    _packer = _msgpack.Packer(use_bin_type=True)
    _pack: Callable[[Any], bytes] | None = _packer.pack
    _unpackb: Callable[..., Any] | None = _msgpack.unpackb
    _StackError: type[Exception] = _msgpack.exceptions.StackError
else:  # pragma: no cover - exercised by the stdlib-only interpreter check.
    _pack = None
    _unpackb = None
    _StackError = RecursionError

#: The JSON encoder, made on first use: a worker that speaks msgpack never imports ``json``
#: (nor the ``re`` it imports), which its start would pay for.
_json_encode: Callable[[Any], str] | None = None


def _json_encoder() -> Callable[[Any], str]:
    global _json_encode
    if _json_encode is None:
        import json

        encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        _json_encode = encoder.encode
    return _json_encode


def encode(message: Any, encoding: str = "json") -> bytes:
    """Encode one message as a payload (no length prefix) in ``encoding``.

    Raises ``TypeError``, ``ValueError`` or ``OverflowError`` when the value cannot be encoded
    (for example an arbitrary object, NaN in JSON, or an integer that does not fit 64 bits);
    callers that encode user data turn those into error results.
    """
    if encoding == "msgpack":
        if _pack is None:
            raise ProtocolError("msgpack encoding requested but the msgpack package is missing")
        return _pack(message)
    if encoding == "json":
        return (_json_encode or _json_encoder())(message).encode("utf-8")
    raise ProtocolError(f"unknown encoding {encoding!r}")


def own_encoder(encoding: str) -> Callable[[Any], bytes] | None:
    """A msgpack encoder of the calling thread's own (a persistent packer nobody else
    uses), for a thread that encodes often; ``None`` for any other encoding, or without
    msgpack, when :func:`encode` should be used."""
    if encoding != "msgpack" or _msgpack is None:
        return None
    return _msgpack.Packer(use_bin_type=True).pack  # type: ignore[no-any-return]


def share_encoders() -> None:
    """Make :func:`encode` safe to call from several threads at once.

    The persistent msgpack packer keeps state between calls, so each thread gets its own.
    """
    global _pack
    if _msgpack is None:  # pragma: no cover - exercised by the stdlib-only interpreter check.
        return
    import threading

    msgpack_module = _msgpack
    local = threading.local()

    def pack(message: Any) -> bytes:
        packer = getattr(local, "packer", None)
        if packer is None:
            packer = local.packer = msgpack_module.Packer(use_bin_type=True)
        return packer.pack(message)  # type: ignore[no-any-return]

    _pack = pack


def frame(payload: Buffer) -> bytes:
    """Prefix ``payload`` with its 4-byte big-endian length."""
    return len(payload).to_bytes(4, "big") + bytes(payload)


def encode_frame(message: Any, encoding: str = "json") -> bytes:
    """Encode one message and frame it, ready to be written to the link."""
    payload = encode(message, encoding)
    return len(payload).to_bytes(4, "big") + payload


# Decoding.


def detect_encoding(payload: Buffer) -> str:
    """Name the encoding of ``payload`` from its first byte, as PROTOCOL.md defines it."""
    if not payload:
        raise ProtocolError("empty payload")
    first = payload[0]
    if first == _JSON_FIRST_BYTE:
        return "json"
    if 0x80 <= first <= 0x8F or first == 0xDE or first == 0xDF:
        return "msgpack"
    raise ProtocolError(f"payload starts with byte 0x{first:02x}, which is neither JSON nor a map")


def decode(payload: Buffer) -> dict[str, Any]:
    """Decode one payload (either encoding) into a message map.

    Raises :class:`ProtocolError` for anything that is not a well-formed map, and
    :class:`~snakepit_bridge.errors.DepthLimitExceeded` for a payload nested deeper than the
    decoder goes (the frame itself may be fine; see ``depth.scan_envelope``).
    """
    if not payload:
        raise ProtocolError("empty payload")
    first = payload[0]
    if first == _JSON_FIRST_BYTE:
        import json

        try:
            message = json.loads(bytes(payload).decode("utf-8"))
        except RecursionError:
            raise DepthLimitExceeded(
                "the JSON payload nests deeper than the decoder can go"
            ) from None
        except ValueError as exc:
            raise ProtocolError(f"invalid JSON payload: {exc}") from None
    elif 0x80 <= first <= 0x8F or first == 0xDE or first == 0xDF:
        if _unpackb is None:
            raise ProtocolError("received a msgpack payload but the msgpack package is missing")
        try:
            message = _unpackb(payload, raw=False, strict_map_key=False)
        except _StackError:
            raise DepthLimitExceeded(
                "the msgpack payload nests deeper than the decoder can go"
            ) from None
        except Exception as exc:  # msgpack raises many unrelated types for bad input.
            raise ProtocolError(f"invalid msgpack payload: {type(exc).__name__}: {exc}") from None
    else:
        raise ProtocolError(
            f"payload starts with byte 0x{first:02x}, which is neither JSON nor a map"
        )
    if type(message) is not dict:
        raise ProtocolError(f"message is a {type(message).__name__}, not a map")
    if "buffers" in message:
        from .buffers import resolve_message

        return resolve_message(message)
    if "release" in message:
        # The host released memfds this worker sent (``recycle.py``): handled here, where
        # every frame passes once, whichever loop reads it.
        from .recycle import release

        release(message.pop("release"))
    return message


def message_kind(message: dict[str, Any]) -> str | None:
    """Classify a message: its ``kind``, else ``call`` or ``result`` for classic envelopes."""
    kind = message.get("kind")
    if kind is not None:
        return kind if isinstance(kind, str) else None
    if "command" in message:
        return "call"
    if "success" in message:
        return "result"
    return None


# Reading frames from a byte source.


class FrameReader:
    """Split a byte source into frame payloads, buffering whatever a read returns.

    ``read(n)`` must return up to ``n`` bytes and ``b""`` at end-of-file, like ``os.read``
    bound to a descriptor or ``io.BufferedReader.read1``. One read usually holds a whole
    frame (or several), so the common case costs one system call per frame.
    """

    __slots__ = ("_read", "_buf", "_pos", "max_frame", "eof")

    def __init__(self, read: Callable[[int], bytes], max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._read = read
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self.max_frame = max_frame
        #: True once the source reported end-of-file.
        self.eof = False

    def buffered(self) -> int:
        """Return how many unparsed bytes are waiting in the buffer."""
        return len(self._buf) - self._pos

    def next_buffered(self) -> Buffer | None:
        """Return the next complete payload already in the buffer, or ``None``.

        Raises :class:`ProtocolError` as soon as a header announces an invalid length.
        """
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail < 4:
            return None
        length = int.from_bytes(buf[pos : pos + 4], "big")
        if length == 0:
            raise ProtocolError("frame has zero length")
        if length > self.max_frame:
            raise ProtocolError(
                f"frame of {length} bytes exceeds the maximum of {self.max_frame} bytes"
            )
        end = pos + 4 + length
        if len(buf) < end:
            return None
        payload = buf[pos + 4 : end]
        if end == len(buf):
            self._buf = b""
            self._pos = 0
        else:
            self._pos = end
        return payload

    def fill(self) -> bool:
        """Read once from the source into the buffer; return ``False`` at end-of-file.

        Raises :class:`ProtocolError` when end-of-file cuts a frame short.
        """
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        want = _READ_SIZE
        if avail >= 4:
            # The header is known, so ask for the rest of the frame in as few reads as possible.
            missing = 4 + int.from_bytes(buf[pos : pos + 4], "big") - avail
            want = min(max(want, missing), _MAX_READ_SIZE)
        data = self._read(want)
        if not data:
            self.eof = True
            if avail:
                raise ProtocolError(f"end of input inside a frame ({avail} bytes buffered)")
            return False
        if avail == 0:
            self._buf = data
            self._pos = 0
        elif isinstance(buf, bytearray):
            # Compact now and then so a long partial frame does not keep consumed bytes alive.
            if pos > 0:
                del buf[:pos]
                self._pos = 0
            buf += data
        else:
            grown = bytearray(memoryview(buf)[pos:])
            grown += data
            self._buf = grown
            self._pos = 0
        return True

    def next_payload(self) -> Buffer | None:
        """Block until a whole payload is available and return it; ``None`` at a clean EOF."""
        while True:
            payload = self.next_buffered()
            if payload is not None:
                return payload
            if not self.fill():
                return None

    def next_message(self) -> dict[str, Any] | None:
        """Block until a whole message is available and decode it; ``None`` at a clean EOF."""
        payload = self.next_payload()
        return None if payload is None else decode(payload)


def read_message(
    read: Callable[[int], bytes], max_frame: int = DEFAULT_MAX_FRAME
) -> dict[str, Any] | None:
    """Read exactly one message from a fresh source (a convenience for tools and tests)."""
    return FrameReader(read, max_frame).next_message()
