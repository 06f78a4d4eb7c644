"""A test adapter for shared memory (the Rust tests in ``tests/it/shm.rs`` drive it): tools
that report whether inputs arrived as views of a memfd, return arrays allocated in shared
memory, a tool reporting how a host tool's answer arrived, and hostile tools that send bad
memfds or die in the middle of a transfer."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import struct
import threading
from typing import Any

import numpy

from snakepit_bridge import BaseAdapter, CallContext, recycle, shm, tool


def _unsealed(data: Any) -> tuple[dict[str, Any], int, bool]:
    fd = os.memfd_create("hostile", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.write(fd, bytes(data))
    return {"shm": "memfd", "len": len(data)}, fd, True


def _shrunk_later(data: Any) -> tuple[dict[str, Any], int, bool]:
    descriptor, fd, _ = _unsealed(data)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_GROW)
    keep = os.dup(fd)

    def shrink() -> None:
        os.ftruncate(keep, 0)
        os.close(keep)

    threading.Timer(0.05, shrink).start()
    return descriptor, fd, True


def _wrong_size(data: Any) -> tuple[dict[str, Any], int, bool]:
    descriptor, fd, owned = _ORIGINAL_EXPORT(data)
    return {"shm": "memfd", "len": descriptor["len"] + 4096}, fd, owned


def _not_memfd(data: Any) -> tuple[dict[str, Any], int, bool]:
    read, write = os.pipe()
    os.close(write)
    return {"shm": "memfd", "len": len(data)}, read, True


_ORIGINAL_EXPORT = shm.export
_ORIGINAL_SEND = shm.send_staged
_EXPORTS = {
    "unsealed": _unsealed,
    "shrunk_later": _shrunk_later,
    "wrong_size": _wrong_size,
    "not_memfd": _not_memfd,
}


def _too_many(staged: list[Any]) -> None:
    extra = [os.memfd_create("extra") for _ in range(70)]
    chan = shm.channel()
    assert chan is not None
    socket.send_fds(chan.sock, [struct.pack("<I", 1)], [staged[0][0], *extra])
    for fd in extra:
        os.close(fd)


def _missing(staged: list[Any]) -> None:
    for fd, owned, _ in staged:
        if owned:
            os.close(fd)


def _die(staged: list[Any]) -> None:
    _ORIGINAL_SEND(staged)
    os.kill(os.getpid(), signal.SIGKILL)


_SENDS = {"too_many": _too_many, "missing": _missing, "die_mid_transfer": _die}


def _restore() -> None:
    shm.export = _ORIGINAL_EXPORT
    shm.send_staged = _ORIGINAL_SEND


class ShmAdapter(BaseAdapter):
    """Tools about shared memory."""

    @tool
    def describe(self, value: Any) -> dict[str, Any]:
        """Whether ``value`` is a view of a shared mapping, and whether it is writeable."""
        _restore()
        base = value.base if isinstance(value, numpy.ndarray) else getattr(value, "obj", None)
        return {
            "shared": isinstance(base, shm.SharedMap),
            "writeable": bool(value.flags.writeable)
            if isinstance(value, numpy.ndarray)
            else not value.readonly,
        }

    @tool
    def double(self, array: Any, ctx: CallContext) -> Any:
        """``array * 2`` written into an array allocated in shared memory."""
        _restore()
        out = ctx.alloc_array(array.shape, array.dtype)
        numpy.multiply(array, 2, out=out)
        return out

    @tool
    def filled(self, count: int, value: float, ctx: CallContext) -> dict[str, Any]:
        """``count`` float64 of ``value`` in a fresh or recycled shared array, and the name
        of its memfd (equal names: the same memfd, reused)."""
        _restore()
        out = ctx.alloc_array(count, "float64", zeroed=False)
        out.fill(value)
        return {"array": out, "ident": out.base.ident}

    @tool
    def await_release(self, ident: int, timeout: float) -> bool:
        """Whether the host releases the memfd ``ident`` (it leaves the lent ones) within
        ``timeout`` seconds; run it beside the call that drops it (concurrent profile), so
        no frame of the host but the release itself can carry it."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with recycle._recycler.lock:
                if ident not in recycle._recycler.lent:
                    return True
            time.sleep(0.005)
        return False

    @tool
    def write(self, array: Any) -> str:
        """Try to write into the input; the exception's type name, or ``"wrote"``."""
        _restore()
        try:
            array[...] = 0
        except Exception as exc:
            return type(exc).__name__
        return "wrote"

    @tool
    def hostile(self, mode: str, size: int) -> Any:
        """Return an array of ``size`` bytes sent the hostile way ``mode`` names."""
        result = numpy.arange(size // 8, dtype="<f8")
        shm.export = _EXPORTS.get(mode, _ORIGINAL_EXPORT)
        shm.send_staged = _SENDS.get(mode, _ORIGINAL_SEND)
        return result

    @tool
    def die_on_receive(self, array: Any) -> None:
        """Die as soon as an input arrived."""
        os.kill(os.getpid(), signal.SIGKILL)

    @tool
    def arrow_double(self, batch: Any) -> dict[str, Any]:
        """How ``batch`` arrived, and a batch with its ``x`` column doubled."""
        import pyarrow
        import pyarrow.compute

        doubled = pyarrow.record_batch(
            {"x": pyarrow.compute.multiply(batch["x"], 2), "name": batch["name"]}
        )
        return {"type": type(batch).__name__, "batch": doubled}

    @tool
    def host_describe(self, name: str, array: Any, ctx: CallContext) -> dict[str, Any]:
        """Send ``array`` to host tool ``name``; how its answer arrived, and the answer's sum."""
        _restore()
        answer = ctx.call_host_tool(name, value=array)
        return {**self.describe(answer), "sum": float(numpy.sum(answer))}
