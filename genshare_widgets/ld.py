"""Linkage disequilibrium of a cohort: LD pruning as ``plink2 --indep-pairwise``, r² matrices
of a region and LD decay by distance, per population.

r² is the squared correlation of unphased ALT dosages over the samples called at both
variants (:mod:`genshare_widgets.stats._ld` defines it; PLINK 2's ``--indep-pairwise`` uses
the same). Only sites biallelic in the store are analysed (as PLINK 2's ``--pca``; to compare
with PLINK 2 give it ``--max-alleles 2``): GenShare splits multi-allelic sites per ALT, and
two records of one site are not two loci.

:func:`ld_prune` reproduces ``plink2 [--maf F] [--snps-only] --indep-pairwise W[kb] S R2``
(PLINK 2.00a3's pruning order, which later PLINK 2 builds run with ``--indep-order 1``; their
default ``--indep-order 2`` scans each window backwards and is not implemented): the same
windows (variant counts, or kb with step 1, over the analysed variants of each contig), the
same pairwise-complete r² from exact integer counts, the same greedy removal (the lower-MAF
variant of a pair above the threshold goes; ties drop the later one), and variants with no
genotype variance removed. Tests hold the kept set equal to PLINK 2's on HapMap3 and the 1000
Genomes subset.

Disclosure (registered/controlled tiers, or any active policy with minimum count k): an r²
between rare variants names carriers (r² = 1 between two singletons says one person carries
both), and a pruned set chosen by LD among rare variants is a selection made on a few
people's genotypes. So under a policy every LD output — pruning, r² matrices, decay — uses
only variants whose minor allele count among the analysed samples is at least k and whose
genotype counts are each 0 or at least k (an exact r² pins Σx², hence the hom-ALT count),
withholds an r² with a co-copy sum in 1..k−1 (:func:`stats._ld.co_copy_sums`; such a pair
never prunes), applies ``min_maf`` after these rules only, refuses analysed sample sets of
fewer than k samples, and suppresses decay bins averaging fewer than k pairs. Grouping by
population passes the consent gate (``check_grouping``), as Fst.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from genshare_widgets._errors import GenShareError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class PruneSettings:
    """``--indep-pairwise`` parameters: a window of ``window`` variants, or of ``window_kb``
    kilobases (then ``step`` must be 1); ``step`` variants per move; ``r2`` threshold."""

    window: int | None
    step: int
    r2: float
    window_kb: float | None = None

    @classmethod
    def parse(cls, window: "int | str", step: int = 1, r2: float = 0.5) -> "PruneSettings":
        """From PLINK's spelling: ``window`` 50 or ``"50"`` (variants) or ``"500kb"``.

        Examples
        --------
        >>> PruneSettings.parse("250kb", 1, 0.1).window_bp
        250000
        """
        text = str(window).strip().lower()
        kb = text.endswith("kb")
        try:
            value = float(text[:-2] if kb else text)
        except ValueError:
            raise GenShareError(
                f"LD window {window!r} is not a number of variants (e.g. 50) or of kilobases "
                "(e.g. 500kb)"
            ) from None
        if not isinstance(step, int) or step < 1:
            raise GenShareError(f"LD step must be a whole number >= 1, not {step!r}")
        if not 0 <= float(r2) < 1:
            raise GenShareError(f"LD r2 threshold must be in [0, 1), not {r2!r} (PLINK's rule)")
        if kb:
            if step != 1:
                raise GenShareError("with a kb window the step must be 1 (as in PLINK 2)")
            settings = cls(window=None, step=1, r2=float(r2), window_kb=value)
            if (settings.window_bp or 0) < 2:
                raise GenShareError(f"LD window {window!r} is below 2 bp")
            return settings
        if value != int(value) or value < 2:
            raise GenShareError(f"LD window must be a whole number of variants >= 2, not {window}")
        if step > value:
            raise GenShareError(f"LD step {step} is larger than the window {int(value)}")
        return cls(window=int(value), step=step, r2=float(r2))

    @property
    def window_bp(self) -> int | None:
        """The kb window in bp as PLINK 2 rounds it (``int(kb · 1000 · (1 + 2⁻⁴⁴))``)."""
        if self.window_kb is None:
            return None
        return int(self.window_kb * 1000 * (1 + 2.0**-44))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (provenance, figure recipes)."""
        return {
            "window": self.window,
            "window_kb": self.window_kb,
            "step": self.step,
            "r2": self.r2,
        }

    def plink_args(self) -> str:
        """The equivalent PLINK 2 arguments."""
        win = f"{self.window_kb:g}kb" if self.window_kb is not None else str(self.window)
        return f"--indep-pairwise {win} {self.step} {self.r2:g}"


