"""The converted-store cache: content-keyed, built once, atomically.

A store's key is the sha256 of what determines its contents: the converter's format version,
the input files' sha256 (or a simulation recipe) and the chunk shape. The store is written to
``stores/<key>.vcz.partial-<pid>`` and renamed to ``stores/<key>.vcz`` only when complete (the
rename is atomic and is the last step), so an interrupted conversion never looks done: the next
open removes the leftover and rebuilds. Builders of one key take turns under a lock file
(``stores/<key>.vcz.lock``), so concurrent opens build the store once. The provenance record
lives in the store's root attributes (``genshare_provenance``), so the folder stays a plain Zarr
hierarchy; the sha256 of every chunk is recorded in the root attribute ``genshare_manifest``
before the rename (see :mod:`engines._integrity`).
"""

import contextlib
import contextvars
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from genshare_widgets._cache_paths import stores_dir
from genshare_widgets.engines._integrity import write_manifest
from genshare_widgets.fetch import build_lock, cache_dir, sha256_file, writes_to_cache

# 2: call_genotype_packed + variant_genotype_packable; 3: manifest;
# 4: variant_n_alleles + variant_snv (engines/_variants.py);
# 5: variant_ref_alt_length + variant_ref_alt_bytes (REF/first ALT, engines/_variants.py);
# 6: variant_end (INFO/END of symbolic alleles, else POS + len(REF) - 1)
INGEST_FORMAT_VERSION = 6


def store_key(inputs: dict[str, Any]) -> str:
    """A short content key for a store built from ``inputs`` (JSON-serialisable)."""
    payload = json.dumps(
        {"ingest_format": INGEST_FORMAT_VERSION, **inputs}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def store_path(key: str) -> Path:
    """Where the store with this key lives once complete."""
    return stores_dir() / f"{key}.vcz"


def is_complete(path: Path) -> bool:
    """True when ``path`` is a finished store (only complete stores ever get the final name)."""
    return (path / ".zgroup").is_file()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(
    key: str, *, root: Path | None = None, suffix: str = ".vcz", locked: bool = False
) -> list[Path]:
    """Delete partial stores ``<root>/<key><suffix>.partial-<pid>`` of processes that no longer
    run (``root`` defaults to the VCF-Zarr stores folder). ``locked``: the caller holds the
    key's :func:`~genshare_widgets.fetch.build_lock`, so every partial is debris (even one whose
    pid a new process reuses, as happens when a container restarts)."""
    removed: list[Path] = []
    root = stores_dir() if root is None else root
    if not root.is_dir():
        return removed
    for partial in root.glob(f"{key}{suffix}.partial-*"):
        try:
            pid = int(partial.name.rsplit("-", 1)[1])
        except ValueError:
            pid = -1
        if locked or pid == os.getpid() or pid < 0 or not _pid_alive(pid):
            shutil.rmtree(partial, ignore_errors=True)
            removed.append(partial)
    return removed


def make_owner_only(path: Path) -> Path:
    """Make ``path`` readable by its owner only: folders 0700, files 0600, all the way down
    (a store holding a registered or controlled cohort's genotypes)."""
    path = Path(path)
    if path.is_file():
        os.chmod(path, 0o600)
        return path
    os.chmod(path, 0o700)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o700)
        for name in files:
            os.chmod(os.path.join(root, name), 0o600)
    return path


def ensure_owner_only(path: Path) -> Path:
    """:func:`make_owner_only` unless ``path`` already is (one ``stat`` when it is)."""
    if (Path(path).stat().st_mode & 0o077) != 0:
        make_owner_only(path)
    return Path(path)


_REBUILD: contextvars.ContextVar[bool] = contextvars.ContextVar("genshare_rebuild", default=False)


@contextlib.contextmanager
def rebuilding() -> Iterator[None]:
    """Within this block, a store that is already complete is deleted and built again
    (``genshare prepare SOURCE --rebuild``: a damaged store)."""
    token = _REBUILD.set(True)
    try:
        yield
    finally:
        _REBUILD.reset(token)


