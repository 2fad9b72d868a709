"""The Hail engine: a cohort as a lazy Hail MatrixTable, and its genotype passes.

Opening (:func:`open_matrix_table`) reads a MatrixTable (one converted by
:mod:`genshare_widgets.engines._hail_store`, or any with a ``GT`` call entry, a ``locus`` /
``alleles`` row key and a string column key ``s``) and annotates the columns with the sample
table. The passes return the same numbers as the Dask engine's:

- :func:`group_counts` → per variant and group: ALT allele count, allele number (called
  alleles; a haploid call adds one), homozygous-ALT, heterozygous and called (diploid, both
  alleles) genotypes; one ``hl.agg.group_by`` over a per-sample group index;
- :func:`sample_counts` → per sample: called, heterozygous, missing and partial (haploid) calls;
- :func:`gram_matrix` → Σ XᵀX of the Patterson-standardised genotypes (a Hail BlockMatrix
  product), from which :func:`genshare_widgets.samples.pca` takes the eigenvectors.

Variant selection follows the :class:`~genshare_widgets._selection.Selection` handed down
(as :func:`genshare_widgets._selection.select_variants` does for the other engines): region,
then records with two alleles or more (PLINK's ``0`` "no allele" does not count as an
allele), a multi-allelic one split into one biallelic record per ALT allele as ``bcftools norm
-m-`` does (``explode_rows`` over the ALT indices; ``biallelic_only`` excludes them instead),
then ``snps_only`` per record. ``variant_index`` is the row's index in the MatrixTable and
``alt_allele`` the record's ALT index in the row.
"""

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from genshare_widgets._errors import InputFormatError
from genshare_widgets._selection import Selection, contig_code, parse_region
from genshare_widgets.engines._group_counts import FIELDS
from genshare_widgets.engines._hail_session import hail_session, session_tmp_dir
from genshare_widgets.engines._sample_pass import SAMPLE_FIELDS

_INDEX = "genshare_variant_index"
_BASES = ["A", "C", "G", "T"]


class SelectedCounts(NamedTuple):
    """Group counts of the selected variants, in MatrixTable row order."""

    raw: np.ndarray  # int32 (variants, groups, len(FIELDS))
    variant_index: np.ndarray  # int64 row index in the MatrixTable
    alt_allele: np.ndarray  # int16 ALT allele index of each record in its row (1 = first)
    info: dict[str, Any]
    contig: np.ndarray  # fixed-width str
    position: np.ndarray  # int64
    ref: np.ndarray  # fixed-width str
    alt: np.ndarray  # fixed-width str


def open_matrix_table(path: str | Path, samples: pd.DataFrame | None = None):  # -> hl.MatrixTable
    """Read a MatrixTable lazily; annotate its columns with ``samples`` (indexed by sample id).

    Sample columns become column fields named ``sample_<column>`` (as in the Dask dataset).

    Examples
    --------
    >>> mt = open_matrix_table(Path("cohort.mt"))  # doctest: +SKIP
    >>> mt.GT.dtype  # doctest: +SKIP
    dtype('call')
    """
    hl = hail_session()
    try:
        mt = hl.read_matrix_table(str(path))
    except Exception as exc:
        remote = str(path).split("://", 1)[0] if "://" in str(path) else None
        hint = (
            f" Hail from PyPI reads local files only: {remote}:// needs a Hail cluster with "
            "that storage connector (e.g. Google Dataproc started with 'hailctl dataproc "
            "start'); see README, Engines."
            if remote
            else " Is it a complete MatrixTable folder (metadata.json.gz, rows/, cols/, entries/)?"
        )
        raise InputFormatError(
            f"{path}: Hail cannot read this MatrixTable ({str(exc).splitlines()[0]}).{hint}"
        ) from None
    problems = []
    if "GT" not in mt.entry or mt.GT.dtype != hl.tcall:
        problems.append("an entry field GT of type call")
    if list(mt.row_key) != ["locus", "alleles"] or not isinstance(mt.locus.dtype, hl.tlocus):
        problems.append("the row key (locus: locus<...>, alleles: array<str>)")
    if list(mt.col_key) != ["s"] or mt.s.dtype != hl.tstr:
        problems.append("the column key s: str (sample ids)")
    if problems:
        raise InputFormatError(
            f"{path}: a GenShare cohort MatrixTable needs {', '.join(problems)}; this one has "
            f"row key {list(mt.row_key)}, column key {list(mt.col_key)}, entries "
            f"{list(mt.entry)}. Re-key it in Hail or open the VCF instead."
        )
    if samples is not None and len(samples.columns):
        mt = mt.annotate_cols(**_sample_fields(hl, mt, samples))
    return mt


