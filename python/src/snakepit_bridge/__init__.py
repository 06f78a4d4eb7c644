"""snakepit_bridge: the Python side of snakepit, a Rust process pool for Python workers.

Write an adapter, a class whose methods marked with :func:`tool` the host can call::

    from snakepit_bridge import BaseAdapter, tool

    class MyAdapter(BaseAdapter):
        @tool
        def process_data(self, params):
            \"\"\"Process data and return the result.\"\"\"
            return {"result": params["input"] * 2}

and run it as a worker with ``python -m snakepit_bridge --adapter my_module:MyAdapter``.
The wire contract is ``docs/PROTOCOL.md`` in the snakepit repository.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .adapter import BaseAdapter, tool
    from .compat import BaseCommandHandler, ProtocolHandler
    from .context import CallContext, Stream
    from .errors import (
        Cancelled,
        DepthLimitExceeded,
        HostToolError,
        InvalidArguments,
        SerializationError,
    )

    #: The original Snakepit's name for the call's context.
    SessionContext = CallContext

#: Where each name of the public API lives. They are imported on first use, so that a
#: worker imports only what its adapter and its calls need (its start is measured).
_EXPORTS = {
    "BaseAdapter": "adapter",
    "tool": "adapter",
    "BaseCommandHandler": "compat",
    "ProtocolHandler": "compat",
    "CallContext": "context",
    "SessionContext": "context",
    "Stream": "context",
    "Cancelled": "errors",
    "DepthLimitExceeded": "errors",
    "HostToolError": "errors",
    "InvalidArguments": "errors",
    "SerializationError": "errors",
}


def __getattr__(name: str) -> object:
    """Import a name of the public API from its module the first time it is asked for."""
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'snakepit_bridge' has no attribute {name!r}")
    module = __import__(f"{__name__}.{module_name}", fromlist=["_"])
    value = getattr(module, "CallContext" if name == "SessionContext" else name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "BaseAdapter",
    "BaseCommandHandler",
    "ProtocolHandler",
    "SessionContext",
    "CallContext",
    "Cancelled",
    "DepthLimitExceeded",
    "HostToolError",
    "InvalidArguments",
    "SerializationError",
    "Stream",
    "__version__",
    "tool",
]

__version__ = "0.1.0"
