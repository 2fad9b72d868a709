"""Federated association over real HTTP (three ``start_site`` sites cut from sim-ooa) against
the pooled fit (``genshare_widgets.association.association`` on the whole cohort), and the
inverse-variance meta-analysis against a hand computation.

Every server listens on 127.0.0.1 (port 0); every server is stopped in ``finally``.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from genshare_widgets import GenShareError

REGION = "1:1-200000"  # 1,791 records of sim-ooa: 1,775 biallelic + 8 tri-allelic sites split
LOGISTIC_REGION = "1:1-100000"  # 895: Newton rounds cost one request per site and round
COVAR = ["age", "sex"]


def _phenotypes(table: pd.DataFrame, seed: int = 16) -> pd.DataFrame:
    """The public sample table plus simulated columns: ``age`` (continuous), ``trait``
    (quantitative, with a population mean shift so ancestry confounds it), ``case`` (0/1)."""
    rng = np.random.default_rng(seed)
    out = table.copy()
    n = len(out)
    shift = out["population"].map({"YRI": 1.0, "CEU": 0.0, "CHB": -0.5}).to_numpy()
    out["age"] = rng.normal(50, 10, n).round(1)
    out["trait"] = shift + 0.02 * out["age"] + rng.normal(0, 1, n)
    out["case"] = (rng.random(n) < 0.35 + 0.1 * shift).astype(int)
    return out


@pytest.fixture(scope="module")
def tables(sim_ooa, tmp_path_factory):
    """{"all": pooled table, "mixed": [3 tables, i::3], "ancestry": [3 tables, mostly one
    population each]} written as TSVs."""
    folder = tmp_path_factory.mktemp("assoc-sites")
    table = _phenotypes(sim_ooa.samples.reset_index())
    out: dict = {"all": folder / "all.tsv"}
    table.to_csv(out["all"], sep="\t", index=False)
    out["mixed"] = []
    for i in range(3):
        path = folder / f"mixed{i}.tsv"
        table.iloc[i::3].to_csv(path, sep="\t", index=False)
        out["mixed"].append(path)
    # ancestry split: site i holds 80 % of population i and 10 % of each other one
    rng = np.random.default_rng(3)
    site_of = np.empty(len(table), dtype=int)
    for j, pop in enumerate(["YRI", "CEU", "CHB"]):
        rows = np.flatnonzero(table["population"].to_numpy() == pop)
        draw = rng.random(len(rows))
        others = [s for s in range(3) if s != j]
        site_of[rows] = np.where(draw < 0.8, j, np.where(draw < 0.9, others[0], others[1]))
    out["ancestry"] = []
    for i in range(3):
        path = folder / f"ancestry{i}.tsv"
        table[site_of == i].to_csv(path, sep="\t", index=False)
        out["ancestry"].append(path)
    return out


def _start(paths, **options):
    from genshare_widgets.federation import open_site_cohort, start_site

    servers = []
    try:
        for i, path in enumerate(paths):
            servers.append(
                start_site(
                    open_site_cohort("sim-ooa", samples=path),
                    name=f"{options.get('prefix', 'site')}-{i}",
                    assoc_phenotypes=options.get("phenotypes", ["trait", "case"]),
                    assoc_covariates=options.get("covariates", COVAR),
                    **options.get("site", {}),
                )
            )
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


@pytest.fixture(scope="module")
def mixed_sites(tables):
    servers = _start(tables["mixed"])
    try:
        yield [s.url for s in servers]
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def pooled_cohort(tables):
    from genshare_widgets.federation import open_site_cohort

    return open_site_cohort("sim-ooa", samples=tables["all"])


def _pooled(cohort, pheno, *, binary=False):
    from genshare_widgets.association import association

    region = LOGISTIC_REGION if binary else REGION
    return association(cohort, pheno, covar=COVAR, region=region, binary=binary or None).table


def _compare(fed: pd.DataFrame, pooled: pd.DataFrame) -> tuple[float, float, int]:
    """(max |Δβ| / max(|β|, SE), max SE relative difference, variants compared); the NA
    pattern must be the same."""
    keys = ["contig", "position", "ref", "alt"]
    fed, pooled = (t.astype({"contig": str, "position": np.int64}) for t in (fed, pooled))
    merged = fed.merge(pooled, on=keys, suffixes=("_fed", "_pool"), validate="one_to_one")
    assert len(merged) == len(pooled) == len(fed)
    both = np.isfinite(merged["beta_pool"].to_numpy(dtype=float))
    assert (np.isfinite(merged["beta_fed"].to_numpy(dtype=float)) == both).all()
    b_f, b_p = merged["beta_fed"].to_numpy(float)[both], merged["beta_pool"].to_numpy(float)[both]
    s_f, s_p = merged["se_fed"].to_numpy(float)[both], merged["se_pool"].to_numpy(float)[both]
    assert (merged["n_fed"].to_numpy()[both] == merged["n_pool"].to_numpy()[both]).all()
    beta_err = float(np.max(np.abs(b_f - b_p) / np.maximum(np.abs(b_p), s_p)))
    se_err = float(np.max(np.abs(s_f / s_p - 1)))
    return beta_err, se_err, int(both.sum())


def test_federated_linear_equals_pooled(mixed_sites, pooled_cohort, tmp_path):
    from genshare_widgets.federation import federate

    result = federate(
        mixed_sites, stats=["assoc"], pheno="trait", covar=COVAR, region=REGION, out=tmp_path
    )
    assert not result.excluded and len(result.included) == 3
    written = pd.read_csv(
        tmp_path / "assoc.tsv", sep="\t", keep_default_na=False, na_values="NA",
        float_precision="round_trip",
    )  # fmt: skip
    assert list(written.columns) == ["contig", "position", "ref", "alt", "n", "beta", "se",
                                     "stat", "p", "note"]  # fmt: skip
    # full precision on disk: the file reads back to the very floats computed
    table = result.tables["assoc.tsv"]
    assert np.array_equal(written["beta"].to_numpy(float), table["beta"].to_numpy(float),
                          equal_nan=True)  # fmt: skip
    beta_err, se_err, compared = _compare(written, _pooled(pooled_cohort, "trait"))
    print(f"linear federated vs pooled: max |Δβ|/max(|β|,SE) = {beta_err:.2e}, "
          f"max SE rel = {se_err:.2e} over {compared} variants")  # fmt: skip
    assert compared > 1000
    assert beta_err <= 1e-9 and se_err <= 1e-9
    # the sites serve the split records of the region's multi-allelic sites, ALT by ALT
    split = written[written.duplicated(["contig", "position"], keep=False)]
    assert len(split) == 16 and split["alt"].nunique() > 1
    provenance = json.loads((tmp_path / "provenance.json").read_text())
    assert provenance["association"]["model"] == "linear"
    assert provenance["association"]["covariate_columns"] == ["age", "sex=male"]
    assert [s["site"] for s in provenance["federation"]["sites"]] == ["site-0", "site-1", "site-2"]


def test_federated_logistic_equals_pooled(mixed_sites, pooled_cohort):
    from genshare_widgets.federation import federate

    result = federate(
        mixed_sites, stats=["assoc"], pheno="case", covar=COVAR, binary=True,
        region=LOGISTIC_REGION,
    )  # fmt: skip
    table = result.tables["assoc.tsv"]
    pooled = _pooled(pooled_cohort, "case", binary=True)
    beta_err, se_err, compared = _compare(table, pooled)
    print(f"logistic federated vs pooled: max |Δβ|/max(|β|,SE) = {beta_err:.2e}, "
          f"max SE rel = {se_err:.2e} over {compared} variants, "
          f"{result.provenance['association']['rounds']} rounds")  # fmt: skip
    assert compared > 300
    assert beta_err <= 1e-6 and se_err <= 1e-6
    # the allelic chi-square from the round-0 terms equals the pooled one from counts
    merged = table.merge(pooled, on=["contig", "position", "ref", "alt"])
    chi_f, chi_p = (
        merged["allelic_chisq_x"].to_numpy(float),
        merged["allelic_chisq_y"].to_numpy(float),
    )
    assert np.allclose(chi_f, chi_p, rtol=1e-12, atol=0, equal_nan=True)


def test_meta_analysis_equals_hand_computation():
    from genshare_widgets.stats._association import meta_analysis

    beta = np.array([[0.2, 1.0, np.nan], [0.4, -1.0, 0.3], [0.1, 0.5, np.nan]])
    se = np.array([[0.1, 0.5, 0.2], [0.2, 0.5, 0.1], [0.05, np.nan, 0.3]])
    out = meta_analysis(beta, se, n=np.array([[10, 10, 10], [20, 20, 20], [30, 30, 30]]))
    # variant 0: weights 100, 25, 400
    b0 = (100 * 0.2 + 25 * 0.4 + 400 * 0.1) / 525
    assert math.isclose(out["beta"][0], b0, rel_tol=1e-15)
    assert math.isclose(out["se"][0], 1 / math.sqrt(525), rel_tol=1e-15)
    z = b0 * math.sqrt(525)
    assert math.isclose(out["p"][0], math.erfc(abs(z) / math.sqrt(2)), rel_tol=1e-12)
    assert out["n"][0] == 60 and out["n_studies"][0] == 3
    # variant 1: equal weights, opposite effects (the third study has no SE): β = 0
    assert out["beta"][1] == 0 and math.isclose(out["se"][1], 0.5 / math.sqrt(2))
    assert out["n"][1] == 30
    # variant 2: one study only
    assert out["beta"][2] == 0.3 and out["se"][2] == 0.1 and out["n_studies"][2] == 1


def _site_fit(path, pheno):
    from genshare_widgets.association import association
    from genshare_widgets.federation import open_site_cohort

    cohort = open_site_cohort("sim-ooa", samples=path)
    return association(cohort, pheno, covar=COVAR, region=REGION).table


def test_meta_differs_from_pooled_on_an_ancestry_split(tables, pooled_cohort, tmp_path):
    """Sites that each hold mostly one population, a trait whose mean differs by population:
    federated = pooled (one model over everyone, confounded by ancestry); the meta-analysis
    of per-site fits is not. assoc_meta.tsv equals the METAL formula over per-site fits
    computed at each site's own data."""
    from genshare_widgets.federation import federate

    servers = _start(tables["ancestry"], phenotypes=["trait"])
    try:
        result = federate(
            [s.url for s in servers], stats=["assoc"], pheno="trait", covar=COVAR,
            region=REGION, meta=True, out=tmp_path,
        )  # fmt: skip
    finally:
        for server in servers:
            server.stop()
    assert (tmp_path / "assoc_meta.tsv").is_file()
    fed, meta = result.tables["assoc.tsv"], result.tables["assoc_meta.tsv"]
    beta_err, se_err, _ = _compare(fed, _pooled(pooled_cohort, "trait"))
    assert beta_err <= 1e-9 and se_err <= 1e-9
    # hand computation from each site's own pooled-style fit
    fits = [_site_fit(p, "trait") for p in tables["ancestry"]]
    b = np.array([f["beta"].to_numpy(float) for f in fits])
    s = np.array([f["se"].to_numpy(float) for f in fits])
    expected_beta, expected_se = [], []
    for v in range(b.shape[1]):
        pairs = [(b[i, v], s[i, v]) for i in range(3) if np.isfinite(b[i, v])]
        w = [1 / se**2 for _, se in pairs]
        weighted = sum(wi * bi for wi, (bi, _) in zip(w, pairs, strict=True))
        expected_beta.append(weighted / sum(w) if w else np.nan)
        expected_se.append(1 / math.sqrt(sum(w)) if w else np.nan)
    assert np.allclose(meta["beta"].to_numpy(float), expected_beta, rtol=1e-9, equal_nan=True)
    assert np.allclose(meta["se"].to_numpy(float), expected_se, rtol=1e-9, equal_nan=True)
    # and it is not the pooled answer
    both = np.isfinite(fed["beta"].to_numpy(float)) & np.isfinite(meta["beta"].to_numpy(float))
    diff = np.abs(fed["beta"].to_numpy(float) - meta["beta"].to_numpy(float))[both]
    scale = fed["se"].to_numpy(float)[both]
    print(f"meta vs pooled (ancestry split): median |Δβ|/SE = {np.median(diff / scale):.3f}, "
          f"max = {np.max(diff / scale):.2f} over {both.sum()} variants")  # fmt: skip
    assert np.median(diff / scale) > 0.05
    assert np.mean(diff / scale > 0.1) > 0.2


