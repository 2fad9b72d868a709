"""Phased haplotypes read lazily from a store, a chunk of variants at a time.

A haplotype array is int8 (variants, haplotypes): haplotype ``2 s`` and ``2 s + 1`` are the
first and second allele of sample ``s`` as written in the VCF (``0|1``: first = 0), in the
order of the samples asked for (scikit-allel's ``GenotypeArray.to_haplotypes()``). A record
of a split multi-allelic site (ALT ``a`` of its store row) codes 1 for ALT ``a`` and 0 for
every other allele, as every GenShare count does; a missing allele is -1.

Haplotype statistics need phase: a selected call not written phased (``0/1``,
``call_genotype_phased`` False) is refused with :class:`UnphasedGenotypesError`, naming the
variant and the sample. Homozygous and missing calls are phased by nature and always pass
(VCF writers differ in how they mark them).

Local stores are read chunk by chunk from their files (:class:`engines._direct.DirectStore`,
the next chunk decompressed in a thread while this one is used), other stores through their
xarray Dataset; memory is one chunk, whatever the number of variants.
"""

import functools
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError


class UnphasedGenotypesError(GenShareError):
    """A haplotype statistic met a genotype call that is not phased."""


def _check_phased(
    gt: np.ndarray, phased: np.ndarray | None, rows: np.ndarray, sample_ids: Any, what: str
) -> None:
    """Refuse heterozygous calls of ``gt`` (variants, samples, 2) not marked phased."""
    if phased is None:
        raise UnphasedGenotypesError(
            f"{what} needs phased genotypes, and this store records no phase "
            "(call_genotype_phased is missing). Phase the VCF first (e.g. SHAPEIT5 or "
            "Beagle) and open the phased file."
        )
    het = (gt[..., 0] != gt[..., 1]) & (gt[..., 0] >= 0) & (gt[..., 1] >= 0)
    bad = het & ~phased
    if bad.any():
        v, s = np.argwhere(bad)[0]
        who = sample_ids[s] if sample_ids is not None else f"#{s}"
        raise UnphasedGenotypesError(
            f"{what} needs phased genotypes: {int(bad.sum())} heterozygous call(s) in the "
            f"selection are unphased (first: store row {int(rows[v])}, sample {who!s}, "
            "written with '/'). Phase the VCF first (e.g. SHAPEIT5 or Beagle), or choose a "
            "statistic that does not need phase (PBS)."
        )


def to_haplotypes(gt: np.ndarray, alt_allele: np.ndarray) -> np.ndarray:
    """int8 (variants, samples, 2) calls → int8 (variants, 2 × samples) haplotypes coding
    ALT ``alt_allele`` (per variant) as 1, other alleles 0, missing -1.

    Examples
    --------
    >>> gt = np.array([[[0, 1], [1, 1]], [[2, 0], [-1, 2]]], dtype=np.int8)
    >>> to_haplotypes(gt, np.array([1, 2])).tolist()
    [[0, 1, 1, 1], [1, 0, -1, 1]]
    """
    alt = np.asarray(alt_allele, dtype=np.int8)[:, None, None]
    h = np.where(gt < 0, np.int8(-1), (gt == alt).astype(np.int8))
    return h.reshape(len(gt), -1)


@functools.cache
def _kernel():
    import numba

    @numba.njit(nogil=True, cache=True)
    def gather(chunk, rows, samples, alt, phased, check):
        """Haplotypes (rows, 2 × samples) of ``chunk`` (variants, samples, 2) at ``rows``
        and ``samples`` coding ALT ``alt[i]`` as 1; with ``check``, the first heterozygous
        call not marked in ``phased`` as ``(row index, sample index)`` (else (-1, -1))."""
        n, m = len(rows), len(samples)
        out = np.empty((n, 2 * m), dtype=np.int8)
        bad_row, bad_sample = -1, -1
        for i in range(n):
            r = rows[i]
            a = alt[i]
            for j in range(m):
                s = samples[j]
                x = chunk[r, s, 0]
                y = chunk[r, s, 1]
                out[i, 2 * j] = -1 if x < 0 else (1 if x == a else 0)
                out[i, 2 * j + 1] = -1 if y < 0 else (1 if y == a else 0)
                if check and bad_row < 0 and x >= 0 and y >= 0 and x != y and not phased[r, s]:
                    bad_row, bad_sample = i, j
        return out, bad_row, bad_sample

    return gather


