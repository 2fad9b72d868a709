"""Faults while preparing a store, and the BCF path's input checks.

- ``kill -9`` in the middle of ``genshare prepare``, then the same command again: the store and
  the statistics computed from it are byte-identical to an uninterrupted run in another cache,
  and the killed run's partial folder is gone.
- Two ``genshare prepare`` of one VCF started together: one store, built once (only one
  ``.partial-<pid>`` folder ever appears), both print its path and exit 0.
- A BCF (read through htslib, not the text reader) that is unsorted, whose contig comes back
  after another, or whose genotype names an allele beyond the ALT count is refused with the
  same kind of message as a text VCF.

The VCF is generated here (about 33 MB, 40,000 variants × 200 samples, about 3 s to convert);
nothing is written into the repository.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from tests.cli_runner import run_genshare

N_VARIANTS, N_SAMPLES = 40_000, 200


@pytest.fixture(scope="module")
def big_vcf(tmp_path_factory) -> Path:
    """A phased biallelic VCF big enough that its conversion takes a couple of seconds."""
    path = tmp_path_factory.mktemp("faults") / "big.vcf"
    rng = np.random.default_rng(15)
    codes = np.array(["0|0", "0|1", "1|0", "1|1", ".|."])
    header = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1,length=100000000>",
        "##contig=<ID=2,length=100000000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
            + [f"s{i}" for i in range(N_SAMPLES)]
        ),
    ]
    with open(path, "w") as fh:
        fh.write("\n".join(header) + "\n")
        for start in range(0, N_VARIANTS, 2000):
            calls = codes[rng.choice(5, size=(2000, N_SAMPLES), p=[0.4, 0.2, 0.2, 0.19, 0.01])]
            fh.write(
                "".join(
                    f"{1 + (start + i) // 30_000}\t{100 * (start + i + 1)}\t.\tA\tG\t.\tPASS\t.\tGT"
                    f"\t{chr(9).join(row)}\n"
                    for i, row in enumerate(calls)
                )
            )
    return path


@pytest.fixture(scope="module")
def pop_table(big_vcf) -> Path:
    path = big_vcf.with_name("pops.tsv")
    rows = [f"s{i}\t{'AFR' if i < N_SAMPLES // 2 else 'EUR'}" for i in range(N_SAMPLES)]
    path.write_text("sample\tpopulation\n" + "\n".join(rows) + "\n")
    return path


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "GENSHARE_CACHE": str(cache), "GENSHARE_STATE": str(cache)}


def _prepare(*sources: Path, cache: Path) -> subprocess.Popen:
    """``genshare prepare SOURCES`` started in its own process group."""
    return subprocess.Popen(
        [sys.executable, "-m", "genshare_widgets", "prepare", *map(str, sources)],
        env=_env(cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _partials(cache: Path) -> list[Path]:
    stores = cache / "stores"
    return sorted(stores.glob("*.partial-*")) if stores.is_dir() else []


def _store_files(store: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()
    }


def _stats_outputs(vcf: Path, table: Path, cache: Path, out: Path) -> dict[str, bytes]:
    proc = run_genshare(
        "stats", str(vcf), "--samples", str(table), "--out", str(out),
        env={"GENSHARE_CACHE": str(cache), "GENSHARE_STATE": str(cache)}, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.tsv"))}


def test_kill_9_during_prepare_then_rerun_is_byte_identical(big_vcf, pop_table, tmp_path):
    killed_cache, clean_cache = tmp_path / "killed", tmp_path / "clean"
    proc = _prepare(big_vcf, cache=killed_cache)
    deadline = time.monotonic() + 120
    partial: list[Path] = []
    while not partial and proc.poll() is None and time.monotonic() < deadline:
        partial = _partials(killed_cache)
        time.sleep(0.01)
    if partial:  # let it write some chunks first, then kill it mid-conversion
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "prepare finished before it could be killed"
    assert partial and partial[0].is_dir(), "the kill did not land during the conversion"
    assert any((partial[0] / "call_genotype").glob("*")), "no chunk was written before the kill"

    again = run_genshare("prepare", str(big_vcf), env=_env(killed_cache), timeout=300)
    assert again.returncode == 0, again.stderr
    store = Path(again.stdout.strip().splitlines()[-1])
    assert _partials(killed_cache) == [], "the killed run's partial folder was left behind"
    assert sorted(p.name for p in (killed_cache / "stores").iterdir()) == [store.name]

    clean = run_genshare("prepare", str(big_vcf), env=_env(clean_cache), timeout=300)
    assert clean.returncode == 0, clean.stderr
    reference = Path(clean.stdout.strip().splitlines()[-1])
    assert store.name == reference.name
    # every file of the store (chunks, metadata, provenance) is byte-identical ...
    assert _store_files(store) == _store_files(reference)
    # ... so are the decoded arrays, and what the statistics make of them
    ours, theirs = zarr.open_group(str(store), mode="r"), zarr.open_group(str(reference), mode="r")
    for name in ("call_genotype", "variant_position", "variant_contig", "sample_id"):
        np.testing.assert_array_equal(ours[name][:], theirs[name][:])
    assert ours["call_genotype"].shape == (N_VARIANTS, N_SAMPLES, 2)
    killed_stats = _stats_outputs(big_vcf, pop_table, killed_cache, tmp_path / "o1")
    clean_stats = _stats_outputs(big_vcf, pop_table, clean_cache, tmp_path / "o2")
    assert {"freq.tsv", "fst.tsv", "het.tsv", "sfs.tsv"} <= set(killed_stats)
    assert killed_stats == clean_stats


def test_two_concurrent_prepares_build_one_store(big_vcf, tmp_path):
    cache = tmp_path / "cache"
    procs = [_prepare(big_vcf, cache=cache), _prepare(big_vcf, cache=cache)]
    seen: set[str] = set()  # every partial folder that ever appears
    while any(p.poll() is None for p in procs):
        seen |= {p.name for p in _partials(cache)}
        time.sleep(0.01)
    outs = [p.communicate(timeout=30) for p in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    paths = {out.strip().splitlines()[-1] for out, _ in outs}
    assert len(paths) == 1, paths
    assert [str(p) for p in (cache / "stores").iterdir()] == list(paths)  # and no lock file
    assert len(seen) == 1, f"the store was built more than once: {sorted(seen)}"
    assert _partials(cache) == []


# --- the BCF (htslib) path checks what the text reader checks --------------------------------

HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=1,length=100000>\n##contig=<ID=2,length=100000>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\ts3\n"
)


def _rec(contig: str, pos: int, *gts: str, alt: str = "G") -> str:
    return "\t".join([contig, str(pos), ".", "A", alt, ".", "PASS", ".", "GT", *gts]) + "\n"


def _bcf(tmp: Path, name: str, records: list[str]) -> Path:
    bcftools = shutil.which("bcftools")
    if bcftools is None:
        pytest.skip("bcftools is not installed: it makes the BCF inputs of these cases")
    text = tmp / f"{name}.vcf"
    text.write_text(HEADER + "".join(records))
    out = tmp / f"{name}.bcf"
    subprocess.run([bcftools, "view", "-Ob", "-o", str(out), str(text)], check=True)
    text.unlink()
    return out


GOOD = [_rec("1", 100, "0|1", "1|1", "0|0"), _rec("1", 200, "0|0", "0|1", "1|0")]

BCF_CASES = {
    "unsorted-positions": (
        [*GOOD, _rec("1", 150, "0|1", "0|0", "0|0")],
        r"\.bcf: record 3 \(1:150\) comes after 1:200: the file is not sorted; sort it first "
        r"\(bcftools sort",
    ),
    "contig-comes-back": (
        [*GOOD, _rec("2", 50, "0|1", "0|0", "0|0"), _rec("1", 300, "0|1", "0|0", "0|0")],
        r"\.bcf: record 4 \(1:300\) comes after 2:50: the file is not sorted",
    ),
    "allele-index-beyond-alt": (
        [*GOOD, _rec("1", 300, "5|7", "0|1", "0|0")],
        r"\.bcf: record 3 \(1:300\): a genotype names allele 7, but the record has 1 ALT "
        r"allele\(s\) \(G\)\. Fix or remove that record",
    ),
    "allele-index-beyond-alt-multiallelic": (
        [*GOOD, _rec("1", 300, "0|2", "3|0", "0|0", alt="G,T")],
        r"record 3 \(1:300\): a genotype names allele 3, but the record has 2 ALT allele\(s\) "
        r"\(G,T\)",
    ),
}


@pytest.mark.parametrize("name", list(BCF_CASES))
def test_bcf_input_checks(name, tmp_path, isolated_cache):
    records, pattern = BCF_CASES[name]
    bcf = _bcf(tmp_path, name, records)
    proc = run_genshare("prepare", str(bcf), timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("genshare: error: ")]
    assert len(errors) == 1, proc.stderr
    assert str(bcf) in errors[0]
    assert re.search(pattern, errors[0]), errors[0]
    assert _partials(isolated_cache) == []
    stores = isolated_cache / "stores"
    assert not stores.is_dir() or not any(p.is_dir() for p in stores.iterdir())


def test_bcf_files_in_order_across_contigs_are_accepted(tmp_path, isolated_cache):
    """The checks refuse disorder, not multi-allelic sites or several sorted files."""
    one = _bcf(tmp_path, "chr1", [*GOOD, _rec("1", 300, "0|2", "1|0", ".|.", alt="G,T")])
    two = _bcf(tmp_path, "chr2", [_rec("2", 50, "0|1", "0|0", "0|0")])
    proc = run_genshare("prepare", str(one), str(two), timeout=120)
    assert proc.returncode == 0, proc.stderr
    store = zarr.open_group(proc.stdout.strip().splitlines()[-1], mode="r")
    assert store["variant_position"][:].tolist() == [100, 200, 300, 50]
    assert store["call_genotype"][2].tolist() == [[0, 2], [1, 0], [-1, -1]]
