"""The benchmark floor: the cheapest possible worker that still speaks the frame format.

``python -m snakepit_bridge.floor`` reads frames from the link named by ``SNAKEPIT_FD`` (one
socket, or two pipes; or stdin and stdout when it is unset) and answers every message with
``{"kind": "result", "id": <id>, "success": true, "result": <args>}`` in the encoding the
message arrived in. A message whose ``command`` is ``chunks`` first gets ``args.n`` chunk
frames (the streaming floor). There is no handshake, no adapter and no dispatch: the host measures a
real worker's round trip against this one to see what the runtime itself costs.
It exits at end-of-file.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from .link import link_fds
from .protocol import FrameReader, ProtocolError, decode, encode, max_frame_from_env


def main() -> int:
    """Echo frames until end-of-file; returns the process exit code."""
    raw_fd = os.environ.get("SNAKEPIT_FD")
    if raw_fd:
        read_fd, write_fd = link_fds(raw_fd)
    else:
        read_fd, write_fd = 0, 1
    reader = FrameReader(lambda size: os.read(read_fd, size), max_frame_from_env())
    next_payload = reader.next_payload
    write = os.write
    try:
        while True:
            payload = next_payload()
            if payload is None:
                return 0
            encoding = "json" if payload[0] == 0x7B else "msgpack"
            message = decode(payload)
            if message.get("command") == "chunks":
                # The streaming floor: n bare chunk frames, then the result.
                send_chunks(write, write_fd, message, encoding)
            reply = encode(
                {
                    "kind": "result",
                    "id": message.get("id"),
                    "success": True,
                    "result": message.get("args"),
                },
                encoding,
            )
            data = len(reply).to_bytes(4, "big") + reply
            written = write(write_fd, data)
            while written < len(data):
                written += write(write_fd, data[written:])
    except ProtocolError as exc:
        print(f"snakepit_bridge.floor: protocol error: {exc}", file=sys.stderr)
        return 1
    except (BrokenPipeError, ConnectionResetError):
        return 0


def send_chunks(
    write: Callable[[int, bytes], int], fd: int, message: dict[str, Any], encoding: str
) -> None:
    """Write ``args.n`` small chunk frames for ``message``, as fast as the link takes them."""
    call_id = message.get("id")
    count = int((message.get("args") or {}).get("n", 0))
    for seq in range(count):
        chunk = encode({"kind": "chunk", "id": call_id, "seq": seq, "data": {"i": seq}}, encoding)
        data = len(chunk).to_bytes(4, "big") + chunk
        written = write(fd, data)
        while written < len(data):
            written += write(fd, data[written:])


if __name__ == "__main__":
    sys.exit(main())
