"""Statistics on real 1000 Genomes data against PLINK 2, scikit-allel and the VCF's own INFO."""

import gzip
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from genshare_widgets import stats
from genshare_widgets.counts import allele_counts_by_group

AUTOSOMES = [str(i) for i in range(1, 23)]
pytestmark = pytest.mark.realdata


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (apt-get install {name}; .ci/run installs it)")
    return path


@pytest.fixture(scope="module")
def plink2_subset(mirror, tmp_path_factory):
    """PLINK 2's Hudson Fst and per-population frequencies on the subset's autosomes, split
    by ``bcftools norm -m-`` (one biallelic record per ALT allele, as GenShare counts)."""
    plink2, bcftools = _tool("plink2"), _tool("bcftools")
    work = tmp_path_factory.mktemp("plink2")
    folder = mirror / "1kg_phase3_subset"
    vcfs = [str(folder / f"1KG_phase3_subset_chr{c}.vcf.gz") for c in AUTOSOMES]
    merged = work / "autosomes.vcf.gz"
    concat = work / "autosomes.unsplit.vcf.gz"
    subprocess.run(
        [bcftools, "concat", "-Oz", "-o", str(concat), *vcfs], check=True, capture_output=True
    )
    subprocess.run(
        [bcftools, "norm", "-m-", "--no-version", "-Oz", "-o", str(merged), str(concat)],
        check=True,
        capture_output=True,
    )
    panel = pd.read_csv(folder / "samples_pop.tsv", sep="\t")
    pheno = work / "pheno.tsv"
    panel[["sample", "pop"]].rename(columns={"sample": "#IID", "pop": "POP"}).to_csv(
        pheno, sep="\t", index=False
    )
    base = [
        plink2,
        "--vcf",
        str(merged),
        "--pheno",
        str(pheno),
        "--threads",
        "2",
    ]
    subprocess.run(
        [*base, "--fst", "POP", "method=hudson", "--out", str(work / "fst")],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*base, "--freq", "--loop-cats", "POP", "--out", str(work / "freq")],
        check=True,
        capture_output=True,
    )
    fst = pd.read_csv(work / "fst.fst.summary", sep="\t").rename(
        columns={"#POP1": "pop1", "POP2": "pop2", "HUDSON_FST": "plink2"}
    )
    freqs = {p: pd.read_csv(work / f"freq.{p}.afreq", sep="\t") for p in panel["pop"].unique()}
    return fst, freqs


@pytest.fixture(scope="module")
def autosome_counts(kg_subset):
    counts = allele_counts_by_group(kg_subset, by="population")
    keep = np.flatnonzero(np.isin(counts["variant_contig"].values, AUTOSOMES))
    return counts.isel(variants=keep)


def test_hudson_fst_equals_plink2(autosome_counts, plink2_subset):
    fst, _ = plink2_subset
    ours = stats.hudson_fst(autosome_counts)
    both = ours.merge(fst, on=["pop1", "pop2"])
    assert len(both) == 66  # every pair of the 12 populations
    # PLINK 2 prints 6 significant digits.
    np.testing.assert_allclose(both["hudson_fst"], both["plink2"], rtol=1e-5, atol=1e-8)
    assert both["hudson_fst"].between(0.0, 0.2).all()


def test_frequencies_equal_plink2(autosome_counts, plink2_subset):
    _, freqs = plink2_subset
    af = stats.allele_frequency(autosome_counts)
    for pop, table in freqs.items():
        assert len(table) == autosome_counts.sizes["variants"]
        np.testing.assert_array_equal(table["REF"], autosome_counts["variant_ref"].values)
        np.testing.assert_array_equal(table["ALT"], autosome_counts["variant_alt"].values)
        np.testing.assert_allclose(af.sel(groups=pop).values, table["ALT_FREQS"], atol=5e-7)
        np.testing.assert_array_equal(
            autosome_counts["allele_number"].sel(groups=pop).values, table["OBS_CT"]
        )


def test_hudson_fst_equals_scikit_allel(autosome_counts):
    allel = pytest.importorskip("allel")
    ac = autosome_counts["allele_count"].values
    an = autosome_counts["allele_number"].values
    groups = list(autosome_counts["groups"].values)
    ours = stats.hudson_fst(autosome_counts).set_index(["pop1", "pop2"])["hudson_fst"]
    for a, b in [("CEU", "YRI"), ("CHB", "JPT"), ("ACB", "PUR")]:
        i, j = groups.index(a), groups.index(b)
        ac1 = np.stack([an[:, i] - ac[:, i], ac[:, i]], axis=1)
        ac2 = np.stack([an[:, j] - ac[:, j], ac[:, j]], axis=1)
        num, den = allel.hudson_fst(ac1, ac2)
        ok = np.isfinite(num) & np.isfinite(den) & (den > 0)
        assert ours[(a, b)] == pytest.approx(num[ok].sum() / den[ok].sum(), rel=1e-12)


def test_superpopulation_af_equals_vcf_info(chr1_region, mirror):
    """The chr1 region VCF carries the project's own AFR_AF ... SAS_AF (rounded to 4 decimals)."""
    counts = allele_counts_by_group(chr1_region, by="superpopulation")
    info: dict[int, dict[str, str]] = {}
    path = mirror / "1kg_phase3_chr1_region" / "genotype_plot_example.vcf.gz"
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            fields = line.split("\t", 8)
            if "," in fields[4]:
                continue  # multi-allelic: excluded from counts by design
            info[int(fields[1])] = dict(
                kv.split("=", 1) for kv in fields[7].split(";") if "=" in kv
            )
    af = stats.allele_frequency(counts)
    checked = 0
    for v, pos in enumerate(counts["variant_position"].values):
        for group in counts["groups"].values:
            expected = float(info[int(pos)][f"{group}_AF"])
            assert (
                abs(af.values[v, list(counts["groups"].values).index(group)] - expected)
                <= 5e-5 + 1e-12
            )
            checked += 1
    assert checked == 5 * counts.sizes["variants"] > 5 * 4000
