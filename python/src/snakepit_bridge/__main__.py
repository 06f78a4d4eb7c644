"""Command line entry point: ``python -m snakepit_bridge --adapter module:Class``.

This module owns argument parsing only; :mod:`snakepit_bridge.runtime` does the work.
The adapter may also be named by the ``SNAKEPIT_ADAPTER`` environment variable.

``--call TOOL [JSON]`` runs one tool in-process (through :mod:`snakepit_bridge.testing`) and
prints its result, to try a tool without the host. Run by hand on a terminal with no link
(no ``SNAKEPIT_FD``), the worker explains how to use it instead of writing binary frames to
the terminal. Adapters are imported from the current directory, also by the
``snakepit-bridge`` console script.
"""

from __future__ import annotations

import os
import sys

from . import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def _worker_adapter(argv: list[str]) -> str | None:
    """The adapter of a plain worker started by a host (``--adapter X`` on a link), read
    without :mod:`argparse`, whose import costs every worker start several milliseconds;
    ``None`` for any other command line, which goes through the full parser."""
    if not os.environ.get("SNAKEPIT_FD"):
        return None
    if len(argv) == 2 and argv[0] == "--adapter" and argv[1] and not argv[1].startswith("-"):
        return argv[1]
    if not argv:
        return os.environ.get("SNAKEPIT_ADAPTER") or None
    return None


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run a worker; returns the process exit code."""
    fast = _worker_adapter(sys.argv[1:] if argv is None else argv)
    if fast is not None:
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        from .runtime import main as run_worker

        try:
            return run_worker(fast)
        except KeyboardInterrupt:
            return 130
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m snakepit_bridge",
        description="Run a snakepit worker that serves the tools of one adapter class.",
    )
    parser.add_argument(
        "--adapter",
        default=os.environ.get("SNAKEPIT_ADAPTER"),
        help="the adapter class as 'package.module:Class' (default: $SNAKEPIT_ADAPTER)",
    )
    parser.add_argument(
        "--call",
        nargs="+",
        metavar=("TOOL", "JSON"),
        help="run TOOL once in-process with the JSON object of arguments, print the result",
    )
    parser.add_argument("--version", action="version", version=f"snakepit_bridge {__version__}")
    args = parser.parse_args(argv)
    if not args.adapter:
        parser.print_usage(sys.stderr)
        print("error: --adapter module:Class is required", file=sys.stderr)
        return 2
    # Like `python -m`, find adapters in the current directory (the console script does not).
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    if args.call:
        return _call_once(parser, args.adapter, args.call)
    if not os.environ.get("SNAKEPIT_FD") and sys.stdout.isatty():
        print(_BY_HAND.format(adapter=args.adapter), file=sys.stderr)
        return 2

    from .runtime import main as run_worker

    try:
        return run_worker(args.adapter)
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches the whole process group; leave without a traceback.
        return 130


_BY_HAND = """\
snakepit_bridge: this is a worker; it speaks binary frames to a snakepit host, not to a terminal.
  try one tool here:  python -m snakepit_bridge --adapter {adapter} --call TOOL '{{"key": "value"}}'
  run it from a host: snakepit call TOOL --adapter {adapter} --args '{{"key": "value"}}'
  list its tools:     snakepit tools --adapter {adapter}"""


def _call_once(parser: argparse.ArgumentParser, adapter_spec: str, call: list[str]) -> int:
    """Run one tool in-process and print its result as JSON; returns the exit code."""
    import json

    if len(call) > 2:
        parser.error("--call takes a tool name and at most one JSON object")
    tool = call[0]
    try:
        arguments = json.loads(call[1]) if len(call) == 2 else {}
    except json.JSONDecodeError as exc:
        parser.error(f"the arguments of --call are not valid JSON: {exc}")
    if not isinstance(arguments, dict):
        parser.error("the arguments of --call must be a JSON object")

    from .runtime import AdapterLoadError, load_adapter_class
    from .testing import AdapterHarness, UnknownTool

    try:
        harness = AdapterHarness(load_adapter_class(adapter_spec))
    except AdapterLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        result = harness.call(tool, arguments)
    except UnknownTool as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        harness.close()
    print(json.dumps(result, indent=2, default=repr))
    return 0


if __name__ == "__main__":
    sys.exit(main())
