"""The selection value: which variants and which samples (in which groups) a genotype pass
counts, decided once at the top and handed down to the engines.

A :class:`Selection` holds the region, the SNP filter, the MAF threshold and
the resolved grouping (a group code per sample and the sorted group names). It is built
where a run starts (:func:`genshare_widgets.counts.allele_counts_by_group`, ``genshare
stats``) and the engines (the bit-plane reader, the Dask pass, Hail) read it; they depend on
this module, never on :mod:`genshare_widgets.counts`, and the consent gate resolves a
grouping here without importing the cohort or counts modules.

Variant selection, applied in this order and recorded in the pass's ``info``:

1. ``region`` (``"1"``, ``"chr1:1000-2000"``, 1-based inclusive);
2. multi-allelic records are split into one biallelic record per ALT allele, as
   ``bcftools norm -m-`` does (the other ALTs count as REF; ``info["n_multiallelic_split"]``
   rows became ``info["n_split_records"]`` records); the variant axis is (store row, ALT
   index);
3. ``snps_only``: REF and ALT single bases, per split record (drops indels and symbolic
   alleles);
4. ``min_maf``: minor allele frequency over ALL analysed samples (every sample with a group).

This module imports numpy and the standard library only (pandas inside the functions that
take a DataFrame), so every layer may depend on it.
"""

import re
from collections.abc import Callable, Mapping
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
    biallelic_only: bool = False,
    n_alleles: np.ndarray | None = None,
    is_snv: np.ndarray | None = None,
    alleles_of: "Callable[[np.ndarray], np.ndarray] | None" = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The records to analyse (before the MAF filter): ``(index, alt_allele, info)``.

    A record with A ALT alleles becomes A biallelic records, as ``bcftools norm -m-`` splits
    it: ``index`` (int64) is the store row of each record (repeated for a split one, sorted)
    and ``alt_allele`` (int16) its ALT allele's index in the row (1 = first ALT); the other
    ALT alleles count as REF. ``info`` records ``n_multiallelic_split`` (multi-allelic rows in
    the region) and ``n_split_records`` (the biallelic records they became) before the SNP
    filter, and ``n_non_snp_excluded``.

    The numpy core shared by every genotype pass: ``alleles`` is the store's
    ``variant_allele`` (fixed-width or object strings, "" pads), ``contig_ids`` its contig
    names. A store that carries the compact per-variant arrays gives ``n_alleles`` (alleles
    per record) and, for ``snps_only``, ``is_snv`` (REF and first ALT single bases)
    instead: the masks are then vectorised, and with ``snps_only`` only the multi-allelic
    rows need their strings, from ``alleles_of(rows)`` (the ``variant_allele`` rows
    ``rows``; default: ``alleles[rows]``). ``snps_only`` applies per split record (its REF
    and its ALT), as after ``bcftools norm -m-``. Records with fewer than two alleles are
    always dropped.

    ``biallelic_only=True`` keeps sites that are biallelic in the store (multi-allelic rows
    are excluded, ``info["n_multiallelic_excluded"]``): the passes that read a store row's
    dosage of its first ALT (PCA, the risk lab) use it.

    Examples
    --------
    >>> index, alt, info = select_variants(
    ...     contig_ids=np.array(["1"]), variant_contig=np.array([0, 0]),
    ...     variant_position=np.array([5, 9]), alleles=np.array([["A", "C", ""], ["G", "T", "TA"]]),
    ... )
    >>> index.tolist(), alt.tolist(), info["n_split_records"]
    ([0, 1, 1], [1, 1, 2], 2)
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

    def strings(rows: np.ndarray | None = None) -> np.ndarray:
        if rows is not None and alleles_of is not None:
            return np.asarray(alleles_of(rows))
        if alleles is None:
            raise ValueError("select_variants needs alleles, or n_alleles (and is_snv)")
        return alleles if rows is None else alleles[rows]

    n_alleles = np.asarray(allele_counts_per_record(strings()) if n_alleles is None else n_alleles)
    is_multi = keep & (n_alleles > 2)
    if biallelic_only:
        info["n_multiallelic_excluded"] = int(is_multi.sum())
        keep &= n_alleles == 2
        multi = np.zeros(0, dtype=np.int64)
    else:
        keep &= n_alleles >= 2
        multi = np.flatnonzero(is_multi)
        info["n_multiallelic_split"] = len(multi)
        info["n_split_records"] = int(n_alleles[multi].astype(np.int64).sum() - len(multi))
    if not len(multi):  # the common case: no row to split, no strings to read
        if snps_only:
            snv = np.asarray(is_snv, dtype=bool) if is_snv is not None else snv_flags(strings())
            info["n_non_snp_excluded"] = int((keep & ~snv).sum())
            keep &= snv
        index = np.flatnonzero(keep)
        return index, np.ones(len(index), dtype=np.int16), info
    single = keep & (n_alleles == 2)
    rows_1 = np.flatnonzero(single)
    per_row = n_alleles[multi].astype(np.int64) - 1  # records each multi-allelic row becomes
    rows_m = np.repeat(multi, per_row)
    alt_m = np.arange(len(rows_m)) - np.repeat(np.cumsum(per_row) - per_row, per_row) + 1
    if snps_only:
        if is_snv is not None:
            snv_1 = np.asarray(is_snv, dtype=bool)[rows_1]
        else:
            snv_1 = snv_flags(strings(rows_1)) if len(rows_1) else np.zeros(0, dtype=bool)
        # each split record's own REF and ALT decide, from the (few) multi-allelic rows'
        # strings: ``is_snv`` speaks for a row's first ALT (or all ALTs), not for each
        kept_m = split_snv_flags(strings(multi), n_alleles[multi])
        info["n_non_snp_excluded"] = int((~snv_1).sum() + (~kept_m).sum())
        rows_1, rows_m, alt_m = rows_1[snv_1], rows_m[kept_m], alt_m[kept_m]
    index = np.concatenate([rows_1, rows_m])
    alt = np.concatenate([np.ones(len(rows_1), dtype=np.int64), alt_m])
    order = np.lexsort((alt, index))
    return index[order].astype(np.int64), alt[order].astype(np.int16), info