def _sample_fields(hl, mt, samples: pd.DataFrame) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for col in samples.columns:
        name = "sample_" + "".join(ch if ch.isalnum() else "_" for ch in str(col).lower())
        values = samples[col]
        mapping: dict[str, Any]
        if pd.api.types.is_numeric_dtype(values):
            mapping = {str(k): (None if pd.isna(v) else float(v)) for k, v in values.items()}
            dtype = hl.tdict(hl.tstr, hl.tfloat64)
        else:
            mapping = {str(k): (None if pd.isna(v) else str(v)) for k, v in values.items()}
            dtype = hl.tdict(hl.tstr, hl.tstr)
        fields[name] = hl.literal(mapping, dtype=dtype).get(mt.s)
    return fields


def sample_ids(mt) -> list[str]:
    """Column keys in column order."""
    return [str(s) for s in mt.s.collect()]


def store_summary(mt) -> dict[str, Any]:
    """What variant selection needs to know about the whole MatrixTable, in one rows-only pass:
    ``n_variants``, ``contigs`` present (reference order) and ``allele_width`` (longest allele,
    the width of the Dask engine's fixed-width allele strings). Saved at conversion."""
    hl = hail_session()
    rows = mt.rows()
    agg = rows.aggregate(
        hl.struct(
            n=hl.agg.count(),
            contigs=hl.agg.collect_as_set(rows.locus.contig),
            allele_width=hl.agg.max(hl.max(rows.alleles.map(lambda a: hl.len(a)))),
        )
    )
    order = list(mt.locus.dtype.reference_genome.contigs)
    return {
        "n_variants": int(agg.n),
        "contigs": [c for c in order if c in agg.contigs],
        "allele_width": int(agg.allele_width or 1),
    }


def select_variants(mt, selection: Selection, *, store: dict[str, Any] | None = None):
    """Records of the selection's region: one per row, or one per ALT allele of a
    multi-allelic row (split as ``bcftools norm -m-``; rows exploded), with their MatrixTable
    index (``genshare_variant_index``), ALT index ``genshare_alt`` (1 = first ALT) and flags
    ``genshare_n_alleles`` (PLINK's ``0`` not counted), ``genshare_snp`` (single-base REF and
    this record's ALT) and ``genshare_keep`` (what is analysed: two alleles or more — exactly
    two with ``biallelic_only`` — and SNP if ``snps_only``), plus the store summary
    (:func:`store_summary`; pass ``store`` to skip it). A row that is not analysed keeps one
    record (ALT 1, ``genshare_keep`` False) so that the filters can be counted.
    """
    region = selection.region
    hl = hail_session()
    store = store if store and "contigs" in store else store_summary(mt)
    mt = mt.add_row_index(_INDEX)
    if region:
        contig, start, end = parse_region(region)
        present = list(store["contigs"])
        name = present[contig_code(present, contig)]
        cond = mt.locus.contig == name
        if start is not None:
            cond = cond & (mt.locus.position >= start) & (mt.locus.position <= end)
        mt = mt.filter_rows(cond)
    alleles = mt.alleles
    n_alleles = alleles.filter(lambda a: (a != "") & (a != "0")).length()
    analysed = n_alleles == 2 if selection.biallelic_only else n_alleles >= 2
    alts = hl.range(1, hl.len(alleles)).filter(lambda i: (alleles[i] != "") & (alleles[i] != "0"))
    split = analysed & (n_alleles > 2)
    mt = mt.annotate_rows(
        genshare_n_alleles=n_alleles,
        genshare_analysed=analysed,
        genshare_alt=hl.if_else(split, alts, hl.range(1, 2)),
    )
    mt = mt.explode_rows(mt.genshare_alt)
    bases = hl.literal(set(_BASES))
    alt = mt.genshare_alt
    snp = (
        (hl.len(mt.alleles) > alt)
        & bases.contains(mt.alleles[0].upper())
        & bases.contains(hl.or_else(mt.alleles[alt], "").upper())
    )
    mt = mt.annotate_rows(
        genshare_snp=snp,
        genshare_keep=mt.genshare_analysed & snp if selection.snps_only else mt.genshare_analysed,
    )
    return mt, store


