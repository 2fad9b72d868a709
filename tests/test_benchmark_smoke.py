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
        "| assoc-linear | genshare |",
        "| assoc-logistic | genshare |",
        "| ld-prune | genshare |",
    ):
        assert row in table
    assert "| ingest | plink2 |" in table and "| freq+fst | scikit-allel |" in table
    assert "| assoc-linear | plink2 |" in table and "| assoc-logistic | plink2 |" in table
    assert "| ld-prune | plink2 |" in table
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from run import hail_available
    finally:
        sys.path.pop(0)
    if hail_available():  # CI installs Hail and Java: the Hail rows must be there
        assert "| ingest | hail |" in table and "| freq+fst | hail |" in table
    assert (tmp_path / "r.json").is_file()


def test_peak_memory_is_the_whole_process_tree():
    """Two children holding 200 MiB each at the same time: the row's peak is their sum (plus
    the parents), not the largest single process that ``wait4`` reports."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from run import run as run_row
    finally:
        sys.path.pop(0)
    hold = "b = bytearray(200 * 2**20); import time; time.sleep(1.0)"
    script = (
        "import subprocess, sys\n"
        f"ps = [subprocess.Popen([sys.executable, '-c', {hold!r}]) for _ in range(2)]\n"
        "[p.wait() for p in ps]\n"
    )
    row = run_row([sys.executable, "-c", script])
    assert row["peak_mib"] >= 400, row


def test_peak_memory_is_not_the_benchmark_scripts_own():
    """Linux carries a forked image's peak over ``exec``: a small command started from a big
    parent must still report its own peak (PLINK 2 once showed the bench script's 180 MiB)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from run import GNU_TIME
        from run import run as run_row
    finally:
        sys.path.pop(0)
    ballast = bytearray(400 * 2**20)  # this process: > 400 MiB resident
    ballast[::4096] = b"x" * len(ballast[::4096])
    row = run_row(
        [sys.executable, "-c", "b = bytearray(40 * 2**20); b[::4096] = b'y' * len(b[::4096])"]
    )
    assert row["peak_mib"] < 200, row
    if GNU_TIME.exists():  # the kernel's exact peak of the command itself
        assert row["peak_mib"] >= 40, row
    del ballast
