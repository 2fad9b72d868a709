"""The Dask engine's genotype pass: per-group allele counts, chunk by chunk.

Each variant chunk of ``call_genotype`` is reduced to five (variants, groups) integer arrays by
one matrix product with a one-hot (samples, groups) matrix; chunks run in Dask's threaded
scheduler (numpy releases the GIL) or on a Dask cluster, so memory is bounded by a few chunks
whatever the number of variants.

Counting rules (DESIGN.md "Statistics"):
- an allele is *called* when its code is >= 0 (-1 missing, -2 no allele for haploid calls);
- ``allele_count`` counts allele code 1 (the first ALT); ``allele_number`` counts called alleles,
  so a chrX male ``0/.`` or a haploid ``1`` adds one allele;
- the record of a later ALT of a multi-allelic site (split as ``bcftools norm -m-`` does)
  counts that allele's code instead: :func:`block_counts` with ``alt_allele``, on the rows'
  calls, whatever engine counted the first ALTs;
- a *called genotype* has both alleles called; ``het_count`` and ``hom_alt_count`` are among them.
"""

import numpy as np

FIELDS = ("allele_count", "allele_number", "hom_alt_count", "het_count", "called_count")


def block_counts(
    gt: np.ndarray, onehot: np.ndarray, alt_allele: "np.ndarray | int" = 1
) -> np.ndarray:
    """Counts for one block: gt int8 (variants, samples, 2), onehot (samples, groups).

    Returns int32 (variants, groups, 5) in the order of :data:`FIELDS`. ``alt_allele`` (one
    per variant, or one for all): the allele code counted as ALT; every other called allele
    counts as REF (a split record of a multi-allelic site).

    Examples
    --------
    >>> gt = np.array([[[0, 1], [1, 1], [1, -1]]], dtype=np.int8)
    >>> block_counts(gt, np.ones((3, 1), np.float32))[0, 0].tolist()
    [4, 5, 1, 1, 2]
    """
    a0 = gt[..., 0]
    a1 = gt[..., 1]
    called0 = a0 >= 0
    called1 = a1 >= 0
    alt = np.asarray(alt_allele, dtype=np.int8)
    alt = alt[:, None] if alt.ndim else alt
    n_alt = (a0 == alt).view(np.int8) + (a1 == alt).view(np.int8)
    n_called = called0.view(np.int8) + called1.view(np.int8)
    full = called0 & called1
    per_sample = (
        n_alt,
        n_called,
        full & (n_alt == 2),
        full & (n_alt == 1),
        full,
    )
    out = np.empty((gt.shape[0], onehot.shape[1], len(FIELDS)), dtype=np.int32)
    for i, values in enumerate(per_sample):
        # float32 sums of integers are exact below 2**24 (8 million diploid samples).
        out[:, :, i] = np.rint(values.astype(np.float32) @ onehot)
    return out


def _count_block(block: np.ndarray, *, group: np.ndarray, n_groups: int) -> np.ndarray:
    """One chunk through the compiled kernel. A module-level function, so a Dask cluster's
    workers import it (and the kernel's on-disk compile cache) instead of unpickling it."""
    from genshare_widgets.engines._kernels import group_counts_kernel

    return group_counts_kernel(np.ascontiguousarray(block), group, n_groups)


def group_counts(
    call_genotype, group: np.ndarray, n_groups: int, *, scheduler: str | None = None
) -> np.ndarray:
    """Per-group counts over a (variants, samples, ploidy) array (Dask or numpy) → numpy.

    ``group`` gives each sample's group index (-1: not analysed). Chunks run the compiled
    :func:`~genshare_widgets.engines._kernels.group_counts_kernel` (equal to
    :func:`block_counts`, tested) in Dask's threads, or on the Dask cluster named by
    ``scheduler`` / ``$GENSHARE_DASK_SCHEDULER`` (see
    :mod:`genshare_widgets.engines._distributed`). The samples dimension is rechunked to one
    chunk; the variants chunking of the store is kept.
    """
    import dask.array as da

    from genshare_widgets.engines._distributed import compute
    from genshare_widgets.engines._kernels import group_counts_kernel

    group = np.ascontiguousarray(group, dtype=np.int64)
    arr = call_genotype.data if hasattr(call_genotype, "data") else call_genotype
    if not isinstance(arr, da.Array):
        return group_counts_kernel(np.ascontiguousarray(arr, dtype=np.int8), group, n_groups)
    arr = arr.rechunk({1: -1, 2: -1})
    counts = arr.map_blocks(
        _count_block,
        group=group,
        n_groups=n_groups,
        dtype=np.int32,
        chunks=(arr.chunks[0], (n_groups,), (len(FIELDS),)),
    )
    return compute(counts, scheduler=scheduler)


def split_record_counts(
    gt: np.ndarray, group: np.ndarray, n_groups: int, alt_allele: np.ndarray
) -> np.ndarray:
    """int32 (records, groups, 5): counts of records whose ALT is allele ``alt_allele`` of
    their row (``gt`` int8 (records, samples, 2), the rows' calls; ``group`` per sample, -1
    left out), as :func:`block_counts` counts them."""
    group = np.asarray(group, dtype=np.int64)
    member = np.flatnonzero(group >= 0)
    onehot = np.zeros((len(group), n_groups), dtype=np.float32)
    onehot[member, group[member]] = 1
    return block_counts(np.asarray(gt), onehot, alt_allele)
