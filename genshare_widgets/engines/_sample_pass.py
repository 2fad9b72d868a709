"""The Dask engine's per-sample passes: heterozygosity/missingness and the PCA Gram matrix.

Both reduce each variant chunk to a small per-sample array and add the chunks up, so memory
stays bounded by a few chunks of genotypes plus a (samples, samples) matrix for PCA. Each pass
takes ``scheduler``: None (``$GENSHARE_DASK_SCHEDULER`` or Dask's local threads), a local
scheduler name, or a Dask cluster address (see :mod:`genshare_widgets.engines._distributed`).
"""

import numpy as np

SAMPLE_FIELDS = ("n_called", "n_het", "n_missing", "n_partial")


def sample_block_counts(gt: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Per-sample counts over one block of variants → int64 (1, samples, 4).

    ``n_called``: both alleles called; ``n_het``: called and heterozygous (two different allele
    codes); ``n_missing``: no allele called; ``n_partial``: one allele called (haploid calls and
    ``0/.``).
    """
    if keep is not None:  # (variants,) rows that count
        gt = gt[np.asarray(keep).reshape(-1)]
    a0, a1 = gt[..., 0], gt[..., 1]
    c0, c1 = a0 >= 0, a1 >= 0
    called = c0 & c1
    out = np.empty((1, gt.shape[1], len(SAMPLE_FIELDS)), dtype=np.int64)
    out[0, :, 0] = called.sum(axis=0)
    out[0, :, 1] = (called & (a0 != a1)).sum(axis=0)
    out[0, :, 2] = (~c0 & ~c1).sum(axis=0)
    out[0, :, 3] = (c0 ^ c1).sum(axis=0)
    return out


def sample_counts(call_genotype, keep: np.ndarray, *, scheduler: str | None = None) -> np.ndarray:
    """Sum :func:`sample_block_counts` over the variant chunks (rows where ``keep``)."""
    import dask.array as da

    from genshare_widgets.engines._distributed import compute

    arr = call_genotype.data if hasattr(call_genotype, "data") else call_genotype
    if not isinstance(arr, da.Array):
        return sample_block_counts(np.asarray(arr), keep)[0]
    arr = arr.rechunk({1: -1, 2: -1})
    keep_da = da.from_array(np.asarray(keep, dtype=bool), chunks=(arr.chunks[0],))
    blocks = da.map_blocks(
        sample_block_counts,
        arr,
        keep_da[:, None, None],
        dtype=np.int64,
        chunks=((1,) * arr.numblocks[0], (arr.shape[1],), (len(SAMPLE_FIELDS),)),
    )
    return compute(blocks.sum(axis=0), scheduler=scheduler)


def standardized_block(gt: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Patterson et al. (2006) standardisation of one block → float64 (variants, samples).

    ``(g - 2p) / sqrt(p (1 - p))`` with g the ALT dosage of a fully called genotype; genotypes
    with a missing allele get 0 (the mean). Variants whose p is NaN (not in the analysis) are
    left out: the result has one row per variant with a finite p.
    """
    used = ~np.isnan(p)
    if not used.all():  # drop rows outside the analysis before any arithmetic
        gt, p = gt[used], p[used]
    a0, a1 = gt[..., 0], gt[..., 1]
    called = (a0 >= 0) & (a1 >= 0)
    p64 = np.asarray(p, dtype=np.float64)[:, None]
    x = (a0 == 1).astype(np.float64)  # in place from here on: one float array per block
    x += a1 == 1
    x -= 2 * p64
    x /= np.sqrt(p64 * (1 - p64))
    x[~called] = 0.0
    return x


def _standardized_reduction(
    gt: np.ndarray, pb: np.ndarray, *, block_fn, shape: tuple[int, ...]
) -> np.ndarray:
    """``block_fn`` of one standardised chunk, as a (1, *shape) float64 block (module level, so
    a Dask cluster's workers import it rather than unpickle it)."""
    x = standardized_block(gt, pb.reshape(-1))
    return np.asarray(block_fn(x), dtype=np.float64).reshape((1, *shape))


def reduce_standardized(
    call_genotype,
    p: np.ndarray,
    block_fn,
    shape: tuple[int, ...],
    *,
    scheduler: str | None = None,
):
    """Σ over variant chunks of ``block_fn(X_c)``, X_c the standardised chunk (variants × samples).

    The one streaming mechanism behind the PCA passes: ``block_fn`` maps a float64 chunk to a
    float64 array of ``shape`` (e.g. Xᵀ X, Xᵀ X q, or the sum of squares). Rows whose ``p`` is
    NaN are not in the analysis. Chunks run in Dask's threads or on a Dask cluster
    (``scheduler``); memory stays at a few chunks. The chunk results are added by Dask's
    reduction tree, which is fixed by the chunking (not by which worker finishes first), so
    the sum is the same whatever the number of threads or workers. ``block_fn`` travels to
    the cluster's workers by pickle: a module-level function or a lambda of numpy code.
    """
    import dask.array as da

    from genshare_widgets.engines._distributed import compute

    arr = call_genotype.data if hasattr(call_genotype, "data") else call_genotype
    if not isinstance(arr, da.Array):
        arr = da.from_array(np.asarray(arr), chunks=(10_000, -1, -1))
    arr = arr.rechunk({1: -1, 2: -1})
    p_blocks = da.from_array(np.asarray(p, dtype=np.float64), chunks=(arr.chunks[0],))

    blocks = da.map_blocks(
        _standardized_reduction,
        arr,
        p_blocks[(slice(None),) + (None,) * (arr.ndim - 1)],
        dtype=np.float64,
        chunks=((1,) * arr.numblocks[0], *((n,) for n in shape)),
        new_axis=list(range(arr.ndim, 1 + len(shape))) if len(shape) + 1 > arr.ndim else None,
        drop_axis=list(range(1 + len(shape), arr.ndim)) if len(shape) + 1 < arr.ndim else None,
        block_fn=block_fn,
        shape=shape,
    )
    return compute(blocks.sum(axis=0), scheduler=scheduler)


def _upper_gram(x: np.ndarray) -> np.ndarray:
    """xᵀ x of one float64 block, upper triangle only (float64 BLAS ``dsyrk``)."""
    from scipy.linalg.blas import dsyrk

    return dsyrk(1.0, np.asarray(x, dtype=np.float64), trans=1)
