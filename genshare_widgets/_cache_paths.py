"""Where the cache lives (standard library only): the cache root and the stores folder.

:mod:`genshare_widgets.engines._store` (which builds stores) and
:mod:`genshare_widgets.engines._integrity` (which tells a damaged store how to be rebuilt)
both need the stores folder; it is here so that neither imports the other for it.
"""

import os
from pathlib import Path


def cache_root() -> Path:
    """The cache root: ``GENSHARE_CACHE`` or the user cache folder (``~/.cache/genshare``);
    the same as ``fetch.cache_dir()``, without importing the catalog schema that ``fetch``
    needs (pydantic: a quarter of a second on the ``genshare stats`` hot path)."""
    env = os.environ.get("GENSHARE_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "genshare"


def stores_dir() -> Path:
    """Folder holding converted stores."""
    return cache_root() / "stores"
