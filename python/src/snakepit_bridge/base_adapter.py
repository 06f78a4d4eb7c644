"""The original Snakepit's module path for the adapter base class and ``@tool``."""

from __future__ import annotations

from .adapter import BaseAdapter, tool

__all__ = ["BaseAdapter", "tool"]
