"""Bad input: a clear message naming what is wrong, and nothing left half-written."""

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genshare_widgets import GenShareError, GenShareWarning, InputFormatError, open_cohort
from genshare_widgets.engines import _zarr_writer

HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=1,length=100000>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
)


def _vcf(path: Path, samples: list[str], records: list[str], *, compress: bool = True) -> Path:
    text = (
        HEADER
        + "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]
        )
        + "\n"
        + "".join(r + "\n" for r in records)
    )
    if compress:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def _rec(pos: int | str, *gts: str, ref: str = "A", alt: str = "G") -> str:
    return "\t".join(["1", str(pos), ".", ref, alt, ".", "PASS", ".", "GT", *gts])


def _stores(cache: Path) -> list[Path]:
    root = cache / "stores"
    return sorted(root.iterdir()) if root.is_dir() else []


def test_truncated_plain_gzip(mirror, tmp_path, isolated_cache):
    src = (mirror / "1kg_phase3_subset" / "1KG_phase3_subset_chr1.vcf.gz").read_bytes()
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(src[: len(src) // 2])
    with pytest.raises(InputFormatError, match=r"cut\.vcf\.gz: the gzip stream is truncated"):
        open_cohort(cut)
    assert _stores(isolated_cache) == []


def test_truncated_bgzip(mirror, tmp_path, isolated_cache):
    src = (mirror / "1kg_phase3_chr1_region" / "genotype_plot_example.vcf.gz").read_bytes()
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(src[:-28])  # drop exactly the EOF block: htslib alone would not notice
    with pytest.raises(InputFormatError, match="bgzip file is truncated"):
        open_cohort(cut)
    assert _stores(isolated_cache) == []


def test_malformed_record_names_the_line(tmp_path, isolated_cache):
    path = _vcf(
        tmp_path / "bad.vcf.gz",
        ["s1", "s2"],
        [_rec(10, "0|1", "1|1"), _rec(20, "0|0", "0|1"), _rec("abc", "0|1", "0|0")],
    )
    with pytest.raises(InputFormatError) as info:
        open_cohort(path)
    msg = str(info.value)
    assert "bad.vcf.gz: line 7: position 'abc' is not an integer" in msg  # 4 header lines + 3rd
    assert _stores(isolated_cache) == []


def test_missing_gt_and_polyploid(tmp_path, isolated_cache):
    path = _vcf(tmp_path / "tri.vcf.gz", ["s1"], [_rec(10, "0/1/1")])
    with pytest.raises(InputFormatError, match="ploidy 3"):
        open_cohort(path)
    sites = tmp_path / "sites.vcf"
    sites.write_text(
        HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t5\t.\tA\tG\t.\t.\t.\n"
    )
    with pytest.raises(InputFormatError, match="no sample columns"):
        open_cohort(sites)
    assert _stores(isolated_cache) == []


def test_duplicate_sample_ids_in_vcf(tmp_path, isolated_cache):
    path = _vcf(tmp_path / "dup.vcf.gz", ["s1", "s2", "s1"], [_rec(10, "0|1", "1|1", "0|0")])
    with pytest.raises(InputFormatError, match=r"1 sample id\(s\) appear more than once.*s1"):
        open_cohort(path)


def test_files_with_different_samples(tmp_path, isolated_cache):
    a = _vcf(tmp_path / "a.vcf.gz", ["s1", "s2"], [_rec(10, "0|1", "1|1")])
    b = _vcf(tmp_path / "b.vcf.gz", ["s1", "s3"], [_rec(20, "0|1", "1|1")])
    with pytest.raises(InputFormatError, match=r"b\.vcf\.gz: its samples differ"):
        open_cohort([a, b])
    assert _stores(isolated_cache) == []


def test_plain_vcf_haploid_missing_and_multiallelic(tmp_path, isolated_cache):
    path = _vcf(
        tmp_path / "mix.vcf",
        ["s1", "s2"],
        [_rec(10, "0|1", "1"), _rec(20, "./.", "0/."), _rec(30, "2|1", "0|0", alt="G,T")],
        compress=False,
    )
    ds = open_cohort(path).genotypes
    np.testing.assert_array_equal(
        ds["call_genotype"].values,
        [[[0, 1], [1, -2]], [[-1, -1], [0, -1]], [[2, 1], [0, 0]]],
    )
    assert ds["variant_allele"].values.tolist()[2] == ["A", "G", "T"]


def _table(path: Path, rows: list[tuple[str, str]]) -> Path:
    pd.DataFrame(rows, columns=["sample", "population"]).to_csv(path, sep="\t", index=False)
    return path


def test_sample_table_mismatches(tmp_path, isolated_cache):
    vcf = _vcf(tmp_path / "v.vcf.gz", ["s1", "s2", "s3"], [_rec(10, "0|1", "1|1", "0|0")])
    extra = _table(tmp_path / "extra.tsv", [("s1", "A"), ("s2", "A"), ("s3", "B"), ("s9", "B")])
    cohort = open_cohort(vcf, samples=extra)
    assert cohort.sample_report["n_metadata_without_genotypes"] == 1
    missing = _table(tmp_path / "missing.tsv", [("s1", "A"), ("s2", "B")])
    with pytest.warns(
        GenShareWarning, match=r"1 of 3 genotype samples have no row in .*missing\.tsv"
    ):
        cohort = open_cohort(vcf, samples=missing)
    # a --samples table names the samples to analyse (issue 19): the unlisted one is left out
    assert cohort.populations()["n_samples"].sum() == 2
    assert set(cohort.populations()["population"]) == {"A", "B"}
    none = _table(tmp_path / "none.tsv", [("x1", "A"), ("x2", "B")])
    with pytest.raises(InputFormatError, match="none of the 3 genotype samples"):
        open_cohort(vcf, samples=none)
    dup = _table(tmp_path / "dup.tsv", [("s1", "A"), ("s2", "A"), ("s1", "B")])
    with pytest.raises(InputFormatError, match=r"'s1' \(line 2\), 's1' \(line 4\)"):
        open_cohort(vcf, samples=dup)


def test_unknown_sources(tmp_path):
    with pytest.raises(GenShareError, match=r"unknown cohort id 'sim-ofa'.*'sim-ooa'"):
        open_cohort("sim-ofa")
    with pytest.raises(GenShareError, match="no such file"):
        open_cohort(tmp_path / "absent.vcf.gz")
    with pytest.raises(GenShareError, match="no file matches"):
        open_cohort(str(tmp_path / "*.vcf.gz"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(GenShareError, match="not a VCF-Zarr store"):
        open_cohort(tmp_path / "folder")
    with pytest.raises(GenShareError, match="unknown engine"):
        open_cohort("sim-ooa", engine="spark")


def test_plink_problems(mirror, tmp_path, isolated_cache):
    src = mirror / "hapmap3" / "HM3_thinned_autosomal_overlap"
    for suffix in (".bim", ".fam"):
        (tmp_path / f"hm{suffix}").write_bytes(Path(str(src) + suffix).read_bytes())
    bed = Path(str(src) + ".bed").read_bytes()
    (tmp_path / "hm.bed").write_bytes(bed[:-1000])
    with pytest.raises(InputFormatError, match=r"hm\.bed: \d+ bytes, but 14079 variants"):
        open_cohort(tmp_path / "hm")
    (tmp_path / "hm.bed").write_bytes(b"\x00\x00\x00" + bed[3:])
    with pytest.raises(InputFormatError, match=r"not a SNP-major PLINK 1 \.bed"):
        open_cohort(tmp_path / "hm")
    assert _stores(isolated_cache) == []


def test_interrupted_conversion_leaves_nothing(tmp_path, isolated_cache, monkeypatch):
    records = [_rec(10 + i, "0|1", "1|0") for i in range(50)]
    vcf = _vcf(tmp_path / "v.vcf.gz", ["s1", "s2"], records)
    calls = {"n": 0}
    original = _zarr_writer.VcfZarrWriter.add_chunk

    def interrupt_second_chunk(self, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, **kwargs)

    monkeypatch.setattr(_zarr_writer.VcfZarrWriter, "add_chunk", interrupt_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        open_cohort(vcf, variants_chunk_size=10)
    assert _stores(isolated_cache) == []
    monkeypatch.setattr(_zarr_writer.VcfZarrWriter, "add_chunk", original)
    assert open_cohort(vcf, variants_chunk_size=10).n_variants == 50


@pytest.mark.slow
def test_killed_conversion_is_rebuilt(mirror, isolated_cache):
    """SIGKILL mid-conversion leaves a partial folder; the next open removes it and rebuilds."""
    vcf = mirror / "1kg_phase3_chr1_region" / "genotype_plot_example.vcf.gz"
    code = f"import genshare_widgets as gs; gs.open_cohort({str(vcf)!r}, variants_chunk_size=200)"
    proc = subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy())
    stores = isolated_cache / "stores"
    deadline = time.monotonic() + 60
    partial = []
    while time.monotonic() < deadline and proc.poll() is None:
        partial = [p for p in stores.glob("*.partial-*") if (p / "call_genotype").is_dir()]
        if partial and any((partial[0] / "call_genotype").iterdir()):
            break
        time.sleep(0.05)
    assert partial, "the conversion should have started writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # the partial folder, and the build lock a killed builder leaves (its flock died with it;
    # the next build takes it over and removes it)
    left = [p for p in stores.iterdir() if ".partial-" not in p.name]
    assert [p for p in left if not p.name.endswith(".vcz.lock")] == []
    cohort = open_cohort(vcf, variants_chunk_size=200)
    assert cohort.n_variants == 4296
    assert [p.name for p in stores.iterdir()] == [cohort.store_path.name]


def test_careful_path_records(tmp_path, isolated_cache):
    """Records the compiled scan leaves to the careful path: extra FORMAT fields, alleles >= 10,
    a missing trailing newline, CRLF line ends."""
    alts = ",".join("CGTN"[i % 4] * (i + 1) for i in range(11))
    text = HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\n"
    text += "1\t10\trs1\tA\tG\t50\tq10;lowdp\t.\tGT:DP\t0|1:7\t1/1:3\r\n"
    text += f"1\t20\t.\tA\t{alts}\t.\tPASS\t.\tGT\t10|1\t0|11\n"
    text += "1\t30\t.\tA\tG\t.\t.\t.\tGT\t0|0\t1|0"  # no final newline
    path = tmp_path / "careful.vcf"
    path.write_text(text)
    ds = open_cohort(path).genotypes
    np.testing.assert_array_equal(
        ds["call_genotype"].values, [[[0, 1], [1, 1]], [[10, 1], [0, 11]], [[0, 0], [1, 0]]]
    )
    np.testing.assert_array_equal(ds["call_genotype_phased"].values, [[1, 0], [1, 1], [1, 1]])
    assert list(ds["variant_id"].values) == ["rs1", "", ""]
    assert list(ds["filter_id"].values) == ["PASS", "q10", "lowdp"]
    assert ds["variant_filter"].values[0].tolist() == [False, True, True]
    assert float(ds["variant_quality"].values[0]) == 50.0
