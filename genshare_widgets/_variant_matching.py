"""Where a reference's variants are in a cohort: the genotype source of the projection passes,
the cohort's biallelic records, and allele matching by (contig, position, ref, alt) or rsID
with swapped alleles flipped and strand-ambiguous SNPs dropped (see
:mod:`genshare_widgets.projection`, which re-exports :func:`match_variants` and
:func:`cohort_variants`)."""

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError

if TYPE_CHECKING:
    from genshare_widgets._pca_reference import PCAReference

_AMBIGUOUS = {("A", "T"), ("T", "A"), ("C", "G"), ("G", "C")}


def _direct(cohort):
    from genshare_widgets.counts import _direct_store

    return _direct_store(cohort)


def _source(cohort) -> dict[str, Any]:
    """Where the genotype passes read: the local store's bit planes, else call_genotype."""
    if getattr(cohort, "engine", "dask") != "dask":
        raise GenShareError(
            "reference PCA and projection read genotypes with the Dask engine; open the cohort "
            "with engine='dask' (the default)"
        )
    store = _direct(cohort)
    if store is not None:
        return {"store": store}
    return {"call_genotype": cohort.genotypes["call_genotype"]}


def _blocks(cohort, rows: np.ndarray, p: np.ndarray | None = None):
    """Dosage blocks (``p`` None) or standardised blocks of ``cohort``'s store ``rows``
    (:mod:`genshare_widgets.engines._projection_pass`)."""
    from genshare_widgets.engines import _projection_pass as engine

    source = _source(cohort)
    if p is None:
        return engine.dosage_blocks(rows, **source)
    return engine.standardized_blocks(rows, p, **source)


def cohort_variants(
    cohort, *, positions: np.ndarray | None = None, ids: bool = True
) -> pd.DataFrame:
    """The cohort's biallelic records: ``row`` (store row), contig, position, ref, alt, id
    (rsID or ``""``; all ``""`` when not ``ids``: not read); with ``positions``, only the
    records at those positions (the alleles of the others are never decoded)."""
    from genshare_widgets._selection import allele_counts_per_record, fixed_strings
    from genshare_widgets.engines._direct import UnsupportedStoreError

    missing_array = (KeyError, FileNotFoundError, GenShareError, UnsupportedStoreError)
    store = _direct(cohort)
    if store is not None:
        read = store.read
    else:
        ds = cohort.genotypes

        def read(name):
            return ds[name].values

    position = np.asarray(read("variant_position")).astype(np.int64)
    rows = np.arange(len(position))
    if positions is not None:
        rows = np.flatnonzero(np.isin(position, np.asarray(positions, dtype=np.int64)))
    alleles = fixed_strings(np.asarray(read("variant_allele"))[rows])
    biallelic = rows[allele_counts_per_record(alleles) == 2]
    alleles = alleles[allele_counts_per_record(alleles) == 2]
    contigs = fixed_strings(read("contig_id"))[np.asarray(read("variant_contig"))[biallelic]]
    names = np.full(len(biallelic), "", dtype=object)
    if ids:
        try:
            names = fixed_strings(np.asarray(read("variant_id"))[biallelic])
            with contextlib.suppress(*missing_array):
                names = np.where(np.asarray(read("variant_id_mask"))[biallelic], "", names)
        except missing_array:
            names = np.full(len(biallelic), "", dtype=object)
        names = np.where(np.isin(names, [".", ""]), "", names)
    return pd.DataFrame(
        {
            "row": biallelic.astype(np.int64),
            "contig": contigs.astype(str),
            "position": position[biallelic],
            "ref": alleles[:, 0],
            "alt": alleles[:, 1],
            "id": names.astype(str),
        }
    )


def _strip_chr(values) -> np.ndarray:
    """Contig names without a ``chr`` prefix (compared per distinct name: few of them)."""
    names, codes = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    plain = np.array([n[3:] if n.lower().startswith("chr") else n for n in names], dtype=object)
    return plain[codes]