def as_settings(value) -> PruneSettings:
    """A :class:`PruneSettings` from itself, a ``(window, step, r2)`` tuple, or ``"W,S,R2"``."""
    if isinstance(value, PruneSettings):
        return value
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        if len(parts) != 3:
            raise GenShareError(
                f"--ld-prune {value!r}: give WINDOW,STEP,R2 (e.g. 50,5,0.2 or 500kb,1,0.2)"
            )
        try:
            return PruneSettings.parse(parts[0], int(parts[1]), float(parts[2]))
        except ValueError:
            raise GenShareError(f"--ld-prune {value!r}: STEP must be whole, R2 a number") from None
    if isinstance(value, dict):
        win = value.get("window") or f"{value['window_kb']}kb"
        return PruneSettings.parse(win, int(value["step"]), float(value["r2"]))
    try:
        window, step, r2 = value
    except (TypeError, ValueError):
        raise GenShareError(f"ld_prune={value!r}: give (window, step, r2)") from None
    return PruneSettings.parse(window, int(step), float(r2))


def _require_local(cohort) -> None:
    if getattr(cohort, "engine", "dask") == "hail":
        raise GenShareError(
            "LD runs on the local engine: open the cohort with engine='dask' (the default)"
        )


def _policy(cohort, policy):
    """``policy``, or the cohort's access-tier default."""
    if policy is not None:
        return policy
    from genshare_widgets.disclosure import policy_for

    return policy_for(getattr(cohort, "entry", None))


def _mac_floor(policy) -> int:
    """k of the LD rules under an active policy (1 without one)."""
    if policy is None or not policy.active:
        return 1
    from genshare_widgets.disclosure._publishing import min_difference

    return min_difference(policy)


def _plane_source(cohort, index: np.ndarray, keep: np.ndarray):
    from genshare_widgets.counts import _direct_store, pass_scheduler
    from genshare_widgets.engines._ld_pass import PlaneSource

    direct = _direct_store(cohort) if pass_scheduler(cohort) is None else None
    calls = None if direct is not None else cohort.genotypes["call_genotype"]
    return PlaneSource(direct, calls, index, keep)


def _summed(counts, name: str) -> np.ndarray:
    return np.asarray(counts[name].values, dtype=np.int64).sum(axis=1)


def prune_counts(cohort, counts, keep: np.ndarray, settings, *, min_shared: int = 0) -> np.ndarray:
    """bool per variant of ``counts`` (the analysed variants, in store order, counted over the
    samples ``keep``; any grouping, summed): kept by ``--indep-pairwise settings``.

    The building block of :func:`ld_prune`, the PCA's ``ld_prune=`` and the reference panels:
    give it the counts your analysis already selected (MAF filter included), so pruning runs
    on exactly the variants the analysis uses. ``min_shared``: under a disclosure policy its
    k — a pair whose r² the door withholds (a co-copy sum in 1..k−1) never prunes, so
    ``prune.in`` over ``--r2`` thresholds is no oracle on it.
    """
    from genshare_widgets.engines._ld_pass import plan_windows, prune

    _require_local(cohort)
    settings = as_settings(settings)
    keep = np.asarray(keep, dtype=bool)
    index = np.asarray(counts["variant_index"].values, dtype=np.int64)
    if not len(index):
        return np.zeros(0, dtype=bool)
    if (np.asarray(counts["variant_allele_index"].values) > 1).any():
        raise GenShareError("LD pruning takes biallelic sites only (count with biallelic_only)")
    called = _summed(counts, "called_count")
    het, hom = _summed(counts, "het_count"), _summed(counts, "hom_alt_count")
    ac, an = _summed(counts, "allele_count"), _summed(counts, "allele_number")
    with np.errstate(invalid="ignore", divide="ignore"):
        major = np.where(an > 0, np.maximum(ac, an - ac) / np.maximum(an, 1), 1.0)
    contig = np.asarray(counts["variant_contig"].values)
    _, contig_code = np.unique(contig, return_inverse=True)
    windows = plan_windows(
        contig_code,
        np.asarray(counts["variant_position"].values, dtype=np.int64),
        window=settings.window or 0,
        step=settings.step,
        window_bp=settings.window_bp,
    )
    removed = prune(
        _plane_source(cohort, index, keep),
        n_samples=int(keep.sum()),
        called=called,
        dosage_sum=het + 2 * hom,
        dosage_ssq=het + 4 * hom,
        major_freq=major,
        windows=windows,
        r2=settings.r2,
        min_shared=min_shared,
    )
    return ~removed


