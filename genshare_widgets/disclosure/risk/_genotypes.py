"""Genotypes for the risk lab: dosage matrices and the member / non-member / reference split.

The setting is Homer et al. (2008)'s: a study releases aggregate statistics of a **pool** of
participants (allele frequencies, a Beacon); the attacker holds the genotypes of a target
person and allele frequencies of a **reference** panel of the same ancestry (in practice a
public panel such as 1000 Genomes or gnomAD), and asks whether the target is in the pool.
The lab draws all three sets from one population of a cohort, so ancestry is matched and
the attack measures membership, not ancestry:

- ``members``: the released pool (the positives of the test);
- ``nonmembers``: people of the same population outside the pool (the negatives);
- ``reference``: the attacker's panel, disjoint from both.

The draw is a seeded permutation of the population's samples (numpy ``default_rng(seed)``).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError


@dataclass(frozen=True)
class MembershipSplit:
    """Which samples are pool members, non-members and the attacker's reference panel.

    Attributes
    ----------
    members, nonmembers, reference
        Sample ids (disjoint), in cohort column order within each set.
    population
        The population they were drawn from (``None`` for a hand-made split).
    seed
        The seed of the draw.
    """

    members: tuple[str, ...]
    nonmembers: tuple[str, ...]
    reference: tuple[str, ...]
    population: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        sets = [set(self.members), set(self.nonmembers), set(self.reference)]
        if sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]:
            raise GenShareError("members, non-members and the reference panel must be disjoint")
        if min(len(s) for s in sets) < 2:
            raise GenShareError(
                "members, non-members and the reference panel need at least 2 samples each "
                f"(got {len(self.members)}, {len(self.nonmembers)}, {len(self.reference)})"
            )


@dataclass(frozen=True)
class SplitGenotypes:
    """Dosage matrices (persons × variants, float64: 0/1/2, NaN missing) of a split.

    Attributes
    ----------
    members, nonmembers, reference
        One row per sample of the corresponding set of ``split``.
    variants
        One row per column: ``contig, position, ref, alt, variant_index``.
    split
        The :class:`MembershipSplit`.
    cohort_id
        The cohort the genotypes come from.
    """

    members: np.ndarray
    nonmembers: np.ndarray
    reference: np.ndarray
    variants: pd.DataFrame
    split: MembershipSplit
    cohort_id: str | None = None

    @property
    def n_variants(self) -> int:
        """Number of variants (columns)."""
        return int(self.members.shape[1])


def membership_split(
    cohort,
    *,
    population: str,
    n_members: int,
    n_nonmembers: int,
    n_reference: int | None = None,
    by: str = "population",
    seed: int = 0,
) -> MembershipSplit:
    """Draw a seeded split of one population's samples into members, non-members, reference.

    Parameters
    ----------
    cohort
        A :class:`~genshare_widgets.cohort.Cohort` (only its sample table is read).
    population
        The value of ``by`` whose samples are split.
    n_members, n_nonmembers
        Sizes of the released pool and of the test negatives.
    n_reference
        Size of the attacker's reference panel (default: every remaining sample).
    by
        The sample column holding ``population``.
    seed
        Seed of the permutation.

    Examples
    --------
    >>> split = membership_split(cohort, population="CEU", n_members=30, n_nonmembers=30,
    ...                          seed=1)  # doctest: +SKIP
    >>> len(split.members), len(split.reference)  # doctest: +SKIP
    (30, 40)
    """
    samples = cohort.samples
    if by not in samples.columns:
        raise GenShareError(f"no sample column {by!r}; columns: {list(samples.columns)}")
    kept = getattr(cohort, "kept", None)
    kept = np.ones(len(samples), dtype=bool) if kept is None else np.asarray(kept, dtype=bool)
    # withdrawn samples (dynamic consent) are never drawn, whatever value is asked for
    values = samples[by]
    chosen = values.notna().to_numpy() & (values.astype(str) == str(population)).to_numpy()
    ids = [str(s) for s in samples.index[chosen & kept]]
    if not ids:
        known = sorted(samples[by].dropna().astype(str).unique())
        raise GenShareError(f"no sample has {by} = {population!r}; values: {known}")
    rest = len(ids) - n_members - n_nonmembers
    n_ref = rest if n_reference is None else n_reference
    if n_members < 2 or n_nonmembers < 2 or n_ref < 2 or n_ref > rest:
        raise GenShareError(
            f"{population} has {len(ids)} samples: too few for {n_members} members, "
            f"{n_nonmembers} non-members and a reference panel of {n_ref} (at least 2 each)"
        )
    order = np.random.default_rng(seed).permutation(len(ids))
    position = {s: i for i, s in enumerate(samples.index.astype(str))}

    def pick(lo: int, hi: int) -> tuple[str, ...]:
        return tuple(sorted((ids[i] for i in order[lo:hi]), key=position.__getitem__))

    return MembershipSplit(
        members=pick(0, n_members),
        nonmembers=pick(n_members, n_members + n_nonmembers),
        reference=pick(n_members + n_nonmembers, n_members + n_nonmembers + n_ref),
        population=str(population),
        seed=seed,
    )


def dosage_matrix(
    cohort,
    *,
    samples: Sequence[str],
    region: str | None = None,
    max_variants: int | None = None,
    snps_only: bool = True,
) -> tuple[np.ndarray, pd.DataFrame]:
    """ALT allele dosages (samples × variants) of chosen samples, from the Dask engine.

    Biallelic variants only (and SNPs only by default), inside ``region``, the first
    ``max_variants`` of them in store order. Only the chosen samples and the contiguous span
    of variants are computed. A dosage is the number of ALT alleles (0, 1, 2) of a call whose
    alleles are all present; a call with a missing (-1) or absent (-2, haploid padding)
    allele is NaN, so the lab works on diploid calls.

    Returns
    -------
    (numpy.ndarray, pandas.DataFrame)
        float64 dosages, shape (len(samples), n_variants); and the variant table
        ``contig, position, ref, alt, variant_index``.

    Examples
    --------
    >>> x, variants = dosage_matrix(cohort, samples=["tsk_0", "tsk_1"],
    ...                             max_variants=1000)  # doctest: +SKIP
    >>> x.shape  # doctest: +SKIP
    (2, 1000)
    """
    from genshare_widgets._selection import fixed_strings as _strings
    from genshare_widgets._selection import variant_selection, variant_span

    if getattr(cohort, "engine", "dask") != "dask":
        raise GenShareError("the risk lab reads genotypes with the Dask engine (engine='dask')")
    if max_variants is not None and max_variants < 1:
        raise GenShareError(f"max_variants must be positive (got {max_variants})")
    ds = cohort.genotypes
    column = {s: i for i, s in enumerate(str(s) for s in ds["sample_id"].values)}
    kept = getattr(cohort, "kept", None)
    if kept is not None:  # withdrawn or not in --samples: not in the cohort
        column = {s: i for s, i in column.items() if kept[i]}
    missing = [s for s in samples if str(s) not in column]
    if missing:
        raise GenShareError(
            f"{len(missing)} samples are not in cohort {cohort.id!r} (or were withdrawn): "
            f"{missing[:5]}"
        )
    # sites biallelic in the store: the dosages below count every non-REF allele
    index, _alt, _info, alleles = variant_selection(
        ds, region=region, snps_only=snps_only, biallelic_only=True
    )
    if max_variants is not None:
        index, alleles = index[:max_variants], alleles[:max_variants]
    cols = np.array([column[str(s)] for s in samples], dtype=np.int64)
    if len(index):
        span, rows = variant_span(ds, index)
        gt = span["call_genotype"].isel(samples=cols).data  # (variants, samples, ploidy)
        gt = np.asarray(gt[rows].compute() if hasattr(gt, "compute") else gt[rows])
    else:
        gt = np.zeros((0, len(cols), 2), dtype=np.int8)
    complete = (gt >= 0).all(axis=2)
    dosage = np.where(complete, (gt > 0).sum(axis=2), np.nan).T.astype(np.float64)
    contigs = _strings(ds["contig_id"].values)
    variants = pd.DataFrame(
        {
            "contig": contigs[ds["variant_contig"].values[index]] if len(index) else [],
            "position": ds["variant_position"].values[index].astype(np.int64),
            "ref": alleles[:, 0] if len(index) else [],
            "alt": alleles[:, 1] if len(index) else [],
            "variant_index": index.astype(np.int64),
        }
    )
    return dosage, variants


def split_genotypes(
    cohort,
    split: MembershipSplit,
    *,
    region: str | Sequence[str] | None = None,
    max_variants: int | None = None,
    snps_only: bool = True,
) -> SplitGenotypes:
    """The dosages of a split's three sets over the lab's SNP panel.

    The panel: biallelic SNPs of ``region`` (one region, or several in turn, e.g. the
    autosomes; see :func:`dosage_matrix`) that carry at least one ALT allele among the
    split's samples (sites monomorphic in all of them carry no information), then the first
    ``max_variants`` of those.

    Examples
    --------
    >>> autosomes = [str(c) for c in range(1, 23)]
    >>> data = split_genotypes(cohort, split, region=autosomes)  # doctest: +SKIP
    >>> data.members.shape  # doctest: +SKIP
    (30, 19873)
    """
    everyone = [*split.members, *split.nonmembers, *split.reference]
    regions = [region] if region is None or isinstance(region, str) else list(region)
    parts = [
        dosage_matrix(cohort, samples=everyone, region=r, snps_only=snps_only) for r in regions
    ]
    dosage = np.hstack([p[0] for p in parts])
    variants = pd.concat([p[1] for p in parts], ignore_index=True)
    keep = np.flatnonzero(np.nansum(dosage, axis=0) > 0)
    if max_variants is not None:
        keep = keep[:max_variants]
    if not len(keep):
        raise GenShareError("no variant of the selection is polymorphic in the split's samples")
    dosage = dosage[:, keep]
    a, b = len(split.members), len(split.members) + len(split.nonmembers)
    return SplitGenotypes(
        members=dosage[:a],
        nonmembers=dosage[a:b],
        reference=dosage[b:],
        variants=variants.iloc[keep].reset_index(drop=True),
        split=split,
        cohort_id=cohort.id,
    )
