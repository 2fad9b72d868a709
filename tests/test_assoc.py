"""`genshare assoc` and `gs.association`: the genotype pass, inputs, consent, release door.

The model's arithmetic is pinned in test_association.py; here the whole path is checked:
every variant of a cohort read block by block from the store equals a naive fit on the
genotypes read another way (xarray ``call_genotype``), ``assoc.tsv`` equals ``plink2 --glm``
on the simulated cohort's own VCF, bad input is refused by name with nothing written, the
consent gate treats association as health research, and under a policy no count of people in
1..k−1 can be derived from the released table.
"""

import json
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from genshare_widgets import GenShareError, open_cohort
from genshare_widgets._selection import fixed_strings
from genshare_widgets.association import association, association_inputs, dosage_blocks
from genshare_widgets.cli import main
from genshare_widgets.disclosure import AnalysisRefused, DisclosurePolicy
from genshare_widgets.disclosure._association import WITHHELD_NOTE
from genshare_widgets.stats._association import linear_fit, linear_sums, logistic_fit


def _dense_dosage(cohort, index, samples, alt=1):
    """ALT dosage (variants, samples) from xarray's call_genotype: the obvious way (``alt``:
    the ALT index counted per variant, for split multi-allelic records)."""
    gt = cohort.genotypes["call_genotype"].values[index][:, samples]
    alt = np.asarray(alt)
    x = (gt == (alt[:, None, None] if alt.ndim else alt)).sum(axis=2).astype(float)
    x[(gt < 0).any(axis=2)] = np.nan
    return x


def _records(cohort, table):
    """(store rows, ALT indices) of an association table's records (split multi-allelic
    records: one per ALT of a row), found from their contig, position and ALT."""
    ds = cohort.genotypes
    contigs = fixed_strings(ds["contig_id"].values)[ds["variant_contig"].values]
    positions = ds["variant_position"].values
    row_of = {(str(c), int(p)): i for i, (c, p) in enumerate(zip(contigs, positions, strict=True))}
    index = np.array(
        [row_of[(str(c), int(p))] for c, p in zip(table["contig"], table["position"], strict=True)]
    )
    alleles = fixed_strings(ds["variant_allele"].values)
    alt = np.array([list(alleles[i]).index(a) for i, a in zip(index, table["alt"], strict=True)])
    return index, alt


def _read_assoc(path):
    return pd.read_csv(
        path, sep="\t", keep_default_na=False, na_values=["NA"], float_precision="round_trip"
    )


def test_dosage_blocks_equal_the_genotypes(sim_ooa):
    index = np.sort(np.random.default_rng(0).choice(sim_ooa.n_variants, 5000, replace=False))
    samples = np.arange(0, sim_ooa.n_samples, 3)
    got = np.full((len(index), len(samples)), -7.0)
    seen = np.zeros(len(index), dtype=bool)
    for positions, block in dosage_blocks(sim_ooa, index, samples, rows=700):
        got[positions] = block
        seen[positions] = True
    assert seen.all()
    np.testing.assert_array_equal(got, _dense_dosage(sim_ooa, index, samples))


