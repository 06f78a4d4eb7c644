"""Finding a worker's adapter class from its ``module:Class`` name."""

from __future__ import annotations

import sys

from .errors import AdapterLoadError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["load_adapter_class"]


def load_adapter_class(spec: str) -> type:
    """Import ``module:Class`` (or ``module.Class``) and return the class."""
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
    else:
        module_name, _, attribute = spec.rpartition(".")
    if not module_name or not attribute:
        raise AdapterLoadError(f"adapter {spec!r} is not of the form 'module:Class'")
    try:
        # `__import__` rather than `importlib.import_module`, whose package a worker's start
        # would otherwise import for this one call.
        __import__(module_name)
        module = sys.modules[module_name]
    except Exception as exc:
        raise AdapterLoadError(
            f"cannot import module {module_name!r} for adapter {spec!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AdapterLoadError(
                f"module {module_name!r} has no attribute {attribute!r} (adapter {spec!r})"
            ) from None
    if not isinstance(target, type):
        raise AdapterLoadError(f"adapter {spec!r} is a {type(target).__name__}, not a class")
    return target
