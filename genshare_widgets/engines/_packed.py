"""Bit-plane genotypes: the store's compact copy of diploid calls for the counting hot path.

At ingest every diploid chunk of ``call_genotype`` is also written as
``call_genotype_bitplanes`` (uint64, variants × 2 × ceil(samples / 64)): sample ``s`` is bit
``s % 64`` of word ``s // 64`` in two planes,

=========  ===========  ===========
call       plane 0 (lo)  plane 1 (hi)
=========  ===========  ===========
0/0        0             0
0/1, 1/0   1             0
1/1        0             1
./.        1             1
=========  ===========  ===========

— PLINK 2's two bits per call, laid out so that counts for a group of samples are popcounts of
``plane & group mask`` (see :func:`engines._direct.bitplane_group_counts`): 8 times fewer
bytes to read than ``call_genotype`` and no per-sample loop. A variant is *packable*
(``variant_genotype_packable``) when every call is one of the four above; other variants
(haploid or half-missing calls, alleles ≥ 2) have all-zero planes and are counted from
``call_genotype``. The kernel here (numba, used at ingest) equals a numpy reference in tests.
"""

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def pack_diploid_planes(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 (variants, samples, 2) → (uint64 (variants, 2, words), bool (variants,))."""
    n_var, n_samp = gt.shape[0], gt.shape[1]
    planes = np.zeros((n_var, 2, (n_samp + 63) // 64), dtype=np.uint64)
    packable = np.ones(n_var, dtype=np.bool_)
    one = np.uint64(1)
    for v in range(n_var):
        for s in range(n_samp):
            a = gt[v, s, 0]
            b = gt[v, s, 1]
            bit = one << np.uint64(s & 63)
            w = s >> 6
            if 0 <= a <= 1 and 0 <= b <= 1:
                n_alt = a + b
                if n_alt == 1:
                    planes[v, 0, w] |= bit
                elif n_alt == 2:
                    planes[v, 1, w] |= bit
            elif a == -1 and b == -1:
                planes[v, 0, w] |= bit
                planes[v, 1, w] |= bit
            else:
                packable[v] = False
                break
        if not packable[v]:
            planes[v, :, :] = 0
    return planes, packable