def test_whole_cohort_linear_equals_naive_fit(sim_ooa):
    result = association(sim_ooa, "height_like", covar=["sex"], pcs=2)
    inputs = association_inputs(sim_ooa, "height_like", covar=["sex"], pcs=2)
    table = result.table
    assert result.model == "linear" and result.n_samples == 300
    assert inputs.covariate_names == ["sex=male", "PC1", "PC2"]
    # 400 records at random and every record of a multi-allelic site (split per ALT)
    split = table.duplicated(["contig", "position"], keep=False).to_numpy()
    assert split.sum() == 315  # 157 multi-allelic sites of sim-ooa
    rows = np.random.default_rng(1).choice(len(table), 400, replace=False)
    got = table.iloc[np.union1d(rows, np.flatnonzero(split))]
    index, alt = _records(sim_ooa, got)
    x = _dense_dosage(sim_ooa, index, inputs.sample_index, alt)
    want = linear_fit(linear_sums(x, inputs.y, inputs.covariates))
    np.testing.assert_allclose(got["beta"], want["beta"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["se"], want["se"], rtol=1e-9)
    assert (got["n"].to_numpy() == want["n"]).all()


def _plink_pheno(cohort, folder, pheno, covar):
    table = cohort.samples.reset_index()
    ids = table.columns[0]
    out = pd.DataFrame({"#FID": table[ids], "IID": table[ids], pheno: table[pheno]})
    out.to_csv(folder / "pheno.tsv", sep="\t", index=False)
    cov = pd.DataFrame({"#FID": table[ids], "IID": table[ids]})
    for c in covar:
        cov[c] = table[c]
    cov.to_csv(folder / "covar.tsv", sep="\t", index=False)


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")
@pytest.mark.parametrize("binary", [False, True])
def test_cli_equals_plink2_glm_on_the_simulated_vcf(sim_ooa, tmp_path, binary):
    """`genshare assoc` on the catalog id against `plink2 --glm` on the cohort's own VCF,
    with a numeric and a 0/1 covariate (age_like: a deterministic function of the sample
    table; sex as 0/1), the binary trait = height_like above its median."""
    from genshare_widgets.simulate import build_simulated_cohort

    vcf, _ = build_simulated_cohort(sim_ooa.entry)
    samples = sim_ooa.samples.reset_index()
    ids = samples.columns[0]
    rng = np.random.default_rng(5)
    table = pd.DataFrame(
        {
            "sample": samples[ids],
            "population": samples["population"],
            "trait": (samples["height_like"] > samples["height_like"].median()).astype(int)
            if binary
            else samples["height_like"],
            "age": rng.integers(20, 80, len(samples)),
            "male": (samples["sex"] == "male").astype(int),
        }
    )
    table.loc[[3, 17], "trait"] = np.nan  # two samples without a phenotype: excluded
    table.to_csv(tmp_path / "samples.tsv", sep="\t", index=False, na_rep="NA")
    out = tmp_path / "gwas"
    result = CliRunner().invoke(
        main,
        [
            "assoc",
            "sim-ooa",
            "--samples",
            str(tmp_path / "samples.tsv"),
            "--pheno",
            "trait",
            "--covar",
            "age,male",
            "--region",
            "1:1-1500000",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    ours = _read_assoc(out / "assoc.tsv")
    record = json.loads((out / "provenance.json").read_text())["association"]
    assert record["model"] == ("logistic" if binary else "linear")
    assert record["samples_excluded"] == {"no trait": 2}
    assert record["n_samples"] == 298
    plink = table.rename(columns={"sample": "IID"}).drop(columns="population")
    plink.insert(0, "#FID", plink["IID"])
    if binary:
        plink["trait"] = plink["trait"] + 1  # PLINK codes controls 1, cases 2
    plink.to_csv(tmp_path / "p.tsv", sep="\t", index=False, na_rep="NA")
    cmd = [
        "plink2",
        "--vcf",
        str(vcf),
        "--double-id",
        "--chr",
        "1",
        "--from-bp",
        "1",
        "--to-bp",
        "1500000",
        "--max-alleles",
        "2",
        "--pheno",
        str(tmp_path / "p.tsv"),
        "--pheno-name",
        "trait",
        "--covar",
        str(tmp_path / "p.tsv"),
        "--covar-name",
        "age",
        "male",
        "--glm",
        "hide-covar",
        "cols=+beta,+a1freq",
        *(["no-firth"] if binary else []),
        "--covar-variance-standardize",
        "--threads",
        "1",
        "--out",
        str(tmp_path / "plink"),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    suffix = "trait.glm.logistic" if binary else "trait.glm.linear"
    theirs = pd.read_csv(tmp_path / f"plink.{suffix}", sep="\t", na_values=["NA"])
    # PLINK 2 regresses on A1, the ALT allele unless ALT is the major one: flip those
    theirs.loc[theirs["A1"] != theirs["ALT"], "BETA"] *= -1
    merged = ours.merge(
        theirs, left_on=["position", "ref", "alt"], right_on=["POS", "REF", "ALT"], how="inner"
    )
    assert len(merged) >= 0.95 * len(ours) > 1000
    # the same variants are untestable (PLINK's SEPARATION / CONST_OMITTED_ALLELE codes)
    assert (merged["BETA"].isna() == merged["beta"].isna()).all()
    both = merged["beta"].notna()
    assert both.sum() > 1000
    m = merged[both]
    scale = np.maximum(np.abs(m["beta"]), m["se"])
    beta_tol, se_tol = (1e-3, 1e-3) if binary else (1e-4, 1e-4)
    assert (np.abs(m["beta"] - m["BETA"]) <= beta_tol * scale).all()
    assert (np.abs(m["se"] / m["SE"] - 1) <= se_tol).all()
    assert (m["n"] == m["OBS_CT"]).all()


def test_binary_trait_has_the_allelic_chisq(sim_ooa, tmp_path):
    from scipy.stats import chi2_contingency

    samples = sim_ooa.samples.copy()
    samples["case"] = (samples["height_like"] > 0.3).astype(int)
    result = association(sim_ooa, "case", region="1:1-400000", samples=samples)
    assert result.model == "logistic" and result.coding.startswith("binary: 0 = control")
    inputs = association_inputs(sim_ooa, "case", samples=samples)
    table = result.table.dropna(subset=["allelic_chisq"]).head(30)
    index, alt = _records(sim_ooa, table)
    x = _dense_dosage(sim_ooa, index, inputs.sample_index, alt)
    for row, dosage in zip(table.itertuples(), x, strict=True):
        case = inputs.y > 0
        alt_case, alt_control = np.nansum(dosage[case]), np.nansum(dosage[~case])
        ref_case = 2 * np.isfinite(dosage[case]).sum() - alt_case
        ref_control = 2 * np.isfinite(dosage[~case]).sum() - alt_control
        chi2 = chi2_contingency(
            [[alt_case, ref_case], [alt_control, ref_control]], correction=False
        )[0]
        assert row.allelic_chisq == pytest.approx(chi2, rel=1e-9)
    fit = logistic_fit(x, inputs.y, None)
    np.testing.assert_allclose(table["beta"], fit["beta"], rtol=1e-9)


# --- bad input ------------------------------------------------------------------------------


def _assoc(tmp_path, table, *args):
    path = tmp_path / "samples.tsv"
    table.to_csv(path, sep="\t", index=False, na_rep="NA")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["assoc", "sim-ooa", "--samples", str(path), *args, "--out", str(out)]
    )
    return result, out


@pytest.fixture()
def base_table(sim_ooa):
    s = sim_ooa.samples.reset_index()
    return pd.DataFrame(
        {
            "sample": s[s.columns[0]],
            "population": s["population"],
            "height": s["height_like"],
            "sex": s["sex"],
        }
    )


@pytest.mark.parametrize(
    "change, args, message",
    [
        (None, ["--pheno", "weight"], "phenotype 'weight' is not a column of the sample table"),
        ("text", ["--pheno", "height"], "phenotype 'height' is not numeric: 1 value"),
        ("constant", ["--pheno", "height"], "phenotype 'height' is constant"),
        ("cases", ["--pheno", "height", "--binary"], "all 300 analysed samples are cases"),
        ("three", ["--pheno", "height", "--binary"], "phenotype 'height' is not binary"),
        (
            "collinear",
            ["--pheno", "height", "--covar", "sex,female"],
            "covariate 'female' is collinear with 'sex=male'",
        ),
        ("flat", ["--pheno", "height", "--covar", "site"], "covariate 'site=a' is constant"),
        (None, ["--pheno", "height", "--covar", "bmi"], "covariate 'bmi' is not a column"),
        (None, ["--pheno", "height", "--pcs", "-1"], "Invalid value for '--pcs'"),
        (None, ["--pheno", "height", "--min-maf", "0.7"], "min-maf"),
    ],
)
def test_bad_input_is_named_and_writes_nothing(tmp_path, base_table, change, args, message):
    table = base_table.copy()
    if change == "text":
        table["height"] = table["height"].astype(object)
        table.loc[5, "height"] = "tall"
    elif change == "constant":
        table["height"] = 1.5
    elif change == "cases":
        table["height"] = 1
    elif change == "three":
        table["height"] = np.arange(len(table)) % 3
    elif change == "collinear":
        table["female"] = (table["sex"] == "female").astype(int)
    elif change == "flat":
        table["site"] = "a"
    result, out = _assoc(tmp_path, table, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    assert not out.exists()
    assert not list(tmp_path.glob("out*/*"))


def test_samples_without_a_phenotype_are_counted(tmp_path, base_table):
    table = base_table.copy()
    table.loc[:9, "height"] = np.nan
    table.loc[10:12, "sex"] = "NA"
    result, out = _assoc(tmp_path, table, "--pheno", "height", "--covar", "sex")
    assert result.exit_code == 0, result.output
    record = json.loads((out / "provenance.json").read_text())["association"]
    assert record["samples_excluded"] == {"no height": 10, "no sex": 3}
    assert record["n_samples"] == 287
    assert _read_assoc(out / "assoc.tsv")["n"].max() == 287


def test_assoc_tsv_holds_full_precision(tmp_path, sim_ooa):
    out = tmp_path / "g"
    args = ["assoc", "sim-ooa", "--pheno", "height_like", "--region", "1:1-300000"]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = _read_assoc(out / "assoc.tsv")
    direct = association(sim_ooa, "height_like", region="1:1-300000").table
    assert list(written.columns) == [
        "contig", "position", "ref", "alt", "n", "beta", "se", "stat", "p", "note"
    ]  # fmt: skip
    for col in ("beta", "se", "stat", "p"):
        np.testing.assert_array_equal(written[col].to_numpy(), direct[col].to_numpy())


@pytest.mark.parametrize("pheno", ["height_like", "disease_like"])
def test_streamed_table_equals_the_kept_table(tmp_path, sim_ooa, pheno):
    """``association(..., out=PATH)`` (what ``genshare assoc`` does) writes the table a block
    at a time as the variants are tested: the same file as the kept table writes, with the
    same λ and counts in provenance; the streamed result keeps no table and says where it is."""
    kept = association(sim_ooa, pheno, covar=["sex"])
    kept.write_tsv(tmp_path / "kept.tsv")
    streamed = association(sim_ooa, pheno, covar=["sex"], out=tmp_path / "streamed.tsv")
    assert (tmp_path / "kept.tsv").read_bytes() == (tmp_path / "streamed.tsv").read_bytes()
    assert streamed.provenance() == kept.provenance()
    assert streamed.n_tested == len(kept.n_defined) > 40_000
    assert streamed.columns is None
    with pytest.raises(GenShareError, match=r"written straight to .*streamed\.tsv"):
        streamed.table  # noqa: B018


def test_a_failure_mid_stream_leaves_nothing(tmp_path, sim_ooa, monkeypatch):
    """The table is written as variants are tested: a failure after some blocks were written
    leaves no assoc.tsv, no provenance and no output folder."""
    import genshare_widgets.association as module

    real = module._fit_stream

    def fails_after_two_blocks(*args, **kwargs):
        for i, item in enumerate(real(*args, **kwargs)):
            if i == 2:
                raise OSError("disk full (simulated)")
            yield item

    monkeypatch.setattr(module, "_fit_stream", fails_after_two_blocks)
    out = tmp_path / "new" / "g"
    args = ["assoc", "sim-ooa", "--pheno", "height_like", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0 and "disk full" in str(result.exception or result.output)
    assert not (tmp_path / "new").exists()


# --- consent --------------------------------------------------------------------------------


def _gated(duo, purpose=None, disease=None):
    from genshare_widgets.catalog import get_entry

    entry = get_entry("sim-ooa").model_copy(
        update={"id": "test-entry", "duo": duo, "duo_disease": disease}
    )
    access = {"allowed": True, "purpose": purpose, "reasons": []}
    return SimpleNamespace(entry=entry, provenance={"access": access}, id="test-entry")


@pytest.mark.parametrize(
    "duo, purpose, disease, refused",
    [
        (["DUO:0000006"], "HMB", None, None),
        (["DUO:0000006"], None, None, None),
        (["DUO:0000042"], "GRU", None, None),
        (["DUO:0000007"], "DS:MONDO:0005148", "MONDO:0005148", None),
        (["DUO:0000007"], "DS:MONDO:0004992", "MONDO:0005148", r"DS \(DUO:0000007\)"),
        (["DUO:0000007"], None, "MONDO:0005148", "no purpose naming that disease"),
        (["DUO:0000011"], None, None, "do not cover health research"),
        (["DUO:0000042"], "POA", None, "declared purpose is POA"),
    ],
)
def test_consent_gate_treats_association_as_health_research(duo, purpose, disease, refused):
    from genshare_widgets.disclosure._gate import check_association

    cohort = _gated(duo, purpose, disease)
    if refused is None:
        check_association(cohort, trait="t2d")
    else:
        with pytest.raises(AnalysisRefused, match=refused):
            check_association(cohort, trait="t2d")


def test_controlled_hmb_entry_runs_association(tmp_path):
    import yaml

    cred = tmp_path / "c.yaml"
    purpose = "HMB;non-commercial;irb=IRB-1;publish"
    approval = {"cohorts": ["sim-ooa-hmb-controlled"], "project": "p", "purpose": purpose}
    cred.write_text(yaml.safe_dump({"holder": "R", "approvals": [approval]}))
    cohort = open_cohort("sim-ooa-hmb-controlled", credential=cred)
    result = association(cohort, "height_like", region="1:1-200000")
    assert result.policy.min_count == 20 and len(result.table) > 100


# --- the release door -----------------------------------------------------------------------


def _cells(x: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Every count of people per variant in each group, recomputed from the genotypes."""
    out = []
    for g in groups:
        d = x[:, g]
        called = np.isfinite(d)
        het, hom = (d == 1).sum(1), (d == 2).sum(1)
        ref_hom = (d == 0).sum(1)
        ac = het + 2 * hom
        an = 2 * called.sum(1)
        out += [ac, an - ac, het + hom, het + ref_hom, (~called).sum(1)]
    return np.stack(out, axis=1)


@pytest.mark.parametrize("binary", [False, True])
def test_no_released_row_reveals_a_small_count(sim_ooa, binary):
    """As an adversary reading the published table: for every variant with a number in it,
    each count of people behind it (alleles, carriers, missing calls; per case and control
    for a binary trait) is 0 or at least k, recomputed independently from the genotypes; the
    variants with a count in 1..k−1 are all withheld."""
    samples = sim_ooa.samples.copy()
    samples["case"] = (samples["height_like"] > 0).astype(int)
    samples.iloc[::37, samples.columns.get_loc("height_like")] = np.nan  # some missing
    pheno = "case" if binary else "height_like"
    policy = DisclosurePolicy(min_count=20, tier="registered", origin="test")
    result = association(sim_ooa, pheno, region="1:1-600000", samples=samples, policy=policy)
    table = result.table
    inputs = association_inputs(sim_ooa, pheno, samples=samples)
    index, alt = _records(sim_ooa, table)  # split multi-allelic records: their own ALT
    assert (alt > 1).any()
    x = _dense_dosage(sim_ooa, index, inputs.sample_index, alt)
    groups = [inputs.y > 0, inputs.y == 0] if binary else [np.ones(len(inputs.y), bool)]
    cells = _cells(x, groups)
    small = ((cells >= 1) & (cells < 20)).any(axis=1)
    released = table["beta"].notna() | table["n"].notna()
    assert small.any() and (~small).any()
    assert not (released.to_numpy() & small).any()
    withheld = table["note"] == WITHHELD_NOTE
    assert (withheld.to_numpy() == small).all()
    assert table.loc[withheld, ["n", "beta", "se", "stat", "p"]].isna().all().all()
    if binary:
        assert table.loc[withheld, ["allelic_chisq", "allelic_p"]].isna().all().all()
    assert result.n_withheld == int(small.sum())


def test_maf_filter_under_a_policy_sees_only_coarse_counts(sim_ooa):
    """Which variants pass --min-maf under k=20 must not depend on the exact minor allele
    count within a bin of width k: sweeping the threshold cannot pin a count down."""
    policy = DisclosurePolicy(min_count=20, tier="registered", origin="test")
    region = "1:1-800000"
    passed = []
    for maf in np.arange(0.0, 0.2, 0.005):
        t = association(sim_ooa, "height_like", region=region, min_maf=float(maf), policy=policy)
        passed.append(set(zip(t.table["position"], t.table["alt"], strict=True)))
    base = association(sim_ooa, "height_like", region=region, policy=policy).table
    index, alt = _records(sim_ooa, base)  # one record per ALT of a multi-allelic site
    x = _dense_dosage(sim_ooa, index, np.arange(sim_ooa.n_samples), alt)
    ac = np.nansum(x, axis=1)
    mac = np.minimum(ac, 2 * np.isfinite(x).sum(1) - ac).astype(int)
    keys = list(zip(base["position"], base["alt"], strict=True))
    pattern = {key: tuple(key in s for s in passed) for key in keys}
    by_bin: dict[int, set] = {}
    for key, m in zip(keys, mac, strict=True):
        by_bin.setdefault(m // 20, set()).add(pattern[key])
    assert all(len(p) == 1 for p in by_bin.values())  # same bin → same fate at every threshold
    assert len({pattern[k] for k in keys}) > 2  # the filter does select


def test_differential_privacy_is_refused_for_association(sim_ooa):
    from genshare_widgets.disclosure import ReleaseRefused

    policy = DisclosurePolicy(min_count=20, epsilon=1.0, tier="registered", origin="test")
    with pytest.raises(ReleaseRefused, match="not released under differential privacy"):
        association(sim_ooa, "height_like", policy=policy)


def test_too_few_cases_under_a_policy_is_refused(sim_ooa):
    from genshare_widgets.disclosure import ReleaseRefused

    samples = sim_ooa.samples.copy()
    samples["rare"] = 0
    samples.iloc[:7, samples.columns.get_loc("rare")] = 1
    policy = DisclosurePolicy(min_count=20, tier="registered", origin="test")
    with pytest.raises(ReleaseRefused, match="case has 7 samples"):
        association(sim_ooa, "rare", samples=samples, policy=policy)
    assert len(association(sim_ooa, "rare", samples=samples, region="1:1-100000").table)


def test_inputs_reject_a_missing_phenotype_with_the_columns(sim_ooa):
    with pytest.raises(GenShareError, match="columns: \\['population', 'sex', 'height_like'"):
        association_inputs(sim_ooa, "bmi")


# --- the bit-plane pass ---------------------------------------------------------------------


def test_plane_products_kernel_equals_numpy():
    """The regression kernel on random bit planes (with missing calls and a sample subset)
    against unpacked arithmetic."""
    from genshare_widgets.engines._direct import POPCOUNT8, _sample_words, byte_tables
    from genshare_widgets.engines._kernels import plane_products

    rng = np.random.default_rng(3)
    n, rows = 203, 57
    words = (n + 63) // 64
    codes = rng.choice(4, size=(rows, n), p=[0.5, 0.3, 0.15, 0.05])  # 3 = missing
    codes[:10] = 0  # rare variants: whole words without a carrier are skipped
    codes[:10, rng.choice(n, 8)] = rng.choice([1, 2, 3], size=(10, 8))
    codes[10, :] = 0  # no carrier at all
    lo = np.zeros((rows, words * 64), np.uint8)
    hi = np.zeros_like(lo)
    lo[:, :n] = (codes == 1) | (codes == 3)
    hi[:, :n] = (codes == 2) | (codes == 3)
    planes = np.stack(
        [np.packbits(lo, axis=1, bitorder="little"), np.packbits(hi, axis=1, bitorder="little")],
        axis=1,
    )
    kept = np.sort(rng.choice(n, 150, replace=False))
    weights = rng.normal(size=(n, 4))
    moments = rng.normal(size=(n, 3))
    xw, xx, n_missing, mom = plane_products(
        planes.view(np.uint64),
        byte_tables(weights, planes.shape[2]),
        _sample_words(kept, words),
        moments,
        POPCOUNT8,
    )
    sub = codes[:, kept]
    dosage = np.where(sub == 3, 0, sub).astype(float)
    np.testing.assert_allclose(xw, dosage @ weights[kept], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(xx, (dosage**2).sum(axis=1))
    np.testing.assert_array_equal(n_missing, (sub == 3).sum(axis=1))
    np.testing.assert_allclose(mom, (sub == 3) @ moments[kept], rtol=1e-12, atol=1e-12)


def test_bitplane_sums_equal_dense_sums_on_hapmap3(hapmap3):
    """Real genotypes with missing calls, a sample subset (phenotype missing for some) and a
    covariate: the bit-plane pass's sums equal the dense NaN-coded ones."""
    from genshare_widgets.association import linear_sums_stream
    from genshare_widgets.stats._association import linear_sums

    rng = np.random.default_rng(9)
    samples = hapmap3.samples.copy()
    samples["trait"] = rng.normal(size=len(samples))
    samples.iloc[::11, samples.columns.get_loc("trait")] = np.nan
    samples["z"] = rng.normal(size=len(samples))
    inputs = association_inputs(hapmap3, "trait", covar=["z"], samples=samples)
    assert inputs.n_samples < hapmap3.n_samples
    index = np.arange(0, 6000)
    got = {}
    for positions, sums, _counts in linear_sums_stream(hapmap3, inputs, index):
        for i, pos in enumerate(positions):
            got[int(pos)] = (sums.xtx[i], sums.xty[i], sums.yty[i], sums.n[i])
    assert sorted(got) == list(range(len(index)))
    x = _dense_dosage(hapmap3, index, inputs.sample_index)
    assert np.isnan(x).any(axis=1).sum() > 100  # missing calls are exercised
    want = linear_sums(x, inputs.y, inputs.covariates)
    for i in range(len(index)):
        xtx, xty, yty, n = got[i]
        np.testing.assert_allclose(xtx, want.xtx[i], rtol=1e-10, atol=1e-8)
        np.testing.assert_allclose(xty, want.xty[i], rtol=1e-10, atol=1e-8)
        assert yty == pytest.approx(want.yty[i], rel=1e-12)
        assert n == want.n[i]


def test_release_log_refuses_a_near_copy_of_an_analysed_set(tmp_path, base_table):
    """Rule 6 through `genshare assoc`: after a release over the analysed samples of one
    phenotype, a second phenotype whose analysed set differs by 3 samples (k = 20) would let
    a reader difference the two; it is refused and writes nothing."""
    table = base_table.copy()
    table["height2"] = table["height"]
    table.loc[:2, "height2"] = np.nan
    path = tmp_path / "samples.tsv"
    table.to_csv(path, sep="\t", index=False, na_rep="NA")
    runner = CliRunner()
    common = ["assoc", "sim-ooa", "--samples", str(path), "--min-count", "20"]
    region = ["--region", "1:1-300000"]
    first = runner.invoke(
        main, [*common, "--pheno", "height", *region, "--out", str(tmp_path / "a")]
    )
    assert first.exit_code == 0, first.output
    second = runner.invoke(
        main, [*common, "--pheno", "height2", *region, "--out", str(tmp_path / "b")]
    )
    assert second.exit_code == 2, second.output
    assert "differ" in second.output and "fewer than" in second.output, second.output
    assert not (tmp_path / "b").exists()


def test_logistic_step_halving_reaches_the_finite_maximum(sim_ooa):
    """sim-ooa 1:1999203 against disease_like with age and sex: two carriers, one case and
    one control. Pure Newton from the null fit overshoots and runs away there, but the
    maximum is finite (PLINK 2 reports β = 2.3374). With step halving the fit equals a direct
    maximisation of the log-likelihood (scipy's BFGS)."""
    from scipy.optimize import minimize

    import genshare_widgets.stats._association as model

    samples = sim_ooa.samples.copy()
    samples["male"] = (samples["sex"] == "male").astype(int)
    inputs = association_inputs(sim_ooa, "disease_like", covar=["age", "male"], samples=samples)
    index = np.flatnonzero(sim_ooa.genotypes["variant_position"].values == 1999203)
    dosage = _dense_dosage(sim_ooa, index, inputs.sample_index)
    assert np.nansum(dosage) == 2
    got = logistic_fit(dosage, inputs.y, inputs.covariates)
    x = np.hstack([model.design(inputs.covariates, len(inputs.y)), dosage.T])

    def nll(b):
        e = x @ b
        return -(inputs.y * e - np.logaddexp(0, e)).sum()

    def grad(b):
        return -x.T @ (inputs.y - 1 / (1 + np.exp(-(x @ b))))

    best = minimize(nll, np.zeros(x.shape[1]), jac=grad, method="BFGS", options={"gtol": 1e-8})
    assert got["note"][0] == "" and got["beta"][0] == pytest.approx(best.x[-1], abs=1e-4)
    assert got["beta"][0] == pytest.approx(2.3374, abs=1e-4)  # PLINK 2's printed value
    # and without halving the same fit runs away
    original = model.MAX_HALVINGS
    try:
        model.MAX_HALVINGS = 0
        assert np.isnan(logistic_fit(dosage, inputs.y, inputs.covariates)["beta"][0])
    finally:
        model.MAX_HALVINGS = original


@pytest.mark.parametrize("which", ["hapmap3", "kg_subset"])
def test_dosage_stream_with_missing_and_haploid_calls(which, request):
    """Real stores: HapMap3 has missing calls; the 1000 Genomes subset's chrX male calls are
    written half-missing (`0/.`: non-packable rows, read from call_genotype). Every block,
    with a sample subset, equals the calls read through xarray; the missing positions are
    listed exactly."""
    from genshare_widgets.association import dosage_stream
    from genshare_widgets.engines._direct import dosage_from_calls

    cohort = request.getfixturevalue(which)
    index = np.arange(cohort.n_variants - 3000, cohort.n_variants)
    samples = np.arange(1, cohort.n_samples, 2)
    want = dosage_from_calls(cohort.genotypes["call_genotype"].values[index])[:, samples]
    got = np.full_like(want, -7.0)
    gap_rows = 0
    for block in dosage_stream(cohort, index, samples, rows=700):
        got[block.positions] = block.with_nan()
        gap_rows += len(block.gaps)
    np.testing.assert_array_equal(got, want)
    assert gap_rows == int(np.isnan(want).any(axis=1).sum()) > 0


@pytest.mark.parametrize("which", ["hapmap3", "kg_subset"])
def test_stream_counts_equal_the_count_pass(which, request):
    """The association pass counts its analysed groups chunk by chunk (no separate count
    pass): on real stores with missing and half-missing calls, the counts carried by the
    dosage stream and by the linear pass equal ``allele_counts_by_group`` with the same
    groups, over a sample subset and two groups."""
    from genshare_widgets.association import AssociationInputs, dosage_stream, linear_sums_stream
    from genshare_widgets.counts import allele_counts_by_group
    from genshare_widgets.engines._group_counts import FIELDS

    cohort = request.getfixturevalue(which)
    samples = np.arange(1, cohort.n_samples, 2)
    groups = np.full(cohort.n_samples, -1, dtype=np.int64)
    groups[samples] = np.arange(len(samples)) % 3 == 0  # 1 = "b", 0 = "a"
    labels = np.where(groups < 0, None, np.where(groups == 1, "b", "a")).astype(object)
    counts = allele_counts_by_group(
        cohort, by=pd.Series(labels, index=cohort.samples.index, name="g", dtype=object)
    )
    index = counts["variant_index"].values[-3000:]
    alt = counts["variant_allele_index"].values[-3000:]  # split multi-allelic records
    want = np.stack([counts[f].values[-3000:] for f in FIELDS], axis=2)
    assert [str(g) for g in counts["groups"].values] == ["a", "b"]
    got = np.full_like(want, -1)
    for block in dosage_stream(cohort, index, samples, rows=700, groups=groups, alt_allele=alt):
        got[block.positions] = block.counts
    np.testing.assert_array_equal(got, want)
    inputs = AssociationInputs(
        pheno="y",
        y=np.linspace(0, 1, len(samples)),
        covariates=None,
        covariate_names=[],
        sample_index=samples,
        sample_ids=[],
        binary=False,
        coding="",
    )
    got[:] = -1
    for positions, _sums, block_counts in linear_sums_stream(
        cohort, inputs, index, groups=groups, alt_allele=alt
    ):
        got[positions] = block_counts
    np.testing.assert_array_equal(got, want)
    called = want[:, :, FIELDS.index("called_count")].sum(axis=1)
    assert (called < len(samples)).any()  # rows with missing calls are among them
    if which == "kg_subset":  # and later ALTs of split multi-allelic rows
        assert (alt > 1).any()