def analysed_samples(
    cohort, *, by=None, groups=None, keep=None, policy=None, analysis="LD"
) -> np.ndarray:
    """bool per sample: not withdrawn, in the mask ``keep`` (bool per sample) when given,
    and in ``groups`` of ``by`` when given (consent gate first: a grouping that compares
    populations is refused where the codes forbid it). Under a policy a set of fewer than k
    samples is refused."""
    from genshare_widgets.counts import resolve_groups, withdrawal_mask

    kept = withdrawal_mask(cohort)
    mask = np.ones(cohort.n_samples, dtype=bool) if kept is None else kept.copy()
    if keep is not None:
        if len(keep) != cohort.n_samples:
            raise GenShareError(f"keep= has {len(keep)} values for {cohort.n_samples} samples")
        mask &= np.asarray(keep, dtype=bool)
    keep = mask
    if groups is not None and by is None:
        raise GenShareError("groups= needs by= (the sample column whose groups are analysed)")
    if by is not None:
        if getattr(cohort, "entry", None) is not None:
            from genshare_widgets.disclosure._gate import check_grouping

            check_grouping(cohort, by, analysis=f"{analysis} by group")
        if groups is not None:
            codes, names, _ = resolve_groups(cohort.samples, by)
            wanted = [groups] if isinstance(groups, str) else list(groups)
            unknown = sorted(set(wanted) - set(names))
            if unknown or not wanted:
                raise GenShareError(f"groups {unknown or wanted} are not among {names} ({by})")
            keep &= np.isin(codes, [names.index(g) for g in wanted])
    k = _mac_floor(policy)
    if k > 1 and keep.sum() < k:
        from genshare_widgets.disclosure._publishing import ReleaseRefused

        raise ReleaseRefused(
            f"refused: the analysed samples number fewer than k={k}; {analysis} of so few "
            "people is not released under the cohort's disclosure policy"
        )
    if keep.sum() < 2:
        raise GenShareError(f"{analysis} needs at least 2 analysed samples")
    return keep


def _counts(cohort, keep, *, region, min_maf, snps_only):
    import pandas as pd

    from genshare_widgets.counts import allele_counts_by_group

    label = pd.Series("analysed", index=cohort.samples.index, dtype=object).where(keep, None)
    return allele_counts_by_group(
        cohort,
        by=label,
        region=region,
        min_maf=min_maf,
        snps_only=snps_only,
        biallelic_only=True,
    )


def _analysed_counts(cohort, keep, *, region, min_maf, snps_only, k: int):
    """The counts of an LD release and how many variants the rare rule left out; under a
    policy the MAF filter runs after the rules (:func:`_ld_rules.maf_filter`)."""
    if k <= 1:
        return _counts(cohort, keep, region=region, min_maf=min_maf, snps_only=snps_only), 0
    from genshare_widgets._ld_rules import maf_filter

    counts = _counts(cohort, keep, region=region, min_maf=None, snps_only=snps_only)
    counts, n_rare = _rare_rule(counts, k)
    return maf_filter(counts, min_maf), n_rare


def _rare_rule(counts, k: int):
    """``counts`` restricted to variants whose minor allele count is >= k and whose genotype
    counts (hom-REF, het, hom-ALT, not called) are each 0 or >= k (k > 1: an exact r² pins a
    variant's hom-ALT count, :func:`stats._ld.small_genotype_row`)."""
    if k <= 1:
        return counts, 0
    from genshare_widgets.stats._ld import minor_allele_count

    mac = minor_allele_count(_summed(counts, "allele_count"), _summed(counts, "allele_number"))
    from genshare_widgets._ld_rules import small_rows

    ok = (mac >= k) & ~small_rows(counts, k)
    return counts.isel(variants=np.flatnonzero(ok)), int((~ok).sum())


