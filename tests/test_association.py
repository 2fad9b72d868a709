"""Per-variant linear association (issue 16, first part): exact against a naive per-variant
least-squares fit, additive over sample partitions (federated = pooled), and equal to
``plink2 --glm`` on real HapMap3 genotypes with a simulated trait and covariates."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from genshare_widgets.stats._association import (
    allelic_chisq,
    design,
    genomic_control_lambda,
    linear_fit,
    linear_sums,
    logistic_fit,
    logistic_terms,
)


def _naive(dosage, y, cov):
    """One least-squares fit per variant over its called samples (obviously correct)."""
    out = []
    for row in dosage:
        keep = ~np.isnan(row)
        x = np.hstack([design(cov[keep], int(keep.sum())), row[keep][:, None]])
        coef, *_ = np.linalg.lstsq(x, y[keep], rcond=None)
        resid = y[keep] - x @ coef
        df = keep.sum() - x.shape[1]
        cov_beta = resid @ resid / df * np.linalg.inv(x.T @ x)
        out.append((coef[-1], np.sqrt(cov_beta[-1, -1])))
    return np.array(out)


def _random(seed: int, n_var: int = 40, n: int = 120):
    rng = np.random.default_rng(seed)
    dosage = rng.integers(0, 3, size=(n_var, n)).astype(float)
    dosage[rng.random(dosage.shape) < 0.05] = np.nan
    cov = rng.normal(size=(n, 3))
    y = 0.3 * np.nan_to_num(dosage[0]) + cov @ [0.5, -0.2, 0.1] + rng.normal(size=n)
    return dosage, y, cov


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_linear_equals_naive_least_squares(seed):
    dosage, y, cov = _random(seed)
    got = linear_fit(linear_sums(dosage, y, cov))
    want = _naive(dosage, y, cov)
    np.testing.assert_allclose(got["beta"], want[:, 0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got["se"], want[:, 1], rtol=1e-10)
    assert (got["n"] == (~np.isnan(dosage)).sum(axis=1)).all()


def test_sites_add_up_to_the_pooled_fit():
    dosage, y, cov = _random(7)
    parts = [slice(0, 30), slice(30, 75), slice(75, 120)]
    sums = [linear_sums(dosage[:, s], y[s], cov[s]) for s in parts]
    federated = linear_fit(sums[0] + sums[1] + sums[2])
    pooled = linear_fit(linear_sums(dosage, y, cov))
    for key in ("beta", "se", "p"):
        np.testing.assert_allclose(federated[key], pooled[key], rtol=1e-9)


def test_federated_newton_rounds_reach_the_pooled_logistic_fit():
    """Sites' Hessians and scores at the coordinator's coefficients add up to the pooled ones,
    so Newton rounds on the summed terms land on the pooled maximum-likelihood fit."""
    dosage, _y, cov = _random(11)
    rng = np.random.default_rng(11)
    y = (rng.random(dosage.shape[1]) < 0.4).astype(float)
    parts = [slice(0, 30), slice(30, 75), slice(75, 120)]
    coef = np.zeros((dosage.shape[0], cov.shape[1] + 2))
    for _ in range(12):
        terms = [logistic_terms(dosage[:, s], y[s], cov[s], coef) for s in parts]
        h = sum(t[0] for t in terms)
        g = sum(t[1] for t in terms)
        coef = coef + np.linalg.solve(h, g[:, :, None])[:, :, 0]
    pooled = logistic_fit(dosage, y, cov)
    se = np.sqrt(np.linalg.inv(h)[:, -1, -1])
    np.testing.assert_allclose(coef[:, -1], pooled["beta"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(se, pooled["se"], rtol=1e-6)


def test_undefined_fits_get_a_note_not_a_number():
    dosage, y, cov = _random(4, n_var=3)
    dosage[1] = 1.0  # constant dosage: collinear with the intercept
    dosage[2, 3:] = np.nan  # three samples for four parameters
    got = linear_fit(linear_sums(dosage, y, cov))
    assert np.isfinite(got["beta"][0]) and got["note"][0] == ""
    assert np.isnan(got["beta"][1]) and got["note"][1] == "dosage constant given the covariates"
    assert np.isnan(got["beta"][2]) and got["note"][2] == "too few samples"


def _hapmap3_case(hapmap3, n_variants: int = 1500):
    """Dosages of HapMap3's first variants, two covariates and a trait with one causal variant."""
    ds = hapmap3.genotypes.isel(variants=slice(0, n_variants))
    gt = ds["call_genotype"].values.astype(np.int8)
    missing = (gt < 0).any(axis=2)
    dosage = np.where(missing, np.nan, gt.clip(0).sum(axis=2)).astype(float)
    rng = np.random.default_rng(16)
    cov = rng.normal(size=(dosage.shape[1], 2))
    trait = 0.4 * np.nan_to_num(dosage[10], nan=1.0) + cov @ [0.3, -0.5]
    trait = trait + rng.normal(size=dosage.shape[1])
    return ds, dosage, cov, trait