def _discard_for_rebuild(final: Path) -> bool:
    """Under :func:`rebuilding`: move the complete store ``final`` aside and delete it
    (True); otherwise False. The aside name is a partial's, so a crash leaves only debris
    that the next build removes."""
    if not _REBUILD.get():
        return False
    aside = final.with_name(f"{final.name}.partial-old{os.getpid()}")
    os.rename(final, aside)
    shutil.rmtree(aside, ignore_errors=True)
    return True


def build_store(
    key: str,
    build: Callable[[Path], dict],
    *,
    meta: dict[str, Any],
    owner_only: bool = False,
) -> Path:
    """Return the complete store for ``key``, building it with ``build(tmp_path)`` if needed.

    ``build`` writes a store at the path it is given and returns a summary; on any error
    (or KeyboardInterrupt) the partial folder is removed and nothing is left in the cache.
    ``owner_only``: the store holds a registered or controlled cohort's genotypes: it is
    made 0700/0600 before it gets its final name (and an existing one is made so).
    """
    final = store_path(key)
    if is_complete(final) and not rebuild_requested():
        return ensure_owner_only(final) if owner_only else final
    with writes_to_cache(), build_lock(final):  # one builder per key; others wait, find it
        if is_complete(final) and not _discard_for_rebuild(final):
            return ensure_owner_only(final) if owner_only else final
        remove_stale_partials(key, locked=True)
        if final.exists():  # not a Zarr group: debris from a foreign tool or a damaged disk
            shutil.rmtree(final)
        tmp = final.with_name(f"{final.name}.partial-{os.getpid()}")
        try:
            summary = build(tmp)
            record = {"key": key, **meta, "summary": summary}
            import zarr  # only when a store is built: opening one reads no zarr-python

            group = zarr.open_group(str(tmp), mode="r+", zarr_format=2)
            group.attrs["genshare_provenance"] = json.loads(json.dumps(record, default=str))
            write_manifest(tmp)  # per-chunk sha256s, checked by the readers (engines._integrity)
            if owner_only:
                make_owner_only(tmp)
            move_into_place(tmp, final, complete=is_complete)
            if owner_only:
                ensure_owner_only(final)  # a process without the lock may have won the race
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def move_into_place(tmp: Path, final: Path, *, complete: Callable[[Path], bool]) -> None:
    """Rename a finished build folder to its final name; when another process got there
    first (``final`` exists and ``complete(final)``), drop ours instead."""
    try:
        os.rename(tmp, final)
    except OSError:
        if not complete(final):  # not a lost race: re-raise
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another process finished first


def store_provenance(path: Path) -> dict[str, Any]:
    """The provenance record in a store's root attributes (empty for foreign stores)."""
    attrs_file = path / ".zattrs"
    if attrs_file.is_file():
        return json.loads(attrs_file.read_text()).get("genshare_provenance", {})
    return {}


def _hash_index_path() -> Path:
    return cache_dir() / "file_hashes.json"


def file_sha256_cached(path: Path) -> str:
    """sha256 of a local file, remembered by (real path, size, mtime) so re-opens are instant."""
    real = path.resolve()
    stat = real.stat()
    ident = f"{real}|{stat.st_size}|{stat.st_mtime_ns}"
    index_path = _hash_index_path()
    index: dict[str, str] = {}
    if index_path.is_file():
        with contextlib.suppress(ValueError):
            index = json.loads(index_path.read_text())
    if ident in index:
        return index[ident]
    digest = sha256_file(real)
    index[ident] = digest
    tmp = None
    try:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".file_hashes.", dir=index_path.parent)
        with os.fdopen(fd, "w") as fh:
            json.dump(index, fh)
        os.replace(tmp, index_path)
    except OSError:
        # the index only saves re-hashing: a full or read-only cache goes on without it
        # (the old index stays whole; the write that needs the cache names the problem)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return digest


def rebuild_requested() -> bool:
    """True within :func:`rebuilding`."""
    return _REBUILD.get()