def split_snv_flags(alleles: np.ndarray, n_alleles: np.ndarray) -> np.ndarray:
    """For each split record of the rows ``alleles`` (multi-allelic ``variant_allele`` rows),
    in row then ALT order: True when its REF and its ALT are single bases."""
    table = np.char.upper(np.asarray(alleles).astype(str))
    base = np.isin(table, list(_BASES))
    out = [base[r, 0] & base[r, i] for r in range(len(table)) for i in range(1, int(n_alleles[r]))]
    return np.array(out, dtype=bool)


def record_alleles(
    ref_alt: np.ndarray,
    index: np.ndarray,
    alt_allele: np.ndarray,
    alleles_of: "Callable[[np.ndarray], np.ndarray]",
) -> np.ndarray:
    """REF/ALT (records, 2) of the records ``(index, alt_allele)``: ``ref_alt`` holds each
    record's REF and first ALT; the records of a later ALT get that ALT (from
    ``alleles_of(rows)``, the ``variant_allele`` rows), widening the strings if needed."""
    later = np.flatnonzero(alt_allele > 1)
    if not len(later):
        return ref_alt
    rows = np.asarray(alleles_of(index[later])).astype(str)
    alts = rows[np.arange(len(later)), alt_allele[later].astype(np.int64)]
    width = max(ref_alt.dtype.itemsize // 4, int(np.char.str_len(alts).max()), 1)
    out = ref_alt.astype(f"<U{width}")
    out[later, 1] = alts
    return out


def fixed_strings(values) -> np.ndarray:
    """Fixed-width unicode copy of a string array (zarr 3 returns numpy StringDType)."""
    return np.asarray(values, dtype=object).astype(str)


def variant_selection(
    ds, *, region: str | None = None, snps_only: bool = False, biallelic_only: bool = False
) -> tuple[np.ndarray, np.ndarray, dict[str, Any], np.ndarray]:
    """The records to analyse (before the MAF filter) of an xarray store: ``(index,
    alt_allele, info, ref_alt)`` as :func:`select_variants` gives them, and each record's REF
    and ALT (fixed-width strings (records, 2); the store's alleles are read once)."""
    alleles = fixed_strings(ds["variant_allele"].values)
    index, alt, info = select_variants(
        contig_ids=fixed_strings(ds["contig_id"].values),
        variant_contig=ds["variant_contig"].values,
        variant_position=ds["variant_position"].values,
        alleles=alleles,
        region=region,
        snps_only=snps_only,
        biallelic_only=biallelic_only,
    )
    ref_alt = alleles[index][:, :2] if alleles.shape[1] >= 2 else np.zeros((len(index), 2), str)
    return index, alt, info, record_alleles(ref_alt, index, alt, alleles.__getitem__)


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
    """What a genotype pass counts: the variants (region, SNP, MAF filters; multi-allelic
    records split per ALT allele) and the samples' groups. Built once where a run starts;
    engines read it.

    Attributes
    ----------
    region
        ``CHR`` or ``CHR:START-END`` (1-based, inclusive), or None for the whole store.
    snps_only
        Keep records whose REF and ALT are single bases.
    biallelic_only
        Exclude multi-allelic records instead of splitting them (PCA's sites, as PLINK 2's
        ``--pca``); False (split, as ``bcftools norm -m-``) for counts.
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
    biallelic_only: bool = False
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
        biallelic_only: bool = False,
    ) -> "Selection":
        """The selection of a run: ``min_maf`` checked first, then ``by`` resolved against the
        sample table (:func:`resolve_groups`; its errors name the columns). ``kept``: the
        cohort's mask of samples not withdrawn (withdrawn samples get no group)."""
        check_min_maf(min_maf)
        codes, names, label = resolve_groups(samples, by, kept=kept)
        return cls(
            region=region,
            snps_only=snps_only,
            biallelic_only=biallelic_only,
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
        alleles_of: "Callable[[np.ndarray], np.ndarray] | None" = None,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
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
            alleles_of=alleles_of,
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
