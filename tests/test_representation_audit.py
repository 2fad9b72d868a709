"""Representation audit: the shipped UN WPP 2024 table, the ancestry → region mapping, per-cohort
and catalog-wide numbers against naive counts, the who-is-missing figure, the CLI, the widget."""

import json
from decimal import Decimal

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from genshare_widgets.catalog import _representation as rep
from genshare_widgets.catalog import (
    catalog_audit,
    cohort_audit,
    load_catalog,
    parse_catalog,
    place_population,
    populations_audit,
    world_population,
)
from genshare_widgets.cli import main
from genshare_widgets.plots import footer_of, who_is_missing_plot

CATALOG = load_catalog()
REAL = [e for e in CATALOG.cohorts if e.kind != "simulated"]


# --- the shipped world table ---------------------------------------------------------------


def test_world_regions_add_up_to_the_cited_world_total_exactly():
    raw = yaml.safe_load(rep.WORLD_TABLE.read_text())
    total = sum(Decimal(str(r["population_thousands"])) for r in raw["regions"])
    assert total == Decimal(str(raw["world"]["population_thousands"])) == Decimal("8196980.849")
    assert {r["un_code"] for r in raw["regions"]} == {
        1829,
        1830,
        1831,
        1832,
        1833,
        1834,
        1835,
        1836,
    }


def test_world_shares_sum_to_one_and_keep_every_person():
    world = world_population()
    assert world["world_share"].sum() == pytest.approx(1.0, abs=1e-12)
    assert world["population_thousands"].sum() == pytest.approx(8196980.849, abs=1e-6)
    oceania = world.set_index("region").loc["Oceania", "population_thousands"]
    assert oceania == pytest.approx(14272.989 + 32078.537)  # WPP's two Oceania rows, joined
    assert (world["world_share"] > 0).all() and world["region"].is_unique


def test_the_table_cites_its_source():
    source = rep.world_source()
    assert source["url"] == "https://population.un.org/wpp/"
    assert "World Population Prospects 2024" in source["citation"]
    assert "1 January 2025" in source["reference_date"]
    assert "popprojMed.txt" in source["retrieved_from"]


# --- the mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize("entry", CATALOG.cohorts, ids=lambda e: e.id)
def test_every_catalogued_population_is_placed(entry):
    """No population of the packaged catalog is unmapped: each lands in a world region or in
    the deliberate 'unassigned' row with its reason."""
    regions = set(world_population()["region"]) | {rep.UNASSIGNED}
    for pop in entry.populations:
        place = place_population(pop.code, pop.superpopulation, catalog=CATALOG)
        assert place.region in regions, (entry.id, pop.code)
        assert place.region != "unmapped"


def test_super_populations_map_to_their_regions():
    expected = {
        "AFR": "Sub-Saharan Africa",
        "AMR": "Latin America and the Caribbean",
        "EAS": "Eastern and South-Eastern Asia",
        "EUR": "Europe and Northern America",
        "SAS": "Central and Southern Asia",
    }
    for sup, region in expected.items():
        assert place_population("XYZ", sup, catalog=CATALOG).region == region
    # a 1000 Genomes code listed without a super-population (gnomad-hgdp-1kg) takes its own
    assert place_population("PEL", None, catalog=CATALOG).via.startswith("same code")
    assert place_population("asj", None, catalog=CATALOG).region == rep.UNASSIGNED


MINIMAL = """
catalog_version: "test"
cohorts:
  - id: my-sim
    title: "t"
    description: "t"
    kind: simulated
    genome_build: simulated
    simulation: {model: OutOfAfrica_3G09, length: 100000, samples: {YRI: 20, ZZZ: 5}, seed: 7}
    samples: {id_column: sample, population_column: population}
    populations: [{code: YRI, superpopulation: AFR, n_samples: 20}, {code: ZZZ, n_samples: 5}]
    access: open
    duo: [GRU]
    licence: CC0 1.0
    citation: "t"
    version: "1"
"""


