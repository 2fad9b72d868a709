"""Disk faults with the real OS errors: an unwritable, read-only (EROFS) or full (ENOSPC)
``--out`` or cache gives exit 2 and one ``genshare: error:`` line that names the folder and
what to do, no traceback, and leaves nothing half-written (no partial store, no
``.genshare-stats-*`` folder, no temporary file, an intact ``file_hashes.json``).

How the faults are made, without faking an exception:

- *unwritable*: a 0555 folder, with the command run as an unprivileged user (uid 65534 through
  ``setpriv`` when the tests run as root, as CI does: root may write anywhere);
- *read-only*: a read-only bind mount of the folder, in a private mount namespace
  (``unshare -m``; ``unshare -rm``, a user namespace, when not root);
- *full*: a tiny tmpfs mounted on the folder in such a namespace (the namespace, and the
  tmpfs, vanish with the command, so the script lists what was left before it exits).

Where the machine allows neither mounts nor user namespaces those cases skip with the reason.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.cli_runner import NOBODY, run_as_unprivileged_user
from tests.test_bad_input_corpus import pops, write_vcf


def _vcf(path: Path, n_variants: int) -> Path:
    rec = "1\t{pos}\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t1|1\t0|0\t1|0\t0|0\t0|1"
    return write_vcf(path, [rec.format(pos=100 * (i + 1)) for i in range(n_variants)])


@pytest.fixture
def shared(tmp_path) -> Path:
    """A folder every user can enter (pytest's own tmp folders are 0700), with the inputs."""
    folder = Path(tempfile.mkdtemp(prefix="genshare-disk-"))
    folder.chmod(0o755)
    _vcf(folder / "tiny.vcf", 12)
    _vcf(folder / "more.vcf", 4000)
    pops(folder)
    for item in folder.iterdir():
        item.chmod(0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _env(cache: Path, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GENSHARE_CACHE": str(cache),
        "GENSHARE_STATE": str(cache),
        "HOME": str(home),
        "MPLCONFIGDIR": str(home / ".mpl"),
    }


def _genshare(*args: str) -> list[str]:
    return [sys.executable, "-m", "genshare_widgets", *args]


_SCRIPT = """
set -u
mode=$1; folder=$2; report=$3; shift 3
if [ "$mode" = ro ]; then
    mount --bind "$folder" "$folder" && mount -o remount,bind,ro "$folder" || exit 99
else
    mount -t tmpfs -o "size=$mode" tmpfs "$folder" || exit 99
fi
"$@"
rc=$?
(cd "$folder" && find . -mindepth 1 | sort) > "$report/listing"
if [ -f "$folder/file_hashes.json" ]; then cp "$folder/file_hashes.json" "$report/"; fi
exit $rc
"""


def _in_mount_namespace(
    mode: str, folder: Path, command: list[str], env: dict[str, str], report: Path
) -> subprocess.CompletedProcess:
    """Run ``command`` with ``folder`` read-only (``mode='ro'``) or a tmpfs of ``mode`` bytes,
    in a private mount namespace; ``report/listing`` then lists what ``folder`` held."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    report.mkdir(parents=True, exist_ok=True)
    flags = ["-m"] if os.geteuid() == 0 else ["-r", "-m"]
    proc = subprocess.run(
        [unshare, *flags, "sh", "-c", _SCRIPT, "sh", mode, str(folder), str(report), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode == 99 or "unshare failed" in proc.stderr:
        pytest.skip(
            "cannot mount in a private namespace here (needs CAP_SYS_ADMIN or user "
            f"namespaces): {proc.stderr.strip()[-200:]}"
        )
    return proc


def _one_error(proc: subprocess.CompletedProcess, *patterns: str) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("genshare: error: ")]
    assert len(errors) == 1, proc.stderr
    for pattern in patterns:
        assert re.search(pattern, errors[0]), errors[0]
    return errors[0]


def _no_debris(names: list[str]) -> None:
    bad = [
        n for n in names if re.search(r"\.partial-|\.genshare-stats-|\.part$|\.file_hashes\.", n)
    ]
    assert bad == [], bad


# --- unwritable (permission denied) ----------------------------------------------------------


def test_unwritable_out_folder_as_unprivileged_user(shared):
    cache = shared / "cache"
    cache.mkdir()
    os.chown(cache, NOBODY, NOBODY) if os.geteuid() == 0 else None
    locked = shared / "locked"
    locked.mkdir(mode=0o555)
    locked.chmod(0o555)
    proc = run_as_unprivileged_user(
        _genshare("stats", str(shared / "tiny.vcf"), "--samples", str(shared / "pops.tsv"),
                  "--out", str(locked / "out")),
        _env(cache, cache),
    )  # fmt: skip
    _one_error(proc, re.escape(str(locked)), r"permission denied", r"choose a folder you can write")
    assert list(locked.iterdir()) == []


def test_unwritable_cache_as_unprivileged_user(shared):
    cache = shared / "cache"  # root's (or ours, then made 0555): not writable for the command
    cache.mkdir()
    home = shared / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY) if os.geteuid() == 0 else None
    if os.geteuid() != 0:
        cache.chmod(0o555)
    proc = run_as_unprivileged_user(
        _genshare("prepare", str(shared / "tiny.vcf")), _env(cache, home)
    )
    _one_error(proc, rf"the cache {re.escape(str(cache))}", "permission denied", "GENSHARE_CACHE")
    assert list(cache.iterdir()) == []


# --- read-only file system (EROFS) -----------------------------------------------------------


def test_read_only_cache(shared, tmp_path):
    cache = shared / "cache"
    env = _env(cache, shared)
    first = subprocess.run(
        _genshare("prepare", str(shared / "tiny.vcf")), env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    index = (cache / "file_hashes.json").read_bytes()
    before = sorted(str(p) for p in cache.rglob("*"))
    # a store already built still opens from the read-only cache; a new one is refused
    proc = _in_mount_namespace(
        "ro",
        cache,
        ["sh", "-c", f"{' '.join(_genshare('prepare', str(shared / 'tiny.vcf')))} && "
         f"exec {' '.join(_genshare('prepare', str(shared / 'more.vcf')))}"],
        env,
        tmp_path / "report",
    )  # fmt: skip
    assert first.stdout.strip() in proc.stdout
    _one_error(
        proc, rf"the cache {re.escape(str(cache))}", "read-only file system", "GENSHARE_CACHE"
    )
    assert sorted(str(p) for p in cache.rglob("*")) == before
    assert (cache / "file_hashes.json").read_bytes() == index


def test_read_only_out_folder(shared, tmp_path):
    folder = shared / "results"
    proc = _in_mount_namespace(
        "ro",
        folder,
        _genshare("stats", str(shared / "tiny.vcf"), "--samples", str(shared / "pops.tsv"),
                  "--out", str(folder / "out")),
        _env(shared / "cache", shared),
        tmp_path / "report",
    )  # fmt: skip
    _one_error(proc, re.escape(str(folder)), "read-only file system", "choose a folder")
    assert list(folder.iterdir()) == []


# --- full disk (ENOSPC) ----------------------------------------------------------------------


def test_full_cache(shared, tmp_path):
    cache, report = shared / "cache", tmp_path / "report"
    proc = _in_mount_namespace(
        "64k", cache, _genshare("prepare", str(shared / "more.vcf")), _env(cache, shared), report
    )
    _one_error(
        proc, rf"the cache {re.escape(str(cache))}", "no space left", r"free some space",
        "GENSHARE_CACHE",
    )  # fmt: skip
    left = (report / "listing").read_text().split()
    _no_debris(left)
    assert not [n for n in left if n.endswith(".vcz")], left  # no store without its data
    if (report / "file_hashes.json").exists():  # the hash index is whole JSON, or absent
        json.loads((report / "file_hashes.json").read_text())


def test_full_out_folder_stats(shared, tmp_path):
    folder, report = shared / "results", tmp_path / "report"
    proc = _in_mount_namespace(
        "16k",
        folder,
        _genshare("stats", str(shared / "more.vcf"), "--samples", str(shared / "pops.tsv"),
                  "--out", str(folder / "out")),
        _env(shared / "cache", shared),
        report,
    )  # fmt: skip
    _one_error(proc, rf"--out {re.escape(str(folder / 'out'))}", "no space left", "another --out")
    assert (report / "listing").read_text().split() == []


def test_full_out_folder_figure(shared, tmp_path):
    folder, report = shared / "results", tmp_path / "report"
    proc = _in_mount_namespace(
        "16k",
        folder,
        _genshare("figure", str(shared / "more.vcf"), "--samples", str(shared / "pops.tsv"),
                  "--kind", "fst", "--out", str(folder / "fst.html")),
        _env(shared / "cache", shared),
        report,
    )  # fmt: skip
    _one_error(proc, re.escape(str(folder)), "no space left", "another --out")
    assert (report / "listing").read_text().split() == []
