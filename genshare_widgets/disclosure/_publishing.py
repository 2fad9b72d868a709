"""Publishing controls: no per-person output under a policy, and the per-cohort release log.

Rule 5 (:func:`refuse_per_person_output`): under an active disclosure policy (suppression or
differential privacy) nothing is released per person — PCA coordinates, ``samples.tsv``,
per-sample exports. On a one-variant region those name every carrier. Figures show group
summaries instead: a PCA figure draws group centroids over groups of at least
:func:`centroid_min_group` samples.

Rule 6 (:class:`ReleaseLog`): every policy-bound release of a cohort (``genshare stats`` files,
figures, explorer views, exports) records the sample set of each group it released, the command
and the time, in an owner-only JSON file ``$GENSHARE_STATE/releases/<cohort id>.json``
(0600, in a 0700 folder), updated under a lock and replaced atomically. A new release with a
group that differs from an earlier released group by fewer than k samples (either set
difference non-empty and smaller than k) is refused before anything is written, naming the
earlier release: releasing YRI plus one person and then YRI would give that person's genotypes
by subtraction. The union of the groups of a release counts as a released group too (a total
over released groups is a sum of released numbers).

Rule 6b (nested groupings): each release also records its region (contig and interval;
``None`` = the whole cohort). Two releases overlap when their regions intersect (filters such
as ``--min-maf`` or ``--snps-only`` do not make them disjoint: the log does not know which
variants each kept). A release is refused when, against an overlapping earlier release, one of
its groups is — within fewer than k samples, either direction — the union of two or more groups
of that earlier release, or an earlier group is the union of two or more of its groups.
Releasing by population and then by super-population would otherwise give a population's
hidden cell as EUR − (CEU + GBR + ...): the door hides a row per release, and the two releases
hide different rows. The union of a release's groups counts as one of its groups here too
(by sex after by population: male + female = every sample = the sum of the populations). A
group identical to a group of the other release carries the same row in both and adds nothing;
so does the union of a release all of whose groups were in the other one (the same grouping
again, or some of its groups). Groups of a release are disjoint, so the union of the earlier
groups closest to a group G — each group H with more samples inside G than outside it — is the
best cover of G; the check is linear in the number of groups. Releases under ``--epsilon`` are
checked too: the log does not know whether an earlier release's cells were exact.

What the log does not catch: a group assembled from groups of *several* earlier releases
(rule 6b compares with one earlier release at a time), and differences of k or more samples
(releasing YRI + CEU, then YRI, gives CEU's exact counts — a group of ≥ k samples, but its
count may be below k).
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

    #: The rule's short name (a service's refusal carries it: ``{"detail", "rule"}``).
    rule = "release-log"


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


#: The name under which a release's union of groups (its total) is recorded.
UNION = "(all released groups)"


def with_union(sets: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """``sets`` plus their union (``"(all released groups)"``) when there are two or more."""
    out = dict(sets)
    if len(sets) >= 2:
        out[UNION] = sorted({s for members in sets.values() for s in members})
    return out


def release_region(region: str | None) -> dict[str, Any] | None:
    """The region of a release as the log records it: ``{"contig", "start", "end"}`` (start
    and end ``None`` for a whole contig), or ``None`` for the whole cohort.

    The contig is recorded without a ``chr`` prefix, so ``chr22`` and ``22`` are one contig.

    Examples
    --------
    >>> release_region("chr22:1,000-2,000")
    {'contig': '22', 'start': 1000, 'end': 2000}
    >>> release_region(None) is None
    True
    """
    if region is None or not str(region).strip():
        return None
    from genshare_widgets._selection import parse_region

    contig, start, end = parse_region(str(region))
    return {"contig": _contig_name(contig), "start": start, "end": end}


def _contig_name(contig: str) -> str:
    contig = str(contig).strip()
    return contig[3:] if contig.lower().startswith("chr") else contig


def _interval(region: Mapping[str, Any]) -> tuple[str, float, float]:
    start, end = region.get("start"), region.get("end")
    return (
        _contig_name(region["contig"]),
        float("-inf") if start is None else int(start),
        float("inf") if end is None else int(end),
    )


def regions_overlap(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two recorded regions (:func:`release_region`) share a position; ``None`` (the
    whole cohort) overlaps everything.

    Examples
    --------
    >>> regions_overlap(release_region("22:1-100"), release_region("22:100-200"))
    True
    >>> regions_overlap(release_region("22"), release_region("1"))
    False
    """
    if a is None or b is None:
        return True
    (ca, sa, ea), (cb, sb, eb) = _interval(a), _interval(b)
    return ca == cb and sa <= eb and sb <= ea


def region_covers(outer: Mapping[str, Any] | None, inner: Mapping[str, Any] | None) -> bool:
    """Whether recorded region ``outer`` contains every position of ``inner``."""
    if outer is None:
        return True
    if inner is None:
        return False
    (co, so, eo), (ci, si, ei) = _interval(outer), _interval(inner)
    return co == ci and so <= si and ei <= eo