def _selection_info(
    store: dict[str, Any], selection: Selection, flags: pd.DataFrame
) -> dict[str, Any]:
    """The Dask engine's ``variant_selection`` info, from the region's per-record flags."""
    info: dict[str, Any] = {"n_variants_in_store": int(store["n_variants"])}
    if selection.region:
        info["region"] = selection.region
    n_alleles = flags["n_alleles"].to_numpy()
    first = flags["alt_allele"].to_numpy() == 1
    if selection.biallelic_only:
        analysed = n_alleles == 2
        info["n_multiallelic_excluded"] = int(((n_alleles > 2) & first).sum())
    else:
        analysed = n_alleles >= 2
        info["n_multiallelic_split"] = int(((n_alleles > 2) & first).sum())
        info["n_split_records"] = int((n_alleles > 2).sum())
    if selection.snps_only:
        info["n_non_snp_excluded"] = int((analysed & ~flags["snp"].to_numpy(dtype=bool)).sum())
    return info


def _export(ht, name: str) -> pd.DataFrame:
    """Write a small Hail table as TSV in the cache's tmp folder and read it back (Arrow)."""
    import pyarrow as pa
    from pyarrow import csv

    tmp = session_tmp_dir() / f"{name}-{np.random.default_rng().integers(1 << 62):x}.tsv"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        ht.export(str(tmp), delimiter="\t")
        string_cols = [f for f in ht.row if ht[f].dtype == hail_session().tstr]
        table = csv.read_csv(
            str(tmp),
            parse_options=csv.ParseOptions(delimiter="\t"),
            convert_options=csv.ConvertOptions(
                column_types={c: pa.string() for c in string_cols},
                null_values=[],
                strings_can_be_null=False,
            ),
        )
    finally:
        tmp.unlink(missing_ok=True)
    return table.to_pandas()


def group_counts(
    mt, selection: Selection, *, store: dict[str, Any] | None = None
) -> SelectedCounts:
    """Per-group counts of the selected variants (one Hail pass; see the module docstring).

    ``selection.codes`` gives each column's group (-1: not analysed), in column order; the
    MAF filter is the caller's (it needs the counts). ``store`` is the MatrixTable's
    :func:`store_summary` when known (saved at conversion).
    """
    codes, n_groups = selection.codes, selection.n_groups
    hl = hail_session()
    selected, store = select_variants(mt, selection, store=store)
    selected = selected.add_col_index("genshare_col")
    group = hl.literal([int(c) for c in codes], dtype=hl.tarray(hl.tint32))[
        hl.int32(selected.genshare_col)
    ]
    selected = selected.annotate_cols(genshare_group=group)
    gt = selected.GT
    diploid = gt.ploidy == 2
    alt = selected.genshare_alt
    # copies of this record's ALT allele (every other allele counts as REF)
    n_alt = hl.int32(gt[0] == alt) + hl.if_else(diploid, hl.int32(gt[1] == alt), 0)
    per_group = hl.agg.filter(
        selected.genshare_keep & (selected.genshare_group >= 0),
        hl.agg.group_by(
            selected.genshare_group,
            hl.struct(
                allele_count=hl.agg.sum(n_alt),
                allele_number=hl.agg.sum(gt.ploidy),
                hom_alt_count=hl.agg.count_where(diploid & (n_alt == 2)),
                het_count=hl.agg.count_where(diploid & (n_alt == 1)),
                called_count=hl.agg.count_where(diploid),
            ),
        ),
    )
    rows = selected.annotate_rows(genshare_counts=per_group).rows().key_by()
    columns: dict[str, Any] = {
        "index": rows[_INDEX],
        "alt_allele": rows.genshare_alt,
        "n_alleles": rows.genshare_n_alleles,
        "snp": hl.int32(rows.genshare_snp),
        "keep": hl.int32(rows.genshare_keep),
        "contig": rows.locus.contig,
        "position": rows.locus.position,
        "ref": hl.or_else(rows.alleles[0], ""),
        "alt": hl.if_else(
            rows.alleles.length() > rows.genshare_alt, rows.alleles[rows.genshare_alt], ""
        ),
    }
    for g in range(n_groups):
        cell = rows.genshare_counts.get(g)
        for field in FIELDS:
            columns[f"{field}.{g}"] = hl.or_else(hl.int64(cell[field]), hl.int64(0))
    table = _export(rows.select(**columns), "group-counts")
    info = _selection_info(store, selection, table)
    table = table[table["keep"].to_numpy(dtype=bool)]
    raw = np.zeros((len(table), n_groups, len(FIELDS)), dtype=np.int32)
    for g in range(n_groups):
        for i, field in enumerate(FIELDS):
            raw[:, g, i] = table[f"{field}.{g}"].to_numpy()
    contig_width = max((len(c) for c in store["contigs"]), default=1)
    allele_width = max(int(store["allele_width"]), 1)
    return SelectedCounts(
        raw=raw,
        variant_index=table["index"].to_numpy(dtype=np.int64),
        alt_allele=table["alt_allele"].to_numpy(dtype=np.int16),
        info=info,
        contig=table["contig"].to_numpy().astype(f"<U{contig_width}"),
        position=table["position"].to_numpy(dtype=np.int64),
        ref=table["ref"].to_numpy().astype(f"<U{allele_width}"),
        alt=table["alt"].to_numpy().astype(f"<U{allele_width}"),
    )


