"""Federated PCA by projection onto a fixed, approved reference.

1. A **reference** (variants with REF/ALT, ALT frequencies ``p``, SNP weights ``W``,
   eigenvalues; the standardisation scale of a variant is ``sqrt(p (1 - p))``, Patterson et al.
   2006) comes from one of two places only (issue 13):

   - **open-tier data**: :func:`pca_reference` on a cohort whose catalog entry is ``open`` (or
     the user's own files), e.g. a site serving an open entry without a disclosure policy
     (``site serve --pca-k K``) fits it on its own samples and shares it;
   - a **custodian-approved reference file** (:meth:`PCAReference.save`, canonical JSON),
     given to ``site serve --pca-reference FILE --pca-reference-sha256 HEX`` and pinned by
     its sha256.

   Either way a site has one reference, fixed at start, with at most :data:`MAX_PCS`
   components and every variant's MAF at least :data:`MIN_REFERENCE_MAF`. A site never
   releases p or W computed from its own data unless that data is open-tier: a singleton's
   row of W is its carrier's PC vector, and ``Wᵀ``-weighted sums of it give back that
   person's genotypes (attack 1 of issue 13 rebuilt 98 of 207 people from one request).
2. Every site **projects** its own samples onto ``W`` (standardising with the reference
   frequencies; a reference variant the site lacks, or a missing call, counts as the mean) and
   returns, per group with at least ``max(k, 10)`` samples, only ``n``, the mean projection and
   the covariance of projections — never a sample's coordinates. A site projects only onto its
   own approved reference (compared by sha256): a reference made by the client (identity
   weights, p → 0) would turn group means and cross moments into exact counts and genotypes.
3. The coordinator **combines** the summaries: group centroids are the n-weighted means over
   sites, and covariances combine exactly (within-site plus between-site scatter). Without
   a policy the centroids equal the group means of the pooled projection.

What this is not: a PCA of the pooled samples (the axes are the reference's), and sites under
differential privacy refuse both PCA endpoints (there is no DP release of projections here).
"""

from typing import Any

import numpy as np
import pandas as pd

from genshare_widgets._pca_reference import (  # the reference file lives below federation
    FORMAT,
    FORMAT_VERSION,
    MAX_PCS,
    MIN_REFERENCE_MAF,
    MIN_VARIANTS_PER_COMPONENT,
    PCAReference,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_PCS",
    "MIN_REFERENCE_MAF",
    "MIN_VARIANTS_PER_COMPONENT",
    "PCAReference",
    "combine_projection_summaries",
    "group_projection_summaries",
    "pca_reference",
    "project_samples",
    "site_members",
]


def _site_match(cohort, reference: PCAReference):
    """The reference's variants in the site's store (exact alleles or swapped; a site's own
    reference keeps its strand-ambiguous SNPs, as every site of one study shares a strand)."""
    from genshare_widgets.projection import cohort_variants, match_variants

    return match_variants(reference, cohort_variants(cohort), drop_ambiguous=False)


def _store_rows(cohort, variants: pd.DataFrame) -> np.ndarray:
    """Row in ``cohort``'s store of each variant with the same REF and ALT (-1: not at
    this site)."""
    from genshare_widgets.projection import cohort_variants, match_variants

    match = match_variants(variants, cohort_variants(cohort), drop_ambiguous=False)
    return np.where(match.flipped, -1, match.rows)


def project_samples(cohort, reference: PCAReference) -> np.ndarray:
    """Projections (samples × k) of every sample of ``cohort`` onto the reference weights
    (:func:`genshare_widgets.projection.project_rows`; a variant the site lacks, or a
    missing call, counts as the mean). Individual-level: used inside a site and in tests,
    never sent anywhere."""
    from genshare_widgets.projection import project_rows

    return project_rows(cohort, reference, _site_match(cohort, reference), sumsq=False)[0]


