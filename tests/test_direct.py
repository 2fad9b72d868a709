"""The counting hot path (bit planes + direct chunk reads) equals the Dask engine exactly."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from genshare_widgets import open_cohort
from genshare_widgets.counts import allele_counts_by_group, resolve_groups, variant_selection
from genshare_widgets.engines._direct import (
    UnsupportedStoreError,
    bitplane_group_counts,
    direct_group_counts,
    group_masks,
    open_direct,
)
from genshare_widgets.engines._group_counts import FIELDS, block_counts
from genshare_widgets.engines._packed import pack_diploid_planes

# --- the bit-plane kernels against numpy references ----------------------------------------

genotype_arrays = st.integers(1, 10).flatmap(
    lambda v: st.integers(1, 140).flatmap(
        lambda s: st.lists(
            st.sampled_from([-2, -1, 0, 0, 0, 1, 1, 2]), min_size=v * s * 2, max_size=v * s * 2
        ).map(lambda x: np.array(x, dtype=np.int8).reshape(v, s, 2))
    )
)


def _reference_planes(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Obviously-correct packing: one sample at a time."""
    n_var, n_samp = gt.shape[:2]
    planes = np.zeros((n_var, 2, (n_samp + 63) // 64), dtype=np.uint64)
    packable = np.ones(n_var, dtype=bool)
    for v in range(n_var):
        for s in range(n_samp):
            a, b = int(gt[v, s, 0]), int(gt[v, s, 1])
            if a in (0, 1) and b in (0, 1):
                lo, hi = (a + b == 1), (a + b == 2)
            elif a == -1 and b == -1:
                lo = hi = True
            else:
                packable[v] = False
                continue
            if lo:
                planes[v, 0, s // 64] |= np.uint64(1 << (s % 64))
            if hi:
                planes[v, 1, s // 64] |= np.uint64(1 << (s % 64))
        if not packable[v]:
            planes[v] = 0
    return planes, packable


@settings(max_examples=60, deadline=None)
@given(gt=genotype_arrays, seed=st.integers(0, 2**31 - 1), together=st.booleans())
def test_bitplanes_pack_and_count_like_the_references(gt, seed, together):
    planes, packable = pack_diploid_planes(np.ascontiguousarray(gt))
    ref_planes, ref_packable = _reference_planes(gt)
    np.testing.assert_array_equal(packable, ref_packable)
    np.testing.assert_array_equal(planes, ref_planes)
    rng = np.random.default_rng(seed)
    group = rng.integers(-1, 3, size=gt.shape[1]).astype(np.int64)
    if together:  # groups in runs of the sample order: each is counted over its own words
        group = np.sort(group)
    n_groups = 4  # group 3 has no sample
    onehot = np.zeros((gt.shape[1], n_groups), np.float32)
    onehot[np.flatnonzero(group >= 0), group[group >= 0]] = 1
    masks = group_masks(group, n_groups, planes.shape[2])
    n_group = np.bincount(group[group >= 0], minlength=n_groups)
    got = bitplane_group_counts(planes, masks, n_group)
    expected = block_counts(gt, onehot)
    np.testing.assert_array_equal(got[packable], expected[packable])


# --- the chunk reader against zarr --------------------------------------------------------


@pytest.mark.parametrize("fixture", ["sim_ooa", "hapmap3"])
def test_direct_reader_reads_what_zarr_reads(fixture, request):
    cohort = request.getfixturevalue(fixture)
    store = open_direct(cohort.store_path)
    root = zarr.open_group(str(cohort.store_path), mode="r", zarr_format=2)
    for name in (
        "sample_id",
        "contig_id",
        "variant_allele",
        "variant_contig",
        "variant_position",
        "variant_genotype_packable",
        "call_genotype_bitplanes",
    ):
        expected = root[name][:]
        got = store.read(name)
        if got.dtype == object:
            expected = np.asarray(expected, dtype=object)
        np.testing.assert_array_equal(got, expected, err_msg=name)
    first = store.read_chunk("call_genotype", 0)
    np.testing.assert_array_equal(first, root["call_genotype"][: len(first)])
    # into one reused buffer (the counting loop's way): the same values, chunk after chunk
    meta = store.meta("call_genotype_bitplanes")
    buffer = np.empty(tuple(meta["chunks"]), dtype=meta["dtype"])
    planes = root["call_genotype_bitplanes"]
    n_chunks = -(-planes.shape[0] // meta["chunks"][0])
    for c in range(n_chunks):
        got = store.read_chunk("call_genotype_bitplanes", c, out=buffer)
        assert np.shares_memory(got, buffer)
        np.testing.assert_array_equal(got, planes[c * meta["chunks"][0] :][: len(got)])
    with pytest.raises(ValueError, match="out must be"):
        store.read_chunk("call_genotype_bitplanes", 0, out=buffer[:-1])
    with pytest.raises(IndexError, match=f"chunk {n_chunks} of {n_chunks}"):
        store.read_chunk("call_genotype_bitplanes", n_chunks)  # not a fill-valued chunk


def test_foreign_store_is_not_read_directly(tmp_path):
    zarr.open_group(str(tmp_path / "x.vcz"), mode="w", zarr_format=2)
    with pytest.raises(UnsupportedStoreError):
        open_direct(tmp_path / "x.vcz")


# --- whole passes against the Dask engine ----------------------------------------------------


def _direct_vs_dask(cohort, by, region=None):
    codes, names, _ = resolve_groups(cohort.samples, by)
    index, alt, _, _ = variant_selection(cohort.genotypes, region=region)
    store = open_direct(cohort.store_path)
    got = direct_group_counts(store, codes, len(names), index, alt, threads=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENSHARE_DIRECT", "0")  # the Dask pass over call_genotype
        counts = allele_counts_by_group(cohort, by=by, region=region)
    np.testing.assert_array_equal(
        allele_counts_by_group(cohort, by=by, region=region)["allele_count"].values,
        counts["allele_count"].values,
    )
    np.testing.assert_array_equal(counts["variant_index"].values, index)
    expected = np.stack([counts[f].values for f in FIELDS], axis=-1)
    np.testing.assert_array_equal(got, expected)
    return got


@pytest.mark.parametrize("chunks", [None, 777])
def test_direct_counts_equal_dask_on_simulated(sim_ooa, chunks):
    cohort = sim_ooa if chunks is None else open_cohort("sim-ooa", variants_chunk_size=chunks)
    _direct_vs_dask(cohort, "population")
    _direct_vs_dask(cohort, "population", region="1:1,000,000-2,500,000")


def test_direct_counts_equal_dask_on_real_data(kg_subset, hapmap3):
    """1000 Genomes: multi-allelic sites, missing calls and haploid chrX males (counted from
    call_genotype); HapMap3: a PLINK fileset."""
    _direct_vs_dask(kg_subset, "superpopulation")
    got = _direct_vs_dask(kg_subset, "sex", region="X")
    assert got.shape[0] > 900
    _direct_vs_dask(hapmap3, hapmap3.samples.columns[0])


# --- the CLI hot path writes the ordinary path's files -------------------------------------


def _stats(store, out: Path, *args: str, direct: bool) -> dict:
    env = {**os.environ, "GENSHARE_DIRECT": "1" if direct else "0"}
    sources = [str(s) for s in store] if isinstance(store, list) else [str(store)]
    cmd = [sys.executable, "-m", "genshare_widgets", "stats", *sources, *args, "--out", str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads((out / "provenance.json").read_text())


@pytest.fixture(scope="module")
def kg_table(kg_subset, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("direct") / "samples.tsv"
    kg_subset.samples[["population", "superpopulation", "sex"]].reset_index().to_csv(
        path, sep="\t", index=False
    )
    return path


@pytest.mark.parametrize(
    "options",
    [
        ["--by", "superpopulation"],
        ["--by", "population", "--freq", "--fst", "--min-maf", "0.05", "--snps-only"],
        ["--by", "sex", "--region", "X", "--fst-window", "5000000", "--het", "--sfs"],
    ],
)
def test_cli_hot_path_writes_the_same_files(kg_subset, kg_table, tmp_path, options):
    args = ["--samples", str(kg_table), *options]
    fast = _stats(kg_subset.store_path, tmp_path / "fast", *args, direct=True)
    slow = _stats(kg_subset.store_path, tmp_path / "slow", *args, direct=False)
    assert fast["genotype_pass"] == "bitplanes"  # the local engine (chunk reader)
    assert slow["genotype_pass"] == "dask"  # GENSHARE_DIRECT=0
    names = sorted(p.name for p in (tmp_path / "slow").glob("*.tsv"))
    assert names == sorted(p.name for p in (tmp_path / "fast").glob("*.tsv"))
    for name in names:
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "slow" / name).read_bytes()
    for key in ("source", "cohort_id", "store_key", "filters", "groups", "statistics"):
        assert fast[key] == slow[key], key


def test_cli_hot_path_steps_aside_when_it_must(kg_subset, tmp_path):
    # Samples missing from the table: the ordinary path runs and warns about them.
    table = tmp_path / "some.tsv"
    ids = list(kg_subset.samples.index[:50])
    table.write_text("sample\tgroup\n" + "".join(f"{s}\t{i % 2}x\n" for i, s in enumerate(ids)))
    prov = _stats(
        kg_subset.store_path, tmp_path / "a", "--samples", str(table), "--by", "group",
        "--fst", direct=True,
    )  # fmt: skip
    assert prov["genotype_pass"] == "bitplanes"  # the ordinary path (library counts)
    # A numeric grouping column (pandas reads it as numbers): ordinary path as well.
    table.write_text(
        "sample\tgroup\n"
        + "".join(f"{s}\t{i % 2}\n" for i, s in enumerate(kg_subset.samples.index))
    )
    prov = _stats(
        kg_subset.store_path, tmp_path / "b", "--samples", str(table), "--by", "group",
        "--fst", direct=True,
    )  # fmt: skip
    assert prov["genotype_pass"] == "bitplanes"


def test_cli_local_path_imports_no_zarr_or_numba(kg_subset, kg_table, tmp_path):
    """The local count path reads the store through the chunk reader: zarr-python, numba and
    dask (dask.array with scipy's FFT: 0.5 s) never load; a regression that opens the xarray/zarr
    Dataset again, or lets xarray import dask for a Dataset of numpy arrays, fails here."""
    code = (
        "import sys\n"
        "from genshare_widgets.cli import main\n"
        "try:\n"
        f"    main(['stats', {str(kg_subset.store_path)!r}, '--samples', {str(kg_table)!r},"
        f" '--by', 'superpopulation', '--freq', '--fst', '--out', {str(tmp_path)!r}])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = ('zarr', 'numba', 'cyvcf2', 'dask', 'scipy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert json.loads((tmp_path / "provenance.json").read_text())["genotype_pass"] == "bitplanes"


def test_every_entry_path_writes_the_same_files(kg_subset, kg_table, mirror, tmp_path):
    """Catalog id, the VCF it was made from and the store path: one path, the same bytes
    (and the Dask engine, GENSHARE_DIRECT=0, the same bytes again)."""
    vcfs = [next(mirror.rglob(f["name"])) for f in kg_subset.provenance["files"]]
    args = ["--samples", str(kg_table), "--by", "superpopulation", "--fst-window", "5000000"]
    args += ["--freq", "--fst", "--het", "--sfs", "--shared"]
    runs = {
        "catalog": _stats("1kg-phase3-subset", tmp_path / "catalog", *args, direct=True),
        "vcf": _stats(vcfs, tmp_path / "vcf", *args, direct=True),  # the files it was made from
        "store": _stats(kg_subset.store_path, tmp_path / "store", *args, direct=True),
        "dask": _stats(kg_subset.store_path, tmp_path / "dask", *args, direct=False),
    }
    files = sorted(p.name for p in (tmp_path / "store").glob("*.tsv"))
    assert files == sorted(
        ["freq.tsv", "fst.tsv", "fst_windows.tsv", "het.tsv", "sfs.tsv", "shared.tsv"]
    )
    for name in files:
        want = (tmp_path / "store" / name).read_bytes()
        for run in ("catalog", "vcf", "dask"):
            assert (tmp_path / run / name).read_bytes() == want, (run, name)
    for key in ("store_key", "store_content_sha256", "filters", "groups", "statistics"):
        assert len({json.dumps(r[key], sort_keys=True) for r in runs.values()}) == 1, key
    assert {r["genotype_pass"] for k, r in runs.items() if k != "dask"} == {"bitplanes"}


@pytest.mark.parametrize("method", ["exact", "randomized"])
def test_direct_pca_equals_dask_pca(kg_subset, monkeypatch, method):
    """The bit-plane PCA pass standardises exactly as the Dask pass (chrX haploid rows go
    through call_genotype); the float64 Gram sums differ only in block order (4,096-variant
    blocks vs 10,000-variant chunks): eigenvalues to 1e-12 relative, coordinates to 1e-10
    (float32 blocks needed 1e-7 and 1e-6)."""
    from genshare_widgets.samples import pca

    fast = pca(kg_subset, k=4, method=method)
    monkeypatch.setenv("GENSHARE_DIRECT", "0")
    slow = pca(kg_subset, k=4, method=method)
    np.testing.assert_allclose(
        fast.eigenvalues["eigenvalue"], slow.eigenvalues["eigenvalue"], rtol=1e-12
    )
    np.testing.assert_allclose(
        fast.coordinates[["PC1", "PC2", "PC3", "PC4"]].to_numpy(),
        slow.coordinates[["PC1", "PC2", "PC3", "PC4"]].to_numpy(),
        atol=1e-10,
    )
    assert fast.n_variants == slow.n_variants


def test_large_tables_are_written_in_two_halves_identically(tmp_path):
    import pyarrow as pa
    from pyarrow import csv

    from genshare_widgets._outputs import write_arrow_tsv

    n = 250_001
    rng = np.random.default_rng(1)
    af = rng.random(n)
    af[rng.random(n) < 0.1] = np.nan
    table = pa.table(
        {
            "contig": pa.array(["1"] * n),
            "position": pa.array(np.arange(n, dtype=np.int64)),
            "x_af": pa.array(af, from_pandas=True),
        }
    )
    write_arrow_tsv(table, tmp_path / "split.tsv")
    options = csv.WriteOptions(
        delimiter="\t", quoting_style="none", quoting_header="none", null_string="NA"
    )
    csv.write_csv(table, str(tmp_path / "whole.tsv"), options)
    assert (tmp_path / "split.tsv").read_bytes() == (tmp_path / "whole.tsv").read_bytes()
