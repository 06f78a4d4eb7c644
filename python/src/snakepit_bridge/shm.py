"""Shared memory for large buffers: sealed memfds on the fd channel (``SNAKEPIT_SHM_FD``).

This module owns the worker's side of ``docs/PROTOCOL.md`` "Shared memory":

* the fd channel, a ``SOCK_SEQPACKET`` socket: a frame that names ``n`` memfd buffers is
  preceded by one packet holding a 4-byte little-endian count ``n`` and the ``n`` descriptors
  (``SCM_RIGHTS``), in the order of the frame's ``buffers``;
* receiving: each memfd is mapped read-only (``PROT_READ``) and handed out as a numpy array
  that views the mapping (``arr.base`` is the :class:`SharedMap`) or, without numpy, a
  read-only ``memoryview``. Writing into an input raises ``ValueError`` (numpy: "assignment
  destination is read-only"; memoryview: "cannot modify read-only memory"): copy it first
  (``arr.copy()``) to change it;
* sending: a buffer of at least the threshold (``SNAKEPIT_SHM_THRESHOLD``, default 64 KiB)
  goes as a memfd sealed against shrinking and growing. A numpy array allocated with
  :func:`alloc_array` (``ctx.alloc_array``) is already in a memfd and goes without a copy;
  any other buffer is copied once into a new memfd;
* recycling: an :func:`alloc_array` memfd goes with an ``id`` and is kept aside until the
  host releases it, then reused by the next :func:`alloc` of the same size
  (``recycle.py``).

The host checks every memfd it receives (sealed size equal to the declared length), so the
seals set here are what makes a buffer acceptable, not a courtesy.
"""

from __future__ import annotations

import array
import ctypes
import fcntl
import mmap
import os
import socket
import struct
import weakref
from typing import Any

from . import recycle
from .errors import ProtocolError
from .staging import discard_staged, push, take_staged

__all__ = [
    "DEFAULT_THRESHOLD",
    "MAX_FDS_PER_FRAME",
    "FdChannel",
    "SharedMap",
    "alloc",
    "alloc_array",
    "as_array",
    "channel",
    "discard_staged",
    "export",
    "stage",
    "take_staged",
    "threshold",
    "threshold_from_env",
]

#: The size from which a buffer travels in shared memory when ``SNAKEPIT_SHM_THRESHOLD`` is
#: not set: 64 KiB.
DEFAULT_THRESHOLD = 64 * 1024

#: The most descriptors one frame may carry.
MAX_FDS_PER_FRAME = 64

_SIZE_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
# Fault every page in with the mmap call itself: one batched fault-in instead of one page
# fault per 4 KiB on first touch (the largest cost of a fresh buffer; see the design note).
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)
_COUNT = struct.Struct("<I")
_SCM_MAX_FD = 253
_FD_SIZE = array.array("i").itemsize


def threshold_from_env(environ: dict[str, str] | None = None) -> int:
    """The threshold named by ``SNAKEPIT_SHM_THRESHOLD``, or the 64 KiB default."""
    env = os.environ if environ is None else environ
    raw = env.get("SNAKEPIT_SHM_THRESHOLD")
    try:
        value = int(raw) if raw else DEFAULT_THRESHOLD
    except ValueError:
        return DEFAULT_THRESHOLD
    return value if value >= 0 else DEFAULT_THRESHOLD


class SharedMap(mmap.mmap):
    """A mapping of a memfd; ``fd`` is the memfd while the mapping lives (writable maps only).

    The base of every array this module hands out, so ``arr.base`` tells whether an array
    is in shared memory.
    """

    fd: int | None = None
    writable: bool = False
    #: Where the mapping starts in memory (writable maps only).
    address: int = 0
    #: The name the host releases it by (writable maps only; see :func:`release`).
    ident: int = 0


