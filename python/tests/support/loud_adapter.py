"""A test-only adapter that prints at import time and initialises asynchronously.

In stdio mode those prints must land on stderr, never in the link on stdout.
"""

from __future__ import annotations

import asyncio

from snakepit_bridge import BaseAdapter, tool

print("loud_adapter: printed at import time")


class LoudAdapter(BaseAdapter):
    """Prints everywhere and has an ``async def initialize``."""

    def __init__(self) -> None:
        self.ready = False

    async def initialize(self) -> None:
        """Initialise on the runtime's event loop."""
        print("loud_adapter: initializing")
        await asyncio.sleep(0)
        self.ready = True

    @tool
    def ready_state(self) -> bool:
        """Return whether the async initialize ran to completion."""
        return self.ready
