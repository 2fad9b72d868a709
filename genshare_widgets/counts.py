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

Variant selection, applied in this order and recorded in ``attrs["filters"]``:

1. ``region`` (``"1"``, ``"chr1:1000-2000"``, 1-based inclusive);
2. biallelic sites only: multi-allelic records are excluded (documented default; their count
   is in ``attrs["n_multiallelic_excluded"]``);
3. ``snps_only``: REF and ALT single bases (drops indels and symbolic alleles);
4. ``min_maf``: minor allele frequency over ALL analysed samples (every sample with a group).
"""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genshare_widgets._errors import GenShareError

if TYPE_CHECKING:  # pandas is imported where it is used: the CLI hot path never needs it
    import pandas as pd

_REGION = re.compile(r"^(?P<contig>[^:]+)(?::(?P<start>[\d,]+)-(?P<end>[\d,]+))?$")
_BASES = {"A", "C", "G", "T"}


def _strings(values) -> np.ndarray:
    """Fixed-width unicode copy of a string array (zarr 3 returns numpy StringDType)."""
    return np.asarray(values, dtype=object).astype(str)


def parse_region(region: str) -> tuple[str, int | None, int | None]:
    """``"chr1:1,000-2,000"`` → ``("chr1", 1000, 2000)``; ``"X"`` → ``("X", None, None)``.

    Examples
    --------
    >>> parse_region("1:11,700,000-11,800,000")
    ('1', 11700000, 11800000)
    """
    match = _REGION.match(region.strip())
    if not match:
        raise GenShareError(
            f"region {region!r} is not CHR or CHR:START-END (e.g. 1:1000000-2000000)"
        )
    contig = match["contig"]
    if match["start"] is None:
        return contig, None, None
    start, end = (int(match[k].replace(",", "")) for k in ("start", "end"))
    if start < 1:
        raise GenShareError(
            f"region {region!r}: positions are 1-based (the first base is 1), not {start}; "
            f"write {contig}:1-{end}"
        )
    if end < start:
        raise GenShareError(
            f"region {region!r}: end {end} is before start {start}; write {contig}:{end}-{start}"
        )
    return contig, start, end


def _contig_code(contigs: list[str], contig: str) -> int:
    if contig in contigs:
        return contigs.index(contig)
    alt = contig[3:] if contig.lower().startswith("chr") else f"chr{contig}"
    if alt in contigs:
        return contigs.index(alt)
    raise GenShareError(
        f"contig {contig!r} is not in this cohort; its contigs are {contigs}: give one of "
        "them in the region"
    )


def resolve_groups(
    samples: "pd.DataFrame", by: "str | Mapping[str, str] | pd.Series"
) -> tuple[np.ndarray, list[str], str]:
    """Per-sample group codes (-1 = not analysed), sorted group names, and a label for ``by``.

    ``by`` is a sample column name, or a mapping / Series from sample id to group.
    """
    import pandas as pd

    if isinstance(by, str):
        if by not in samples.columns:
            raise GenShareError(
                f"no sample column {by!r} to group by; columns: {list(samples.columns)}; "
                "name one of them with by= (--by on the command line)"
            )
        labels = samples[by]
        label = by
    else:
        mapping = pd.Series(by) if not isinstance(by, pd.Series) else by
        unknown = mapping.index.difference(samples.index)
        if len(unknown) == len(mapping):
            raise GenShareError(
                f"none of the {len(mapping)} sample ids of the grouping are in this cohort "
                f"(e.g. {list(mapping.index[:3])})"
            )
        labels = mapping.reindex(samples.index)
        label = str(mapping.name or "group")
    labels = labels.astype(object).where(labels.notna(), None)
    names = sorted({str(v) for v in labels if v is not None})
    if not names:
        raise GenShareError(f"grouping by {label!r} leaves no sample with a group")
    index = {name: i for i, name in enumerate(names)}
    codes = np.array([index[str(v)] if v is not None else -1 for v in labels], dtype=np.int64)
    return codes, names, label


def region_mask(
    *,
    contig_ids: np.ndarray,
    variant_contig: np.ndarray,
    variant_position: np.ndarray,
    region: str | None,
) -> np.ndarray:
    """Boolean mask of the variants inside ``region`` (all True without one)."""
    keep = np.ones(len(variant_position), dtype=bool)
    if region:
        contig, start, end = parse_region(region)
        code = _contig_code([str(c) for c in contig_ids], contig)
        keep &= variant_contig == code
        if start is not None:
            keep &= (variant_position >= start) & (variant_position <= end)
    return keep


def select_variants(
    *,
    contig_ids: np.ndarray,
    variant_contig: np.ndarray,
    variant_position: np.ndarray,
    alleles: np.ndarray,
    region: str | None = None,
    snps_only: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Indices of the variants to analyse (before the MAF filter) and what was dropped.

    The numpy core shared by every genotype pass: ``alleles`` is the store's
    ``variant_allele`` (fixed-width or object strings, "" pads), ``contig_ids`` its contig
    names.
    """
    n = len(variant_position)
    keep = region_mask(
        contig_ids=contig_ids,
        variant_contig=variant_contig,
        variant_position=variant_position,
        region=region,
    )
    info: dict[str, Any] = {"n_variants_in_store": int(n)}
    if region:
        info["region"] = region
    n_alleles = (alleles != "").sum(axis=1)
    multi = keep & (n_alleles > 2)
    info["n_multiallelic_excluded"] = int(multi.sum())
    keep &= n_alleles == 2
    if snps_only:
        ref_ok = np.isin(np.char.upper(alleles[:, 0].astype(str)), list(_BASES))
        alt_ok = np.isin(np.char.upper(alleles[:, 1].astype(str)), list(_BASES))
        info["n_non_snp_excluded"] = int((keep & ~(ref_ok & alt_ok)).sum())
        keep &= ref_ok & alt_ok
    return np.flatnonzero(keep), info


