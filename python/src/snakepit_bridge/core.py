"""The original Snakepit's (v0.4) module path for its worker set-up helpers."""

from __future__ import annotations

from .compat import setup_broken_pipe_suppression, setup_graceful_shutdown

__all__ = ["setup_broken_pipe_suppression", "setup_graceful_shutdown"]