@dataclass
class LDPruneResult:
    """The variants ``--indep-pairwise`` keeps (``kept``: contig, position, ref, alt; their
    store rows in ``variant_index``) and what was analysed."""

    kept: "pd.DataFrame"
    variant_index: np.ndarray
    settings: PruneSettings
    n_analysed: int
    n_samples: int
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def n_removed(self) -> int:
        """Variants analysed but not kept."""
        return self.n_analysed - len(self.kept)

    def provenance(self) -> dict[str, Any]:
        """JSON-ready record of the run."""
        return {
            **self.settings.to_dict(),
            "plink2_equivalent": self.settings.plink_args(),
            "r2_definition": "squared Pearson correlation of unphased ALT dosages over samples "
            "called at both variants (PLINK 2 --indep-pairwise)",
            "n_variants_analysed": self.n_analysed,
            "n_variants_kept": len(self.kept),
            "n_samples": self.n_samples,
            "filters": self.filters,
        }


def ld_prune(
    cohort,
    *,
    window: "int | str",
    step: int = 1,
    r2: float,
    by: str | None = None,
    groups: "str | list[str] | None" = None,
    keep: np.ndarray | None = None,
    region: str | None = None,
    min_maf: float | None = None,
    snps_only: bool = False,
    policy=None,
) -> LDPruneResult:
    """LD pruning with the semantics of ``plink2 --indep-pairwise WINDOW STEP R2``.

    ``window``: variants (``50``) or kilobases (``"500kb"``, then ``step`` is 1). Samples:
    everyone not withdrawn, or the ``groups`` of column ``by``, or the mask ``keep`` (bool
    per sample). Variants: sites biallelic in the store, in ``region``, SNVs with
    ``snps_only``, MAF ≥ ``min_maf`` over the analysed samples (applied first, as
    ``plink2 --maf F --indep-pairwise``). Under a disclosure ``policy`` (default: the
    cohort's tier) only variants with minor allele count ≥ k among the analysed samples
    enter (see the module docstring).

    Examples
    --------
    >>> result = ld_prune(open_cohort("hapmap3"), window=50, step=5, r2=0.2)  # doctest: +SKIP
    >>> result.kept.head()  # doctest: +SKIP
    """
    import pandas as pd

    settings = PruneSettings.parse(window, step, r2)
    policy = _policy(cohort, policy)
    _require_local(cohort)
    keep = analysed_samples(
        cohort, by=by, groups=groups, keep=keep, policy=policy, analysis="LD pruning"
    )
    counts, n_rare = _analysed_counts(
        cohort, keep, region=region, min_maf=min_maf, snps_only=snps_only, k=_mac_floor(policy)
    )
    kept = prune_counts(cohort, counts, keep, settings, min_shared=_mac_floor(policy))
    rows = np.flatnonzero(kept)
    table = pd.DataFrame(
        {
            "contig": np.asarray(counts["variant_contig"].values)[rows],
            "position": np.asarray(counts["variant_position"].values)[rows],
            "ref": np.asarray(counts["variant_ref"].values)[rows],
            "alt": np.asarray(counts["variant_alt"].values)[rows],
        }
    )
    filters = {
        **counts.attrs["filters"],
        "region": region,
        "min_maf": min_maf,
        "snps_only": snps_only,
        "biallelic_only": True,
    }
    if _mac_floor(policy) > 1:
        filters["min_minor_allele_count"] = _mac_floor(policy)
        filters["n_below_min_minor_allele_count"] = n_rare
    if by is not None:
        filters["by"] = by
        filters["groups"] = [groups] if isinstance(groups, str) else groups
    return LDPruneResult(
        kept=table,
        variant_index=np.asarray(counts["variant_index"].values)[rows],
        settings=settings,
        n_analysed=int(counts.sizes["variants"]),
        n_samples=int(keep.sum()),
        filters=filters,
    )


