"""Publishing controls: no per-person output under a policy, and the per-cohort release log.

Rule 5 (:func:`refuse_per_person_output`): under an active disclosure policy (suppression or
differential privacy) nothing is released per person — PCA coordinates, ``samples.tsv``,
per-sample exports. On a one-variant region those name every carrier. Figures show group
summaries instead: a PCA figure draws group centroids over groups of at least
:func:`centroid_min_group` samples.

Rule 6 (:class:`ReleaseLog`): every policy-bound release of a cohort (``genshare stats`` files,
figures, explorer views, exports) records the sample set of each group it released, the command
and the time, in an owner-only JSON file ``$GENSHARE_CACHE/releases/<cohort id>.json``
(0600, in a 0700 folder), updated under a lock and replaced atomically. A new release with a
group that differs from an earlier released group by fewer than k samples (either set
difference non-empty and smaller than k) is refused before anything is written, naming the
earlier release: releasing YRI plus one person and then YRI would give that person's genotypes
by subtraction. The union of the groups of a release counts as a released group too (a total
over released groups is a sum of released numbers).

What the log does not catch: a group that equals the sum of several groups of an earlier
release (a super-population after its populations) is not a near-copy of any one group; the
cells of such nested groupings are the release door's concern.
"""

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from genshare_widgets._errors import GenShareError

#: Smallest difference in samples allowed between two released groups when the policy has no
#: minimum count (differential privacy alone): the registered tier's k.
DEFAULT_MIN_DIFFERENCE = 20
#: A PCA centroid (or any per-group summary of per-person values) needs at least this many
#: samples, and at least k.
MIN_CENTROID_GROUP = 10


class ReleaseRefused(GenShareError):  # noqa: N818 -- reads as the verdict it reports
    """A release the publishing rules do not allow (nothing was written)."""


def refuse_per_person_output(policy, *, what: str, cohort_id: str = "") -> None:
    """Raise :class:`ReleaseRefused` when ``policy`` is active (rule 5).

    ``what`` names the output (``"--pca"``, ``"--sample-stats (samples.tsv)"``...).

    Examples
    --------
    >>> from genshare_widgets.disclosure import DisclosurePolicy
    >>> refuse_per_person_output(DisclosurePolicy(), what="--pca")  # no policy: allowed
    """
    if not policy.active:
        return
    where = f" of {cohort_id!r}" if cohort_id else ""
    raise ReleaseRefused(
        f"refused (rule 5, no per-person output under a disclosure policy): {what}{where} "
        f"would release one value per person under '{policy.describe()}'; on a small region "
        "such values name carriers. Group summaries are released instead (genshare figure "
        "--kind pca draws group centroids). To get per-person output use an open-tier cohort "
        "without --min-count/--epsilon (registered and controlled cohorts never release it)."
    )


def centroid_min_group(policy) -> int:
    """Smallest group a PCA centroid is drawn for: max(k, :data:`MIN_CENTROID_GROUP`)."""
    k = int(policy.min_count or 1) if policy.suppresses else DEFAULT_MIN_DIFFERENCE
    return max(k, MIN_CENTROID_GROUP)


def min_difference(policy) -> int:
    """k of the release log: the policy's minimum count (DP alone: the registered tier's)."""
    return int(policy.min_count) if policy.suppresses else DEFAULT_MIN_DIFFERENCE


def sample_set_hash(samples) -> str:
    """sha256 of the sorted sample ids (one per line)."""
    return hashlib.sha256("\n".join(sorted(str(s) for s in samples)).encode()).hexdigest()


def group_sample_sets(sample_table, by: str, groups=None) -> dict[str, list[str]]:
    """{group: sorted sample ids} of the groups of column ``by`` (only ``groups`` if given).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"pop": ["A", "B", "A"]}, index=["s1", "s2", "s3"])
    >>> group_sample_sets(t, "pop")
    {'A': ['s1', 's3'], 'B': ['s2']}
    """
    column = sample_table[by].dropna().astype(str)
    wanted = None if groups is None else {str(g) for g in groups}
    out: dict[str, list[str]] = {}
    for name, members in column.groupby(column).groups.items():
        if wanted is None or str(name) in wanted:
            out[str(name)] = sorted(str(s) for s in members)
    return out


