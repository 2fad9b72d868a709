"""Opening cohorts: every local catalog cohort, every input kind, exact genotypes."""

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reference_vcf import read_vcf_text

from genshare_widgets import GenShareError, get_entry, open_cohort
from genshare_widgets.engines import open_store
from genshare_widgets.fetch import cache_dir

COHORT_FIXTURES = ["sim_ooa", "sim_admix", "kg_subset", "chr1_region", "hapmap3"]


def _store_genotypes(cohort, contig: str | None = None):
    ds = cohort.genotypes
    if contig is None:
        return ds
    code = list(ds["contig_id"].values).index(contig)
    return ds.isel(variants=np.flatnonzero(ds["variant_contig"].values == code))


def _assert_equal_to_reference(ds, ref):
    assert [str(s) for s in ds["sample_id"].values] == ref["samples"]
    np.testing.assert_array_equal(ds["variant_position"].values, ref["position"])
    np.testing.assert_array_equal(ds["call_genotype"].values, ref["genotypes"])
    np.testing.assert_array_equal(ds["call_genotype_phased"].values, ref["phased"])
    alleles = ds["variant_allele"].values
    for i, row in enumerate(ref["alleles"]):
        assert list(alleles[i, : len(row)]) == row
        assert all(a == "" for a in alleles[i, len(row) :])
    assert list(ds["variant_id"].values) == ref["ids"]


@pytest.mark.parametrize("fixture", COHORT_FIXTURES)
def test_sample_counts_match_catalog(fixture, request):
    cohort = request.getfixturevalue(fixture)
    entry = cohort.entry
    assert cohort.n_samples == entry.n_samples
    table = cohort.populations()
    assert (table["n_samples"] == table["catalog_n_samples"]).all()
    assert set(table["population"]) == {p.code for p in entry.populations}
    assert table["n_samples"].sum() == entry.n_samples
    pops = cohort.genotypes["sample_population"].values
    assert (pops == cohort.samples["population"].to_numpy()).all()
    assert cohort.provenance["cohort_id"] == entry.id
    assert cohort.provenance["store_key"] in cohort.store_path.name


def test_simulated_cohort_equals_its_vcf(sim_ooa):
    vcf = next((cache_dir() / "simulated").glob("sim-ooa-*/sim-ooa.vcf.gz"))
    _assert_equal_to_reference(sim_ooa.genotypes, read_vcf_text(vcf))
    assert Path(str(vcf) + ".tbi").is_file()
    meta = sim_ooa.samples
    assert set(meta.columns) >= {"population", "sex", "height_like"}
    assert set(meta["sex"]) == {"female", "male"}
    assert meta["height_like"].dtype.kind == "f"
    assert abs(meta["height_like"].std() - 1) < 0.2


@pytest.mark.parametrize("chrom", ["1", "22", "X"])
def test_real_subset_equals_source_vcf(kg_subset, mirror, chrom):
    ref = read_vcf_text(mirror / "1kg_phase3_subset" / f"1KG_phase3_subset_chr{chrom}.vcf.gz")
    _assert_equal_to_reference(_store_genotypes(kg_subset, chrom), ref)


def test_haploid_and_multiallelic_are_kept(kg_subset):
    ds = _store_genotypes(kg_subset, "X")
    gt = ds["call_genotype"].values
    # Males on chrX are written 0/. or 1/.: one called allele and one missing.
    male = (kg_subset.samples["sex"] == "male").to_numpy()
    assert (gt[:, male, 1] == -1).mean() > 0.9
    assert (gt[:, ~male, 1] == -1).sum() == 0
    alleles = kg_subset.genotypes["variant_allele"].values
    n_alleles = (alleles != "").sum(axis=1)
    assert (n_alleles > 2).sum() > 0
    lengths = np.vectorize(len)(alleles[:, :2])
    assert (lengths > 1).any(), "indels are stored"
    assert any(a.startswith("<") for a in alleles[:, 1]), "symbolic SV alleles are stored"
    assert kg_subset.n_variants == 22 * 1120 + 1069