def test_federated_with_reference_pcs_equals_pooled(tables, pooled_cohort, sim_ooa):
    """``--assoc-pcs 2`` at sites holding mostly one population each: the PCs are every
    sample's projection onto the one approved reference, so the federated fit with PC1, PC2
    equals the pooled fit with the same projections as covariates."""
    from genshare_widgets.association import association
    from genshare_widgets.federation import federate, pca_reference
    from genshare_widgets.federation._pca import project_samples

    reference = pca_reference(sim_ooa, k=3, region="1:1-1500000")
    servers = _start(
        tables["ancestry"], phenotypes=["trait"], site={"pca_reference": reference, "assoc_pcs": 2}
    )
    try:
        result = federate(
            [s.url for s in servers], stats=["assoc"], pheno="trait",
            covar=[*COVAR, "PC1", "PC2"], region=REGION,
        )  # fmt: skip
    finally:
        for server in servers:
            server.stop()
    assert not result.excluded
    table = pooled_cohort.samples.copy()
    projected = project_samples(pooled_cohort, reference)
    table["PC1"], table["PC2"] = projected[:, 0], projected[:, 1]
    pooled = association(
        pooled_cohort, "trait", covar=[*COVAR, "PC1", "PC2"], region=REGION, samples=table
    ).table
    beta_err, se_err, compared = _compare(result.tables["assoc.tsv"], pooled)
    print(f"linear with 2 reference PCs, federated vs pooled: {beta_err:.2e}, {se_err:.2e} "
          f"over {compared} variants")  # fmt: skip
    assert compared > 1000 and beta_err <= 1e-9 and se_err <= 1e-9


