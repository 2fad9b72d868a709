"""Widgets driven headless: set their controls, click their buttons, read what they show."""

from genshare_widgets import Cohort
from genshare_widgets.widgets import CatalogBrowser


def test_catalog_browser_filters_and_details():
    browser = CatalogBrowser()
    all_ids = [value for _label, value in browser.results.options]
    assert {"sim-ooa", "1kg-phase3-subset", "gnomad-v4-sites"} <= set(all_ids)
    tier = {e.id: e.access for e in browser.catalog.cohorts}
    seen = []
    for access in ("open", "registered", "controlled"):
        browser.access.value = access
        ids = [v for _l, v in browser.results.options]
        assert all(tier[i] == access for i in ids), access
        seen += ids
    assert sorted(seen) == sorted(all_ids)
    browser.access.value = "any"
    browser.population.value = "CEU"
    ceu = [v for _l, v in browser.results.options]
    assert "sim-ooa" in ceu and "sim-admix" not in ceu
    browser.population.value = "any"
    browser.search.value = "gnomad"
    found = [v for _l, v in browser.results.options]
    assert found and all("gnomad" in v for v in found)
    browser.results.value = found[0]
    assert "Consent (GA4GH DUO)" in browser.details.value
    assert found[0] in browser.details.value
    browser.search.value = "no such cohort anywhere"
    assert browser.results.options == ()
    assert "no cohort matches" in browser.status.value
    assert browser.open_button.disabled


def test_catalog_browser_opens_a_cohort(sim_ooa):
    browser = CatalogBrowser()
    opened = []
    browser.on_open(opened.append)
    browser.results.value = "sim-ooa"
    browser.open_button.click()
    assert isinstance(browser.cohort, Cohort) and browser.cohort.id == "sim-ooa"
    assert opened == [browser.cohort]
    assert "300 samples" in browser.status.value


def test_catalog_browser_shows_errors_in_the_widget(monkeypatch, tmp_path):
    # A public cohort whose files are not on this machine (offline, no mirror copy): the
    # error lands in the status line, nothing is raised.
    monkeypatch.setenv("GENSHARE_MIRROR", str(tmp_path))
    browser = CatalogBrowser()
    browser.results.value = "1kg-phase3"
    browser.open_button.click()
    assert browser.cohort is None
    assert "color:#b00020" in browser.status.value


def test_explorer_updates_views_from_cached_counts(sim_ooa):
    from genshare_widgets.widgets import CohortExplorer

    explorer = CohortExplorer(sim_ooa)
    fst = explorer.figures["fst"]
    assert len(fst.data) == 1 and sorted(fst.data[0].x) == ["CEU", "CHB", "YRI"]
    counted = dict(explorer._counts)
    explorer.groups.value = ("CEU", "YRI")
    assert sorted(explorer.figures["fst"].data[0].x) == ["CEU", "YRI"]
    assert explorer._counts.keys() == counted.keys()  # no new genotype pass
    assert "updated in" in explorer.status.value
    assert explorer.last_update_seconds > 0
    # the AF comparison follows the pair and the MAF slider
    explorer.tabs.selected_index = [k for _t, k in explorer_tabs()].index("af-compare")
    explorer.pair_a.value, explorer.pair_b.value = "CEU", "YRI"

    def shown() -> int:
        return explorer.figures["af-compare"].layout.meta["provenance"]["filters"][
            "n_variants_analysed"
        ]

    n_all = shown()
    explorer.min_maf.value = 0.2
    assert 0 < shown() < n_all
    assert explorer.figures["af-compare"].layout.meta["provenance"]["filters"]["min_maf"] == 0.2
    # a bad region is reported in the widget, the figure stays
    explorer.region.value = "nochr:1-2"
    assert "color:#b00020" in explorer.status.value and "nochr" in explorer.status.value


def explorer_tabs():
    from genshare_widgets.widgets import TABS

    return TABS


