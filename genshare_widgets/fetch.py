"""Verified, atomic fetching of catalog files into the local cache.

Every file comes either from an offline mirror (``GENSHARE_MIRROR``: a folder searched
recursively for the file's name) or from its documented URL via pooch, and is checked against
the catalog's sha256 before it enters the cache. A file that fails the check is moved to
``<cache>/quarantine/`` and never used. Files land in the cache through a temporary name and an
atomic rename, so an interrupted fetch leaves nothing that looks complete.

Beside each cached file, ``<file>.sha256`` records the hash, size and mtime it was verified
with; a cached file whose size or mtime changed since is hashed again (and quarantined if it no
longer verifies). Where the catalog knows no sha256 (some providers publish only md5 or
nothing), the hash recorded at the first fetch is the one later fetches are checked against.

Cache layout (``GENSHARE_CACHE``, default ``~/.cache/genshare``)::

    downloads/<cohort-id>/<file>      verified files
    quarantine/<file>.<sha256>        files that failed verification
    stores/<key>.vcz                  converted VCF-Zarr stores (see ``genshare_widgets.engines``)
    simulated/<cohort-id>-<key>/      VCFs and sample tables built from simulation recipes

``GENSHARE_OFFLINE=1`` forbids any download except from this machine (loopback): files must
then come from the cache or a mirror. The test suite runs that way.
"""

