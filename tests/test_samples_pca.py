"""Per-sample statistics and PCA: naive references, PLINK 2, scikit-allel, determinism."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from genshare_widgets import GenShareError, open_cohort
from genshare_widgets.samples import pca, sample_stats


def _naive_standardized(gt: np.ndarray, min_maf: float) -> np.ndarray:
    """samples × variants Patterson matrix, built the obvious way (biallelic input)."""
    columns = []
    for v in range(gt.shape[0]):
        called = (gt[v, :, 0] >= 0) & (gt[v, :, 1] >= 0)
        dosage = (gt[v, :, 0] == 1).astype(float) + (gt[v, :, 1] == 1)
        p = dosage[called].sum() / (2 * called.sum())
        if not min_maf <= min(p, 1 - p) or p in (0, 1):
            continue
        col = np.where(called, (dosage - 2 * p) / np.sqrt(p * (1 - p)), 0.0)
        columns.append(col)
    return np.array(columns).T


def _corr(a, b) -> float:
    return abs(float(np.corrcoef(a, b)[0, 1]))


def test_sample_stats_equal_naive(sim_ooa):
    table = sample_stats(sim_ooa)
    alleles = np.asarray(sim_ooa.genotypes["variant_allele"].values, dtype=object)
    bi = (alleles != "").sum(axis=1) == 2
    gt = sim_ooa.genotypes["call_genotype"].values[bi]
    het = (gt[..., 0] != gt[..., 1]).sum(axis=0)
    assert table["n_variants"].iloc[0] == bi.sum()
    np.testing.assert_array_equal(table["n_het"], het)
    np.testing.assert_allclose(table["observed_het"], het / bi.sum())
    assert (table["missingness"] == 0).all()
    assert list(table.index) == list(sim_ooa.samples.index)


def test_sample_stats_missing_and_haploid(hapmap3, kg_subset):
    hm = sample_stats(hapmap3)
    gt = hapmap3.genotypes["call_genotype"].values
    missing = ((gt[..., 0] < 0) & (gt[..., 1] < 0)).sum(axis=0)
    np.testing.assert_array_equal(hm["n_missing"], missing)
    assert 0.0005 < hm["missingness"].mean() < 0.003
    x = sample_stats(kg_subset, region="X:2,699,521-154,931,043")
    males = kg_subset.samples["sex"] == "male"
    assert (x.loc[males, "n_called"] == 0).all() and (x.loc[males, "n_partial"] > 900).all()
    assert x.loc[males, "observed_het"].isna().all()
    assert (x.loc[~males, "n_partial"] == 0).all()


def test_pca_equals_naive_svd(hapmap3):
    result = pca(hapmap3, k=4, method="exact")
    gt = hapmap3.genotypes["call_genotype"].values
    x = _naive_standardized(gt, 0.05)
    assert result.n_variants == x.shape[1]
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    eig = s**2 / x.shape[1]
    np.testing.assert_allclose(result.eigenvalues["eigenvalue"], eig[:4], rtol=1e-4)
    np.testing.assert_allclose(
        result.eigenvalues["variance_explained"], eig[:4] / eig.sum(), rtol=1e-4
    )
    for i in range(4):
        assert _corr(result.coordinates[f"PC{i + 1}"], u[:, i]) > 0.99999


@pytest.mark.parametrize("method", ["exact", "randomized"])
def test_pca_keep_groups_equals_naive_svd_of_the_kept_samples(sim_ooa, method):
    kept = ["CEU", "CHB"]
    result = pca(sim_ooa, k=3, by="population", keep_groups=kept, method=method, seed=3)
    mask = sim_ooa.samples["population"].isin(kept).to_numpy()
    assert list(result.coordinates.index) == list(sim_ooa.samples.index[mask])
    assert set(result.coordinates["group"]) == set(kept)
    alleles = np.asarray(sim_ooa.genotypes["variant_allele"].values, dtype=object).astype(str)
    biallelic = (alleles != "").sum(axis=1) == 2  # the naive reference takes biallelic input
    gt = sim_ooa.genotypes["call_genotype"].values[biallelic][:, mask]
    x = _naive_standardized(gt, 0.05)
    assert result.n_variants == x.shape[1]
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    eig = s**2 / x.shape[1]
    # PC2 and PC3 of this cohort are nearly tied (9.61 vs 9.36): the randomized range finder
    # resolves PC1 exactly and the rest only approximately (see the HapMap3 test)
    top = 3 if method == "exact" else 1
    np.testing.assert_allclose(result.eigenvalues["eigenvalue"][:top], eig[:top], rtol=1e-4)
    np.testing.assert_allclose(
        result.eigenvalues["variance_explained"][:top], eig[:top] / eig.sum(), rtol=1e-4
    )
    for i in range(min(top, 2)):
        assert _corr(result.coordinates[f"PC{i + 1}"], u[:, i]) > 0.9999
    with pytest.raises(GenShareError, match="not among"):
        pca(sim_ooa, k=2, by="population", keep_groups=["XXX"])


def test_pca_randomized_equals_exact_and_signs_are_fixed(hapmap3):
    exact = pca(hapmap3, k=5, method="exact")
    fast = pca(hapmap3, k=5, method="randomized", seed=7)
    for i in range(1, 6):
        col = f"PC{i}"
        assert _corr(exact.coordinates[col], fast.coordinates[col]) > 0.999
        v = exact.coordinates[col].to_numpy()
        assert v[np.argmax(np.abs(v))] > 0  # sign rule
    np.testing.assert_allclose(
        exact.eigenvalues["eigenvalue"][:3], fast.eigenvalues["eigenvalue"][:3], rtol=1e-4
    )
    np.testing.assert_allclose(
        exact.eigenvalues["variance_explained"][:3],
        fast.eigenvalues["variance_explained"][:3],
        rtol=1e-4,
    )
    again = pca(hapmap3, k=5, method="exact")
    pd.testing.assert_frame_equal(exact.coordinates, again.coordinates)
    with pytest.raises(GenShareError, match="1 <= k <"):
        pca(hapmap3, k=0)
    with pytest.raises(GenShareError, match="unknown PCA method"):
        pca(hapmap3, k=2, method="magic")


def _plink2_pca(args: list[str], out) -> tuple[pd.DataFrame, np.ndarray]:
    plink2 = shutil.which("plink2")
    if plink2 is None:
        pytest.skip("plink2 not installed (apt-get install plink2; .ci/run installs it)")
    subprocess.run(
        [plink2, *args, "--maf", "0.05", "--pca", "4", "--threads", "2", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    vec = pd.read_csv(f"{out}.eigenvec", sep="\t", dtype=str).rename(columns={"#IID": "IID"})
    vec = vec.set_index("IID").drop(columns=["#FID"], errors="ignore").astype(float)
    val = pd.read_csv(f"{out}.eigenval", header=None)[0].to_numpy()
    return vec, val


@pytest.mark.realdata
def test_pca_equals_plink2_on_hapmap3(hapmap3, mirror, tmp_path):
    prefix = mirror / "hapmap3" / "HM3_thinned_autosomal_overlap"
    vec, val = _plink2_pca(["--bfile", str(prefix)], tmp_path / "hm3")
    ours = pca(hapmap3, k=4)
    assert ours.n_variants == 13691  # what plink2 keeps after --maf 0.05 (its log)
    for i in range(1, 5):
        assert _corr(ours.coordinates[f"PC{i}"], vec.loc[ours.coordinates.index, f"PC{i}"]) > 0.9999
    # Patterson scaling uses sqrt(p(1-p)), PLINK 2 sqrt(2p(1-p)): eigenvalues differ by 2.
    np.testing.assert_allclose(ours.eigenvalues["eigenvalue"] / val, 2.0, rtol=0.01)


@pytest.mark.realdata
def test_pca_equals_plink2_on_1000g_subset(mirror, tmp_path):
    bcftools = shutil.which("bcftools")
    if bcftools is None:
        pytest.skip("bcftools not installed (apt-get install bcftools; .ci/run installs it)")
    folder = mirror / "1kg_phase3_subset"
    vcfs = [folder / f"1KG_phase3_subset_chr{c}.vcf.gz" for c in range(1, 23)]
    cohort = open_cohort(vcfs, samples=folder / "samples_pop.tsv")
    merged = tmp_path / "auto.vcf.gz"
    subprocess.run(
        [bcftools, "concat", "-Oz", "-o", str(merged), *map(str, vcfs)],
        check=True,
        capture_output=True,
    )
    vec, _ = _plink2_pca(["--vcf", str(merged), "--max-alleles", "2"], tmp_path / "kg")
    ours = pca(cohort, k=4, by="pop")
    for i in range(1, 4):
        assert _corr(ours.coordinates[f"PC{i}"], vec.loc[ours.coordinates.index, f"PC{i}"]) > 0.999
    # Continental structure: PC1 separates AFR from the rest.
    pc1 = ours.coordinates.groupby("group")["PC1"].mean()
    afr = pc1[["YRI", "LWK", "ACB"]]
    others = pc1[["CEU", "CHB", "JPT", "GBR"]]
    assert (np.sign(afr).nunique() == 1) and np.sign(afr.iloc[0]) != np.sign(others.mean())


def test_pca_agrees_with_scikit_allel(sim_ooa):
    """On complete data (simulated: no missing calls) scikit-allel's Patterson PCA is ours."""
    allel = pytest.importorskip("allel")
    ours = pca(sim_ooa, k=3)
    alleles = np.asarray(sim_ooa.genotypes["variant_allele"].values, dtype=object)
    gt = sim_ooa.genotypes["call_genotype"].values[(alleles != "").sum(axis=1) == 2]
    gn = (gt == 1).sum(axis=2)
    p = gn.mean(axis=1) / 2
    common = np.minimum(p, 1 - p) >= 0.05
    assert common.sum() == ours.n_variants
    coords, model = allel.pca(gn[common], n_components=3, scaler="patterson")
    for i in range(3):
        assert _corr(coords[:, i], ours.coordinates[f"PC{i + 1}"]) > 0.9999
    np.testing.assert_allclose(
        model.explained_variance_ratio_, ours.eigenvalues["variance_explained"], rtol=1e-3
    )


