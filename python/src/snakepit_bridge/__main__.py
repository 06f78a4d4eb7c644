"""Command line entry point: ``python -m snakepit_bridge --adapter module:Class``.

This module owns argument parsing only; :mod:`snakepit_bridge.runtime` does the work.
The adapter may also be named by the ``SNAKEPIT_ADAPTER`` environment variable.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run a worker; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m snakepit_bridge",
        description="Run a snakepit worker that serves the tools of one adapter class.",
    )
    parser.add_argument(
        "--adapter",
        default=os.environ.get("SNAKEPIT_ADAPTER"),
        help="the adapter class as 'package.module:Class' (default: $SNAKEPIT_ADAPTER)",
    )
    parser.add_argument("--version", action="version", version=f"snakepit_bridge {__version__}")
    args = parser.parse_args(argv)
    if not args.adapter:
        parser.print_usage(sys.stderr)
        print("error: --adapter module:Class is required", file=sys.stderr)
        return 2

    from .runtime import main as run_worker

    try:
        return run_worker(args.adapter)
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches the whole process group; leave without a traceback.
        return 130


if __name__ == "__main__":
    sys.exit(main())
