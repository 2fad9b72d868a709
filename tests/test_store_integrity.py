"""Store integrity: real faults in copies of a prepared store are named, never read as data.

A copy of the sim-ooa store (5 chunks per array) is damaged on disk — a flipped bit, a
truncated chunk, a deleted chunk (which Zarr would read as fill values), two chunks of one
array swapped — and each copy goes through ``genshare stats`` (the direct bit-plane reader),
``genshare figure`` (the xarray/Dask open) and the Python API. Each must stop with one
``genshare: error:`` line naming the store, the array's chunk and the command that rebuilds
it, exit 2, no traceback. A recipe whose store changed is refused by ``figure --from``; an
unchanged store verifies and reproduces its figure byte for byte.
"""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from genshare_widgets import allele_counts_by_group, open_cohort
from genshare_widgets.engines import _integrity
from genshare_widgets.engines._direct import open_direct
from genshare_widgets.engines._integrity import (
    MANIFEST_ATTR,
    StoreIntegrityError,
    content_hash,
    read_manifest,
    verify_store,
    write_manifest,
)
from tests.cli_runner import run_genshare


@pytest.fixture(scope="session")
def sim_store(sim_ooa) -> Path:
    return Path(sim_ooa.store_path)


@pytest.fixture(scope="session")
def sim_table(sim_ooa, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("integrity") / "pops.tsv"
    pops = sim_ooa.samples["population"]
    path.write_text("sample\tpopulation\n" + "".join(f"{s}\t{p}\n" for s, p in pops.items()))
    return path


def _copy(store: Path, where: Path) -> Path:
    copy = where / "cohort.vcz"
    shutil.copytree(store, copy)
    return copy


def flip(copy: Path) -> str:
    chunk = copy / "call_genotype_bitplanes" / "2.0.0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x10
    chunk.write_bytes(bytes(data))
    return "call_genotype_bitplanes/2.0.0"


def truncate(copy: Path) -> str:
    chunk = copy / "call_genotype" / "3.0.0"
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    return "call_genotype/3.0.0"


def delete(copy: Path) -> str:
    (copy / "call_genotype_bitplanes" / "1.0.0").unlink()
    return "call_genotype_bitplanes/1.0.0"


def swap(copy: Path) -> str:
    folder = copy / "call_genotype_bitplanes"
    os.rename(folder / "0.0.0", folder / "tmp")
    os.rename(folder / "3.0.0", folder / "0.0.0")
    os.rename(folder / "tmp", folder / "3.0.0")
    return "call_genotype_bitplanes/(0|3).0.0"


FAULTS = {"flip": flip, "truncate": truncate, "delete": delete, "swap": swap}


def _assert_refused(proc, copy: Path, chunk: str) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("genshare: error: ")]
    assert len(errors) == 1, proc.stderr
    assert re.search(rf"store {re.escape(str(copy))}: chunk {chunk}", errors[0]), errors[0]
    assert "'genshare prepare sim-ooa --rebuild'" in errors[0], errors[0]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_damaged_chunk_is_named_by_every_reader(fault, sim_store, sim_table, tmp_path):
    copy = _copy(sim_store, tmp_path)
    chunk = FAULTS[fault](copy)
    # genshare stats: the direct bit-plane reader checks each chunk it reads
    out = tmp_path / "out"
    proc = run_genshare(
        "stats", str(copy), "--samples", str(sim_table), "--freq", "--fst", "--out", str(out)
    )
    _assert_refused(proc, copy, chunk)
    assert not out.exists()
    # genshare figure: the store is verified when it is opened (xarray/Dask path)
    fig = tmp_path / "fst.html"
    proc = run_genshare(
        "figure", str(copy), "--samples", str(sim_table), "--kind", "fst", "--out", str(fig)
    )
    _assert_refused(proc, copy, chunk)
    assert not fig.exists()
    # the Python API
    with pytest.raises(StoreIntegrityError, match=rf"store .*cohort\.vcz: chunk {chunk}"):
        cohort = open_cohort(copy, samples=sim_table)
        allele_counts_by_group(cohort)


def test_direct_reader_checks_each_chunk_it_reads(sim_store, tmp_path):
    """The fast path hashes bytes as it reads them: a chunk changed after the store was
    opened (past any open-time check) is still caught, before blosc sees it."""
    copy = _copy(sim_store, tmp_path)
    store = open_direct(copy)
    store.read_chunk("call_genotype_bitplanes", 2)  # fine before the damage
    flip(copy)
    with pytest.raises(StoreIntegrityError, match=r"call_genotype_bitplanes/2\.0\.0 does not"):
        store.read_chunk("call_genotype_bitplanes", 2)
    (copy / "variant_position" / "1").unlink()
    with pytest.raises(StoreIntegrityError, match=r"variant_position/1 is missing"):
        store.read("variant_position")


