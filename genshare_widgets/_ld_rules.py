"""Release rules of LD outputs under a disclosure policy (k), beside :mod:`genshare_widgets.ld`:
which variants may enter (no genotype count in 1..k−1: an exact r² of dosages fixes each
variant's Σx², so with its released allele count the hom-ALT count) and the MAF filter run
after the rules (a filter on exact counts is an oracle for hidden ones).
"""

from typing import Any

import numpy as np


def maf_filter(counts, min_maf: float | None):
    """``counts`` with MAF (over all analysed samples, as the counting pass's filter) ≥
    ``min_maf``, the filter recorded in ``attrs["filters"]``. Under a policy it runs after the
    rare rule, on the variants it lets through only: a filter on exact counts, with the number
    of variants analysed in the provenance, would be an oracle for a hidden allele count
    (``--min-maf`` stepped over a region holding one rare variant)."""
    from genshare_widgets._selection import check_min_maf, maf_passing

    check_min_maf(min_maf)
    if min_maf is None:
        return counts
    info: dict[str, Any] = {}
    passing = maf_passing(
        np.asarray(counts["allele_count"].values),
        np.asarray(counts["allele_number"].values),
        info,
        min_maf,
    )
    filters = dict(counts.attrs.get("filters", {}))
    counts = counts.isel(variants=np.flatnonzero(passing))
    counts.attrs["filters"] = {**filters, **info}
    return counts


def small_rows(counts, k: int, group: int | None = None) -> np.ndarray:
    """bool per variant of ``counts``: a genotype count in 1..k−1 (over ``group``'s column,
    or all groups summed)."""
    from genshare_widgets.stats._ld import small_genotype_row

    def part(name: str) -> np.ndarray:
        values = np.asarray(counts[name].values, dtype=np.int64)
        return values.sum(axis=1) if group is None else values[:, group]

    sizes = np.asarray(counts["group_n_samples"].values, dtype=np.int64)
    size = sizes.sum() if group is None else sizes[group]
    called = part("called_count")
    return small_genotype_row(
        np.full(called.shape, size), called, part("het_count"), part("hom_alt_count"), k
    )
