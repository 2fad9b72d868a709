"""The compact allele table: how many alleles each variant has and whether it is an SNV.

Ingest (format 4, :class:`~genshare_widgets.engines._zarr_writer.VcfZarrWriter`) stores two
per-variant arrays beside ``variant_allele``, chunked like the other variant arrays:

- ``variant_n_alleles`` (uint8, int16 when a record has more than 255 alleles): the number of
  non-empty entries of the variant's ``variant_allele`` row (REF included);
- ``variant_snv`` (bool): REF and every ALT is one base among A, C, G, T (compared after
  upper-casing) and there is at least one ALT.

so the biallelic and SNP masks of a selection are vectorised over two small arrays instead of
per-variant strings. For a biallelic variant, ``variant_snv`` is exactly the ``snps_only`` rule
of :func:`genshare_widgets.counts.select_variants` (REF and ALT upper-cased among A, C, G, T).
Stores without them (older GenShare stores, vcf2zarr/bio2zarr stores, remote stores) get the
same values computed from ``variant_allele`` by :func:`allele_flags`.
"""

from typing import Any

import numpy as np

N_ALLELES_ARRAY = "variant_n_alleles"
SNV_ARRAY = "variant_snv"
_SNV_BASES = frozenset("ACGTacgt")
_UPPER_BASES = frozenset("ACGT")


def _column_strings(column: np.ndarray) -> list[str]:
    """The entries of one allele column as Python ``str`` (bytes decoded, None → "")."""
    out = column.tolist()
    if set(map(type, out)) - {str}:
        out = [v.decode() if isinstance(v, bytes) else ("" if v is None else str(v)) for v in out]
    return out


def flags_from_alleles(alleles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n_alleles, is_snv)`` of every row of an allele table (variants, width), "" pads.

    ``alleles`` may be fixed-width unicode, numpy StringDType or object strings. A value is a
    base when ``value.upper()`` is one of A, C, G, T, as ``np.char.upper`` decides it; only
    one-character values can be (upper-casing never shortens a string), so the common ones are
    looked up in a set and the rare other one-character values are upper-cased one by one.
    """
    alleles = np.asarray(alleles)
    if alleles.ndim != 2:
        raise ValueError(f"allele table must be 2-D (variants, alleles), not {alleles.shape}")
    n, width = alleles.shape
    dtype = np.uint8 if width <= 255 else np.int16
    counts = np.zeros(n, dtype=np.int64)
    is_snv = np.ones(n, dtype=bool) if width >= 2 else np.zeros(n, dtype=bool)
    is_base = _SNV_BASES.__contains__
    for j in range(width):
        column = _column_strings(alleles[:, j])
        present = np.fromiter(map(bool, column), dtype=bool, count=n)
        counts += present
        single_base = np.fromiter(map(is_base, column), dtype=bool, count=n)
        one_char = np.fromiter(map(len, column), dtype=np.int64, count=n) == 1
        for i in np.flatnonzero(one_char & ~single_base).tolist():  # e.g. "N", "*", odd case
            single_base[i] = column[i].upper() in _UPPER_BASES
        if j < 2:  # REF and the first ALT must be bases
            is_snv &= single_base
        else:  # further slots: empty padding or a base
            is_snv &= single_base | ~present
    return counts.astype(dtype), is_snv


def _read(source: Any, name: str) -> np.ndarray | None:
    """Array ``name`` of a DirectStore, xarray Dataset, zarr group or mapping (None if absent)."""
    has = getattr(source, "has", None)
    if callable(has) and hasattr(source, "read_chunk"):  # engines._direct.DirectStore
        return np.asarray(source.read(name)) if has(name) else None
    try:
        present = name in source
    except TypeError:
        return None
    if not present:
        return None
    values = source[name]
    values = getattr(values, "values", values)  # xarray DataArray
    return np.asarray(values[...] if hasattr(values, "chunks") else values)


def allele_flags(source: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(n_alleles, is_snv)`` for every variant of a store.

    ``source`` is a :class:`~genshare_widgets.engines._direct.DirectStore`, an xarray Dataset
    (``Cohort.genotypes``), an open zarr group, or a local store path. Reads ``variant_n_alleles``
    and ``variant_snv`` when the store has them, else computes both from ``variant_allele``
    (:func:`flags_from_alleles`): the results are the same either way.

    Examples
    --------
    >>> n_alleles, is_snv = allele_flags(cohort.genotypes)  # doctest: +SKIP
    >>> biallelic_snps = (n_alleles == 2) & is_snv  # doctest: +SKIP
    """
    if isinstance(source, str) or hasattr(source, "__fspath__"):
        import zarr

        source = zarr.open_group(str(source), mode="r", zarr_format=2)
    n_alleles = _read(source, N_ALLELES_ARRAY)
    is_snv = _read(source, SNV_ARRAY)
    if n_alleles is not None and is_snv is not None:
        return n_alleles, is_snv.astype(bool, copy=False)
    alleles = _read(source, "variant_allele")
    if alleles is None:
        raise KeyError("the store has no variant_allele array")
    return flags_from_alleles(alleles)
