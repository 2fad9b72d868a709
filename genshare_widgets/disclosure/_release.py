"""Releases: a counts Dataset through the policy, and every table or figure input from it.

:func:`release_counts` is the one door: noise first (when the policy has an epsilon; the
session's :class:`~genshare_widgets.disclosure.PrivacyBudget` is charged), then suppression
(:mod:`~genshare_widgets.disclosure._suppress`). The functions below compute the
``genshare stats`` tables and figure inputs from a released Dataset only:

============================  ==============================================================
value                         released how
============================  ==============================================================
linked cells of a variant     the allele row (AC, REF, AN, and called/haploid calls as AN
                              gives them) as a whole, the genotype counts only with every
                              cell of the genotype row 0 or >= k (see ``_suppress``)
AC, AN (``freq.tsv``)         the numbers, or ``<k`` (AC in 1..k-1) / ``NA`` in a hidden row
AF                            released rows only; else ``NA``
Hudson Fst (pairs, windows)   over variants whose rows are released in both groups
expected heterozygosity       over the group's released rows
observed heterozygosity       over the group's released genotype rows, and only when there
                              are at least ``policy.min_variants`` (default 1,000) of them
samples per group             groups with fewer than k samples are withheld everywhere
MAF filter (``--min-maf``)    on released values only: AC and AN summed over released rows
                              (a filter on exact counts is an oracle for hidden ones)
SFS                           released AC exactly; AC in 1..k-1 pooled in one ``<k`` class;
                              the AC of other hidden rows in an ``NA`` class
joint SFS                     the same classes on both axes
shared / private              a variant is present where AC > 0, ``<k`` or ``NA``
                              (counts of variants are released)
per-person outputs            refused under an active policy (PCA, samples.tsv)
============================  ==============================================================

With no active policy every function returns exactly what :mod:`genshare_widgets.stats` does.
"""

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError
from genshare_widgets.disclosure._policy import DisclosurePolicy
from genshare_widgets.disclosure._suppress import (
    GENOTYPE_COUNTS,
    RELEASED,
    SUPPRESSED,
    WITHHELD,
    check_rows,
    observed_het_released,
    small_groups,
    suppress_counts,
)

_COUNTS = ("allele_count", "allele_number", *GENOTYPE_COUNTS)
_SESSION_BUDGET = None


_LEDGERS: dict[str, Any] = {}


def session_budget(cohort_id: str | None = None):
    """The default :class:`~genshare_widgets.disclosure.PrivacyBudget` of a release.

    For a registered or controlled catalog entry: the custodian's ledger of that cohort id
    (persistent, so a new Python session or explorer cannot reset it). Otherwise (open data,
    the user's own files, counts with no cohort id): one in-memory budget per process.
    """
    global _SESSION_BUDGET
    if cohort_id:
        from genshare_widgets.catalog import load_catalog

        entry = next((e for e in load_catalog().cohorts if e.id == cohort_id), None)
        if entry is not None and entry.access != "open":
            if cohort_id not in _LEDGERS:
                from genshare_widgets.disclosure._policy import custodian_settings

                _LEDGERS[cohort_id] = custodian_settings(entry).budget(cohort_id)
            return _LEDGERS[cohort_id]
    if _SESSION_BUDGET is None:
        from genshare_widgets.disclosure._dp import PrivacyBudget

        _SESSION_BUDGET = PrivacyBudget()
    return _SESSION_BUDGET


def _digest(counts) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name in (*_COUNTS, "group_n_samples", "variant_index"):
        if name in counts:
            h.update(name.encode())
            h.update(np.ascontiguousarray(counts[name].values).tobytes())
    h.update(repr([str(g) for g in counts["groups"].values]).encode())
    return h.hexdigest()


def min_variants_of(policy: DisclosurePolicy) -> int:
    """The custodian's minimum number of variants behind a released mean (default 1,000)."""
    return int(getattr(policy, "min_variants", None) or 1000)


def _all_released(counts, *, min_variants: int):
    """Noisy counts with every row released (differential privacy without suppression)."""
    out = counts.copy(deep=False)  # variables are replaced, never written in place
    for name in _COUNTS:
        if name in counts:
            out[f"{name}_status"] = (("variants", "groups"), np.zeros(counts[name].shape, np.int8))
    usable = np.ones(counts["allele_count"].shape, bool)
    out["allele_usable"] = (("variants", "groups"), usable)
    out["genotype_usable"] = (("variants", "groups"), usable)
    if all(g in counts for g in GENOTYPE_COUNTS):
        out["observed_het"] = (
            ("groups",),
            observed_het_released(
                counts["het_count"].values,
                counts["called_count"].values,
                usable,
                min_variants=min_variants,
            ),
        )
    out.attrs = dict(counts.attrs)
    out.attrs.setdefault("withheld_groups", {})
    out.attrs["min_variants"] = int(min_variants)
    return out


