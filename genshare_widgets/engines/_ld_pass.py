"""The LD genotype pass: bit planes of the analysed samples, streamed a block of variants at a
time, for pair r² (:func:`pair_moments`) and ``--indep-pairwise`` pruning (:func:`prune`).

A local GenShare store gives its bit-plane copy (``call_genotype_bitplanes``, see
:mod:`engines._packed`) straight from its chunk files; rows that are not packable (haploid
or half-missing calls) and every store that the direct reader does not handle (a remote
store, a Dask cluster) are packed here from ``call_genotype``. Only a window's worth of
variants plus one block is in memory at a time; the next block is read in a worker thread
while the kernel prunes the current one. The maths of the planes is in
:mod:`engines._ld_kernels`; the r² definition in :mod:`genshare_widgets.stats._ld`.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np


class Planes(NamedTuple):
    """uint64 (rows, words) planes of the analysed samples: ``het``, ``hom`` (one and two ALT
    copies) and ``called``; per row once :func:`prepared`: ``n`` called samples, ``s``/``q``
    Σ dosage and Σ dosage²."""

    het: np.ndarray
    hom: np.ndarray
    called: np.ndarray
    n: np.ndarray | None = None
    s: np.ndarray | None = None
    q: np.ndarray | None = None


def prepared(planes: Planes) -> Planes:
    """``planes`` (C-contiguous) with their per-row sums
    (:func:`engines._ld_kernels.row_sums`)."""
    from genshare_widgets.engines._ld_kernels import row_sums

    het, hom, called = (np.ascontiguousarray(p) for p in planes[:3])
    n, s, q = (np.zeros(len(het), np.int64) for _ in range(3))
    row_sums(het, hom, called, n, s, q)
    return Planes(het, hom, called, n, s, q)


def sample_words(keep: np.ndarray) -> np.ndarray:
    """uint64 words with the bits of the analysed samples (bool per store sample) set."""
    n_words = (len(keep) + 63) // 64
    bits = np.zeros(n_words * 64, dtype=np.uint8)
    bits[: len(keep)] = keep
    return np.packbits(bits, bitorder="little").view("<u8").astype(np.uint64)


def planes_from_dosage(dosage: np.ndarray, kept: np.ndarray) -> Planes:
    """:class:`Planes` of float dosages (rows, samples; NaN = missing), restricted to the
    sample words ``kept``."""
    rows, n = dosage.shape
    n_words = len(kept)

    def pack(mask: np.ndarray) -> np.ndarray:
        bits = np.zeros((rows, n_words * 64), dtype=np.uint8)
        bits[:, :n] = mask
        packed = np.packbits(bits, axis=1, bitorder="little").view("<u8").astype(np.uint64)
        return packed.reshape(rows, n_words) & kept

    return Planes(pack(dosage == 1), pack(dosage == 2), pack(~np.isnan(dosage)))


def planes_from_bitplanes(raw: np.ndarray, kept: np.ndarray) -> Planes:
    """:class:`Planes` of packable store rows (uint64 (rows, 2, words): lo/hi planes, 11 =
    missing), restricted to the sample words ``kept``."""
    lo, hi = raw[:, 0, :], raw[:, 1, :]
    miss = lo & hi
    return Planes(lo & ~hi & kept, hi & ~lo & kept, ~miss & kept)


class PlaneSource:
    """Planes of the store rows ``index`` (sorted; the analysed variants in order), read in
    increasing blocks: ``rows(a, b)`` gives variants ``a .. b - 1``.

    Parameters
    ----------
    direct
        A :class:`~engines._direct.DirectStore`, or None to read ``call_genotype``.
    call_genotype
        The cohort's ``call_genotype`` (xarray or dask), used when ``direct`` is None.
    index
        Store rows of the analysed variants (each biallelic; its ALT is allele 1).
    keep
        bool per store sample: analysed.
    """

    def __init__(self, direct, call_genotype, index: np.ndarray, keep: np.ndarray) -> None:
        self.direct = direct
        self.call_genotype = call_genotype
        self.index = np.asarray(index, dtype=np.int64)
        self.kept = sample_words(np.asarray(keep, dtype=bool))
        self._chunk: tuple[int, np.ndarray, np.ndarray] | None = None
        self._calls: tuple[int, np.ndarray] | None = None

    def rows(self, a: int, b: int) -> Planes:
        """Planes of analysed variants ``a .. b - 1``."""
        rows = self.index[a:b]
        if self.direct is None:
            return self._from_calls(rows)
        from genshare_widgets.engines._direct import dosage_from_calls
        from genshare_widgets.engines._ld_kernels import split_bitplanes

        store = self.direct
        step = store.chunk_rows("call_genotype_bitplanes")
        n_words = len(self.kept)
        out = Planes(*(np.empty((len(rows), n_words), dtype=np.uint64) for _ in range(3)))
        chunk_of = rows // step
        for c in np.unique(chunk_of).tolist():
            lo, hi = np.searchsorted(chunk_of, [c, c + 1])
            if self._chunk is None or self._chunk[0] != c:
                self._chunk = (
                    c,
                    store.read_chunk("call_genotype_bitplanes", c),
                    store.read_chunk("variant_genotype_packable", c),
                )
            _, planes, packable = self._chunk
            local = rows[lo:hi] - c * step
            fast = packable[local]
            where = np.arange(lo, hi)
            split_bitplanes(planes, local[fast], self.kept, *out[:3], where[fast])
            if not fast.all():  # haploid or half-missing calls: from call_genotype
                if self._calls is None or self._calls[0] != c:
                    self._calls = (c, store.read_chunk("call_genotype", c))
                gt = self._calls[1][local[~fast]]
                slow = planes_from_dosage(dosage_from_calls(gt), self.kept)
                for target, values in zip(out[:3], slow[:3], strict=True):
                    target[where[~fast]] = values
        return prepared(out)

    def _from_calls(self, rows: np.ndarray) -> Planes:
        from genshare_widgets.engines._direct import dosage_from_calls

        if not len(rows):
            empty = np.zeros((0, len(self.kept)), dtype=np.uint64)
            return prepared(Planes(empty, empty, empty))
        span = self.call_genotype[int(rows[0]) : int(rows[-1]) + 1]
        gt = np.asarray(getattr(span, "values", span))[rows - rows[0]]
        return prepared(planes_from_dosage(dosage_from_calls(gt), self.kept))


def pair_moments(
    planes: Planes, first: np.ndarray, second: np.ndarray, *, n_samples: int
) -> np.ndarray:
    """int64 (pairs, 6) moments (:data:`stats._ld.MOMENTS`) of the row pairs
    ``first[k]``, ``second[k]`` of ``planes`` (``n_samples`` analysed samples), over the
    samples called at both."""
    from genshare_widgets.engines._ld_kernels import pair_moments as kernel

    if planes.n is None:
        planes = prepared(planes)
    return kernel(
        planes.het,
        planes.hom,
        planes.called,
        planes.n == n_samples,
        int(n_samples),
        planes.s,
        planes.q,
        np.asarray(first, dtype=np.int64),
        np.asarray(second, dtype=np.int64),
    )


def prune_stretches(contig: np.ndarray) -> np.ndarray:
    """Start of each run of equal contig codes, plus the end (int64)."""
    contig = np.asarray(contig)
    cuts = np.flatnonzero(contig[1:] != contig[:-1]) + 1
    return np.concatenate([[0], cuts, [len(contig)]]).astype(np.int64)


def plan_windows(
    contig: np.ndarray,
    position: np.ndarray,
    *,
    window: int,
    step: int,
    window_bp: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(starts, ends, lasts)``: the windows of ``plink2 --indep-pairwise`` over the analysed
    variants (in order; ``contig`` codes and ``position`` per variant).

    Variant-count windows (``window_bp`` None): per contig of L ≥ 2 variants, windows
    ``[k·step, min(k·step + window, L))`` until one reaches the end. kb windows
    (``window_bp`` = kb × 1000, step 1): each contig is first cut where two neighbours are
    more than ``window_bp`` apart (PLINK 2's sub-contigs), then windows move as in
    :func:`engines._ld_kernels.kb_windows`. A contig (or sub-contig) of one variant has no
    window: its variant is kept, as PLINK 2 keeps it.
    """
    from genshare_widgets.engines._ld_kernels import kb_windows

    bounds = prune_stretches(contig)
    position = np.asarray(position, dtype=np.int64)
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    lasts: list[np.ndarray] = []
    stretches: list[tuple[int, int]] = []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if window_bp is None:
            stretches.append((a, b))
            continue
        pos = position[a:b]
        if (np.diff(pos) < 0).any():
            from genshare_widgets._errors import GenShareError

            raise GenShareError(
                "a kb LD window needs the variants of each contig sorted by position, and "
                "this store's are not: sort the input (bcftools sort) or use a variant-count "
                "window"
            )
        gap = np.flatnonzero((pos[1:] >= window_bp) & (pos[1:] - window_bp > pos[:-1])) + 1
        cuts = np.concatenate([[0], gap, [b - a]]) + a
        stretches += list(zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True))
    for a, b in stretches:
        length = b - a
        if length < 2:
            continue
        if window_bp is None:
            k = 1 + max(0, -(-(length - window) // step))
            s = np.arange(k, dtype=np.int64) * step
            e = np.minimum(s + window, length)
            starts.append(s + a)
            ends.append(e + a)
            lasts.append(e == length)
        else:
            s = np.empty(length, np.int64)
            e = np.empty(length, np.int64)
            last = np.empty(length, np.bool_)
            n = kb_windows(position, a, b, window_bp, s, e, last, 0)
            starts.append(s[:n])
            ends.append(e[:n])
            lasts.append(last[:n])
    if not starts:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, bool)
    return np.concatenate(starts), np.concatenate(ends), np.concatenate(lasts)


def prune(
    source: PlaneSource,
    *,
    n_samples: int,
    called: np.ndarray,
    dosage_sum: np.ndarray,
    dosage_ssq: np.ndarray,
    major_freq: np.ndarray,
    windows: tuple[np.ndarray, np.ndarray, np.ndarray],
    r2: float,
    block_rows: int = 16384,
    min_shared: int = 0,
) -> np.ndarray:
    """bool per analysed variant: removed by ``--indep-pairwise`` (see
    :func:`engines._ld_kernels.prune_windows`). ``called``, ``dosage_sum``, ``dosage_ssq``:
    per variant over the ``n_samples`` analysed samples (from the count pass);
    ``major_freq``: the major allele's frequency; ``min_shared``: a disclosure policy's k
    (pairs the door withholds never prune)."""
    from genshare_widgets.engines._ld_kernels import SMALL_EPSILON, prune_windows

    starts, ends, lasts = windows
    n_var = len(called)
    removed = np.zeros(n_var, dtype=np.bool_)
    called = np.asarray(called, dtype=np.int64)
    s = np.asarray(dosage_sum, dtype=np.int64)
    q = np.asarray(dosage_ssq, dtype=np.int64)
    zero_var = (q * called - s * s) <= 0
    maj = np.ascontiguousarray(major_freq, dtype=np.float64)
    if not len(starts):
        return removed
    widest = int((ends - starts).max())
    members = np.zeros(widest + 1, np.int64)
    unchecked = np.zeros(widest + 1, np.int64)
    live_removed = np.zeros(widest + 1, np.bool_)
    state = np.zeros(2, np.int64)
    threshold = float(r2) * (1.0 + SMALL_EPSILON)
    w = 0
    buf_lo = buf_hi = int(starts[0])
    planes = source.rows(buf_lo, buf_lo)  # an empty block of the right shapes
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = None
        while w < len(starts):
            cut = int(starts[w])  # every member of window w is at or after its start
            if cut > buf_lo:
                drop = min(cut, buf_hi) - buf_lo
                planes = Planes(*(p[drop:] for p in planes if p is not None))
                buf_lo, buf_hi = cut, max(buf_hi, cut)
            while buf_hi < ends[w]:
                hi = min(n_var, max(int(ends[w]), buf_hi + block_rows))
                if ahead is not None and ahead[0] == buf_hi:
                    hi, more = ahead[1], ahead[2].result()
                else:
                    more = source.rows(buf_hi, hi)
                ahead = None
                planes = Planes(
                    *(np.concatenate([old, new]) for old, new in zip(planes, more, strict=True))
                )
                buf_hi = hi
            if ahead is None and buf_hi < n_var:  # the next block is read meanwhile
                nxt = min(n_var, buf_hi + block_rows)
                ahead = (buf_hi, nxt, pool.submit(source.rows, buf_hi, nxt))
            w = prune_windows(
                planes.het,
                planes.hom,
                planes.called,
                planes.n == n_samples,
                planes.s,
                planes.q,
                n_samples,
                maj,
                zero_var,
                buf_lo,
                starts,
                ends,
                lasts,
                w,
                threshold,
                state,
                members,
                unchecked,
                live_removed,
                removed,
                int(min_shared),
            )
    return removed
