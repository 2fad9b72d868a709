"""The files ``genshare stats`` writes: freq.tsv streamed block by block is byte-identical to
the DataFrame written whole (main's writer), for exact counts and for releases with ``<k`` /
``NA`` cells and DP noise; the other tables too; a failure mid-stream publishes nothing."""

import numpy as np
import pytest

from genshare_widgets import _outputs, disclosure, stats
from genshare_widgets.disclosure import DisclosurePolicy, PrivacyBudget
from tests.reference_stats import counts_from_fields

BLOCK = 1_000  # rows per block in these tests: 3,500 variants are four blocks
N_VARIANTS = 3_500
N_COMMON = 1_500  # the first block has no hidden cell, later blocks have many


def _counts(seed: int = 5):
    """Three groups (150, 300, 200 diploids), three contigs; variants 0..1,499 common
    everywhere (a first block with no hidden cell); later ones rare or nearly fixed (AC
    ``<k`` or ``NA`` under k = 20), some never called."""
    rng = np.random.default_rng(seed)
    sizes = np.array([150, 300, 200])
    v, g = N_VARIANTS, len(sizes)
    called = sizes - rng.integers(0, 4, size=(v, g))
    rare = np.arange(v)[:, None] >= N_COMMON
    called[rare & (rng.random((v, g)) < 0.02)] = 0  # no called allele: AF NaN, written NA
    p = np.where(rare, rng.beta(0.3, 3, size=(v, g)), 0.5)
    p[np.arange(v) % 4 == 0] = 1 - p[np.arange(v) % 4 == 0]  # few REF alleles: AC hidden as NA
    hom = rng.binomial(called, p * p)
    het = rng.binomial(called - hom, np.clip(2 * p * (1 - p) / np.maximum(1 - p * p, 1e-9), 0, 1))
    values = {
        "allele_count": het + 2 * hom,
        "allele_number": 2 * called,
        "het_count": het,
        "hom_alt_count": hom,
        "called_count": called,
    }
    return counts_from_fields(
        values,
        names=["YRI", "CEU", "CHB"],
        label="population",
        group_n=sizes,
        contig_ids=np.array(["1", "2", "X"]),
        variant_contig=np.repeat([0, 1, 2], [1_700, 1_000, 800]),
        variant_position=np.arange(1, v + 1) * 37,
        alleles=np.array([["C", "T"], ["G", "A"], ["A", "AT"]])[np.arange(v) % 3],
        cohort_id="blocks",
    )


def _main_writer(table, path):
    """How main wrote a table: the whole DataFrame through one Arrow ``write_csv`` call."""
    import pyarrow as pa
    from pyarrow import csv

    options = csv.WriteOptions(
        include_header=True,
        delimiter="\t",
        quoting_style="none",
        quoting_header="none",
        null_string="NA",
    )
    csv.write_csv(pa.Table.from_pandas(table, preserve_index=False), str(path), options)
    return path.read_bytes()


POLICIES = {
    "exact": None,
    "k20": DisclosurePolicy(min_count=20, min_variants=10),
    "dp": DisclosurePolicy(epsilon=1.0, seed=11, min_variants=10),
    "k20+dp": DisclosurePolicy(min_count=20, epsilon=1.0, seed=11, min_variants=10),
}


def _release(name: str):
    counts = _counts()
    if POLICIES[name] is None:
        return counts
    return disclosure.release_counts(counts, POLICIES[name], budget=PrivacyBudget(10.0))


@pytest.mark.parametrize("name", list(POLICIES))
def test_streamed_freq_tsv_equals_the_dataframe_written_whole(tmp_path, name):
    counts = _release(name)
    _outputs.write_freq_tsv(counts, tmp_path / "streamed.tsv", block_rows=BLOCK)
    streamed = (tmp_path / "streamed.tsv").read_bytes()
    want = _main_writer(disclosure.frequency_table(counts), tmp_path / "whole.tsv")
    assert streamed == want
    lines = streamed.decode().splitlines()
    assert len(lines) == N_VARIANTS + 1 and lines[0].startswith("contig\tposition\tref\talt\t")
    assert sum(line.startswith("contig") for line in lines) == 1  # the header once
    cells = [line.split("\t") for line in lines[1:]]
    assert any(c[6] == "NA" for c in cells)  # YRI_af of a variant with no called allele
    if name == "exact":
        assert streamed == _main_writer(stats.frequency_table(counts), tmp_path / "stats.tsv")
    if "dp" in name:  # the noise is in the file (AC differs from the exact count)
        exact = _counts()["allele_count"].values[:, 0]
        shown = np.array([int(c[4]) if c[4].isdigit() else -1 for c in cells])
        assert (shown[shown >= 0] != exact[shown >= 0]).mean() > 0.3
    if name.startswith("k20"):
        status = counts["allele_count_status"].values
        # the first block's AC columns are numbers, later blocks' text: a writer that fixed
        # the column types from its first block would fail here (noise may hide a first-block
        # cell under k20+dp)
        assert status[BLOCK:].any() and (name != "k20" or not status[:BLOCK].any())
        ac_cells = {c[i] for c in cells for i in (4, 7, 10)}
        assert "<20" in ac_cells and "NA" in ac_cells
        assert not any(c.isdigit() and 0 < int(c) < 20 for c in ac_cells)


