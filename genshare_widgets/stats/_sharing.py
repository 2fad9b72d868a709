"""Shared versus private variants across groups."""

import numpy as np
import pandas as pd


def shared_private(counts) -> pd.DataFrame:
    """Variants per exact combination of groups in which the ALT allele is present (AC > 0).

    Columns ``groups`` (names joined by ``+``, sorted) and ``n_variants``; a single name is a
    private variant. Variants with ALT count 0 everywhere are not listed (their number is in
    ``attrs["n_absent"]``).

    Examples
    --------
    >>> shared_private(counts)  # doctest: +SKIP
             groups  n_variants
    0           YRI       20112
    """
    return shared_private_from_presence(
        counts["allele_count"].values > 0, [str(g) for g in counts["groups"].values]
    )


def shared_private_from_presence(present: np.ndarray, groups: list[str]) -> pd.DataFrame:
    """:func:`shared_private` from a (variants, groups) presence matrix (the disclosure room
    derives presence from a release, where a suppressed count is present but not shown)."""
    order = np.argsort(groups)
    weights = 1 << np.arange(len(groups), dtype=np.int64)
    keys = present[:, order].astype(np.int64) @ weights
    values, n = np.unique(keys[keys > 0], return_counts=True)
    names = [groups[k] for k in order]
    rows = [
        {
            "groups": "+".join(name for b, name in enumerate(names) if key >> b & 1),
            "n_variants": int(c),
        }
        for key, c in zip(values, n, strict=True)
    ]
    table = pd.DataFrame(rows, columns=["groups", "n_variants"])
    table = table.sort_values(["n_variants", "groups"], ascending=[False, True], ignore_index=True)
    table.attrs["n_absent"] = int((keys == 0).sum())
    return table
