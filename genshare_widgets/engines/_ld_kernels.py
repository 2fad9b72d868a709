"""Compiled (numba) kernels of the LD pass: pair statistics on bit planes and the greedy
pruning of ``plink2 --indep-pairwise``; each equals a numpy reference in tests.

Genotypes of one variant are three uint64 bit planes over the analysed samples (bit ``s % 64``
of word ``s // 64``): ``het`` (one ALT copy), ``hom`` (two ALT copies) and ``called`` (a called
genotype). Samples left out have all three bits clear. For a pair of variants the kernels
count, over the samples called at both, ``n`` (samples), ``s1``, ``s2`` (ALT dosage sums),
``q1``, ``q2`` (sums of squared dosages) and ``d`` (Σ dosage1 · dosage2): all integers, so
the r² of :mod:`genshare_widgets.stats._ld` is computed from exact counts (as PLINK 2 does).
"""

import numba
import numpy as np

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
#: PLINK 2's ``kSmallEpsilon`` (2^-44): its r² threshold is ``r2 * (1 + eps)`` and its MAF
#: comparison ``maj1 > maj2 * (1 + eps)``.
SMALL_EPSILON = 2.0**-44


@numba.njit(nogil=True, cache=True, inline="always")
def _popcount(x):
    """Set bits of a uint64 (LLVM compiles this idiom to the ``popcnt`` instruction)."""
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return np.int64((x * _H01) >> np.uint64(56))


@numba.njit(nogil=True, cache=True)
def split_bitplanes(raw, rows, kept, het, hom, called, out_rows):
    """Store bit planes (uint64 (chunk rows, 2, words): 01 het, 10 hom-ALT, 11 missing) of
    the chunk rows ``rows`` into the analysed samples' planes at ``out_rows``."""
    for k in range(len(rows)):
        r = rows[k]
        o = out_rows[k]
        for w in range(raw.shape[2]):
            lo = raw[r, 0, w]
            hi = raw[r, 1, w]
            het[o, w] = lo & ~hi & kept[w]
            hom[o, w] = hi & ~lo & kept[w]
            called[o, w] = ~(lo & hi) & kept[w]


@numba.njit(nogil=True, cache=True)
def row_sums(het, hom, called, n, s, q):
    """Per row: ``n`` called samples, ``s`` Σ dosage, ``q`` Σ dosage² (in place)."""
    rows, words = het.shape
    for r in range(rows):
        c = 0
        h = 0
        hh = 0
        for w in range(words):
            c += _popcount(called[r, w])
            h += _popcount(het[r, w])
            hh += _popcount(hom[r, w])
        n[r] = c
        s[r] = h + 2 * hh
        q[r] = h + 4 * hh


@numba.njit(nogil=True, cache=True, inline="always")
def _dot(het, hom, i, j):
    """Σ dosage_i · dosage_j (missing calls have dosage 0 in the planes). Every word, in a
    loop LLVM vectorises: faster here than visiting only the non-zero words of rare rows."""
    one = 0
    two = 0
    four = 0
    for w in range(het.shape[1]):
        hi, hj, mi, mj = het[i, w], het[j, w], hom[i, w], hom[j, w]
        one += _popcount(hi & hj)
        two += _popcount((hi & mj) | (mi & hj))  # disjoint: a call is het or hom, not both
        four += _popcount(mi & mj)
    return one + 2 * two + 4 * four


@numba.njit(nogil=True, cache=True, inline="always")
def _sums_where(het, hom, i, called, j):
    """(n, Σ dosage_i, Σ dosage_i²) over the samples called at both ``i`` and ``j``."""
    n = 0
    h = 0
    hh = 0
    for w in range(het.shape[1]):
        both = called[i, w] & called[j, w]
        n += _popcount(both)
        h += _popcount(het[i, w] & both)
        hh += _popcount(hom[i, w] & both)
    return n, h + 2 * hh, h + 4 * hh


