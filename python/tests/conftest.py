"""Fixtures shared by the runtime tests: a real worker of the fault adapter over a socketpair."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import FAULT_ADAPTER, Worker


@pytest.fixture
def worker() -> Iterator[Worker]:
    """A running worker of the fault adapter, closed after the test."""
    fault_worker = Worker.adapter(FAULT_ADAPTER)
    yield fault_worker
    fault_worker.close()
