"""What a worker reads from its environment: the encodings to offer and its capacity.

``SNAKEPIT_ENCODINGS`` narrows the encodings offered in ``hello`` (for tests and JSON-only
hosts); ``SNAKEPIT_CAPACITY`` sets how many calls the worker runs at once, over the
adapter's ``capacity`` class attribute (``docs/PROTOCOL.md``, "Transports").
"""

from __future__ import annotations

import os

from . import protocol
from .log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["capacity_for", "offered_encodings"]


def offered_encodings(environ: dict[str, str] | None = None) -> list[str]:
    """The encodings to offer in ``hello``: those available, narrowed by ``SNAKEPIT_ENCODINGS``."""
    env = os.environ if environ is None else environ
    available = protocol.available_encodings()
    raw = env.get("SNAKEPIT_ENCODINGS", "").strip()
    if not raw:
        return available
    wanted = [name.strip() for name in raw.split(",") if name.strip()]
    offered = [name for name in wanted if name in available]
    return offered or ["json"]


def capacity_for(adapter: Any, environ: Any = None) -> int:
    """How many calls at once the worker takes: ``SNAKEPIT_CAPACITY``, else the adapter's
    ``capacity`` class attribute, else 1. A value that is not an integer ≥ 1 is ignored.
    """
    env = os.environ if environ is None else environ
    raw = env.get("SNAKEPIT_CAPACITY", "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value >= 1:
            return value
        log(f"ignoring SNAKEPIT_CAPACITY={raw!r}: not an integer of at least 1")
    declared = getattr(adapter, "capacity", 1)
    if isinstance(declared, int) and not isinstance(declared, bool) and declared >= 1:
        return declared
    log(f"ignoring the adapter's capacity {declared!r}: not an integer of at least 1")
    return 1
