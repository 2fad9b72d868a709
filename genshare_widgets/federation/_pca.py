"""Federated PCA by projection onto reference SNP weights.

1. A **reference** PCA is computed where individual genotypes may be read: by the coordinator
   on data it holds (:func:`pca_reference` on a cohort, e.g. a public reference panel), or by
   one site (``POST /pca/reference``; that site shares SNP weights and ALT frequencies —
   aggregates over all its samples, no per-sample value). It is the ordinary GenShare PCA
   (:func:`genshare_widgets.samples.pca`, Patterson et al. 2006 standardisation) plus SNP
   weights ``W = Xᵀ U / (M λ)`` so that ``x · W`` reproduces a reference sample's coordinate.
2. Every site **projects** its own samples onto ``W`` (standardising with the reference
   frequencies; a reference variant the site lacks, or a missing call, counts as the mean) and
   returns, per group with at least ``max(k, 10)`` samples, only ``n``, the mean projection and
   the covariance of projections — never a sample's coordinates.
3. The coordinator **combines** the summaries: group centroids are the n-weighted means over
   sites, and covariances combine exactly (within-site plus between-site scatter). Without
   a policy the centroids equal the group means of the pooled projection.

What this is not: a PCA of the pooled samples (the axes are the reference's), and sites under
differential privacy refuse both PCA endpoints (there is no DP release of projections here).
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError

CHUNK = 2_000  # variants read per block when projecting


@dataclass
class PCAReference:
    """Reference SNP weights: ``variants`` (contig, position, ref, alt), ALT frequency ``p``
    and ``weights`` (M × k) such that a standardised genotype row ``x`` projects to ``x @ W``."""

    variants: pd.DataFrame
    p: np.ndarray
    weights: np.ndarray
    eigenvalues: np.ndarray

    @property
    def k(self) -> int:
        return int(self.weights.shape[1])

    def to_json(self) -> dict[str, Any]:
        return {
            "variants": {
                c: self.variants[c].tolist() for c in ("contig", "position", "ref", "alt")
            },
            "p": self.p.tolist(),
            "weights": self.weights.T.tolist(),
            "eigenvalues": self.eigenvalues.tolist(),
        }

    @classmethod
    def from_json(cls, payload: Any) -> "PCAReference":
        try:
            variants = pd.DataFrame(
                {
                    "contig": [str(c) for c in payload["variants"]["contig"]],
                    "position": np.asarray(payload["variants"]["position"], dtype=np.int64),
                    "ref": [str(a) for a in payload["variants"]["ref"]],
                    "alt": [str(a) for a in payload["variants"]["alt"]],
                }
            )
            p = np.asarray(payload["p"], dtype=np.float64)
            weights = np.asarray(payload["weights"], dtype=np.float64).T
            eigenvalues = np.asarray(payload["eigenvalues"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise GenShareError(f"malformed PCA reference ({exc})") from None
        m = len(variants)
        if p.shape != (m,) or weights.ndim != 2 or weights.shape[0] != m or not m:
            raise GenShareError("malformed PCA reference (lengths of variants, p, weights differ)")
        if not (np.isfinite(p).all() and np.isfinite(weights).all()) or ((p <= 0) | (p >= 1)).any():
            raise GenShareError("malformed PCA reference (p must be in (0, 1), weights finite)")
        return cls(variants=variants, p=p, weights=weights, eigenvalues=eigenvalues)


def _store_rows(cohort, variants: pd.DataFrame) -> np.ndarray:
    """Row in ``cohort``'s store of each reference variant (-1: not at this site)."""
    from genshare_widgets.counts import _strings, variant_selection

    ds = cohort.genotypes
    index, _, alleles = variant_selection(ds, region=None, snps_only=False)
    contigs = _strings(ds["contig_id"].values)[ds["variant_contig"].values[index]]
    positions = ds["variant_position"].values[index]
    lookup = {
        (str(c), int(p), str(a[0]), str(a[1])): int(i)
        for c, p, a, i in zip(contigs, positions, alleles[index], index, strict=True)
    }
    keys = zip(
        variants["contig"], variants["position"], variants["ref"], variants["alt"], strict=True
    )
    return np.array([lookup.get((str(c), int(p), r, a), -1) for c, p, r, a in keys], dtype=np.int64)


