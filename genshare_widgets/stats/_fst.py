"""Hudson Fst (Bhatia, Patterson, Sankararaman & Price 2013, Genome Res. 23:1514, eq. 10).

Per variant, with sample allele frequencies p1, p2 from n1, n2 called alleles::

    N = (p1 - p2)**2 - p1 (1 - p1) / (n1 - 1) - p2 (1 - p2) / (n2 - 1)
    D = p1 (1 - p2) + p2 (1 - p1)

The genome-wide (or window) value is the ratio of averages, sum(N) / sum(D), over variants
with D > 0 and n1, n2 >= 2 (the estimator is undefined otherwise). This is also what
``plink2 --fst ... method=hudson`` reports.
"""

from itertools import combinations

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError
from genshare_widgets.stats._hudson import hudson_ratio_of_averages, hudson_terms


def _group_index(counts, group: str) -> int:
    groups = [str(g) for g in counts["groups"].values]
    if group not in groups:
        raise GenShareError(f"no group {group!r}; groups are {groups}")
    return groups.index(group)


def hudson_fst_per_variant(counts, pop1: str, pop2: str) -> pd.DataFrame:
    """Per-variant numerator, denominator and ratio (NaN where undefined) for one pair.

    Examples
    --------
    >>> hudson_fst_per_variant(counts, "CEU", "YRI").head()  # doctest: +SKIP
    """
    i, j = _group_index(counts, pop1), _group_index(counts, pop2)
    ac, an = counts["allele_count"].values, counts["allele_number"].values
    num, den, _ok = hudson_terms(ac[:, i], an[:, i], ac[:, j], an[:, j])
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = num / den
    return pd.DataFrame(
        {
            "contig": counts["variant_contig"].values,
            "position": counts["variant_position"].values,
            "numerator": num,
            "denominator": den,
            "hudson_fst": ratio,
        }
    )


def hudson_fst(counts, *, pairs: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Genome-wide Hudson Fst for every unordered pair of groups (``pop1 < pop2``).

    Columns: ``pop1, pop2, hudson_fst, n_variants`` (variants with a defined estimator).

    Examples
    --------
    >>> hudson_fst(counts)  # doctest: +SKIP
      pop1 pop2  hudson_fst  n_variants
    0  CEU  CHB      0.1102        9321
    """
    groups = sorted(str(g) for g in counts["groups"].values)
    wanted = pairs or list(combinations(groups, 2))
    ac, an = counts["allele_count"].values, counts["allele_number"].values
    rows = []
    for a, b in wanted:
        a, b = sorted((a, b))
        i, j = _group_index(counts, a), _group_index(counts, b)
        value, n = hudson_ratio_of_averages(ac[:, i], an[:, i], ac[:, j], an[:, j])
        rows.append({"pop1": a, "pop2": b, "hudson_fst": value, "n_variants": n})
    return pd.DataFrame(rows, columns=["pop1", "pop2", "hudson_fst", "n_variants"])


def hudson_fst_matrix(counts) -> pd.DataFrame:
    """Symmetric groups × groups matrix of genome-wide Hudson Fst (0 on the diagonal)."""
    groups = sorted(str(g) for g in counts["groups"].values)
    matrix = pd.DataFrame(0.0, index=groups, columns=groups)
    for row in hudson_fst(counts).itertuples():
        matrix.loc[row.pop1, row.pop2] = matrix.loc[row.pop2, row.pop1] = row.hudson_fst
    return matrix


def hudson_fst_windows(
    counts, pop1: str, pop2: str, *, size: int = 100_000, step: int | None = None
) -> pd.DataFrame:
    """Hudson Fst in windows along each contig (ratio of averages inside each window).

    Windows are ``[start, start + size)`` in base pairs, starting at 1 and advancing by
    ``step`` (default: ``size``, non-overlapping). Columns: ``contig, start, end, n_variants,
    hudson_fst`` (NaN for windows without a defined variant).
    """
    if size <= 0 or (step is not None and step <= 0):
        raise GenShareError("window size and step must be positive")
    step = step or size
    per = hudson_fst_per_variant(counts, pop1, pop2)
    rows = []
    for contig, part in per.groupby("contig", sort=False):
        pos = part["position"].to_numpy()
        num = part["numerator"].to_numpy()
        den = part["denominator"].to_numpy()
        defined = ~np.isnan(den)
        csum_num = np.concatenate([[0.0], np.cumsum(np.where(defined, num, 0.0))])
        csum_den = np.concatenate([[0.0], np.cumsum(np.where(defined, den, 0.0))])
        csum_n = np.concatenate([[0], np.cumsum(defined)])
        last = int(pos.max()) if len(pos) else 0
        for start in range(1, last + 1, step):
            end = start + size
            lo, hi = np.searchsorted(pos, start), np.searchsorted(pos, end)
            n = int(csum_n[hi] - csum_n[lo])
            d = csum_den[hi] - csum_den[lo]
            value = (csum_num[hi] - csum_num[lo]) / d if n and d > 0 else np.nan
            rows.append(
                {
                    "contig": contig,
                    "start": start,
                    "end": end - 1,
                    "n_variants": n,
                    "hudson_fst": value,
                }
            )
    return pd.DataFrame(rows, columns=["contig", "start", "end", "n_variants", "hudson_fst"])
