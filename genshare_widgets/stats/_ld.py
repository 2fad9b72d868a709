"""Linkage disequilibrium: the r² GenShare computes, and LD decay by distance.

Definition (the one ``plink2 --indep-pairwise`` and ``plink2 --r2-unphased`` use): for two
biallelic variants, take the unphased ALT dosages ``x`` and ``y`` (0, 1, 2 copies of the ALT
allele) of the samples whose genotypes are called at BOTH variants (pairwise-complete: a
sample missing at either variant is left out of this pair only), and

    r² = cov(x, y)² / (var(x) · var(y))

with ``n`` the samples called at both, ``cov = n Σxy − Σx Σy``, ``var(x) = n Σx² − (Σx)²``
(the factors ``n`` cancel). This is the squared Pearson correlation of genotype dosages
(not the haplotype r² of phased data); it does not depend on which allele is called ALT.
It is undefined (NaN here) when either dosage has no variance over the samples called at
both. Pruning uses the same moments and PLINK 2's exact comparison
``cov² > r2 · (1 + 2⁻⁴⁴) · var(x) · var(y)`` evaluated in float64 from exact integers (so
pairs exactly at the threshold are kept, and a pair with no variance is never "in LD").

Haploid calls (chrX of males written ``0``/``1``) count 0 or 1 copies; PLINK 2 instead
weights chrX by sex (``--ld-xchr``), so the two agree on autosomes only.
"""

import numpy as np

#: Moments of a pair: n, Σx, Σy, Σx², Σy², Σxy (columns of :func:`pair_moments_naive`).
MOMENTS = ("n", "sum1", "sum2", "ssq1", "ssq2", "dot")


def r2_from_moments(moments: np.ndarray) -> np.ndarray:
    """r² (float64) from integer pair moments (pairs, 6) in :data:`MOMENTS` order; NaN where
    either variant has no variance over the samples called at both.

    Examples
    --------
    >>> x, y = np.array([0, 1, 2, 2.0]), np.array([0, 1, 2, 1.0])
    >>> m = pair_moments_naive(x[None, :], y[None, :])
    >>> bool(np.isclose(r2_from_moments(m)[0], np.corrcoef(x, y)[0, 1] ** 2, rtol=1e-12))
    True
    """
    m = np.asarray(moments, dtype=np.int64).reshape(-1, 6)
    n, s1, s2, q1, q2, d = (m[:, i] for i in range(6))
    cov = (d * n - s1 * s2).astype(np.float64)
    var1 = (q1 * n - s1 * s1).astype(np.float64)
    var2 = (q2 * n - s2 * s2).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = cov * cov / (var1 * var2)
    r2[(var1 <= 0) | (var2 <= 0)] = np.nan
    return np.minimum(r2, 1.0)


