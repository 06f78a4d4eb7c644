"""Memfds staged for the message being encoded on this thread.

:func:`snakepit_bridge.shm.stage` puts a buffer's memfd here while a message is encoded;
the writer takes them (:func:`take_staged`) and sends them on the fd channel just before
the frame, or they are closed when the message is not sent (:func:`discard_staged`). This
module is kept apart from ``shm.py`` so that a worker that never meets a large buffer
does not import ``ctypes``, ``socket`` and ``mmap`` at start.
"""

from __future__ import annotations

import os
import threading
from typing import Any

__all__ = ["discard_staged", "push", "take_staged"]

#: One staged memfd: the fd, whether the sender owns (and must close) it, and the value
#: that keeps its memory alive until it is sent.
Staged = tuple[int, bool, Any]

_staged = threading.local()


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
