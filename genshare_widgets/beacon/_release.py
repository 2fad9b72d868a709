"""What the Beacon may say about each variant: counts computed once, released once.

At start-up :func:`beacon_release` makes ONE genotype pass over the cohort grouped by ``by``
(e.g. population). The grouping is fixed here, by the operator; nothing a client sends picks
or changes a grouping. As in every GenShare grouping, samples without a value of ``by`` are left
out (a ``--samples`` list that names some samples serves only those: one VCF can be split into
several Beacons). When the entry's consent forbids ancestry comparisons
(:func:`~genshare_widgets.disclosure.check_grouping` refuses the grouping, e.g. NPOA), the pass
groups the whole cohort as one group instead and the Beacon answers with cohort-wide
frequencies only; the refusal's reason is kept for the responses. A grouping whose group names
are sample ids is refused (a Beacon never lists sample ids).

Then the released counts come from the one release door,
:func:`~genshare_widgets.disclosure.release_counts`, exactly as every other GenShare release of
the cohort, and every query is answered from the released arrays (no per-query computation on
genotypes, no per-query privacy cost). What the Beacon adds on top of the door:

- **Group size** (every tier, with or without a policy): a group with fewer than
  ``max(k, 5)`` samples (:func:`group_floor`) is never served, neither on its own nor inside
  a total; it is named in ``withheldGroups`` with the marker ``<floor`` and its samples are
  counted nowhere (the sample total in ``/info`` is the sum of the served groups' sizes).
- **Rows**: a group's row of a variant (AC, AN, AF) is shown only when the door released every
  linked cell of it (AC, REF count, AN, het, hom-alt, hom-ref, called: every ``*_status`` is
  0); otherwise the whole row is withheld, with one marker whatever the reason (the marker says
  nothing about which cell is small, or whether AC is).
- **ALL** (the total over the served groups) is shown only when every group row of the variant
  is shown; it is then the sum of the shown rows, so it reveals nothing they do not. A total
  next to a withheld row would give that row away (total minus the shown rows).
- **Presence** (``exists``, counting variants, listing records): a variant is reported when
  the ALT count summed over its SHOWN rows is at least k (at least 1 without a policy; noisy
  under DP). Presence is thus a function of released numbers only and cannot be inverted into
  a withheld count. An allele seen in fewer than k copies answers ``false``, exactly as an
  absent one: this is what blunts the Shringarpure-Bustamante membership attack, which needs
  the Beacon to say "yes" to the target's rare alleles (README "Re-identification risk lab").
- **Differential privacy** (``policy.epsilon``): the door adds the noise once, at start-up,
  charged ONCE to the budget of :func:`beacon_budget`; totals are sums of noisy released parts.
  Every answer is post-processing of that one release, so any number of queries costs no more.

Multi-allelic records are served as one biallelic record per ALT allele, split as ``bcftools
norm -m-`` does and as in every GenShare count (a query for any present ALT of such a site
finds its record); how many were split is in :attr:`BeaconRelease.n_multiallelic_split`.
The records whose ALT is ``*`` (the VCF's spanning-deletion allele, which ``bcftools norm -m-``
keeps: "this haplotype carries a deletion that starts upstream, described by its own record")
are not served: ``*`` is not a sequence (Beacon v2's ``alternateBases`` pattern has no ``*``;
a response carrying it fails the official schema), and the deletion it stands for is found
through its own record (by a range query over the site, or the deletion's sequence).
Their number is :attr:`BeaconRelease.n_spanning_deletion_records`.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError
from genshare_widgets.disclosure._policy import DisclosurePolicy

TOTAL = "ALL"
MIN_GROUP_SIZE = 5  # smallest group shown on its own, whatever the policy


#: The VCF's spanning-deletion ALT (an overlapping deletion, described by its own record).
SPANNING_DELETION = "*"


@dataclass
class BeaconRelease:
    """The released allele counts a Beacon answers from (sorted by contig, position).

    Attributes
    ----------
    contigs
        Contig names; ``contig_code`` indexes into it.
    contig_code, position, ref, alt
        Per variant (1-based VCF ``position``).
    end
        Per variant: the 1-based last base the record covers (INFO/END of a symbolic allele,
        else ``position + len(ref) - 1``), which is also its 0-based exclusive end.
    variant_id
        Per variant: the VCF ID (rsID) or ``""``.
    ac, an
        Released ALT allele count and allele number, shape (variants, 1 + served groups):
        column 0 is ``ALL``, the sum of the group rows where every group row is shown; 0
        where not shown.
    shown
        Same shape, True where the row is shown (every linked cell released by the door;
        ``ALL``: every group row shown).
    present
        Per variant: True when the ALT count summed over the shown rows reaches the presence
        threshold (a function of released numbers only).
    groups
        Names of the served groups (columns 1..).
    refused
        Why per-group frequencies are not served (consent), or None.
    withheld_groups
        Groups of ``by`` never served (fewer than ``max(k, 5)`` samples), with the reason.
    group_sizes
        Samples per served group; a withheld group gets the marker ``<floor``.
    policy
        The :class:`DisclosurePolicy` applied.
    n_samples
        Samples in the served groups (never counts a withheld group's samples).
    """

    contigs: list[str]
    contig_code: np.ndarray
    position: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    variant_id: np.ndarray
    ac: np.ndarray
    an: np.ndarray
    shown: np.ndarray
    present: np.ndarray
    groups: list[str]
    by: str
    refused: str | None
    withheld_groups: dict[str, str]
    group_sizes: dict[str, Any]
    policy: DisclosurePolicy
    n_samples: int
    n_multiallelic_split: int = 0
    n_spanning_deletion_records: int = 0
    dp: dict[str, Any] | None = None
    end: np.ndarray | None = None
    #: The longest REF and the most bases one record covers (a structural variant's whole
    #: body): how far before a queried position a matching record may start. Set once here,
    #: not per query.
    max_ref_len: int = field(init=False, repr=False)
    max_span: int = field(init=False, repr=False)
    _starts: dict[int, tuple[int, int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ref_len = (
            np.char.str_len(self.ref.astype(str)).astype(np.int64)
            if len(self.ref)
            else np.zeros(0, dtype=np.int64)
        )
        if self.end is None:
            self.end = self.position + np.maximum(ref_len, 1) - 1
        self.end = np.asarray(self.end, dtype=np.int64)
        self.max_ref_len = int(ref_len.max()) if len(ref_len) else 1
        self.max_span = int((self.end - self.position).max()) + 1 if len(self.end) else 1
        self._starts = {}
        for code in range(len(self.contigs)):
            lo = int(np.searchsorted(self.contig_code, code, side="left"))
            hi = int(np.searchsorted(self.contig_code, code, side="right"))
            self._starts[code] = (lo, hi)

    @property
    def threshold(self) -> int:
        """The smallest ALT count reported as present: k under a policy, else 1."""
        return int(self.policy.min_count or 1) if self.policy.suppresses else 1

    @property
    def floor(self) -> int:
        """The smallest group served: ``max(k, 5)`` (:func:`group_floor`)."""
        return group_floor(self.policy)

    def rows_overlapping_starts(self, contig: int, lo0: int, hi0: int) -> tuple[int, int]:
        """The row range of the records on ``contig`` whose 0-based start ``POS - 1`` is in
        ``[lo0, hi0)``."""
        lo, hi = self._starts.get(contig, (0, 0))
        pos = self.position[lo:hi]
        return (
            lo + int(np.searchsorted(pos, lo0 + 1, side="left")),
            lo + int(np.searchsorted(pos, hi0 + 1, side="left")),
        )

    def rows_overlapping(self, contig: int, start0: int, end0: int) -> np.ndarray:
        """Rows of variants on ``contig`` overlapping the 0-based half-open ``[start0, end0)``.

        A VCF record at 1-based ``POS`` covers 0-based ``[POS - 1, END)`` (see ``end``): a
        structural variant is found by any range inside its body.
        """
        assert self.end is not None
        first, last = self.rows_overlapping_starts(contig, start0 - self.max_span, end0)
        rows = np.arange(first, last)
        if not len(rows):
            return rows
        begin = self.position[rows] - 1
        keep = (begin < end0) & (self.end[rows] > start0)
        return rows[keep]

    def rows_at(self, contig: int, position: int) -> np.ndarray:
        """Rows of variants on ``contig`` at 1-based ``position``."""
        lo, hi = self._starts.get(contig, (0, 0))
        pos = self.position[lo:hi]
        a = int(np.searchsorted(pos, position, side="left"))
        b = int(np.searchsorted(pos, position, side="right"))
        return np.arange(lo + a, lo + b)


def _partition(cohort, by: str, *, whole: bool = False):
    """Each sample's group of ``by`` (None without a value); ``whole``: one group ``ALL``."""
    import pandas as pd

    from genshare_widgets.counts import resolve_groups

    resolve_groups(cohort.samples, by)  # a clear error for an unknown column
    column = cohort.samples[by]
    labels = [
        (TOTAL if whole else str(v)) if ok else None
        for v, ok in zip(column, column.notna(), strict=True)
    ]
    return pd.Series(labels, index=cohort.samples.index, name="cohort" if whole else by)


def served_sample_sets(cohort, release: "BeaconRelease") -> dict[str, list[str]]:
    """{served group: its sample ids} of ``release`` (the whole cohort as ``ALL`` when
    consent refused the grouping): what the release log checks before a Beacon serves."""
    grouping = _partition(cohort, release.by, whole=release.refused is not None)
    names = release.groups if release.refused is None else [TOTAL]
    return {g: sorted(str(s) for s in grouping.index[(grouping == g).to_numpy()]) for g in names}


def group_floor(policy: DisclosurePolicy) -> int:
    """The smallest group a Beacon serves: ``max(k, 5)`` under suppression, 5 otherwise.

    Examples
    --------
    >>> group_floor(DisclosurePolicy(min_count=20)), group_floor(DisclosurePolicy())
    (20, 5)
    """
    k = int(policy.min_count or 1) if policy.suppresses else 1
    return max(k, MIN_GROUP_SIZE)


def beacon_budget(cohort):
    """The :class:`~genshare_widgets.disclosure.PrivacyBudget` a Beacon's one noisy release is
    charged to: the cohort's ledger (``$GENSHARE_STATE/privacy``), so a restart
    charges the same ledger again.

    This is the ONE place a Beacon gets its budget (``beacon_app`` without ``budget=``,
    ``serve_beacon``, ``genshare beacon serve``): switching the Beacon to another ledger (a
    custodian's per-cohort ledger) is a change here only.
    """
    from genshare_widgets.disclosure._policy import cohort_budget

    return cohort_budget(cohort)


def _refuse_sample_ids(cohort, grouping, by: str) -> None:
    """A grouping whose group names are sample ids would list them (and serve one person's
    genotypes as a group): refused at start."""
    labels = {str(v) for v in grouping.dropna()}
    ids = {str(s) for s in cohort.samples.index}
    clash = labels & ids
    if clash:
        raise GenShareError(
            f"grouping {by!r} has {len(clash)} group(s) named like sample ids; a Beacon never "
            "lists sample ids: group by a column of populations or other groups (--by)"
        )


def row_shown(released) -> np.ndarray:
    """(variants, groups) True where the door released every linked cell of the row.

    A row is shown only when all of its ``*_status`` variables are 0 (and ``allele_usable``
    holds); counts that did not go through a suppressing policy are all shown.
    """
    shape = released["allele_count"].shape
    shown = np.ones(shape, dtype=bool)
    for name in released.data_vars:
        if str(name).endswith("_status") and released[name].shape == shape:
            shown &= released[name].values == 0
    if "allele_usable" in released:
        shown &= released["allele_usable"].values.astype(bool)
    return shown


def beacon_release(cohort, *, by: str = "population", policy: DisclosurePolicy, budget=None):
    """Count every variant of ``cohort`` once and release it under ``policy``.

    Parameters
    ----------
    cohort
        An opened :class:`~genshare_widgets.Cohort`.
    by
        Sample column whose groups get ``frequencyInPopulations`` rows (fixed at start).
    policy
        The disclosure policy (minimum count, epsilon).
    budget
        The :class:`~genshare_widgets.disclosure.PrivacyBudget` charged once when the policy
        has an epsilon (default: :func:`beacon_budget`).

    Returns
    -------
    BeaconRelease

    Examples
    --------
    >>> cohort = open_cohort("sim-ooa")  # doctest: +SKIP
    >>> release = beacon_release(cohort, policy=DisclosurePolicy())  # doctest: +SKIP
    >>> release.groups  # doctest: +SKIP
    ['CEU', 'CHB', 'YRI']
    """

    from genshare_widgets.counts import allele_counts_by_group
    from genshare_widgets.disclosure._gate import check_grouping
    from genshare_widgets.disclosure._purpose import AnalysisRefused
    from genshare_widgets.disclosure._release import release_counts

    grouping = _partition(cohort, by)
    refused = None
    if cohort.entry is not None:
        try:
            check_grouping(cohort, grouping, analysis="Beacon frequencyInPopulations per group")
        except AnalysisRefused as exc:
            refused = str(exc)
    if refused is not None:
        grouping = _partition(cohort, by, whole=True)
        # a purpose the codes do not permit refuses the whole-cohort answer too: raise it here
        check_grouping(cohort, grouping, analysis="a Beacon")
    else:
        _refuse_sample_ids(cohort, grouping, by)
    counts = allele_counts_by_group(cohort, by=grouping)
    names = [str(g) for g in counts["groups"].values]
    sizes = counts["group_n_samples"].values.astype(np.int64)
    floor = group_floor(policy)
    withheld: dict[str, str] = {
        g: f"fewer than {floor} samples" for g, n in zip(names, sizes, strict=True) if n < floor
    }
    served = [j for j, g in enumerate(names) if g not in withheld]
    if not served:
        raise GenShareError(
            f"cohort {cohort.id!r} has no group of {by!r} with at least {floor} samples; a "
            "Beacon serves only groups of that size (smaller ones would describe individuals)"
        )
    counts = counts.isel(groups=served)
    if policy.epsilon is not None and budget is None:
        budget = beacon_budget(cohort)
    released = release_counts(
        counts, policy, budget=budget, what=f"Beacon release of {cohort.id} (by {by})"
    )
    withheld.update(
        {str(g): str(why) for g, why in released.attrs.get("withheld_groups", {}).items()}
    )
    groups = [str(g) for g in released["groups"].values]
    if not groups:
        raise GenShareError(
            f"cohort {cohort.id!r}: every group of {by!r} is withheld under {policy.describe()}"
        )
    ac = released["allele_count"].values.astype(np.int64)
    an = released["allele_number"].values.astype(np.int64)
    shown_rows = row_shown(released)
    ac = np.where(shown_rows, ac, 0)
    an = np.where(shown_rows, an, 0)
    # ALL (rule 2): only where every group row is shown, and then the sum of the shown rows
    every = shown_rows.all(axis=1)
    total_ac = np.where(every, ac.sum(axis=1), 0)
    total_an = np.where(every, an.sum(axis=1), 0)
    if refused is not None:  # one group, the whole cohort: it is the ALL row
        table_ac, table_an, groups_out = total_ac[:, None], total_an[:, None], []
        shown = np.asarray(every)[:, None]
    else:
        table_ac = np.column_stack([total_ac, ac])
        table_an = np.column_stack([total_an, an])
        shown = np.column_stack([every, shown_rows])
        groups_out = groups
    k = int(policy.min_count or 1) if policy.suppresses else 1
    present = ac.sum(axis=1) >= k  # over shown rows only: a function of released numbers
    contig_values = released["variant_contig"].values
    contigs = sorted({str(c) for c in contig_values}, key=_contig_sort_key)
    code = np.array([contigs.index(str(c)) for c in contig_values], np.int64)
    position = released["variant_position"].values.astype(np.int64)
    order = np.lexsort((position, code))
    # '*' (a spanning deletion; see the module doc) is not a sequence: not served
    spanning = np.asarray(released["variant_alt"].values).astype(str) == SPANNING_DELETION
    order = order[~spanning[order]]
    try:
        from genshare_widgets.counts import with_variant_ids

        ids = with_variant_ids(released, cohort)["variant_id"].values.astype(str)
    except Exception:  # no ID column in this store: variants are found by position only
        ids = np.full(len(position), "", dtype=object).astype(str)
    from genshare_widgets.counts import with_variant_ends

    ends = with_variant_ends(released, cohort)["variant_end"].values.astype(np.int64)
    released_sizes = released["group_n_samples"].values.astype(np.int64)
    group_sizes: dict[str, Any] = {g: int(n) for g, n in zip(groups, released_sizes, strict=True)}
    group_sizes.update({g: f"<{floor}" for g in withheld})
    if refused is not None:
        group_sizes = {TOTAL: int(released_sizes.sum())}
    return BeaconRelease(
        contigs=contigs,
        contig_code=code[order],
        position=position[order],
        ref=np.asarray(released["variant_ref"].values).astype(str)[order],
        alt=np.asarray(released["variant_alt"].values).astype(str)[order],
        variant_id=ids[order],
        ac=table_ac[order],
        an=table_an[order],
        shown=shown[order],
        present=present[order],
        groups=groups_out,
        by=by,
        refused=refused,
        withheld_groups=withheld,
        group_sizes=group_sizes,
        policy=policy,
        n_samples=int(released_sizes.sum()),
        n_multiallelic_split=int(released.attrs.get("filters", {}).get("n_multiallelic_split", 0)),
        n_spanning_deletion_records=int(spanning.sum()),
        dp=dict(released.attrs["dp"]) if "dp" in released.attrs else None,
        end=ends[order],
    )


def _contig_sort_key(name: str) -> tuple[int, int, str]:
    bare = name[3:] if name.lower().startswith("chr") else name
    return (0, int(bare), "") if bare.isdigit() else (1, 0, bare)
