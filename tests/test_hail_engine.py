"""The Hail engine returns what the Dask engine returns: counts identical, statistics to 1e-9,
PCA components correlated > 0.99; and says what is missing when Java is not there.

One Hail session (``local[2]``, quiet) serves the whole test session; MatrixTables are
converted once into the session's cache. Genotype passes are kept few and small (a region
where the statistic allows) so that the module stays within a few minutes.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from genshare_widgets import GenShareError, open_cohort, stats
from genshare_widgets.counts import allele_counts_by_group
from genshare_widgets.samples import pca, sample_stats

pytestmark = pytest.mark.hail


@pytest.fixture(scope="session")
def kg_subset_hail(hail_session, kg_subset):
    return open_cohort("1kg-phase3-subset", engine="hail")


@pytest.fixture(scope="session")
def sim_ooa_hail(hail_session, sim_ooa):
    return open_cohort("sim-ooa", engine="hail")


def _assert_same_counts(dask_counts, hail_counts) -> None:
    xr.testing.assert_identical(dask_counts, hail_counts)
    assert dask_counts.attrs == hail_counts.attrs
    for name, var in dask_counts.variables.items():
        assert hail_counts[name].dtype == var.dtype, name
    for name in ("allele_count", "allele_number", "variant_index", "variant_position"):
        assert np.array_equal(dask_counts[name].values, hail_counts[name].values), name


def _corr(a, b) -> float:
    return abs(float(np.corrcoef(a, b)[0, 1]))


def test_cohort_carries_the_matrix_table(kg_subset_hail, kg_subset):
    cohort = kg_subset_hail
    assert cohort.engine == "hail" and cohort.provenance["engine"] == "hail"
    assert type(cohort.genotypes).__name__ == "MatrixTable"
    assert cohort.store_path.name.endswith(".mt") and cohort.store_path.parent.name == "hail"
    assert cohort.n_samples == kg_subset.n_samples and cohort.n_variants == kg_subset.n_variants
    assert cohort.samples.equals(kg_subset.samples)
    assert "sample_population" in cohort.genotypes.col
    assert not list(cohort.store_path.parent.glob("*.partial-*"))
    # the MatrixTable's content hash, recorded at conversion, goes into recipes
    from genshare_widgets.engines._hail_store import PROVENANCE_FILE
    from genshare_widgets.engines._integrity import folder_content_hash

    content = cohort.provenance["store_content_sha256"]
    assert content == folder_content_hash(cohort.store_path, exclude=(PROVENANCE_FILE,))


@pytest.mark.slow
@pytest.mark.realdata
def test_counts_and_statistics_equal_dask_on_1000g(kg_subset_hail, kg_subset):
    """All 23 chromosomes, chrX males' ``0/.`` calls included: the same Dataset."""
    ours = allele_counts_by_group(kg_subset_hail, by="population")
    ref = allele_counts_by_group(kg_subset, by="population")
    assert ours.sizes["variants"] > 25_000 and ours.sizes["groups"] == 12
    _assert_same_counts(ref, ours)
    # the 516 multi-allelic sites split per ALT (rows exploded in Hail), as the local engine
    assert ours.attrs["filters"]["n_multiallelic_split"] == 516
    assert (ours["variant_allele_index"].values > 1).any()
    x = ours["variant_contig"].values == "X"
    assert ours["allele_number"].values[x].sum() < 2 * 1126 * x.sum()  # male haploid alleles
    fst_h, fst_d = stats.hudson_fst(ours), stats.hudson_fst(ref)
    np.testing.assert_allclose(fst_h["hudson_fst"], fst_d["hudson_fst"], rtol=0, atol=1e-9)
    assert (fst_h["n_variants"] == fst_d["n_variants"]).all()
    het_h, het_d = stats.heterozygosity(ours), stats.heterozygosity(ref)
    for col in ("observed_het", "expected_het"):
        np.testing.assert_allclose(het_h[col], het_d[col], rtol=0, atol=1e-9)
    sfs_h, sfs_d = stats.sfs(ours), stats.sfs(ref)
    assert sfs_h.equals(sfs_d)


@pytest.mark.slow
@pytest.mark.realdata
def test_sample_stats_equal_dask_on_chrx(kg_subset_hail, kg_subset):
    """chrX outside PAR1: male calls are partial (``0/.``) in the VCF, haploid in Hail."""
    region = "X:2,699,521-154,931,043"
    ours = sample_stats(kg_subset_hail, region=region)
    ref = sample_stats(kg_subset, region=region)
    assert ours.equals(ref)
    males = kg_subset.samples["sex"] == "male"
    assert (ours.loc[males, "n_partial"] > 900).all() and (ours.loc[males, "n_called"] == 0).all()


