"""Extended haplotype homozygosity scans: iHS (Voight et al. 2006, PLoS Biol. 4:e72) and
XP-EHH (Sabeti et al. 2007, Nature 449:913), on phased haplotypes (engine-free maths).

For a focal variant, EHH at distance i (variants) is the fraction of haplotype pairs that
are identical over the focal variant and the i variants beside it (a missing call does not
break identity). The integrated haplotype homozygosity (IHH) is the trapezoid-rule integral
of EHH from the focal variant outwards over the gaps between variants, stopped where EHH
first falls to ``min_ehh`` or below; a focal variant whose EHH never falls that far before
the end of the data has no IHH (unless ``include_edges``), nor one whose integration meets
a gap longer than ``max_gap`` bp. Gaps are in the genetic map's units (cM) when a map is
given, else in bp; a physical gap longer than ``gap_scale`` bp is scaled down to
``gap_scale`` (its genetic length times ``gap_scale / physical gap``). The scan runs both
ways and the two IHHs are added.

- iHS (unstandardised) = ``log(IHH_ALT / IHH_REF)``, where IHH_ALT integrates over the pairs
  of haplotypes both carrying ALT at the focal variant (REF likewise); variants with minor
  allele frequency below ``min_maf`` have none.
- XP-EHH (unstandardised) = ``log(IHH_A / IHH_B)`` over all pairs of each population's
  haplotypes.

Both are standardised by allele-count bin
(:func:`genshare_widgets.stats._selection_scans.standardize_by_allele_count`). The kernels
follow scikit-allel 1.3.13 (``allel.ihs``, ``allel.xpehh``) step for step and equal them in
tests; they are compiled with numba on first use.
"""

import functools

import numpy as np

#: scikit-allel's defaults.
MIN_EHH = 0.05
MIN_MAF = 0.05
GAP_SCALE = 20_000
MAX_GAP = 200_000


def ihh_gaps(
    positions: np.ndarray,
    map_positions: np.ndarray | None = None,
    *,
    gap_scale: float | None = GAP_SCALE,
    max_gap: float | None = MAX_GAP,
) -> np.ndarray:
    """Integration gaps between consecutive variants (float64, length n - 1): genetic
    (``map_positions``, e.g. cM) or physical, scaled down where the physical gap exceeds
    ``gap_scale`` and -1 where it exceeds ``max_gap`` (integration stops there).

    Examples
    --------
    >>> ihh_gaps(np.array([100, 200, 500_000])).tolist()
    [100.0, -1.0]
    """
    positions = np.asarray(positions)
    physical = np.diff(positions)
    maps = positions if map_positions is None else np.asarray(map_positions)
    gaps = np.diff(maps).astype(np.float64)
    if gap_scale is not None and gap_scale > 0:
        scaling = np.ones(gaps.shape, dtype=np.float64)
        wide = physical > gap_scale
        scaling[wide] = gap_scale / physical[wide]
        gaps = gaps * scaling
    if max_gap is not None and max_gap > 0:
        gaps[physical > max_gap] = -1
    return gaps


@functools.cache
def _kernels():
    import numba

    @numba.njit(nogil=True, cache=True)
    def ssl2ihh(ssl, n, l_max, variant, gaps, min_ehh, include_edges):
        if n == 0:
            return np.nan
        breaks = np.zeros(l_max + 2, dtype=np.int64)
        for j in range(n):
            breaks[ssl[j]] += 1
        ident = n - breaks[0]
        ehh_prev = ident / n
        if ehh_prev <= min_ehh:
            return 0.0
        ihh = 0.0
        for i in range(1, variant + 1):
            if i <= l_max:
                ident -= breaks[i]
            ehh = ident / n
            gap = gaps[variant - i]
            if gap < 0:
                return np.nan
            ihh += gap * (ehh + ehh_prev) / 2
            if ehh <= min_ehh:
                return ihh
            ehh_prev = ehh
        if include_edges:
            return ihh
        return np.nan

    @numba.njit(nogil=True, cache=True)
    def ihh01_scan(h, gaps, min_ehh, min_maf, include_edges):
        n_var, n_hap = h.shape
        n_pairs = n_hap * (n_hap - 1) // 2
        ssl = np.zeros(n_pairs, dtype=np.int32)
        ssl00 = np.zeros(n_pairs, dtype=np.int32)
        ssl11 = np.zeros(n_pairs, dtype=np.int32)
        out0 = np.empty(n_var, dtype=np.float64)
        out1 = np.empty(n_var, dtype=np.float64)
        for i in range(n_var):
            u = 0
            u00 = 0
            u11 = 0
            c0 = 0
            c1 = 0
            max00 = 0
            max11 = 0
            for j in range(n_hap):
                a1 = h[i, j]
                if a1 == 0:
                    c0 += 1
                elif a1 == 1:
                    c1 += 1
                for k in range(j + 1, n_hap):
                    a2 = h[i, k]
                    if a1 < 0 or a2 < 0:
                        ssl[u] += 1
                    elif a1 == a2 and a1 == 0:
                        length = ssl[u] + 1
                        ssl[u] = length
                        ssl00[u00] = length
                        u00 += 1
                        max00 = max(max00, length)
                    elif a1 == a2 and a1 == 1:
                        length = ssl[u] + 1
                        ssl[u] = length
                        ssl11[u11] = length
                        u11 += 1
                        max11 = max(max11, length)
                    else:
                        ssl[u] = 0
                    u += 1
            total = c0 + c1
            maf = (min(c0, c1) / total) if total else np.nan
            if not maf >= min_maf:
                out0[i] = np.nan
                out1[i] = np.nan
            else:
                out0[i] = ssl2ihh(ssl00, u00, max00, i, gaps, min_ehh, include_edges)
                out1[i] = ssl2ihh(ssl11, u11, max11, i, gaps, min_ehh, include_edges)
        return out0, out1

    @numba.njit(nogil=True, cache=True)
    def ihh_scan(h, gaps, min_ehh, include_edges):
        n_var, n_hap = h.shape
        n_pairs = n_hap * (n_hap - 1) // 2
        ssl = np.zeros(n_pairs, dtype=np.int32)
        out = np.empty(n_var, dtype=np.float64)
        for i in range(n_var):
            u = 0
            l_max = 0
            for j in range(n_hap):
                a1 = h[i, j]
                for k in range(j + 1, n_hap):
                    a2 = h[i, k]
                    # unequal and both called: the shared suffix breaks
                    length = 0 if a1 != a2 and a1 >= 0 and a2 >= 0 else ssl[u] + 1
                    ssl[u] = length
                    u += 1
                    l_max = max(l_max, length)
            out[i] = ssl2ihh(ssl, n_pairs, l_max, i, gaps, min_ehh, include_edges)
        return out

    return ihh01_scan, ihh_scan


