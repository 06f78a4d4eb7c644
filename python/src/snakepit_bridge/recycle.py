"""Recycling the worker's memfds: those lent to the host and those it has released.

A memfd the worker allocated (``shm.alloc``, ``ctx.alloc_array``) goes to the host with an
``id`` (``shm.py``) and is kept here, mapped and never written, until the host's
``release`` frame names it (``docs/PROTOCOL.md``, "Recycled memfds"). It is then free for
the next allocation of the same size, mapping and pages already in place, so a loop of
same-sized results faults no fresh pages. A released memfd something in the worker still
views is held until nothing does. At most ``SNAKEPIT_SHM_CACHE`` bytes (default 256 MiB)
of released memfds are kept.

This module imports nothing heavy: the ``release`` frame is handled where every frame is
decoded (``protocol.decode``).
"""

from __future__ import annotations

import os
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .shm import SharedMap

__all__ = ["DEFAULT_CACHE", "Recycler", "lend", "new_ident", "release", "take"]

#: How many bytes of released memfds are kept for reuse when ``SNAKEPIT_SHM_CACHE`` is not set.
DEFAULT_CACHE = 256 * 1024 * 1024


class Recycler:
    """The worker's memfds: those lent to the host (sent, not yet released) and those the
    host released, kept mapped for reuse by size."""

    def __init__(self, limit: int) -> None:
        self.lock = threading.Lock()
        self.limit = limit
        self.next_ident = 1
        #: ident -> [map, times sent and not yet released].
        self.lent: dict[int, list[Any]] = {}
        #: length -> released maps of that length, oldest first.
        self.free: dict[int, list[SharedMap]] = {}
        self.free_bytes = 0
        #: Released maps something of the worker still viewed at release (a thread's
        #: last result, say), oldest first; reused once nothing views them any more.
        self.held: list[SharedMap] = []
        self.held_bytes = 0

    def new_ident(self) -> int:
        with self.lock:
            ident = self.next_ident
            self.next_ident += 1
            return ident

    def take(self, length: int) -> SharedMap | None:
        with self.lock:
            maps = self.free.get(length)
            if maps:
                self.free_bytes -= length
                return maps.pop()
            held = self.held
            for index in range(len(held)):
                # The list's reference and getrefcount's argument: nothing else views it.
                if len(held[index]) == length and sys.getrefcount(held[index]) <= 2:
                    self.held_bytes -= length
                    return held.pop(index)
            return None

    def lend(self, shared: SharedMap) -> None:
        with self.lock:
            entry = self.lent.get(shared.ident)
            if entry is None:
                self.lent[shared.ident] = [shared, 1]
            else:
                entry[1] += 1

    def release(self, idents: list[int]) -> None:
        evicted: list[SharedMap] = []
        with self.lock:
            for ident in idents:
                entry = self.lent.get(ident)
                if entry is None:
                    continue
                entry[1] -= 1
                if entry[1] > 0:
                    continue
                del self.lent[ident]
                shared: SharedMap = entry[0]
                del entry
                if len(shared) > self.limit:
                    continue
                # Free when nothing of the worker's still views it (the local name and
                # getrefcount's argument are the only references then); held otherwise.
                if sys.getrefcount(shared) > 2:
                    self.held.append(shared)
                    self.held_bytes += len(shared)
                    while self.held_bytes > self.limit:
                        self.held_bytes -= len(self.held.pop(0))
                    continue
                self.free.setdefault(len(shared), []).append(shared)
                self.free_bytes += len(shared)
                while self.free_bytes > self.limit:
                    evicted.append(self._evict_oldest())
        for old in evicted:
            old.close()

    def _evict_oldest(self) -> SharedMap:
        length = next(iter(self.free))
        maps = self.free[length]
        shared = maps.pop(0)
        if not maps:
            del self.free[length]
        self.free_bytes -= length
        return shared


def _cache_from_env() -> int:
    raw = os.environ.get("SNAKEPIT_SHM_CACHE")
    try:
        value = int(raw) if raw else DEFAULT_CACHE
    except ValueError:
        return DEFAULT_CACHE
    return max(0, value)


_recycler = Recycler(_cache_from_env())


def release(idents: Any) -> None:
    """The host's ``release`` frame: these memfds of ours may be written again."""
    if isinstance(idents, list):
        _recycler.release([ident for ident in idents if type(ident) is int])


def take(length: int) -> SharedMap | None:
    """A released memfd of ``length`` bytes that nothing views, to reuse; ``None`` if none."""
    return _recycler.take(length)


def lend(shared: SharedMap) -> None:
    """Keep ``shared`` aside (never written) until the host releases it."""
    _recycler.lend(shared)


def new_ident() -> int:
    """A fresh name for a memfd of this worker."""
    return _recycler.new_ident()
