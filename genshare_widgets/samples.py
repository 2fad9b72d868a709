"""Per-sample statistics: observed heterozygosity, missingness, and PCA.

PCA (Patterson, Price & Reich 2006): genotypes of the variants passing the filters (default
MAF >= 0.05 over all samples, biallelic only) are standardised as ``(g - 2p)/sqrt(p(1-p))``,
p estimated from the fully called genotypes of all samples, missing genotypes set to 0 (the
mean). ``X`` is samples × M variants; the principal components are the eigenvectors of
``X Xᵀ / M`` (unit length, as PLINK 2 writes them), its eigenvalues are reported (PLINK 2's
are half of these, since it scales by sqrt(2p(1-p))), and variance explained is each eigenvalue
over the trace. Signs are fixed so that each component's largest-magnitude sample coordinate is
positive.

``method="exact"`` forms ``X Xᵀ`` in one streaming pass and diagonalises it (best up to several
thousand samples); ``"randomized"`` runs Halko et al.'s randomized range finder with power
iterations over the same streaming passes and never forms a samples × samples matrix.

Precision and reproducibility: the standardised genotypes, every block product and every sum
are float64, and the blocks are added in an order fixed by the data (store chunks in chunk
order; Dask's reduction tree over the variant chunks), never by thread count or by which
worker finishes first; the eigendecomposition is float64 LAPACK. So one machine gives
bit-identical results for any number of threads, and machines whose BLAS kernels round
differently agree to float64 rounding (about 1e-12 relative here), far below the 6 significant
digits the stored figures keep. Tested against a plain-NumPy float64 reference run
single-threaded (``tests/test_samples_pca.py``).

Engine ``"hail"``: the same counts (through :func:`allele_counts_by_group`) and the same
standardisation, with ``X Xᵀ`` computed by Hail as a BlockMatrix product (float64 as well),
then diagonalised here: always ``"exact"``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from genshare_widgets._errors import GenShareError
from genshare_widgets._selection import variant_selection, variant_span
from genshare_widgets.counts import allele_counts_by_group, pass_scheduler, withdrawal_mask


def _policy(cohort, policy):
    """``policy``, or the cohort's access-tier default."""
    if policy is not None:
        return policy
    from genshare_widgets.disclosure import policy_for

    return policy_for(getattr(cohort, "entry", None))


def sample_stats(
    cohort,
    *,
    region: str | None = None,
    snps_only: bool = False,
    scheduler: str | None = None,
    policy=None,
) -> pd.DataFrame:
    """Observed heterozygosity and missingness of every sample over the selected variants.

    Biallelic variants only (as everywhere). Columns: ``n_variants``, ``n_called`` (both
    alleles called), ``n_het``, ``observed_het`` (= n_het / n_called), ``n_missing`` (no allele
    called), ``missingness`` (= n_missing / n_variants), ``n_partial`` (one allele called:
    haploid or half-missing calls). ``scheduler``: where the pass runs, as in
    :func:`~genshare_widgets.counts.allele_counts_by_group`.

    One row per person: refused (:class:`~genshare_widgets.disclosure.ReleaseRefused`, rule
    5) under an active disclosure ``policy`` (default: the cohort's access tier, so always on
    registered and controlled entries).

    Examples
    --------
    >>> sample_stats(open_cohort("sim-ooa")).head()  # doctest: +SKIP
    """
    from genshare_widgets.disclosure._publishing import refuse_per_person_output

    refuse_per_person_output(
        _policy(cohort, policy), what="per-sample statistics (samples.tsv)", cohort_id=cohort.id
    )
    from genshare_widgets.engines._sample_pass import SAMPLE_FIELDS, sample_counts

    if getattr(cohort, "engine", "dask") == "hail":
        from genshare_widgets._selection import Selection
        from genshare_widgets.engines import hail_engine

        n_variants, raw = hail_engine.sample_counts(
            cohort.genotypes,
            Selection(region=region, snps_only=snps_only, biallelic_only=True),
            store=cohort.provenance.get("hail_store"),
        )
    else:
        ds = cohort.genotypes
        # per-sample calls of the store's sites that are biallelic (a per-sample count of
        # split records would count one call of a multi-allelic site several times)
        index, _, _, _ = variant_selection(
            ds, region=region, snps_only=snps_only, biallelic_only=True
        )
        span, rows = variant_span(ds, index)
        keep = np.zeros(span.sizes["variants"], dtype=bool)
        keep[rows] = True
        raw = (
            sample_counts(span["call_genotype"], keep, scheduler=pass_scheduler(cohort, scheduler))
            if len(index)
            else np.zeros((ds.sizes["samples"], len(SAMPLE_FIELDS)), np.int64)
        )
        n_variants = len(index)
    table = pd.DataFrame(raw, columns=list(SAMPLE_FIELDS), index=cohort.samples.index)
    kept = withdrawal_mask(cohort)
    table.insert(0, "n_variants", n_variants)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["observed_het"] = table["n_het"] / table["n_called"]
        table["missingness"] = table["n_missing"] / table["n_variants"]
    for col in ("population", "superpopulation"):
        if col in cohort.samples.columns:
            table.insert(0, col, cohort.samples[col])
    return table if kept is None else table[kept]  # withdrawn samples: no row


