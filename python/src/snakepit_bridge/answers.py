"""How a worker writes a call's answer: a result, an error, or a message whose field the
wire may not carry as it is.

:class:`Answers` is a mixin of :class:`~snakepit_bridge.runtime.Runtime`; it uses the
runtime's link and, for the fast path of small results, the reading thread's own encoder.
A result that is small (below every limit: depth, frame size, shared memory) is packed and
written as it is; any other goes through the lenient encoder, which converts what the wire
cannot carry, moves large buffers to shared memory, or turns the result into an error.
"""

from __future__ import annotations

from . import telemetry
from .convert import SerializationError, encode_lenient, encode_plain
from .errors import DepthLimitExceeded, error_payload
from .staging import take_staged

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from .link import Link

__all__ = ["Answers"]

#: A msgpack ``result`` message up to its id: a map of four entries, ``"kind": "result"``,
#: then the key ``"id"``.
_RESULT_HEAD = b"\x84\xa4kind\xa6result\xa2id"
#: The same between the id and the result: ``"success": true``, then the key ``"result"``.
_RESULT_MID = b"\xa7success\xc3\xa6result"
_RESULT_FIXED = len(_RESULT_HEAD) + len(_RESULT_MID)


class Answers:
    """Writing answers to the link; mixed into the runtime."""

    link: Link
    #: Result payloads shorter than this need none of :meth:`send_result`'s checks.
    _small: int
    #: The reading thread's own encoder for :meth:`send_fast_result`, if any.
    _pack: Callable[[Any], bytes] | None

    def send_result(self, call_id: Any, command: str, result: Any, queue: bool = False) -> None:
        """Send the successful ``result`` of call ``call_id`` (of tool ``command``), or an
        error if it cannot be sent.

        ``queue``: leave a plain result in the link's queue (:meth:`Link.queue_raw`) for the
        reading thread to write with the others it makes before its next read.
        """
        telemetry.end_call()
        message = {"kind": "result", "id": call_id, "success": True, "result": result}
        link = self.link
        payload = encode_plain(message, "result", link.encoding, link.reader.max_frame)
        staged = None
        if payload is None:
            try:
                what = f"the result of tool {command!r}"
                payload = encode_lenient(message, "result", link.encoding, link.max_frame, what)
            except (SerializationError, DepthLimitExceeded) as exc:
                self.send_error(call_id, error_payload(exc))
                return
            staged = take_staged()
        if staged:
            link.write_with_fds(len(payload).to_bytes(4, "big") + payload, staged)
        elif queue:
            link.queue_raw(len(payload).to_bytes(4, "big") + payload)
        else:
            link.write_raw(len(payload).to_bytes(4, "big") + payload)

    def send_fast_result(
        self, call_id: Any, command: str, result: Any, queue: bool = False
    ) -> None:
        """:meth:`send_result` for the serving loops' fast paths, on the reading (main)
        thread, whose call set its telemetry context with ``telemetry.set_call``.

        A small result (shorter than every limit :meth:`send_result` checks: depth, shared
        memory, frame size) is packed with this thread's own encoder and written, or with
        ``queue`` queued, as it is; anything else goes through :meth:`send_result`.
        """
        if telemetry.buffered:
            telemetry.flush()
        telemetry.set_call(None)
        pack = self._pack
        if pack is None:
            self.send_result(call_id, command, result, queue)
            return
        try:
            # The map {"kind": "result", "id": ..., "success": true, "result": ...}, its
            # constant parts packed once: only the id and the result are packed per call.
            packed_id = pack(call_id)
            packed_result = pack(result)
        except Exception:  # send_result converts it, or says why it cannot.
            self.send_result(call_id, command, result, queue)
            return
        size = _RESULT_FIXED + len(packed_id) + len(packed_result)
        link = self.link
        if size >= self._small or size > link.reader.max_frame:
            self.send_result(call_id, command, result, queue)
            return
        data = b"".join(
            (size.to_bytes(4, "big"), _RESULT_HEAD, packed_id, _RESULT_MID, packed_result)
        )
        if queue:
            link.queue_raw(data)
        else:
            link.write_raw(data)

    def send_lenient(self, message: dict[str, Any], field: str, what: str) -> None:
        """Encode and write ``message``, converting its ``field`` if the wire cannot carry it.

        ``what`` names the value in error messages. Raises
        :class:`~snakepit_bridge.errors.SerializationError` when even the converted message
        cannot be encoded or is over the frame limit; nothing is written then.
        """
        link = self.link
        payload = encode_plain(message, field, link.encoding, link.reader.max_frame)
        if payload is None:
            payload = encode_lenient(message, field, link.encoding, link.max_frame, what)
            staged = take_staged()
            if staged:
                link.write_with_fds(len(payload).to_bytes(4, "big") + payload, staged)
                return
        link.write_raw(len(payload).to_bytes(4, "big") + payload)

    def send_error(self, call_id: Any, payload: dict[str, Any]) -> None:
        """Send a failed ``result`` for ``call_id`` with the ``error`` map ``payload``."""
        telemetry.end_call()
        message = {"kind": "result", "id": call_id, "success": False, "error": payload}
        try:
            self.link.send(message)
        except (TypeError, ValueError, OverflowError):
            # Only odd exception text (a lone surrogate, say) can fail here; escape it.
            safe = {
                key: (ascii(value) if value is not None else None) for key, value in payload.items()
            }
            message["error"] = safe
            self.link.send(message)