def _released_r2(moments: np.ndarray, k: int) -> np.ndarray:
    """r² of pair moments, NaN where the door withholds it (k > 1): pairs with a co-copy sum
    in 1..k−1 (:func:`stats._ld.co_copy_sums`: minor or major alleles sharing 1..k−1
    copies)."""
    from genshare_widgets.stats._ld import co_copy_sums, r2_from_moments

    r2 = r2_from_moments(moments)
    if k > 1:  # Σxy fixes all four co-copy sums (minor×minor, minor×major, ...)
        shared = co_copy_sums(moments)
        r2[((shared > 0) & (shared < k)).any(axis=1)] = np.nan
    return r2


@dataclass
class LDMatrix:
    """r² between every pair of the analysed variants of a region (``variants``: contig,
    position, ref, alt; ``r2``: float64 (variants, variants), NaN = undefined or withheld)."""

    variants: "pd.DataFrame"
    r2: np.ndarray
    n_samples: int
    filters: dict[str, Any] = field(default_factory=dict)


def ld_matrix(
    cohort,
    *,
    region: str,
    by: str | None = None,
    groups: "str | list[str] | None" = None,
    min_maf: float | None = None,
    snps_only: bool = False,
    max_variants: int = 400,
    policy=None,
) -> LDMatrix:
    """r² (see :mod:`genshare_widgets.stats._ld`) between all pairs of the variants of
    ``region``, over all samples or the ``groups`` of ``by`` (one population, or a chosen
    group of them).

    Under a disclosure policy (k): fewer than k samples are refused, only variants with minor
    allele count ≥ k and no genotype count in 1..k−1 enter, and an r² with a co-copy sum in
    1..k−1 is withheld (NaN). More than ``max_variants`` variants are refused (narrow the region or
    raise ``min_maf``).

    Examples
    --------
    >>> m = ld_matrix(open_cohort("1kg-phase3-subset"), region="2:136.5M-136.7M")  # doctest: +SKIP
    """
    import pandas as pd

    from genshare_widgets.engines._ld_pass import pair_moments

    if not region:
        raise GenShareError("an LD heatmap needs --region CHR:START-END (a few hundred variants)")
    policy = _policy(cohort, policy)
    _require_local(cohort)
    k = _mac_floor(policy)
    keep = analysed_samples(cohort, by=by, groups=groups, policy=policy, analysis="an LD heatmap")
    counts, n_rare = _analysed_counts(
        cohort, keep, region=region, min_maf=min_maf, snps_only=snps_only, k=k
    )
    n = counts.sizes["variants"]
    if n > max_variants:
        raise GenShareError(
            f"region {region} has {n} variants after the filters; an LD heatmap draws at most "
            f"{max_variants}: narrow --region or raise --min-maf"
        )
    if n < 2:
        raise GenShareError(f"region {region} has {n} variant(s) to compare after the filters")
    source = _plane_source(cohort, np.asarray(counts["variant_index"].values), keep)
    first, second = np.triu_indices(n, 1)
    moments = pair_moments(source.rows(0, n), first, second, n_samples=int(keep.sum()))
    r2 = np.full((n, n), np.nan)
    r2[first, second] = r2[second, first] = _released_r2(moments, k)
    np.fill_diagonal(r2, 1.0)
    variants = pd.DataFrame(
        {
            col: np.asarray(counts[f"variant_{name}"].values)
            for col, name in (
                ("contig", "contig"),
                ("position", "position"),
                ("ref", "ref"),
                ("alt", "alt"),
            )
        }
    )
    filters = {
        **counts.attrs["filters"],
        "region": region,
        "min_maf": min_maf,
        "snps_only": snps_only,
        "biallelic_only": True,
        "groups": groups,
        "by": by,
    }
    if k > 1:
        filters.update(
            min_minor_allele_count=k,
            n_below_min_minor_allele_count=n_rare,
            n_pairs_withheld=int(np.isnan(r2[first, second]).sum()),
        )
    return LDMatrix(variants=variants, r2=r2, n_samples=int(keep.sum()), filters=filters)