def with_union(sets: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """``sets`` plus their union (``"(all released groups)"``) when there are two or more."""
    out = dict(sets)
    if len(sets) >= 2:
        out["(all released groups)"] = sorted({s for members in sets.values() for s in members})
    return out


def owner_only_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def write_owner_only(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically as a 0600 file (a temporary file, then a rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def log_key(cohort) -> str:
    """Which log a cohort's releases go to: its catalog entry id (a store opened by path keeps
    its entry), else its store key, else its id."""
    entry = getattr(cohort, "entry", None)
    if entry is not None:
        return str(entry.id)
    return str(cohort.provenance.get("store_key") or cohort.id)


class ReleaseLog:
    """The release log of one cohort (see the module docstring).

    Parameters
    ----------
    key
        The cohort's id (:func:`log_key`).
    folder
        Where the logs live (default ``$GENSHARE_CACHE/releases``).

    Examples
    --------
    >>> log = ReleaseLog("sim-ooa-gru-registered")  # doctest: +SKIP
    >>> log.record({"YRI": ids}, k=20, command="genshare stats ...")  # doctest: +SKIP
    """

    def __init__(self, key: str, *, folder: Path | None = None) -> None:
        if folder is None:
            from genshare_widgets.fetch import cache_dir

            folder = cache_dir() / "releases"
        self.key = key
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
        self.folder = Path(folder)
        self.path = self.folder / f"{safe}.json"

    @classmethod
    def for_cohort(cls, cohort) -> "ReleaseLog":
        """The log of ``cohort`` (:func:`log_key`)."""
        return cls(log_key(cohort))

    @contextmanager
    def _locked(self):
        import fcntl

        owner_only_dir(self.folder)
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _load(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {"cohort": self.key, "sample_sets": {}, "releases": []}
        try:
            record = json.loads(self.path.read_text())
            if not isinstance(record["sample_sets"], dict) or not isinstance(
                record["releases"], list
            ):
                raise TypeError("sample_sets must be an object and releases a list")
            return record
        except (ValueError, KeyError, TypeError) as exc:
            raise ReleaseRefused(
                f"release log {self.path} is unreadable ({exc}); it records what was already "
                "released, so it is never reset silently: restore it or ask the data custodian"
            ) from None

    @property
    def releases(self) -> list[dict[str, Any]]:
        """Every recorded release: ``{"command", "when", "min_count", "groups": {name: hash}}``."""
        return list(self._load()["releases"])

    def _conflicts(self, record, sets: Mapping[str, list[str]], k: int):
        known: dict[str, set[str]] = {}
        for name, members in sets.items():
            new = set(members)
            digest = sample_set_hash(new)
            for release in record["releases"]:
                kk = max(k, int(release.get("min_count") or 0))
                for old_name, old_hash in release["groups"].items():
                    if old_hash == digest:
                        continue
                    if old_hash not in known:
                        known[old_hash] = set(record["sample_sets"][old_hash])
                    old = known[old_hash]
                    added, removed = len(new - old), len(old - new)
                    if 0 < added < kk or 0 < removed < kk:
                        return name, len(new), old_name, len(old), added, removed, kk, release
        return None

    def _refuse(self, conflict) -> None:
        name, n, old_name, n_old, added, removed, kk, release = conflict
        diff = " and ".join(
            part
            for part in (
                f"{added} sample(s) not in it" if added else "",
                f"{removed} sample(s) of it missing" if removed else "",
            )
            if part
        )
        raise ReleaseRefused(
            f"refused (rule 6, release log): group {name!r} ({n} samples) differs from group "
            f"{old_name!r} ({n_old} samples) released earlier by `{release['command']}` at "
            f"{release['when']} — {diff}, fewer than k = {kk}. Subtracting one release from "
            "the other would give those samples' genotypes. Release the earlier group "
            f"unchanged, or a group that differs from it by at least {kk} samples. "
            f"(log: {self.path})"
        )

    def check(self, sets: Mapping[str, list[str]], *, k: int) -> None:
        """Raise :class:`ReleaseRefused` if releasing ``sets`` ({group: sample ids}) would
        break rule 6 against the log; records nothing."""
        if not self.path.is_file():
            return
        conflict = self._conflicts(self._load(), sets, k)
        if conflict is not None:
            self._refuse(conflict)

    def record(self, sets: Mapping[str, list[str]], *, k: int, command: str) -> None:
        """Check ``sets`` again under the lock and record them as released (rule 6).

        A release whose every group was already released adds nothing to the log.
        """
        with self._locked():
            record = self._load()
            conflict = self._conflicts(record, sets, k)
            if conflict is not None:
                self._refuse(conflict)
            known = record["sample_sets"]
            groups = {}
            for name, members in sets.items():
                digest = sample_set_hash(members)
                groups[name] = digest
                known.setdefault(digest, sorted(str(s) for s in members))
            seen = {h for r in record["releases"] for h in r["groups"].values()}
            if set(groups.values()) <= seen:
                return
            record["releases"].append(
                {
                    "command": command,
                    "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "min_count": k,
                    "groups": groups,
                }
            )
            write_owner_only(self.path, json.dumps(record, indent=1) + "\n")