@numba.njit(nogil=True, cache=True, inline="always")
def pair_counts(het, hom, called, complete, n_all, s, q, i, j):
    """``(n, s1, s2, q1, q2, d)`` of rows ``i`` and ``j``: sums over the samples called at
    both. ``complete`` (per row): no missing call among the ``n_all`` analysed samples, so
    its whole-row sums ``s``, ``q`` hold for any partner that is complete too."""
    d = _dot(het, hom, i, j)
    if complete[i] and complete[j]:
        return n_all, s[i], s[j], q[i], q[j], d
    n, s1, q1 = _sums_where(het, hom, i, called, j)
    _, s2, q2 = _sums_where(het, hom, j, called, i)
    return n, s1, s2, q1, q2, d


@numba.njit(nogil=True, cache=True)
def pair_moments(het, hom, called, complete, n_all, s, q, first, second):
    """int64 (pairs, 6): :func:`pair_counts` of row pairs ``first[k]``, ``second[k]``."""
    out = np.empty((len(first), 6), dtype=np.int64)
    for k in range(len(first)):
        n, s1, s2, q1, q2, d = pair_counts(
            het, hom, called, complete, n_all, s, q, first[k], second[k]
        )
        out[k, 0] = n
        out[k, 1] = s1
        out[k, 2] = s2
        out[k, 3] = q1
        out[k, 4] = q2
        out[k, 5] = d
    return out


@numba.njit(nogil=True, cache=True, inline="always")
def _exceeds(n, s1, s2, q1, q2, d, threshold):
    """PLINK 2's test ``cov² > threshold · var1 · var2`` on n-scaled integer moments."""
    cov = float(d * n - s1 * s2)
    var1 = float(q1 * n - s1 * s1)
    var2 = float(q2 * n - s2 * s2)
    return cov * cov > threshold * var1 * var2


@numba.njit(nogil=True, cache=True, inline="always")
def _withheld(n, s1, s2, d, k):
    """A pair the release door withholds (k > 1): one of its co-copy sums Σxy, Σx(2 − y),
    Σ(2 − x)y, Σ(2 − x)(2 − y) in 1..k−1 (:func:`stats._ld.co_copy_sums`)."""
    if k <= 1:
        return False
    a, b, c = 2 * s1 - d, 2 * s2 - d, 4 * n - 2 * s1 - 2 * s2 + d
    return (0 < d < k) or (0 < a < k) or (0 < b < k) or (0 < c < k)


@numba.njit(nogil=True, cache=True, inline="always")
def _next_live(removed, pos, size):
    while pos < size and removed[pos]:
        pos += 1
    return pos


