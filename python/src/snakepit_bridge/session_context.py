"""The original Snakepit's module path for ``SessionContext``: the call's context.

``SessionContext`` is :class:`~snakepit_bridge.context.CallContext`: ``session_id``,
``call_elixir_tool(name, **kwargs)`` or ``call_elixir_tool(name, {...})``, ``elixir_tools``
and the session variable helpers.
"""

from __future__ import annotations

from .context import CallContext as SessionContext

__all__ = ["SessionContext"]