@dataclass
class VariantMatch:
    """Where each reference variant is in a cohort: ``rows`` (store row, -1 not found) and
    ``flipped`` (REF/ALT swapped), with the ``report`` counts."""

    rows: np.ndarray
    flipped: np.ndarray
    report: dict[str, Any]


def match_variants(
    reference: "PCAReference | pd.DataFrame",
    target: pd.DataFrame,
    *,
    match_by: str = "position",
    drop_ambiguous: bool = True,
) -> VariantMatch:
    """Match reference variants (a reference, or its ``variants`` table) to a cohort's
    biallelic records (:func:`cohort_variants`).

    ``match_by``: ``"position"`` (contig, position, ref, alt; contig with or without
    ``chr``) or ``"rsid"`` (the rsID, then the alleles). A record with REF and ALT swapped
    is flipped; other allele disagreements are not matched (``allele_mismatch``); A/T and
    C/G SNPs are dropped when ``drop_ambiguous``.

    Examples
    --------
    >>> m = match_variants(ref, cohort_variants(cohort))  # doctest: +SKIP
    >>> m.report["matched"], m.report["flipped"]  # doctest: +SKIP
    (3811, 0)
    """
    if match_by not in ("position", "rsid"):
        raise GenShareError(f"match_by must be 'position' or 'rsid', not {match_by!r}")
    table: pd.DataFrame = getattr(reference, "variants", reference)
    ref = table.reset_index(drop=True)
    if "id" not in ref.columns:
        ref = ref.assign(id="")
    m = len(ref)
    left = pd.DataFrame({"i": np.arange(m), "ra": ref["ref"].values, "aa": ref["alt"].values})
    right = pd.DataFrame(
        {"row": target["row"].values, "rb": target["ref"].values, "ab": target["alt"].values}
    )
    if match_by == "position":
        left["k1"], left["k2"] = _strip_chr(ref["contig"]), ref["position"].to_numpy(np.int64)
        right["k1"] = _strip_chr(target["contig"])
        right["k2"] = target["position"].to_numpy(np.int64)
        keys = ["k1", "k2"]
    else:
        left["k1"], right["k1"] = ref["id"].values, target["id"].values
        left, right = left[left["k1"] != ""], right[right["k1"] != ""]
        keys = ["k1"]
    pairs = left.merge(right, on=keys, how="inner")
    same = (pairs["ra"] == pairs["rb"]) & (pairs["aa"] == pairs["ab"])
    swap = (pairs["ra"] == pairs["ab"]) & (pairs["aa"] == pairs["rb"])
    at_site = np.zeros(m, dtype=bool)
    at_site[pairs["i"].to_numpy()] = True
    pairs = pairs[same | swap].assign(flip=swap[same | swap] & ~same[same | swap])
    pairs = pairs.drop_duplicates("i", keep="first")  # one record per reference variant
    rows = np.full(m, -1, dtype=np.int64)
    flipped = np.zeros(m, dtype=bool)
    rows[pairs["i"].to_numpy()] = pairs["row"].to_numpy()
    flipped[pairs["i"].to_numpy()] = pairs["flip"].to_numpy()
    pair = ref["ref"].astype(str) + "/" + ref["alt"].astype(str)
    ambiguous = pair.isin([f"{a}/{b}" for a, b in _AMBIGUOUS]).to_numpy()
    dropped = ambiguous & (rows >= 0) & drop_ambiguous
    rows[dropped] = -1
    flipped[dropped] = False
    found = rows >= 0
    report = {
        "match_by": match_by,
        "reference_variants": m,
        "matched": int(found.sum()),
        "flipped": int(flipped.sum()),
        "ambiguous_dropped": int(dropped.sum()),
        "allele_mismatch": int((at_site & ~found & ~dropped).sum()),
        "missing_in_target": int((~at_site).sum()),
    }
    return VariantMatch(rows=rows, flipped=flipped, report=report)
