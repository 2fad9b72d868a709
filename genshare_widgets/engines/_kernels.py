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