@pytest.mark.parametrize("name", list(POLICIES))
def test_every_count_table_written_equals_main(tmp_path, name):
    counts = _release(name)
    wanted = ["freq", "fst", "het", "sfs", "shared"]
    files = _outputs.write_count_tables(counts, tmp_path, wanted, False, 20_000)
    tables = _outputs.count_tables(counts, wanted, False, 20_000)
    assert files == list(tables)
    for file, table in tables.items():
        assert (tmp_path / file).read_bytes() == _main_writer(table, tmp_path / "want"), file


def test_no_variants_gives_the_header(tmp_path):
    counts = _counts().isel(variants=slice(0, 0))
    _outputs.write_freq_tsv(counts, tmp_path / "f.tsv", block_rows=BLOCK)
    text = (tmp_path / "f.tsv").read_bytes()
    assert text == _main_writer(stats.frequency_table(counts), tmp_path / "w.tsv")
    assert text.decode().count("\n") == 1


def test_frequency_table_is_the_column_function_as_a_dataframe():
    """One definition: both DataFrames are exactly the columns the stream writes."""
    from genshare_widgets.disclosure._release import frequency_columns

    released = _release("k20")
    columns = frequency_columns(released)
    table = disclosure.frequency_table(released)
    assert list(table.columns) == list(columns)
    for name, values in columns.items():
        assert table[name].tolist() == list(values) or np.allclose(
            table[name], values, equal_nan=True
        ), name


def test_blockwise_fst_sums_equal_the_whole_array_sums(monkeypatch):
    """hudson_ratio_of_averages packs the defined terms block by block: the same float as
    sum(N[ok]) / sum(D[ok]) over the whole arrays, to the last bit."""
    from genshare_widgets.stats import _hudson

    rng = np.random.default_rng(3)
    n = 10_007
    an1, an2 = rng.integers(0, 60, n), rng.integers(0, 60, n)
    ac1, ac2 = rng.integers(0, an1 + 1), rng.integers(0, an2 + 1)
    num, den, ok = _hudson.hudson_terms(ac1, an1, ac2, an2)
    want = float(num[ok].sum() / den[ok].sum())
    monkeypatch.setattr(_hudson, "BLOCK", 1_000)
    assert _hudson.hudson_ratio_of_averages(ac1, an1, ac2, an2) == (want, int(ok.sum()))
    assert _hudson.hudson_ratio_of_averages(ac1[:0], an1[:0], ac2[:0], an2[:0])[1] == 0


def test_a_failure_mid_stream_publishes_nothing(sim_ooa, tmp_path, monkeypatch):
    from genshare_widgets.cli._stats_run import run_stats
    from genshare_widgets.disclosure import _release

    real = _release.frequency_columns
    calls = []

    def failing(counts):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(counts)

    monkeypatch.setattr(_outputs, "BLOCK_ROWS", 500)
    monkeypatch.setattr(_release, "frequency_columns", failing)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space"):
        run_stats(sim_ooa, out, by="population", wanted=["freq", "fst"], command=["test"])
    assert len(calls) >= 2
    assert list(out.iterdir()) == []  # no freq.tsv, no fst.tsv, no temporary folder


@pytest.mark.parametrize("name", ["k20", "k20+dp"])
@pytest.mark.parametrize("folded", [False, True])
def test_released_sfs_counts_each_class_as_a_comparison_does(name, folded):
    """disclosure.sfs counts the classes in one bincount pass: the same numbers as counting
    ``cls == c`` for every class (what it did before, seconds at 1 M variants)."""
    from genshare_widgets.disclosure._release import _class_names, _sfs_labels

    released = _release(name)
    table = disclosure.sfs(released, folded=folded)
    want = []
    for j, group in enumerate(released["groups"].values):
        cls, _ac, size = _sfs_labels(released, j, folded)
        for c, label in _class_names(20, size, bool((cls == -2).any())):
            want.append((str(group), label, int((cls == c).sum())))
    assert list(table.itertuples(index=False, name=None)) == want
    assert {"<20", "NA"} <= set(table["alt_count"])