@pytest.mark.slow
def test_filtered_counts_and_pca_equal_dask_on_simulated(sim_ooa_hail, sim_ooa):
    kwargs = {"by": "population", "min_maf": 0.05, "snps_only": True}
    ours = allele_counts_by_group(sim_ooa_hail, **kwargs)
    ref = allele_counts_by_group(sim_ooa, **kwargs)
    assert ours.attrs["filters"]["n_below_min_maf"] > 0
    _assert_same_counts(ref, ours)
    np.testing.assert_allclose(
        stats.hudson_fst(ours)["hudson_fst"], stats.hudson_fst(ref)["hudson_fst"], atol=1e-9
    )
    hail_pca, dask_pca = pca(sim_ooa_hail, k=3), pca(sim_ooa, k=3)
    assert hail_pca.n_variants == dask_pca.n_variants and hail_pca.method == "exact"
    for i in range(1, 4):
        col = f"PC{i}"
        assert _corr(hail_pca.coordinates[col], dask_pca.coordinates[col]) > 0.99
        v = hail_pca.coordinates[col].to_numpy()
        assert v[np.argmax(np.abs(v))] > 0  # the same sign rule
    np.testing.assert_allclose(
        hail_pca.eigenvalues["eigenvalue"], dask_pca.eigenvalues["eigenvalue"], rtol=1e-4
    )
    assert list(hail_pca.coordinates["group"]) == list(dask_pca.coordinates["group"])


@pytest.mark.slow
@pytest.mark.realdata
def test_plink_cohort_counts_equal_dask(hail_session, hapmap3):
    """PLINK 1 input (A2 = REF); chr1 whole, whose last SNP sits on the last known base."""
    hail = open_cohort("hapmap3", engine="hail")
    ours = allele_counts_by_group(hail, by="population", region="1")
    _assert_same_counts(allele_counts_by_group(hapmap3, by="population", region="1"), ours)
    assert ours.sizes["variants"] == 1119


