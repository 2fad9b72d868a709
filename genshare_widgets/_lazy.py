"""Lazy package exports: a package's public names load from their submodule on first use.

Keeps ``import genshare_widgets`` (and each room's package) free of heavy imports; the CLI's
hot path relies on it.
"""

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, table: Mapping[str, str], names: list[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``table`` maps each exported name to the
    submodule (relative to ``package``) that defines it; ``names`` is the package's ``__all__``.
    A loaded name is cached in the package's namespace, so each import happens once."""

    def load(name: str) -> Any:
        if name in table:
            module = import_module(package)
            value = getattr(import_module(f"{package}.{table[name]}"), name)
            setattr(module, name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def listing() -> list[str]:
        return sorted(names)

    return load, listing
