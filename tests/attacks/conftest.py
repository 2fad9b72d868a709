"""Red-team fixtures: the real 1000 Genomes subset at k = 20 (see red_team.py for services).

The true counts below (:func:`truth`) are the referee's, used only to score what an attack
recovered; attacks read only public outputs.
"""

import pytest


@pytest.fixture(scope="session")
def kg(kg_subset):
    return kg_subset


@pytest.fixture(scope="session")
def truth(kg_subset):
    """The referee's exact counts of the subset by population and by superpopulation."""
    from genshare_widgets import allele_counts_by_group

    return {
        by: allele_counts_by_group(kg_subset, by=by) for by in ("population", "superpopulation")
    }


@pytest.fixture(scope="session")
def sample_table(kg_subset):
    """The subset's public sample table (id, population, superpopulation, sex)."""
    return kg_subset.samples.reset_index()


@pytest.fixture
def fresh_cache(genshare_env, kg_subset, tmp_path, monkeypatch):
    """A factory of new cache folders, each holding only a copy of the session's prepared
    stores: first-time caches of this machine, without re-converting the subset. The test's
    ledgers and release logs (``GENSHARE_STATE``) start empty and are shared by every cache
    it makes: a new cache folder is not a new account."""
    import shutil

    monkeypatch.setenv("GENSHARE_STATE", str(tmp_path / "state"))

    made = []

    def make():
        cache = tmp_path / f"cache-{len(made)}"
        cache.mkdir()
        for name in ("stores", "downloads", "simulated", "file_hashes.json"):
            source = genshare_env / name
            if source.is_dir():
                shutil.copytree(source, cache / name, symlinks=True)
            elif source.is_file():
                shutil.copy2(source, cache / name)
        made.append(cache)
        return cache

    return make