@numba.njit(nogil=True, cache=True)
def prune_windows(
    het,
    hom,
    called,
    complete,
    s,
    q,
    n_all,
    maj,
    zero_var,
    buf_lo,
    win_start,
    win_end,
    win_last,
    w0,
    threshold,
    state,
    members,
    unchecked,
    live_removed,
    removed,
    min_shared=0,
):
    """Run ``plink2 --indep-pairwise`` (PLINK 2.00a3's pruning order) over windows ``w0 ..``.

    Rows are variant numbers ``t`` (the order of the analysed variants); the planes hold rows
    ``buf_lo ..`` (row ``t`` at ``t - buf_lo``). Window ``w`` covers rows ``win_start[w] ..
    win_end[w] - 1``; ``win_last[w]``: the last window of its stretch (contig or kb
    sub-contig). ``s``, ``q``, ``maj``, ``zero_var``: per row (whole-row dosage sums, sums of
    squares, major-allele frequency, no variance: removed on arrival, as PLINK 2 does).

    The state between calls (so the planes can stream through a buffer): ``state`` int64
    [members, rows loaded up to]; ``members`` the rows in the current window (in order),
    ``unchecked`` per member the first row not yet compared with it, ``live_removed`` per
    member. ``removed`` (per row, output): pruned.

    At the end of each window, members are taken in order; each is compared with the later
    live members from its first unchecked one on, until a pair's r² exceeds ``threshold``:
    then the member with the lower MAF goes (the first one when its major-allele frequency
    is larger than the second's by more than a factor 1 + 2^-44, else the second, so ties
    drop the later variant), and the first member's next comparison starts after the
    dropped second. Passes repeat until a pass removes nothing; then the window moves on.

    ``min_shared`` (k of a disclosure policy, 0 = none): a pair the release door withholds
    (:func:`_withheld`) is never "in LD", so ``prune.in`` is no threshold oracle on its r².

    Returns the first window not processed (its rows are not all in the buffer yet).
    """
    buf_hi = buf_lo + het.shape[0]
    n_members = state[0]
    loaded = state[1]
    w = w0
    while w < len(win_start):
        start, end = win_start[w], win_end[w]
        if end > buf_hi or start < buf_lo:
            break
        if loaded < start:
            loaded = start
        while loaded < end:  # load the window's new rows
            members[n_members] = loaded
            unchecked[n_members] = loaded + 1
            live_removed[n_members] = zero_var[loaded]
            if zero_var[loaded]:
                removed[loaded] = True
            n_members += 1
            loaded += 1
        n_removed = 0
        for m in range(n_members):
            n_removed += live_removed[m]
        while True:
            before = n_removed
            f = 0
            while True:
                f = _next_live(live_removed, f, n_members)
                if f == n_members:
                    break
                first_unchecked = unchecked[f]
                if first_unchecked >= end:  # compared with every member already
                    f += 1
                    continue
                # members are in row order: the first at or after ``first_unchecked``
                lo, hi = f + 1, n_members
                while lo < hi:
                    mid = (lo + hi) // 2
                    if members[mid] < first_unchecked:
                        lo = mid + 1
                    else:
                        hi = mid
                sec = _next_live(live_removed, lo, n_members)
                if sec < n_members:
                    i = members[f] - buf_lo
                    while True:
                        j = members[sec] - buf_lo
                        n, s1, s2, q1, q2, d = pair_counts(
                            het, hom, called, complete, n_all, s, q, i, j
                        )
                        if _exceeds(n, s1, s2, q1, q2, d, threshold) and not _withheld(
                            n, s1, s2, d, min_shared
                        ):
                            if maj[members[f]] > maj[members[sec]] * (1.0 + SMALL_EPSILON):
                                live_removed[f] = True
                                removed[members[f]] = True
                            else:
                                live_removed[sec] = True
                                removed[members[sec]] = True
                                nxt = _next_live(live_removed, sec + 1, n_members)
                                unchecked[f] = members[nxt] if nxt < n_members else end
                            n_removed += 1
                            break
                        sec = _next_live(live_removed, sec + 1, n_members)
                        if sec == n_members:
                            unchecked[f] = end
                            break
                f += 1
            if n_removed == before:
                break
        # move on: drop removed members and those before the next window's start
        if win_last[w]:
            n_members = 0
            loaded = end
        else:
            nxt_start = win_start[w + 1]
            kept = 0
            for m in range(n_members):
                if not live_removed[m] and members[m] >= nxt_start:
                    members[kept] = members[m]
                    unchecked[kept] = unchecked[m]
                    live_removed[kept] = False
                    kept += 1
            n_members = kept
        w += 1
    state[0] = n_members
    state[1] = loaded
    return w


@numba.njit(nogil=True, cache=True)
def kb_windows(position, lo, hi, size, starts, ends, lasts, n_out):
    """Append the windows of the kb sub-contig rows ``lo .. hi - 1`` (positions sorted) to
    ``starts``/``ends``/``lasts`` from ``n_out`` on, as PLINK 2 moves a kb window: the first
    window holds the rows within ``size`` bp of the first; each next start is the first row
    (after the current start) within ``size`` bp of the first row left out, and the window
    then reaches every row within ``size`` bp of its start. Returns the new count."""
    s = lo
    e = s + 1
    while e < hi and position[e] <= position[s] + size:
        e += 1
    while True:
        starts[n_out] = s
        ends[n_out] = e
        lasts[n_out] = e == hi
        n_out += 1
        if e == hi:
            return n_out
        floor = position[e] - size
        s += 1
        while position[s] < floor:
            s += 1
        e += 1
        while e < hi and position[e] <= position[s] + size:
            e += 1