def test_unchanged_store_verifies_and_rehashes_only_what_changed(sim_store, tmp_path, monkeypatch):
    copy = _copy(sim_store, tmp_path)
    recorded = content_hash(read_manifest(copy))
    assert verify_store(copy) == recorded
    hashed: list[Path] = []
    real = _integrity.sha256_file
    monkeypatch.setattr(_integrity, "sha256_file", lambda p: hashed.append(p) or real(p))
    assert verify_store(copy) == recorded  # second open: stat only
    assert hashed == []
    # same bytes length, mtime put back: inode/ctime still tell the file changed
    chunk = copy / "call_genotype" / "4.0.0"
    before = chunk.stat()
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0x01
    chunk.write_bytes(bytes(data))
    os.utime(chunk, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(StoreIntegrityError, match=r"call_genotype/4\.0\.0 does not match"):
        verify_store(copy)
    assert hashed == [chunk]


def test_manifest_lists_the_whole_grid(sim_store):
    manifest = read_manifest(sim_store)
    meta = json.loads((sim_store / "call_genotype" / ".zarray").read_text())
    n_chunks = -(-meta["shape"][0] // meta["chunks"][0])
    keys = [k for k in manifest["arrays"]["call_genotype"] if not k.startswith(".")]
    assert keys == [f"{i}.0.0" for i in range(n_chunks)]
    assert "call_genotype_bitplanes" in manifest["arrays"]
    # the manifest stays out of the Dataset users see
    assert MANIFEST_ATTR not in open_cohort(sim_store).genotypes.attrs


def _zero_variants(copy: Path, n: int) -> None:
    import zarr

    group = zarr.open_group(str(copy), mode="r+", zarr_format=2)
    group["call_genotype"][:n] = 0
    group["call_genotype_bitplanes"][:n] = 0


def test_recipe_refused_when_the_store_changed(sim_store, sim_table, tmp_path):
    copy = _copy(sim_store, tmp_path)
    fig = tmp_path / "fst.json"
    args = ["figure", str(copy), "--samples", str(sim_table), "--kind", "fst", "--out", str(fig)]
    assert run_genshare(*args).returncode == 0
    recipe = Path(f"{fig}.provenance.json")
    recorded = json.loads(recipe.read_text())["cohort"]["store_content_sha256"]
    assert recorded == content_hash(read_manifest(sim_store))
    # unchanged: the recipe rebuilds the same bytes
    again = tmp_path / "again.json"
    proc = run_genshare("figure", "--from", str(recipe), "--out", str(again))
    assert proc.returncode == 0, proc.stderr
    assert again.read_bytes() == fig.read_bytes()
    # 20,000 variants zeroed, and the store re-manifested (as if rebuilt from other data):
    # every chunk verifies, but the data behind the recipe is not the same
    _zero_variants(copy, 20_000)
    write_manifest(copy)
    proc = run_genshare("figure", "--from", str(recipe), "--out", str(tmp_path / "x.json"))
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("genshare: error: ")]
    now = content_hash(read_manifest(copy))
    assert re.search(r"the data of .* changed since the figure", line), line
    assert recorded in line and now in line and str(copy) in line, line
    assert "draw the figure again" in line, line
    assert not (tmp_path / "x.json").exists()


def test_recipe_refused_when_a_store_without_manifest_changed(sim_store, sim_table, tmp_path):
    """A store written by another tool has no manifest: its content hash is computed from its
    files, so a change is still noticed by ``figure --from``."""
    copy = _copy(sim_store, tmp_path)
    attrs = json.loads((copy / ".zattrs").read_text())
    del attrs[MANIFEST_ATTR], attrs["genshare_provenance"]
    (copy / ".zattrs").write_text(json.dumps(attrs))
    fig = tmp_path / "fst.json"
    args = ["figure", str(copy), "--samples", str(sim_table), "--kind", "fst", "--out", str(fig)]
    assert run_genshare(*args).returncode == 0
    _zero_variants(copy, 20_000)
    proc = run_genshare("figure", "--from", f"{fig}.provenance.json", "--out", str(fig))
    assert proc.returncode == 2, proc.stderr
    assert "changed since the figure" in proc.stderr, proc.stderr


def test_stats_provenance_records_the_content_hash(sim_store, sim_table, tmp_path):
    copy = _copy(sim_store, tmp_path)
    want = content_hash(read_manifest(sim_store))
    for env, out in (({}, tmp_path / "direct"), ({"GENSHARE_DIRECT": "0"}, tmp_path / "dask")):
        proc = run_genshare(
            "stats", str(copy), "--samples", str(sim_table), "--fst", "--out", str(out), env=env
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads((out / "provenance.json").read_text())["store_content_sha256"] == want


def test_prepare_rebuild_replaces_a_damaged_cached_store(tmp_path, isolated_cache):
    from tests.test_bad_input_corpus import write_vcf

    vcf = write_vcf(tmp_path / "tiny.vcf")
    store = Path(run_genshare("prepare", str(vcf)).stdout.strip())
    (store / "call_genotype" / "0.0.0").write_bytes(b"\0" * 16)
    proc = run_genshare("stats", str(vcf), "--samples", str(_pops(tmp_path)), "--fst",
                        "--out", str(tmp_path / "o"))  # fmt: skip
    assert proc.returncode == 2 and f"store {store}: chunk call_genotype/0.0.0" in proc.stderr
    assert f"'genshare prepare {vcf} --rebuild'" in proc.stderr, proc.stderr
    proc = run_genshare("prepare", str(vcf), "--rebuild")
    assert proc.returncode == 0 and proc.stdout.strip() == str(store), proc.stderr
    assert verify_store(store) == content_hash(read_manifest(store))
    assert not list(store.parent.glob("*.partial-*"))
    assert (store / "call_genotype" / "0.0.0").read_bytes() != b"\0" * 16
    ds = open_cohort(vcf).genotypes
    assert np.asarray(ds["call_genotype"]).shape[0] == 12
    # --force is the same flag (the name issue 14 gives it)
    (store / "call_genotype" / "0.0.0").write_bytes(b"\0" * 16)
    proc = run_genshare("prepare", str(vcf), "--force")
    assert proc.returncode == 0 and proc.stdout.strip() == str(store), proc.stderr
    assert verify_store(store) == content_hash(read_manifest(store))
    # a store given as SOURCE is read as it is: --rebuild names the files it came from
    proc = run_genshare("prepare", str(store), "--rebuild")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"'genshare prepare {vcf} --rebuild'" in proc.stderr, proc.stderr


def _pops(tmp: Path) -> Path:
    from tests.test_bad_input_corpus import pops

    return pops(tmp)


def test_cache_root_is_the_fetch_cache_dir(monkeypatch, tmp_path):
    from genshare_widgets.fetch import cache_dir

    for env in ({"GENSHARE_CACHE": str(tmp_path / "c")}, {"XDG_CACHE_HOME": str(tmp_path)}, {}):
        monkeypatch.delenv("GENSHARE_CACHE", raising=False)
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert _integrity._cache_root() == cache_dir()


def test_plink_and_vcf_stores_carry_a_manifest(tmp_path, isolated_cache):
    """Every ingest path goes through ``build_store``, which records the manifest."""
    from tests.test_bad_input_corpus import write_plink, write_vcf

    for source in (write_plink(tmp_path / "tiny"), write_vcf(tmp_path / "tiny.vcf")):
        cohort = open_cohort(source)
        manifest = read_manifest(Path(cohort.store_path))
        assert manifest is not None and "call_genotype_bitplanes" in manifest["arrays"]
        assert cohort.provenance["store_content_sha256"] == content_hash(manifest)


def test_a_shared_simulated_store_names_the_open_entry_whichever_opened_it():
    """sim-ooa and sim-ooa-gru-registered have one recipe and share one store. Whichever of
    them built it, the store records sim-ooa (the freely usable one) as its source, so a damaged
    copy's error suggests 'genshare prepare sim-ooa --rebuild', a command anyone can run —
    not a registered entry the user may have no access to (it used to depend on test order)."""
    from genshare_widgets.engines._store import store_provenance

    registered = open_cohort("sim-ooa-gru-registered", purpose="GRU")
    assert store_provenance(Path(registered.store_path))["source"] == "sim-ooa"
    assert "'genshare prepare sim-ooa --rebuild'" in _integrity.rebuild_hint(
        Path(registered.store_path)
    )
    assert registered.id == "sim-ooa-gru-registered"  # the cohort keeps its own entry and terms
