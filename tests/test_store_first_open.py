"""The first open of a store hashes each chunk once (verify_store at open, not again on read),
and a chunk changed after that is still caught on read."""

import shutil
from pathlib import Path

import pytest

from genshare_widgets.engines import _integrity
from genshare_widgets.engines._direct import open_direct
from genshare_widgets.engines._integrity import StoreIntegrityError


@pytest.fixture
def fresh_copy(sim_ooa, tmp_path) -> Path:
    copy = tmp_path / "cohort.vcz"
    shutil.copytree(Path(sim_ooa.store_path), copy)
    return copy


def _count_hashes(monkeypatch) -> tuple[list[str], list[Path]]:
    in_memory: list[str] = []
    files: list[Path] = []
    real_bytes, real_file = _integrity._sha256_bytes, _integrity.sha256_file
    monkeypatch.setattr(
        _integrity, "_sha256_bytes", lambda data: in_memory.append("x") or real_bytes(data)
    )
    monkeypatch.setattr(_integrity, "sha256_file", lambda p: files.append(p) or real_file(p))
    return in_memory, files


def test_first_open_hashes_each_chunk_once(fresh_copy, monkeypatch):
    in_memory, files = _count_hashes(monkeypatch)
    store = open_direct(fresh_copy)  # first open: every file hashed by verify_store
    chunks = sorted(p.name for p in (fresh_copy / "call_genotype_bitplanes").iterdir())
    assert {p.name for p in files if p.parent.name == "call_genotype_bitplanes"} >= set(
        c for c in chunks if not c.startswith(".")
    )
    before = len(in_memory)
    store.read("call_genotype_bitplanes")
    store.read("variant_position")
    assert len(in_memory) == before  # the bytes read were hashed at open: not again


def test_chunk_changed_after_first_open_is_caught_on_read(fresh_copy, monkeypatch):
    from tests.test_store_integrity import flip

    in_memory, _ = _count_hashes(monkeypatch)
    store = open_direct(fresh_copy)
    store.read_chunk("call_genotype_bitplanes", 2)
    flip(fresh_copy)  # rewritten in place: same inode and size, new mtime/ctime
    with pytest.raises(StoreIntegrityError, match=r"call_genotype_bitplanes/2\.0\.0 does not"):
        store.read_chunk("call_genotype_bitplanes", 2)
    assert in_memory  # that read hashed the changed file's bytes


def test_flipped_chunk_is_caught_on_first_open(fresh_copy):
    from tests.test_store_integrity import flip

    flip(fresh_copy)
    with pytest.raises(StoreIntegrityError, match=r"call_genotype_bitplanes/2\.0\.0 does not"):
        open_direct(fresh_copy)


def test_files_verified_by_an_earlier_process_are_hashed_on_read(fresh_copy, monkeypatch):
    open_direct(fresh_copy)  # writes the stamp
    monkeypatch.setattr(_integrity, "_HASHED_NOW", {})  # as in a new process
    in_memory, files = _count_hashes(monkeypatch)
    store = open_direct(fresh_copy)  # stat only: nothing hashed at open
    assert files == []
    before = len(in_memory)
    store.read_chunk("call_genotype_bitplanes", 0)
    assert len(in_memory) == before + 1  # the read checks the bytes it got
