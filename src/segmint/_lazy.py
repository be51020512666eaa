"""Lazy package exports: a package's names load their module on first use (PEP 562).

``import segmint.segments.rules`` must not pay for the report's charts, nor ``import
segmint.recommend`` for the warehouse, only because a package ``__init__`` re-exports
everything. A package lists its imports once, under ``if TYPE_CHECKING:`` (so type checkers
and editors see them), and hands its own file to :func:`exports`::

    from typing import TYPE_CHECKING

    from segmint._lazy import exports

    if TYPE_CHECKING:
        from segmint.features._compute import compute_features

    __all__ = ["compute_features"]
    __getattr__, __dir__ = exports(__name__, __file__, __all__)

Those import statements are read from the file (the approach of scientific-python's
``lazy_loader.attach_stub``, without a stub file): reading ``compute_features`` imports
``segmint.features._compute`` then, and only then.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def _type_checking_imports(source: str) -> dict[str, tuple[str, str]]:
    """``{name: (module, attribute)}`` of each ``from module import attribute [as name]``
    under ``if TYPE_CHECKING:``."""
    names: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0:
                names.update({a.asname or a.name: (stmt.module, a.name) for a in stmt.names})
    return names


def exports(
    package: str, file: str, public: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each name of ``public`` is imported
    from the module its ``if TYPE_CHECKING:`` import names, the first time it is read."""
    where = _type_checking_imports(Path(file).read_text(encoding="utf-8"))
    missing = sorted(set(public) - set(where))
    if missing:  # a slip in the package's own file: fail on import, not on first use
        raise ImportError(f"{package}: {missing} in __all__ but not imported under TYPE_CHECKING")

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = where[name]
        value = getattr(importlib.import_module(module), attribute)
        setattr(sys.modules[package], name, value)  # the next read is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted({*public, *where})

    return __getattr__, __dir__
