"""Driving a tool to its result: plain calls, generators, coroutines and async generators.

This module owns what happens between "the tool was invoked" and "here is its result":

* a generator tool (sync or async) is driven here: each yielded value becomes a ``chunk``
  (or, without ``"stream": true``, an item of the result list), and before each value goes
  out the call is checked for a cancel, which closes the generator (``GeneratorExit`` in the
  tool) and raises :class:`~snakepit_bridge.errors.Cancelled`;
* a coroutine (an ``async def`` tool) and an async generator are handed to the serving mode's
  event loop through :meth:`Call.server.run_coroutine <snakepit_bridge.calls.Server>`;
* :func:`run_async_tool` is the coroutine the threaded server schedules for an ``async def``
  tool on its event loop thread.

A sync generator's return value is the call's result when it has one; an async generator has
none, so without streaming its collected values are the result.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from types import AsyncGeneratorType, CoroutineType, GeneratorType

from .errors import Cancelled
from .log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .adapter import Tool
    from .calls import Call
    from .context import CallContext, Stream

__all__ = [
    "DRIVEN",
    "chunk_data",
    "close_quietly",
    "drive_result",
    "drive_async_generator",
    "run_async_tool",
    "run_tool",
]


def run_tool(
    tool: Tool,
    args: dict[str, Any],
    ctx: CallContext | None,
    stream: Stream | None,
    call: Call,
) -> Any:
    """Invoke ``tool`` for ``call`` and drive what it returns to the call's result."""
    if tool.on_loop:
        outcome = tool.invoke(args, ctx, stream)
        if tool.is_async_generator:
            outcome = drive_async_generator(outcome, call)
        return call.server.run_coroutine(call, outcome)
    result = tool.invoke(args, ctx, stream)
    if type(result) in DRIVEN:
        return drive_result(result, call)
    return result


#: The types of values a tool returns that are driven to a result rather than sent.
DRIVEN = frozenset({GeneratorType, AsyncGeneratorType, CoroutineType})


def drive_result(result: Any, call: Call) -> Any:
    """Drive a generator, async generator or coroutine a tool returned to its result."""
    if type(result) is GeneratorType:
        return drive_generator(result, call)
    if type(result) is AsyncGeneratorType:
        return call.server.run_coroutine(call, drive_async_generator(result, call))
    # A plain function that returned a coroutine (an async dispatcher, say).
    return call.server.run_coroutine(call, result)


async def run_async_tool(
    tool: Tool,
    args: dict[str, Any],
    ctx: CallContext | None,
    stream: Stream | None,
    call: Call,
) -> Any:
    """The result of an ``async def`` tool (or async generator) run on the current loop."""
    outcome = tool.invoke(args, ctx, stream)
    if tool.is_async_generator or type(outcome) is AsyncGeneratorType:
        return await drive_async_generator(outcome, call)
    return await outcome


_PLAIN = (dict, list, str, bytes, int, float, bool, type(None), tuple)


def chunk_data(value: Any) -> Any:
    """The data to stream for a yielded or sent ``value``: itself, or the ``.data`` of an
    object with ``.data`` and ``.is_final`` (the original Snakepit's ``StreamChunk``)."""
    if type(value) in _PLAIN:
        return value
    if hasattr(value, "is_final") and hasattr(value, "data"):
        return value.data
    return value


def _deliver(value: Any, call: Call, collected: list[Any]) -> None:
    """Hand one yielded value on: a chunk when streaming, else collected; after a cancel
    check, so a cancelled generator is closed before its next value goes out.
    """
    if call.checkpoint():
        raise Cancelled()
    if call.streaming:
        call.send_chunk(chunk_data(value))
    else:
        collected.append(chunk_data(value))


def drive_generator(generator: Generator[Any, None, Any], call: Call) -> Any:
    """Run a generator tool: chunk (or collect) each value; return the final result."""
    collected: list[Any] = []
    try:
        while True:
            try:
                value = next(generator)
            except StopIteration as stop:
                returned = stop.value
                break
            _deliver(value, call, collected)
    except BaseException:
        close_quietly(generator)
        raise
    if call.streaming or returned is not None:
        return returned
    return collected


async def drive_async_generator(generator: AsyncGenerator[Any, None], call: Call) -> Any:
    """The ``async`` twin of :func:`drive_generator` (an async generator returns no value)."""
    collected: list[Any] = []
    try:
        async for value in generator:
            # A generator that never awaits starves the loop's link watcher, so look here.
            _deliver(value, call, collected)
    finally:
        try:
            await generator.aclose()
        except Exception as exc:
            log(f"an async generator raised {type(exc).__name__} while being closed: {exc}")
    return None if call.streaming else collected


def close_quietly(generator: Generator[Any, None, Any]) -> None:
    """Close a generator that is being abandoned, logging (not raising) what it raises."""
    try:
        generator.close()
    except Exception as exc:
        log(f"a generator raised {type(exc).__name__} while being closed: {exc}")