def _write_vcf(path: Path) -> None:
    rows = [
        ("1", 100, "A", "C", ["0/.", "./1", "1|.", "1", "0/1", "1/1"]),
        ("1", 200, "G", "T,A", ["0/2", "1/1", "0/0", "0", "./.", "0|1"]),  # multi-allelic
        ("1", 300, "T", "TA", ["0/1", "0/0", "./.", "1", "1|0", "."]),  # indel
        ("1", 400, "C", "G", ["1/.", "0/0", "0/1", "./.", "1/1", "0/."]),
        ("2", 50, "A", "G", ["0|0", "0|1", "1|1", "0", "1", "./."]),
    ]
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1,length=1000>",
        "##contig=<ID=2,length=1000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
        + "\t".join(f"S{i}" for i in range(6)),
    ]
    for chrom, pos, ref, alt, calls in rows:
        lines.append(f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t.\t.\t.\tGT\t" + "\t".join(calls))
    path.write_text("\n".join(lines) + "\n")


def test_partial_and_haploid_calls_count_alike(hail_session, tmp_path):
    """``0/.``, ``./1``, ``1|.`` (Hail alone would make them missing) count one allele."""
    vcf = tmp_path / "partial.vcf"
    _write_vcf(vcf)
    table = tmp_path / "pops.tsv"
    table.write_text("sample\tpopulation\n" + "".join(f"S{i}\tP{i % 2}\n" for i in range(6)))
    dask = open_cohort(vcf, samples=table)
    hail = open_cohort(vcf, samples=table, engine="hail")
    ours = allele_counts_by_group(hail, by="population")
    ref = allele_counts_by_group(dask, by="population")
    _assert_same_counts(ref, ours)
    # position 100: P0 = S0 (0/.), S2 (1|.), S4 (0/1) → 1 + 1 + 2 alleles, 2 ALT
    first = ours.isel(variants=0).sel(groups="P0")
    assert int(first["allele_number"]) == 4 and int(first["allele_count"]) == 2
    # the G → T,A site is split into two records, as bcftools norm -m- splits it
    assert ours.attrs["filters"]["n_multiallelic_split"] == 1
    assert ours.attrs["filters"]["n_split_records"] == 2
    assert ours["variant_allele_index"].values.tolist() == [1, 1, 2, 1, 1, 1]
    snps = allele_counts_by_group(hail, by="population", snps_only=True)
    _assert_same_counts(allele_counts_by_group(dask, by="population", snps_only=True), snps)
    assert sample_stats(hail).equals(sample_stats(dask))


def test_allele_index_beyond_alt_is_refused_like_dask(hail_session, tmp_path, isolated_cache):
    """``5|7`` at a one-ALT site: Hail's import keeps it; both engines refuse the file."""
    header = (
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=100000>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS0\tS1\n"
    )
    vcf = tmp_path / "beyond.vcf"
    vcf.write_text(
        header
        + "1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t1|1\n"
        + "1\t300\t.\tA\tG\t.\tPASS\t.\tGT\t0|1\t5|7\n"
    )
    with pytest.raises(GenShareError, match=r"beyond\.vcf: line 6: a genotype names allele 7"):
        open_cohort(vcf)
    pattern = r"beyond\.vcf: record 1:300, sample S1: a genotype names allele 7, but the record "
    with pytest.raises(GenShareError, match=pattern + r"has 1 ALT allele\(s\) \(G\)"):
        open_cohort(vcf, engine="hail")
    hail = isolated_cache / "hail"
    assert not hail.is_dir() or not [p for p in hail.iterdir() if p.suffix == ".mt"]


@pytest.mark.slow
def test_matrix_table_path_opens(sim_ooa_hail, sim_ooa, tmp_path):
    """A MatrixTable written by Hail itself (no GenShare provenance) opens as a cohort."""
    region = "1:1-1,000,000"
    small = tmp_path / "region.mt"
    mt = sim_ooa_hail.genotypes
    mt.filter_rows(mt.locus.position <= 1_000_000).select_cols().write(str(small))
    table = tmp_path / "pops.tsv"
    sim_ooa.samples[["population"]].to_csv(table, sep="\t")
    cohort = open_cohort(small, engine="hail", samples=table)
    assert cohort.id == "region.mt" and cohort.n_samples == sim_ooa.n_samples
    ours = allele_counts_by_group(cohort, by="population")
    ref = allele_counts_by_group(sim_ooa, by="population", region=region)
    assert ours.sizes["variants"] == ref.sizes["variants"] > 100
    for name in ("allele_count", "allele_number", "het_count", "variant_position"):
        assert np.array_equal(ours[name].values, ref[name].values), name


@pytest.mark.slow
@pytest.mark.realdata
def test_cli_stats_engine_hail_writes_the_dask_files(kg_subset_hail, tmp_path):
    """`genshare stats --engine hail` (in this process: the same Hail session)."""
    from click.testing import CliRunner

    from genshare_widgets.cli import main

    outputs = {}
    for engine in ("dask", "hail"):
        out = tmp_path / engine
        args = ["stats", "1kg-phase3-subset", "--engine", engine, "--region", "X:1-60,000,000"]
        run = CliRunner().invoke(main, [*args, "--by", "superpopulation", "--out", str(out)])
        assert run.exit_code == 0, run.output
        outputs[engine] = out
    names = sorted(p.name for p in outputs["dask"].iterdir())
    assert names == ["freq.tsv", "fst.tsv", "het.tsv", "provenance.json", "sfs.tsv", "shared.tsv"]
    for name in (n for n in names if n.endswith(".tsv")):
        dask_text = (outputs["dask"] / name).read_text()
        assert (outputs["hail"] / name).read_text() == dask_text, name
        assert len(dask_text.splitlines()) > 1
    assert '"engine": "hail"' in (outputs["hail"] / "provenance.json").read_text()
    prepared = CliRunner().invoke(main, ["prepare", "1kg-phase3-subset", "--engine", "hail"])
    assert prepared.exit_code == 0, prepared.output
    assert prepared.output.strip().splitlines()[-1] == str(kg_subset_hail.store_path)


def _no_java_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PATH")}
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    env["PATH"] = str(empty)  # no java anywhere
    return env


def test_without_java_hail_says_what_to_install_and_dask_works(sim_ooa, tmp_path):
    env = _no_java_env(tmp_path)
    code = (
        "from genshare_widgets import open_cohort, GenShareError\n"
        "from genshare_widgets.counts import allele_counts_by_group\n"
        "try:\n"
        "    open_cohort('sim-ooa', engine='hail')\n"
        "except GenShareError as exc:\n"
        "    print('ERROR:', exc)\n"
        "c = allele_counts_by_group(open_cohort('sim-ooa'), by='population')\n"
        "print('DASK:', c.sizes['variants'])\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert "ERROR: the Hail engine needs Java" in run.stdout
    assert "openjdk=11" in run.stdout and "openjdk-17-jre-headless" in run.stdout
    assert "DASK: 47679" in run.stdout  # 47,521 rows, 157 multi-allelic split into 315
    cli = subprocess.run(
        [sys.executable, "-m", "genshare_widgets", "prepare", "sim-ooa", "--engine", "hail"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert cli.returncode == 2 and "needs Java" in cli.stderr and "Traceback" not in cli.stderr
    hail_cache = Path(os.environ["GENSHARE_CACHE"]) / "hail"
    assert not list(hail_cache.glob("*.partial-*"))  # a failed conversion leaves nothing


def test_java_home_pointing_nowhere_is_named(monkeypatch, tmp_path):
    from genshare_widgets.engines._hail_session import find_java

    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    with pytest.raises(GenShareError, match=r"JAVA_HOME is .* not an executable"):
        find_java()


def test_session_tmp_folder_is_private_and_stale_ones_go(hail_session):
    from genshare_widgets.engines import _hail_session

    own = _hail_session.session_tmp_dir()
    assert own.is_dir() and own.name == f"session-{os.getpid()}"
    stale = own.parent / "session-999999999"  # no such process
    stale.mkdir()
    _hail_session._remove_stale_tmp_dirs()
    assert not stale.exists() and own.is_dir()


def test_vcf_zarr_store_is_refused_with_the_way_out(sim_ooa):
    with pytest.raises(GenShareError, match="Hail cannot read"):
        open_cohort(sim_ooa.store_path, engine="hail")