def _standardised_blocks(cohort, rows: np.ndarray, p: np.ndarray):
    """Yield (reference positions, float64 standardised genotypes: block × samples)."""
    present = np.flatnonzero(rows >= 0)
    order = present[np.argsort(rows[present], kind="stable")]
    gt_all = cohort.genotypes["call_genotype"]
    for start in range(0, len(order), CHUNK):
        ref_pos = order[start : start + CHUNK]
        gt = np.asarray(gt_all.isel(variants=rows[ref_pos]).values)
        a0, a1 = gt[..., 0], gt[..., 1]
        called = (a0 >= 0) & (a1 >= 0)
        pb = p[ref_pos][:, None]
        x = ((a0 == 1).astype(np.float64) + (a1 == 1) - 2 * pb) / np.sqrt(pb * (1 - pb))
        x[~called] = 0.0
        yield ref_pos, x


def project_samples(cohort, reference: PCAReference) -> np.ndarray:
    """Projections (samples × k) of every sample of ``cohort`` onto the reference weights.
    Individual-level: used inside a site and in tests, never sent anywhere."""
    rows = _store_rows(cohort, reference.variants)
    out = np.zeros((cohort.n_samples, reference.k), dtype=np.float64)
    for ref_pos, x in _standardised_blocks(cohort, rows, reference.p):
        out += x.T @ reference.weights[ref_pos]
    return out


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
    min_maf: float = 0.05,
    region: str | None = None,
    snps_only: bool = False,
) -> PCAReference:
    """The reference PCA of ``cohort``'s samples as SNP weights (module step 1).

    The same definition as :func:`genshare_widgets.samples.pca` (variants with MAF >=
    ``min_maf``, p from fully called genotypes, missing → mean, eigenvectors of X Xᵀ / M with
    deterministic signs), computed exactly in float64 over the site's own samples
    (:func:`site_members`); fine up to a few thousand samples.

    Examples
    --------
    >>> ref = pca_reference(open_cohort("1kg-phase3-subset"), k=4)  # doctest: +SKIP
    >>> ref.weights.shape  # doctest: +SKIP
    (2936, 4)
    """
    from genshare_widgets.counts import allele_counts_by_group
    from genshare_widgets.samples import _fix_signs

    members = site_members(cohort)
    n = int(members.sum())
    if not 1 <= k < n:
        raise GenShareError(f"PCA needs 1 <= k < number of samples ({n}); got k={k}")
    labels = np.array(["all" if m else None for m in members], dtype=object)
    everyone = pd.Series(labels, index=cohort.samples.index, dtype=object)
    counts = allele_counts_by_group(
        cohort, by=everyone, region=region, min_maf=min_maf, snps_only=snps_only
    )
    called = counts["called_count"].values[:, 0].astype(np.float64)
    dosage = 2.0 * counts["hom_alt_count"].values[:, 0] + counts["het_count"].values[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        p = dosage / (2 * called)
    usable = (called > 0) & (p > 0) & (p < 1)
    m = int(usable.sum())
    if m < 2:
        raise GenShareError(
            f"only {m} variants pass the PCA filters (min_maf={min_maf}); relax them"
        )
    variants = pd.DataFrame(
        {
            "contig": counts["variant_contig"].values[usable].astype(str),
            "position": counts["variant_position"].values[usable].astype(np.int64),
            "ref": counts["variant_ref"].values[usable].astype(str),
            "alt": counts["variant_alt"].values[usable].astype(str),
        }
    )
    p = p[usable]
    rows = counts["variant_index"].values[usable]
    x_all = np.zeros((m, n))
    for ref_pos, x in _standardised_blocks(cohort, rows, p):
        x_all[ref_pos] = x[:, members]
    gram = x_all.T @ x_all / m
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1][:k]
    values, u = values[order], _fix_signs(vectors[:, order])
    weights = x_all @ u / (m * values[None, :])
    return PCAReference(variants=variants, p=p, weights=weights, eigenvalues=values)


def group_projection_summaries(cohort, reference: PCAReference, *, by: str, min_group: int):
    """Per group of ``by`` with at least ``min_group`` samples: n, mean and covariance of the
    projections (module step 2); smaller groups are listed as withheld, with no numbers."""
    proj = project_samples(cohort, reference)
    labels = cohort.samples[by]
    groups, withheld = [], []
    n_found = int((_store_rows(cohort, reference.variants) >= 0).sum())
    for group in sorted(labels.dropna().astype(str).unique()):
        mask = (labels.astype(str) == group).to_numpy() & labels.notna().to_numpy()
        n = int(mask.sum())
        if n < min_group:
            withheld.append(group)
            continue
        sub = proj[mask]
        cov = np.cov(sub, rowvar=False, ddof=0).reshape(reference.k, reference.k)
        groups.append(
            {"group": group, "n": n, "mean": sub.mean(axis=0).tolist(), "cov": cov.tolist()}
        )
    return {
        "groups": groups,
        "withheld_groups": {g: f"fewer than {min_group} samples" for g in withheld},
        "n_reference_variants_found": n_found,
    }


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