# --- Figures equal across machines: float64 Gram matrix, fixed reduction order -------------

_REFERENCE = """
import sys
import numpy as np

gt = np.load(sys.argv[1])
columns = []
for v in range(gt.shape[0]):
    called = (gt[v, :, 0] >= 0) & (gt[v, :, 1] >= 0)
    dosage = (gt[v, :, 0] == 1).astype(np.float64) + (gt[v, :, 1] == 1)
    p = dosage[called].sum() / (2 * called.sum())
    if not 0.05 <= min(p, 1 - p) or p in (0, 1):
        continue
    columns.append(np.where(called, (dosage - 2 * p) / np.sqrt(p * (1 - p)), 0.0))
x = np.array(columns).T
values, vectors = np.linalg.eigh(x @ x.T / x.shape[1])
order = np.argsort(values)[::-1][:4]
values, vectors = values[order], vectors[:, order]
top = np.argmax(np.abs(vectors), axis=0)
vectors = vectors * np.sign(vectors[top, np.arange(4)])
np.savez(sys.argv[2], values=values, vectors=vectors, m=x.shape[1])
"""

_PACKAGE_PCA = """
import sys
import numpy as np
from genshare_widgets import open_cohort
from genshare_widgets.samples import pca

r = pca(open_cohort("hapmap3"), k=4, method="exact")
np.savez(sys.argv[1], values=r.eigenvalues["eigenvalue"].to_numpy(),
         vectors=r.coordinates[["PC1", "PC2", "PC3", "PC4"]].to_numpy())
"""

