"""The adapter of ``snakepit bench``'s start section: a worker whose module imports numpy,
so that starting one costs what a real scientific worker costs, spawned or forked from a
zygote that preloaded numpy."""

from __future__ import annotations

import os

import numpy

from ..adapter import BaseAdapter, tool


class NumpyBenchAdapter(BaseAdapter):
    """A ``ping`` that touches numpy, and a ``crash`` to time a replacement."""

    @tool
    def ping(self) -> dict[str, int]:
        """Answer at once, with a value numpy computed."""
        return {"sum": int(numpy.arange(4).sum())}

    @tool
    def crash(self) -> None:
        """Exit the process at once, as a crash would."""
        os._exit(1)
