"""Tool specs from Python functions: docstring sections, annotations and defaults.

This module owns how the ``hello`` tool spec describes a tool without running it: the
description is the docstring's first paragraph, parameter texts and types come from a
Google-style ``Args:`` section (``name (type): text``) or the annotations, and defaults are
kept only when both encodings can carry them (else their ``repr``).
"""

from __future__ import annotations

from .signature import EMPTY

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["first_paragraph", "parse_args_section", "plain_default", "type_name"]

_SECTION_NAMES = ("args:", "arguments:", "parameters:", "params:")
#: The pattern of one ``name (type): text`` line, compiled the first time a docstring has
#: an ``Args:`` section (a worker whose tools have none never imports ``re``).
_ARG_LINE: Any = None


def _arg_line() -> Any:
    global _ARG_LINE
    if _ARG_LINE is None:
        import re

        _ARG_LINE = re.compile(
            r"^\*{0,2}(?P<name>\w+)\s*(?:\((?P<type>[^)]*)\))?\s*:\s*(?P<text>.*)$"
        )
    return _ARG_LINE


def first_paragraph(doc: str) -> str | None:
    lines: list[str] = []
    for line in doc.strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines) or None


def parse_args_section(doc: str) -> dict[str, tuple[str | None, str]]:
    """Parse a Google-style ``Args:`` section into ``{name: (type, description)}``."""
    entries: dict[str, tuple[str | None, str]] = {}
    lines = doc.splitlines()
    index = 0
    while index < len(lines) and lines[index].strip().lower() not in _SECTION_NAMES:
        index += 1
    if index == len(lines):
        return entries
    arg_line = _arg_line()
    section_indent = len(lines[index]) - len(lines[index].lstrip())
    entry_indent: int | None = None
    current: str | None = None
    for line in lines[index + 1 :]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= section_indent:
            break
        if entry_indent is None:
            entry_indent = indent
        match = arg_line.match(line.strip())
        if indent == entry_indent and match:
            current = match.group("name")
            entries[current] = (match.group("type"), match.group("text").strip())
        elif current is not None:
            type_name, text = entries[current]
            entries[current] = (type_name, f"{text} {line.strip()}".strip())
    return entries


def type_name(annotation: Any) -> str | None:
    if annotation is EMPTY:
        return None
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def plain_default(value: Any) -> Any:
    """Return ``value`` when both encodings can carry it, else its ``repr``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain_default(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: plain_default(item) for key, item in value.items()}
    return repr(value)
