"""The selection value: which variants and which samples (in which groups) a genotype pass
counts, decided once at the top and handed down to the engines.

A :class:`Selection` holds the region, the biallelic and SNP filters, the MAF threshold and
the resolved grouping (a group code per sample and the sorted group names). It is built
where a run starts (:func:`genshare_widgets.counts.allele_counts_by_group`, ``genshare
stats``) and the engines (the bit-plane reader, the Dask pass, Hail) read it; they depend on
this module, never on :mod:`genshare_widgets.counts`, and the consent gate resolves a
grouping here without importing the cohort or counts modules.

Variant selection, applied in this order and recorded in the pass's ``info``:

1. ``region`` (``"1"``, ``"chr1:1000-2000"``, 1-based inclusive);
2. biallelic sites only: multi-allelic records are excluded (their count is in
   ``info["n_multiallelic_excluded"]``);
3. ``snps_only``: REF and ALT single bases (drops indels and symbolic alleles);
4. ``min_maf``: minor allele frequency over ALL analysed samples (every sample with a group).

This module imports numpy and the standard library only (pandas inside the functions that
take a DataFrame), so every layer may depend on it.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from genshare_widgets._errors import GenShareError

if TYPE_CHECKING:
    import pandas as pd

_REGION = re.compile(r"^(?P<contig>[^:]+)(?::(?P<start>[\d,]+)-(?P<end>[\d,]+))?$")
_BASES = {"A", "C", "G", "T"}


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


def contig_code(contigs: list[str], contig: str) -> int:
    """The index of ``contig`` among ``contigs``, with or without a ``chr`` prefix."""
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
    samples: "pd.DataFrame",
    by: "str | Mapping[str, str] | pd.Series",
    *,
    kept: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str], str]:
    """Per-sample group codes (-1 = not analysed), sorted group names, and a label for ``by``.

    ``by`` is a sample column name, or a mapping / Series from sample id to group. ``kept``
    (bool per sample, the cohort's :attr:`~genshare_widgets.cohort.Cohort.kept`): samples
    where it is False are withdrawn (:mod:`genshare_widgets._withdrawals`) and get no group,
    whatever ``by`` says.
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
    if kept is not None and not np.all(kept):
        if len(kept) != len(labels):
            raise ValueError(f"kept has {len(kept)} samples, the table {len(labels)}")
        labels = labels.where(np.asarray(kept, dtype=bool), None)
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
        code = contig_code([str(c) for c in contig_ids], contig)
        keep &= variant_contig == code
        if start is not None:
            keep &= (variant_position >= start) & (variant_position <= end)
    return keep


def allele_counts_per_record(alleles: np.ndarray) -> np.ndarray:
    """Alleles of each record of a store's ``variant_allele`` table (strings, "" pads)."""
    return (alleles != "").sum(axis=1)


def snv_flags(alleles: np.ndarray) -> np.ndarray:
    """True where REF and the first ALT of ``variant_allele`` are both single bases (A, C,
    G, T in either case)."""
    ref_ok = np.isin(np.char.upper(alleles[:, 0].astype(str)), list(_BASES))
    alt_ok = np.isin(np.char.upper(alleles[:, 1].astype(str)), list(_BASES))
    return ref_ok & alt_ok


def allele_flags(alleles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n_alleles, is_snv)`` of a store's ``variant_allele`` table: the compact arrays a
    store may carry so that :func:`select_variants` needs no strings."""
    return allele_counts_per_record(alleles), snv_flags(alleles)


def select_variants(
    *,
    contig_ids: np.ndarray,
    variant_contig: np.ndarray,
    variant_position: np.ndarray,
    alleles: np.ndarray | None = None,
    region: str | None = None,
    snps_only: bool = False,
    biallelic_only: bool = True,
    n_alleles: np.ndarray | None = None,
    is_snv: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Indices of the variants to analyse (before the MAF filter) and what was dropped.

    The numpy core shared by every genotype pass: ``alleles`` is the store's
    ``variant_allele`` (fixed-width or object strings, "" pads), ``contig_ids`` its contig
    names. A store that carries the compact per-variant arrays gives ``n_alleles`` (alleles
    per record) and, for ``snps_only``, ``is_snv`` (REF and first ALT single bases) instead:
    the masks are then vectorised and no string is touched (:func:`allele_flags` computes
    the same arrays from the strings). ``is_snv`` is read only on records with two alleles,
    where "REF and the first ALT" and "REF and every ALT" are the same rule; with
    ``biallelic_only=False`` and ``snps_only`` the strings decide (``alleles`` is then needed).
    ``biallelic_only=False`` keeps multi-allelic records (records with fewer than two alleles
    are always dropped).
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

    def strings() -> np.ndarray:
        if alleles is None:
            raise ValueError("select_variants needs alleles, or n_alleles (and is_snv)")
        return alleles

    n_alleles = np.asarray(allele_counts_per_record(strings()) if n_alleles is None else n_alleles)
    if biallelic_only:
        multi = keep & (n_alleles > 2)
        info["n_multiallelic_excluded"] = int(multi.sum())
        keep &= n_alleles == 2
    else:
        info["n_multiallelic_excluded"] = 0
        keep &= n_alleles >= 2
    if snps_only:
        precomputed = is_snv is not None and biallelic_only
        snv = np.asarray(is_snv, dtype=bool) if precomputed else snv_flags(strings())
        info["n_non_snp_excluded"] = int((keep & ~snv).sum())
        keep &= snv
    return np.flatnonzero(keep), info


def fixed_strings(values) -> np.ndarray:
    """Fixed-width unicode copy of a string array (zarr 3 returns numpy StringDType)."""
    return np.asarray(values, dtype=object).astype(str)


def variant_selection(
    ds, *, region: str | None = None, snps_only: bool = False
) -> tuple[np.ndarray, dict[str, Any], np.ndarray]:
    """Indices of the variants to analyse (before the MAF filter), what was dropped, and the
    alleles of every variant of the store (fixed-width strings, read once)."""
    alleles = fixed_strings(ds["variant_allele"].values)
    index, info = select_variants(
        contig_ids=fixed_strings(ds["contig_id"].values),
        variant_contig=ds["variant_contig"].values,
        variant_position=ds["variant_position"].values,
        alleles=alleles,
        region=region,
        snps_only=snps_only,
    )
    return index, info, alleles


def variant_span(ds, index: np.ndarray):
    """The contiguous slice of ``ds`` covering ``index`` and the rows of ``index`` within it.

    Genotype passes run over the whole slice (contiguous chunks, no gather) and keep the rows
    afterwards: much cheaper than fancy-indexing a chunked array.
    """
    if not len(index):
        return ds.isel(variants=slice(0, 0)), index
    lo, hi = int(index[0]), int(index[-1]) + 1
    return ds.isel(variants=slice(lo, hi)), index - lo


def apply_min_maf(
    raw: np.ndarray, index: np.ndarray, info: dict[str, Any], min_maf: float | None
) -> np.ndarray:
    """Boolean mask of the rows of ``raw`` (variants, groups, FIELDS) passing ``min_maf``.

    MAF is computed over all analysed samples (the sum over groups); a variant without any
    called allele fails. Records the filter in ``info``.
    """
    return maf_passing(raw[:, :, 0], raw[:, :, 1], info, min_maf)


def maf_passing(
    allele_count: np.ndarray, allele_number: np.ndarray, info: dict[str, Any], min_maf: float | None
) -> np.ndarray:
    """:func:`apply_min_maf` from the (variants, groups) ALT counts and called alleles alone."""
    if min_maf is None or not len(allele_count):
        return np.ones(len(allele_count), dtype=bool)
    ac, an = _row_sums(allele_count), _row_sums(allele_number)
    with np.errstate(invalid="ignore", divide="ignore"):
        af = np.where(an > 0, ac / np.maximum(an, 1), np.nan)
    maf = np.minimum(af, 1 - af)
    passing = maf >= min_maf  # NaN (no called allele) fails
    info["n_below_min_maf"] = int((~passing).sum())
    info["min_maf"] = min_maf
    return passing


def _row_sums(values: np.ndarray) -> np.ndarray:
    """int64 sum over groups of a (variants, groups) array, one column at a time (a few
    groups: ten times faster than ``sum(axis=1)``'s short inner loops; the same integers)."""
    total = np.zeros(values.shape[0], dtype=np.int64)
    for g in range(values.shape[1]):
        total += values[:, g]
    return total


def check_min_maf(min_maf: float | None) -> None:
    """Refuse a MAF threshold outside [0, 0.5]."""
    if min_maf is not None and not 0 <= min_maf <= 0.5:
        raise GenShareError(f"--min-maf must be between 0 and 0.5, not {min_maf}")


def _frozen_codes(codes: Any) -> np.ndarray:
    # A copy, so the caller's array can change without changing the selection. Left writable:
    # the compiled kernels would compile again for a read-only array type.
    return np.array(codes, dtype=np.int64)


@dataclass(frozen=True)
class Selection:
    """What a genotype pass counts: the variants (region, biallelic, SNP, MAF filters) and the
    samples' groups. Built once where a run starts; engines read it.

    Attributes
    ----------
    region
        ``CHR`` or ``CHR:START-END`` (1-based, inclusive), or None for the whole store.
    snps_only
        Keep records whose REF and ALT are single bases.
    biallelic_only
        Exclude multi-allelic records (the documented default; always True today).
    min_maf
        Minor allele frequency threshold over all analysed samples, or None.
    by
        The grouping's label (a column name, or the name of a given mapping).
    codes
        int64 group code per sample in genotype column order, -1 for samples left out
        (a copy of the given codes; do not modify it); empty for a selection of variants
        only.
    names
        Sorted group names (``codes`` index them).
    n_withdrawn
        Samples withdrawn from the cohort (:mod:`genshare_widgets._withdrawals`): their code
        is -1 whatever the grouping; recorded so that every output can say how many left.
    """

    region: str | None = None
    snps_only: bool = False
    biallelic_only: bool = True
    min_maf: float | None = None
    by: str | None = None
    codes: np.ndarray = field(default_factory=lambda: _frozen_codes([]), compare=False)
    names: tuple[str, ...] = ()
    n_withdrawn: int = 0

    def __post_init__(self) -> None:
        check_min_maf(self.min_maf)
        object.__setattr__(self, "codes", _frozen_codes(self.codes))
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        if len(self.codes) and int(self.codes.max()) >= len(self.names):
            raise ValueError(f"group codes up to {int(self.codes.max())} for {self.names}")

    @classmethod
    def build(
        cls,
        samples: "pd.DataFrame",
        by: "str | Mapping[str, str] | pd.Series",
        *,
        region: str | None = None,
        snps_only: bool = False,
        min_maf: float | None = None,
        kept: np.ndarray | None = None,
    ) -> "Selection":
        """The selection of a run: ``min_maf`` checked first, then ``by`` resolved against the
        sample table (:func:`resolve_groups`; its errors name the columns). ``kept``: the
        cohort's mask of samples not withdrawn (withdrawn samples get no group)."""
        check_min_maf(min_maf)
        codes, names, label = resolve_groups(samples, by, kept=kept)
        return cls(
            region=region,
            snps_only=snps_only,
            min_maf=min_maf,
            by=label,
            codes=codes,
            names=tuple(names),
            n_withdrawn=0 if kept is None else int(len(kept) - np.count_nonzero(kept)),
        )

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return len(self.names)

    @property
    def group_n(self) -> np.ndarray:
        """Samples in each group (int64, in the order of ``names``)."""
        return np.bincount(self.codes[self.codes >= 0], minlength=self.n_groups)

    def select(
        self,
        *,
        contig_ids: np.ndarray,
        variant_contig: np.ndarray,
        variant_position: np.ndarray,
        alleles: np.ndarray | None = None,
        n_alleles: np.ndarray | None = None,
        is_snv: np.ndarray | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """:func:`select_variants` with this selection's region and filters."""
        return select_variants(
            contig_ids=contig_ids,
            variant_contig=variant_contig,
            variant_position=variant_position,
            alleles=alleles,
            region=self.region,
            snps_only=self.snps_only,
            biallelic_only=self.biallelic_only,
            n_alleles=n_alleles,
            is_snv=is_snv,
        )

    def region_mask(
        self, *, contig_ids: np.ndarray, variant_contig: np.ndarray, variant_position: np.ndarray
    ) -> np.ndarray:
        """:func:`region_mask` of this selection's region."""
        return region_mask(
            contig_ids=contig_ids,
            variant_contig=variant_contig,
            variant_position=variant_position,
            region=self.region,
        )

    def maf_mask(self, raw: np.ndarray, index: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        """:func:`apply_min_maf` with this selection's threshold (records it in ``info``)."""
        return apply_min_maf(raw, index, info, self.min_maf)
