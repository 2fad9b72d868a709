"""Reference PCA and projection: fit a reference you can share, place any cohort on it.

**Fitting** (:func:`fit_reference`): the PCA of ``stats --pca``
(:func:`genshare_widgets.samples.principal_components`: same variants, same frequencies,
same eigenvectors ``U`` and eigenvalues λ of ``X Xᵀ / M``) plus one more streaming pass for
the SNP weights ``W = Xᵀ U / (M λ)``, so that the reference samples project exactly onto
their PCs: ``X W = U``. The result is a :class:`~genshare_widgets._pca_reference.PCAReference`
(the file format and the safety rules are described there). Only open-tier data (or the
user's own files) is fitted: the weights of rare variants point at their carriers (issue 13).

**Projecting** (:func:`project`) a cohort onto a reference:

1. *matching* (:func:`match_variants`) each reference variant to a biallelic record of the
   cohort by (contig, position, ref, alt) — contig names with or without ``chr`` — or, across
   genome builds and on request only (``match_by="rsid"``), by rsID. A record whose REF and
   ALT are swapped is used flipped (ALT dosage ``2 - g``); a strand-ambiguous SNP (A/T or C/G)
   is dropped when the cohort is not the reference's own store (its strand cannot be told
   from the alleles); a reference variant the cohort lacks, and every missing call, counts as
   the reference mean (standardised value 0). The report counts each case; fewer matched
   variants than ``min_matched`` (a fraction of the reference's, default 0.5) is an error
   naming the count and the threshold. Two known, different genome builds are refused naming
   both, unless ``match_by="rsid"``.
2. *projecting*: ``x @ W`` with ``x`` standardised by the reference's ``p`` (one pass over the
   cohort's genotypes, :mod:`genshare_widgets.engines._projection_pass`). PLINK 2 computes
   the same with ``--score FILE cols=scoresums variance-standardize --read-freq`` when the
   weights are multiplied by ``sqrt(2)`` (PLINK scales by ``sqrt(2p(1 - p))``).
3. *shrinkage correction* on request (``oadp=True``): projected PCs of samples not in the
   reference shrink toward 0 (Lee et al. 2010); the Online Augmentation, Decomposition and
   Procrustes transformation of Zhang, Dey & Lee (2020, Bioinformatics 36:3439), as bigutilsr's
   ``pca_OADP_proj2`` computes it, undoes it (:func:`oadp_projection`).

Consent and release: projection and assignment are ancestry research — refused on entries
whose DUO codes forbid it (:func:`genshare_widgets.disclosure.check_projection`) — and the
coordinates are per person, so refused under a disclosure policy like PCA's.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError
from genshare_widgets._pca_reference import (
    MAX_PCS,
    MIN_REFERENCE_MAF,
    PCAReference,
)
from genshare_widgets._variant_matching import (
    VariantMatch,
    _blocks,
    _source,
    cohort_variants,
    match_variants,
)

__all__ = [
    "MIN_MATCHED",
    "PCAReference",
    "Projection",
    "VariantMatch",
    "cohort_variants",
    "entry_reference",
    "fit_reference",
    "load_reference",
    "match_variants",
    "oadp_projection",
    "project",
    "project_rows",
]

MIN_MATCHED = 0.5  # default: at least half the reference's variants must be found
_LABEL_COLUMNS = ("population", "superpopulation")


def project_rows(cohort, reference: PCAReference, match: VariantMatch, *, sumsq: bool = True):
    """``(projections, sums of squares)`` of every genotype column: ``x @ W`` over the
    matched variants (a flipped one standardised as ``2 - g``) and Σ x² (what the shrinkage
    correction needs; None unless ``sumsq``).

    With ``w' = ±W / s`` (minus for a flipped variant) and ``c = 2 p' w'`` (``p'`` the
    frequency of the allele counted in the store), ``x @ W = Σ_called (g w' - c)``: one float64
    product of the dosages with ``w'``, minus ``Σ c``, plus ``c`` back for each missing call."""
    from genshare_widgets.engines._projection_pass import MISSING, reduce_dosage, standardize

    used = np.flatnonzero(match.rows >= 0)
    sign = np.where(match.flipped[used], -1.0, 1.0)
    p_store = np.where(match.flipped[used], 1 - reference.p[used], reference.p[used])
    w = reference.weights[used] * (sign / np.sqrt(p_store * (1 - p_store)))[:, None]
    c = 2 * p_store[:, None] * w
    n, k = cohort.n_samples, reference.k

    def block(positions: np.ndarray, dosage: np.ndarray) -> np.ndarray:
        wb, cb = w[positions], c[positions]
        out = np.zeros((n, k + 1), dtype=np.float64)  # projections, then Σ x²
        # a missing call's dosage is 3 here: its 3 w' is taken back, and its c added back
        out[:, :k] = dosage.astype(np.float64).T @ wb - cb.sum(axis=0)[None, :]
        missing = dosage == MISSING
        if missing.any():
            block_rows, block_samples = np.nonzero(missing)
            np.add.at(out[:, :k], block_samples, cb[block_rows] - MISSING * wb[block_rows])
        if sumsq:
            x = standardize(dosage, p_store[positions])
            out[:, k] = np.einsum("ij,ij->j", x, x)
        return out

    total = reduce_dosage(match.rows[used], block, (n, k + 1), **_source(cohort))
    proj, squares = total[:, :k], (total[:, k] if sumsq else None)
    return proj, squares


def oadp_projection(
    projections: np.ndarray, sumsq: np.ndarray, reference: PCAReference
) -> np.ndarray:
    """Shrinkage-corrected projections (OADP; Zhang, Dey & Lee 2020).

    In the SVD ``X_ref = U D Vᵀ`` of the reference's standardised genotypes, the simple
    projection of a sample ``x`` is ``x V``; OADP augments the reference's ``D`` with that
    sample and its squared norm ``‖x‖²``, takes the top ``k`` eigenvectors of the
    (k + 1) × (k + 1) matrix and maps them back onto the reference axes by Procrustes (as
    bigutilsr's ``pca_OADP_proj2``). Here ``d = sqrt(M λ)``, the simple projection is ``x W =
    x V / d``, and the result is returned on the same scale (reference PCs ``U``).

    Examples
    --------
    >>> corrected = oadp_projection(proj, sumsq, ref)  # doctest: +SKIP
    """
    k = reference.k
    d = np.sqrt(len(reference.p) * reference.eigenvalues[:k])
    xv = projections * d[None, :]
    qtq = np.zeros((k + 1, k + 1))
    qtq[:k, :k] = np.diag(d**2)
    out = np.zeros_like(xv)
    for i in range(len(xv)):
        qtq[k, :k] = qtq[:k, k] = xv[i] * d
        qtq[k, k] = sumsq[i]
        values, vectors = np.linalg.eigh(qtq)
        top = np.argsort(values)[::-1][:k]
        v2 = vectors[:, top] * np.sqrt(np.maximum(values[top], 0))[None, :]
        u2, s2, vt2 = np.linalg.svd(v2[:k] * d[:, None])
        rho = s2.sum() / (v2[:k] ** 2).sum()
        out[i] = rho * (v2[k] @ vt2.T) @ u2.T
    return out / d[None, :]


def _build(cohort, build: str | None) -> str | None:
    if build is not None:
        return str(build)
    entry = getattr(cohort, "entry", None)
    return None if entry is None else str(entry.genome_build)


def _same_build(a: str, b: str) -> bool:
    from genshare_widgets._assemblies import canonical_build

    return (canonical_build(a) or a.lower()) == (canonical_build(b) or b.lower())


def _own_store(cohort, reference: PCAReference) -> bool:
    digest = cohort.provenance.get("store_content_sha256")
    return bool(digest) and digest == reference.provenance.get("store_content_sha256")


@dataclass
class Projection:
    """Projected PCs of a cohort's analysed samples (``coordinates``: sample index,
    ``PC1..PCk``; with assignment also ``assigned_group`` and ``probability``), the matching
    ``report``, and provenance."""

    coordinates: pd.DataFrame
    report: dict[str, Any]
    reference_sha256: str
    oadp: bool
    provenance: dict[str, Any] = field(default_factory=dict)
    #: shrinkage-free simple projections (before OADP) when ``oadp``
    simple: pd.DataFrame | None = None


def load_reference(reference, *, sha256: str | None = None) -> PCAReference:
    """A :class:`PCAReference`, a reference file (checked against ``sha256`` when given), or
    a catalog id whose entry records one (``pca_reference: {file, sha256}``)."""
    if isinstance(reference, PCAReference):
        return reference
    path = Path(reference)
    if path.exists():
        return PCAReference.load(path, sha256=sha256)
    if isinstance(reference, str) and "/" not in reference and not path.suffix:
        from genshare_widgets.catalog import get_entry

        return entry_reference(get_entry(reference))
    raise GenShareError(
        f"PCA reference {reference!r}: no such file or catalog entry; give the file "
        "`genshare reference` wrote (or an entry with a pca_reference record)"
    )


def entry_reference(entry) -> PCAReference:
    """The PCA reference a catalog entry records, checked against the recorded sha256."""
    record = getattr(entry, "pca_reference", None)
    if record is None:
        if getattr(entry, "access", None) != "open":
            raise GenShareError(
                f"catalog entry {entry.id!r} records no pca_reference, and a reference is "
                f"fitted only on open data (this entry is {entry.access}); give a reference file"
            )
        return catalog_reference(entry)
    path = Path(record.file).expanduser()
    if not path.is_absolute():
        import os

        mirror = os.environ.get("GENSHARE_MIRROR")
        hits = sorted(Path(mirror).rglob(path.name)) if mirror else []
        if not hits:
            raise GenShareError(
                f"catalog entry {entry.id!r}: pca_reference file {record.file} not found "
                "(give an absolute path, or put it under $GENSHARE_MIRROR)"
            )
        path = hits[0]
    try:
        return PCAReference.load(path, sha256=record.sha256)
    except GenShareError as exc:
        raise GenShareError(
            f"catalog entry {entry.id!r} field pca_reference: {exc}; the file differs from the "
            "one the catalog records: restore it or update pca_reference.sha256"
        ) from None


#: How :func:`catalog_reference` fits an open entry's reference (recorded in its provenance).
CATALOG_REFERENCE: dict[str, Any] = {
    "k": 10,
    "min_maf": MIN_REFERENCE_MAF,
    "ld_prune": (50, 5, 0.2),
}


def catalog_reference(entry) -> PCAReference:
    """The PCA reference of an open catalog entry that records no reference file: fitted on
    first use with :data:`CATALOG_REFERENCE` (10 PCs, MAF >= 0.05, LD-pruned 50,5,0.2, the
    entry's population labels) and cached under ``GENSHARE_CACHE/references``, keyed by the
    store's content hash, the settings and the package version, so ``genshare project FILE
    --reference 1kg-phase3-subset`` places samples on the 1000 Genomes PCs in one command and
    every later call reads the same file (same sha256). Built under a lock and written
    atomically: concurrent first uses fit it once, an interrupted fit leaves no entry.

    Examples
    --------
    >>> ref = catalog_reference(get_entry("1kg-phase3-subset"))  # doctest: +SKIP
    """
    import hashlib
    import json

    from genshare_widgets._version import __version__
    from genshare_widgets.cohort import open_cohort
    from genshare_widgets.fetch import build_lock, cache_dir, writes_to_cache

    cohort = open_cohort(entry.id)
    settings = {**CATALOG_REFERENCE, "ld_prune": list(CATALOG_REFERENCE["ld_prune"])}
    key = hashlib.sha256(
        json.dumps(
            [cohort.provenance.get("store_content_sha256"), settings, __version__],
            sort_keys=True,
        ).encode()
    ).hexdigest()[:24]
    path = cache_dir() / "references" / f"{entry.id}-{key}.json"
    with writes_to_cache(), build_lock(path):
        if not path.exists():
            reference = fit_reference(
                cohort,
                k=int(CATALOG_REFERENCE["k"]),
                by="population" if "population" in cohort.samples.columns else None,
                min_maf=float(CATALOG_REFERENCE["min_maf"]),
                ld_prune=CATALOG_REFERENCE["ld_prune"],
            )
            reference.save(path)  # atomic: a partial file, then the rename
    return PCAReference.load(path)


def project(
    cohort,
    reference,
    *,
    sha256: str | None = None,
    oadp: bool = False,
    match_by: str = "position",
    min_matched: float = MIN_MATCHED,
    build: str | None = None,
    drop_ambiguous: bool | None = None,
    assign: bool = False,
    label: str | None = None,
    threshold: float = 0.8,
    outlier_level: float | None = 0.999,
    policy=None,
) -> Projection:
    """Project ``cohort``'s analysed samples onto a PCA ``reference`` (module docstring).

    Parameters
    ----------
    cohort
        An opened cohort (its ``--samples`` table, if any, selects the samples).
    reference
        A :class:`PCAReference`, its file (``sha256`` pins it), or a catalog id with one.
    oadp
        Correct the shrinkage of projected PCs (OADP); the simple projections stay in
        ``.simple``.
    match_by, min_matched, build, drop_ambiguous
        How variants are matched: ``"position"`` or ``"rsid"``; the least fraction (< 1) or
        number (>= 1) of reference variants that must match; the cohort's genome build
        (default: its catalog entry's); drop A/T and C/G SNPs (default: unless the cohort is
        the reference's own store).
    assign, label, threshold, outlier_level
        Also assign each sample to a group of the reference's ``label`` column
        (:func:`genshare_widgets.ancestry.assign_ancestry`); below ``threshold``, or outside
        the reference (Mahalanobis distance above the χ² ``outlier_level`` quantile; None:
        not checked), it is ``"unassigned"``.
    policy
        Disclosure policy (default: the cohort's tier): projections are per person, refused
        under one.

    Examples
    --------
    >>> result = project(open_cohort("my.vcf.gz"), "1kg-ref.json", assign=True)  # doctest: +SKIP
    >>> result.coordinates.head()  # doctest: +SKIP
    """
    from genshare_widgets.counts import withdrawal_mask
    from genshare_widgets.disclosure._gate import check_projection
    from genshare_widgets.disclosure._publishing import refuse_per_person_output
    from genshare_widgets.samples import _policy

    check_projection(cohort)
    refuse_per_person_output(
        _policy(cohort, policy), what="projected PCA coordinates", cohort_id=cohort.id
    )
    ref = load_reference(reference, sha256=sha256)
    ref.check_limits(what="the PCA reference")
    digest = ref.sha256
    target_build, ref_build = _build(cohort, build), ref.genome_build
    if (
        match_by == "position"
        and target_build
        and ref_build
        and not _same_build(target_build, ref_build)
    ):
        raise GenShareError(
            f"the reference is on genome build {ref_build} and cohort {cohort.id!r} on "
            f"{target_build}: positions do not match across builds. Use a reference on "
            f"{target_build}, lift the cohort over to {ref_build}, or match by rsID "
            "(--match-by rsid) if both carry rsIDs"
        )
    by_position = match_by == "position"
    target = cohort_variants(
        cohort,
        positions=ref.variants["position"].to_numpy() if by_position else None,
        ids=not by_position,
    )
    ref_ids, target_ids = (ref.variants["id"] != "").any(), (target["id"] != "").any()
    if match_by == "rsid" and not (ref_ids and target_ids):
        side = "the reference" if not ref_ids else f"cohort {cohort.id!r}"
        raise GenShareError(
            f"--match-by rsid: {side} carries no rsIDs; match by position on the same build"
        )
    own = _own_store(cohort, ref)
    drop = (not own) if drop_ambiguous is None else bool(drop_ambiguous)
    match = match_variants(ref, target, match_by=match_by, drop_ambiguous=drop)
    m = len(ref.p)
    needed = int(np.ceil(min_matched * m)) if min_matched < 1 else int(min_matched)
    report = {
        **match.report,
        "min_matched": needed,
        "reference_build": ref_build,
        "target_build": target_build,
        "ambiguous_rule": "dropped (another cohort)" if drop else "kept (the reference's store)",
    }
    if match.report["matched"] < needed:
        raise GenShareError(
            f"only {match.report['matched']} of the reference's {m} variants match cohort "
            f"{cohort.id!r} (at least {needed} needed, min_matched={min_matched}): "
            f"{match.report['missing_in_target']} absent, {match.report['allele_mismatch']} "
            f"with other alleles, {match.report['ambiguous_dropped']} strand-ambiguous dropped. "
            "Check the genome build and contig names, or lower --min-matched"
        )
    proj, sumsq = project_rows(cohort, ref, match, sumsq=oadp)
    kept = withdrawal_mask(cohort)
    keep = np.ones(cohort.n_samples, dtype=bool) if kept is None else kept
    names = [f"PC{i + 1}" for i in range(ref.k)]
    index = cohort.samples.index[keep]
    simple = pd.DataFrame(proj[keep], columns=names, index=index)
    coords = simple
    if oadp:
        assert sumsq is not None
        corrected = oadp_projection(proj[keep], sumsq[keep], ref)
        coords = pd.DataFrame(corrected, columns=names, index=index)
    report["n_samples"] = int(keep.sum())
    result = Projection(
        coordinates=coords.copy(),
        report=report,
        reference_sha256=digest,
        oadp=bool(oadp),
        provenance={
            "cohort": cohort.provenance,
            "reference": {"sha256": digest, "source": ref.source, "k": ref.k},
            "oadp": bool(oadp),
        },
        simple=simple if oadp else None,
    )
    if assign:
        from genshare_widgets.ancestry import assign_ancestry

        table = assign_ancestry(
            coords, ref, label=label, threshold=threshold, outlier_level=outlier_level
        )
        result.coordinates = pd.concat([coords, table], axis=1)
        result.provenance["assignment"] = table.attrs.get("model", {})
    return result


def fit_reference(
    cohort,
    *,
    k: int = 10,
    by: str | None = "population",
    min_maf: float = MIN_REFERENCE_MAF,
    region: str | None = None,
    snps_only: bool = False,
    method: str = "auto",
    ld_prune: Any = None,
    keep_samples: bool = True,
    check_consent: bool = True,
) -> PCAReference:
    """Fit a PCA reference on ``cohort``'s analysed samples (module docstring).

    ``k`` <= 10 components, ``min_maf`` >= 0.05 (the safety rules of
    :mod:`genshare_widgets._pca_reference`); ``by`` labels the reference samples (their
    PCs and the ``population``/``superpopulation`` columns are stored when
    ``keep_samples``); ``ld_prune`` is passed to the PCA
    (:func:`~genshare_widgets.samples.principal_components`). Refused on a cohort that is
    not open-tier, and where consent forbids PCA (``check_consent=False``: the caller gates
    it, as a federation site does per grouping).

    Examples
    --------
    >>> cohort = open_cohort("1kg-phase3-subset")  # doctest: +SKIP
    >>> ref = fit_reference(cohort, k=4, by="superpopulation")  # doctest: +SKIP
    >>> digest = ref.save("1kg-ref.json")  # doctest: +SKIP
    """
    from genshare_widgets.samples import check_pca_grouping, principal_components

    entry = getattr(cohort, "entry", None)
    if entry is not None and entry.access != "open":
        raise GenShareError(
            f"cohort {entry.id!r} is {entry.access}-tier: a PCA reference (frequencies and SNP "
            "weights of its samples) is released only from open-tier data; project onto an "
            "approved reference file instead (site serve --pca-reference FILE "
            "--pca-reference-sha256 HEX)"
        )
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_PCS:
        raise GenShareError(f"a PCA reference has 1..{MAX_PCS} components; got k={k!r}")
    if not min_maf >= MIN_REFERENCE_MAF:
        raise GenShareError(
            f"a PCA reference needs min_maf >= {MIN_REFERENCE_MAF} (got {min_maf}): a rare "
            "variant's weights point at its few carriers"
        )
    if check_consent:
        check_pca_grouping(cohort, by)
    result = principal_components(
        cohort,
        k=int(k),
        by=by,
        min_maf=min_maf,
        region=region,
        snps_only=snps_only,
        method=method,
        ld_prune=ld_prune,
    )
    assert result.variant_index is not None and result.p is not None
    index, p = result.variant_index, result.p
    u = result.coordinates[[f"PC{i + 1}" for i in range(k)]].to_numpy(np.float64)
    values = result.eigenvalues["eigenvalue"].to_numpy(np.float64)
    m = len(index)
    keep = np.asarray(cohort.samples.index.isin(result.coordinates.index))
    weights = np.zeros((m, k), dtype=np.float64)
    scale = 1.0 / (m * values)
    for positions, x in _blocks(cohort, index, p):
        weights[positions] = (x[:, keep] @ u) * scale[None, :]
    table = cohort_variants(cohort).set_index("row").loc[index]
    variants = pd.DataFrame(
        {
            "contig": table["contig"].to_numpy(str),
            "position": table["position"].to_numpy(np.int64),
            "ref": table["ref"].to_numpy(str),
            "alt": table["alt"].to_numpy(str),
            "id": table["id"].to_numpy(str),
        }
    )
    samples = None
    if keep_samples:
        labels = {}
        columns = [c for c in (by, *_LABEL_COLUMNS) if isinstance(c, str)]
        for col in dict.fromkeys(columns):
            if col in cohort.samples.columns:
                values_ = cohort.samples.loc[result.coordinates.index, col]
                labels[col] = ["" if pd.isna(v) else str(v) for v in values_]
        samples = {"ids": [str(s) for s in result.coordinates.index], "pcs": u, "labels": labels}
    name = getattr(cohort, "id", None) or "a cohort"
    tier = entry.access if entry is not None else "user's own files"
    from genshare_widgets._version import __version__

    reference = PCAReference(
        variants=variants,
        p=np.asarray(p, dtype=np.float64),
        weights=weights,
        eigenvalues=values,
        min_maf=float(min_maf),
        source=f"{name} ({tier}), {len(u)} samples, {m} variants",
        genome_build=None if entry is None else str(entry.genome_build),
        samples=samples,
        provenance={
            "cohort_id": name,
            "store_content_sha256": cohort.provenance.get("store_content_sha256"),
            "files": cohort.provenance.get("files", []),
            "filters": {k_: v for k_, v in result.filters.items() if _jsonable(v)},
            "method": result.method,
            "by": by if isinstance(by, str) else None,
            "genshare_version": __version__,
        },
    )
    reference.check_limits(what=f"the PCA reference of {name}")
    return reference


def _jsonable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, dict))
