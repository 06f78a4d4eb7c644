"""The showcase adapter: a small, well-documented set of tools for demos and smoke tests.

Its tool descriptions in ``hello`` come from the docstrings below, so they are written for
whoever reads the host's tool list.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Generator

from .. import __version__
from ..adapter import BaseAdapter, tool
from ..context import CallContext, Stream
from ..protocol import HAS_MSGPACK, available_encodings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_OPERATIONS = ("add", "subtract", "multiply", "divide")


class ShowcaseAdapter(BaseAdapter):
    """Demonstrates the bridge: a health check, an echo, arithmetic, streaming, worker facts."""

    @tool
    def ping(self) -> dict[str, str]:
        """Check that the worker answers; returns a fixed status."""
        return {"status": "ok", "message": "pong"}

    @tool
    def echo(self, params: dict[str, Any]) -> dict[str, Any]:
        """Return the arguments unchanged.

        Args:
            params: Any map of arguments; it comes back as it went in.
        """
        return params

    @tool
    def compute(self, operation: str, a: float, b: float) -> float:
        """Apply an arithmetic operation to two numbers.

        Args:
            operation: One of "add", "subtract", "multiply" or "divide".
            a: The left operand.
            b: The right operand.

        Raises:
            ZeroDivisionError: When dividing by zero.
            ValueError: When the operation is not one of the four above.
        """
        if operation == "add":
            return a + b
        if operation == "subtract":
            return a - b
        if operation == "multiply":
            return a * b
        if operation == "divide":
            if b == 0:
                raise ZeroDivisionError("division by zero")
            return a / b
        raise ValueError(
            f"unknown operation {operation!r}; valid operations are: {', '.join(_OPERATIONS)}"
        )

    @tool
    def info(self, ctx: CallContext) -> dict[str, Any]:
        """Describe this worker: adapter, process id, Python version and encodings."""
        return {
            "adapter": f"{type(self).__module__}:{type(self).__qualname__}",
            "bridge_version": __version__,
            "bridge_path": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            "pid": os.getpid(),
            "python_version": platform.python_version(),
            "worker_id": ctx.worker_id,
            "encodings": available_encodings(),
            "msgpack": HAS_MSGPACK,
        }

    @tool
    def progress(
        self, steps: int = 10, delay_ms: int = 50
    ) -> Generator[dict[str, Any], None, dict[str, Any]]:
        """Stream progress: one chunk per step, then a summary.

        Args:
            steps: How many steps to report.
            delay_ms: How long each step takes, in milliseconds.
        """
        for index in range(steps):
            time.sleep(delay_ms / 1000.0)
            yield {"step": index + 1, "steps": steps, "progress": (index + 1) / steps * 100}
        return {"steps": steps, "done": True}

    @tool(supports_streaming=True)
    def batch_process(self, params: dict[str, Any], stream: Stream) -> dict[str, int]:
        """Stream progress updates during processing.

        Args:
            items (list): The items to process: numbers are doubled, strings upper-cased.
        """
        items = params["items"]
        for i, item in enumerate(items):
            result = self._process_item(item)
            stream.send({"progress": (i + 1) / len(items) * 100, "item": result})
        return {"total": len(items)}

    @staticmethod
    def _process_item(item: Any) -> Any:
        if isinstance(item, bool):
            return item
        if isinstance(item, (int, float)):
            return item * 2
        if isinstance(item, str):
            return item.upper()
        return item
