"""The release door for selection scans (``genshare scan``, ``gs.scan``, the scan figures).

Consent: PBS and XP-EHH compare populations, so an entry whose DUO codes forbid ancestry
research refuses them as it refuses Fst (:func:`check_scan_consent`, through
:func:`~genshare_widgets.disclosure._gate.check_grouping`); H12 and iHS of one group describe
that group alone and follow the entry's ordinary terms (:func:`~._gate.check_use`).

Under a disclosure policy with minimum count k (registered and controlled tiers, k = 20) a
scan plays against an attacker who wants a person's haplotype. What would give it away, and
the rule that stops it:

1. *A small group.* H1 of a group of one person says, window by window, whether their two
   haplotypes are identical; iHS of a few people traces their haplotypes' shared lengths.
   Rule S1: every analysed group has at least k samples (else :class:`ReleaseRefused`).
2. *Two groups that differ by one person* (a group, then the group plus the target): the
   difference of their scans is the target's contribution. Rule S2: the analysed sample sets
   go through the cohort's release log (rule 6), refused within fewer than k samples of an
   earlier released group.
3. *Haplotype class counts.* H1, H12, H123 and H2/H1 together give the frequencies of the
   three commonest haplotypes of a window, which may be 1 or 2 copies: a count in 1..k-1.
   Rule S3: under a policy a Garud scan releases H12 alone; H1, H123 and H2/H1 are withheld.
   H12 alone is one sum of squares, yet in a small window it still pins the number of
   haplotypes outside the two commonest classes (H12 (2n)^2 = T^2 + Q with Q at most S^2 for
   the S = 2n - T others: a window of a common and a rare variant gives the rare one's count).
   So H12 is that of the window's *released* spectrum (rule S4, :func:`released_h12`): the
   classes shown, the pooled ones counted as distinct haplotypes. It is a function of what
   the haplotype-spectrum figure shows, and equals the exact H12 wherever every class holds
   0 or at least k haplotypes.
4. *The haplotype frequency spectrum* of a window is a list of class counts. Rule S4: only
   classes of at least k haplotypes are shown; the others are pooled as "other", and when
   that pool would hold 1..k-1 haplotypes (its size is the group's 2n minus the classes
   shown) the smallest shown classes join it until it holds k or more
   (:func:`released_spectrum`). The pool's number of classes is not shown.
5. *A rare variant's iHS / XP-EHH.* iHS integrates over the pairs of haplotypes carrying the
   focal allele: with two carriers it is the length their haplotypes agree. Rule S5: a
   per-variant score is released only where the minor allele count over the analysed
   haplotypes is at least k; the others are withheld (NA) and left out of the
   allele-count-bin standardisation, so the released scores' bin means carry nothing of them.
6. *PBS of a window of a rare variant.* The three pairwise Fst of a one-variant window can be
   solved for its allele counts. Rule S6: under a policy a variant enters a window's PBS
   sums only when every REF and ALT count of the trio's groups is 0 or at least k (the cells
   the door would hide); a window left with none is withheld.

Differential privacy: scans have no noisy release; a policy with ``epsilon`` refuses them.
"""

import numpy as np

from genshare_widgets.disclosure._publishing import ReleaseRefused

#: Scans that compare populations (refused under NPOA like Fst).
ANCESTRY_SCANS = ("pbs", "xpehh")
#: Rule S7: SNV records per window of a cohort's haplotype grid (the custodian's choice).
HAPLOTYPE_GRID = 100


def on_grid(policy) -> bool:
    """Rule S7: True when haplotype releases under ``policy`` are held to the grid."""
    return policy is not None and policy.suppresses


def grid_windows(contig: np.ndarray, size: int = HAPLOTYPE_GRID) -> np.ndarray:
    """Rule S7: ``(lo, hi)`` record indices (int64, shape (n, 2)) of the haplotype grid over
    a store's SNV records in store order (``contig``: each record's contig): windows of
    ``size`` records from the first record of each contig; a contig's last ``< size``
    records are in none.

    Examples
    --------
    >>> grid_windows(np.array(["1"] * 5 + ["2"] * 3), size=2).tolist()
    [[0, 2], [2, 4], [5, 7]]
    """
    contig = np.asarray(contig)
    if not len(contig):
        return np.zeros((0, 2), dtype=np.int64)
    cuts = np.flatnonzero(contig[1:] != contig[:-1]) + 1
    starts = np.concatenate([[0], cuts])
    stops = np.concatenate([cuts, [len(contig)]])
    parts = [
        np.arange(a, b - size + 1, size, dtype=np.int64) for a, b in zip(starts, stops, strict=True)
    ]
    lo = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return np.column_stack([lo, lo + size]).reshape(-1, 2)