def pair_moments_naive(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The obviously-correct reference: int64 (pairs, 6) moments of dosage rows ``x[k]`` and
    ``y[k]`` (float, NaN = missing call) over the samples called at both.

    Examples
    --------
    >>> pair_moments_naive(np.array([[0, 1, np.nan]]), np.array([[1, 1, 2.0]])).tolist()
    [[2, 1, 2, 1, 2, 1]]
    """
    x, y = np.atleast_2d(x), np.atleast_2d(y)
    out = np.zeros((len(x), 6), dtype=np.int64)
    for k in range(len(x)):
        both = ~np.isnan(x[k]) & ~np.isnan(y[k])
        a, b = x[k][both].astype(np.int64), y[k][both].astype(np.int64)
        out[k] = [both.sum(), a.sum(), b.sum(), (a * a).sum(), (b * b).sum(), (a * b).sum()]
    return out


def ld_decay_table(
    distance: np.ndarray, r2: np.ndarray, *, bin_edges: np.ndarray, min_pairs: int = 1
) -> "tuple[np.ndarray, np.ndarray]":
    """Mean r² of variant pairs by distance bin → ``(mean_r2, n_pairs)`` per bin.

    ``distance`` (bp) and ``r2`` per pair (NaN pairs are left out); bin ``i`` holds pairs
    with ``bin_edges[i] <= distance < bin_edges[i + 1]``. Bins with fewer than ``min_pairs``
    pairs get NaN (a mean over a handful of pairs is noise — and, under a disclosure
    policy, too close to a single pair's value). Accumulated in float64 in pair order.

    Examples
    --------
    >>> mean, n = ld_decay_table(np.array([10, 20, 150]), np.array([0.5, 0.3, 0.1]),
    ...                          bin_edges=np.array([0, 100, 200]))
    >>> mean.round(3).tolist(), n.tolist()
    ([0.4, 0.1], [2, 1])
    """
    distance = np.asarray(distance, dtype=np.float64)
    r2 = np.asarray(r2, dtype=np.float64)
    edges = np.asarray(bin_edges, dtype=np.float64)
    ok = ~np.isnan(r2) & (distance >= edges[0]) & (distance < edges[-1])
    which = np.searchsorted(edges, distance[ok], side="right") - 1
    n_pairs = np.bincount(which, minlength=len(edges) - 1)
    total = np.bincount(which, weights=r2[ok], minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n_pairs
    mean[n_pairs < max(min_pairs, 1)] = np.nan
    return mean, n_pairs


def minor_allele_count(allele_count: np.ndarray, allele_number: np.ndarray) -> np.ndarray:
    """Minor allele count per variant: ``min(AC, AN − AC)``.

    Examples
    --------
    >>> minor_allele_count(np.array([1, 30]), np.array([100, 40])).tolist()
    [1, 10]
    """
    ac = np.asarray(allele_count, dtype=np.int64)
    return np.minimum(ac, np.asarray(allele_number, dtype=np.int64) - ac)


def minor_co_copies(moments: np.ndarray) -> np.ndarray:
    """Per pair: Σ over the samples called at both of (minor-allele copies at variant 1) ×
    (minor-allele copies at variant 2), each variant's minor allele taken among those
    samples — how many copies the rare alleles share (0 when no one carries both).

    With r² and each variant's released allele counts an attacker recovers this number (the
    covariance fixes Σxy), so under a disclosure policy an r² whose pair shares 1..k−1
    co-copies is not released: ``1`` between two singletons is one person carrying both.

    Examples
    --------
    >>> x = np.array([[0, 0, 1, 0.0]]); y = np.array([[0, 0, 1, 2.0]])
    >>> minor_co_copies(pair_moments_naive(x, y)).tolist()
    [1]
    """
    m = np.asarray(moments, dtype=np.int64).reshape(-1, 6)
    n, s1, s2, d = m[:, 0], m[:, 1], m[:, 2], m[:, 5]
    flip1, flip2 = s1 > n, s2 > n  # ALT is the major allele among the jointly called
    # Σ(2 − x)y = 2Σy − Σxy; Σ(2 − x)(2 − y) = 4n − 2Σx − 2Σy + Σxy
    out = d.copy()
    out = np.where(flip1 & ~flip2, 2 * s2 - d, out)
    out = np.where(~flip1 & flip2, 2 * s1 - d, out)
    return np.where(flip1 & flip2, 4 * n - 2 * s1 - 2 * s2 + d, out)


def co_copy_sums(moments: np.ndarray) -> np.ndarray:
    """Per pair: the four co-copy sums over the samples called at both — Σxy, Σx(2 − y),
    Σ(2 − x)y and Σ(2 − x)(2 − y) (x, y ALT dosages) → int64 (pairs, 4).

    r² and the released allele counts give Σxy, hence all four: any of them in 1..k−1 is a
    small count of shared copies (minor with minor, minor with major...), so under a
    disclosure policy such a pair's r² is withheld.

    Examples
    --------
    >>> x = np.array([[0, 2, 2, 1.0]]); y = np.array([[0, 2, 2, 2.0]])
    >>> co_copy_sums(pair_moments_naive(x, y)).tolist()
    [[10, 0, 2, 2]]
    """
    m = np.asarray(moments, dtype=np.int64).reshape(-1, 6)
    n, s1, s2, d = m[:, 0], m[:, 1], m[:, 2], m[:, 5]
    return np.stack([d, 2 * s1 - d, 2 * s2 - d, 4 * n - 2 * s1 - 2 * s2 + d], axis=1)


def small_genotype_row(
    n_samples: np.ndarray, called: np.ndarray, het: np.ndarray, hom_alt: np.ndarray, k: int
) -> np.ndarray:
    """bool per variant: a genotype count (hom-REF, het, hom-ALT, or not called) in 1..k−1.

    An exact r² of dosages fixes each variant's Σx² = Σx + 2·(hom-ALT), so with the
    released allele count it pins the hom-ALT count (and so hom-REF and het): under a
    disclosure policy only variants without a small genotype count enter an LD release.

    Examples
    --------
    >>> small_genotype_row(np.array([40, 40]), np.array([40, 40]), np.array([20, 25]),
    ...                    np.array([0, 3]), 20).tolist()
    [False, True]
    """
    called = np.asarray(called, dtype=np.int64)
    het, hom = np.asarray(het, dtype=np.int64), np.asarray(hom_alt, dtype=np.int64)
    cells = (called - het - hom, het, hom, np.asarray(n_samples, dtype=np.int64) - called)
    small = np.zeros(called.shape, dtype=bool)
    for cell in cells:
        small |= (cell > 0) & (cell < k)
    return small
