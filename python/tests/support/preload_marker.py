"""A module that records each import: it appends the importing process's pid to the file
named by ``SNAKEPIT_PRELOAD_LOG``. The zygote tests preload it and count the lines."""

from __future__ import annotations

import os

_log = os.environ.get("SNAKEPIT_PRELOAD_LOG")
if _log:
    with open(_log, "a") as handle:
        handle.write(f"{os.getpid()}\n")
