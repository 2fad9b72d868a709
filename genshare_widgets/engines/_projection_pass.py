"""Genotype blocks of chosen store rows, in row order: the one genotype pass of a PCA
reference's SNP weights and of every projection onto them (:mod:`genshare_widgets.projection`).

:func:`dosage_blocks` yields ``(positions, dosage)`` (uint8 ALT copies, 3 = not called);
:func:`standardized_blocks` yields ``(positions, x)``: ``positions`` index the caller's
``rows`` and ``x`` is float64 (len(positions), samples), Patterson-standardised with the
caller's ALT frequencies ``p`` (``(g - 2p) / sqrt(p (1 - p))``, a missing call → 0, the
mean), exactly the values :func:`genshare_widgets.samples.principal_components` builds
(:func:`engines._direct.standardized_from_planes` on a local GenShare store's bit planes,
:func:`engines._sample_pass.standardized_block` on ``call_genotype`` otherwise).

The blocks of a store chunk are read in a small thread pool and yielded in chunk order, so
every sum a caller forms over them has one order fixed by the data.
"""

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

ROWS_PER_BLOCK = 4096  # float64 block: 4,096 × 2,505 samples = 82 MB at most
MISSING = 3  # the dosage of a genotype with an allele not called


def _dosage_of_calls(gt: np.ndarray) -> np.ndarray:
    """ALT dosage (uint8; 3 = not fully called) of int8 calls (variants, samples, ploidy)."""
    a0, a1 = gt[..., 0], gt[..., 1]
    dosage = (a0 == 1).astype(np.uint8) + (a1 == 1)
    dosage[(a0 < 0) | (a1 < 0)] = MISSING
    return dosage


