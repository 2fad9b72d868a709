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
