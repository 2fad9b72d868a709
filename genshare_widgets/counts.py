"""The counts object: the engine boundary between genotypes and statistics.

:func:`allele_counts_by_group` makes one pass over the genotypes and returns an xarray Dataset
with dims ``(variants, groups)``. The pass runs on the cohort's engine: Dask (the VCF-Zarr
store) or Hail (:func:`genshare_widgets.engines.hail_engine.group_counts` over the
MatrixTable); both give the identical Dataset (``variant_index`` is the row in the engine's
store, which follows file order in both):

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
from typing import Any

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError

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
    if end < start:
        raise GenShareError(f"region {region!r}: end {end} is before start {start}")
    return contig, start, end


def _contig_code(contigs: list[str], contig: str) -> int:
    if contig in contigs:
        return contigs.index(contig)
    alt = contig[3:] if contig.lower().startswith("chr") else f"chr{contig}"
    if alt in contigs:
        return contigs.index(alt)
    raise GenShareError(f"contig {contig!r} is not in this cohort; its contigs are {contigs}")


def resolve_groups(
    samples: pd.DataFrame, by: str | Mapping[str, str] | pd.Series
) -> tuple[np.ndarray, list[str], str]:
    """Per-sample group codes (-1 = not analysed), sorted group names, and a label for ``by``.

    ``by`` is a sample column name, or a mapping / Series from sample id to group.
    """
    if isinstance(by, str):
        if by not in samples.columns:
            raise GenShareError(
                f"no sample column {by!r} to group by; columns: {list(samples.columns)}"
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


def variant_selection(
    ds, *, region: str | None = None, snps_only: bool = False
) -> tuple[np.ndarray, dict[str, Any], np.ndarray]:
    """Indices of the variants to analyse (before the MAF filter), what was dropped, and the
    alleles of every variant of the store (fixed-width strings, read once)."""
    n = ds.sizes["variants"]
    keep = np.ones(n, dtype=bool)
    info: dict[str, Any] = {"n_variants_in_store": int(n)}
    if region:
        contig, start, end = parse_region(region)
        contigs = list(_strings(ds["contig_id"].values))
        code = _contig_code(contigs, contig)
        keep &= ds["variant_contig"].values == code
        if start is not None:
            pos = ds["variant_position"].values
            keep &= (pos >= start) & (pos <= end)
        info["region"] = region
    alleles = _strings(ds["variant_allele"].values)
    n_alleles = (alleles != "").sum(axis=1)
    multi = keep & (n_alleles > 2)
    info["n_multiallelic_excluded"] = int(multi.sum())
    keep &= n_alleles == 2
    if snps_only:
        ref_ok = np.isin(np.char.upper(alleles[:, 0]), list(_BASES))
        alt_ok = np.isin(np.char.upper(alleles[:, 1]), list(_BASES))
        info["n_non_snp_excluded"] = int((keep & ~(ref_ok & alt_ok)).sum())
        keep &= ref_ok & alt_ok
    return np.flatnonzero(keep), info, alleles


def variant_span(ds, index: np.ndarray):
    """The contiguous slice of ``ds`` covering ``index`` and the rows of ``index`` within it.

    Genotype passes run over the whole slice (contiguous chunks, no gather) and keep the rows
    afterwards: much cheaper than fancy-indexing a chunked array.
    """
    if not len(index):
        return ds.isel(variants=slice(0, 0)), index
    lo, hi = int(index[0]), int(index[-1]) + 1
    return ds.isel(variants=slice(lo, hi)), index - lo


def _dask_group_counts(
    ds, codes: np.ndarray, n_groups: int, *, region: str | None, snps_only: bool
) -> tuple[np.ndarray, np.ndarray, dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """The Dask engine's pass: (raw counts, store index, selection info, alleles, contig
    names, positions) of the selected variants, in store order."""
    from genshare_widgets.engines._group_counts import FIELDS, group_counts

    index, info, all_alleles = variant_selection(ds, region=region, snps_only=snps_only)
    span, rows = variant_span(ds, index)
    raw = (
        group_counts(span["call_genotype"], codes, n_groups)[rows]
        if len(index)
        else np.zeros((0, n_groups, len(FIELDS)), dtype=np.int32)
    )
    contigs = _strings(ds["contig_id"].values)
    position = ds["variant_position"].values[index]
    contig_codes = ds["variant_contig"].values[index]
    return raw, index, info, all_alleles[index], contigs[contig_codes], position


def allele_counts_by_group(
    cohort,
    *,
    by: str | Mapping[str, str] | pd.Series = "population",
    region: str | None = None,
    min_maf: float | None = None,
    snps_only: bool = False,
):  # -> xarray.Dataset
    """Per-group allele counts in one genotype pass (see the module docstring for fields).

    Examples
    --------
    >>> from genshare_widgets import open_cohort
    >>> counts = allele_counts_by_group(open_cohort("sim-ooa"), by="population")  # doctest: +SKIP
    >>> counts.sizes  # doctest: +SKIP
    Frozen({'variants': 47364, 'groups': 3})
    """
    import xarray as xr

    from genshare_widgets.engines._group_counts import FIELDS

    if min_maf is not None and not 0 <= min_maf <= 0.5:
        raise GenShareError(f"--min-maf must be between 0 and 0.5, not {min_maf}")
    codes, names, label = resolve_groups(cohort.samples, by)
    analysed = codes >= 0
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
        contig_names, position = selected.contig, selected.position
    else:
        raw, index, info, alleles, contig_names, position = _dask_group_counts(
            cohort.genotypes, codes, len(names), region=region, snps_only=snps_only
        )
    if min_maf is not None and len(index):
        ac = raw[:, :, 0].sum(axis=1, dtype=np.int64)
        an = raw[:, :, 1].sum(axis=1, dtype=np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            af = np.where(an > 0, ac / np.maximum(an, 1), np.nan)
        maf = np.minimum(af, 1 - af)
        passing = maf >= min_maf  # NaN (no called allele) fails
        info["n_below_min_maf"] = int((~passing).sum())
        info["min_maf"] = min_maf
        raw, alleles, index = raw[passing], alleles[passing], index[passing]
        position, contig_names = position[passing], contig_names[passing]
    info["snps_only"] = snps_only
    info["n_variants_analysed"] = len(index)
    data = {name: (("variants", "groups"), raw[:, :, i]) for i, name in enumerate(FIELDS)}
    group_n = np.bincount(codes[analysed], minlength=len(names))
    counts = xr.Dataset(
        {
            **data,
            "group_n_samples": (("groups",), group_n.astype(np.int64)),
            "variant_contig": (("variants",), contig_names),
            "variant_position": (("variants",), np.asarray(position, dtype=np.int64)),
            "variant_ref": (("variants",), alleles[:, 0]),
            "variant_alt": (("variants",), alleles[:, 1]),
            "variant_index": (("variants",), index.astype(np.int64)),
        },
        coords={"groups": names},
        attrs={"by": label, "filters": info, "cohort": cohort.id},
    )
    return counts
