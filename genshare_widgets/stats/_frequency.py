"""Allele frequencies per group."""

import pandas as pd

from genshare_widgets.stats._hudson import frequencies


def allele_frequency(counts):  # -> xarray.DataArray (variants, groups)
    """ALT allele frequency per variant and group: ``allele_count / allele_number``.

    Missing calls are excluded from the denominator; a group with no called allele at a
    variant gets NaN.

    Examples
    --------
    >>> af = allele_frequency(counts)  # doctest: +SKIP
    >>> float(af.sel(groups="YRI")[0])  # doctest: +SKIP
    0.0324
    """
    af = counts["allele_count"].copy(
        data=frequencies(counts["allele_count"].values, counts["allele_number"].values)
    )
    af.name = "allele_frequency"
    return af


def frequency_table(counts) -> pd.DataFrame:
    """The ``freq.tsv`` table: contig, position, ref, alt, then ``<group>_ac/_an/_af``."""
    table = pd.DataFrame(
        {
            "contig": counts["variant_contig"].values,
            "position": counts["variant_position"].values,
            "ref": counts["variant_ref"].values,
            "alt": counts["variant_alt"].values,
        }
    )
    af = allele_frequency(counts).values
    for j, group in enumerate(counts["groups"].values):
        table[f"{group}_ac"] = counts["allele_count"].values[:, j]
        table[f"{group}_an"] = counts["allele_number"].values[:, j]
        table[f"{group}_af"] = af[:, j]
    return table
