"""Heterozygosity per group."""

import numpy as np
import pandas as pd


def observed_heterozygosity(counts) -> np.ndarray:
    """Per group: mean over variants with a called genotype of het / called genotypes (NaN
    for a group with none); the ``observed_het`` of :func:`heterozygosity`."""
    het = counts["het_count"].values
    called = counts["called_count"].values
    out = np.full(called.shape[1], np.nan)
    for j in range(called.shape[1]):  # a group's column, then only its defined rows as float
        ok = called[:, j] > 0
        if ok.any():
            out[j] = (het[:, j][ok].astype(np.float64) / called[:, j][ok].astype(np.float64)).mean()
    return out


def heterozygosity(counts) -> pd.DataFrame:
    """Observed and expected (unbiased) heterozygosity per group.

    - ``observed_het``: mean over variants (with at least one called genotype in the group) of
      heterozygous / called genotypes (both alleles called; haploid and half-missing calls are
      not genotypes here);
    - ``expected_het``: mean over variants with allele number n >= 2 of
      ``2 p (1 - p) n / (n - 1)``;
    - ``n_variants``: variants entering the expected value.

    Examples
    --------
    >>> heterozygosity(counts)  # doctest: +SKIP
      group  n_samples  observed_het  expected_het  n_variants
    """
    ac = counts["allele_count"].values
    an = counts["allele_number"].values
    observed_het = observed_heterozygosity(counts)
    rows = []
    for j, group in enumerate(counts["groups"].values):
        observed = observed_het[j]
        ok = an[:, j] >= 2
        n = an[:, j][ok].astype(np.float64)
        p = ac[:, j][ok].astype(np.float64) / n
        expected = (2 * p * (1 - p) * n / (n - 1)).mean() if ok.any() else np.nan
        rows.append(
            {
                "group": str(group),
                "n_samples": int(counts["group_n_samples"].values[j]),
                "observed_het": observed,
                "expected_het": expected,
                "n_variants": int(ok.sum()),
            }
        )
    return pd.DataFrame(rows)
