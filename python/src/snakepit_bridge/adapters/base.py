"""The original Snakepit's (v0.4) module path for the adapter base class."""

from __future__ import annotations

from ..adapter import BaseAdapter, tool

__all__ = ["BaseAdapter", "tool"]
