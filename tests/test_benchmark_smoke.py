"""The benchmark script runs end to end on a tiny cohort (timings are not asserted)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_smoke_run(tmp_path):
    env = {**os.environ, "GENSHARE_CACHE": str(tmp_path / "cache")}
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "run.py"),
            "--smoke",
            "--json",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    table = run.stdout
    for row in (
        "| ingest | genshare |",
        "| freq+fst | genshare |",
        "| freq+fst | dask-distributed |",
        "| pca | genshare |",
    ):
        assert row in table
    assert "| ingest | plink2 |" in table and "| freq+fst | scikit-allel |" in table
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from run import hail_available
    finally:
        sys.path.pop(0)
    if hail_available():  # CI installs Hail and Java: the Hail rows must be there
        assert "| ingest | hail |" in table and "| freq+fst | hail |" in table
    assert (tmp_path / "r.json").is_file()