def _memfd(length: int) -> int:
    fd = os.memfd_create("snakepit", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, length)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SIZE_SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def alloc(length: int, zeroed: bool = True) -> SharedMap:
    """A writable mapping of a memfd of ``length`` bytes (size already sealed): a released
    one of that size when there is one (zeroed again unless ``zeroed`` is false), else a
    new, zeroed one."""
    if length <= 0:
        raise ValueError("a shared buffer needs at least one byte")
    reused = recycle.take(length)
    if reused is not None:
        if zeroed:
            ctypes.memset(reused.address, 0, length)
        return reused
    fd = _memfd(length)
    try:
        shared = SharedMap(
            fd, length, flags=mmap.MAP_SHARED | _POPULATE, prot=mmap.PROT_READ | mmap.PROT_WRITE
        )
    except BaseException:
        os.close(fd)
        raise
    shared.fd = fd
    shared.writable = True
    shared.address = ctypes.addressof(ctypes.c_char.from_buffer(shared))
    shared.ident = recycle.new_ident()
    weakref.finalize(shared, os.close, fd)
    return shared


def alloc_array(shape: Any, dtype: Any = "float64", zeroed: bool = True) -> Any:
    """A numpy array in shared memory; returned from a tool it is sent without a copy.

    Requires numpy. ``arr.base`` is the :class:`SharedMap`. Zeroed unless ``zeroed`` is
    false (then, like ``numpy.empty``, it may hold an earlier result of this worker: for a
    tool that writes every element, as ``numpy.multiply(a, 2, out=arr)`` does). The tool
    must not use the array after returning it: the host reads the same memory, and once
    the host releases it the worker reuses it.
    """
    import numpy

    dt = numpy.dtype(dtype).newbyteorder("<")
    count = 1
    for extent in (shape,) if isinstance(shape, int) else shape:
        count *= int(extent)
    buffer = alloc(max(1, count * dt.itemsize), zeroed)
    return numpy.ndarray(shape, dtype=dt, buffer=buffer)


def map_readonly(fd: int, length: int) -> SharedMap | bytes:
    """Map a received memfd read-only and close the descriptor (the mapping keeps the memory).

    Mapped lazily: a tool that reads it all maps its pages as it goes (a read fault maps
    the neighbouring pages too), which measured faster than ``MAP_POPULATE`` here, and a
    tool that reads part of it pays for that part only."""
    try:
        if length == 0:
            return b""
        return SharedMap(fd, length, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    finally:
        os.close(fd)


def as_array(shared: Any, dtype: str, shape: list[int]) -> Any:
    """A numpy view of a received mapping (no copy; read-only for an input)."""
    import numpy

    dt = numpy.dtype(dtype).newbyteorder("<")
    return numpy.ndarray(tuple(shape), dtype=dt, buffer=shared)


def _shared_map_of(value: Any) -> SharedMap | None:
    """The writable :class:`SharedMap` that ``value`` (a numpy array or the map itself)
    covers whole, if it is one of ours; ``None`` otherwise."""
    if isinstance(value, SharedMap):
        return value if value.writable else None
    base = getattr(value, "base", None)
    while base is not None and not isinstance(base, SharedMap):
        base = getattr(base, "base", None)
    if base is None or not base.writable:
        return None
    interface = getattr(value, "__array_interface__", None)
    if (
        interface is None
        or not value.flags.c_contiguous
        or value.nbytes != len(base)
        or interface["data"][0] != base.address
    ):
        return None
    return base


def export(value: Any) -> tuple[dict[str, Any], int, bool]:
    """Put a buffer in a sealed memfd for sending.

    Returns the descriptor map for ``buffers``, the fd to send, and whether the fd is a new
    one the caller closes after sending (a copy) or the array's own (no copy).
    """
    shared = _shared_map_of(value)
    if shared is not None and shared.fd is not None:
        return _lend(shared), shared.fd, False
    view = memoryview(value).cast("B") if not isinstance(value, (bytes, bytearray)) else value
    length = len(view)
    fd = os.memfd_create("snakepit", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        written = 0
        mv = memoryview(view)
        while written < length:
            written += os.write(fd, mv[written:])
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SIZE_SEALS | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
    except BaseException:
        os.close(fd)
        raise
    return {"shm": "memfd", "len": length}, fd, True


def _lend(shared: SharedMap) -> dict[str, Any]:
    """The descriptor of one of our memfds about to go to the host, kept aside until the
    host releases it."""
    recycle.lend(shared)
    return {"shm": "memfd", "len": len(shared), "id": shared.ident}


class FdChannel:
    """The worker's end of the fd channel."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self.sock.setblocking(True)
        os.set_inheritable(fd, False)

    @classmethod
    def from_environment(cls) -> FdChannel | None:
        """The channel the host prepared (``SNAKEPIT_SHM_FD``), or ``None`` without one."""
        raw = os.environ.get("SNAKEPIT_SHM_FD")
        if not raw:
            return None
        try:
            return cls(int(raw))
        except (ValueError, OSError):
            return None

    def send(self, fds: list[int]) -> None:
        """Send one packet with ``fds``; call it right before the frame that names them,
        under the link's write lock."""
        if len(fds) > MAX_FDS_PER_FRAME:
            raise ProtocolError(
                f"a frame may carry at most {MAX_FDS_PER_FRAME} shared buffers, not {len(fds)}"
            )
        socket.send_fds(self.sock, [_COUNT.pack(len(fds))], fds)

    def receive(self, expected: int) -> list[int]:
        """Take the packet sent before a frame that names ``expected`` memfds.

        The host sends it before the frame, so it is already queued; a missing packet or a
        wrong count is a :class:`ProtocolError` (every descriptor received is closed).
        """
        # recvmsg rather than socket.recv_fds, which ignores its flags before Python 3.12.
        # Room for SCM_MAX_FD descriptors: a packet is never truncated, so every descriptor
        # that arrives is closed here when the packet is refused.
        try:
            data, ancillary, flags, _ = self.sock.recvmsg(
                _COUNT.size,
                socket.CMSG_SPACE(_SCM_MAX_FD * _FD_SIZE),
                socket.MSG_DONTWAIT | socket.MSG_CMSG_CLOEXEC,
            )
        except BlockingIOError:
            raise ProtocolError(
                f"a frame names {expected} shared buffers, but no descriptors came before it"
            ) from None
        fds = array.array("i")
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % _FD_SIZE])
        declared = _COUNT.unpack(data)[0] if len(data) == _COUNT.size else None
        if flags & socket.MSG_CTRUNC or declared != len(fds) or len(fds) != expected:
            for fd in fds:
                os.close(fd)
            raise ProtocolError(
                f"a frame names {expected} shared buffers, but {len(fds)} descriptors came"
            )
        return list(fds)

    def receive_buffers(self, lengths: list[int]) -> list[SharedMap | bytes]:
        """Take and map the memfds of a frame whose descriptors declare ``lengths``."""
        fds = self.receive(len(lengths))
        mapped: list[SharedMap | bytes] = []
        try:
            for index, (fd, length) in enumerate(zip(fds, lengths)):
                fds[index] = -1
                mapped.append(map_readonly(fd, length))
        finally:
            for fd in fds:
                if fd >= 0:
                    os.close(fd)
        return mapped