def describe_region(region: Mapping[str, Any] | None) -> str:
    """``"the whole cohort"``, ``"contig 22"`` or ``"22:1000-2000"``."""
    if region is None:
        return "the whole cohort"
    if region.get("start") is None:
        return f"contig {region['contig']}"
    return f"{region['contig']}:{region['start']}-{region['end']}"


def best_cover(
    group: set[str], candidates: Mapping[str, set[str]], k: int
) -> tuple[list[str], int]:
    """The groups of ``candidates`` (disjoint sets) whose union is closest to ``group``, and
    the size of the symmetric difference: each candidate with more samples inside ``group``
    than outside it and fewer than ``k`` outside it (a candidate with ``k`` or more outside
    would put the difference at ``k`` or more anyway).

    Examples
    --------
    >>> best_cover({1, 2, 3, 4}, {"a": {1, 2}, "b": {3, 4, 9}, "c": {4, 8, 9}}, 3)
    (['a', 'b'], 1)
    """
    names = [
        name
        for name, members in candidates.items()
        if len(members - group) < k and len(members & group) > len(members - group)
    ]
    union: set[str] = set().union(*(candidates[name] for name in names))
    return names, len(group ^ union)


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
        Where the logs live (default ``$GENSHARE_STATE/releases``).

    Examples
    --------
    >>> log = ReleaseLog("sim-ooa-gru-registered")  # doctest: +SKIP
    >>> log.record({"YRI": ids}, k=20, command="genshare stats ...")  # doctest: +SKIP
    """

    def __init__(self, key: str, *, folder: Path | None = None) -> None:
        if folder is None:
            from genshare_widgets.fetch import state_dir

            folder = state_dir() / "releases"
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
        """Every recorded release: ``{"command", "when", "min_count", "region", "groups":
        {name: hash}}`` (``region`` as :func:`release_region`; missing in logs written before
        regions were recorded, which counts as the whole cohort)."""
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

    def _nested(self, record, sets: Mapping[str, list[str]], k: int, region):
        """Rule 6b: the first nesting between ``sets`` and an overlapping earlier release, as
        ``(release, outer name, outer size, outer is new, inner names, difference, k)``."""
        new = {name: {str(s) for s in members} for name, members in sets.items()}
        new_hashes = {name: sample_set_hash(members) for name, members in new.items()}
        known: dict[str, set[str]] = {}
        for release in record["releases"]:
            if not regions_overlap(release.get("region"), region):
                continue
            kk = max(k, int(release.get("min_count") or 0))
            for digest in release["groups"].values():
                if digest not in known:
                    known[digest] = set(record["sample_sets"][digest])
            old = {name: known[digest] for name, digest in release["groups"].items()}
            old_hashes = dict(release["groups"])
            for outer, outer_hashes, inner, inner_hashes, outer_is_new in (
                (new, new_hashes, old, old_hashes, True),
                (old, old_hashes, new, new_hashes, False),
            ):
                found = _nesting(outer, outer_hashes, inner, inner_hashes, kk)
                if found is not None:
                    name, inner_names, difference = found
                    return (
                        release,
                        name,
                        len(outer[name]),
                        outer_is_new,
                        [(n, len(inner[n])) for n in inner_names],
                        difference,
                        kk,
                    )
        return None

    def _refuse_nested(self, nesting, region) -> None:
        release, name, size, outer_is_new, inner, difference, kk = nesting
        shown = ", ".join(f"{n!r} ({size_n})" for n, size_n in inner[:8])
        if len(inner) > 8:
            shown += f" and {len(inner) - 8} more"
        label = "the total over all its groups" if name == UNION else f"group {name!r}"
        within = "exactly" if difference == 0 else f"within {difference} sample(s)"
        earlier = f"`{release['command']}` at {release['when']}"
        if outer_is_new:
            what = (
                f"{label} of this release ({size} samples) is, {within}, the union of the "
                f"groups {shown} released earlier by {earlier}"
            )
        else:
            what = (
                f"{label} ({size} samples) released earlier by {earlier} is, {within}, the "
                f"union of the groups {shown} of this release"
            )
        raise ReleaseRefused(
            f"refused (rule 6b, nested groupings, release log): {what}; fewer than k = {kk} "
            f"samples apart, over overlapping regions (this release: "
            f"{describe_region(region)}; the earlier one: "
            f"{describe_region(release.get('region'))}). Each release hides the rows with a "
            "count below k, and the two hide different rows, so the larger group minus the "
            "shown smaller ones would give a hidden count. Release one grouping of this cohort "
            "under a policy per region (repeat the earlier release's grouping), or use a "
            "region that does not overlap the earlier one. Releases under --epsilon are "
            f"checked too. (log: {self.path})"
        )

    def check(self, sets: Mapping[str, list[str]], *, k: int, region: str | None = None) -> None:
        """Raise :class:`ReleaseRefused` if releasing ``sets`` ({group: sample ids}) over
        ``region`` (``None`` = the whole cohort) would break rule 6 or 6b against the log;
        records nothing."""
        if not self.path.is_file():
            return
        self._verdict(self._load(), sets, k, release_region(region))

    def _verdict(self, record, sets: Mapping[str, list[str]], k: int, region) -> None:
        conflict = self._conflicts(record, sets, k)
        if conflict is not None:
            self._refuse(conflict)
        nesting = self._nested(record, sets, k, region)
        if nesting is not None:
            self._refuse_nested(nesting, region)

    def record(
        self,
        sets: Mapping[str, list[str]],
        *,
        k: int,
        command: str,
        region: str | None = None,
    ) -> None:
        """Check ``sets`` again under the lock and record them as released over ``region``
        (rules 6 and 6b).

        A release whose every group was already released by one earlier release, over a
        region that contains this one, adds nothing to the log.
        """
        where = release_region(region)
        with self._locked():
            record = self._load()
            self._verdict(record, sets, k, where)
            known = record["sample_sets"]
            groups = {}
            for name, members in sets.items():
                digest = sample_set_hash(members)
                groups[name] = digest
                known.setdefault(digest, sorted(str(s) for s in members))
            if any(
                set(groups.values()) <= set(r["groups"].values())
                and region_covers(r.get("region"), where)
                for r in record["releases"]
            ):
                return
            record["releases"].append(
                {
                    "command": command,
                    "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "min_count": k,
                    "region": where,
                    "groups": groups,
                }
            )
            write_owner_only(self.path, json.dumps(record, indent=1) + "\n")


def _nesting(outer, outer_hashes, inner, inner_hashes, k: int):
    """A group of ``outer`` that is, within fewer than ``k`` samples, the union of two or more
    groups of ``inner`` (both {name: sample set} of one release each, with their hashes), as
    ``(name, inner names, difference)``; ``None`` when there is none.

    Skipped, because they show nothing the inner release did not: an outer group identical to
    a group of ``inner``, and the outer union when every outer group is one of ``inner``'s.
    """
    inner_real = {name: members for name, members in inner.items() if name != UNION}
    inner_real_hashes = {inner_hashes[name] for name in inner_real}
    outer_real = [name for name in outer if name != UNION]
    all_shared = all(outer_hashes[name] in inner_real_hashes for name in outer_real)
    for name, members in outer.items():
        if outer_hashes[name] in inner_real_hashes:
            continue
        if name == UNION and all_shared:
            continue
        names, difference = best_cover(members, inner_real, k)
        if len(names) >= 2 and difference < k:
            return name, names, difference
    return None


def check_service_release(
    cohort,
    sets: Mapping[str, list[str]],
    policy,
    *,
    service: str,
    key: str | None = None,
) -> None:
    """Rule 6 for a service (Beacon, federation site): what it is about to serve is a release.

    ``sets`` ({group: sample ids}) are the groups the service would answer for. Under a
    suppressing policy without differential privacy they are checked against, and recorded
    in, the cohort's :class:`ReleaseLog` (the same log as ``genshare stats`` and figures,
    kept in ``$GENSHARE_STATE``, so a restart does not start afresh). A group that differs
    from an earlier released group by 1..k-1 samples, as after withdrawing fewer than k
    people, raises :class:`ReleaseRefused`: the querier of a service has unlimited queries,
    so the answers before and after would give the withdrawn people's genotype counts by
    subtraction. Under an epsilon each start is a new noisy release charged to the budget,
    and nothing is checked here. ``key``: a log of its own (e.g. an association sample set,
    compared only with earlier association sets).
    """
    if not policy.suppresses or policy.epsilon is not None:
        return
    k = min_difference(policy)
    log = ReleaseLog(key) if key is not None else ReleaseLog.for_cohort(cohort)
    try:
        log.record(with_union(sets), k=k, command=service, region=None)
    except ReleaseRefused as exc:
        raise ReleaseRefused(
            f"{service} does not serve this release (rule 6, release log, rule name "
            f"'{SERVICE_RULE}'): what it would serve differs from an earlier release of "
            f"{cohort.id!r} by fewer than k = {k} samples (e.g. after withdrawing fewer than "
            f"{k} people), and a querier could subtract the answers before and after to get "
            "those people's genotype counts; the earlier release is not served either (it "
            "holds withdrawn people). Batch withdrawals until every served group changes by "
            f"{k} or more samples, or serve under differential privacy (--epsilon). {exc}"
        ) from None


#: The rule a service names when the release log refuses what it would serve.
SERVICE_RULE = "release-log"
