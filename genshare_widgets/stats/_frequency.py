"""Allele frequencies per group."""

from typing import TYPE_CHECKING

import numpy as np

from genshare_widgets.stats._hudson import frequencies

if TYPE_CHECKING:  # pandas loads inside frequency_table (the CLI streams freq.tsv without it)
    import pandas as pd


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


def frequency_columns(counts) -> dict[str, np.ndarray]:
    """The ``freq.tsv`` columns of ``counts`` in file order: contig, position, ref, alt, then
    ``<group>_ac``, ``<group>_an``, ``<group>_af`` per group (AF NaN where AN is 0).

    The one definition of the table: :func:`frequency_table` is these columns as a DataFrame,
    and ``genshare stats`` writes them block by block from a slice of the variants
    (:func:`genshare_widgets._outputs.write_freq_tsv`)."""
    ac = counts["allele_count"].values
    an = counts["allele_number"].values
    af = frequencies(ac, an)
    columns: dict[str, np.ndarray] = {
        "contig": counts["variant_contig"].values,
        "position": counts["variant_position"].values,
        "ref": counts["variant_ref"].values,
        "alt": counts["variant_alt"].values,
    }
    for j, group in enumerate(counts["groups"].values):
        columns[f"{group}_ac"] = ac[:, j]
        columns[f"{group}_an"] = an[:, j]
        columns[f"{group}_af"] = af[:, j]
    return columns


def frequency_table(counts) -> "pd.DataFrame":
    """The ``freq.tsv`` table: contig, position, ref, alt, then ``<group>_ac/_an/_af``
    (:func:`frequency_columns` as a DataFrame)."""
    import pandas as pd

    return pd.DataFrame(frequency_columns(counts))
