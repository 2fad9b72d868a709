"""numpy cores of the frequency and Hudson Fst estimators (no pandas, no xarray).

The Dataset-level functions of this package and the CLI's direct hot path both call these, so
there is one implementation of each formula.
"""

import numpy as np


def frequencies(ac: np.ndarray, an: np.ndarray) -> np.ndarray:
    """ALT allele frequency ``ac / an`` as float64; NaN where no allele was called."""
    ac = np.asarray(ac, dtype=np.float64)
    an = np.asarray(an, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(an > 0, ac / np.where(an > 0, an, 1.0), np.nan)


def group_terms(ac, an) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One group's share of the Hudson terms: ALT frequency p = ac / n, the sampling term
    h = p (1 - p) / (n - 1), and where n >= 2 (n set to 2 elsewhere, where nothing is used).
    Computed once per group and shared by every pair it is in."""
    ac = np.asarray(ac, dtype=np.float64)
    an = np.asarray(an, dtype=np.float64)
    ok = an >= 2
    n = np.where(ok, an, 2.0)
    p = ac / n
    return p, p * (1 - p) / (n - 1), ok


def pair_terms(first, second) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-variant numerator N, denominator D and the defined mask from two groups'
    :func:`group_terms` (N and D are not masked: read them where the mask is True)."""
    p1, h1, ok1 = first
    p2, h2, ok2 = second
    num = (p1 - p2) ** 2 - h1 - h2
    den = p1 * (1 - p2) + p2 * (1 - p1)
    ok = ok1 & ok2
    ok &= den > 0
    return num, den, ok


def hudson_terms(ac1, an1, ac2, an2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-variant numerator N, denominator D (NaN where undefined) and the defined mask.

    Bhatia et al. 2013 eq. 10 with sample allele frequencies p1, p2 from n1, n2 alleles::

        N = (p1 - p2)**2 - p1 (1 - p1) / (n1 - 1) - p2 (1 - p2) / (n2 - 1)
        D = p1 (1 - p2) + p2 (1 - p1)

    Defined where n1, n2 >= 2 and D > 0.
    """
    num, den, ok = pair_terms(group_terms(ac1, an1), group_terms(ac2, an2))
    return np.where(ok, num, np.nan), np.where(ok, den, np.nan), ok


#: Variants per block of :func:`hudson_ratio_of_averages` (its float64 temporaries are a few
#: MiB per block instead of ~15 arrays the length of the genome).
BLOCK = 65_536


def hudson_ratio_of_averages(ac1, an1, ac2, an2) -> tuple[float, int]:
    """Genome-wide Hudson Fst ``sum(N) / sum(D)`` over defined variants, and their number.

    The terms are computed :data:`BLOCK` variants at a time and the defined ones packed in
    order into two arrays, which are then summed whole: the same values in the same order
    as ``N[ok].sum()``, so the same float, with memory two float64 arrays, not fifteen."""
    n = len(ac1)
    nums = np.empty(n, dtype=np.float64)
    dens = np.empty(n, dtype=np.float64)
    k = 0
    for start in range(0, n, BLOCK):
        part = slice(start, start + BLOCK)
        num, den, ok = pair_terms(
            group_terms(ac1[part], an1[part]), group_terms(ac2[part], an2[part])
        )
        m = int(np.count_nonzero(ok))
        nums[k : k + m] = num[ok]
        dens[k : k + m] = den[ok]
        k += m
    total_den = dens[:k].sum()
    value = float(nums[:k].sum() / total_den) if k and total_den > 0 else float("nan")
    return value, k