def test_sites_at_k20_release_partial_fits_and_say_so(tables, pooled_cohort):
    """Sites at k = 20 withhold variants with a derivable count in 1..19: a variant released
    by every site equals pooled; one withheld somewhere is fitted on the others with a note
    naming them (``partial: withheld at ...``); withheld everywhere (or undefined on the
    others) → NA, the note saying ``withheld at ...``."""
    from genshare_widgets.federation import federate

    servers = _start(tables["mixed"], phenotypes=["trait"], site={"min_count": 20})
    try:
        result = federate(
            [s.url for s in servers], stats=["assoc"], pheno="trait", covar=COVAR, region=REGION
        )
    finally:
        for server in servers:
            server.stop()
    table = result.tables["assoc.tsv"]
    note = table["note"].astype(str)
    partial = note.str.startswith("partial: withheld at ")
    gone = note.str.contains("withheld at ") & ~partial
    full = note == ""
    assert partial.sum() > 10 and gone.sum() > 10 and full.sum() > 20
    assert table.loc[gone, "beta"].isna().all() and table.loc[partial, "beta"].notna().all()
    pooled = _pooled(pooled_cohort, "trait")
    beta_err, se_err, _ = _compare(table[full], pooled[full.to_numpy()])
    assert beta_err <= 1e-9 and se_err <= 1e-9
    assert (table.loc[partial, "n"] < pooled.loc[partial.to_numpy(), "n"]).all()
    assert all(s["assoc_rules"]["min_n"] == 20 for s in result.included)