def released_maf_filter(released, min_maf: float):
    """Keep the variants whose MAF, computed from released rows only (AC and AN summed over
    the groups whose row is released), is at least ``min_maf``; a variant with no released
    row fails. Under a policy this is the only MAF filter: one on exact counts would tell,
    by a row appearing at threshold t and not at t + d, what a hidden count is."""
    from genshare_widgets._selection import check_min_maf

    check_min_maf(min_maf)
    usable = released["allele_usable"].values
    ac = np.where(usable, released["allele_count"].values, 0).sum(axis=1, dtype=np.int64)
    an = np.where(usable, released["allele_number"].values, 0).sum(axis=1, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        af = np.where(an > 0, ac / np.maximum(an, 1), np.nan)
    passing = np.minimum(af, 1 - af) >= min_maf  # NaN (nothing released) fails
    out = released.isel(variants=np.flatnonzero(passing))
    info = dict(released.attrs.get("filters", {}))
    info.update(
        min_maf=min_maf,
        min_maf_on="released rows only",
        n_below_min_maf=int((~passing).sum()),
        n_variants_analysed=int(passing.sum()),
    )
    return out.assign_attrs(filters=info)


def release_counts(
    counts,
    policy: DisclosurePolicy,
    *,
    budget=None,
    min_maf: float | None = None,
    what: str = "",
):
    """``counts`` as the policy lets them out (see the module table).

    Parameters
    ----------
    counts
        A counts Dataset (:func:`~genshare_widgets.counts.allele_counts_by_group`).
    policy
        The :class:`DisclosurePolicy`. Inactive: ``counts`` come back unchanged (with the
        policy recorded in ``attrs["disclosure"]``).
    budget
        The :class:`~genshare_widgets.disclosure.PrivacyBudget` charged when the policy has
        an epsilon (default: the process's session budget). The same counts released twice
        under the same policy and budget give the same noisy answer and are charged once.
    min_maf
        The MAF filter. Under an active policy it runs on released values only
        (:func:`released_maf_filter`): give it here, never to the counting pass (a filter on
        exact counts is an oracle for hidden ones; counts that already carry a MAF filter
        are refused).
    what
        A label for the budget's history.

    Returns
    -------
    xarray.Dataset
        The released counts: non-released cells are 0, ``*_status`` (0 released, 1 ``<k``,
        2 withheld), ``allele_usable``, ``observed_het`` (groups), ``attrs["disclosure"]``,
        ``attrs["withheld_groups"]``.

    Examples
    --------
    >>> released = release_counts(counts, DisclosurePolicy(min_count=20))  # doctest: +SKIP
    """
    from genshare_widgets.counts import select_groups

    if not policy.active:
        if min_maf is not None:
            counts = select_groups(counts, min_maf=min_maf)
        out = counts.copy(deep=False)  # variables are replaced, never written in place
        out.attrs = {**counts.attrs, "disclosure": policy.to_dict()}
        return out
    if "min_maf" in counts.attrs.get("filters", {}):
        raise GenShareError(
            "under a disclosure policy the MAF filter runs on released values: give min_maf "
            "to release_counts, not to the counting pass"
        )
    noisy = counts
    min_variants = min_variants_of(policy)
    if policy.epsilon is not None:
        budget = budget if budget is not None else session_budget(counts.attrs.get("cohort"))
        key = (policy, min_maf, _digest(counts))
        if key in budget.answered:
            return budget.answered[key]
        from genshare_widgets.disclosure._dp import privatize_counts

        budget.charge(
            policy.epsilon,
            what or f"counts of {counts.attrs.get('cohort', '?')}",
            delta=policy.delta,
        )
        noisy = privatize_counts(
            counts,
            epsilon=policy.epsilon,
            rng=np.random.default_rng(policy.seed),
            **policy.noise_options(),
        )
    out = (
        suppress_counts(noisy, int(policy.min_count or 1), min_variants=min_variants)
        if policy.suppresses
        else _all_released(noisy, min_variants=min_variants)
    )
    check_rows(out)
    if min_maf is not None:
        out = released_maf_filter(out, min_maf)
    out.attrs["disclosure"] = policy.to_dict()
    if policy.epsilon is not None:
        budget.answered[key] = out
    return out


def is_released(counts) -> bool:
    """True when ``counts`` came out of :func:`release_counts` with an active policy."""
    return "allele_usable" in counts


def usable_counts(released):
    """The released counts with AC and AN zeroed wherever either is not released (an AN of 0
    takes a variant out of frequencies, Fst and expected heterozygosity)."""
    if not is_released(released):
        return released
    usable = released["allele_usable"].values
    out = released.copy(deep=False)
    for name in ("allele_count", "allele_number"):
        values = released[name].values
        out[name] = released[name].copy(data=np.where(usable, values, 0).astype(values.dtype))
    return out


def _cell_strings(values: np.ndarray, status: np.ndarray, marker: str) -> np.ndarray:
    """The released cells as text (object array of str): the number, ``marker`` or ``NA``.
    Arrow formats the integers (the same decimal text as ``str(int)``, three times faster
    than numpy's ``astype(str)``)."""
    import pyarrow as pa

    text = pa.array(values.astype(np.int64)).cast(pa.string()).to_numpy(zero_copy_only=False)
    text[status == SUPPRESSED] = marker
    text[status == WITHHELD] = "NA"
    return text


def frequency_columns(released) -> dict[str, np.ndarray]:
    """The ``freq.tsv`` columns of a release (or of a slice of its variants): those of
    :func:`genshare_widgets.stats._frequency.frequency_columns` on the usable view (AF NaN,
    written ``NA``, unless AC and AN are both released), with AC and AN as released: the
    numbers, or text with ``<k`` and ``NA`` in a group whose column hides a cell."""
    from genshare_widgets.stats._frequency import frequency_columns as exact_columns

    if not is_released(released):
        return exact_columns(released)
    marker = f"<{released.attrs.get('min_count', '')}"
    columns = exact_columns(usable_counts(released))
    for j, group in enumerate(released["groups"].values):
        for name, col in (("allele_count", "ac"), ("allele_number", "an")):
            values = released[name].values[:, j]
            status = released[f"{name}_status"].values[:, j]
            columns[f"{group}_{col}"] = (
                _cell_strings(values, status, marker) if status.any() else values
            )
    return columns


def frequency_table(released) -> pd.DataFrame:
    """The ``freq.tsv`` table of a release: AC/AN as numbers, ``<k`` or ``NA``; AF where both
    are released, else NaN (written ``NA``). :func:`frequency_columns` as a DataFrame."""
    return pd.DataFrame(frequency_columns(released))


def hudson_fst(released) -> pd.DataFrame:
    """``fst.tsv``: Hudson Fst per pair over the variants released in both groups."""
    from genshare_widgets import stats

    return stats.hudson_fst(usable_counts(released))


def fst_windows(released, *, size: int) -> pd.DataFrame:
    """Fst in windows for every pair (``pop1, pop2, contig, start, end, n_variants, fst``)."""
    from genshare_widgets import stats

    view = usable_counts(released)
    groups = sorted(str(g) for g in view["groups"].values)
    frames = []
    for i, a in enumerate(groups):
        for b in groups[i + 1 :]:
            window = stats.hudson_fst_windows(view, a, b, size=size)
            window.insert(0, "pop2", b)
            window.insert(0, "pop1", a)
            frames.append(window)
    if not frames:
        return pd.DataFrame(
            columns=["pop1", "pop2", "contig", "start", "end", "n_variants", "hudson_fst"]
        )
    return pd.concat(frames, ignore_index=True)


def heterozygosity(released) -> pd.DataFrame:
    """``het.tsv``: expected heterozygosity over released cells, observed from the release's
    group-level ``observed_het``."""
    from genshare_widgets import stats

    table = stats.heterozygosity(usable_counts(released))
    if "observed_het" in released:
        table["observed_het"] = released["observed_het"].values
    return table


def _sfs_labels(released, j: int, folded: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Per variant: the SFS class (int >= 0, or -1 for ``<k``, -2 for ``NA``) of group j."""
    k = int(released.attrs.get("min_count", 1))
    ac = released["allele_count"].values[:, j].astype(np.int64)
    an = released["allele_number"].values[:, j].astype(np.int64)
    ac_status = released["allele_count_status"].values[:, j]
    usable = released["allele_usable"].values[:, j]
    if folded:
        minor = np.minimum(ac, an - ac)
        cls = np.where(usable, minor, np.where(ac_status == SUPPRESSED, -1, -2))
        size = int(an[usable].max() // 2) if usable.any() else 0
    else:
        cls = np.where(ac_status == RELEASED, ac, np.where(ac_status == SUPPRESSED, -1, -2))
        size = int(ac[ac_status == RELEASED].max(initial=0))
        size = max(size, int(an[released["allele_number_status"].values[:, j] == 0].max(initial=0)))
    return cls, ac, max(size, k)


def _class_names(k: int, size: int, has_na: bool) -> list[tuple[int, str]]:
    names = [(0, "0")]
    if k > 1:
        names.append((-1, f"<{k}"))
    names += [(c, str(c)) for c in range(max(k, 1), size + 1)]
    if has_na:
        names.append((-2, "NA"))
    return names


def sfs(released, *, folded: bool = False) -> pd.DataFrame:
    """``sfs.tsv`` of a release: ``group, alt_count, n_variants`` with the classes ``0``,
    ``<k``, ``k`` .. max and ``NA`` (hidden rows whose AC is not ``<k``) — alt_count is
    text. Folded, a released row counts by its minor count, a ``<k`` AC in ``<k`` and any
    other hidden row in ``NA``."""
    from genshare_widgets import stats

    if not is_released(released) or released.attrs.get("min_count") is None:
        return stats.sfs(
            usable_counts(released) if is_released(released) else released, folded=folded
        )
    k = int(released.attrs["min_count"])
    frames = []
    for j, group in enumerate(released["groups"].values):
        cls, _ac, size = _sfs_labels(released, j, folded)
        names = _class_names(k, size, bool((cls == -2).any()))
        # one pass over the variants (a comparison per class was seconds at 1 M variants)
        per_count = np.bincount(cls[cls >= 0], minlength=size + 1)
        n_of = {-1: int(np.count_nonzero(cls == -1)), -2: int(np.count_nonzero(cls == -2))}
        frames.append(
            pd.DataFrame(
                {
                    "group": str(group),
                    "alt_count": [name for _, name in names],
                    "n_variants": [n_of[c] if c < 0 else int(per_count[c]) for c, _ in names],
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["group", "alt_count", "n_variants"])
    return pd.concat(frames, ignore_index=True)


def joint_sfs(released, group_a: str, group_b: str, *, folded: bool = False):
    """Joint SFS of a release → ``(matrix, labels_a, labels_b)``; without suppression the
    labels are the counts 0..max and the matrix is :func:`genshare_widgets.stats.joint_sfs`."""
    from genshare_widgets import stats
    from genshare_widgets.stats._fst import _group_index

    if not is_released(released) or released.attrs.get("min_count") is None:
        view = usable_counts(released)
        matrix = stats.joint_sfs(view, group_a, group_b, folded=folded)
        return (
            matrix,
            [str(i) for i in range(matrix.shape[0])],
            [str(i) for i in range(matrix.shape[1])],
        )
    k = int(released.attrs["min_count"])
    i, j = _group_index(released, group_a), _group_index(released, group_b)
    if folded:
        raise GenShareError(
            "a folded joint SFS is not released under a minimum cell count (folding needs both "
            "groups' exact counts); draw it unfolded"
        )
    ci, _, si = _sfs_labels(released, i, False)
    cj, _, sj = _sfs_labels(released, j, False)
    names_i = _class_names(k, si, bool((ci == -2).any()))
    names_j = _class_names(k, sj, bool((cj == -2).any()))
    pos_i = {c: n for n, (c, _) in enumerate(names_i)}
    pos_j = {c: n for n, (c, _) in enumerate(names_j)}
    matrix = np.zeros((len(names_i), len(names_j)), dtype=np.int64)
    rows = np.array([pos_i[int(c)] for c in ci], dtype=np.int64)
    cols = np.array([pos_j[int(c)] for c in cj], dtype=np.int64)
    np.add.at(matrix, (rows, cols), 1)
    return matrix, [n for _, n in names_i], [n for _, n in names_j]


def shared_private(released) -> pd.DataFrame:
    """``shared.tsv`` of a release: presence is AC > 0 or an unreleased AC (``<k`` is never
    0; an ``NA`` AC is 0 only in rows hidden for a small allele number or genotype count,
    and counting it present keeps the table a function of released values)."""
    from genshare_widgets.stats._sharing import shared_private_from_presence

    if not is_released(released):
        from genshare_widgets import stats

        return stats.shared_private(released)
    present = (released["allele_count"].values > 0) | (
        released["allele_count_status"].values != RELEASED
    )
    return shared_private_from_presence(present, [str(g) for g in released["groups"].values])


def withheld_groups(group_sizes: dict[str, int], policy: DisclosurePolicy) -> dict[str, str]:
    """Groups the policy withholds: fewer than k samples."""
    return small_groups(group_sizes, int(policy.min_count or 1)) if policy.suppresses else {}


def release_group_sizes(group_sizes: dict[str, int], policy: DisclosurePolicy) -> dict[str, Any]:
    """Samples per group as released: the number, or ``<k``."""
    hidden = withheld_groups(group_sizes, policy)
    return {g: (policy.marker if g in hidden else int(n)) for g, n in group_sizes.items()}
