"""Memfds staged for the message being encoded on this thread.

:func:`snakepit_bridge.shm.stage` puts a buffer's memfd here while a message is encoded;
the writer takes them (:func:`take_staged`) and sends them on the fd channel just before
the frame, or they are closed when the message is not sent (:func:`discard_staged`). This
module is kept apart from ``shm.py`` so that a worker that never meets a large buffer
does not import ``ctypes``, ``socket`` and ``mmap`` at start.
"""

from __future__ import annotations

import _thread
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    #: One staged memfd: the fd, whether the sender owns (and must close) it, and the value
    #: that keeps its memory alive until it is sent.
    Staged = tuple[int, bool, Any]

__all__ = ["discard_staged", "push", "shared_from", "take_staged"]

# `threading.local` is this class; `threading` itself is not needed by a worker of capacity 1.
_staged = _thread._local()
_shared_from: int | None = None


def shared_from() -> int:
    """The size from which a buffer goes in shared memory (``SNAKEPIT_SHM_THRESHOLD``,
    default 64 KiB), or ``sys.maxsize`` when this worker has no fd channel
    (``SNAKEPIT_SHM_FD``). Read from the environment once, without importing ``shm.py``."""
    global _shared_from
    if _shared_from is None:
        if not os.environ.get("SNAKEPIT_SHM_FD"):
            _shared_from = sys.maxsize
        else:
            raw = os.environ.get("SNAKEPIT_SHM_THRESHOLD", "")
            try:
                value = int(raw) if raw else 64 * 1024
            except ValueError:
                value = 64 * 1024
            _shared_from = value if value >= 0 else 64 * 1024
    return _shared_from


def push(entry: Staged) -> None:
    """Stage one memfd for the message being encoded on this thread."""
    pending: list[Staged] | None = getattr(_staged, "fds", None)
    if pending is None:
        pending = _staged.fds = []
    pending.append(entry)


def take_staged() -> list[Staged] | None:
    """The memfds staged on this thread for the message just encoded (and forget them)."""
    pending: list[Staged] | None = getattr(_staged, "fds", None)
    if not pending:
        return None
    _staged.fds = None
    return pending


def discard_staged() -> None:
    """Close the memfds staged for a message that will not be sent."""
    for fd, owned, _ in take_staged() or ():
        if owned:
            os.close(fd)