def sample_counts(
    mt, selection: Selection, *, store: dict[str, Any] | None = None
) -> tuple[int, np.ndarray]:
    """(number of selected variants, int64 (samples, 4) in the order of ``SAMPLE_FIELDS``)
    over the variants of ``selection`` (its grouping is not used).

    ``n_called``: diploid calls; ``n_het``: heterozygous diploid calls; ``n_missing``: missing
    calls; ``n_partial``: haploid calls (including the rewritten ``0/.``).
    """
    hl = hail_session()
    selected, _ = select_variants(mt, selection, store=store)
    selected = selected.filter_rows(selected.genshare_keep).add_col_index("genshare_col")
    gt = selected.GT
    selected = selected.annotate_cols(
        n_called=hl.agg.count_where(gt.ploidy == 2),
        n_het=hl.agg.count_where((gt.ploidy == 2) & gt.is_het()),
        n_missing=hl.agg.count_where(hl.is_missing(gt)),
        n_partial=hl.agg.count_where(gt.ploidy == 1),
    )
    cols = selected.cols().key_by()
    table = _export(cols.select("genshare_col", *SAMPLE_FIELDS), "sample-counts")
    raw = table.sort_values("genshare_col")[list(SAMPLE_FIELDS)].to_numpy(dtype=np.int64)
    # Every call is diploid, haploid or missing: one sample's three counts add up to the
    # number of variants (no extra Hail job).
    n_variants = int(raw[0, 0] + raw[0, 2] + raw[0, 3]) if len(raw) else selected.count_rows()
    return int(n_variants), raw


def gram_matrix(mt, index: np.ndarray, p: np.ndarray, *, block_size: int = 4096) -> np.ndarray:
    """Σ XᵀX (samples × samples, float64) over the rows ``index`` of ``mt``, X the Patterson
    standardisation ``(g - 2p)/sqrt(p(1-p))`` of diploid calls, 0 for any other call (as in
    :func:`genshare_widgets.engines._sample_pass.standardized_block`). Computed as a Hail
    BlockMatrix product; only the samples × samples result comes back to Python."""
    hl = hail_session()
    from hail.linalg import BlockMatrix

    freq = hl.literal(
        {int(i): float(f) for i, f in zip(index, p, strict=True)},
        dtype=hl.tdict(hl.tint64, hl.tfloat64),
    )
    mt = mt.add_row_index(_INDEX)
    mt = mt.filter_rows(freq.contains(mt[_INDEX]))  # rows of the PCA only
    mt = mt.annotate_rows(genshare_p=freq[mt[_INDEX]])
    p_row = mt.genshare_p
    gt = mt.GT
    x = hl.or_else(
        hl.if_else(
            gt.ploidy == 2,
            (hl.float64(gt.n_alt_alleles()) - 2 * p_row) / hl.sqrt(p_row * (1 - p_row)),
            0.0,
        ),
        0.0,
    )
    bm = BlockMatrix.from_entry_expr(x, block_size=block_size)
    return np.asarray((bm.T @ bm).to_numpy(), dtype=np.float64)