_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# Stated precision of the PCA against a float64 reference computed another way (plain NumPy,
# one BLAS thread, one product over all variants instead of per-chunk sums): the difference is
# float64 rounding only: measured at most 1.2e-15 relative on eigenvalues and 6e-16 absolute on
# coordinates (unit-length eigenvectors) on HapMap3; float32 blocks differed by 1e-6 here.
EIG_RTOL, COORD_ATOL = 1e-10, 1e-10


def _run(code: str, *args, env: dict[str, str]) -> None:
    import os
    import sys

    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.realdata
def test_pca_equals_single_threaded_float64_numpy_reference(hapmap3, tmp_path):
    """The package's PCA (default BLAS threads, store chunks, dsyrk blocks) against a plain
    NumPy float64 PCA of the same standardised matrix in a one-thread subprocess."""
    np.save(tmp_path / "gt.npy", hapmap3.genotypes["call_genotype"].values)
    _run(_REFERENCE, tmp_path / "gt.npy", tmp_path / "ref.npz", env=_ONE_THREAD)
    ref = np.load(tmp_path / "ref.npz")
    ours = pca(hapmap3, k=4, method="exact")
    assert ours.n_variants == int(ref["m"])
    np.testing.assert_allclose(ours.eigenvalues["eigenvalue"], ref["values"], rtol=EIG_RTOL, atol=0)
    np.testing.assert_allclose(
        ours.coordinates[["PC1", "PC2", "PC3", "PC4"]].to_numpy(),
        ref["vectors"],
        rtol=0,
        atol=COORD_ATOL,
    )