# The worker's channel and threshold, read from the environment once.

_channel: FdChannel | None = None
_channel_opened = False
_threshold: int | None = None


def channel() -> FdChannel | None:
    """The worker's fd channel (``SNAKEPIT_SHM_FD``), opened on first use; ``None`` without."""
    global _channel, _channel_opened
    if not _channel_opened:
        _channel_opened = True
        _channel = FdChannel.from_environment()
    return _channel


def threshold() -> int:
    """The size from which a buffer goes in shared memory (``SNAKEPIT_SHM_THRESHOLD``)."""
    global _threshold
    if _threshold is None:
        _threshold = threshold_from_env()
    return _threshold


def stage(data: Any, owner: Any = None) -> dict[str, Any] | None:
    """Put the bytes ``data`` in a memfd for the message being encoded on this thread and
    return its descriptor, or ``None`` when they stay inline (under the threshold, or no fd
    channel). When ``owner`` (the array ``data`` came from) is an :func:`alloc_array`
    array, its own memfd goes, without a copy.

    The memfd waits on this thread until :func:`take_staged` hands it to the writer."""
    if channel() is None or len(data) < threshold():
        return None
    own = _shared_map_of(owner) if owner is not None else None
    if own is not None and own.fd is not None:
        descriptor, fd, owned = _lend(own), own.fd, False
    else:
        descriptor, fd, owned = export(data)
    value = owner if owner is not None else data
    push((fd, owned, value))
    return descriptor


def send_staged(staged: list[tuple[int, bool, Any]]) -> None:
    """Send staged memfds on the channel (one packet) and close the copies."""
    chan = channel()
    try:
        if chan is None:
            raise ProtocolError("no fd channel to send shared buffers on")
        chan.send([fd for fd, _, _ in staged])
    finally:
        for fd, owned, _ in staged:
            if owned:
                os.close(fd)