def test_an_unmapped_population_is_a_clear_error_or_an_explicit_bucket():
    with pytest.raises(Exception, match=r"population 'ZZZ'.*in no world region.*ancestry_regions"):
        place_population("ZZZ", None, catalog=CATALOG, where="catalog entry 'x'")
    assert place_population("ZZZ", None, catalog=CATALOG, unmapped="bucket").region == "unmapped"
    # a new population in a catalog entry: the audit names the entry and the code
    cat = parse_catalog(MINIMAL)
    (entry,) = cat.cohorts
    with pytest.raises(Exception, match=r"catalog entry 'my-sim': population 'ZZZ'"):
        cohort_audit(entry, catalog=cat)
    bucket = cohort_audit(entry, catalog=cat, unmapped="bucket").regions.set_index("region")
    assert bucket.loc["unmapped", "n_samples"] == 5
    assert bucket.loc["unmapped", "status"] == "no region"
    assert bucket["sample_share"].sum() == pytest.approx(1.0)


def test_the_mapping_file_only_names_known_groups_regions_and_entries():
    data = rep.ancestry_mapping()
    regions = set(world_population()["region"])
    assert {g["region"] for g in data["continental_groups"].values()} <= regions
    assert set(data["populations"].values()) <= set(data["continental_groups"])
    ids = {e.id for e in CATALOG.cohorts}
    for sample_set in data["sample_sets"]:
        assert set(sample_set["entries"]) <= ids, sample_set["id"]


# --- per-cohort numbers against a naive count --------------------------------------------------


def _naive_regions(entry) -> dict[str, int]:
    """Samples per region, the obvious way: add up n_samples of each population's region."""
    out: dict[str, int] = {}
    for pop in entry.populations:
        if pop.n_samples is None:
            continue
        region = place_population(pop.code, pop.superpopulation, catalog=CATALOG).region
        out[region] = out.get(region, 0) + pop.n_samples
    return out


@pytest.mark.parametrize("entry", CATALOG.cohorts, ids=lambda e: e.id)
def test_cohort_audit_equals_a_naive_count(entry):
    audit = cohort_audit(entry, catalog=CATALOG)
    table = audit.regions.set_index("region")
    naive = _naive_regions(entry)
    total = sum(naive.values())
    assert audit.n_samples == total
    for region, row in table.iterrows():
        assert row["n_samples"] == naive.get(region, 0), (entry.id, region)
        if total:
            assert row["sample_share"] == pytest.approx(naive.get(region, 0) / total)
        assert (row["status"] == "missing") == (
            naive.get(region, 0) == 0 and region != "unassigned"
        )
    if total:
        assert table["sample_share"].sum() == pytest.approx(1.0)
    assert (audit.populations["n_samples"].sum() or 0) == total


def test_1000_genomes_misses_north_africa_west_asia_and_oceania():
    audit = cohort_audit("1kg-phase3", catalog=CATALOG)
    assert audit.missing == ["Northern Africa and Western Asia", "Oceania"]
    table = audit.regions.set_index("region")
    assert table.loc["Sub-Saharan Africa", "n_samples"] == 661  # the 7 AFR panels
    assert table.loc["Central and Southern Asia", "n_samples"] == 489
    world = world_population().set_index("region")["world_share"]
    share = 489 / 2504
    assert table.loc["Central and Southern Asia", "representation"] == pytest.approx(
        share / world["Central and Southern Asia"]
    )


def test_status_thresholds():
    audit = populations_audit({"YRI": 100, "CEU": 100, "CHB": 1}, catalog=CATALOG, under=0.5)
    status = audit.regions.set_index("region")["status"]
    assert status["Eastern and South-Eastern Asia"] == "under"  # 0.5 % of samples vs 28.7 %
    assert status["Europe and Northern America"] == "over"  # 49.8 % vs 13.8 %
    assert status["Oceania"] == "missing"


# --- the catalog-wide audit: each person once --------------------------------------------------