def ld_decay(
    cohort,
    *,
    by: str = "population",
    groups: "list[str] | None" = None,
    region: str | None = None,
    min_maf: float | None = 0.05,
    snps_only: bool = False,
    max_distance: int = 100_000,
    n_bins: int = 20,
    max_neighbours: int | None = None,
    max_variants: int = 20_000,
    policy=None,
) -> "tuple[pd.DataFrame, dict[str, str]]":
    """Mean r² by distance, per group of ``by`` → ``(table, withheld)``.

    For each group: its variants with MAF ≥ ``min_maf`` in the group (at most
    ``max_variants``, evenly thinned along the selection when more), every pair within
    ``max_distance`` bp and ``max_neighbours`` variants of each other on one contig; r² per
    pair over the group's samples, averaged in ``n_bins`` equal distance bins.
    (``max_neighbours=None``, the default: every pair within ``max_distance``; a number caps
    the pairs at that many variants apart, which empties the far bins where variants are
    dense). ``table``: group, n_samples, bin_start, bin_end, mean_r2, n_pairs. Under a
    policy: groups of fewer than k samples are left out (``withheld`` names them), variants
    need minor allele count ≥ k and no genotype count in 1..k−1 in the group, pairs with a
    co-copy sum in 1..k−1 are left out and bins of fewer than k pairs are NaN.

    Examples
    --------
    >>> table, _ = ld_decay(open_cohort("sim-ooa"), region="1")  # doctest: +SKIP
    """
    import pandas as pd

    from genshare_widgets._ld_rules import small_rows
    from genshare_widgets.counts import allele_counts_by_group
    from genshare_widgets.engines._ld_pass import pair_moments
    from genshare_widgets.stats._ld import ld_decay_table, minor_allele_count

    policy = _policy(cohort, policy)
    _require_local(cohort)
    k = _mac_floor(policy)
    counts = allele_counts_by_group(
        cohort, by=by, region=region, snps_only=snps_only, biallelic_only=True
    )  # the consent gate checks the grouping
    names = [str(g) for g in counts["groups"].values]
    sizes = np.asarray(counts["group_n_samples"].values)
    from genshare_widgets.counts import resolve_groups, withdrawal_mask

    codes, code_names, _ = resolve_groups(cohort.samples, by, kept=withdrawal_mask(cohort))
    edges = np.linspace(0, max_distance, n_bins + 1)
    rows, withheld = [], {}
    for g, name in enumerate(names):
        if groups is not None and name not in groups:
            continue
        if sizes[g] < max(k, 2):
            withheld[name] = f"fewer than {max(k, 2)} samples"
            continue
        ac = np.asarray(counts["allele_count"].values[:, g], np.int64)
        an = np.asarray(counts["allele_number"].values[:, g], np.int64)
        mac = minor_allele_count(ac, an)
        ok = (mac >= max(k, 1)) & (an > 0)
        if k > 1:  # an exact r² pins a small hom-ALT count (see _rare_rule)
            ok &= ~small_rows(counts, k, g)
        if min_maf is not None:
            ok &= mac >= min_maf * an
        rows_g = np.flatnonzero(ok)
        if len(rows_g) > max_variants:
            rows_g = rows_g[np.linspace(0, len(rows_g) - 1, max_variants).astype(int)]
        keep = codes == code_names.index(name)
        index = np.asarray(counts["variant_index"].values)[rows_g]
        pos = np.asarray(counts["variant_position"].values)[rows_g]
        contig = np.asarray(counts["variant_contig"].values)[rows_g]
        first, second = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
        limit = len(rows_g) if max_neighbours is None else min(max_neighbours + 1, len(rows_g))
        for step in range(1, limit):
            a = np.arange(len(rows_g) - step)
            near = (contig[a] == contig[a + step]) & (pos[a + step] - pos[a] < max_distance)
            if not near.any():  # positions are sorted within a contig: no pair further apart
                break
            first.append(a[near])
            second.append(a[near] + step)
        first_a, second_a = np.concatenate(first), np.concatenate(second)
        mean = np.full(n_bins, np.nan)
        n_pairs = np.zeros(n_bins, np.int64)
        if len(first_a):
            planes = _plane_source(cohort, index, keep).rows(0, len(index))
            moments = pair_moments(planes, first_a, second_a, n_samples=int(keep.sum()))
            mean, n_pairs = ld_decay_table(
                pos[second_a] - pos[first_a],
                _released_r2(moments, k),
                bin_edges=edges,
                min_pairs=k,
            )
        for b in range(n_bins):
            rows.append(
                (name, int(sizes[g]), int(edges[b]), int(edges[b + 1]), mean[b], int(n_pairs[b]))
            )
    table = pd.DataFrame(
        rows, columns=["group", "n_samples", "bin_start", "bin_end", "mean_r2", "n_pairs"]
    )
    return table, withheld
