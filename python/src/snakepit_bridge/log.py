"""The bridge's diagnostics: one line on stderr, which the host captures as a log line."""

from __future__ import annotations

import sys

__all__ = ["log"]


def log(text: str) -> None:
    """Write ``snakepit_bridge: <text>`` as one flushed line to stderr."""
    print(f"snakepit_bridge: {text}", file=sys.stderr, flush=True)
