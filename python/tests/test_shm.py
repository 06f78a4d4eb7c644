"""Shared memory on the worker's side: memfds over a real seqpacket socketpair, views, seals.

numpy is required (``scripts/test.sh`` installs it): a missing numpy fails these tests.
"""

from __future__ import annotations

import fcntl
import os
import socket

import numpy as np
import pytest

from snakepit_bridge import recycle, shm
from snakepit_bridge.errors import ProtocolError


@pytest.fixture
def channel_pair():
    host, worker = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    channel = shm.FdChannel(worker.detach())
    yield host, channel
    host.close()
    channel.sock.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_received_memfd_becomes_a_read_only_view_not_a_copy(channel_pair):
    host, channel = channel_pair
    source = np.arange(100_000, dtype="<f8")
    descriptor, fd, owned = shm.export(source)
    assert descriptor == {"shm": "memfd", "len": source.nbytes}
    assert owned
    seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    size_seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
    assert seals & size_seals == size_seals
    socket.send_fds(host, [b"\x01\x00\x00\x00"], [fd])
    os.close(fd)
    [mapped] = channel.receive_buffers([source.nbytes])
    arr = shm.as_array(mapped, "float64", [100_000])
    assert arr.base is mapped
    assert isinstance(mapped, shm.SharedMap)
    assert np.array_equal(arr, source)
    assert not arr.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        arr[0] = 1.0
    view = memoryview(mapped)
    with pytest.raises(TypeError, match="read-only"):
        view[0] = 1
    view.release()
    # DLPack: torch.from_dlpack / jax.dlpack take the same view; numpy's own shows it is
    # zero copy (same address). A read-only array exports only as a copy-free read-only view
    # where the consumer supports it, so a writable alloc_array is the portable case.
    writable = shm.alloc_array((4, 4), "float32")
    via_dlpack = np.from_dlpack(writable)
    assert via_dlpack.__array_interface__["data"][0] == writable.__array_interface__["data"][0]


def test_an_allocated_array_is_sent_without_a_copy():
    arr = shm.alloc_array((1000, 20), "float64")
    arr[:] = 2.5
    assert isinstance(arr.base, shm.SharedMap)
    descriptor, fd, owned = shm.export(arr)
    assert not owned
    assert fd == arr.base.fd
    assert descriptor["len"] == arr.nbytes
    # A slice does not cover the mapping: it is copied into a fresh memfd.
    _, fd2, owned2 = shm.export(arr[10:])
    assert owned2 and fd2 != arr.base.fd
    os.close(fd2)
    # The memfd really holds the array's bytes.
    data = os.pread(fd, 16, 0)
    assert np.frombuffer(data, "<f8").tolist() == [2.5, 2.5]


def test_the_channel_refuses_missing_and_miscounted_descriptors_and_leaks_none(channel_pair):
    host, channel = channel_pair
    before = _open_fds()
    with pytest.raises(ProtocolError, match="no descriptors came"):
        channel.receive(1)
    _, fd, _ = shm.export(b"x" * 10)
    socket.send_fds(host, [b"\x01\x00\x00\x00"], [fd, fd])
    with pytest.raises(ProtocolError, match="2 descriptors came"):
        channel.receive(1)
    os.close(fd)
    assert _open_fds() == before


def test_the_threshold_comes_from_the_environment():
    assert shm.threshold_from_env({}) == 64 * 1024
    assert shm.threshold_from_env({"SNAKEPIT_SHM_THRESHOLD": "1024"}) == 1024
    assert shm.threshold_from_env({"SNAKEPIT_SHM_THRESHOLD": "nope"}) == 64 * 1024


def test_arrow_values_round_trip_through_a_message():
    import pyarrow

    from snakepit_bridge import protocol
    from snakepit_bridge.convert import encode_lenient

    batch = pyarrow.record_batch({"x": [1.5, 2.5, 3.5], "name": ["a", "b", "c"]})
    table = pyarrow.Table.from_batches([batch, batch])
    message = {"kind": "result", "id": 1, "success": True, "result": {"b": batch, "t": table}}
    for encoding in ("msgpack", "json"):
        payload = encode_lenient(dict(message), "result", encoding, 1 << 26, "the result")
        decoded = protocol.decode(payload)["result"]
        assert isinstance(decoded["b"], pyarrow.RecordBatch)
        assert decoded["b"].equals(batch)
        # A table goes as one batch.
        assert decoded["t"].to_pydict() == table.to_pydict()


def test_a_released_memfd_is_reused_zeroed_and_a_viewed_one_is_not():
    recycler = recycle.Recycler(limit=1 << 20)
    recycle._recycler, saved = recycler, recycle._recycler
    try:
        arr = shm.alloc_array(1000, "float64")
        arr[:] = 7.0
        descriptor, _, owned = shm.export(arr)
        ident = descriptor["id"]
        assert not owned and ident == arr.base.ident
        # Released while the tool still views it: not reused while it does...
        recycle.release([ident])
        again = shm.alloc_array(1000, "float64")
        assert again.base.ident != ident
        # ... and reused once it no longer does.
        del arr
        later = shm.alloc_array(1000, "float64")
        assert later.base.ident == ident
        assert not later.any(), "a reused buffer was not zeroed"
        del later
        # Released once nothing views it: the next allocation of that size reuses it.
        shm.export(again)
        ident = again.base.ident
        del again
        recycle.release([ident, "junk", True])
        reused = shm.alloc_array(1000, "float64")
        assert reused.base.ident == ident
        assert not reused.any(), "a reused buffer was not zeroed"
        # Sent twice, released once: still lent.
        shm.export(reused)
        shm.export(reused)
        ident = reused.base.ident
        del reused
        recycle.release([ident])
        assert shm.alloc_array(1000, "float64").base.ident != ident
        recycle.release([ident])
        assert shm.alloc_array(1000, "float64").base.ident == ident
    finally:
        recycle._recycler = saved


def test_released_memfds_beyond_the_cache_limit_are_unmapped():
    recycler = recycle.Recycler(limit=3 * 8000)
    recycle._recycler, saved = recycler, recycle._recycler
    try:
        idents = []
        for _ in range(5):
            arr = shm.alloc_array(1000, "float64")
            shm.export(arr)
            idents.append(arr.base.ident)
            del arr
        recycle.release(idents)
        assert recycler.free_bytes == 3 * 8000
        kept = {m.ident for maps in recycler.free.values() for m in maps}
        assert kept == set(idents[2:])
    finally:
        recycle._recycler = saved
