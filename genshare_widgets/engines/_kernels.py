"""Compiled (numba) kernels for the genotype passes; each equals a numpy reference in tests.

They release the GIL (``nogil``), so the Dask threaded scheduler runs chunks in parallel.
``cache=True`` stores the compiled code beside this file after the first use.
"""

import numba
import numpy as np


@numba.njit("int32[:, :, ::1](int8[:, :, ::1], int64[::1], int64)", nogil=True, cache=True)
def group_counts_kernel(gt: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-group allele count, allele number, hom-alt, het and called genotypes.

    gt int8 (variants, samples, 2); group int64 (samples,), -1 for samples left out.
    Returns int32 (variants, n_groups, 5), same rules as ``_group_counts.block_counts``.
    """
    n_var, n_samp = gt.shape[0], gt.shape[1]
    out = np.zeros((n_var, n_groups, 5), dtype=np.int32)
    for v in range(n_var):
        for s in range(n_samp):
            g = group[s]
            if g < 0:
                continue
            a = gt[v, s, 0]
            b = gt[v, s, 1]
            alt = (a == 1) + (b == 1)
            ca = a >= 0
            cb = b >= 0
            out[v, g, 0] += alt
            out[v, g, 1] += ca + cb
            if ca and cb:
                out[v, g, 4] += 1
                if alt == 2:
                    out[v, g, 2] += 1
                elif alt == 1:
                    out[v, g, 3] += 1
    return out


@numba.njit(nogil=True, cache=True, inline="always")
def _allele_code(c):
    """One-character allele: '0'..'9' → 0..9, '.' → -1 (missing), anything else → -128."""
    if 48 <= c <= 57:
        return c - 48
    if c == 46:
        return -1
    return -128


@numba.njit(nogil=True, cache=True)
def scan_vcf_records(buf, start, n_samples, gt, phased, row0, fields, positions, fast):
    """Scan complete VCF record lines of ``buf[start:]`` into preallocated chunk arrays.

    For each line: the start of each of the first ten tab-separated fields (``fields[row, 0..9]``
    and the line end in ``fields[row, 10]``), POS (``positions``; -1 when not a plain integer),
    and, when FORMAT is exactly ``GT`` and every call is one-character diploid (``a|b``/``a/b``),
    the genotypes and phasing (``fast[row] = True``). Other lines (``fast[row] = False``) are
    parsed by the careful Python path, so the result equals the reference reader.

    Fills rows ``row0 ..`` until the arrays are full or the buffer ends; returns
    ``(rows filled, offset after the last consumed line)``.
    """
    n = len(buf)
    cap = gt.shape[0]
    row = row0
    p = start
    while p < n and row < cap:
        # Field starts: tabs up to the tenth field (or the newline, or the buffer's end).
        fields[row, 0] = p
        k = 1
        q = p
        while q < n:
            c = buf[q]
            if c == 10:
                break
            if c == 9:
                fields[row, k] = q + 1
                k += 1
                if k == 10:
                    q += 1
                    break
            q += 1
        # Fast path: FORMAT is GT and every call is one-character diploid, so the line ends
        # exactly 4 * samples - 1 bytes after the tenth field starts: check that byte instead
        # of scanning the whole line for its newline, then check every call.
        good = False
        end = -1
        if k == 10:
            f8 = fields[row, 8]
            g0 = fields[row, 9]
            cand = g0 + 4 * n_samples - 1
            if g0 - f8 == 3 and buf[f8] == 71 and buf[f8 + 1] == 84 and cand < n:
                if buf[cand] == 10:
                    end = cand
                elif buf[cand] == 13 and cand + 1 < n and buf[cand + 1] == 10:
                    end = cand + 1
            if end >= 0:
                good = True
                for s in range(n_samples):
                    o = g0 + 4 * s
                    sep = buf[o + 1]
                    if s < n_samples - 1 and buf[o + 3] != 9:
                        good = False
                        break
                    if sep != 124 and sep != 47:
                        good = False
                        break
                    a0 = _allele_code(buf[o])
                    a1 = _allele_code(buf[o + 2])
                    if a0 == -128 or a1 == -128:
                        good = False
                        break
                    gt[row, s, 0] = a0
                    gt[row, s, 1] = a1
                    phased[row, s] = sep == 124
        if not good:
            # Any other line: find its newline (a newline inside the GT block made the
            # fast check fail, so the first newline after q is this line's end).
            end = q
            while end < n and buf[end] != 10:
                end += 1
            if end >= n:
                break  # incomplete line: the caller carries it over
        line_end = end
        if line_end > p and buf[line_end - 1] == 13:
            line_end -= 1
        if line_end == p:
            p = end + 1
            continue
        for j in range(k, 10):
            fields[row, j] = line_end + 1
        fields[row, 10] = line_end
        # POS
        value = 0
        ok = fields[row, 1] < fields[row, 2] - 1
        for q in range(fields[row, 1], fields[row, 2] - 1):
            c = buf[q]
            if c < 48 or c > 57:
                ok = False
                break
            value = value * 10 + (c - 48)
        positions[row] = value if ok else -1
        fast[row] = good
        row += 1
        p = end + 1
    return row - row0, p


@numba.njit(nogil=True, cache=True)
def plane_products(planes, table, kept, moments, popcount):
    """Per-variant sums for regression straight from bit planes, without unpacking them.

    ``planes``: uint64 packable bit-plane rows (variants, 2, words): byte ``j`` (byte ``j %
    8`` of word ``j // 8``, little-endian) holds samples 8j..8j+7, bit ``b`` sample 8j+b (lo
    plane, hi plane: 01 het, 10 hom-alt, 11 missing); ``table`` float64 (bytes, 256, m): for
    byte ``j`` and value ``v`` the sum of the per-sample weight rows of the samples whose bits
    are set in ``v``; ``kept`` uint64 (words,): the analysed samples' bits; ``moments``
    float64 (samples, q): per-sample rows summed over each variant's missing calls;
    ``popcount`` int64 (256,).

    Returns ``xw`` (variants, m) = Σ dosage × weights, ``xx`` (variants,) = Σ dosage²,
    ``n_missing`` (variants,) and ``missing_moments`` (variants, q), over analysed samples.
    """
    n_var, _, n_words = planes.shape
    m = table.shape[2]
    q = moments.shape[1]
    xw = np.zeros((n_var, m))
    xx = np.zeros(n_var, dtype=np.int64)
    n_missing = np.zeros(n_var, dtype=np.int64)
    missing_moments = np.zeros((n_var, q))
    byte = np.uint64(255)
    # Word position outermost within a block of variants: the table rows of its bytes stay in
    # cache while the block's variants look them up (the table of a few thousand samples is
    # megabytes: variant by variant, most lookups missed the cache, 1.8x slower). A word
    # whose two planes are zero (no carrier among its 64 samples: most words of a rare
    # variant) is skipped whole; scanning byte by byte cost 0.5 µs per variant of 2,505
    # samples. Each variant still sums its bytes in order: the same floats either way.
    for v0 in range(0, n_var, 64):
        v1 = min(n_var, v0 + 64)
        for w in range(n_words):
            kw = kept[w]
            for v in range(v0, v1):
                lw = planes[v, 0, w]
                hw = planes[v, 1, w]
                if (lw | hw) == 0:
                    continue
                for b in range(8):
                    shift = np.uint64(8 * b)
                    lo = np.int64((lw >> shift) & byte)
                    hi = np.int64((hw >> shift) & byte)
                    if (lo | hi) == 0:
                        continue
                    kp = np.int64((kw >> shift) & byte)
                    j = 8 * w + b
                    het = lo & (hi ^ 255) & kp
                    hom = hi & (lo ^ 255) & kp
                    miss = lo & hi & kp
                    if het:
                        for i in range(m):
                            xw[v, i] += table[j, het, i]
                    if hom:
                        for i in range(m):
                            xw[v, i] += 2.0 * table[j, hom, i]
                    xx[v] += popcount[het] + 4 * popcount[hom]
                    if miss:
                        n_missing[v] += popcount[miss]
                        for bit in range(8):
                            if (miss >> bit) & 1:
                                s = 8 * j + bit
                                for i in range(q):
                                    missing_moments[v, i] += moments[s, i]
    return xw, xx, n_missing, missing_moments
