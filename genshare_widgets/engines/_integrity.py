"""Store integrity: a manifest of every chunk's sha256, checked as chunks are read.

At build, before a store gets its final name, :func:`write_manifest` records in the root
attribute ``genshare_manifest`` the sha256 of every array's ``.zarray`` and ``.zattrs`` and
of every chunk file of the array's chunk grid, with ``null`` for a chunk that was never
written (Zarr reads it as the fill value). Listing the whole grid is what catches a *deleted*
chunk: Zarr silently reads a missing chunk file as fill values.

The manifest is a root attribute, not a file beside the arrays: Zarr 3 warns
(``ZarrUserWarning``) about any file at a group's root that is neither array nor group, in
every reader (xarray, sgkit); an attribute travels with the store when it is copied, and a
remote open fetches it with the other metadata (no extra request for a URL store's content
hash). It costs about 80 bytes per chunk in ``.zattrs``; :func:`open_cohort` drops it from
the Dataset's attributes.

The **store content hash** is the sha256 of the canonical manifest JSON. It covers the
arrays (data and metadata) but not the root ``.zattrs``, which holds the provenance record
with local paths: the same data converted in another folder has the same content hash.

Readers check cheaply:

- ``open_cohort`` and :func:`engines._direct.open_direct` call :func:`verify_store` at open:
  every file of the manifest is ``stat``-ed and only files whose (inode, size, mtime, ctime)
  changed since the last verification are hashed again (the stamp lives in
  ``$GENSHARE_CACHE/verified/``); a rename (a swap) changes the inode, a rewrite the ctime;
- :class:`engines._direct.DirectStore` also hashes each chunk's bytes as it reads them (they
  are in memory already; :class:`ChunkManifest`), so a chunk changed after the open is caught
  too. The Dask pass reads through Zarr and relies on the check at open.

A mismatch raises :class:`StoreIntegrityError` naming the store, the array and chunk, and the
command that rebuilds the store.
"""

import contextlib
import hashlib
import json
import os
import tempfile
from itertools import product
from pathlib import Path
from typing import Any

from genshare_widgets._cache_paths import cache_root, stores_dir
from genshare_widgets._errors import GenShareError
from genshare_widgets._hashing import sha256_file

MANIFEST_ATTR = "genshare_manifest"
MANIFEST_VERSION = 1
_META_FILES = (".zarray", ".zattrs")


