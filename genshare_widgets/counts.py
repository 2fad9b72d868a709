"""The counts object: the engine boundary between genotypes and statistics.

:func:`allele_counts_by_group` makes one pass over the genotypes and returns an xarray Dataset
with dims ``(variants, groups)``. The pass runs on the cohort's engine: Dask (the VCF-Zarr
store; on this machine through its bit planes, see :mod:`engines._direct`) or Hail
(:func:`genshare_widgets.engines.hail_engine.group_counts` over the MatrixTable); all give the
identical Dataset (``variant_index`` is the row in the engine's store, which follows file order
in both):

``allele_count`` (int32)
    ALT allele copies among called alleles of the group.
``allele_number`` (int32)
    Called alleles (missing excluded; a haploid or half-missing call adds one).
``hom_alt_count``, ``het_count``, ``called_count`` (int32)
    Genotypes with both alleles called: homozygous ALT, heterozygous, all.
``group_n_samples`` (groups)
    Samples in each group.
``variant_contig``, ``variant_position``, ``variant_ref``, ``variant_alt`` (variants)
    Which variant each row is.
``variant_index`` (int64), ``variant_allele_index`` (int16) (variants)
    The record's store row and its ALT allele's index in that row (1 = first ALT): a
    multi-allelic record gives one biallelic row per ALT allele, as ``bcftools norm -m-``
    splits it (``variant_alt`` is that ALT; the other ALTs count as REF, so AC counts copies
    of that ALT, AN the called alleles, het the calls with exactly one copy, hom-alt two).

Variant selection, applied in this order and recorded in ``attrs["filters"]``:

1. ``region`` (``"1"``, ``"chr1:1000-2000"``, 1-based inclusive);
2. multi-allelic records are split into one biallelic record per ALT allele
   (``n_multiallelic_split`` rows became ``n_split_records`` records);
3. ``snps_only``: REF and ALT single bases, per split record (drops indels and symbolic
   alleles);
4. ``min_maf``: minor allele frequency over ALL analysed samples (every sample with a group).

Withdrawn samples (:mod:`genshare_widgets._withdrawals`) are in no group, whatever the
grouping: the selection is built with the cohort's mask (:func:`withdrawal_mask`), and
``attrs["filters"]["n_withdrawn"]`` says how many were left out.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genshare_widgets._errors import GenShareError

# The selection functions live in the low module _selection (engines and the consent gate
# import them from there); their names stay importable from here.
from genshare_widgets._selection import Selection as Selection
from genshare_widgets._selection import apply_min_maf as apply_min_maf
from genshare_widgets._selection import check_min_maf as check_min_maf
from genshare_widgets._selection import contig_code as _contig_code  # noqa: F401
from genshare_widgets._selection import fixed_strings as _strings
from genshare_widgets._selection import parse_region as parse_region
from genshare_widgets._selection import record_alleles as record_alleles
from genshare_widgets._selection import region_mask as region_mask
from genshare_widgets._selection import resolve_groups as resolve_groups
from genshare_widgets._selection import select_variants as select_variants
from genshare_widgets._selection import variant_selection as variant_selection
from genshare_widgets._selection import variant_span as variant_span

if TYPE_CHECKING:  # pandas is imported where it is used: the CLI hot path never needs it
    import pandas as pd


def _direct_store(cohort):
    """The bit-plane reader for a local GenShare store when no cluster is asked for (the same
    counts as the Dask pass, a few times faster and in a fraction of the memory); None when
    ``GENSHARE_DIRECT=0``, a scheduler is configured, or the store has no bit planes."""
    import os

    from genshare_widgets.engines._direct import UnsupportedStoreError, open_direct

    if os.environ.get("GENSHARE_DIRECT", "1") == "0" or os.environ.get("GENSHARE_DASK_SCHEDULER"):
        return None
    if getattr(cohort, "engine", "dask") != "dask" or not isinstance(cohort.store_path, Path):
        return None
    if getattr(cohort, "reader", None) is not None:  # opened with the cohort
        return cohort.reader
    try:
        return open_direct(cohort.store_path)
    except UnsupportedStoreError:
        return None


def withdrawal_mask(cohort) -> np.ndarray | None:
    """The cohort's mask of analysed samples (None when every sample is analysed): not
    withdrawn, and listed in the user's ``--samples`` table when one was given
    (:attr:`~genshare_widgets.cohort.Cohort.kept`); the one place every genotype pass gets
    it from (:mod:`genshare_widgets._withdrawals`)."""
    kept = getattr(cohort, "kept", None)
    if kept is None:
        withdrawals = getattr(cohort, "withdrawals", None)
        kept = None if withdrawals is None else withdrawals.kept
    if kept is None or np.asarray(kept).all():
        return None
    return np.asarray(kept, dtype=bool)


def pass_scheduler(cohort, scheduler: str | None = None) -> str | None:
    """Where a genotype pass over ``cohort`` runs: ``scheduler`` if given, else the cohort's
    (``open_cohort(..., scheduler=...)``); None lets ``$GENSHARE_DASK_SCHEDULER`` or Dask's
    local threads decide."""
    return scheduler or getattr(cohort, "scheduler", None)


def allele_counts_by_group(
    cohort,
    *,
    by: "str | Mapping[str, str] | pd.Series" = "population",
    region: str | None = None,
    min_maf: float | None = None,
    snps_only: bool = False,
    scheduler: str | None = None,
    biallelic_only: bool = False,
):  # -> xarray.Dataset
    """Per-group allele counts in one genotype pass (see the module docstring for fields).

    Multi-allelic records are split into one biallelic record per ALT allele (``bcftools
    norm -m-``); ``biallelic_only=True`` excludes them instead (PCA's sites: PLINK 2's
    ``--pca`` takes no multi-allelic variant; ``attrs["filters"]["n_multiallelic_excluded"]``).

    The pass runs where ``scheduler`` says: a Dask cluster address (``tcp://HOST:PORT``) or a
    local scheduler name; by default the cohort's ``scheduler``, else
    ``$GENSHARE_DASK_SCHEDULER``, else this machine. On this machine a local GenShare store is
    counted from its bit-plane copy in threads (:mod:`engines._direct`; ``GENSHARE_DIRECT=0``
    forces the Dask pass); results are the same everywhere, and the tests hold them equal.

    A catalog cohort whose consent codes forbid ancestry research refuses a grouping that
    compares populations (:func:`genshare_widgets.disclosure.check_grouping` raises
    :class:`~genshare_widgets.disclosure.AnalysisRefused`).

    Examples
    --------
    >>> from genshare_widgets import open_cohort
    >>> counts = allele_counts_by_group(open_cohort("sim-ooa"), by="population")  # doctest: +SKIP
    >>> counts.sizes  # doctest: +SKIP
    Frozen({'variants': 47364, 'groups': 3})
    """
    from genshare_widgets.engines._group_counts import FIELDS, group_counts

    check_min_maf(min_maf)
    gated = getattr(cohort, "entry", None) is not None  # consent: ancestry comparisons refused
    if gated:
        from genshare_widgets.disclosure._gate import check_grouping
    try:
        selection = Selection.build(
            cohort.samples,
            by,
            region=region,
            snps_only=snps_only,
            min_maf=min_maf,
            kept=withdrawal_mask(cohort),
            biallelic_only=biallelic_only,
        )
    except Exception:
        if gated:  # a refusal speaks before a grouping that does not resolve
            check_grouping(cohort, by, analysis="per-group allele counts")
        raise
    if gated:  # the gate checks the selection's groups (resolved once, above)
        check_grouping(cohort, by, selection=selection, analysis="per-group allele counts")
    codes, names, label = selection.codes, list(selection.names), str(selection.by)
    if getattr(cohort, "engine", "dask") == "hail":
        from genshare_widgets.engines import hail_engine

        selected = hail_engine.group_counts(
            cohort.genotypes, selection, store=cohort.provenance.get("hail_store")
        )
        raw, index, info = selected.raw, selected.variant_index, selected.info
        alt_allele = selected.alt_allele
        alleles = np.stack([selected.ref, selected.alt], axis=1).reshape(-1, 2)
        contig_ids, contig_codes = np.unique(
            np.asarray(selected.contig, dtype=str), return_inverse=True
        )
        position = np.asarray(selected.position)
    elif pass_scheduler(cohort, scheduler) is None and _direct_store(cohort) is not None:
        # The local engine: the variant table and the genotypes straight from the store's
        # chunks (numpy + numcodecs; no xarray Dataset, no Dask).
        raw, index, alt_allele, info, alleles, contig_ids, contig_codes, position = _local_pass(
            _direct_store(cohort), codes, len(names), selection
        )
    else:
        ds = cohort.genotypes
        index, alt_allele, info, alleles = variant_selection(
            ds,
            region=selection.region,
            snps_only=selection.snps_only,
            biallelic_only=selection.biallelic_only,
        )
        where = pass_scheduler(cohort, scheduler)
        direct = _direct_store(cohort) if where is None else None
        if not len(index):
            raw = np.zeros((0, len(names), len(FIELDS)), dtype=np.int32)
        elif direct is not None:
            from genshare_widgets.engines._direct import direct_group_counts

            raw = direct_group_counts(direct, codes, len(names), index, alt_allele)
        else:
            span, rows = variant_span(ds, index)
            raw = group_counts(span["call_genotype"], codes, len(names), scheduler=where)[rows]
            later = np.flatnonzero(alt_allele > 1)
            if len(later):  # later ALTs of multi-allelic rows (rare): counted from their calls
                from genshare_widgets.engines._distributed import compute
                from genshare_widgets.engines._group_counts import split_record_counts

                gt = span["call_genotype"].data[rows[later]]
                gt = compute(gt, scheduler=where) if hasattr(gt, "dask") else np.asarray(gt)
                raw[later] = split_record_counts(gt, codes, len(names), alt_allele[later])
        contig_ids = _strings(ds["contig_id"].values)
        contig_codes = ds["variant_contig"].values[index]
        position = ds["variant_position"].values[index]
    if selection.n_withdrawn:
        info["n_withdrawn"] = selection.n_withdrawn
    passing = selection.maf_mask(raw, index, info)
    # every row passes without a MAF filter: keep the arrays (no copies of a million rows)
    keep = slice(None) if passing.all() else passing
    return counts_dataset(
        raw[keep],
        index=index[keep],
        alt_allele=alt_allele[keep],
        info={**info, "snps_only": selection.snps_only},
        names=names,
        label=label,
        group_n=selection.group_n,
        contig_ids=contig_ids,
        variant_contig=contig_codes[keep],
        variant_position=position[keep],
        alleles=alleles[keep],
        cohort_id=cohort.id,
    )


def table_selection(
    table,
    *,
    region: str | None,
    snps_only: bool,
    alleles_of=None,
    biallelic_only: bool = False,
):
    """:func:`select_variants` over a store's :class:`~.engines._variants.VariantTable`:
    → (selected rows, their ALT allele, what was left out). ``alleles_of``: the store's
    ``variant_allele`` rows, for the SNP flags of split multi-allelic records."""
    return select_variants(
        contig_ids=table.contig_ids,
        variant_contig=table.variant_contig,
        variant_position=table.variant_position,
        n_alleles=table.n_alleles,
        is_snv=table.is_snv,
        region=region,
        snps_only=snps_only,
        alleles_of=alleles_of,
        biallelic_only=biallelic_only,
    )


def _local_pass(store, codes: np.ndarray, n_groups: int, selection: Selection):
    """One genotype pass of the local engine over a :class:`engines._direct.DirectStore`:
    → (raw, index, ALT allele of each record, info, REF/ALT of the records, contig ids,
    contig codes and positions of ``index``). The pass over the region's rows starts in
    threads while the variants are chosen (the same selection functions as every engine,
    on the compact flags)."""
    from genshare_widgets.engines._direct import DirectCounter

    table = store.variant_table()  # read once per open store
    region = selection.region
    in_region = np.flatnonzero(
        region_mask(
            contig_ids=table.contig_ids,
            variant_contig=table.variant_contig,
            variant_position=table.variant_position,
            region=region,
        )
    )
    lo, hi = (int(in_region[0]), int(in_region[-1]) + 1) if len(in_region) else (0, 0)
    counter = DirectCounter(store, codes, n_groups, lo, hi)
    index, alt_allele, info = table_selection(
        table,
        region=region,
        snps_only=selection.snps_only,
        alleles_of=store.allele_rows,
        biallelic_only=selection.biallelic_only,
    )
    # REF/ALT of the selected rows only, decoded from the compact table; one fixed width per
    # store (its longest biallelic REF/ALT) unless a split record's later ALT is longer.
    alleles = record_alleles(
        table.ref_alt(index, width=table.biallelic_width), index, alt_allele, store.allele_rows
    )
    raw = counter.result(index, alt_allele)
    return (
        raw,
        index,
        alt_allele,
        info,
        alleles,
        table.contig_ids,
        table.variant_contig[index],
        table.variant_position[index],
    )


def counts_dataset(
    raw: np.ndarray,
    *,
    index: np.ndarray,
    alt_allele: np.ndarray | None = None,
    info: dict[str, Any],
    names: list[str],
    label: str,
    group_n: np.ndarray,
    contig_ids: np.ndarray,
    variant_contig: np.ndarray,
    variant_position: np.ndarray,
    alleles: np.ndarray,
    cohort_id: str,
):  # -> xarray.Dataset
    """Assemble the counts Dataset from a genotype pass's raw (variants, groups, FIELDS);
    ``alt_allele``: each record's ALT allele index (default 1: no split record)."""
    import xarray as xr

    from genshare_widgets._lazy import defer_dask_array_import
    from genshare_widgets.engines._group_counts import FIELDS

    defer_dask_array_import()  # a Dataset of numpy arrays needs no dask.array import
    info = {**info, "n_variants_analysed": len(index)}
    data = {name: (("variants", "groups"), raw[:, :, i]) for i, name in enumerate(FIELDS)}
    return xr.Dataset(
        {
            **data,
            "group_n_samples": (("groups",), np.asarray(group_n, dtype=np.int64)),
            "variant_contig": (("variants",), contig_ids[variant_contig]),
            "variant_position": (("variants",), np.asarray(variant_position, dtype=np.int64)),
            "variant_ref": (("variants",), alleles[:, 0]),
            "variant_alt": (("variants",), alleles[:, 1]),
            "variant_index": (("variants",), index.astype(np.int64)),
            "variant_allele_index": (
                ("variants",),
                np.ones(len(index), np.int16)
                if alt_allele is None
                else np.asarray(alt_allele, dtype=np.int16),
            ),
        },
        coords={"groups": names},
        attrs={"by": label, "filters": info, "cohort": cohort_id},
    )


def with_variant_ids(counts, cohort):  # -> xarray.Dataset
    """``counts`` with a ``variant_id`` (variants) variable: the store's ID column (rsIDs for
    1000 Genomes; ``""`` where the VCF had ``.``), read at the counts' ``variant_index``.

    Kept out of :func:`allele_counts_by_group` so the counting hot path never reads the IDs;
    call it when a variant is to be found by its ID (e.g. ``variant_card(..., rsid=...)``).

    Examples
    --------
    >>> counts = with_variant_ids(allele_counts_by_group(cohort), cohort)  # doctest: +SKIP
    >>> str(counts["variant_id"].values[1])  # doctest: +SKIP
    'rs17160776'
    """
    ds = cohort.genotypes
    if "variant_id" not in ds:
        raise GenShareError(
            f"cohort {cohort.id!r} has no variant IDs in its store; find variants by CHR:POS"
        )
    if counts.attrs.get("cohort") not in (None, cohort.id):
        raise GenShareError(
            f"these counts come from cohort {counts.attrs.get('cohort')!r}, not {cohort.id!r}"
        )
    index = counts["variant_index"].values
    ids = _strings(ds["variant_id"].values[index]) if len(index) else np.zeros(0, dtype=str)
    if "variant_id_mask" in ds and len(index):
        ids = np.where(ds["variant_id_mask"].values[index], "", ids)
    return counts.assign(variant_id=(("variants",), ids))


def with_variant_ends(counts, cohort):  # -> xarray.Dataset
    """``counts`` with a ``variant_end`` (variants) variable: the 1-based last base each
    record covers, from the store's ``variant_end`` (INFO/END of a symbolic allele such as
    ``<CN0>``; else ``POS + len(REF) - 1``), read at the counts' ``variant_index``. A split
    record of a multi-allelic row follows that rule for its own ALT (in ``G → <DEL>,C`` the
    ``<DEL>`` record ends at INFO/END, the ``C`` record at POS), as the store of the
    ``bcftools norm -m-`` split VCF has it.

    A store written before ingest format 6 (or by another tool) has no ``variant_end``: the
    ends are then ``POS + len(REF) - 1`` and ``attrs["variant_end"]`` says so.

    Examples
    --------
    >>> counts = with_variant_ends(allele_counts_by_group(cohort), cohort)  # doctest: +SKIP
    """
    ds = cohort.genotypes
    index = counts["variant_index"].values
    position = counts["variant_position"].values.astype(np.int64)
    if "variant_end" in ds:
        ends = np.asarray(ds["variant_end"].values)[index].astype(np.int64)
        note = "the store's variant_end (INFO/END of symbolic alleles)"
        # a split record keeps its row's INFO/END only if its own ALT is symbolic (the
        # ingest rule, applied to the record as bcftools norm -m- writes it)
        alt = np.asarray(counts["variant_alt"].values).astype(str)
        plain = ~np.char.startswith(alt, "<")
        if plain.any():
            ref_len = np.char.str_len(np.asarray(counts["variant_ref"].values).astype(str))
            ends = np.where(plain, position + np.maximum(ref_len, 1) - 1, ends)
    else:
        ref_len = np.char.str_len(np.asarray(counts["variant_ref"].values).astype(str))
        ends = position + np.maximum(ref_len, 1) - 1
        note = "POS + len(REF) - 1: this store has no variant_end (INFO/END not kept)"
    return counts.assign(variant_end=(("variants",), ends)).assign_attrs(variant_end=note)


def select_groups(counts, *, groups: list[str] | None = None, min_maf: float | None = None):
    """Keep some groups of a counts Dataset, then apply a MAF filter over the kept groups.

    Counts add up over groups, so this equals :func:`allele_counts_by_group` with a grouping
    that leaves every other sample out (MAF over all *analysed* samples): the explorer keeps
    one unfiltered counts object per selection and derives each view from it without a new
    genotype pass. ``attrs["filters"]`` records what was applied.

    Examples
    --------
    >>> view = select_groups(counts, groups=["CEU", "YRI"], min_maf=0.05)  # doctest: +SKIP
    """
    check_min_maf(min_maf)
    names = [str(g) for g in counts["groups"].values]
    if groups is not None:
        unknown = [g for g in groups if g not in names]
        if unknown or not groups:
            raise GenShareError(f"groups {unknown or groups} are not among {names}")
        counts = counts.isel(groups=[names.index(g) for g in groups])
    info = dict(counts.attrs.get("filters", {}))
    if min_maf is not None:
        if "min_maf" in info:
            raise GenShareError("these counts already have a MAF filter; start from unfiltered")
        from genshare_widgets._selection import maf_passing

        ac, an = counts["allele_count"].values, counts["allele_number"].values
        passing = maf_passing(ac, an, info, min_maf)
        counts = counts.isel(variants=np.flatnonzero(passing))
    info["n_variants_analysed"] = int(counts.sizes["variants"])
    if groups is not None:
        info["groups_kept"] = list(groups)
    return counts.assign_attrs(filters=info)
