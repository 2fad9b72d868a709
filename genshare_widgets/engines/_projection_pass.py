"""Standardised genotype blocks of chosen store rows, in row order: the one genotype pass of
a PCA reference's SNP weights and of every projection onto them
(:mod:`genshare_widgets.projection`).

:func:`standardized_blocks` yields ``(positions, x)``: ``positions`` index the caller's
``rows`` and ``x`` is float64 (len(positions), samples), Patterson-standardised with the
caller's ALT frequencies ``p`` (``(g - 2p) / sqrt(p (1 - p))``, a missing call → 0, the
mean), exactly the values :func:`genshare_widgets.samples.principal_components` builds
(:func:`engines._direct.standardized_from_planes` on a local GenShare store's bit planes,
:func:`engines._sample_pass.standardized_block` on ``call_genotype`` otherwise).

The blocks of a store chunk are read in a small thread pool and yielded in chunk order, so
every sum a caller forms over them has one order fixed by the data.
"""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

ROWS_PER_BLOCK = 4096  # float64 block: 4,096 × 2,505 samples = 82 MB at most


def _direct_chunks(store, rows: np.ndarray, p: np.ndarray, order: np.ndarray):
    """Per store chunk, a function giving its list of (positions, x) blocks."""
    from genshare_widgets.engines._direct import standardized_from_planes
    from genshare_widgets.engines._sample_pass import standardized_block

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
            x = standardized_from_planes(planes[local[part]], p[positions[part]], n_samples)
            out.append((positions[part], x))
        slow = np.flatnonzero(~packable)
        if len(slow):
            gt = store.read_chunk("call_genotype", c)[local[slow]]
            out.append((positions[slow], standardized_block(gt, p[positions[slow]])))
        return out

    return [(one_chunk, int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def standardized_blocks(
    rows: np.ndarray,
    p: np.ndarray,
    *,
    store=None,
    call_genotype=None,
    threads: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Blocks ``(positions, x)`` of the standardised genotypes of store ``rows`` (any order,
    each once; ``p`` their ALT frequencies in (0, 1)), in increasing row order.

    Give ``store`` (a local GenShare store's :class:`~engines._direct.DirectStore`) or
    ``call_genotype`` (an array-like of (variants, samples, ploidy) int8, e.g. the xarray
    variable, read in blocks of :data:`ROWS_PER_BLOCK` rows).

    Examples
    --------
    >>> gt = np.array([[[0, 1], [1, 1]], [[0, 0], [-1, 0]]], dtype=np.int8)
    >>> [x.round(3).tolist() for _, x in standardized_blocks(np.array([0, 1]), np.array([0.5, 0.25]),
    ...                                                   call_genotype=gt)]
    [[[0.0, 2.0], [-1.155, 0.0]]]
    """
    from genshare_widgets.engines._sample_pass import standardized_block

    rows = np.asarray(rows, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(rows, kind="stable")
    if not len(rows):
        return
    if store is not None:
        jobs = _direct_chunks(store, rows, p, order)
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
        yield positions, standardized_block(gt, p[positions])
