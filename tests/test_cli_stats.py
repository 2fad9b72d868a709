"""`genshare stats`: the contract's files, equal to the Python API, nothing half-written."""

import json

import numpy as np
import pandas as pd
import pytest
from cli_runner import run_genshare

from genshare_widgets import stats
from genshare_widgets.counts import allele_counts_by_group


@pytest.fixture(scope="module")
def subset_stats(kg_subset, tmp_path_factory):
    out = tmp_path_factory.mktemp("stats")
    run = run_genshare(
        "stats",
        "1kg-phase3-subset",
        "--by",
        "superpopulation",
        "--freq",
        "--fst",
        "--het",
        "--sfs",
        "--shared",
        "--pca",
        "3",
        "--sample-stats",
        "--fst-window",
        "50000000",
        "--out",
        str(out),
    )
    assert run.returncode == 0, run.stderr
    return out


def test_contract_files_and_columns(subset_stats):
    files = {p.name for p in subset_stats.iterdir()}
    assert files == {
        "freq.tsv",
        "fst.tsv",
        "het.tsv",
        "sfs.tsv",
        "shared.tsv",
        "pca.tsv",
        "pca_eigenvalues.tsv",
        "samples.tsv",
        "fst_windows.tsv",
        "provenance.json",
    }
    read = lambda name: pd.read_csv(subset_stats / name, sep="\t")  # noqa: E731
    freq = read("freq.tsv")
    assert list(freq.columns[:4]) == ["contig", "position", "ref", "alt"]
    assert list(freq.columns[4:7]) == ["AFR_ac", "AFR_an", "AFR_af"]
    assert list(read("fst.tsv").columns) == ["pop1", "pop2", "hudson_fst", "n_variants"]
    assert list(read("het.tsv").columns) == [
        "group",
        "n_samples",
        "observed_het",
        "expected_het",
        "n_variants",
    ]
    assert list(read("sfs.tsv").columns) == ["group", "alt_count", "n_variants"]
    assert list(read("shared.tsv").columns) == ["groups", "n_variants"]
    pcs = read("pca.tsv")
    assert list(pcs.columns) == ["sample", "group", "PC1", "PC2", "PC3"]
    assert list(read("pca_eigenvalues.tsv").columns) == ["pc", "eigenvalue", "variance_explained"]
    fst = read("fst.tsv")
    assert (fst["pop1"] < fst["pop2"]).all() and len(fst) == 10


def test_files_equal_the_api(subset_stats, kg_subset):
    counts = allele_counts_by_group(kg_subset, by="superpopulation")
    fst = pd.read_csv(subset_stats / "fst.tsv", sep="\t")
    api = stats.hudson_fst(counts)
    np.testing.assert_allclose(fst["hudson_fst"], api["hudson_fst"], rtol=1e-9)
    het = pd.read_csv(subset_stats / "het.tsv", sep="\t")
    np.testing.assert_allclose(
        het["expected_het"], stats.heterozygosity(counts)["expected_het"], rtol=1e-9
    )
    sfs = pd.read_csv(subset_stats / "sfs.tsv", sep="\t")
    assert (sfs.groupby("group")["n_variants"].sum() == counts.sizes["variants"]).all()
    freq = pd.read_csv(subset_stats / "freq.tsv", sep="\t", dtype={"contig": str})
    assert len(freq) == counts.sizes["variants"]
    np.testing.assert_array_equal(freq["EUR_ac"], counts["allele_count"].sel(groups="EUR"))


def test_provenance(subset_stats, kg_subset):
    prov = json.loads((subset_stats / "provenance.json").read_text())
    assert prov["cohort_id"] == "1kg-phase3-subset"
    assert prov["catalog_version"] == "2026.11.0"
    assert len(prov["files"]) == 23 and all(len(f["sha256"]) == 64 for f in prov["files"])
    assert prov["by"] == "superpopulation"
    assert prov["filters"]["n_multiallelic_split"] == 516
    assert prov["groups"] == {"AFR": 364, "AMR": 262, "EAS": 207, "EUR": 190, "SAS": 103}
    assert prov["package_versions"]["genshare_widgets"]
    assert prov["command"][:3] == ["genshare", "stats", "1kg-phase3-subset"]
    assert prov["pca"]["n_variants"] > 2000


def test_default_statistics(sim_ooa, tmp_path):
    run = run_genshare("stats", "sim-ooa", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert {p.name for p in tmp_path.iterdir()} == {
        "freq.tsv",
        "fst.tsv",
        "het.tsv",
        "sfs.tsv",
        "shared.tsv",
        "provenance.json",
    }


def test_selected_statistics_and_filters(sim_ooa, tmp_path):
    out = tmp_path / "r"
    run = run_genshare(
        "stats",
        "sim-ooa",
        "--fst",
        "--region",
        "1:1-2500000",
        "--min-maf",
        "0.01",
        "--snps-only",
        "--out",
        str(out),
    )
    assert run.returncode == 0, run.stderr
    assert {p.name for p in out.iterdir()} == {"fst.tsv", "provenance.json"}
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["filters"]["region"] == "1:1-2500000" and prov["filters"]["min_maf"] == 0.01
    expected = stats.hudson_fst(
        allele_counts_by_group(sim_ooa, region="1:1-2500000", min_maf=0.01, snps_only=True)
    )
    got = pd.read_csv(out / "fst.tsv", sep="\t")
    np.testing.assert_allclose(got["hudson_fst"], expected["hudson_fst"], rtol=1e-9)


def test_bad_grouping_writes_nothing(tmp_path, mirror):
    out = tmp_path / "none"
    vcf = mirror / "1kg_phase3_subset" / "1KG_phase3_subset_chr22.vcf.gz"
    run = run_genshare("stats", str(vcf), "--out", str(out))
    assert run.returncode == 2
    assert "cannot group by 'population'" in run.stderr and "--samples" in run.stderr
    assert not out.exists()
    run = run_genshare("stats", "sim-ooa", "--by", "population", "--region", "9", "--out", str(out))
    assert run.returncode == 2 and "contig '9' is not in this cohort" in run.stderr
    assert not out.exists()  # not even an empty folder


def test_samples_tsv_defines_groups(tmp_path, mirror):
    vcf = mirror / "1kg_phase3_subset" / "1KG_phase3_subset_chr22.vcf.gz"
    out = tmp_path / "s"
    run = run_genshare(
        "stats",
        str(vcf),
        "--samples",
        str(mirror / "1kg_phase3_subset" / "samples_pop.tsv"),
        "--by",
        "super_pop",
        "--het",
        "--out",
        str(out),
    )
    assert run.returncode == 0, run.stderr
    het = pd.read_csv(out / "het.tsv", sep="\t")
    assert list(het["group"]) == ["AFR", "AMR", "EAS", "EUR", "SAS"]
    assert het["n_samples"].sum() == 1126