def _both_ways(scan, h: np.ndarray, gaps: np.ndarray, *args) -> list[np.ndarray]:
    """``scan`` forwards and backwards (two threads: the kernels release the GIL), the
    backward results put back in variant order and added to the forward ones."""
    from concurrent.futures import ThreadPoolExecutor

    h = np.ascontiguousarray(h, dtype=np.int8)
    back_h = np.ascontiguousarray(h[::-1])
    back_gaps = np.ascontiguousarray(gaps[::-1])
    with ThreadPoolExecutor(max_workers=2) as pool:
        fwd = pool.submit(scan, h, gaps, *args)
        rev = pool.submit(scan, back_h, back_gaps, *args)
        f, r = fwd.result(), rev.result()
    if isinstance(f, tuple):
        return [a + b[::-1] for a, b in zip(f, r, strict=True)]
    return [f + r[::-1]]


def ihs(
    h: np.ndarray,
    positions: np.ndarray,
    *,
    map_positions: np.ndarray | None = None,
    min_ehh: float = MIN_EHH,
    min_maf: float = MIN_MAF,
    include_edges: bool = False,
    gap_scale: float | None = GAP_SCALE,
    max_gap: float | None = MAX_GAP,
) -> np.ndarray:
    """Unstandardised iHS per variant, ``log(IHH_ALT / IHH_REF)`` (NaN where undefined),
    of phased haplotypes ``h`` (int8 (variants, haplotypes), 0 = REF, 1 = ALT, -1 missing).

    Examples
    --------
    >>> h = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 1, 0, 1]], dtype=np.int8)
    >>> ihs(h, np.array([1, 2, 3]), include_edges=True, min_maf=0).round(3).tolist()
    [0.0, 0.0, nan]
    """
    ihh01_scan, _ = _kernels()
    gaps = ihh_gaps(positions, map_positions, gap_scale=gap_scale, max_gap=max_gap)
    ihh0, ihh1 = _both_ways(
        ihh01_scan, h, gaps, float(min_ehh), float(min_maf), bool(include_edges)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(ihh1 / ihh0)


def xpehh(
    h1: np.ndarray,
    h2: np.ndarray,
    positions: np.ndarray,
    *,
    map_positions: np.ndarray | None = None,
    min_ehh: float = MIN_EHH,
    include_edges: bool = False,
    gap_scale: float | None = GAP_SCALE,
    max_gap: float | None = MAX_GAP,
) -> np.ndarray:
    """Unstandardised XP-EHH per variant, ``log(IHH_1 / IHH_2)`` (NaN where undefined), of
    two populations' phased haplotypes ``h1``, ``h2`` (int8 (variants, haplotypes)).

    Examples
    --------
    >>> h1 = np.array([[0, 0, 0], [1, 1, 1], [0, 0, 1]], dtype=np.int8)
    >>> h2 = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=np.int8)
    >>> xpehh(h1, h2, np.array([1, 2, 3]), include_edges=True).round(3).tolist()
    [0.693, 0.693, 0.0]
    """
    _, ihh_scan = _kernels()
    gaps = ihh_gaps(positions, map_positions, gap_scale=gap_scale, max_gap=max_gap)
    args = (float(min_ehh), bool(include_edges))
    (a,) = _both_ways(ihh_scan, h1, gaps, *args)
    (b,) = _both_ways(ihh_scan, h2, gaps, *args)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(a / b)
