"""The explorer's famous-variants tab driven headless: choose variants, read the table, the
card and the "not in this cohort" message; export the card with its recipe."""

import pytest

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def kidd(mirror):
    from genshare_widgets import open_cohort

    return open_cohort("1kg-phase3-kidd-aisnps")


def _famous_index():
    from genshare_widgets.widgets import TABS

    return len(TABS) + 1  # after the association tab


def test_famous_tab_table_card_and_absent_variant(kidd, tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from genshare_widgets import famous as famous_module
    from genshare_widgets.cli import main
    from genshare_widgets.widgets import CohortExplorer

    releases = []
    real = famous_module.released_famous_counts
    monkeypatch.setattr(
        famous_module,
        "released_famous_counts",
        lambda *a, **k: releases.append(k["by"]) or real(*a, **k),
    )
    explorer = CohortExplorer(kidd, by="superpopulation")
    tab = explorer.famous
    assert releases == []  # nothing released before the tab is shown
    assert explorer.tabs.get_title(_famous_index()) == "Famous variants"
    explorer.tabs.selected_index = _famous_index()
    assert releases == ["superpopulation"] and "updated in" in explorer.status.value
    # the table: every panel variant, the cohort's released frequencies by group
    html = tab.table.value
    for rsid in ("rs3827760", "rs1426654", "rs2814778", "rs4988235", "rs334"):
        assert rsid in html
    assert "<th>AFR</th>" in html and f"{1274 / 1322:.3f}" in html  # Duffy-null C in AFR
    assert html.count("genshare-famous-absent") == 6 and "not in this cohort" in html
    labels = dict((value, label) for label, value in tab.variant.options)
    assert labels["rs334"].endswith("not in this cohort") and "not in" not in labels["rs1426654"]
    # the first variant the cohort has is chosen; its card is on screen
    assert tab.variant.value == "rs3827760" and explorer.kind == "variant"
    card = explorer.figures["famous-tab"]
    assert tab._slot.children == (card,)
    assert card.layout.meta["details"]["allele"] == "G"
    # choosing another variant: its card, from the same release
    tab.variant.value = "rs1426654"
    card = explorer.figures["famous-tab"]
    assert card.layout.meta["details"]["allele"] == "A"  # the REF is the allele of interest
    bars = next(t for t in card.data if t.type == "bar")
    assert bars.y[list(bars.x).index("EUR")] == pytest.approx(1003 / 1006)
    assert card.layout.meta["details"]["published"]["EUR"] == 0.997
    assert releases == ["superpopulation"]
    # a variant the cohort lacks: said clearly, no card
    tab.variant.value = "rs334"
    assert tab._slot.children == ()
    assert "rs334" in tab.note.value and "is not in this cohort" in tab.note.value
    assert "not in this cohort" in explorer.status.value and "color:#b00020" in tab.note.value
    # the panel heatmap for export; then the card's recipe rebuilds the same file
    tab.export_kind.value = "famous"
    assert explorer.figures["famous-tab"].layout.meta["genshare_builder"] == "famous_panel"
    tab.export_kind.value = "variant"
    tab.variant.value = "rs2814778"
    explorer.export.folder = tmp_path
    explorer.export.format.value = "json"
    explorer.export.button.click()
    written = explorer.export.written
    recipe = json.loads(written["provenance"].read_text())
    assert "--kind variant" in recipe["command"] and "--variant rs2814778" in recipe["command"]
    again = tmp_path / "again.json"
    result = CliRunner().invoke(
        main, ["figure", "--from", str(written["provenance"]), "--out", str(again)]
    )
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == written["figure"].read_bytes()
    assert releases == ["superpopulation", "superpopulation"]  # the tab's one, then --from's
    # another grouping: one more release
    explorer.by.value = "population"
    assert releases[-1] == "population" and len(releases) == 3
    assert "<th>YRI</th>" in tab.table.value


def test_famous_tab_shows_suppressed_cells_as_released(kidd):
    from genshare_widgets.widgets import CohortExplorer

    explorer = CohortExplorer(kidd, by="superpopulation", min_count=10)
    explorer.tabs.selected_index = _famous_index()
    html = explorer.famous.table.value
    assert "&lt;10" in html  # EUR's 6 Duffy-null alleles, EDAR G in AFR
    assert "k=10" in explorer.disclosure.value or "10" in explorer.disclosure.value