@dataclass
class PCAResult:
    """PCA output: per-sample coordinates and per-component eigenvalues."""

    coordinates: pd.DataFrame
    eigenvalues: pd.DataFrame
    n_variants: int
    method: str
    filters: dict[str, Any] = field(default_factory=dict)
    #: store rows of the variants in the PCA and their ALT frequencies over the analysed
    #: samples: what a PCA reference's SNP weights are computed on (:mod:`projection`)
    variant_index: np.ndarray | None = field(default=None, repr=False)
    p: np.ndarray | None = field(default=None, repr=False)


def _fix_signs(vectors: np.ndarray) -> np.ndarray:
    idx = np.argmax(np.abs(vectors), axis=0)
    signs = np.sign(vectors[idx, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1
    return vectors * signs


def _standardized_pass(cohort, index: np.ndarray, p: np.ndarray, scheduler: str | None):
    """``reduce(block_fn, shape)``: Σ of ``block_fn`` over blocks of the standardised genotypes
    of variants ``index`` (ALT frequencies ``p``). Local GenShare stores stream their bit
    planes (:func:`engines._direct.direct_reduce_standardized`); otherwise the Dask pass runs
    over ``call_genotype`` (on ``scheduler`` when given)."""
    from genshare_widgets.counts import _direct_store

    direct = _direct_store(cohort) if scheduler is None else None
    if direct is not None:
        from genshare_widgets.engines._direct import direct_reduce_standardized

        return lambda block_fn, shape: direct_reduce_standardized(direct, index, p, block_fn, shape)
    from genshare_widgets.engines._sample_pass import reduce_standardized

    span, rows = variant_span(cohort.genotypes, index)
    p_span = np.full(span.sizes["variants"], np.nan)  # NaN: variant not in the PCA
    p_span[rows] = p
    genotypes = span["call_genotype"]
    return lambda block_fn, shape: reduce_standardized(
        genotypes, p_span, block_fn, shape, scheduler=scheduler
    )


def _randomized_eigs(
    reduce, n: int, k: int, *, seed: int, oversample: int = 10, n_iter: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k eigenpairs of X Xᵀ by a randomized range finder (Halko et al. 2011) with power
    iterations; each product X Xᵀ q is one streaming pass (``reduce``), X is never stored."""
    width = min(k + oversample, n)
    rng = np.random.default_rng(seed)

    def times_xxt(q: np.ndarray) -> np.ndarray:
        q64 = np.asarray(q, dtype=np.float64)
        return reduce(lambda x: x.T @ (x @ q64), q.shape)

    q, _ = np.linalg.qr(times_xxt(rng.standard_normal((n, width))))
    for _ in range(n_iter):
        q, _ = np.linalg.qr(times_xxt(q))
    small = q.T @ times_xxt(q)
    values, vectors = np.linalg.eigh((small + small.T) / 2)
    order = np.argsort(values)[::-1][:k]
    return values[order], q @ vectors[:, order]


def pca(
    cohort,
    *,
    k: int = 10,
    by: str | Mapping[str, str] | None = "population",
    min_maf: float = 0.05,
    region: str | None = None,
    snps_only: bool = False,
    method: str = "auto",
    seed: int = 0,
    scheduler: str | None = None,
    keep_groups: list[str] | None = None,
    ld_prune=None,
    policy=None,
) -> PCAResult:
    """Principal components of the samples (see the module docstring for the method).

    ``by`` labels the samples in the output (``group`` column); every sample enters the PCA
    unless ``keep_groups`` names the groups of ``by`` to keep: then only their samples enter
    it (allele frequencies and the MAF filter come from them too, as if the others were not
    in the cohort). ``method`` is
    ``"exact"``, ``"randomized"`` or ``"auto"`` (exact up to 5,000 samples).
    ``scheduler``: where the genotype passes run, as in
    :func:`~genshare_widgets.counts.allele_counts_by_group`. ``ld_prune``: ``(window, step,
    r2)`` (or ``"W,S,R2"``; window in variants or ``"500kb"``) prunes the variants that pass
    the filters first, exactly as ``plink2 --maf F --indep-pairwise W S R2`` then ``--extract
    prune.in --pca`` (:func:`genshare_widgets.ld.prune_counts` on the same samples).

    Refused (:class:`~genshare_widgets.disclosure.AnalysisRefused`) on a cohort whose consent
    forbids ancestry research, labelled or not (:func:`~genshare_widgets.disclosure.check_pca`),
    and (:class:`~genshare_widgets.disclosure.ReleaseRefused`, rule 5) under an active
    disclosure ``policy`` (default: the cohort's access tier, so always on registered and
    controlled entries): coordinates are per person. Under a policy, ``genshare figure --kind
    pca`` draws group centroids instead.

    Examples
    --------
    >>> result = pca(open_cohort("hapmap3"), k=4)  # doctest: +SKIP
    >>> result.coordinates[["PC1", "PC2"]].head()  # doctest: +SKIP
    """
    from genshare_widgets.disclosure._publishing import refuse_per_person_output

    check_pca_grouping(cohort, by)
    refuse_per_person_output(_policy(cohort, policy), what="PCA coordinates", cohort_id=cohort.id)
    return principal_components(
        cohort,
        k=k,
        by=by,
        min_maf=min_maf,
        region=region,
        snps_only=snps_only,
        method=method,
        seed=seed,
        scheduler=scheduler,
        keep_groups=keep_groups,
        ld_prune=ld_prune,
    )


def check_pca_grouping(cohort, by) -> None:
    """The consent checks of a PCA labelled by ``by`` (None: unlabelled)."""
    if getattr(cohort, "entry", None) is None:
        return
    from genshare_widgets.disclosure._gate import check_grouping, check_pca

    check_pca(cohort)
    if by is not None:
        check_grouping(cohort, by, analysis="PCA labelled by group")


def principal_components(
    cohort,
    *,
    k: int = 10,
    by: str | Mapping[str, str] | None = "population",
    min_maf: float = 0.05,
    region: str | None = None,
    snps_only: bool = False,
    method: str = "auto",
    seed: int = 0,
    scheduler: str | None = None,
    keep_groups: list[str] | None = None,
    ld_prune=None,
) -> PCAResult:
    """:func:`pca` without its checks: for callers that check consent with
    :func:`check_pca_grouping` and release only group summaries (the PCA figure under a
    policy, :func:`group_centroids`). Never hand its coordinates out under a policy."""
    n_samples = cohort.n_samples
    hail = getattr(cohort, "engine", "dask") == "hail"
    if not 1 <= k < n_samples:
        raise GenShareError(f"PCA needs 1 <= k < number of samples ({n_samples}); got k={k}")
    if method == "auto":
        method = "exact" if n_samples <= 5000 or hail else "randomized"
    if method not in ("exact", "randomized"):
        raise GenShareError(f"unknown PCA method {method!r}; use 'exact' or 'randomized'")
    if hail and method != "exact":
        raise GenShareError(
            "the Hail engine computes PCA exactly (a BlockMatrix Gram matrix); use "
            "method='exact', or engine='dask' for the randomized method"
        )
    everyone = pd.Series("all", index=cohort.samples.index, name="all", dtype=object)
    kept = withdrawal_mask(cohort)  # withdrawn samples never enter the PCA
    keep = np.ones(n_samples, dtype=bool) if kept is None else kept.copy()
    if kept is not None:
        everyone = everyone.where(keep, None)
        if keep.sum() <= k:
            raise GenShareError(
                f"PCA needs more than k={k} samples; {keep.sum()} remain after withdrawals"
            )
    if keep_groups is not None:
        if by is None:
            raise GenShareError("keep_groups needs by= (the column whose groups are kept)")
        from genshare_widgets.counts import resolve_groups

        codes, names, _ = resolve_groups(cohort.samples, by)
        unknown = sorted(set(keep_groups) - set(names))
        if unknown or not keep_groups:
            raise GenShareError(f"keep_groups {unknown or keep_groups} are not among {names}")
        wanted = [names.index(g) for g in keep_groups]
        keep &= np.isin(codes, wanted)
        if keep.sum() <= k:
            raise GenShareError(
                f"PCA needs more than k={k} samples; keep_groups {keep_groups} keep {keep.sum()}"
            )
        everyone = everyone.where(keep, None)
    scheduler = pass_scheduler(cohort, scheduler)
    counts = allele_counts_by_group(
        cohort,
        by=everyone,
        region=region,
        min_maf=min_maf,
        snps_only=snps_only,
        scheduler=scheduler,
        biallelic_only=True,  # sites biallelic in the store, as PLINK 2's --pca
    )
    called = counts["called_count"].values[:, 0].astype(np.float64)
    dosage_sum = 2.0 * counts["hom_alt_count"].values[:, 0] + counts["het_count"].values[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        p = dosage_sum / (2 * called)
    usable = (called > 0) & (p > 0) & (p < 1)
    pruning = None
    if ld_prune is not None:  # on the variants the filters kept, over the PCA's samples
        from genshare_widgets.ld import as_settings, prune_counts

        pruning = as_settings(ld_prune)
        before = int(usable.sum())
        usable &= prune_counts(cohort, counts, keep, pruning)
    index = counts["variant_index"].values[usable]
    p = p[usable]
    if len(index) < 2:
        raise GenShareError(
            f"only {len(index)} variants pass the PCA filters (min_maf={min_maf}); relax them"
        )
    from genshare_widgets.engines._sample_pass import _upper_gram

    m = len(index)
    n = cohort.n_samples
    n_kept = int(keep.sum())
    subset = n_kept < n
    if hail:
        from genshare_widgets.engines import hail_engine

        gram = hail_engine.gram_matrix(cohort.genotypes, index, p) / m
    else:
        reduce = _standardized_pass(cohort, index, p, scheduler)
        if subset:  # each sample's standardised row depends only on p: restrict to the kept
            full_reduce = reduce

            def reduce(block_fn, shape):
                return full_reduce(lambda x: block_fn(x[:, keep]), shape)

    if method == "exact":
        if not hail:
            upper = reduce(_upper_gram, (n_kept, n_kept))
            gram = (np.triu(upper) + np.triu(upper, 1).T) / m
        elif subset:
            gram = gram[np.ix_(keep, keep)]
        values, vectors = np.linalg.eigh(gram)
        order = np.argsort(values)[::-1]
        trace = float(np.trace(gram))
        values, vectors = values[order][:k], vectors[:, order][:, :k]
    else:
        values, vectors = _randomized_eigs(reduce, n_kept, k, seed=seed)
        values = values / m
        # trace of X Xᵀ / M: the sum of squared standardised genotypes over M
        trace = float(reduce(lambda x: np.sum(x * x), ())) / m
    vectors = _fix_signs(vectors)
    names = [f"PC{i + 1}" for i in range(k)]
    coords = pd.DataFrame(vectors, columns=names, index=cohort.samples.index[keep])
    if by is not None:
        from genshare_widgets.counts import resolve_groups

        codes, groups, _ = resolve_groups(cohort.samples, by)
        coords.insert(0, "group", [groups[c] if c >= 0 else "" for c in codes[keep]])
    eig = pd.DataFrame(
        {"pc": np.arange(1, k + 1), "eigenvalue": values, "variance_explained": values / trace}
    )
    filters = {**counts.attrs["filters"], "n_variants_pca": m}
    if pruning is not None:
        filters["ld_prune"] = {**pruning.to_dict(), "n_variants_before": before}
    if keep_groups is not None:
        filters["groups_kept"] = list(keep_groups)
    return PCAResult(
        coordinates=coords,
        eigenvalues=eig,
        n_variants=m,
        method=method,
        filters=filters,
        variant_index=np.asarray(index),
        p=p,
    )


def group_centroids(
    coordinates: pd.DataFrame, labels: pd.Series, *, min_size: int
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Per-group mean and standard deviation of each PC over groups of ``min_size`` samples
    or more; → ``(table, too_small)``.

    ``coordinates``: per-sample ``PC1..PCk`` (indexed by sample id); ``labels``: each sample's
    group (indexed by sample id; missing → in no group). ``table`` has ``group``,
    ``n_samples``, ``PC<i>`` (mean) and ``PC<i>_sd`` columns, one row per group;
    ``too_small`` maps each smaller group to its size (never released: the caller names it
    only). No per-sample value is in either.

    Examples
    --------
    >>> coords = pd.DataFrame({"PC1": [0.0, 1.0, 2.0]}, index=["a", "b", "c"])
    >>> table, small = group_centroids(coords, pd.Series(["X", "X", "Y"], index=coords.index),
    ...                                min_size=2)
    >>> table[["group", "n_samples", "PC1"]].to_dict("records"), small
    ([{'group': 'X', 'n_samples': 2, 'PC1': 0.5}], {'Y': 1})
    """
    pcs = [c for c in coordinates.columns if str(c).startswith("PC")]
    groups = labels.reindex(coordinates.index)
    groups = groups.where(groups.notna() & (groups.astype(str) != ""))
    rows, too_small = [], {}
    for name, members in coordinates[pcs].groupby(groups.astype(object), sort=True):
        n = len(members)
        if n < min_size:
            too_small[str(name)] = n
            continue
        row: dict[str, Any] = {"group": str(name), "n_samples": n}
        for col in pcs:
            values = members[col].to_numpy(dtype=np.float64)
            row[col] = float(values.mean())
            row[f"{col}_sd"] = float(values.std(ddof=1)) if n > 1 else 0.0
        rows.append(row)
    columns = ["group", "n_samples", *pcs, *(f"{c}_sd" for c in pcs)]
    return pd.DataFrame(rows, columns=columns), too_small