def test_logistic_meta_analysis_equals_hand_computation(tables):
    """``--binary --meta``: each site's own Newton fit, then METAL's formula; equal to the
    formula over ``association()`` run at each site's data."""
    from genshare_widgets.association import association
    from genshare_widgets.federation import federate, open_site_cohort

    region = "1:1-20000"
    servers = _start(tables["mixed"], phenotypes=["case"], prefix="meta")
    try:
        result = federate([s.url for s in servers], stats=["assoc"], pheno="case", binary=True,
                          covar=COVAR, region=region, meta=True)  # fmt: skip
    finally:
        for server in servers:
            server.stop()
    meta = result.tables["assoc_meta.tsv"]
    fits = [
        association(open_site_cohort("sim-ooa", samples=p), "case", covar=COVAR, region=region)
        for p in tables["mixed"]
    ]
    b = np.array([f.table["beta"].to_numpy(float) for f in fits])
    s = np.array([f.table["se"].to_numpy(float) for f in fits])
    w = np.where(np.isfinite(b), 1 / s**2, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = np.where(w.sum(0) > 0, (w * np.nan_to_num(b)).sum(0) / w.sum(0), np.nan)
        se = np.where(w.sum(0) > 0, 1 / np.sqrt(w.sum(0)), np.nan)
    assert np.isfinite(beta).sum() > 20
    assert np.allclose(meta["beta"].to_numpy(float), beta, rtol=1e-6, atol=0, equal_nan=True)
    assert np.allclose(meta["se"].to_numpy(float), se, rtol=1e-6, atol=0, equal_nan=True)


def test_site_lacking_phenotype_or_covariate_is_excluded_by_name(tables, mixed_sites):
    from genshare_widgets.federation import federate

    extra = _start(tables["mixed"][:1], phenotypes=["case"], covariates=["age"])
    try:
        urls = [*mixed_sites[:2], extra[0].url]
        result = federate(urls, stats=["assoc"], pheno="trait", covar=COVAR, region=REGION)
        assert [s["site"] for s in result.included] == ["site-0", "site-1"]
        (gone,) = result.excluded
        assert gone["name"] == "site-0" and gone["url"] == extra[0].url
        assert "lacks phenotype 'trait'" in gone["reason"]
        result = federate(urls, stats=["assoc"], pheno="case", binary=True, covar=COVAR,
                          region=LOGISTIC_REGION)  # fmt: skip
        assert "lacks covariate(s) ['sex']" in result.excluded[0]["reason"]
        with pytest.raises(GenShareError, match="nothing was written"):
            federate(urls[2:], stats=["assoc"], pheno="trait", region=REGION)
    finally:
        extra[0].stop()


def _failing_after_round0(real_url: str):
    """A site that answers like ``real_url`` until a request carries logistic coefficients,
    then fails (HTTP 500), as a site killed between Newton rounds."""
    import httpx
    from fastapi import Body, FastAPI
    from fastapi.responses import JSONResponse

    from genshare_widgets._serve import RunningServer

    app = FastAPI()

    @app.get("/")
    def info():
        return httpx.get(real_url + "/", timeout=30).json()

    @app.post("/assoc")
    def assoc(body: dict = Body(...)):  # noqa: B008
        if "coef" in body:
            return JSONResponse({"detail": "gone"}, status_code=500)
        return httpx.post(real_url + "/assoc", json=body, timeout=60).json()

    return RunningServer(app, host="127.0.0.1", port=0).start()


def test_site_failing_during_logistic_rounds_is_excluded_and_the_rest_refitted(mixed_sites):
    from genshare_widgets.federation import federate

    flaky = _failing_after_round0(mixed_sites[2])
    try:
        urls = [*mixed_sites[:2], flaky.url]
        result = federate(urls, stats=["assoc"], pheno="case", binary=True, covar=COVAR,
                          region=LOGISTIC_REGION, min_sites=2)  # fmt: skip
    finally:
        flaky.stop()
    assert [s["site"] for s in result.included] == ["site-0", "site-1"]
    (gone,) = result.excluded
    assert gone["url"] == flaky.url and "failed during the logistic rounds" in gone["reason"]
    two = federate(
        mixed_sites[:2], stats=["assoc"], pheno="case", binary=True, covar=COVAR,
        region=LOGISTIC_REGION,
    )  # fmt: skip
    pd.testing.assert_frame_equal(result.tables["assoc.tsv"], two.tables["assoc.tsv"])


def test_cli_federate_assoc_and_bad_input(mixed_sites, tmp_path):
    from click.testing import CliRunner

    from genshare_widgets.cli import main

    runner = CliRunner()
    args = ["federate", *[arg for u in mixed_sites for arg in ("--site", u)]]
    done = runner.invoke(
        main,
        [*args, "--stats", "assoc", "--pheno", "trait", "--covar", "age,sex",
         "--region", REGION, "--meta", "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "assoc.tsv", "assoc_meta.tsv", "provenance.json"
    }  # fmt: skip
    for bad, message in [
        (["--stats", "assoc"], "needs --pheno"),
        (["--stats", "assoc,fst", "--pheno", "trait"], "assoc runs alone"),
        (["--stats", "assoc", "--pheno", "trait", "--min-maf", "0.1"], "do not apply"),
        (["--stats", "fst"], "--by COLUMN"),
    ]:
        out = tmp_path / "bad"
        run = runner.invoke(main, [*args, *bad, "--out", str(out)])
        assert run.exit_code == 2, run.output
        assert message in run.output and not out.exists()
