"""What the Beacon may say about each variant: counts computed once, released once.

At start-up :func:`beacon_release` makes ONE genotype pass over the cohort grouped by ``by``
(e.g. population); the cohort-wide total (``ALL``) is the exact sum of the groups. As in every
GenShare grouping, samples without a value of ``by`` are left out (a ``--samples`` list that
names some samples serves only those: one VCF can be split into several Beacons). Groups with
fewer than :data:`MIN_GROUP_SIZE` samples (or k under a policy) are never shown on their own,
even for open cohorts: a group of one person's AC is that person's genotype. When the entry's
consent forbids ancestry comparisons (:func:`~genshare_widgets.disclosure.check_grouping`
refuses the grouping, e.g. NPOA), the pass groups the whole cohort as one group instead and the
Beacon answers with cohort-wide frequencies only; the refusal's reason is kept for the
responses.

Then the disclosure policy (:class:`~genshare_widgets.disclosure.DisclosurePolicy`) is applied
once, and every query is answered from the released arrays (no per-query computation on
genotypes, no per-query privacy cost):

- **Differential privacy** (``policy.epsilon``): discrete-Laplace noise on AC and AN of every
  group at every variant (L1 sensitivity 4 × variants: one participant changes AC and AN by at
  most 2 in their own group), charged ONCE to the budget; totals are sums of the noisy parts.
  Every answer is post-processing of that one release, so any number of queries costs no more.
- **Minimum cell count k** (``policy.min_count``): a count of alleles in 1..k-1 is not shown.
  The parts of a variant's total (the shown populations, plus the remainder = total minus
  the shown populations: samples without a group and groups with fewer than k samples, which
  are never shown) go through :func:`~genshare_widgets.disclosure.complementary_suppression`,
  so a lone hidden population count cannot be recovered as total minus the others; within each
  cell an AC whose REF count (AN - AC) is in 1..k-1 is withheld (AN - AC would give it away).
  The rules are applied until nothing changes.
- **Presence** (``exists``, counting variants, listing records): a variant is reported only when
  its cohort-wide ALT count is at least k (at least 1 without a policy; the noisy count under
  DP). An allele seen in fewer than k copies answers ``false``, exactly as an absent one: this
  is what blunts the Shringarpure-Bustamante membership attack, which needs the Beacon to say
  "yes" to the target's rare alleles (README "Re-identification risk lab").

Only biallelic variants are served (multi-allelic records are excluded, as in every GenShare
count; their number is in :attr:`BeaconRelease.n_multiallelic_excluded`).
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError
from genshare_widgets.disclosure._policy import DisclosurePolicy

TOTAL = "ALL"
MIN_GROUP_SIZE = 5  # smallest group shown on its own, whatever the policy


@dataclass
class BeaconRelease:
    """The released allele counts a Beacon answers from (sorted by contig, position).

    Attributes
    ----------
    contigs
        Contig names; ``contig_code`` indexes into it.
    contig_code, position, ref, alt
        Per variant (1-based VCF ``position``).
    variant_id
        Per variant: the VCF ID (rsID) or ``""``.
    ac, an
        Released ALT allele count and allele number, shape (variants, 1 + shown groups):
        column 0 is the cohort-wide total; 0 where not released.
    shown
        Same shape, True where both AC and AN of that cell are released.
    present
        Per variant: True when the cohort-wide ALT count reaches the presence threshold.
    groups
        Names of the shown groups (columns 1..).
    refused
        Why per-group frequencies are not served (consent), or None.
    withheld_groups
        Groups of ``by`` never shown (fewer than k samples), with the reason.
    group_sizes
        Samples per shown group; a withheld group gets the marker ``<floor``.
    policy
        The :class:`DisclosurePolicy` applied.
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
    n_multiallelic_excluded: int = 0
    dp: dict[str, Any] | None = None
    _ref_len: np.ndarray = field(init=False, repr=False)
    _starts: dict[int, tuple[int, int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._ref_len = np.char.str_len(self.ref.astype(str)) if len(self.ref) else np.zeros(0)
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
    def max_ref_len(self) -> int:
        return int(self._ref_len.max()) if len(self._ref_len) else 1

    def contig_index(self, name: str) -> int | None:
        """The code of contig ``name`` (``chr1`` and ``1`` both accepted), or None."""
        for candidate in (name, name[3:] if name.lower().startswith("chr") else f"chr{name}"):
            if candidate in self.contigs:
                return self.contigs.index(candidate)
        return None

    def rows_overlapping(self, contig: int, start0: int, end0: int) -> np.ndarray:
        """Rows of variants on ``contig`` overlapping the 0-based half-open ``[start0, end0)``.

        A VCF record at 1-based ``POS`` with REF of length L covers 0-based ``[POS-1,
        POS-1+L)``.
        """
        lo, hi = self._starts.get(contig, (0, 0))
        pos = self.position[lo:hi]
        first = lo + int(np.searchsorted(pos, start0 + 1 - self.max_ref_len + 1, side="left"))
        last = lo + int(np.searchsorted(pos, end0, side="right"))
        rows = np.arange(max(first, lo), last)
        if not len(rows):
            return rows
        begin = self.position[rows] - 1
        keep = (begin < end0) & (begin + self._ref_len[rows] > start0)
        return rows[keep]

    def rows_at(self, contig: int, position: int) -> np.ndarray:
        """Rows of variants on ``contig`` at 1-based ``position``."""
        lo, hi = self._starts.get(contig, (0, 0))
        pos = self.position[lo:hi]
        a = int(np.searchsorted(pos, position, side="left"))
        b = int(np.searchsorted(pos, position, side="right"))
        return np.arange(lo + a, lo + b)


def _lonely_parts(parts: np.ndarray, hidden: np.ndarray, total_hidden: np.ndarray) -> np.ndarray:
    """One round of complementary suppression on a (variants, parts) table: rows whose total is
    hidden hide every non-zero part; rows with exactly one hidden part hide the smallest other
    non-zero part (the rule of :func:`~genshare_widgets.disclosure.complementary_suppression`,
    with the hidden cells given rather than derived from the values)."""
    nonzero = parts > 0
    hidden = hidden | (total_hidden[:, None] & nonzero)
    # a hidden zero part gives nothing away: count the hidden non-zero parts
    lonely = ~total_hidden & ((hidden & nonzero).sum(axis=1) == 1)
    if lonely.any():
        rows = np.flatnonzero(lonely)
        big = np.iinfo(np.int64).max
        candidates = np.where(nonzero[rows] & ~hidden[rows], parts[rows], big)
        pick = candidates.argmin(axis=1)
        ok = candidates[np.arange(len(rows)), pick] < big
        hidden[rows[ok], pick[ok]] = True
    return hidden


def suppress_with_total(
    ac: np.ndarray, an: np.ndarray, k: int, *, always_hidden: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Hidden masks for AC and AN tables whose column 0 is the total of the other columns.

    Cells in 1..k-1 are hidden (primary); an AC whose REF count AN - AC is in 1..k-1 is hidden;
    an AC is hidden where its AN is (unless it is 0); across the parts of each total the
    complementary rule is applied; repeated until stable. ``always_hidden`` (parts) marks
    columns never shown (the remainder).

    Examples
    --------
    >>> ac = np.array([[45, 3, 42]]); an = np.array([[400, 200, 200]])
    >>> [m.tolist() for m in suppress_with_total(ac, an, 20)]
    [[[False, True, True]], [[False, False, False]]]
    """
    ac = np.asarray(ac, dtype=np.int64)
    an = np.asarray(an, dtype=np.int64)

    def small(x):
        return (x >= 1) & (x < k)

    ac_hidden = small(ac) | small(an - ac)
    an_hidden = small(an)
    if always_hidden is not None:
        ac_hidden[:, 1:] |= always_hidden
        an_hidden[:, 1:] |= always_hidden
    for _ in range(50):  # each round only adds hidden cells: it ends
        before = (ac_hidden.sum(), an_hidden.sum())
        ac_hidden |= an_hidden & (ac > 0)
        ac_hidden[:, 1:] = _lonely_parts(ac[:, 1:], ac_hidden[:, 1:], ac_hidden[:, 0])
        an_hidden[:, 1:] = _lonely_parts(an[:, 1:], an_hidden[:, 1:], an_hidden[:, 0])
        ref = an - ac
        ref_hidden = (an_hidden | ac_hidden) & (ref > 0)
        ref_hidden[:, 1:] = _lonely_parts(ref[:, 1:], ref_hidden[:, 1:], ref_hidden[:, 0])
        ac_hidden |= ref_hidden & ~an_hidden  # a hidden REF count with AN shown hides AC
        if (ac_hidden.sum(), an_hidden.sum()) == before:
            break
    return ac_hidden, an_hidden


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


def beacon_release(cohort, *, by: str = "population", policy: DisclosurePolicy, budget=None):
    """Count every variant of ``cohort`` once and release it under ``policy``.

    Parameters
    ----------
    cohort
        An opened :class:`~genshare_widgets.Cohort`.
    by
        Sample column whose groups get ``frequencyInPopulations`` rows.
    policy
        The disclosure policy (minimum count, epsilon).
    budget
        The :class:`~genshare_widgets.disclosure.PrivacyBudget` charged once when the policy
        has an epsilon (default: the session budget).

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
    from genshare_widgets.disclosure._consent import AnalysisRefused
    from genshare_widgets.disclosure._gate import check_grouping

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
    counts = allele_counts_by_group(cohort, by=grouping)
    names = [str(g) for g in counts["groups"].values]
    ac = counts["allele_count"].values.astype(np.int64)
    an = counts["allele_number"].values.astype(np.int64)
    sizes = counts["group_n_samples"].values.astype(np.int64)
    dp = None
    if policy.epsilon is not None:
        from genshare_widgets.disclosure._dp import privatize_counts
        from genshare_widgets.disclosure._release import session_budget

        budget = budget if budget is not None else session_budget()
        budget.charge(policy.epsilon, f"Beacon release of {cohort.id} (AC, AN per group)")
        noisy = privatize_counts(
            counts[["allele_count", "allele_number"]],
            epsilon=policy.epsilon,
            rng=np.random.default_rng(policy.seed),
            variables=("allele_count", "allele_number"),
        )
        ac = noisy["allele_count"].values.astype(np.int64)
        an = noisy["allele_number"].values.astype(np.int64)
        dp = dict(noisy.attrs["dp"])
    k = int(policy.min_count or 1) if policy.suppresses else 1
    floor = max(k, MIN_GROUP_SIZE)
    if int(sizes.sum()) < floor:
        raise GenShareError(
            f"cohort {cohort.id!r} has {int(sizes.sum())} samples with a {by!r} value; a Beacon "
            f"needs at least {floor} (its answers would describe individuals)"
        )
    real = [j for j, g in enumerate(names) if g != TOTAL]
    withheld = {names[j]: f"fewer than {floor} samples" for j in real if sizes[j] < floor}
    shown_cols = [j for j in real if names[j] not in withheld]
    total_ac, total_an = ac.sum(axis=1), an.sum(axis=1)
    rest = [j for j in range(len(names)) if j not in shown_cols]
    table_ac = np.column_stack([total_ac, *(ac[:, j] for j in shown_cols), ac[:, rest].sum(axis=1)])
    table_an = np.column_stack([total_an, *(an[:, j] for j in shown_cols), an[:, rest].sum(axis=1)])
    never = np.zeros(table_ac.shape[1] - 1, dtype=bool)
    never[-1] = True  # the remainder (withheld groups) is never shown, but is a part
    ac_hidden, an_hidden = suppress_with_total(
        table_ac, table_an, k, always_hidden=np.broadcast_to(never, table_ac[:, 1:].shape)
    )
    shown = ~(ac_hidden | an_hidden)[:, :-1]
    out_ac = np.where(shown, table_ac[:, :-1], 0)
    out_an = np.where(shown, table_an[:, :-1], 0)
    present = total_ac >= k
    contigs = sorted({str(c) for c in counts["variant_contig"].values}, key=_contig_sort_key)
    code = np.array([contigs.index(str(c)) for c in counts["variant_contig"].values], np.int64)
    position = counts["variant_position"].values.astype(np.int64)
    order = np.lexsort((position, code))
    try:
        from genshare_widgets.counts import with_variant_ids

        ids = with_variant_ids(counts, cohort)["variant_id"].values.astype(str)
    except Exception:  # no ID column in this store: variants are found by position only
        ids = np.full(len(position), "", dtype=object).astype(str)
    group_sizes: dict[str, Any] = {names[j]: int(sizes[j]) for j in shown_cols}
    group_sizes.update({g: f"<{floor}" for g in withheld})
    return BeaconRelease(
        contigs=contigs,
        contig_code=code[order],
        position=position[order],
        ref=np.asarray(counts["variant_ref"].values).astype(str)[order],
        alt=np.asarray(counts["variant_alt"].values).astype(str)[order],
        variant_id=ids[order],
        ac=out_ac[order],
        an=out_an[order],
        shown=shown[order],
        present=present[order],
        groups=[names[j] for j in shown_cols],
        by=by,
        refused=refused,
        withheld_groups=withheld,
        group_sizes=group_sizes,
        policy=policy,
        n_samples=int(sizes.sum()),
        n_multiallelic_excluded=int(counts.attrs["filters"].get("n_multiallelic_excluded", 0)),
        dp=dp,
    )


def _contig_sort_key(name: str) -> tuple[int, int, str]:
    bare = name[3:] if name.lower().startswith("chr") else name
    return (0, int(bare), "") if bare.isdigit() else (1, 0, bare)