def test_catalog_audit_counts_each_person_once():
    audit = catalog_audit(CATALOG)
    pops = audit.populations
    # the four 1000 Genomes entries are one set of people: the NYGC 30x count (3,202)
    kg = pops[pops["cohort"] == "1000-genomes"]
    assert int(kg["n_samples"].sum()) == 3202
    assert kg.set_index("population").loc["CEU", "n_samples"] == 179  # NYGC's, not phase 3's 99
    assert kg.set_index("population").loc["GBR", "n_samples"] == 91  # phase 3's (NYGC: unknown)
    # HapMap 3: the 657 founders who are phase 3 people are left out
    hm = pops[pops["cohort"] == "hapmap3"]
    assert int(hm["n_samples"].sum()) == 957 - 657
    # gnomAD v4 sites: its own 76,215 genomes; no simulated cohort; no gnomad-hgdp-1kg counts
    assert int(pops.loc[pops["cohort"] == "gnomad-v4-sites", "n_samples"].sum()) == 76215
    assert not {"sim-ooa", "sim-admix", "gnomad-hgdp-1kg"} & set(pops["cohort"])
    assert audit.n_samples == 3202 + 300 + 76215
    assert audit.regions["sample_share"].sum() == pytest.approx(1.0)
    assert any("gnomad-hgdp-1kg: not counted" in n for n in audit.notes)
    assert any("counted twice" in n for n in audit.notes)


def test_catalog_audit_naive_sum_over_distinct_people():
    """Naive reference: per (set, population) the largest count, minus documented overlaps."""
    audit = catalog_audit(CATALOG)
    data = rep.ancestry_mapping()
    member = {e: s["id"] for s in data["sample_sets"] for e in s["entries"]}
    best: dict[tuple[str, str], int] = {}
    for entry in REAL:
        key_set = member.get(entry.id, entry.id)
        for pop in entry.populations:
            if pop.n_samples is not None:
                key = (key_set, pop.code)
                best[key] = max(best.get(key, 0), pop.n_samples)
    for overlap in data["overlaps"]:
        for code, n in overlap["populations"].items():
            best[(overlap["set"], code)] -= n
    unrecorded = 3202 - sum(n for (s, _), n in best.items() if s == "1000-genomes")
    assert audit.n_samples == sum(best.values()) + unrecorded


def test_hapmap3_overlap_with_1000_genomes_is_what_the_files_say(mirror):
    """The shipped overlap (657 founders who are phase 3 people) recomputed from the files."""
    fam = pd.read_csv(
        next(mirror.rglob("HM3_thinned_autosomal_overlap.fam")), sep=r"\s+", header=None
    )
    rel = pd.read_csv(next(mirror.rglob("relationships_w_pops_121708.txt")), sep="\t")
    panel = pd.read_csv(
        next(mirror.rglob("integrated_call_samples_v3.20130502.ALL.panel")), sep="\t"
    )
    founders = rel[rel["IID"].isin(fam[1])]
    shared = founders[founders["IID"].isin(panel["sample"])]
    counted = shared.groupby("population").size().to_dict()
    shipped = next(o for o in rep.ancestry_mapping()["overlaps"] if o["set"] == "hapmap3")
    assert counted == shipped["populations"]
    assert len(founders) == 957 and len(shared) == 657


# --- the figure --------------------------------------------------------------------------------


def test_figure_traces_are_the_computed_shares_and_the_footer_cites_wpp():
    audit = cohort_audit("1kg-phase3", catalog=CATALOG)
    fig = who_is_missing_plot(audit)
    world, samples = fig.data
    assert list(world.y) == list(audit.regions["region"]) == list(samples.y)
    assert list(world.x) == pytest.approx(list(audit.regions["world_share"]))
    assert list(samples.x) == pytest.approx(list(audit.regions["sample_share"]))
    footer = footer_of(fig)
    assert "UN World Population Prospects 2024" in footer and "population.un.org/wpp" in footer
    meta = fig.layout.meta
    assert meta["genshare_builder"] == "who_is_missing_plot"
    assert meta["provenance"]["world_population_source"]["edition"].startswith("WPP 2024")
    assert meta["details"]["missing"] == ["Northern Africa and Western Asia", "Oceania"]
    labels = dict(zip(samples.y, samples.text, strict=True))
    assert labels["Oceania"] == "no samples"
    assert "no samples from Northern Africa and Western Asia, Oceania" in fig.layout.title.text


