"""The adapter ``snakepit bench`` measures: the cheapest tools for each path of the runtime.

``ping`` for the call round trip (``empty``: the same with an empty answer, the floors'
own, for the ``ping`` section; ``ping_inline``: the same, marked ``@tool(inline=True)``,
which a worker of capacity above 1 runs on its reader thread), ``chunks`` for streaming,
``host_round_trips`` for host callbacks (it times them inside the worker, where the round
trip starts and ends), and ``sleep_ms`` for an I/O-bound call (the profiles section).
``double_shared`` / ``double_list`` for large data (numpy is imported only by the first).
"""

from __future__ import annotations

import time

from ..adapter import BaseAdapter, tool

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Generator
    from typing import Any

    from ..context import CallContext


class BenchAdapter(BaseAdapter):
    """Tools that do nothing but exercise one path of the runtime each."""

    @tool
    def ping(self) -> dict[str, str]:
        """Answer at once."""
        return {"status": "ok"}

    @tool
    def empty(self) -> dict[str, str]:
        """Answer at once with an empty map: what the floors answer to the same call, so the
        ``ping`` section's pool and floors decode the same reply."""
        return {}

    @tool(inline=True)
    def ping_inline(self) -> dict[str, str]:
        """Answer at once, on the reader thread of a concurrent worker (``inline=True``)."""
        return {"status": "ok"}

    @tool
    def chunks(self, n: int) -> Generator[dict[str, int], None, dict[str, int]]:
        """Yield ``n`` small chunks as fast as the link takes them."""
        for index in range(n):
            yield {"i": index}
        return {"total": n}

    @tool
    def host_round_trips(self, n: int, ctx: CallContext, tool_name: str = "noop") -> list[float]:
        """Call host tool ``tool_name`` ``n`` times; return each round trip in microseconds."""
        durations: list[float] = []
        call = ctx.call_host_tool
        for _ in range(n):
            started = time.perf_counter()
            call(tool_name)
            durations.append((time.perf_counter() - started) * 1e6)
        return durations

    @tool
    def sleep_ms(self, ms: float = 10.0) -> None:
        """Sleep ``ms`` milliseconds: an I/O-bound call (the GIL is released meanwhile)."""
        time.sleep(ms / 1000.0)

    @tool
    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        """Return the parameters, for checking the adapter loads."""
        return params

    @tool
    def double_shared(self, array: Any, ctx: CallContext) -> Any:
        """``array * 2`` written into an array in shared memory (sent back without a copy)."""
        import numpy

        out = ctx.alloc_array(array.shape, array.dtype, zeroed=False)
        numpy.multiply(array, 2, out=out)
        return out

    @tool
    def double_list(self, values: list[float]) -> list[float]:
        """``values`` doubled, as a JSON list (the slow reference path for large data)."""
        return [value * 2 for value in values]
