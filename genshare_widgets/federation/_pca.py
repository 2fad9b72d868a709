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

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError

CHUNK = 2_000  # variants read per block when projecting
MAX_PCS = 10  # more components make the weights closer to individual data
MIN_REFERENCE_MAF = 0.05  # rarer variants' weight rows point at their few carriers
# A component must spread its weight over many variants (participation ratio
# (Σw²)²/Σw⁴): identity-like weights make a group's mean projection one allele count. Real
# PCs of the 1000 Genomes subset spread over 194..1,479 of 3,811 variants.
MIN_VARIANTS_PER_COMPONENT = 50
FORMAT = "genshare-pca-reference"
FORMAT_VERSION = 1


@dataclass
class PCAReference:
    """Reference SNP weights: ``variants`` (contig, position, ref, alt), ALT frequency ``p``
    and ``weights`` (M × k) such that a standardised genotype row ``x`` (ALT dosage minus
    ``2p``, divided by the scale ``sqrt(p (1 - p))``) projects to ``x @ W``.

    ``min_maf`` is the MAF filter the reference was fitted with and ``source`` says on what
    data (both travel in the file and count in its :attr:`sha256`).
    """

    variants: pd.DataFrame
    p: np.ndarray
    weights: np.ndarray
    eigenvalues: np.ndarray
    min_maf: float = MIN_REFERENCE_MAF
    source: str = ""

    @property
    def k(self) -> int:
        return int(self.weights.shape[1])

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "source": str(self.source),
            "min_maf": float(self.min_maf),
            "variants": {
                c: self.variants[c].tolist() for c in ("contig", "position", "ref", "alt")
            },
            "p": [float(x) for x in self.p],
            "weights": self.weights.T.tolist(),
            "eigenvalues": [float(x) for x in self.eigenvalues],
        }

    def to_bytes(self) -> bytes:
        """The canonical serialisation (sorted keys, no spaces): what :meth:`save` writes
        and what :attr:`sha256` hashes."""
        return json.dumps(
            self.to_json(), sort_keys=True, separators=(",", ":"), allow_nan=False
        ).encode()

    @property
    def sha256(self) -> str:
        """sha256 of :meth:`to_bytes`: equal to ``sha256sum`` of the saved file."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def save(self, path: str | Path) -> str:
        """Write the canonical file a custodian approves; returns its sha256.

        Examples
        --------
        >>> ref = pca_reference(open_cohort("1kg-phase3-subset"))  # doctest: +SKIP
        >>> digest = ref.save("ref.json")  # doctest: +SKIP
        """
        data = self.to_bytes()
        Path(path).write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    @classmethod
    def load(cls, path: str | Path, *, sha256: str) -> "PCAReference":
        """An approved reference file, checked against the custodian's pinned ``sha256``
        (the file's ``sha256sum``), canonical form and limits (:meth:`check_limits`).

        Examples
        --------
        >>> ref = PCAReference.load("ref.json", sha256="9f2c…")  # doctest: +SKIP
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise GenShareError(f"PCA reference {path}: cannot read it ({exc})") from None
        pinned = str(sha256 or "").strip().lower()
        if len(pinned) != 64 or any(c not in "0123456789abcdef" for c in pinned):
            raise GenShareError(
                f"PCA reference {path}: pin it by its sha256 (64 hex digits, what "
                f"`sha256sum {path}` prints), e.g. --pca-reference-sha256 HEX"
            )
        actual = hashlib.sha256(data).hexdigest()
        if actual != pinned:
            raise GenShareError(
                f"PCA reference {path}: sha256 is {actual}, not the approved {pinned}; the file "
                "changed since it was approved (or the wrong file was given)"
            )
        try:
            payload = json.loads(data)
        except ValueError as exc:
            raise GenShareError(f"PCA reference {path}: not JSON ({exc})") from None
        ref = cls.from_json(payload)
        if ref.to_bytes() != data:
            raise GenShareError(
                f"PCA reference {path}: not in the canonical form PCAReference.save writes "
                "(its hash would differ from what the site advertises); re-save it with "
                "PCAReference.from_json(json.load(f)).save(path) and pin the new sha256"
            )
        ref.check_limits(what=f"PCA reference {path}")
        return ref

    def check_limits(self, *, what: str = "PCA reference") -> None:
        """Refuse more than :data:`MAX_PCS` components, a variant with MAF below
        :data:`MIN_REFERENCE_MAF` (or a fitted ``min_maf`` below it), or a component whose
        weight sits on fewer than :data:`MIN_VARIANTS_PER_COMPONENT` variants (so a custodian
        cannot be talked into approving identity-like weights)."""
        if not 1 <= self.k <= MAX_PCS:
            raise GenShareError(
                f"{what} has {self.k} components; a site uses at most {MAX_PCS} (fit it "
                f"with k <= {MAX_PCS})"
            )
        maf = np.minimum(self.p, 1 - self.p)
        if self.min_maf < MIN_REFERENCE_MAF or (maf < MIN_REFERENCE_MAF - 1e-12).any():
            low = float(maf.min()) if len(maf) else float("nan")
            raise GenShareError(
                f"{what} was fitted with min_maf={self.min_maf:g} (lowest variant MAF "
                f"{low:.4g}); a site uses only references with every MAF >= "
                f"{MIN_REFERENCE_MAF} (refit it with min_maf >= {MIN_REFERENCE_MAF})"
            )
        squares = self.weights**2
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = squares.sum(axis=0) ** 2 / (squares**2).sum(axis=0)
        narrow = np.flatnonzero(~(spread >= MIN_VARIANTS_PER_COMPONENT))
        if len(narrow):
            j = int(narrow[0])
            width = float(np.nan_to_num(spread[j]))
            raise GenShareError(
                f"{what}: component {j + 1} puts its weight on about {width:.0f} "
                f"variants; a site uses only components spread over at least "
                f"{MIN_VARIANTS_PER_COMPONENT} (a PCA of genotypes, not weights that single out "
                "a few variants)"
            )

    @classmethod
    def from_json(cls, payload: Any) -> "PCAReference":
        try:
            if payload.get("format", FORMAT) != FORMAT:
                raise ValueError(f"format {payload.get('format')!r}")
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
            min_maf = float(payload.get("min_maf", 0.0))
            source = str(payload.get("source", ""))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise GenShareError(f"malformed PCA reference ({exc})") from None
        m = len(variants)
        if p.shape != (m,) or weights.ndim != 2 or weights.shape[0] != m or not m:
            raise GenShareError("malformed PCA reference (lengths of variants, p, weights differ)")
        if eigenvalues.shape != (weights.shape[1],):
            raise GenShareError("malformed PCA reference (one eigenvalue per component)")
        if not (np.isfinite(p).all() and np.isfinite(weights).all()) or ((p <= 0) | (p >= 1)).any():
            raise GenShareError("malformed PCA reference (p must be in (0, 1), weights finite)")
        return cls(
            variants=variants,
            p=p,
            weights=weights,
            eigenvalues=eigenvalues,
            min_maf=min_maf,
            source=source,
        )

    def first(self, k: int) -> "PCAReference":
        """The reference restricted to its first ``k`` components."""
        return PCAReference(
            variants=self.variants,
            p=self.p,
            weights=self.weights[:, :k],
            eigenvalues=self.eigenvalues[:k],
            min_maf=self.min_maf,
            source=self.source,
        )


def _store_rows(cohort, variants: pd.DataFrame) -> np.ndarray:
    """Row in ``cohort``'s store of each reference variant (-1: not at this site)."""
    from genshare_widgets._selection import fixed_strings as _strings
    from genshare_widgets._selection import variant_selection

    ds = cohort.genotypes
    index, _, _, alleles = variant_selection(ds, region=None, snps_only=False, biallelic_only=True)
    contigs = _strings(ds["contig_id"].values)[ds["variant_contig"].values[index]]
    positions = ds["variant_position"].values[index]
    lookup = {
        (str(c), int(p), str(a[0]), str(a[1])): int(i)
        for c, p, a, i in zip(contigs, positions, alleles, index, strict=True)
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
    min_maf: float = MIN_REFERENCE_MAF,
    region: str | None = None,
    snps_only: bool = False,
) -> PCAReference:
    """The reference PCA of ``cohort``'s samples as SNP weights (module step 1).

    The same definition as :func:`genshare_widgets.samples.pca` (variants with MAF >=
    ``min_maf``, p from fully called genotypes, missing → mean, eigenvectors of X Xᵀ / M with
    deterministic signs), computed exactly in float64 over the site's own samples
    (:func:`site_members`); fine up to a few thousand samples. Only open-tier data (an
    ``open`` catalog entry, or the user's own files) may be fitted: the weights of a
    registered or controlled cohort are derived from individual genotypes and are not
    released (issue 13); ``k <= 10`` and ``min_maf >= 0.05`` always.

    Examples
    --------
    >>> ref = pca_reference(open_cohort("1kg-phase3-subset"), k=4)  # doctest: +SKIP
    >>> ref.weights.shape  # doctest: +SKIP
    (3812, 4)
    """
    from genshare_widgets.counts import allele_counts_by_group
    from genshare_widgets.samples import _fix_signs

    entry = getattr(cohort, "entry", None)
    if entry is not None and entry.access != "open":
        raise GenShareError(
            f"cohort {entry.id!r} is {entry.access}-tier: a PCA reference (frequencies and SNP "
            "weights of its samples) is released only from open-tier data; project onto an "
            "approved reference file instead (site serve --pca-reference FILE "
            "--pca-reference-sha256 HEX)"
        )
    if not isinstance(k, int) or not 1 <= k <= MAX_PCS:
        raise GenShareError(f"a PCA reference has 1..{MAX_PCS} components; got k={k!r}")
    if not min_maf >= MIN_REFERENCE_MAF:
        raise GenShareError(
            f"a PCA reference needs min_maf >= {MIN_REFERENCE_MAF} (got {min_maf}): a rare "
            "variant's weights point at its few carriers"
        )
    members = site_members(cohort)
    n = int(members.sum())
    if not k < n:
        raise GenShareError(f"PCA needs k < number of samples ({n}); got k={k}")
    labels = np.array(["all" if m else None for m in members], dtype=object)
    everyone = pd.Series(labels, index=cohort.samples.index, dtype=object)
    counts = allele_counts_by_group(
        cohort,
        by=everyone,
        region=region,
        min_maf=min_maf,
        snps_only=snps_only,
        biallelic_only=True,  # PCA's sites, as samples.pca and PLINK 2's --pca
    )
    called = counts["called_count"].values[:, 0].astype(np.float64)
    dosage = 2.0 * counts["hom_alt_count"].values[:, 0] + counts["het_count"].values[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        p = dosage / (2 * called)
    # the MAF filter again on p itself (p counts fully called genotypes only), so that every
    # variant of the reference passes check_limits
    usable = (called > 0) & (np.minimum(p, 1 - p) >= min_maf)
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
    name = getattr(cohort, "id", None) or "a cohort"
    tier = entry.access if entry is not None else "user's own files"
    return PCAReference(
        variants=variants,
        p=p,
        weights=weights,
        eigenvalues=values,
        min_maf=float(min_maf),
        source=f"{name} ({tier}), {n} samples, {m} variants",
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
    n_found = int((_store_rows(cohort, reference.variants) >= 0).sum())
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
