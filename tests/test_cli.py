"""The genshare command as a user runs it (a real subprocess)."""

import subprocess
import sys
from pathlib import Path

from cli_runner import run_genshare

REPO = Path(__file__).resolve().parents[1]


def test_help_is_for_newcomers():
    out = run_genshare("--help")
    assert out.returncode == 0
    for word in ("catalog", "prepare", "lab", "GENSHARE_CACHE", "GENSHARE_MIRROR"):
        assert word in out.stdout
    assert "catalog id, VCF/BCF" in run_genshare("prepare", "--help").stdout


def test_prepare_prints_the_store_path(sim_ooa):
    out = run_genshare("prepare", "sim-ooa")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(sim_ooa.store_path)
    assert "300 samples × 47,521 variants" in out.stderr


def test_prepare_unknown_id_is_one_clear_line():
    out = run_genshare("prepare", "1kg-phase3-subst")
    assert out.returncode == 2
    assert "Did you mean '1kg-phase3-subset'" in out.stderr
    assert "Traceback" not in out.stderr


def test_prepare_offline_without_mirror(tmp_path):
    out = run_genshare(
        "prepare",
        "hapmap3",
        env={"GENSHARE_MIRROR": "", "GENSHARE_CACHE": str(tmp_path / "empty-cache")},
    )
    assert out.returncode == 2
    assert "HM3_thinned_autosomal_overlap" in out.stderr or "relationships" in out.stderr
    assert "GENSHARE_OFFLINE=1 forbids downloading" in out.stderr
    assert "GENSHARE_MIRROR" in out.stderr and "https://raw.githubusercontent.com/" in out.stderr
    assert "Traceback" not in out.stderr


def test_prepare_real_cohort_from_mirror(kg_subset):
    out = run_genshare("prepare", "1kg-phase3-subset")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(kg_subset.store_path)


def test_lab_refuses_missing_folder(tmp_path):
    out = run_genshare("lab", "--notebooks", str(tmp_path / "nope"))
    assert out.returncode == 2 and "does not exist" in out.stderr


def test_app_refuses_missing_notebook_and_unknown_cohort(tmp_path):
    out = run_genshare("app", "--notebook", str(tmp_path / "nope.ipynb"), "--no-browser")
    assert out.returncode == 2 and "does not exist" in out.stderr
    out = run_genshare("app", "--cohort", "no-such-cohort", "--no-browser")
    assert out.returncode == 2 and "unknown cohort id 'no-such-cohort'" in out.stderr
    assert "Traceback" not in out.stderr


def test_import_is_light():
    """Importing the package touches no heavy module (xarray, dask, dask.distributed, zarr,
    numba, fsspec, hail, pyspark) and no network."""
    code = (
        "import sys, genshare_widgets as gs; "
        "print(sorted(m for m in ('xarray', 'dask', 'zarr', 'numba', 'cyvcf2', 'pooch', "
        "'distributed', 'fsspec', 'aiohttp', 'hail', 'pyspark', 'py4j') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_famous_writes_the_released_panel_and_its_provenance(tmp_path, mirror):
    import json

    import pandas as pd

    out = tmp_path / "famous"
    done = run_genshare(
        "famous", "1kg-phase3-kidd-aisnps", "--by", "superpopulation", "--min-count", "10",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["famous.tsv", "provenance.json"]
    table = pd.read_csv(out / "famous.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert list(table.columns[:5]) == ["variant", "gene", "name", "allele", "in_cohort"]
    rows = table.set_index("variant")
    # Duffy-null C: AFR 1274 of 1322 alleles (a direct count of the VCF: test_famous.py)
    assert rows.loc["rs2814778", ["AFR_ac", "AFR_an"]].tolist() == ["1274", "1322"]
    assert float(rows.loc["rs2814778", "AFR_af"]) == 1274 / 1322
    assert rows.loc["rs2814778", "EUR_ac"] == "<10"  # 6 alleles: suppressed, never the number
    assert rows.loc["rs3827760", "AFR_ac"] == "<10" and rows.loc["rs3827760", "AFR_af"] == "NA"
    assert rows.loc["rs1426654", "EUR_af"] == "NA"  # REF = AN - AC hides with the AC of 3
    assert (
        rows.loc["rs334", "in_cohort"] == "no" and "not in this cohort" in rows.loc["rs334", "note"]
    )
    assert rows.loc["rs4988235", "published"] == "ALL=0.1613"
    record = json.loads((out / "provenance.json").read_text())
    assert record["cohort_id"] == "1kg-phase3-kidd-aisnps" and record["genome_build"] == "GRCh37"
    assert record["disclosure_policy"]["min_count"] == 10
    assert "EAS" in record["famous_panel"]["citations"]["rs3827760"]
    assert record["command"][:3] == ["genshare", "famous", "1kg-phase3-kidd-aisnps"]
    # a grouping the sample table lacks: one clear error, no --out left behind
    bad = run_genshare(
        "famous", "1kg-phase3-kidd-aisnps", "--by", "nope", "--out", str(tmp_path / "x")
    )
    assert bad.returncode == 2 and "nope" in bad.stderr and not (tmp_path / "x").exists()