def _direct_chunks(store, rows: np.ndarray, order: np.ndarray):
    """Per store chunk, a function giving its list of (positions, dosage) blocks."""
    n_samples = store.shape("call_genotype")[1]
    step = store.chunk_rows("call_genotype_bitplanes")
    sorted_rows = rows[order]
    chunk_of = sorted_rows // step
    bounds = np.flatnonzero(np.diff(chunk_of)) + 1
    starts = np.concatenate([[0], bounds]).astype(int)
    ends = np.concatenate([bounds, [len(order)]]).astype(int)

    def one_chunk(lo: int, hi: int) -> list[tuple[np.ndarray, np.ndarray]]:
        c = int(chunk_of[lo])
        local = sorted_rows[lo:hi] - c * step
        positions = order[lo:hi]
        planes = store.read_chunk("call_genotype_bitplanes", c)
        packable = store.read_chunk("variant_genotype_packable", c)[local]
        out = []
        fast = np.flatnonzero(packable)
        for b in range(0, len(fast), ROWS_PER_BLOCK):
            part = fast[b : b + ROWS_PER_BLOCK]
            raw = np.ascontiguousarray(planes[local[part]]).view(np.uint8)
            bits = np.unpackbits(raw, axis=2, count=n_samples, bitorder="little")
            out.append((positions[part], bits[:, 0, :] + 2 * bits[:, 1, :]))  # 3 = missing
        slow = np.flatnonzero(~packable)
        if len(slow):
            gt = store.read_chunk("call_genotype", c)[local[slow]]
            out.append((positions[slow], _dosage_of_calls(gt)))
        return out

    return [(one_chunk, int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def dosage_blocks(
    rows: np.ndarray,
    *,
    store=None,
    call_genotype=None,
    threads: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Blocks ``(positions, dosage)`` of store ``rows`` (any order, each once), in increasing
    row order: ``dosage`` is uint8 (len(positions), samples), the ALT copies of a fully called
    genotype, :data:`MISSING` (3) where an allele is not called.

    Give ``store`` (a local GenShare store's :class:`~engines._direct.DirectStore`: its bit
    planes, read ahead in a small thread pool) or ``call_genotype`` (an array-like of
    (variants, samples, ploidy) int8, e.g. the xarray variable).

    Examples
    --------
    >>> gt = np.array([[[0, 1], [1, 1]], [[0, 0], [-1, 0]]], dtype=np.int8)
    >>> [d.tolist() for _, d in dosage_blocks(np.array([1, 0]), call_genotype=gt)]
    [[[1, 2], [0, 3]]]
    """
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    if not len(rows):
        return
    if store is not None:
        jobs = _direct_chunks(store, rows, order)
        workers = max(1, min(threads or 2, len(jobs)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending = []
            for fn, a, b in jobs:  # at most `workers + 1` chunks read ahead
                pending.append(pool.submit(fn, a, b))
                if len(pending) > workers:
                    yield from pending.pop(0).result()
            for future in pending:
                yield from future.result()
        return
    for start in range(0, len(order), ROWS_PER_BLOCK):
        positions = order[start : start + ROWS_PER_BLOCK]
        block_rows = rows[positions]
        if hasattr(call_genotype, "isel"):
            gt = np.asarray(call_genotype.isel(variants=block_rows).values)
        else:
            gt = np.asarray(call_genotype[block_rows])
        yield positions, _dosage_of_calls(gt)


def standardize(dosage: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Patterson-standardised float64 of a dosage block (missing → 0): the same float64
    operations as :func:`engines._direct.standardized_from_planes`, so the same values."""
    p64 = np.asarray(p, dtype=np.float64)[:, None]
    x = dosage.astype(np.float64)
    x -= 2 * p64
    x /= np.sqrt(p64 * (1 - p64))
    x[dosage == MISSING] = 0.0
    return x


def standardized_blocks(
    rows: np.ndarray,
    p: np.ndarray,
    *,
    store=None,
    call_genotype=None,
    threads: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`dosage_blocks` standardised with ALT frequencies ``p`` (one per row):
    ``(positions, x)``, x float64 (len(positions), samples).

    Examples
    --------
    >>> gt = np.array([[[0, 1], [1, 1]], [[0, 0], [-1, 0]]], dtype=np.int8)
    >>> blocks = standardized_blocks(np.array([0, 1]), np.array([0.5, 0.25]), call_genotype=gt)
    >>> [x.round(3).tolist() for _, x in blocks]
    [[[0.0, 2.0], [-1.155, 0.0]]]
    """
    p = np.asarray(p, dtype=np.float64)
    for positions, dosage in dosage_blocks(
        rows, store=store, call_genotype=call_genotype, threads=threads
    ):
        yield positions, standardize(dosage, p[positions])


def reduce_dosage(
    rows: np.ndarray,
    block_fn,
    shape: tuple[int, ...],
    *,
    store=None,
    call_genotype=None,
    threads: int | None = None,
) -> np.ndarray:
    """Σ of ``block_fn(positions, dosage)`` (float64 arrays of ``shape``) over the
    :func:`dosage_blocks` of ``rows``. On a local store each chunk's blocks are reduced in
    the worker thread that read them (so the float work runs on every core) and the chunk
    totals are added in chunk order: the result does not depend on the threads.

    Examples
    --------
    >>> gt = np.array([[[0, 1], [1, 1]], [[0, 0], [-1, 0]]], dtype=np.int8)
    >>> reduce_dosage(np.array([0, 1]), lambda pos, d: d.sum(axis=0) * 1.0, (2,),
    ...               call_genotype=gt).tolist()
    [1.0, 5.0]
    """
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    total = np.zeros(shape, dtype=np.float64)
    if not len(rows):
        return total
    if store is None:
        for positions, dosage in dosage_blocks(rows, call_genotype=call_genotype):
            total += block_fn(positions, dosage)
        return total

    def reduce_chunk(fn, a: int, b: int) -> np.ndarray:
        part = np.zeros(shape, dtype=np.float64)
        for positions, dosage in fn(a, b):
            part += block_fn(positions, dosage)
        return part

    jobs = _direct_chunks(store, rows, order)
    workers = max(1, min(threads or (os.cpu_count() or 1), len(jobs)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = []
        for fn, a, b in jobs:  # at most `workers + 1` chunks in flight
            pending.append(pool.submit(reduce_chunk, fn, a, b))
            if len(pending) > workers:
                total += pending.pop(0).result()
        for future in pending:
            total += future.result()
    return total