import contextlib
import errno
import fcntl
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from genshare_widgets._errors import FetchError, GenShareError
from genshare_widgets._hashing import sha256_file
from genshare_widgets.catalog import CohortEntry, FileSpec

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """The cache root: ``GENSHARE_CACHE`` or the user cache folder (``~/.cache/genshare``)."""
    env = os.environ.get("GENSHARE_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "genshare"


@contextlib.contextmanager
def build_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock for building ``target`` (a file ``<target>.lock`` beside it).

    Processes that build the same cached thing take turns: the second waits, then finds the
    first one's result (callers re-check after entering). ``flock`` locks die with their
    process, so a builder killed with ``kill -9`` never blocks the next one. The lock file is
    removed on the way out; a waiter that locked a removed file notices (its inode is no
    longer the path's) and locks the new one.
    """
    lock = target.with_name(f"{target.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if _progress_enabled():
                    print(f"waiting for another process building {target} ...", file=sys.stderr)
                fcntl.flock(fd, fcntl.LOCK_EX)
            if os.path.samestat(os.fstat(fd), os.stat(lock)):
                break
        except FileNotFoundError:
            pass  # removed by the holder we waited for: lock the next one
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)  # releases the lock


_WRITE_ERRORS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "it is on a read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


WRITE_ERRNOS = frozenset(_WRITE_ERRORS)


def write_error(exc: OSError, place: Path, *, what: str, instead: str) -> GenShareError | None:
    """The one-line error for a failed write under ``place`` (a full or read-only disk, a
    folder without write permission), or None when ``exc`` is something else (such as an
    input file that cannot be read: its name is not under ``place``).

    ``what`` names the place for the user ("the cache", "--out"); ``instead`` says what else
    to do ("set GENSHARE_CACHE to another folder").
    """
    reason = _WRITE_ERRORS.get(exc.errno or 0)
    if reason is None:
        return None
    named = exc.filename if isinstance(exc.filename, str) else None
    place = Path(place).absolute()
    if named is not None and not Path(named).absolute().is_relative_to(place):
        return None  # not under place (an input that cannot be read, another folder)
    detail = f" (writing {named})" if named else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        todo = f"free some space there, or {instead}"
    else:
        todo = instead
    return GenShareError(f"{what} {place}: cannot write{detail}: {reason}; {todo}")


@contextlib.contextmanager
def writes_under(place: Path, *, what: str, instead: str) -> Iterator[None]:
    """Turn a failed write under ``place`` into a :class:`GenShareError` (see
    :func:`write_error`); other errors pass unchanged. The code inside cleans up its own
    temporary files; this only words the error."""
    try:
        yield
    except OSError as exc:
        error = write_error(exc, place, what=what, instead=instead)
        if error is None:
            raise
        raise error from None


def writes_to_cache() -> contextlib.AbstractContextManager[None]:
    """:func:`writes_under` the cache folder."""
    return writes_under(
        cache_dir(),
        what="the cache",
        instead="set GENSHARE_CACHE to a folder you can write to that has room",
    )


def state_dir() -> Path:
    """Where GenShare keeps what must outlive the cache (the privacy ledgers and the release
    logs): ``GENSHARE_STATE`` or the user state folder (``~/.local/state/genshare``).

    Apart from the cache on purpose: moving or clearing the cache (``GENSHARE_CACHE``, ``make
    clean-cache``) must not reset the epsilon already spent or forget what was released.
    """
    env = os.environ.get("GENSHARE_STATE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "genshare"


def mirror_dirs() -> list[Path]:
    """Offline mirror folders from ``GENSHARE_MIRROR`` (``os.pathsep``-separated)."""
    env = os.environ.get("GENSHARE_MIRROR", "")
    return [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]


def _find_in_mirrors(name: str) -> Iterator[Path]:
    for root in mirror_dirs():
        if not root.is_dir():
            continue
        direct = root / name
        if direct.is_file():
            yield direct
        for found in sorted(root.rglob(name)):
            if found.is_file() and found != direct:
                yield found


def _atomic_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, _CHUNK)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _quarantine(path: Path, got: str) -> Path:
    qdir = cache_dir() / "quarantine"
    qdir.mkdir(parents=True, exist_ok=True)
    target = qdir / f"{path.name}.{got[:16]}"
    os.replace(path, target)
    return target


def _record_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")


def _read_record(dest: Path) -> tuple[str, int, int] | None:
    """The (sha256, size, mtime_ns) recorded when ``dest`` entered the cache."""
    try:
        digest, size, mtime = _record_path(dest).read_text().split()
        return digest, int(size), int(mtime)
    except (FileNotFoundError, ValueError):
        return None


def _write_record(dest: Path, digest: str) -> None:
    stat = dest.stat()
    record = _record_path(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{record.name}.", dir=dest.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{digest} {stat.st_size} {stat.st_mtime_ns}\n")
    os.replace(tmp, record)


def _download(spec: FileSpec, dest: Path) -> Path:
    """Download with pooch to a temporary name in ``dest``'s folder; return that path."""
    import pooch

    if not spec.url.startswith(("http://", "https://", "ftp://")):
        raise FetchError(
            f"{spec.name}: {spec.url} is a cloud bucket location that plain downloads cannot "
            "read. Copy it with the provider's tool (gsutil / aws s3 cp / azcopy) into a folder "
            "and set GENSHARE_MIRROR to that folder, or work on a cloud Hail cluster."
        )
    host = urlparse(spec.url).hostname or ""
    if os.environ.get("GENSHARE_OFFLINE") == "1" and host not in ("127.0.0.1", "localhost", "::1"):
        raise FetchError(
            f"{spec.name} is not in the cache and GENSHARE_OFFLINE=1 forbids downloading it from "
            f"{spec.url}. Put the file in a folder and set GENSHARE_MIRROR=<that folder> "
            f"(now: {os.environ.get('GENSHARE_MIRROR') or 'unset'}), or copy it to {dest}."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp_name = f".{dest.name}.download"
    pooch.get_logger().setLevel("WARNING")  # our own messages say what happened
    try:
        pooch.retrieve(
            spec.url,
            known_hash=None,
            fname=tmp_name,
            path=dest.parent,
            progressbar=_progress_enabled(),
        )
    except Exception as exc:  # pooch raises requests/ftplib errors of many kinds
        (dest.parent / tmp_name).unlink(missing_ok=True)
        mirror = os.environ.get("GENSHARE_MIRROR")
        raise FetchError(
            f"could not download {spec.name} from {spec.url}: {type(exc).__name__}: {exc}.\n"
            f"If this machine is offline, put {spec.name} in a folder and set "
            f"GENSHARE_MIRROR=<that folder> (now: {mirror or 'unset'}), or copy it to {dest}."
        ) from None
    return dest.parent / tmp_name


def fetch_file(spec: FileSpec, *, cohort_id: str) -> Path:
    """Return the verified local path of one catalog file, fetching it if needed.

    Order: the cache (re-hashed if touched since it was verified), the offline mirrors, then
    the URL. Raises :class:`~genshare_widgets.FetchError` naming the file, the URL and how to
    provide it when no source works, and on any hash mismatch (the bad file is quarantined).

    Examples
    --------
    >>> from genshare_widgets.catalog import get_entry
    >>> entry = get_entry("1kg-phase3-subset")
    >>> fetch_file(entry.files[0], cohort_id=entry.id)  # doctest: +SKIP
    PosixPath('.../downloads/1kg-phase3-subset/1KG_phase3_subset_chr1.vcf.gz')
    """
    dest = cache_dir() / "downloads" / cohort_id / spec.name
    record = _read_record(dest)
    if dest.is_file() and record is not None and record[0] == (spec.sha256 or record[0]):
        stat = dest.stat()
        if record[1:] == (stat.st_size, stat.st_mtime_ns):
            return dest  # verified before and untouched since: no lock needed
    with writes_to_cache(), build_lock(dest):  # one fetch per file; others wait, then find it
        return _fetch_locked(spec, dest, cohort_id)


def _fetch_locked(spec: FileSpec, dest: Path, cohort_id: str) -> Path:
    record = _read_record(dest)
    expected = spec.sha256 or (record[0] if record else None)
    if dest.is_file():
        stat = dest.stat()
        if record is not None and record == (expected, stat.st_size, stat.st_mtime_ns):
            return dest
        got = sha256_file(dest)  # touched since it was verified: check again
        if expected is None or got == expected:
            _write_record(dest, got)
            return dest
        _quarantine(dest, got)  # a damaged cached copy is never used; fetch it again

    mismatches = []
    for src in _find_in_mirrors(spec.name):
        if spec.size is not None and src.stat().st_size != spec.size:
            mismatches.append(f"{src} has {src.stat().st_size} bytes, expected {spec.size}")
            continue
        got = sha256_file(src)
        if expected is not None and got != expected:
            mismatches.append(f"{src} has sha256 {got}, expected {expected}")
            continue
        _atomic_copy(src, dest)
        _write_record(dest, got)
        return dest
    if mismatches:
        listing = "\n  ".join(mismatches)
        raise FetchError(
            f"{spec.name} ({cohort_id}): the mirror copies do not verify:\n  {listing}\n"
            "Replace them with the original file or remove them from GENSHARE_MIRROR."
        )

    if spec.derivation is not None:  # the url holds its source, not this file
        mirror = os.environ.get("GENSHARE_MIRROR")
        raise FetchError(
            f"{spec.name} ({cohort_id}) is a derived file: it was made from {spec.url} "
            f"({spec.derivation}), so it cannot be downloaded as is. Put the mirror folder that "
            f"holds it in GENSHARE_MIRROR (now: {mirror or 'unset'}), or copy it to {dest}."
        )
    tmp = _download(spec, dest)
    got = sha256_file(tmp)
    if expected is not None and got != expected:
        where = _quarantine(tmp, got)
        raise FetchError(
            f"{spec.name} ({cohort_id}) downloaded from {spec.url} has sha256 {got} but "
            f"{'the catalog' if spec.sha256 else 'the first fetch recorded'} {expected}. The "
            f"file was quarantined at {where} and not cached. The upstream file may have "
            "changed: check the provider, then update the catalog."
        )
    os.replace(tmp, dest)
    _write_record(dest, got)
    return dest


def _progress_enabled() -> bool:
    return os.environ.get("GENSHARE_PROGRESS", "1") != "0"


def fetch_cohort(entry: CohortEntry, *, roles: tuple[str, ...] | None = None) -> dict[str, Path]:
    """Fetch every file of a catalog entry (optionally only some roles); name → local path.

    Examples
    --------
    >>> from genshare_widgets.catalog import get_entry
    >>> paths = fetch_cohort(get_entry("hapmap3"))  # doctest: +SKIP
    """
    out = {}
    for spec in entry.files:
        if roles is None or spec.role in roles:
            out[spec.name] = fetch_file(spec, cohort_id=entry.id)
    return out
