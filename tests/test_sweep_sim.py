"""The packaged sweep simulation (genshare_widgets.sweep_sim, notebook 12): its files, its
sample table, phase, determinism and bad input. The sweep's rank under H12/PBS is tested in
tests/test_scans.py on the scan tests' 20 Mb simulation."""

import gzip

import pytest

from genshare_widgets import GenShareError
from genshare_widgets.sweep_sim import simulate_sweep, sweep_tree_sequence

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return simulate_sweep(tmp_path_factory.mktemp("sweep"), seed=3, n_samples=4, length=400_000)


def test_files_samples_and_phase(small):
    assert small.position == 200_001 and small.vcf.name == "sweep.vcf.gz"
    assert (small.vcf.parent / "sweep.vcf.gz.tbi").stat().st_size > 0
    assert sorted(p.name for p in small.vcf.parent.iterdir()) == [
        "sweep.vcf.gz",
        "sweep.vcf.gz.tbi",
        "sweep_samples.tsv",
    ]  # the temporary folder is gone
    lines = small.samples.read_text().splitlines()
    assert lines[0] == "sample\tpopulation" and len(lines) == 13
    assert lines[1] == "A_0\tA" and lines[-1] == "C_3\tC"
    with gzip.open(small.vcf, "rt") as fh:
        records = [line.split("\t") for line in fh if not line.startswith("#")]
    assert records and all(r[0] == "1" and "," not in r[4] for r in records)  # biallelic
    positions = [int(r[1]) for r in records]
    assert positions == sorted(positions) and positions[0] >= 1 and positions[-1] <= 400_000
    assert all("|" in g for r in records[:50] for g in r[9:])  # phased


def test_seeded_and_opened(small, tmp_path):
    from genshare_widgets import open_cohort

    again = simulate_sweep(tmp_path, seed=3, n_samples=4, length=400_000)
    assert again.vcf.read_bytes() == small.vcf.read_bytes()
    other = sweep_tree_sequence(seed=4, n_samples=4, length=400_000)
    assert other.num_sites != sweep_tree_sequence(seed=3, n_samples=4, length=400_000).num_sites
    cohort = open_cohort(str(small.vcf), samples=str(small.samples))
    assert cohort.n_samples == 12
    assert sorted(cohort.samples["population"].unique()) == ["A", "B", "C"]


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"n_samples": 0}, "n_samples"), ({"length": 10}, "length"), ({"selection": 0}, "selection")],
)
def test_bad_input_is_named(kwargs, word, tmp_path):
    with pytest.raises(GenShareError, match=word):
        simulate_sweep(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()  # refused before anything is written
