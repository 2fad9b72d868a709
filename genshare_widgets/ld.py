"""Linkage disequilibrium of a cohort: LD pruning as ``plink2 --indep-pairwise``, r² matrices
of a region and LD decay by distance, per population.

r² is the squared correlation of unphased ALT dosages over the samples called at both
variants (:mod:`genshare_widgets.stats._ld` defines it; PLINK 2's ``--indep-pairwise`` uses
the same). Only sites biallelic in the store are analysed (as PLINK 2's ``--pca``; to compare
with PLINK 2 give it ``--max-alleles 2``): GenShare splits multi-allelic sites per ALT, and
two records of one site are not two loci.

:func:`ld_prune` reproduces ``plink2 [--maf F] [--snps-only] --indep-pairwise W[kb] S R2``
(PLINK 2.00a3's pruning order): the same windows (variant counts, or kb with step 1, over the
analysed variants of each contig), the same pairwise-complete r² from exact integer counts,
the same greedy removal (the lower-MAF variant of a pair above the threshold goes; ties drop
the later one), and variants with no genotype variance removed. Tests hold the kept set equal
to PLINK 2's on HapMap3 and the 1000 Genomes subset.

Disclosure (registered/controlled tiers, or any active policy with minimum count k): an r²
between rare variants names carriers (r² = 1 between two singletons says one person carries
both), and a pruned set chosen by LD among rare variants is a selection made on a few
people's genotypes. So under a policy every LD output — pruning, r² matrices, decay — uses
only variants whose minor allele count among the analysed samples is at least k, refuses
analysed sample sets of fewer than k samples, and suppresses decay bins averaging fewer
than k pairs. Grouping by population passes the consent gate (``check_grouping``), as Fst.
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
            if settings.window_bp < 2:
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
        return {"window": self.window, "window_kb": self.window_kb, "step": self.step,
                "r2": self.r2}  # fmt: skip

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


def prune_counts(cohort, counts, keep: np.ndarray, settings) -> np.ndarray:
    """bool per variant of ``counts`` (the analysed variants, in store order, counted over the
    samples ``keep``; any grouping, summed): kept by ``--indep-pairwise settings``.

    The building block of :func:`ld_prune`, the PCA's ``ld_prune=`` and the reference panels:
    give it the counts your analysis already selected (MAF filter included), so pruning runs
    on exactly the variants the analysis uses.
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
    )
    return ~removed


def analysed_samples(cohort, *, by=None, groups=None, policy=None, analysis="LD") -> np.ndarray:
    """bool per sample: not withdrawn, and in ``groups`` of ``by`` when given (consent gate
    first: a grouping that compares populations is refused where the codes forbid it).
    Under a policy a set of fewer than k samples is refused."""
    from genshare_widgets.counts import resolve_groups, withdrawal_mask

    kept = withdrawal_mask(cohort)
    keep = np.ones(cohort.n_samples, dtype=bool) if kept is None else kept.copy()
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


def _rare_rule(counts, k: int):
    """``counts`` restricted to variants whose minor allele count is >= k (k > 1)."""
    if k <= 1:
        return counts, 0
    from genshare_widgets.stats._ld import minor_allele_count

    mac = minor_allele_count(_summed(counts, "allele_count"), _summed(counts, "allele_number"))
    ok = mac >= k
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

    from genshare_widgets.samples import _policy

    settings = PruneSettings.parse(window, step, r2)
    policy = _policy(cohort, policy)
    _require_local(cohort)
    if keep is None:
        keep = analysed_samples(cohort, by=by, groups=groups, policy=policy, analysis="LD pruning")
    else:
        keep = np.asarray(keep, dtype=bool) & analysed_samples(cohort, policy=None)
        if _mac_floor(policy) > 1 and keep.sum() < _mac_floor(policy):
            analysed_samples(cohort, policy=policy)  # raises for the whole set if too small
            raise GenShareError(f"the analysed samples number fewer than k={_mac_floor(policy)}")
    counts = _counts(cohort, keep, region=region, min_maf=min_maf, snps_only=snps_only)
    counts, n_rare = _rare_rule(counts, _mac_floor(policy))
    kept = prune_counts(cohort, counts, keep, settings)
    rows = np.flatnonzero(kept)
    table = pd.DataFrame(
        {
            "contig": np.asarray(counts["variant_contig"].values)[rows],
            "position": np.asarray(counts["variant_position"].values)[rows],
            "ref": np.asarray(counts["variant_ref"].values)[rows],
            "alt": np.asarray(counts["variant_alt"].values)[rows],
        }
    )
    filters = {**counts.attrs["filters"], "region": region, "min_maf": min_maf,
               "snps_only": snps_only, "biallelic_only": True}  # fmt: skip
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