def test_chr1_region_equals_source_vcf(chr1_region, mirror):
    ref = read_vcf_text(mirror / "1kg_phase3_chr1_region" / "genotype_plot_example.vcf.gz")
    _assert_equal_to_reference(chr1_region.genotypes, ref)
    assert chr1_region.sample_report["n_without_metadata"] == 0


def test_hapmap3_equals_plink2_dosages(hapmap3, mirror, tmp_path):
    plink2 = shutil.which("plink2")
    if plink2 is None:
        pytest.skip("plink2 not installed (apt-get install plink2; .ci/run installs it)")
    prefix = mirror / "hapmap3" / "HM3_thinned_autosomal_overlap"
    subprocess.run(
        [plink2, "--bfile", str(prefix), "--export", "A", "--out", str(tmp_path / "hm3")],
        check=True,
        capture_output=True,
    )
    raw = pd.read_csv(tmp_path / "hm3.raw", sep="\t", dtype={"FID": str, "IID": str})
    dosage_cols = raw.columns[6:]
    # plink2 --export A counts the REF allele (.bim column 6) by default.
    expected = raw[dosage_cols].to_numpy(dtype=float).T  # variants × samples
    gt = hapmap3.genotypes["call_genotype"].values
    got = np.where((gt < 0).any(axis=2), np.nan, (gt == 0).sum(axis=2))
    np.testing.assert_array_equal(got, expected)
    assert list(raw["IID"]) == [str(s) for s in hapmap3.genotypes["sample_id"].values]
    ids, counted = zip(*(c.rsplit("_", 1) for c in dosage_cols), strict=True)
    assert list(ids) == list(hapmap3.genotypes["variant_id"].values)
    assert list(counted) == list(hapmap3.genotypes["variant_allele"].values[:, 0])
    assert 0.001 < np.isnan(got).mean() < 0.003  # 0.15 % missing, as documented


def test_metadata_superset_is_reported_not_warned(kg_subset, hapmap3):
    assert kg_subset.sample_report["n_metadata_without_genotypes"] == 2504 - 1126
    assert kg_subset.sample_report["n_without_metadata"] == 0
    assert hapmap3.sample_report["n_metadata_without_genotypes"] == 1301 - 957


def test_open_paths_of_every_kind(mirror, kg_subset, tmp_path):
    subset = mirror / "1kg_phase3_subset"
    one = open_cohort(subset / "1KG_phase3_subset_chr21.vcf.gz")
    assert one.n_variants == 1120 and one.n_samples == 1126 and one.entry is None
    many = open_cohort(str(subset / "1KG_phase3_subset_chr2?.vcf.gz"))
    assert many.n_variants == 3 * 1120  # chr20, chr21, chr22
    assert list(many.genotypes["contig_id"].values) == ["20", "21", "22"]
    store = open_cohort(kg_subset.store_path)
    assert store.n_variants == kg_subset.n_variants
    prefix = mirror / "hapmap3" / "HM3_thinned_autosomal_overlap"
    assert open_cohort(prefix).n_samples == 957
    assert open_cohort(str(prefix) + ".bed").store_path == open_cohort(prefix).store_path
    table = tmp_path / "samples.tsv"
    pd.read_csv(subset / "samples_pop.tsv", sep="\t").to_csv(table, sep="\t", index=False)
    with_samples = open_cohort(subset / "1KG_phase3_subset_chr21.vcf.gz", samples=table)
    counts = with_samples.populations(by="pop").set_index("pop")["n_samples"]
    assert counts["YRI"] == 108 and counts.sum() == 1126
    assert "sample_super_pop" in with_samples.genotypes


def test_chunk_size_does_not_change_genotypes(sim_ooa):
    small = open_cohort("sim-ooa", variants_chunk_size=777)
    assert small.store_path != sim_ooa.store_path
    assert small.genotypes["call_genotype"].chunks[0][0] == 777
    np.testing.assert_array_equal(
        small.genotypes["call_genotype"].values, sim_ooa.genotypes["call_genotype"].values
    )