@pytest.mark.realdata
def test_pca_is_bit_identical_for_any_number_of_threads(kg_subset, monkeypatch):
    """The reduction order is fixed by the store's chunks, not by the threads: the Gram sums
    and so the PCA are bit-identical with 1, 2 or 3 worker threads (the 1000 Genomes subset's
    store has several chunks, so a per-worker running total would add them in another order).
    Another block size is another summation order: equal to float64 rounding, not bit for bit."""
    import functools

    from genshare_widgets.engines import _direct

    original = _direct.direct_reduce_standardized
    results = {}
    for threads, rows in [(1, 4096), (2, 4096), (3, 4096), (2, 1000)]:
        monkeypatch.setattr(
            _direct,
            "direct_reduce_standardized",
            functools.partial(original, threads=threads, rows_per_block=rows),
        )
        results[threads, rows] = pca(kg_subset, k=4, method="exact")
    base = results[1, 4096]
    for key in [(2, 4096), (3, 4096)]:
        np.testing.assert_array_equal(results[key].coordinates, base.coordinates)
        np.testing.assert_array_equal(results[key].eigenvalues, base.eigenvalues)
    other = results[2, 1000]
    np.testing.assert_allclose(
        other.eigenvalues["eigenvalue"], base.eigenvalues["eigenvalue"], rtol=1e-12
    )
    np.testing.assert_allclose(
        other.coordinates.iloc[:, 1:].to_numpy(float),
        base.coordinates.iloc[:, 1:].to_numpy(float),
        atol=1e-11,
    )
    randomized = [pca(kg_subset, k=3, method="randomized", seed=5) for _ in range(2)]
    pd.testing.assert_frame_equal(randomized[0].coordinates, randomized[1].coordinates)


@pytest.mark.realdata
@pytest.mark.parametrize(
    "env",
    [_ONE_THREAD, {"OPENBLAS_NUM_THREADS": "2"}, {"OPENBLAS_CORETYPE": "Prescott"}],
    ids=["blas-1-thread", "blas-2-threads", "blas-sse-kernels"],
)
def test_pca_agrees_across_blas_kernels_and_threads(hapmap3, tmp_path, env):
    """Other machines in a subprocess: OpenBLAS (DYNAMIC_ARCH) with 1 or 2 threads or its
    SSE-era kernels instead of this CPU's round the float64 products differently, so bits may
    differ; the PCA agrees to the stated float64 precision, far below the 6 significant
    digits of the stored figures (float32 blocks gave 1e-6 differences here)."""
    _run(_PACKAGE_PCA, tmp_path / "pca.npz", env=env)
    other = np.load(tmp_path / "pca.npz")
    ours = pca(hapmap3, k=4, method="exact")
    np.testing.assert_allclose(
        ours.eigenvalues["eigenvalue"], other["values"], rtol=EIG_RTOL, atol=0
    )
    np.testing.assert_allclose(
        ours.coordinates[["PC1", "PC2", "PC3", "PC4"]].to_numpy(),
        other["vectors"],
        rtol=0,
        atol=COORD_ATOL,
    )