def test_export_control_writes_a_rebuildable_figure(sim_ooa, tmp_path):
    import json
    import subprocess
    import sys

    from genshare_widgets.widgets import CohortExplorer

    explorer = CohortExplorer(sim_ooa)
    explorer.groups.value = ("CEU", "CHB")
    explorer.export.folder = tmp_path
    explorer.export.format.value = "json"
    explorer.export.button.click()
    written = explorer.export.written
    assert written["figure"].is_file() and written["provenance"].is_file()
    recipe = json.loads(written["provenance"].read_text())
    assert "--keep-groups CEU,CHB" in recipe["command"]
    assert "genshare figure sim-ooa --kind fst" in explorer.export.result.value
    again = tmp_path / "again.json"
    done = subprocess.run(
        [sys.executable, "-m", "genshare_widgets", "figure", "--from", str(written["provenance"]),
         "--out", str(again)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert again.read_bytes() == written["figure"].read_bytes()


def test_explorer_app_lists_offline_cohorts_and_swaps_the_explorer(sim_ooa, sim_admix):
    from genshare_widgets.widgets import ExplorerApp, offline_cohort_ids

    ids = offline_cohort_ids()
    assert ids[:2] == ["sim-ooa", "sim-admix"]
    assert "gnomad-v4-sites" not in ids  # aggregate-only: nothing to open
    app = ExplorerApp("sim-ooa")
    assert [v for _l, v in app.picker.options] == ids
    assert app.explorer is not None and app.explorer.cohort.id == "sim-ooa"
    assert app.body.children == (app.explorer.widget,)
    app.picker.value = "sim-admix"
    assert app.explorer.cohort.id == "sim-admix"
    assert sorted(app.explorer.figures["fst"].data[0].x) == ["ADMIX", "AFR", "ASIA", "EUR"]
    assert "240 samples" in app.status.value


def test_explorer_app_shows_open_errors_in_the_page(monkeypatch, tmp_path, sim_ooa):
    from genshare_widgets.widgets import ExplorerApp

    monkeypatch.setenv("GENSHARE_MIRROR", str(tmp_path))  # nothing of 1kg-phase3 here
    app = ExplorerApp("1kg-phase3")
    assert app.explorer is None
    assert "color:#b00020" in app.status.value
    assert "1kg-phase3" not in [v for _l, v in app.picker.options][1:]


def test_explorer_pair_follows_the_chosen_groups(sim_ooa):
    from genshare_widgets.widgets import TABS, CohortExplorer

    explorer = CohortExplorer(sim_ooa)
    explorer.tabs.selected_index = [k for _t, k in TABS].index("af-compare")
    assert (explorer.pair_a.value, explorer.pair_b.value) == ("CEU", "CHB")
    explorer.groups.value = ("CEU", "YRI")  # CHB dropped: B moves to a chosen group
    assert explorer.pair_b.options == ("CEU", "YRI")
    assert (explorer.pair_a.value, explorer.pair_b.value) == ("CEU", "YRI")
    assert "color:#b00020" not in explorer.status.value
    title = explorer.figures["af-compare"].layout.title.text
    assert "CEU vs YRI" in title


def test_explorer_draws_only_shown_tabs_and_only_when_the_view_changed(sim_ooa):
    from genshare_widgets.widgets import TABS, CohortExplorer

    kinds = [k for _t, k in TABS]
    explorer = CohortExplorer(sim_ooa)
    # hidden tabs hold no plot (plotly.js fails to size a plot drawn into a hidden tab)
    assert list(explorer.figures) == ["fst"]
    assert all(explorer._slots[k].children == () for k in kinds if k != "fst")
    fst = explorer.figures["fst"]
    explorer.tabs.selected_index = kinds.index("het")
    het = explorer.figures["het"]
    explorer.tabs.selected_index = kinds.index("fst")  # back: nothing rebuilt
    assert explorer.figures["fst"] is fst and "up to date" in explorer.status.value
    explorer.groups.value = ("CEU", "YRI")  # only the shown tab is rebuilt
    assert explorer.figures["fst"] is not fst and explorer.figures["het"] is het
    assert explorer._slots["fst"].children == (explorer.figures["fst"],)
    explorer.tabs.selected_index = kinds.index("het")  # its view changed meanwhile
    assert explorer.figures["het"] is not het
    assert explorer._drawn["het"] == explorer._view_key("het")
    assert "'keep_groups', 'CEU,YRI'" in explorer._drawn["het"]
    built = len(explorer._built)
    explorer.groups.value = ("CEU", "CHB", "YRI")  # back to a view seen before: not rebuilt
    assert len(explorer._built) == built and "'keep_groups', None" in explorer._drawn["het"]


def test_explorer_app_in_the_background_shows_controls_then_the_figure(sim_ooa):
    from genshare_widgets.widgets import ExplorerApp

    app = ExplorerApp("sim-ooa", background=True)
    assert "opening" in app.status.value or app.explorer is not None
    app.wait(120)
    assert app.explorer is not None and app.body.children == (app.explorer.widget,)
    assert sorted(app.explorer.figures["fst"].data[0].x) == ["CEU", "CHB", "YRI"]
    assert "300 samples" in app.status.value and "updated in" in app.explorer.status.value


def test_explorer_prefetch_builds_the_other_tabs_of_the_view(sim_ooa):
    import time

    from genshare_widgets.widgets import TABS, CohortExplorer

    explorer = CohortExplorer(sim_ooa, prefetch=True)
    others = [k for _t, k in TABS if k not in ("fst", "pca")]
    deadline = time.monotonic() + 120
    while set(explorer._ready) != set(others) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert set(explorer._ready) == set(others)  # PCA (its own genotype pass) is not
    assert list(explorer.figures) == ["fst"]  # built, not shown: hidden tabs stay empty
    ready = explorer._ready["sfs"][1]
    explorer.tabs.selected_index = [k for _t, k in TABS].index("sfs")
    assert explorer.figures["sfs"] is ready and explorer._slots["sfs"].children == (ready,)
    explorer.groups.value = ("CEU", "YRI")  # a new view: the shown tab is built at once
    assert explorer.figures["sfs"] is not ready
    assert explorer._drawn["sfs"] == explorer._view_key("sfs")


def test_explorer_association_tab_computes_once_per_choice(sim_ooa, tmp_path, monkeypatch):
    import json

    import numpy as np
    from click.testing import CliRunner

    from genshare_widgets import figures
    from genshare_widgets.association import association
    from genshare_widgets.cli import main
    from genshare_widgets.widgets import TABS, CohortExplorer

    runs = []
    real = figures.association_result
    monkeypatch.setattr(
        figures, "association_result", lambda *a, **k: runs.append(a[1]["pcs"]) or real(*a, **k)
    )
    explorer = CohortExplorer(sim_ooa)
    tab = explorer.association
    # the declared phenotype columns (the declared covariate age is not offered)
    assert tab.pheno.options == ("height_like", "disease_like", "confounded_like")
    assert "height_like" not in tab.covar.options and "sex" in tab.covar.options
    assert runs == []  # nothing computed before the tab is shown
    explorer.tabs.selected_index = len(TABS)
    assert runs == [0] and "updated in" in explorer.status.value
    manhattan, qq = explorer.figures["manhattan"], explorer.figures["qq"]
    assert tab._slots["manhattan"].children == (manhattan,)
    # the figures draw the released table: every P < 1e-3 one by one, with its P
    table = association(sim_ooa, "height_like").table
    hits = table[table["p"] < 1e-3]
    drawn = {row[0]: row[3] for row in manhattan.data[1].customdata}
    expected = {
        f"{r.contig}:{r.position}:{r.ref}:{r.alt}": r.p for r in hits.itertuples()
    }  # fmt: skip
    assert drawn == expected
    assert (
        qq.layout.meta["details"]["lambda_gc"]
        == qq.layout.meta["provenance"]["association"]["lambda_gc"]
    )
    assert "linear regression of height_like on 300 samples" in tab.note.value
    # another choice computes once; going back to a choice computes nothing
    tab.pcs.value = 1
    assert runs == [0, 1] and explorer.figures["manhattan"] is not manhattan
    tab.export_kind.value = "qq"  # the figure to export: nothing recomputed
    tab.pcs.value = 0
    tab.pcs.value = 1
    assert runs == [0, 1] and len(tab.results) == 2
    assert np.isfinite(explorer.figures["qq"].layout.meta["details"]["lambda_gc"])
    # export the QQ plot with its recipe; --from rebuilds the same file
    explorer.export.folder = tmp_path
    explorer.export.format.value = "json"
    explorer.export.button.click()
    written = explorer.export.written
    recipe = json.loads(written["provenance"].read_text())
    assert "genshare figure sim-ooa --kind qq --pheno height_like --pcs 1" in recipe["command"]
    again = tmp_path / "again.json"
    result = CliRunner().invoke(
        main, ["figure", "--from", str(written["provenance"]), "--out", str(again)]
    )
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == written["figure"].read_bytes()
    # a choice that cannot be fitted is reported in the widget
    tab.model.value = "binary (logistic)"
    assert "color:#b00020" in explorer.status.value and "is not binary" in explorer.status.value


def test_background_threads_never_create_widgets_in_a_kernel(sim_ooa, monkeypatch):
    """In a kernel, the page asks for every widget's state when it connects; a widget made
    while it connects can reach it before the model it refers to ("widget model not found"
    in CI). So the app's first cohort opens before the app is returned, and later picks
    open in a thread that hands widget work (the explorer, its first figure, the prefetched
    tabs) to the kernel's thread: here a real event loop on this (main) thread stands in for
    the kernel's, and every widget must be opened on it."""
    import asyncio
    import threading
    import time

    import ipywidgets
    from tornado.ioloop import IOLoop

    from genshare_widgets.widgets import TABS, ExplorerApp, _kernel_thread

    loop = IOLoop(make_current=False)
    monkeypatch.setattr(_kernel_thread, "kernel_loop", lambda: loop)
    opened_in: list[str] = []
    real_open = ipywidgets.Widget.open

    def open_and_record(self):
        opened_in.append(threading.current_thread().name)
        return real_open(self)

    monkeypatch.setattr(ipywidgets.Widget, "open", open_and_record)
    app = ExplorerApp("sim-ooa", background=True)
    first = app.explorer
    assert first is not None and "fst" in first.figures  # drawn before the page connects
    others = {k for _t, k in TABS if k not in ("fst", "pca")}

    async def until(ready):
        deadline = time.monotonic() + 120
        while not ready() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    loop.run_sync(lambda: until(lambda: set(first._ready) == others), timeout=130)
    assert set(first._ready) == others  # prefetched, their widgets made on the loop
    app.picker.value = "sim-admix"  # opened in a thread, its widgets made on the loop

    def second_drawn():
        explorer = app.explorer
        return explorer is not first and explorer is not None and "fst" in explorer.figures

    loop.run_sync(lambda: until(second_drawn), timeout=130)
    loop.close()
    assert second_drawn() and app.body.children == (app.explorer.widget,)
    assert "ADMIX" in app.explorer.figures["fst"].data[0].x
    assert len(opened_in) > 40 and set(opened_in) == {threading.main_thread().name}