class StoreIntegrityError(GenShareError):
    """A store's chunk or metadata file differs from what was recorded when it was built."""


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunk_keys(meta: dict[str, Any]) -> list[str]:
    """Every chunk key of a Zarr v2 array's grid (``.zarray`` metadata), in C order."""
    shape, chunks = meta["shape"], meta["chunks"]
    sep = meta.get("dimension_separator") or "."
    if not shape:
        return ["0"]
    counts = [-(-s // max(c, 1)) for s, c in zip(shape, chunks, strict=True)]
    return [sep.join(map(str, idx)) for idx in product(*(range(n) for n in counts))]


def _array_folders(store: Path) -> list[str]:
    """Relative paths (``/``-separated) of the arrays of a Zarr v2 hierarchy, sorted."""
    found = []
    for root, dirs, files in os.walk(store):
        dirs.sort()
        if ".zarray" in files:
            found.append(Path(root).relative_to(store).as_posix())
            dirs[:] = []  # chunk folders (nested keys) are not arrays
    return sorted(found)


def _layout(store: Path) -> dict[str, list[str]]:
    """{array: [files relative to the array folder]} that a manifest covers."""
    layout = {}
    for name in _array_folders(store):
        try:
            meta = json.loads((store / name / ".zarray").read_text())
            layout[name] = [*_META_FILES, *chunk_keys(meta)]
        except (OSError, ValueError, KeyError, TypeError):  # the store reader names it
            layout[name] = list(_META_FILES)
    return layout


def _hash_files(
    store: Path,
    layout: dict[str, list[str]],
    known: dict[str, Any] | None = None,
    fresh: dict[str, list[int]] | None = None,
) -> tuple[dict[str, Any], dict[str, list]]:
    """→ (the manifest of ``store``'s files in ``layout`` as they are now, the stamp of what
    was hashed). A file whose (inode, size, mtime, ctime) is in ``known`` (an earlier stamp)
    keeps its recorded hash instead of being read again; the files read and hashed now go
    into ``fresh`` (path → their identity when hashed)."""
    fresh = {} if fresh is None else fresh
    known = known or {}
    seen: dict[str, list] = {}

    def sha256_of(rel: str) -> str | None:
        path = store / rel
        try:
            ident = _file_ident(path.stat())
        except FileNotFoundError:
            return None
        old = known.get(rel)
        if isinstance(old, list) and len(old) == 5 and old[:4] == ident:
            digest = old[4]  # unchanged since it was last hashed
        else:
            digest = sha256_file(path)
            if _file_ident(path.stat()) != ident:  # changed while it was hashed: not fresh
                ident = [-1, -1, -1, -1]
            fresh[rel] = ident
        seen[rel] = [*ident, digest]
        return digest

    arrays = {
        name: {rel: sha256_of(f"{name}/{rel}") for rel in files} for name, files in layout.items()
    }
    manifest = {"manifest_version": MANIFEST_VERSION, "zgroup": sha256_of(".zgroup")}
    return {**manifest, "arrays": arrays}, seen


def build_manifest(store: Path) -> dict[str, Any]:
    """The manifest of ``store`` as it is now (hashes every file; used at build)."""
    store = Path(store)
    return _hash_files(store, _layout(store))[0]


def content_hash(manifest: dict[str, Any]) -> str:
    """The store content hash: sha256 of the canonical JSON of its manifest."""
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return _sha256_bytes(canonical.encode())


def write_manifest(store: Path) -> str:
    """Record the manifest of a freshly built ``store`` in its root attributes; → its
    content hash."""
    manifest = build_manifest(store)
    attrs_file = Path(store) / ".zattrs"
    attrs = json.loads(attrs_file.read_text()) if attrs_file.is_file() else {}
    attrs[MANIFEST_ATTR] = manifest
    attrs_file.write_text(json.dumps(attrs, indent=2, sort_keys=True) + "\n")
    return content_hash(manifest)


def manifest_of(attrs: Any) -> dict[str, Any] | None:
    """The manifest in a store's root attributes, or None (a foreign store or one built
    before manifests)."""
    manifest = attrs.get(MANIFEST_ATTR) if isinstance(attrs, dict) else None
    if isinstance(manifest, dict) and isinstance(manifest.get("arrays"), dict):
        return manifest
    return None


def read_manifest(store: Path) -> dict[str, Any] | None:
    """The recorded manifest of a local store, or None when it has none. A manifest that is
    present but damaged is an integrity error."""
    attrs_file = Path(store) / ".zattrs"
    if not attrs_file.is_file():
        return None
    try:
        attrs = json.loads(attrs_file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreIntegrityError(
            f"store {store}: its root attributes .zattrs are damaged ({exc}). "
            + rebuild_hint(Path(store))
        ) from None
    if isinstance(attrs, dict) and MANIFEST_ATTR in attrs and manifest_of(attrs) is None:
        raise StoreIntegrityError(
            f"store {store}: its checksum manifest (root attribute {MANIFEST_ATTR}) is "
            f"damaged. {rebuild_hint(Path(store))}"
        )
    return manifest_of(attrs)


def rebuild_hint(store: Path) -> str:
    """What to do about a damaged store: the command that rebuilds it from its source."""
    record: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError, AttributeError):
        record = json.loads((store / ".zattrs").read_text()).get("genshare_provenance", {})
    source = record.get("source")
    words = [source] if isinstance(source, str) else [str(s) for s in source or []]
    if words:
        import shlex

        command = shlex.join(["genshare", "prepare", *words, "--rebuild"])
        with contextlib.suppress(ValueError, OSError):
            store.resolve().relative_to(stores_dir().resolve())
            return (
                f"Rebuild it with '{command}' (or delete the folder {store} and run the "
                "command again)."
            )
        return (
            f"Convert its source again with '{command}' (it prints the new store's path) "
            f"and use that store instead of {store}."
        )
    return f"Delete the folder {store} and convert its source again ('genshare prepare SOURCE')."


def _mismatch(store: Path, array: str, rel: str, what: str) -> StoreIntegrityError:
    kind = "metadata file" if rel in _META_FILES else "chunk"
    return StoreIntegrityError(
        f"store {store}: {kind} {array}/{rel} {what} (the store was damaged or changed after "
        f"it was built). {rebuild_hint(store)}"
    )


# store folder (resolved) → {file path in the store: (inode, size, mtime, ctime) when this
# process hashed it in verify_store and found it equal to the manifest}
_HASHED_NOW: dict[str, dict[str, list[int]]] = {}


class ChunkManifest:
    """Checks bytes read from a local store against its manifest (no manifest: no check).

    Parameters
    ----------
    store
        The store folder.
    """

    def __init__(self, store: Path) -> None:
        self.store = Path(store)
        self.manifest = read_manifest(self.store)
        self._hashed_now = _HASHED_NOW.setdefault(str(self.store.resolve()), {})

    def check(
        self, array: str, rel: str, data: bytes | None, ident: list[int] | None = None
    ) -> None:
        """Raise :class:`StoreIntegrityError` unless ``data`` (None: the file is absent) is
        what the manifest recorded for file ``rel`` of ``array``.

        ``ident``: the file's (inode, size, mtime, ctime) taken after ``data`` was read
        (:func:`file_ident`). When :func:`verify_store` hashed that very file version in this
        process (same identity) and found it right, the bytes are not hashed again: the first
        open of a store hashes each chunk once. A file changed since (rewritten, replaced,
        truncated) has another identity and is hashed, as is every file verified by an earlier
        process (its stamp only says the file was not changed through the file system).
        """
        if self.manifest is None:
            return
        entry = self.manifest["arrays"].get(array)
        if entry is None:
            raise _mismatch(self.store, array, rel, "belongs to no array the store was built with")
        if rel not in entry:
            return  # outside the recorded grid: the metadata check has caught a changed shape
        expected = entry[rel]
        if data is None:
            if expected is not None:
                raise _mismatch(self.store, array, rel, "is missing")
            return
        if expected is None:
            raise _mismatch(self.store, array, rel, "was added")
        if ident is not None and self._hashed_now.get(f"{array}/{rel}") == ident:
            return  # these bytes were hashed and found right moments ago (same file version)
        if _sha256_bytes(data) != expected:
            raise _mismatch(self.store, array, rel, "does not match its recorded sha256")


_cache_root = cache_root  # ``fetch.cache_dir()`` without importing ``fetch``


def _stamp_path(store: Path) -> Path:
    ident = _sha256_bytes(str(store.resolve()).encode())[:24]
    return _cache_root() / "verified" / f"{ident}.json"


def _file_ident(stat: os.stat_result) -> list[int]:
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def read_with_ident(path: Path) -> tuple[bytes, list[int]]:
    """A file's bytes and its (inode, size, mtime, ctime) taken after reading them (a change
    during the read changes the identity)."""
    with open(path, "rb") as fh:
        data = fh.read()
        return data, _file_ident(os.fstat(fh.fileno()))


def verify_store(store: Path) -> str:
    """Check every file of a local store against its manifest; → the store content hash.

    Files unchanged since the last verification (same inode, size, mtime and ctime) are not
    hashed again. A store without a manifest (foreign, or built before manifests) is not
    checked; its content hash is computed from its files (cached the same way).
    """
    store = Path(store)
    manifest = read_manifest(store)
    stamp_file = _stamp_path(store)
    stamp: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        stamp = json.loads(stamp_file.read_text())
    if not isinstance(stamp, dict):
        stamp = {}
    known = stamp.get("files", {}) if isinstance(stamp.get("files"), dict) else {}
    if manifest is None:
        manifest, seen = _hash_files(store, _layout(store), known)
    else:
        recorded = manifest["arrays"]
        extra = sorted(set(_array_folders(store)) - set(recorded))
        if extra:
            raise StoreIntegrityError(
                f"store {store}: array {extra[0]} was added after the store was built. "
                + rebuild_hint(store)
            )
        layout = {name: list(files) for name, files in recorded.items()}
        fresh: dict[str, list[int]] = {}
        current, seen = _hash_files(store, layout, known, fresh)
        for name, files in layout.items():
            for rel in files:
                now, then = current["arrays"][name][rel], recorded[name][rel]
                if now != then:
                    what = (
                        "is missing"
                        if now is None
                        else "was added"
                        if then is None
                        else "does not match its recorded sha256"
                    )
                    raise _mismatch(store, name, rel, what)
        # Every file hashed just now matched the manifest: a reader of this process that reads
        # one of them with the same identity need not hash those bytes a second time.
        _HASHED_NOW.setdefault(str(store.resolve()), {}).update(fresh)
    digest = content_hash(manifest)
    if seen != known:
        with contextlib.suppress(OSError):  # a read-only cache only costs a rehash next time
            stamp_file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".stamp.", dir=stamp_file.parent)
            with os.fdopen(fd, "w") as fh:
                json.dump({"content_sha256": digest, "files": seen}, fh)
            os.replace(tmp, stamp_file)
    return digest


def folder_content_hash(folder: Path, *, exclude: tuple[str, ...] = ()) -> str:
    """sha256 over the sorted (relative path, sha256) of every file under ``folder`` except the
    top-level names in ``exclude``: the content hash of a Hail MatrixTable at build."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel.split("/", 1)[0] in exclude:
            continue
        digest.update(f"{rel}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()