def _plink2_glm(ds, mirror, tmp_path, y, cov, *, binary: bool) -> pd.DataFrame:
    """``plink2 --glm`` (hide-covar, BETA column) on the same samples, variants, trait and
    covariates; the ADD rows indexed by variant ID."""
    samples = [str(s) for s in ds["sample_id"].values]
    fam = pd.read_csv(
        next(mirror.rglob("HM3_thinned_autosomal_overlap.fam")), sep=r"\s+", header=None
    )
    fid = dict(zip(fam[1].astype(str), fam[0].astype(str), strict=True))
    ids = pd.DataFrame({"#FID": [fid[s] for s in samples], "IID": samples})
    coded = (y + 1).astype(int) if binary else y  # PLINK: 1 = control, 2 = case
    ids.assign(Y=coded).to_csv(tmp_path / "pheno.tsv", sep="\t", index=False)
    ids.assign(C1=cov[:, 0], C2=cov[:, 1]).to_csv(tmp_path / "covar.tsv", sep="\t", index=False)
    bed = next(mirror.rglob("HM3_thinned_autosomal_overlap.bed"))
    vids = [str(v) for v in ds["variant_id"].values]
    (tmp_path / "extract.txt").write_text("\n".join(vids) + "\n")
    done = subprocess.run(
        [
            "plink2",
            "--bfile",
            str(bed.with_suffix("")),
            "--extract",
            str(tmp_path / "extract.txt"),
            "--pheno",
            str(tmp_path / "pheno.tsv"),
            "--pheno-name",
            "Y",
            "--covar",
            str(tmp_path / "covar.tsv"),
            "--glm",
            "hide-covar",
            "cols=+beta",
            "--threads",
            "1",
            "--out",
            str(tmp_path / "p2"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (tmp_path / "p2.log").read_text()[-2000:]
    name = "p2.Y.glm.logistic.hybrid" if binary else "p2.Y.glm.linear"
    found = list(tmp_path.glob("p2.Y.glm.*"))
    table = pd.read_csv(found[0] if binary else tmp_path / name, sep="\t")
    return table[table["TEST"] == "ADD"].set_index("ID")


def _compare(ds, got, table, *, beta_tol, se_rel, se_complete_only=False) -> int:
    alt = [str(a) for a in ds["variant_allele"].values[:, 1]]
    compared = 0
    for i, vid in enumerate(str(v) for v in ds["variant_id"].values):
        if vid not in table.index or not np.isfinite(got["beta"][i]):
            continue
        row = table.loc[vid]
        if not np.isfinite(pd.to_numeric(row["BETA"], errors="coerce")):
            continue
        if "FIRTH?" in row and row["FIRTH?"] == "Y":
            continue  # PLINK fell back to Firth's penalised fit: another estimator
        sign = 1.0 if row["A1"] == alt[i] else -1.0
        beta, se = sign * float(row["BETA"]), float(row["SE"])
        assert abs(got["beta"][i] - beta) <= beta_tol * max(abs(beta), se), (
            vid,
            got["beta"][i],
            beta,
        )
        if not (se_complete_only and got["n"][i] < len(ds["sample_id"])):
            assert got["se"][i] == pytest.approx(se, rel=se_rel), vid
        assert got["n"][i] == int(row["OBS_CT"])
        compared += 1
    return compared


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")
def test_linear_equals_plink2_glm_on_hapmap3(hapmap3, mirror, tmp_path):
    ds, dosage, cov, trait = _hapmap3_case(hapmap3)
    got = linear_fit(linear_sums(dosage, trait, cov))
    table = _plink2_glm(ds, mirror, tmp_path, trait, cov, binary=False)
    assert _compare(ds, got, table, beta_tol=1e-4, se_rel=1e-4) > 1000


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")
def test_logistic_equals_plink2_glm_on_hapmap3(hapmap3, mirror, tmp_path):
    ds, dosage, cov, trait = _hapmap3_case(hapmap3)
    y = (trait > np.quantile(trait, 0.6)).astype(float)  # liability threshold: 40 % cases
    got = logistic_fit(dosage, y, cov)
    table = _plink2_glm(ds, mirror, tmp_path, y, cov, binary=True)
    # SE is compared where no call is missing: on the 130 of 1,500 variants with 2-8 missing
    # calls, PLINK 2.00a3.5's SE differs by 1e-3 to 3.4e-3 (relative) while beta and OBS_CT
    # agree; ours is the exact inverse Hessian over the called samples
    # (test_logistic_equals_naive_newton). An open question for issue 16.
    assert _compare(ds, got, table, beta_tol=1e-3, se_rel=1e-3, se_complete_only=True) > 1000


def _naive_logistic(dosage, y, cov):
    """Newton's method one variant at a time, to full convergence."""
    out = []
    for row in dosage:
        keep = ~np.isnan(row)
        x = np.hstack([design(cov[keep], int(keep.sum())), row[keep][:, None]])
        b = np.zeros(x.shape[1])
        for _ in range(100):
            mu = 1 / (1 + np.exp(-(x @ b)))
            h = x.T @ (x * (mu * (1 - mu))[:, None])
            step = np.linalg.solve(h, x.T @ (y[keep] - mu))
            b += step
            if np.abs(step).max() < 1e-13:
                break
        mu = 1 / (1 + np.exp(-(x @ b)))
        h = x.T @ (x * (mu * (1 - mu))[:, None])
        out.append((b[-1], np.sqrt(np.linalg.inv(h)[-1, -1])))
    return np.array(out)


@pytest.mark.parametrize("seed", [1, 2])
def test_logistic_equals_naive_newton(seed):
    dosage, liability, cov = _random(seed)
    y = (liability > np.median(liability)).astype(float)
    got = logistic_fit(dosage, y, cov)
    want = _naive_logistic(dosage, y, cov)
    np.testing.assert_allclose(got["beta"], want[:, 0], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got["se"], want[:, 1], rtol=1e-8)


def test_logistic_separation_is_a_note_not_a_crash():
    dosage, liability, cov = _random(5, n_var=2)
    y = (liability > np.median(liability)).astype(float)
    dosage[1] = np.where(y > 0, 2.0, 0.0)  # the dosage separates cases from controls
    got = logistic_fit(dosage, y, cov)
    assert np.isfinite(got["beta"][0])
    assert np.isnan(got["beta"][1]) and got["note"][1].startswith("separation: an allele")


def test_logistic_quasi_separation_stops_as_not_converging():
    """Both alleles in cases and controls, but no case below dosage 1 and no control above
    it: the maximum is at infinity; found while iterating, not by the allele-count check."""
    _dosage, liability, _cov = _random(8, n_var=1)
    y = (liability > np.median(liability)).astype(float)
    rng = np.random.default_rng(8)
    dosage = np.where(y > 0, rng.integers(1, 3, len(y)), rng.integers(0, 2, len(y)))
    got = logistic_fit(dosage[None, :].astype(float), y, None)
    assert np.isnan(got["beta"][0]) and "did not converge" in got["note"][0]


def test_logistic_constant_dosage_is_named():
    dosage, liability, cov = _random(6, n_var=2)
    y = (liability > np.median(liability)).astype(float)
    dosage[1] = 2.0
    got = logistic_fit(dosage, y, cov)
    assert np.isnan(got["beta"][1]) and got["note"][1] == "dosage constant given the covariates"


def test_allelic_chisq_equals_scipy_contingency():
    from scipy.stats import chi2_contingency

    rng = np.random.default_rng(3)
    an_case, an_ctrl = rng.integers(20, 400, 50), rng.integers(20, 400, 50)
    ac_case, ac_ctrl = rng.integers(0, an_case + 1), rng.integers(0, an_ctrl + 1)
    ac_case[0], ac_ctrl[0] = 0, 0  # monomorphic: a zero margin, undefined
    chi2, p = allelic_chisq(ac_case, an_case, ac_ctrl, an_ctrl)
    assert np.isnan(chi2[0]) and np.isnan(p[0])
    for i in range(1, 50):
        table = [[ac_case[i], an_case[i] - ac_case[i]], [ac_ctrl[i], an_ctrl[i] - ac_ctrl[i]]]
        want = chi2_contingency(table, correction=False)
        assert chi2[i] == pytest.approx(want[0], rel=1e-12)
        assert p[i] == pytest.approx(want[1], rel=1e-10)


def test_genomic_control_lambda():
    from scipy import stats as sps

    rng = np.random.default_rng(8)
    null = rng.uniform(size=200_001)
    assert genomic_control_lambda(null) == pytest.approx(1.0, abs=0.01)
    inflated = sps.chi2.sf(1.2 * sps.chi2.isf(null, 1), 1)  # every statistic × 1.2
    assert genomic_control_lambda(inflated) == pytest.approx(
        1.2 * genomic_control_lambda(null), rel=1e-9
    )
    assert np.isnan(genomic_control_lambda(np.array([np.nan])))
