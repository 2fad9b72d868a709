"""The release door for association results (``genshare assoc``, ``gs.association``).

Under an active policy (k = the minimum count; registered and controlled tiers by default) an
association table is published only if no count of people in 1..k−1 can be derived from it:

- the analysed samples, and for a binary trait the cases and the controls, number at least k
  each (else the whole analysis is refused);
- per variant, in each analysed group (all samples; or cases and controls), the ALT and REF
  allele counts, the carriers of each allele and the samples with a missing call are each 0
  or at least k. A logistic fit without covariates gives the 2 × 2 allele table back from β,
  SE and n; a β from one or two carriers is essentially their phenotypes; n and the P value's
  degrees of freedom give the missing calls. A variant breaking the rule is *withheld*: every
  number of its row is NA and its note says so (the row shows only that some count is in
  1..k−1, a range as wide as a ``<k`` cell);
- the MAF filter chooses variants from minor allele counts rounded down to a multiple of k, so
  which variants pass tells nothing finer than a ``<k`` cell does;
- differential privacy is not offered for association results: a policy with ε is refused
  with that explanation (the counts statistics offer it).

The per-sample inputs (phenotype, covariates, principal components) never leave.
"""

from typing import Any

import numpy as np

from genshare_widgets.disclosure._publishing import ReleaseRefused

WITHHELD_NOTE = "withheld: a count of people in 1..k-1 could be derived (disclosure policy)"


def check_association_policy(policy, group_sizes: dict[str, int], *, cohort_id: str = "") -> None:
    """Refuse (:class:`ReleaseRefused`) an association release the policy cannot allow at all:
    differential privacy, or an analysed group (all, cases, controls) smaller than k."""
    if not policy.active:
        return
    if policy.epsilon is not None:
        raise ReleaseRefused(
            f"association results of {cohort_id or 'this cohort'} are not released under "
            f"differential privacy (epsilon={policy.epsilon}): GenShare has no noisy "
            "regression. Use the counts statistics with --epsilon, or ask the custodian for a "
            "policy without it."
        )
    k = policy.min_count or 1
    small = {g: n for g, n in group_sizes.items() if n < k}
    if small:
        raise ReleaseRefused(
            f"association of {cohort_id or 'this cohort'} refused: "
            + ", ".join(f"{g} has {n}" for g, n in small.items())
            + f" samples with the phenotype, fewer than the policy's minimum of {k} "
            f"({policy.origin})."
        )


def withheld_variants(raw: np.ndarray, policy) -> np.ndarray:
    """Bool (variants,): rows of per-group counts ``raw`` (variants, groups, FIELDS of
    :mod:`engines._group_counts`) with a derivable count of people in 1..k−1."""
    from genshare_widgets.engines._group_counts import FIELDS

    n_var = raw.shape[0]
    if not policy.active or (policy.min_count or 1) <= 1:
        return np.zeros(n_var, dtype=bool)
    k = policy.min_count
    f = {name: raw[:, :, i].astype(np.int64) for i, name in enumerate(FIELDS)}
    hom_ref = f["called_count"] - f["het_count"] - f["hom_alt_count"]
    cells = [
        f["allele_count"],  # ALT alleles
        f["allele_number"] - f["allele_count"],  # REF alleles
        f["het_count"] + f["hom_alt_count"],  # ALT carriers
        f["het_count"] + hom_ref,  # REF carriers
    ]
    bad = np.zeros(n_var, dtype=bool)
    for cell in cells:
        bad |= ((cell >= 1) & (cell < k)).any(axis=1)
    return bad


def missing_calls_withheld(n: np.ndarray, n_analysed: int, policy) -> np.ndarray:
    """Bool (variants,): variants whose number of analysed samples without a call,
    ``n_analysed − n``, is in 1..k−1 (``n`` and the P value's degrees of freedom show it)."""
    if not policy.active or (policy.min_count or 1) <= 1:
        return np.zeros(len(n), dtype=bool)
    missing = n_analysed - np.asarray(n, dtype=np.int64)
    return (missing >= 1) & (missing < policy.min_count)


def coarse_maf_passing(raw: np.ndarray, min_maf: float | None, policy) -> np.ndarray:
    """The MAF filter under a policy: minor allele counts rounded down to a multiple of k
    against ``min_maf`` × the allele number over all groups (exact counts without a policy)."""
    from genshare_widgets.engines._group_counts import FIELDS

    if min_maf is None:
        return np.ones(raw.shape[0], dtype=bool)
    ac = raw[:, :, FIELDS.index("allele_count")].astype(np.int64).sum(axis=1)
    an = raw[:, :, FIELDS.index("allele_number")].astype(np.int64).sum(axis=1)
    mac = np.minimum(ac, an - ac)
    k = policy.min_count if policy.active and (policy.min_count or 1) > 1 else 1
    mac = (mac // k) * k
    return (an > 0) & (mac >= min_maf * an)


def release_association(result: dict[str, Any], withheld: np.ndarray) -> tuple[dict[str, Any], int]:
    """The per-variant result arrays (``beta, se, stat, p, n, note``) with ``withheld`` rows
    blanked: NaN numbers, n 0 (the caller writes it NA from ``withheld``), the note
    :data:`WITHHELD_NOTE`; → (released arrays, number withheld). The hidden values are not
    in the released arrays at all."""
    out = {key: np.array(value, copy=True) for key, value in result.items()}
    if withheld.any():
        for key in ("beta", "se", "stat", "p"):
            out[key] = out[key].astype(np.float64)
            out[key][withheld] = np.nan
        out["n"] = np.asarray(out["n"], dtype=np.int64)
        out["n"][withheld] = 0
        out["note"] = out["note"].astype(object)
        out["note"][withheld] = WITHHELD_NOTE
    return out, int(withheld.sum())
