"""Site frequency spectra: per group and joint for a pair (ALT = derived allele)."""

import numpy as np
import pandas as pd

from genshare_widgets.stats._fst import _group_index


def _allele_counts(counts, j: int, folded: bool) -> tuple[np.ndarray, int]:
    ac = counts["allele_count"].values[:, j].astype(np.int64)
    an = counts["allele_number"].values[:, j].astype(np.int64)
    if folded:
        ac = np.minimum(ac, an - ac)
    size = int(an.max() // 2 if folded else an.max()) if len(an) else 0
    return ac, size


def sfs(counts, *, folded: bool = False) -> pd.DataFrame:
    """Histogram of ALT (or, folded, minor) allele counts per group over all analysed variants.

    Columns ``group, alt_count, n_variants`` with every count from 0 to the group's largest
    allele number (half of it when folded); ``n_variants`` sums to the number of variants.
    No projection: with missing data a variant counts at the ALT count it was observed with.

    Examples
    --------
    >>> sfs(counts).groupby("group")["n_variants"].sum()  # doctest: +SKIP
    """
    frames = []
    for j, group in enumerate(counts["groups"].values):
        ac, size = _allele_counts(counts, j, folded)
        hist = np.bincount(ac, minlength=size + 1)
        frames.append(
            pd.DataFrame(
                {"group": str(group), "alt_count": np.arange(len(hist)), "n_variants": hist}
            )
        )
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["group", "alt_count", "n_variants"])
    )


def joint_sfs(counts, pop1: str, pop2: str, *, folded: bool = False) -> np.ndarray:
    """Joint SFS: ``out[a, b]`` = variants with ALT count a in ``pop1`` and b in ``pop2``.

    Folded on request by the minor allele of the two groups pooled (the usual 2-D folding).
    """
    i, j = _group_index(counts, pop1), _group_index(counts, pop2)
    ac1 = counts["allele_count"].values[:, i].astype(np.int64)
    ac2 = counts["allele_count"].values[:, j].astype(np.int64)
    an1 = counts["allele_number"].values[:, i].astype(np.int64)
    an2 = counts["allele_number"].values[:, j].astype(np.int64)
    if folded:
        flip = (ac1 + ac2) * 2 > (an1 + an2)
        ac1 = np.where(flip, an1 - ac1, ac1)
        ac2 = np.where(flip, an2 - ac2, ac2)
    shape = (int(an1.max(initial=0)) + 1, int(an2.max(initial=0)) + 1)
    out = np.zeros(shape, dtype=np.int64)
    np.add.at(out, (ac1, ac2), 1)
    return out
