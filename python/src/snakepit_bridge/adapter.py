"""Adapters and tools: how user code declares what a worker can do.

This module owns :class:`BaseAdapter`, the :func:`tool` decorator, tool discovery, the tool
spec sent in ``hello`` (see PROTOCOL.md) and argument binding. Binding is decided once per
tool when the worker starts, so a call costs one dictionary lookup and one function call:

* a parameter named ``ctx`` receives the :class:`~snakepit_bridge.context.CallContext`;
* a parameter named ``stream`` receives the :class:`~snakepit_bridge.context.Stream`;
* a generator function (``def`` or ``async def`` with ``yield``) is a streaming tool: each
  yielded value is one chunk (the runtime drives it, see ``docs/PROTOCOL.md``, "Streaming");
* if the remaining parameters are exactly one named ``params``, it receives the whole
  argument map;
* otherwise the arguments are bound as keyword arguments, and a missing required argument or
  an unexpected one (unless the tool takes ``**kwargs``) raises :class:`InvalidArguments`.
"""

from __future__ import annotations

from . import signature as sig
from .errors import InvalidArguments, UnknownCommand
from .specs import first_paragraph, parse_args_section, plain_default, type_name

# `typing` costs a worker's start milliseconds: it is imported for the type checker only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar, overload

    from .context import CallContext, Stream

    F = TypeVar("F", bound=Callable[..., Any])
else:

    def overload(function: object) -> object:
        """``typing.overload`` at run time: the last definition is the one that counts."""
        return function


__all__ = [
    "BaseAdapter",
    "InvalidArguments",
    "Tool",
    "discover_tools",
    "make_tool",
    "tool",
]

_TOOL_MARKER = "__snakepit_tool__"
_RESERVED = ("ctx", "stream")


class BaseAdapter:
    """The base class of snakepit adapters.

    Subclasses mark methods with :func:`tool`. The runtime creates one instance per worker
    and calls :meth:`initialize` once, before it tells the host it is ready.

    Attributes:
        capacity: How many calls one worker of this adapter runs at once, unless the host
            sets ``SNAKEPIT_CAPACITY``. Above 1, synchronous tools run on a thread pool of
            that size and ``async def`` tools concurrently on one event loop.
        thread_safe: ``False`` runs the synchronous tools one at a time even when the
            capacity is above 1 (async tools still interleave on the event loop).
    """

    capacity: int = 1
    thread_safe: bool = True

    def initialize(self) -> Any:
        """Prepare the adapter (load models, open connections); may be ``async def``."""
        return None

    def get_tools(self) -> list[dict[str, Any]]:
        """The specs of this adapter's tools, as ``hello`` announces them."""
        return [found.spec for found in self._snakepit_tools().values()]

    def execute_tool(self, tool_name: str, arguments: dict[str, Any], context: Any) -> Any:
        """Run the tool ``tool_name`` with the argument map ``arguments``.

        An adapter may override this to dispatch every call itself (the original Snakepit's
        API); ``super().execute_tool(...)`` then reaches the ``@tool`` methods. ``context``
        is the call's :class:`~snakepit_bridge.context.CallContext` (``SessionContext``).
        """
        found = self._snakepit_tools().get(tool_name)
        if found is None:
            known = ", ".join(self._snakepit_tools()) or "(none)"
            raise UnknownCommand(f"unknown command {tool_name!r}; available tools: {known}")
        from .context import CallContext, Stream

        ctx = context if isinstance(context, CallContext) else None
        stream = None
        if found.wants_stream:
            stream = ctx.stream() if ctx is not None else Stream(0, None, enabled=False)
        return found.invoke(arguments, ctx, stream)

    def _snakepit_tools(self) -> dict[str, Tool]:
        tools: dict[str, Tool] | None = getattr(self, "_snakepit_tool_cache", None)
        if tools is None:
            tools = discover_tools(self)
            try:
                self._snakepit_tool_cache = tools
            except AttributeError:  # An adapter with __slots__ rediscovers every time.
                pass
        return tools


class _ToolOptions:
    __slots__ = (
        "name",
        "description",
        "supports_streaming",
        "thread_safe",
        "required_variables",
        "inline",
    )

    def __init__(
        self,
        name: str | None,
        description: str | None,
        supports_streaming: bool,
        thread_safe: bool = True,
        required_variables: list[str] | None = None,
        inline: bool = False,
    ) -> None:
        self.name = name
        self.description = description
        self.supports_streaming = supports_streaming
        self.thread_safe = thread_safe
        self.required_variables = list(required_variables or [])
        self.inline = inline


@overload
def tool(func: F) -> F: ...