def test_figure_kind_who_is_missing_from_an_opened_cohort(sim_ooa, tmp_path):
    from genshare_widgets.figures import figure

    fig = figure(sim_ooa, "who-is-missing")
    details = fig.layout.meta["details"]
    regions = dict(zip(details["regions"], details["n_samples"], strict=True))
    assert regions["Sub-Saharan Africa"] == regions["Europe and Northern America"] == 100
    assert "Central and Southern Asia" in details["missing"]
    out = tmp_path / "wim.json"
    result = CliRunner().invoke(
        main, ["figure", "sim-ooa", "--kind", "who-is-missing", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert saved["layout"]["meta"]["details"]["n_samples"] == details["n_samples"]
    recipe = json.loads((tmp_path / "wim.json.provenance.json").read_text())
    assert recipe["kind"] == "who-is-missing"


def test_figure_under_a_policy_withholds_small_groups(sim_ooa):
    """A group with 1..k-1 samples is in no bar (region totals would give its size away)."""
    from genshare_widgets.figures import figure

    fig = figure(sim_ooa, "who-is-missing", min_count=20, keep_groups="CEU,YRI")
    assert fig.layout.meta["details"]["withheld"] == []
    # a sample table with a 5-person group under k = 20
    samples = sim_ooa.samples.copy()
    samples.loc[samples.index[:5], "population"] = "GIH"
    from genshare_widgets.catalog import populations_audit as audit_of

    sizes = samples["population"].value_counts().to_dict()
    from genshare_widgets.disclosure import DisclosurePolicy
    from genshare_widgets.disclosure._release import release_group_sizes

    released = release_group_sizes(sizes, DisclosurePolicy(min_count=20))
    assert released["GIH"] == "<20"
    shown = {g: n for g, n in released.items() if not isinstance(n, str)}
    fig = who_is_missing_plot(audit_of(shown, catalog=CATALOG), withheld=["GIH"], marker="<20")
    details = fig.layout.meta["details"]
    assert (
        dict(zip(details["regions"], details["n_samples"], strict=True))[
            "Central and Southern Asia"
        ]
        == 0
    )
    assert sum(details["n_samples"]) == 295
    assert "1 group(s) with <20 samples not shown" in fig.layout.title.text


# --- the CLI and the widget ------------------------------------------------------------------


def test_catalog_audit_command_writes_a_tsv_and_a_figure(tmp_path):
    tsv, fig = tmp_path / "audit.tsv", tmp_path / "who.json"
    result = CliRunner().invoke(main, ["catalog", "audit", "--out", str(tsv), "--figure", str(fig)])
    assert result.exit_code == 0, result.output
    assert "no samples from: Oceania" in result.output
    assert "World Population Prospects 2024" in result.output
    table = pd.read_csv(tsv, sep="\t")
    assert list(table.columns) == [
        "region",
        "world_population",
        "world_share",
        "n_samples",
        "sample_share",
        "representation",
        "status",
        "populations",
    ]
    regions = table[table["region"] != "unassigned"]
    assert regions["world_population"].sum() == 8_196_980_849
    assert regions["world_share"].sum() == pytest.approx(1.0, abs=1e-5)
    assert table["n_samples"].sum() == catalog_audit(CATALOG).n_samples
    footer = next(a for a in json.loads(fig.read_text())["layout"]["annotations"])
    assert "World Population Prospects 2024" in footer["text"]


def test_catalog_audit_command_for_one_entry():
    result = CliRunner().invoke(main, ["catalog", "audit", "hapmap3"])
    assert result.exit_code == 0, result.output
    assert "no samples from: Northern Africa and Western Asia, Oceania" in result.output


def test_catalog_browser_has_a_representation_tab():
    from genshare_widgets.widgets import CatalogBrowser

    browser = CatalogBrowser()
    browser.results.value = "1kg-phase3"
    assert browser.representation.table.value == ""  # drawn only when the tab is shown
    browser.panes.selected_index = 1
    html = browser.representation.table.value
    assert "No samples from:</b> Northern Africa and Western Asia, Oceania" in html
    assert "World Population Prospects 2024" in html
    (figure,) = browser.representation.figure_box.children
    assert list(figure.data[1].x) == pytest.approx(
        list(cohort_audit("1kg-phase3", catalog=CATALOG).regions["sample_share"])
    )
    browser.results.value = "hapmap3"  # follows the selection while shown
    assert "hapmap3" in browser.representation.table.value
    browser.representation.scope.value = "whole catalog"
    assert f"{catalog_audit(CATALOG).n_samples:,} samples" in browser.representation.table.value
