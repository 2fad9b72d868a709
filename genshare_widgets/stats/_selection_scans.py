"""Selection scans over windows: PBS, Garud's H statistics, and allele-frequency-bin
standardisation (engine-free maths on counts and haplotype arrays).

Windows
    *By variant count* (:func:`variant_windows`): windows of ``size`` consecutive variants
    starting every ``step`` variants (default ``step = size``); only whole windows, so the
    last ``< size`` variants of a contig start no window (scikit-allel's
    ``moving_statistic``). *By base pairs* (:func:`bp_windows`): ``[start, start + size)``
    starting at 1 and advancing by ``step`` (as
    :func:`~genshare_widgets.stats._fst.hudson_fst_windows`).

PBS (population branching statistic; Yi et al. 2010, Science 329:75)
    For a trio (A, B, C) and a window, with the window's Hudson Fst of each pair
    (Bhatia et al. 2013 eq. 10, ratio of the window's sums of numerators and denominators
    over its variants with a defined estimator, clipped to ``[0, 0.99999]``)::

        T_XY = -log(1 - Fst_XY)
        PBS_A = (T_AB + T_AC - T_BC) / 2

    ``normed=True`` (the default, PBSn1 of Malaspinas et al. 2016, Nature 538:207, and
    scikit-allel's default) divides by ``1 + (T_AB + T_AC + T_BC) / 2``. Equal to
    ``allel.pbs`` on the same variant windows.

Garud's H (Garud et al. 2015, PLoS Genet. 11:e1005004)
    With the frequencies f1 ≥ f2 ≥ … of the distinct haplotypes of a window (a missing call
    is its own allele, as in scikit-allel)::

        H1 = Σ fi²,  H12 = (f1 + f2)² + Σ_{i>2} fi²,  H123 = (f1 + f2 + f3)² + Σ_{i>3} fi²,
        H2/H1 = (H1 - f1²) / H1

    Equal to ``allel.garud_h`` / ``allel.moving_garud_h``.
"""

import functools
from collections.abc import Iterable, Iterator

import numpy as np

from genshare_widgets._errors import GenShareError
from genshare_widgets.stats._hudson import group_terms, pair_terms

#: Largest Fst kept before the log transform of PBS (scikit-allel's clip).
FST_CLIP = 0.99999


def variant_windows(n_variants: int, size: int, step: int | None = None) -> np.ndarray:
    """Index windows ``(start, stop)`` (int64, shape (n_windows, 2)) of ``size`` variants
    every ``step`` variants over ``n_variants``; only whole windows.

    Examples
    --------
    >>> variant_windows(7, 3).tolist()
    [[0, 3], [3, 6]]
    """
    _check_window(size, step)
    step = step or size
    starts = np.arange(0, max(n_variants - size + 1, 0), step, dtype=np.int64)
    return np.column_stack([starts, starts + size]).reshape(-1, 2)