def variant_selection(
    ds, *, region: str | None = None, snps_only: bool = False
) -> tuple[np.ndarray, dict[str, Any], np.ndarray]:
    """Indices of the variants to analyse (before the MAF filter), what was dropped, and the
    alleles of every variant of the store (fixed-width strings, read once)."""
    alleles = _strings(ds["variant_allele"].values)
    index, info = select_variants(
        contig_ids=_strings(ds["contig_id"].values),
        variant_contig=ds["variant_contig"].values,
        variant_position=ds["variant_position"].values,
        alleles=alleles,
        region=region,
        snps_only=snps_only,
    )
    return index, info, alleles


def apply_min_maf(
    raw: np.ndarray, index: np.ndarray, info: dict[str, Any], min_maf: float | None
) -> np.ndarray:
    """Boolean mask of the rows of ``raw`` (variants, groups, FIELDS) passing ``min_maf``.

    MAF is computed over all analysed samples (the sum over groups); a variant without any
    called allele fails. Records the filter in ``info``.
    """
    if min_maf is None or not len(index):
        return np.ones(len(index), dtype=bool)
    ac = raw[:, :, 0].sum(axis=1, dtype=np.int64)
    an = raw[:, :, 1].sum(axis=1, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        af = np.where(an > 0, ac / np.maximum(an, 1), np.nan)
    maf = np.minimum(af, 1 - af)
    passing = maf >= min_maf  # NaN (no called allele) fails
    info["n_below_min_maf"] = int((~passing).sum())
    info["min_maf"] = min_maf
    return passing


def check_min_maf(min_maf: float | None) -> None:
    """Refuse a MAF threshold outside [0, 0.5]."""
    if min_maf is not None and not 0 <= min_maf <= 0.5:
        raise GenShareError(f"--min-maf must be between 0 and 0.5, not {min_maf}")


def variant_span(ds, index: np.ndarray):
    """The contiguous slice of ``ds`` covering ``index`` and the rows of ``index`` within it.

    Genotype passes run over the whole slice (contiguous chunks, no gather) and keep the rows
    afterwards: much cheaper than fancy-indexing a chunked array.
    """
    if not len(index):
        return ds.isel(variants=slice(0, 0)), index
    lo, hi = int(index[0]), int(index[-1]) + 1
    return ds.isel(variants=slice(lo, hi)), index - lo


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
):  # -> xarray.Dataset
    """Per-group allele counts in one genotype pass (see the module docstring for fields).

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
    if getattr(cohort, "entry", None) is not None:  # consent: ancestry comparisons may be refused
        from genshare_widgets.disclosure._gate import check_grouping

        check_grouping(cohort, by, analysis="per-group allele counts")
    codes, names, label = resolve_groups(cohort.samples, by)
    if getattr(cohort, "engine", "dask") == "hail":
        from genshare_widgets.engines import hail_engine

        selected = hail_engine.group_counts(
            cohort.genotypes,
            codes,
            len(names),
            region=region,
            snps_only=snps_only,
            store=cohort.provenance.get("hail_store"),
        )
        raw, index, info = selected.raw, selected.variant_index, selected.info
        alleles = np.stack([selected.ref, selected.alt], axis=1).reshape(-1, 2)
        contig_ids, contig_codes = np.unique(
            np.asarray(selected.contig, dtype=str), return_inverse=True
        )
        position = np.asarray(selected.position)
    elif pass_scheduler(cohort, scheduler) is None and _direct_store(cohort) is not None:
        # The local engine: the variant table and the genotypes straight from the store's
        # chunks (numpy + numcodecs; no xarray Dataset, no Dask).
        raw, index, info, alleles, contig_ids, contig_codes, position = _local_pass(
            _direct_store(cohort), codes, len(names), region=region, snps_only=snps_only
        )
    else:
        ds = cohort.genotypes
        index, info, all_alleles = variant_selection(ds, region=region, snps_only=snps_only)
        where = pass_scheduler(cohort, scheduler)
        direct = _direct_store(cohort) if where is None else None
        if not len(index):
            raw = np.zeros((0, len(names), len(FIELDS)), dtype=np.int32)
        elif direct is not None:
            from genshare_widgets.engines._direct import direct_group_counts

            raw = direct_group_counts(direct, codes, len(names), index)
        else:
            span, rows = variant_span(ds, index)
            raw = group_counts(span["call_genotype"], codes, len(names), scheduler=where)[rows]
        alleles = all_alleles[index]
        contig_ids = _strings(ds["contig_id"].values)
        contig_codes = ds["variant_contig"].values[index]
        position = ds["variant_position"].values[index]
    passing = apply_min_maf(raw, index, info, min_maf)
    return counts_dataset(
        raw[passing],
        index=index[passing],
        info={**info, "snps_only": snps_only},
        names=names,
        label=label,
        group_n=np.bincount(codes[codes >= 0], minlength=len(names)),
        contig_ids=contig_ids,
        variant_contig=contig_codes[passing],
        variant_position=position[passing],
        alleles=alleles[passing],
        cohort_id=cohort.id,
    )


def _local_pass(store, codes: np.ndarray, n_groups: int, *, region, snps_only):
    """One genotype pass of the local engine over a :class:`engines._direct.DirectStore`:
    → (raw, index, info, alleles of ``index``, contig ids, contig codes and positions of
    ``index``). The pass over the region's rows starts in threads before the alleles are
    decoded and the variants chosen (the same selection functions as every engine)."""
    from genshare_widgets.engines._direct import DirectCounter

    contig_ids = _strings(store.read("contig_id"))
    variant_contig = store.read("variant_contig")
    variant_position = store.read("variant_position")
    in_region = np.flatnonzero(
        region_mask(
            contig_ids=contig_ids,
            variant_contig=variant_contig,
            variant_position=variant_position,
            region=region,
        )
    )
    lo, hi = (int(in_region[0]), int(in_region[-1]) + 1) if len(in_region) else (0, 0)
    counter = DirectCounter(store, codes, n_groups, lo, hi)
    alleles = np.asarray(store.read("variant_allele"), dtype=object)
    index, info = select_variants(
        contig_ids=contig_ids,
        variant_contig=variant_contig,
        variant_position=variant_position,
        alleles=alleles,
        region=region,
        snps_only=snps_only,
    )
    raw = counter.result(index)
    return (
        raw,
        index,
        info,
        _strings(alleles[index]),
        contig_ids,
        variant_contig[index],
        variant_position[index],
    )


def counts_dataset(
    raw: np.ndarray,
    *,
    index: np.ndarray,
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
    """Assemble the counts Dataset from a genotype pass's raw (variants, groups, FIELDS)."""
    import xarray as xr

    from genshare_widgets.engines._group_counts import FIELDS

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
        from genshare_widgets.engines._group_counts import FIELDS

        raw = np.stack([counts[f].values for f in FIELDS], axis=-1)
        index = counts["variant_index"].values
        passing = apply_min_maf(raw, index, info, min_maf)
        counts = counts.isel(variants=np.flatnonzero(passing))
    info["n_variants_analysed"] = int(counts.sizes["variants"])
    if groups is not None:
        info["groups_kept"] = list(groups)
    return counts.assign_attrs(filters=info)