def site_members(cohort) -> np.ndarray:
    """Samples that belong to this site: those with a row in its sample table (a site opened
    with ``samples=`` on a shared source ignores the others)."""
    table = cohort.samples
    if table.shape[1] == 0:
        return np.ones(len(table), dtype=bool)
    return table.notna().any(axis=1).to_numpy()


def pca_reference(
    cohort,
    *,
    k: int = 4,
    min_maf: float = MIN_REFERENCE_MAF,
    region: str | None = None,
    snps_only: bool = False,
) -> PCAReference:
    """The reference PCA of ``cohort``'s samples as SNP weights (module step 1): the site's
    form of :func:`genshare_widgets.projection.fit_reference` (the same PCA as ``stats
    --pca``, over the site's own samples), without the samples' PCs and labels. Only
    open-tier data (an ``open`` catalog entry, or the user's own files) may be fitted;
    ``k <= 10`` and ``min_maf >= 0.05`` always.

    Examples
    --------
    >>> ref = pca_reference(open_cohort("1kg-phase3-subset"), k=4)  # doctest: +SKIP
    >>> ref.weights.shape  # doctest: +SKIP
    (3812, 4)
    """
    from genshare_widgets.projection import fit_reference

    return fit_reference(
        cohort,
        k=k,
        by=None,
        min_maf=min_maf,
        region=region,
        snps_only=snps_only,
        keep_samples=False,
        check_consent=False,  # the site gates its groupings itself (site_app)
    )


def group_projection_summaries(cohort, reference: PCAReference, *, by: str, min_group: int):
    """Per group of ``by`` with at least ``min_group`` samples: n, mean and covariance of the
    projections (module step 2). Smaller groups are left out without being named (a group of
    one person is named by that person's id when a site groups by an id-like column)."""
    proj = project_samples(cohort, reference)
    labels = cohort.samples[by]
    present = labels.notna().to_numpy()
    text = labels.astype(str).to_numpy()
    groups = []
    n_found = int((_site_match(cohort, reference).rows >= 0).sum())
    for group in sorted(set(text[present]) - {""}):
        mask = (text == group) & present
        n = int(mask.sum())
        if n < min_group:
            continue
        sub = proj[mask]
        cov = np.cov(sub, rowvar=False, ddof=0).reshape(reference.k, reference.k)
        groups.append(
            {"group": group, "n": n, "mean": sub.mean(axis=0).tolist(), "cov": cov.tolist()}
        )
    return {"groups": groups, "min_group": int(min_group), "n_reference_variants_found": n_found}


def combine_projection_summaries(summaries: list[dict[str, Any]], *, k: int) -> pd.DataFrame:
    """Group centroids and pooled covariances over sites (module step 3) → a DataFrame with
    ``group, n_samples, n_sites, PC1..PCk`` and ``attrs["covariance"]`` {group: k × k}."""
    acc: dict[str, dict[str, Any]] = {}
    for summary in summaries:
        for item in summary["groups"]:
            n = int(item["n"])
            mean = np.asarray(item["mean"], dtype=np.float64).reshape(k)
            cov = np.asarray(item["cov"], dtype=np.float64).reshape(k, k)
            slot = acc.setdefault(
                str(item["group"]),
                {"n": 0, "sum": np.zeros(k), "scatter": np.zeros((k, k)), "sites": 0},
            )
            slot["n"] += n
            slot["sum"] += n * mean
            slot["scatter"] += n * (cov + np.outer(mean, mean))
            slot["sites"] += 1
    rows, covariance = [], {}
    for group in sorted(acc):
        slot = acc[group]
        centroid = slot["sum"] / slot["n"]
        covariance[group] = slot["scatter"] / slot["n"] - np.outer(centroid, centroid)
        rows.append(
            {
                "group": group,
                "n_samples": slot["n"],
                "n_sites": slot["sites"],
                **{f"PC{i + 1}": centroid[i] for i in range(k)},
            }
        )
    table = pd.DataFrame(
        rows, columns=["group", "n_samples", "n_sites", *[f"PC{i + 1}" for i in range(k)]]
    )
    table.attrs["covariance"] = covariance
    return table
