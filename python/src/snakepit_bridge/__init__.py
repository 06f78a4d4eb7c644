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