def test_simulation_is_deterministic(sim_ooa, tmp_path, monkeypatch):
    from genshare_widgets.simulate import build_simulated_cohort

    first = next((cache_dir() / "simulated").glob("sim-ooa-*/sim-ooa.vcf.gz"))
    monkeypatch.setenv("GENSHARE_CACHE", str(tmp_path / "other-cache"))
    again, table = build_simulated_cohort(get_entry("sim-ooa"))
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(again) == digest(first)
    assert digest(table) == digest(first.with_name("sim-ooa_samples.tsv"))


def test_store_opens_lazily_and_missing_chunks_are_named(sim_ooa, tmp_path):
    copy = tmp_path / "copy.vcz"
    shutil.copytree(sim_ooa.store_path, copy)
    for chunk in (copy / "call_genotype").iterdir():
        if not chunk.name.startswith("."):
            chunk.unlink()
    ds = open_store(copy)  # metadata only: succeeds without any genotype chunk
    assert ds["call_genotype"].shape == sim_ooa.genotypes["call_genotype"].shape
    # open_cohort checks the store against its manifest: the deleted chunks are named
    # (Zarr alone would read them as fill values); see tests/test_store_integrity.py
    with pytest.raises(GenShareError, match=r"chunk call_genotype/0\.0\.0 is missing"):
        open_cohort(copy)


def test_reopen_does_not_convert_again(sim_ooa, monkeypatch):
    from genshare_widgets.engines import _ingest_vcf

    def refuse(*args, **kwargs):
        raise AssertionError("a prepared cohort must not be converted again")

    monkeypatch.setattr(_ingest_vcf, "ingest_vcfs", refuse)
    assert open_cohort("sim-ooa").store_path == sim_ooa.store_path


def test_non_local_entries_explain(mirror):
    with pytest.raises(GenShareError, match="engine='hail' on a cloud Hail cluster"):
        open_cohort("gnomad-hgdp-1kg")
    with pytest.raises(GenShareError, match="Aggregate-only"):
        open_cohort("gnomad-v4-sites")


def test_cohort_repr_and_unknown_group(sim_ooa):
    text = repr(sim_ooa)
    assert ("300 samples" in text and "47," in text) or "variants" in text
    with pytest.raises(GenShareError, match="no sample column 'tribe'"):
        sim_ooa.populations(by="tribe")
    by_sex = sim_ooa.populations(by="sex")
    assert by_sex["n_samples"].sum() == 300


def test_bcf_input_equals_vcf(chr1_region, mirror, tmp_path):
    bcftools = shutil.which("bcftools")
    if bcftools is None:
        pytest.skip("bcftools not installed (apt-get install bcftools; .ci/run installs it)")
    vcf = mirror / "1kg_phase3_chr1_region" / "genotype_plot_example.vcf.gz"
    bcf = tmp_path / "region.bcf"
    subprocess.run([bcftools, "view", "-Ob", "-o", str(bcf), str(vcf)], check=True)
    from_bcf = open_cohort(bcf)
    np.testing.assert_array_equal(
        from_bcf.genotypes["call_genotype"].values, chr1_region.genotypes["call_genotype"].values
    )
    np.testing.assert_array_equal(
        from_bcf.genotypes["variant_allele"].values, chr1_region.genotypes["variant_allele"].values
    )


@pytest.mark.slow
def test_vcf2zarr_store_opens_and_agrees(chr1_region, mirror, tmp_path):
    """An independent converter (bio2zarr's vcf2zarr) gives the same arrays, and its stores open."""
    pytest.importorskip("bio2zarr", reason='pip install "bio2zarr[vcf]" (in the dev extra)')
    from bio2zarr import vcf as b2z

    vcf = mirror / "1kg_phase3_chr1_region" / "genotype_plot_example.vcf.gz"
    store = tmp_path / "b2z.vcz"
    b2z.convert([str(vcf)], str(store), worker_processes=0, show_progress=False)
    theirs = open_cohort(store).genotypes
    ours = chr1_region.genotypes
    for name in ("call_genotype", "call_genotype_phased", "variant_position", "variant_allele"):
        np.testing.assert_array_equal(theirs[name].values, ours[name].values, err_msg=name)
    assert list(theirs["sample_id"].values) == list(ours["sample_id"].values)