@overload
def tool(  # noqa: F811 - typing.overload under TYPE_CHECKING
    func: None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    supports_streaming: bool = False,
    thread_safe: bool = True,
    required_variables: list[str] | None = None,
    inline: bool = False,
) -> Callable[[F], F]: ...


def tool(  # noqa: F811 - the implementation of the overloads above
    func: F | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    supports_streaming: bool = False,
    thread_safe: bool = True,
    required_variables: list[str] | None = None,
    inline: bool = False,
) -> F | Callable[[F], F]:
    """Mark an adapter method as a tool the host can call.

    Use it bare (``@tool``) or with options (``@tool(name="x", supports_streaming=True)``).
    The tool's description defaults to the first paragraph of the docstring.
    ``thread_safe=False`` keeps a worker that takes several calls at once from running this
    tool in two calls at the same time. ``required_variables`` names the session variables the
    tool relies on (the original's option); the tool spec in ``hello`` lists them.

    ``inline=True`` promises that the tool never blocks and returns at once (a lookup, a bit
    of arithmetic): a worker that takes several calls at once then runs it on the thread
    that reads the link, between two frames, instead of handing it to a pool thread, which
    saves the hand-off that dominates a trivial call. While it runs, nothing else is read,
    so heartbeats and cancels wait for it: never mark a tool that sleeps, does I/O or
    computes for long. Only a plain synchronous function without ``ctx`` or ``stream`` can
    be inline; with capacity 1 every tool runs on that thread anyway.
    """

    def mark(function: F) -> F:
        options = _ToolOptions(
            name, description, supports_streaming, thread_safe, required_variables, inline
        )
        setattr(function, _TOOL_MARKER, options)
        return function

    if func is not None:
        return mark(func)
    return mark


