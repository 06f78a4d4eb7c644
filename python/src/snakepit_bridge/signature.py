"""A tool function's parameters, kind flags and docstring, without importing :mod:`inspect`.

Importing :mod:`inspect` costs a worker several milliseconds at every start (it pulls in
``ast``, ``dis`` and ``tokenize``). A tool is almost always a plain function or a method of
one; for those this module reads the code object directly. Anything else (a decorated
function with ``__wrapped__``, a ``__signature__``, a callable object, a builtin) falls back
to :mod:`inspect`, imported only then, so the result is always what :func:`inspect.signature`
would say.
"""

from __future__ import annotations

import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

__all__ = [
    "EMPTY",
    "KEYWORD_ONLY",
    "POSITIONAL_ONLY",
    "POSITIONAL_OR_KEYWORD",
    "VAR_KEYWORD",
    "VAR_POSITIONAL",
    "Param",
    "cleandoc",
    "getdoc",
    "is_async_generator_function",
    "is_coroutine_function",
    "is_generator_function",
    "parameters",
]

_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08
_CO_GENERATOR = 0x20
_CO_COROUTINE = 0x80
_CO_ASYNC_GENERATOR = 0x200


class _Empty:
    """Marks a parameter without a default or an annotation."""

    def __repr__(self) -> str:
        return "EMPTY"


#: No default, no annotation (``inspect.Parameter.empty``'s role).
EMPTY: Any = _Empty()


#: Parameter kinds, numbered as :class:`inspect.Parameter`'s.
POSITIONAL_ONLY = 0
POSITIONAL_OR_KEYWORD = 1
VAR_POSITIONAL = 2
KEYWORD_ONLY = 3
VAR_KEYWORD = 4


class Param:
    """One parameter: the fields of :class:`inspect.Parameter` the bridge reads. (A plain
    class: building a ``NamedTuple`` class costs a worker's start a millisecond.)"""

    __slots__ = ("annotation", "default", "kind", "name")

    def __init__(self, name: str, kind: int, default: Any = EMPTY, annotation: Any = EMPTY):
        self.name = name
        self.kind = kind
        self.default = default
        self.annotation = annotation

    def as_tuple(self) -> tuple[str, int, Any, Any]:
        """``(name, kind, default, annotation)``."""
        return (self.name, self.kind, self.default, self.annotation)


def _plain(function: Any) -> types.FunctionType | None:
    """The function behind a plain function or bound method, or ``None`` for anything else."""
    bound = isinstance(function, types.MethodType)
    target = function.__func__ if bound else function
    if type(target) is not types.FunctionType:
        return None
    if hasattr(target, "__wrapped__") or hasattr(target, "__signature__"):
        return None
    if bound and hasattr(function, "__signature__"):
        return None
    return target


def parameters(function: Callable[..., Any]) -> list[Param]:
    """The parameters of ``function`` as :func:`inspect.signature` lists them."""
    target = _plain(function)
    if target is None:
        return _from_inspect(function)
    code = target.__code__
    positional = code.co_argcount
    keyword_only = code.co_kwonlyargcount
    names = code.co_varnames
    annotations = target.__annotations__ if target.__annotations__ else {}
    defaults = target.__defaults__ or ()
    kwdefaults = target.__kwdefaults__ or {}
    first_default = positional - len(defaults)
    result: list[Param] = []
    for index in range(positional):
        name = names[index]
        kind = POSITIONAL_OR_KEYWORD
        if index < code.co_posonlyargcount:
            kind = POSITIONAL_ONLY
        default = defaults[index - first_default] if index >= first_default else EMPTY
        result.append(Param(name, kind, default, annotations.get(name, EMPTY)))
    at = positional
    var_positional = None
    if code.co_flags & _CO_VARARGS:
        var_positional = names[positional + keyword_only]
    if var_positional is not None:
        annotation = annotations.get(var_positional, EMPTY)
        result.append(Param(var_positional, VAR_POSITIONAL, EMPTY, annotation))
    for name in names[at : at + keyword_only]:
        default = kwdefaults.get(name, EMPTY)
        result.append(Param(name, KEYWORD_ONLY, default, annotations.get(name, EMPTY)))
    if code.co_flags & _CO_VARKEYWORDS:
        index = positional + keyword_only + (1 if var_positional is not None else 0)
        name = names[index]
        result.append(Param(name, VAR_KEYWORD, EMPTY, annotations.get(name, EMPTY)))
    if isinstance(function, types.MethodType):
        # A bound method's first parameter is already given.
        result = result[1:]
    return result


def _from_inspect(function: Callable[..., Any]) -> list[Param]:
    import inspect

    empty = inspect.Parameter.empty
    return [
        Param(
            p.name,
            int(p.kind),
            EMPTY if p.default is empty else p.default,
            EMPTY if p.annotation is empty else p.annotation,
        )
        for p in inspect.signature(function).parameters.values()
    ]


def _flags(function: Any) -> int | None:
    """The code flags of a plain function, method or partial; ``None`` for anything else."""
    # No partial exists before `functools` is imported: a worker never imports it for this.
    functools = sys.modules.get("functools")
    while functools is not None and isinstance(function, functools.partial):
        function = function.func
    if isinstance(function, types.MethodType):
        function = function.__func__
    if type(function) is not types.FunctionType:
        return None
    return function.__code__.co_flags


def is_coroutine_function(function: Any) -> bool:
    """Whether ``function`` is an ``async def`` (as :func:`inspect.iscoroutinefunction`)."""
    flags = _flags(function)
    if flags is None or hasattr(function, "_is_coroutine_marker"):
        import inspect

        return inspect.iscoroutinefunction(function)
    return bool(flags & _CO_COROUTINE)


def is_generator_function(function: Any) -> bool:
    """Whether ``function`` yields (as :func:`inspect.isgeneratorfunction`)."""
    flags = _flags(function)
    if flags is None:
        import inspect

        return inspect.isgeneratorfunction(function)
    return bool(flags & _CO_GENERATOR)


def is_async_generator_function(function: Any) -> bool:
    """Whether ``function`` is an ``async def`` that yields."""
    flags = _flags(function)
    if flags is None:
        import inspect

        return inspect.isasyncgenfunction(function)
    return bool(flags & _CO_ASYNC_GENERATOR)


def getdoc(function: Any) -> str | None:
    """The cleaned docstring (as :func:`inspect.getdoc`); inherited ones need :mod:`inspect`."""
    doc = getattr(function, "__doc__", None)
    if not isinstance(doc, str):
        import inspect

        return inspect.getdoc(function)
    return cleandoc(doc)


def cleandoc(doc: str) -> str:
    """Strip a docstring's indentation as :func:`inspect.cleandoc` does."""
    lines = doc.expandtabs().split("\n")
    margin = sys.maxsize
    for line in lines[1:]:
        content = len(line.lstrip())
        if content:
            margin = min(margin, len(line) - content)
    lines[0] = lines[0].lstrip()
    if margin < sys.maxsize:
        lines[1:] = [line[margin:] for line in lines[1:]]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines)