def bp_windows(
    positions: np.ndarray, size: int, step: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Base-pair windows over sorted ``positions`` of one contig: ``(bounds, index)`` with
    ``bounds`` the 1-based inclusive ``(start, end)`` of each window ``[s, s + size)``
    (``s`` = 1, 1 + step, … up to the last position) and ``index`` the ``(lo, hi)`` variant
    index range each covers.

    Examples
    --------
    >>> bounds, index = bp_windows(np.array([5, 12, 25]), 10)
    >>> bounds.tolist(), index.tolist()
    ([[1, 10], [11, 20], [21, 30]], [[0, 1], [1, 2], [2, 3]])
    """
    _check_window(size, step)
    step = step or size
    positions = np.asarray(positions, dtype=np.int64)
    last = int(positions[-1]) if len(positions) else 0
    starts = np.arange(1, last + 1, step, dtype=np.int64)
    lo = np.searchsorted(positions, starts, side="left")
    hi = np.searchsorted(positions, starts + size, side="left")
    bounds = np.column_stack([starts, starts + size - 1]).reshape(-1, 2)
    return bounds, np.column_stack([lo, hi]).reshape(-1, 2).astype(np.int64)


def _check_window(size: int, step: int | None) -> None:
    if int(size) < 1 or (step is not None and int(step) < 1):
        raise GenShareError(f"--window ({size}) and --step ({step}) must be positive whole numbers")


def window_sums(values: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Sum of ``values`` (float64) over each index window ``(lo, hi)``, summed in variant
    order inside the window (a fixed order, the same float on every machine)."""
    values = np.asarray(values, dtype=np.float64)
    return np.array([values[lo:hi].sum() for lo, hi in np.asarray(windows)], dtype=np.float64)


def hudson_window_terms(
    ac1: np.ndarray, an1: np.ndarray, ac2: np.ndarray, an2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-variant Hudson numerator and denominator, 0 where the estimator is undefined
    (n < 2 in a group, or D = 0), ready to be summed over windows."""
    num, den, ok = pair_terms(group_terms(ac1, an1), group_terms(ac2, an2))
    return np.where(ok, num, 0.0), np.where(ok, den, 0.0)


def windowed_hudson_fst(num: np.ndarray, den: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Hudson Fst per window: ``Σ N / Σ D`` over the window (NaN where ``Σ D`` is 0)."""
    n, d = window_sums(num, windows), window_sums(den, windows)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d > 0, n / np.where(d > 0, d, 1.0), np.nan)


def pbs_from_fst(
    fst_ab: np.ndarray, fst_ac: np.ndarray, fst_bc: np.ndarray, *, normed: bool = True
) -> np.ndarray:
    """PBS of the first population of a trio from the three pairwise Fst values
    (see the module docstring).

    Examples
    --------
    >>> round(float(pbs_from_fst(np.array([0.3]), np.array([0.3]), np.array([0.05]))[0]), 6)
    0.189203
    """
    t = [
        -np.log(1 - np.clip(np.asarray(f, dtype=np.float64), 0, FST_CLIP))
        for f in (fst_ab, fst_ac, fst_bc)
    ]
    value = (t[0] + t[1] - t[2]) / 2
    if normed:
        value = value / (1 + (t[0] + t[1] + t[2]) / 2)
    return value


def pbs(
    counts: Iterable[tuple[np.ndarray, np.ndarray]],
    windows: np.ndarray,
    *,
    normed: bool = True,
) -> np.ndarray:
    """PBS per window for the trio whose ``(allele_count, allele_number)`` per variant are
    ``counts`` (first population = the focal one), over index ``windows``.

    Examples
    --------
    >>> ac = [np.array([10, 0, 3]), np.array([1, 0, 2]), np.array([0, 1, 2])]
    >>> an = np.array([20, 20, 20])
    >>> pbs([(a, an) for a in ac], variant_windows(3, 3)).round(4).tolist()
    [0.1911]
    """
    (ac1, an1), (ac2, an2), (ac3, an3) = list(counts)
    fst = [
        windowed_hudson_fst(*hudson_window_terms(a, b, c, d), windows)
        for a, b, c, d in ((ac1, an1, ac2, an2), (ac1, an1, ac3, an3), (ac2, an2, ac3, an3))
    ]
    return pbs_from_fst(*fst, normed=normed)


def haplotype_counts(h: np.ndarray) -> np.ndarray:
    """Counts of the distinct haplotypes (columns of ``h``, int8 (variants, haplotypes)),
    largest first. Two columns are the same haplotype when every allele is the same (a
    missing call, -1, is its own allele).

    Examples
    --------
    >>> haplotype_counts(np.array([[0, 0, 1, 0], [1, 1, 0, 0]], dtype=np.int8)).tolist()
    [2, 1, 1]
    """
    h = np.asarray(h, dtype=np.int8)
    n_var, n_hap = h.shape
    if n_hap == 0:
        return np.zeros(0, dtype=np.int64)
    if n_var == 0:
        return np.array([n_hap], dtype=np.int64)
    # each haplotype as bits (ALT; and missing), packed into uint64 words: equal haplotypes
    # have equal words, so a lexicographic sort puts each class in one run
    words = _pack_haplotypes()(np.ascontiguousarray(h))  # (haplotypes, words)
    order = np.lexsort(words.T[::-1])
    ordered = words[order]
    starts = np.flatnonzero(np.r_[True, (ordered[1:] != ordered[:-1]).any(axis=1)])
    counts = np.diff(np.r_[starts, n_hap])
    return np.sort(counts)[::-1].astype(np.int64)


@functools.cache
def _pack_haplotypes():
    import numba

    @numba.njit(nogil=True, cache=True)
    def pack(h):
        n_var, n_hap = h.shape
        n_words = (n_var + 63) // 64
        words = np.zeros((n_hap, 2 * n_words), dtype=np.uint64)
        for i in range(n_var):
            w = i // 64
            bit = np.uint64(1) << np.uint64(i % 64)
            for j in range(n_hap):
                a = h[i, j]
                if a == 1:
                    words[j, w] |= bit
                elif a < 0:
                    words[j, n_words + w] |= bit
        return words

    return pack


def garud_h_from_counts(counts: np.ndarray) -> tuple[float, float, float, float]:
    """``(H1, H12, H123, H2/H1)`` from distinct-haplotype counts sorted largest first."""
    counts = np.asarray(counts, dtype=np.float64)
    f = counts / counts.sum()
    h1 = float(np.sum(f**2))
    h12 = float(np.sum(f[:2]) ** 2 + np.sum(f[2:] ** 2))
    h123 = float(np.sum(f[:3]) ** 2 + np.sum(f[3:] ** 2))
    h2_h1 = float((h1 - f[0] ** 2) / h1)
    return h1, h12, h123, h2_h1


def garud_h(h: np.ndarray) -> tuple[float, float, float, float]:
    """Garud's ``(H1, H12, H123, H2/H1)`` of one window of haplotypes ``h`` (int8 (variants,
    haplotypes)).

    Examples
    --------
    >>> h = np.array([[0, 0, 0, 1], [1, 1, 1, 0]], dtype=np.int8)
    >>> [round(v, 4) for v in garud_h(h)]
    [0.625, 1.0, 1.0, 0.1]
    """
    return garud_h_from_counts(haplotype_counts(h))


#: Names of the Garud statistics, in the order :func:`garud_h` returns them.
GARUD_NAMES = ("h1", "h12", "h123", "h2_h1")


def moving_garud_h(
    blocks: Iterable[np.ndarray], size: int, step: int | None = None
) -> Iterator[tuple[int, tuple[float, float, float, float]]]:
    """``(first variant index, (H1, H12, H123, H2/H1))`` per window of ``size`` variants
    every ``step`` over haplotype ``blocks`` (int8 (variants, haplotypes) arrays, consecutive
    variants), keeping only the variants the current windows need: memory is one window plus
    one block, whatever the number of variants. Whole windows only (:func:`variant_windows`).
    """
    _check_window(size, step)
    step = step or size
    held: np.ndarray | None = None  # variants from index `first` on
    first = 0
    next_start = 0
    for block in blocks:
        held = block if held is None else np.concatenate([held, block])
        while next_start + size <= first + len(held):
            lo = next_start - first
            yield next_start, garud_h(held[lo : lo + size])
            next_start += step
        drop = min(next_start - first, len(held))
        if drop > 0:
            held = held[drop:]
            first += drop


def similar_sized_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin edges over ``values`` with about the same number of values per bin (at most
    ``n_bins`` bins; an edge is kept only if larger than the previous one; the last edge is
    the largest value): scikit-allel's ``make_similar_sized_bins``.

    Examples
    --------
    >>> similar_sized_bins(np.array([1, 1, 2, 3, 5, 8, 9, 9]), 4).tolist()
    [1, 2, 5, 9]
    """
    y = np.sort(np.asarray(values).ravel())
    edges = [y[0]]
    step = max(len(y) // int(n_bins), 1)
    for i in range(step, len(y), step):
        if y[i] > edges[-1]:
            edges.append(y[i])
    edges[-1] = y[-1]
    return np.asarray(edges)


def standardize_by_allele_count(
    score: np.ndarray,
    allele_count: np.ndarray,
    *,
    n_bins: int = 50,
    bins: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Standardise unstandardised iHS / XP-EHH scores within allele-count bins: each score
    minus its bin's mean, divided by its bin's standard deviation (population, ddof=0), over
    the defined scores. Bins (default: :func:`similar_sized_bins` of the allele counts of the
    defined scores, at most ``n_bins``) are ``[e_i, e_{i+1})``, the first open below and the
    last closed above. → ``(standardised scores, bin edges)``; equal to scikit-allel's
    ``standardize_by_allele_count``.

    Examples
    --------
    >>> score, count = np.array([1.0, 3.0, 2.0, 6.0]), np.array([1, 1, 5, 5])
    >>> z, edges = standardize_by_allele_count(score, count, n_bins=2)
    >>> z.tolist(), edges.tolist()
    ([-1.0, 1.0, -1.0, 1.0], [1, 5])
    """
    score = np.asarray(score, dtype=np.float64)
    aac = np.asarray(allele_count)
    defined = ~np.isnan(score)
    if not defined.any():
        return np.full_like(score, np.nan), np.zeros(0)
    edges = similar_sized_bins(aac[defined], n_bins) if bins is None else np.asarray(bins)
    out = np.empty_like(score)
    out[:] = np.nan
    last = len(edges) - 2
    for i in range(len(edges) - 1):
        x1, x2 = edges[i], edges[i + 1]
        if i == last:
            in_bin = aac >= x1 if i else np.ones(len(aac), dtype=bool)
            in_stats = (aac >= x1) & (aac <= x2) if i else aac <= x2
        elif i == 0:
            in_bin = in_stats = aac < x2
        else:
            in_bin = in_stats = (aac >= x1) & (aac < x2)
        values = score[in_stats & defined]
        mean = values.mean() if len(values) else np.nan
        std = values.std() if len(values) else np.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            out[in_bin] = (score[in_bin] - mean) / std
    return out, edges
