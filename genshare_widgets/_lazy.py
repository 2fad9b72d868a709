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


def defer_dask_array_import() -> None:
    """Let xarray build Datasets without importing ``dask.array`` until something uses it.

    xarray asks "is this a dask array?" by importing ``dask.array`` (about 0.5 s here, scipy's
    FFT with it) the first time it builds any Dataset, even one of plain numpy arrays, as the
    counts Dataset is. No object can be a dask array before ``dask.array`` is imported, so
    until then the answer comes from ``sys.modules``; the first question after it is imported
    (by a Dask pass, ``open_zarr``, a user) loads xarray's real record and replaces this one.
    A no-op when xarray's private cache is not the shape this expects (another version) or
    already holds dask's record.

    The same holds one level up: xarray's ``is_dask_collection`` imports ``dask`` itself
    (0.1 s) to ask. Nothing is a Dask collection while ``dask`` has never been imported, so
    until then it answers False without importing; afterwards it is xarray's own function.
    """
    import sys

    _defer_dask_collection_check()

    try:
        from xarray.namedarray import pycompat
    except ImportError:  # pragma: no cover - xarray is a dependency
        return
    found: Any = getattr(pycompat, "_cached_duck_array_modules", None)
    record: Any = getattr(pycompat, "DuckArrayModule", None)
    if not isinstance(found, dict) or record is None or "dask" in found:
        return
    cache: dict[str, Any] = found

    class _DeferredDask(record):
        def __init__(self) -> None:  # nothing imported yet
            pass

        def _real(self):
            real = record("dask")
            cache["dask"] = real
            return real

        @property
        def type(self):
            return self._real().type if "dask.array" in sys.modules else ()

        @property
        def module(self):
            return self._real().module

        @property
        def version(self):
            return self._real().version

        @property
        def available(self):
            return self._real().available

    cache["dask"] = _DeferredDask()


def _defer_dask_collection_check() -> None:
    """Wrap ``xarray.namedarray.utils.is_dask_collection`` (see :func:`defer_dask_array_import`)."""
    import sys

    try:
        from xarray.namedarray import utils
    except ImportError:  # pragma: no cover - xarray is a dependency
        return
    original: Any = getattr(utils, "is_dask_collection", None)
    if original is None or getattr(original, "_genshare_deferred", False):
        return

    def is_dask_collection(x: object) -> bool:
        if "dask" not in sys.modules:  # no object can be one before dask is imported
            return False
        return bool(original(x))

    is_dask_collection._genshare_deferred = True  # type: ignore[attr-defined]
    utils.is_dask_collection = is_dask_collection  # type: ignore[assignment]