class Tool:
    """One tool of an adapter instance, with its spec and a precomputed invoker."""

    __slots__ = (
        "name",
        "function",
        "spec",
        "is_async",
        "is_generator",
        "is_async_generator",
        "on_loop",
        "needs_stream",
        "wants_ctx",
        "wants_stream",
        "thread_safe",
        "inline",
        "invoke",
    )

    def __init__(self, name: str, function: Callable[..., Any], options: _ToolOptions) -> None:
        self.name = name
        self.function = function
        #: ``False`` when the tool must never run in two calls at once.
        self.thread_safe = options.thread_safe
        self.is_async = sig.is_coroutine_function(function)
        self.is_generator = sig.is_generator_function(function)
        self.is_async_generator = sig.is_async_generator_function(function)
        parameters = sig.parameters(function)
        names = [parameter.name for parameter in parameters]
        self.wants_ctx = "ctx" in names
        self.wants_stream = "stream" in names
        #: Whether the runtime runs this tool on its event loop (``async def``, with or
        #: without ``yield``).
        self.on_loop = self.is_async or self.is_async_generator
        #: Whether a call of this tool gets a :class:`Stream` (to send or to drive chunks).
        self.needs_stream = self.wants_stream or self.is_generator or self.is_async_generator
        #: Whether a concurrent worker runs it on its reader thread (``@tool(inline=True)``).
        self.inline = options.inline
        if self.inline and (self.on_loop or self.needs_stream or self.wants_ctx):
            raise TypeError(
                f"tool {name!r}: only a plain synchronous function without ctx or stream "
                "can be inline=True"
            )
        plain = [
            parameter
            for parameter in parameters
            if parameter.name not in _RESERVED
            and parameter.kind not in (sig.VAR_POSITIONAL, sig.VAR_KEYWORD)
        ]
        doc = sig.getdoc(function) or ""
        documented = parse_args_section(doc)
        params_mode = len(plain) == 1 and plain[0].name == "params"
        self.spec: dict[str, Any] = {
            "name": name,
            "description": options.description or first_paragraph(doc),
            "parameters": self._parameter_specs(plain, documented, params_mode),
            "streaming": bool(
                options.supports_streaming
                or self.wants_stream
                or self.is_generator
                or self.is_async_generator
            ),
        }
        if options.required_variables:
            self.spec["required_variables"] = options.required_variables
        #: ``invoke(args, ctx, stream)`` calls the function (or creates its coroutine).
        self.invoke: Callable[[dict[str, Any], CallContext | None, Stream | None], Any]
        self.invoke = self._make_invoker(parameters, plain, params_mode)

    @staticmethod
    def _parameter_specs(
        plain: list[sig.Param],
        documented: dict[str, tuple[str | None, str]],
        params_mode: bool,
    ) -> list[dict[str, Any]]:
        if params_mode:
            # A `params` tool takes a free-form map; the keys its docstring documents are the
            # best description of what it expects, and none of them is enforced.
            return [
                {
                    "name": key,
                    "type": type_name or None,
                    "required": False,
                    "default": None,
                    "description": text or None,
                }
                for key, (type_name, text) in documented.items()
                if key not in ("params", *_RESERVED)
            ]
        specs = []
        for parameter in plain:
            doc_type, doc_text = documented.get(parameter.name, (None, ""))
            has_default = parameter.default is not sig.EMPTY
            specs.append(
                {
                    "name": parameter.name,
                    "type": type_name(parameter.annotation) or doc_type or None,
                    "required": not has_default,
                    "default": plain_default(parameter.default) if has_default else None,
                    "description": doc_text or None,
                }
            )
        return specs

    def _make_invoker(
        self,
        parameters: list[sig.Param],
        plain: list[sig.Param],
        params_mode: bool,
    ) -> Callable[[dict[str, Any], CallContext | None, Stream | None], Any]:
        function = self.function
        name = self.name
        wants_ctx = self.wants_ctx
        wants_stream = self.wants_stream
        for parameter in parameters:
            if parameter.kind == sig.POSITIONAL_ONLY:
                raise TypeError(
                    f"tool {name!r}: positional-only parameter {parameter.name!r} is not supported"
                )

        if params_mode:
            if not wants_ctx and not wants_stream:
                return lambda args, ctx, stream: function(args)

            def invoke_params(
                args: dict[str, Any], ctx: CallContext | None, stream: Stream | None
            ) -> Any:
                extra: dict[str, Any] = {}
                if wants_ctx:
                    extra["ctx"] = ctx
                if wants_stream:
                    extra["stream"] = stream
                return function(args, **extra)

            return invoke_params

        accepted = frozenset(parameter.name for parameter in plain)
        required = tuple(parameter.name for parameter in plain if parameter.default is sig.EMPTY)
        takes_extra = any(parameter.kind == sig.VAR_KEYWORD for parameter in parameters)
        accepted_text = ", ".join(parameter.name for parameter in plain) or "none"

        def check(args: dict[str, Any]) -> None:
            for key in required:
                if key not in args:
                    raise InvalidArguments(
                        f"tool {name!r} is missing required argument {key!r} "
                        f"(accepted: {accepted_text})"
                    )
            for key in args:
                if key in _RESERVED:
                    raise InvalidArguments(
                        f"tool {name!r} got argument {key!r}, a name reserved for the runtime"
                    )
                if not takes_extra and key not in accepted:
                    raise InvalidArguments(
                        f"tool {name!r} got unexpected argument {key!r} (accepted: {accepted_text})"
                    )

        if not plain and not takes_extra and not wants_ctx and not wants_stream:
            # The fast path for argument-less tools such as `ping`.
            def invoke_bare(
                args: dict[str, Any], ctx: CallContext | None, stream: Stream | None
            ) -> Any:
                if args:
                    check(args)
                return function()

            return invoke_bare

        def invoke_keywords(
            args: dict[str, Any], ctx: CallContext | None, stream: Stream | None
        ) -> Any:
            check(args)
            if wants_ctx or wants_stream:
                args = dict(args)
                if wants_ctx:
                    args["ctx"] = ctx
                if wants_stream:
                    args["stream"] = stream
            return function(**args)

        return invoke_keywords

    def __call__(
        self,
        args: dict[str, Any] | None = None,
        ctx: CallContext | None = None,
        stream: Stream | None = None,
    ) -> Any:
        """Call the tool directly (for tests): binds ``args`` exactly as the runtime does."""
        from .context import CallContext, Stream

        if ctx is None and self.wants_ctx:
            ctx = CallContext(command=self.name)
        if stream is None and self.wants_stream:
            stream = Stream(0, None, enabled=False)
        return self.invoke(args or {}, ctx, stream)


def make_tool(
    name: str,
    function: Callable[..., Any],
    description: str | None = None,
    supports_streaming: bool = False,
) -> Tool:
    """A tool named ``name`` calling ``function``, bound exactly like a ``@tool`` method."""
    return Tool(name, function, _ToolOptions(name, description, supports_streaming))


def discover_tools(adapter: Any) -> dict[str, Tool]:
    """Find every :func:`tool`-marked method of ``adapter``, keyed by tool name.

    Raises ``ValueError`` when two methods claim the same tool name.
    """
    tools: dict[str, Tool] = {}
    seen: set[str] = set()
    for klass in type(adapter).__mro__:
        for attribute, value in vars(klass).items():
            if attribute in seen:
                continue
            seen.add(attribute)
            function = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            options = getattr(function, _TOOL_MARKER, None)
            if not isinstance(options, _ToolOptions):
                continue
            name = options.name or attribute
            if name in tools:
                raise ValueError(f"two methods of {type(adapter).__name__} define tool {name!r}")
            tools[name] = Tool(name, getattr(adapter, attribute), options)
    return dict(sorted(tools.items()))
