"""The light signature reader agrees with :mod:`inspect`, and a worker starts without the
heavy modules it no longer needs."""

from __future__ import annotations

import functools
import inspect
import os
import subprocess
import sys

import pytest

from snakepit_bridge import signature as sig


def plain(a, b: int = 2, *args, c, d: str = "x", **kwargs) -> None: ...
def positional_only(a, /, b=1) -> None: ...
def no_arguments() -> None: ...
async def coroutine(x: float) -> None: ...
def generator(n):
    yield n


async def async_generator(n):
    yield n


class Holder:
    def method(self, value, *, flag=False) -> None: ...

    @staticmethod
    def static(value) -> None: ...

    @classmethod
    def klass(cls, value=3) -> None: ...


def _decorated(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)

    return wrapper


CASES = [
    plain,
    positional_only,
    no_arguments,
    coroutine,
    generator,
    async_generator,
    Holder().method,
    Holder.static,
    Holder.klass,
    Holder.method,
    _decorated(plain),
    functools.partial(plain, 1),
    len,
]


def _expected(function):
    empty = inspect.Parameter.empty
    return [
        (
            p.name,
            int(p.kind),
            sig.EMPTY if p.default is empty else p.default,
            sig.EMPTY if p.annotation is empty else p.annotation,
        )
        for p in inspect.signature(function).parameters.values()
    ]


@pytest.mark.parametrize("function", CASES, ids=lambda f: getattr(f, "__name__", repr(f)))
def test_parameters_and_kinds_match_inspect(function):
    assert [p.as_tuple() for p in sig.parameters(function)] == _expected(function)
    assert sig.is_coroutine_function(function) == inspect.iscoroutinefunction(function)
    assert sig.is_generator_function(function) == inspect.isgeneratorfunction(function)
    assert sig.is_async_generator_function(function) == inspect.isasyncgenfunction(function)
    assert sig.getdoc(function) == inspect.getdoc(function)


def test_docstrings_are_cleaned_like_inspect():
    def documented():
        """First line.

            Indented more.
        Back.
        """

    assert sig.getdoc(documented) == inspect.getdoc(documented)


def test_a_worker_imports_no_inspect_argparse_or_pathlib():
    """The modules the bridge made lazy stay unimported through a plain worker's start."""
    code = (
        "import sys\n"
        "import snakepit_bridge.runtime, snakepit_bridge.__main__\n"
        "from snakepit_bridge.examples.bench import BenchAdapter\n"
        "from snakepit_bridge.adapter import discover_tools\n"
        "discover_tools(BenchAdapter())\n"
        "heavy = {'inspect', 'argparse', 'pathlib', 'decimal', 'dataclasses', 'asyncio',"
        " 'traceback', 'platform', 'shutil'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    env = dict(os.environ)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