def check_grid_scan(
    policy, *, window, step, unit: str, size: int = HAPLOTYPE_GRID, cohort_id: str = ""
) -> None:
    """Rule S7: refuse an H12 scan under ``policy`` whose windows are not the grid's."""
    if not on_grid(policy):
        return
    fits = unit == "variants" and window is not None and int(window) == size
    if fits and (step is None or int(step) == size):
        return
    where = f" for {cohort_id!r}" if cohort_id else ""
    asked = f"--window {window}" + (f" --step {step}" if step else "") + f" ({unit})"
    raise ReleaseRefused(
        f"refused (scan rule S7){where}: under this cohort's disclosure policy haplotype "
        f"windows are the fixed grid of {size} SNVs from the contig's first SNV (overlapping "
        f"or nested windows of one group would difference to counts under k); {asked} is not "
        f"on it. Use --window {size} --step {size} (window unit variants); --region selects "
        "the whole grid windows it overlaps."
    )


def check_scan_consent(cohort, stat: str, by) -> None:
    """Refuse (:class:`~genshare_widgets.disclosure.AnalysisRefused`) a scan the entry's
    consent does not permit: PBS and XP-EHH as an ancestry comparison (like Fst), every scan
    under the entry's ordinary terms.

    Examples
    --------
    >>> check_scan_consent(open_cohort("sim-ooa-npoa"), "pbs", "population")  # doctest: +SKIP
    Traceback (most recent call last):
    AnalysisRefused: cohort 'sim-ooa-npoa' refuses per-population frequencies, Fst ...
    """
    from genshare_widgets.disclosure._gate import check_grouping, check_use

    if cohort.entry is None:
        return
    if stat in ANCESTRY_SCANS:
        check_grouping(cohort, by, analysis=f"a {stat} scan (an ancestry comparison)")
    else:
        check_use(cohort, f"a {stat} scan")


def check_scan_policy(
    policy, group_sizes: dict[str, int], *, stat: str, cohort_id: str = ""
) -> None:
    """Rules S1 and DP: refuse a scan under ``epsilon`` and any group under k samples."""
    if policy is None or not policy.active:
        return
    where = f" of {cohort_id!r}" if cohort_id else ""
    if policy.epsilon is not None:
        raise ReleaseRefused(
            f"refused: a {stat} scan{where} has no differentially private release "
            f"('{policy.describe()}'); run it under a minimum-count policy (--min-count) "
            "without --epsilon"
        )
    k = int(policy.min_count or 1)
    small = {g: n for g, n in group_sizes.items() if n < k}
    if small:
        names = ", ".join(f"{g!r} ({policy.marker} samples)" for g in small)
        raise ReleaseRefused(
            f"refused (scan rule S1): group(s) {names}{where} have fewer than k = {k} "
            f"samples; a {stat} scan of so few people traces their haplotypes. Use groups of "
            f"at least {k} samples."
        )


def released_spectrum(counts: np.ndarray, policy) -> tuple[list[int], int]:
    """Rule S4: ``(shown class counts, largest first; pooled "other" count)`` of a window's
    haplotype class counts under ``policy`` (everything shown when no policy is active).

    Examples
    --------
    >>> from genshare_widgets.disclosure import DisclosurePolicy
    >>> released_spectrum(np.array([30, 25, 21, 3, 1]), DisclosurePolicy(min_count=20))
    ([30, 25], 25)
    """
    ordered = sorted((int(c) for c in counts), reverse=True)
    if policy is None or not policy.suppresses:
        return ordered, 0
    k = int(policy.min_count)
    shown = [c for c in ordered if c >= k]
    other = sum(ordered) - sum(shown)
    while 0 < other < k and shown:
        other += shown.pop()
    return shown, other


def released_h12(counts: np.ndarray, policy) -> float:
    """Rule S3: H12 of a window's haplotype class ``counts`` as released under ``policy``:
    from :func:`released_spectrum` (the two largest shown classes together, the other shown
    classes squared, each pooled haplotype as a class of its own); exact without a policy.

    Examples
    --------
    >>> from genshare_widgets.disclosure import DisclosurePolicy
    >>> round(released_h12(np.array([50, 29, 1]), DisclosurePolicy(min_count=20)), 4)
    0.3953
    """
    shown, other = released_spectrum(counts, policy)
    total = sum(shown) + other
    if total == 0:
        return float("nan")
    squares = sum(shown[:2]) ** 2 + sum(c * c for c in shown[2:])
    return float((squares + other) / total**2)


def withheld_rare_variants(minor_allele_count: np.ndarray, policy) -> np.ndarray:
    """Rule S5: True where a per-variant score is withheld (minor allele count < k)."""
    mac = np.asarray(minor_allele_count)
    if policy is None or not policy.suppresses:
        return np.zeros(len(mac), dtype=bool)
    return mac < int(policy.min_count)


def pbs_usable_variants(acs: list[np.ndarray], ans: list[np.ndarray], policy) -> np.ndarray:
    """Rule S6: True where every REF and ALT count of the trio is 0 or at least k."""
    n = len(acs[0])
    if policy is None or not policy.suppresses:
        return np.ones(n, dtype=bool)
    k = int(policy.min_count)
    ok = np.ones(n, dtype=bool)
    for ac, an in zip(acs, ans, strict=True):
        ac = np.asarray(ac, dtype=np.int64)
        ref = np.asarray(an, dtype=np.int64) - ac
        for cell in (ac, ref):
            ok &= (cell == 0) | (cell >= k)
    return ok