def haplotype_blocks(
    source,
    index: np.ndarray,
    alt_allele: np.ndarray,
    sample_sets: Sequence[np.ndarray],
    *,
    require_phase: bool = True,
    what: str = "this statistic",
    sample_ids: Any = None,
) -> Iterator[tuple[int, list[np.ndarray]]]:
    """``(first, [h per sample set])`` over the records ``index`` (sorted store rows, a
    split multi-allelic row repeated once per ALT) with ALTs ``alt_allele``: for each store
    chunk holding selected rows, the haplotypes (int8 (rows, 2 × samples)) of each set of
    sample positions in ``sample_sets``; ``first`` is the position in ``index`` of the
    block's first record. ``source``: a :class:`~engines._direct.DirectStore` or an xarray
    Dataset with ``call_genotype`` (and ``call_genotype_phased``). ``require_phase``: refuse
    unphased heterozygous calls (:class:`UnphasedGenotypesError`)."""
    index = np.asarray(index, dtype=np.int64)
    alt_allele = np.asarray(alt_allele, dtype=np.int64)
    sets = [np.asarray(s, dtype=np.int64) for s in sample_sets]
    if not len(index):
        return
    direct = hasattr(source, "read_chunk")
    if direct:
        step = source.chunk_rows("call_genotype")
        has_phase = source.has("call_genotype_phased")
    else:
        step = (
            int(source["call_genotype"].chunks[0][0]) if source["call_genotype"].chunks else 10_000
        )
        has_phase = "call_genotype_phased" in source
    chunk_of = index // step
    bounds = np.flatnonzero(np.diff(chunk_of)) + 1
    starts = np.concatenate([[0], bounds])
    stops = np.concatenate([bounds, [len(index)]])
    chunks = chunk_of[starts].tolist()

    def load(c: int) -> tuple[np.ndarray, np.ndarray | None]:
        if direct:
            gt = source.read_chunk("call_genotype", c)
            ph = (
                source.read_chunk("call_genotype_phased", c)
                if has_phase and require_phase
                else None
            )
            return gt, ph
        part = slice(c * step, (c + 1) * step)
        gt = np.asarray(source["call_genotype"][part].values)
        ph = (
            np.asarray(source["call_genotype_phased"][part].values)
            if has_phase and require_phase
            else None
        )
        return gt, ph

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load, chunks[0]) if chunks else None
        for i, c in enumerate(chunks):
            assert pending is not None
            gt_chunk, ph_chunk = pending.result()
            pending = pool.submit(load, chunks[i + 1]) if i + 1 < len(chunks) else None
            lo, hi = int(starts[i]), int(stops[i])
            rows = index[lo:hi]
            local = rows - c * step
            blocks = []
            alts = alt_allele[lo:hi].astype(np.int8)
            gather = _kernel()
            for samples in sets:
                if require_phase and ph_chunk is None:
                    _check_phased(gt_chunk[local[:1]][:, samples], None, rows, None, what)
                phased = ph_chunk if ph_chunk is not None else np.ones((1, 1), dtype=np.bool_)
                h, bad_row, _bad_sample = gather(
                    gt_chunk, local, samples, alts, phased, bool(require_phase)
                )
                if bad_row >= 0:  # name it (and count the others) with the numpy check
                    ids = None if sample_ids is None else np.asarray(sample_ids)[samples]
                    assert ph_chunk is not None
                    _check_phased(
                        gt_chunk[local][:, samples], ph_chunk[local][:, samples], rows, ids, what
                    )
                blocks.append(h)
            yield lo, blocks
