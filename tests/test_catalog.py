"""The catalog: schema validation with precise errors, search, DUO codes, CLI."""

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from genshare_widgets import CatalogError
from genshare_widgets._errors import GenShareError
from genshare_widgets.catalog import (
    DUO_TERMS,
    catalog_table,
    default_catalog_path,
    duo_term,
    forbids_ancestry_research,
    get_entry,
    load_catalog,
    parse_catalog,
    search_catalog,
)
from genshare_widgets.cli import main

LOCAL_IDS = [
    "sim-ooa",
    "sim-admix",
    "1kg-phase3-subset",
    "1kg-phase3-chr1-region",
    "hapmap3",
    # the real slices of the famous-variants stories (mirror only; tests/test_famous.py opens them)
    "1kg-phase3-lct",
    "1kg-phase3-edar",
    "1kg-phase3-slc24a5",
    "1kg-phase3-kidd-aisnps",
    "1kg-30x-apol1",
]
LARGE_IDS = ["1kg-phase3", "1kg-nygc-30x", "gnomad-hgdp-1kg", "gnomad-v4-sites"]


def _minimal_entry(**overrides) -> dict:
    entry = {
        "id": "tiny",
        "title": "Tiny",
        "description": "A tiny cohort.",
        "kind": "vcf",
        "genome_build": "GRCh38",
        "files": [{"name": "a.vcf.gz", "url": "https://example.org/a.vcf.gz", "sha256": "0" * 64}],
        "samples": {"id_column": "sample", "population_column": "pop"},
        "populations": [{"code": "A", "n_samples": 2}],
        "n_samples": 2,
        "access": "open",
        "duo": ["DUO:0000004"],
        "licence": "CC0",
        "citation": "Nobody (2026)",
        "version": "1",
    }
    entry.update(overrides)
    return entry


def _catalog_text(*entries: dict) -> str:
    return yaml.safe_dump({"catalog_version": "t", "cohorts": list(entries)}, sort_keys=False)


def test_packaged_catalog_is_valid_and_complete():
    cat = load_catalog()
    ids = [e.id for e in cat.cohorts]
    assert len(ids) == len(set(ids))
    for cid in LOCAL_IDS + LARGE_IDS:
        assert cid in ids
    assert default_catalog_path().name == "data_catalog.yaml"


@pytest.mark.parametrize("cohort_id", LOCAL_IDS)
def test_local_entries_are_fully_verifiable(cohort_id):
    entry = get_entry(cohort_id)
    assert entry.is_local
    assert entry.access == "open"
    for spec in entry.files:
        assert spec.sha256 is not None, f"{spec.name} must carry its sha256"
        assert spec.size is not None
        assert spec.url.startswith("https://")
    if entry.kind != "simulated":
        assert entry.samples.file in [f.name for f in entry.files]
    assert sum(p.n_samples for p in entry.populations) == entry.n_samples


def test_local_hashes_match_the_mirror_checksums(mirror):
    sums = {}
    for line in (mirror / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split()
        sums[Path(path).name] = digest
    checked = 0
    for cid in LOCAL_IDS:
        for spec in get_entry(cid).files:
            assert sums[spec.name] == spec.sha256, spec.name
            checked += 1
    # subset VCFs + panel, chr1 region, hapmap3, then the five slices (VCF, index, samples)
    assert checked == 23 + 1 + 3 + 4 + 5 * 3


@pytest.mark.parametrize("cohort_id", LARGE_IDS)
def test_large_public_entries_document_their_locations(cohort_id):
    entry = get_entry(cohort_id)
    assert entry.files, "a public cohort lists its files"
    for spec in entry.files:
        assert re.match(r"^(https|gs|s3)://", spec.url), spec.url
        if spec.sha256 is None:
            assert entry.notes and "first fetch" in entry.notes
    assert entry.citation and "doi" in entry.citation.lower()
    assert entry.homepage
    assert entry.duo


def test_1kg_phase3_panel_counts():
    entry = get_entry("1kg-phase3")
    assert entry.n_samples == 2504
    supers = {}
    for pop in entry.populations:
        supers[pop.superpopulation] = supers.get(pop.superpopulation, 0) + pop.n_samples
    assert supers == {"AFR": 661, "AMR": 347, "EAS": 504, "EUR": 503, "SAS": 489}
    assert len(entry.populations) == 26
    chroms = [f.name for f in entry.files if f.role == "genotypes"]
    assert any(".chr22." in n for n in chroms) and any(".chrX." in n for n in chroms)


def test_malformed_yaml_names_line():
    with pytest.raises(CatalogError, match=r"cat\.yaml:3:\d+: not valid YAML"):
        parse_catalog("catalog_version: '1'\ncohorts:\n\t- id: tab-indented\n", path="cat.yaml")


def test_schema_error_names_entry_field_and_line():
    bad = _minimal_entry(id="broken")
    bad["files"][0]["sha256"] = "abc"
    text = _catalog_text(_minimal_entry(), bad)
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, path="cat.yaml")
    msg = str(info.value)
    assert "entry 'broken'" in msg
    assert "files[0].sha256" in msg
    line = int(re.search(r"cat\.yaml:(\d+):", msg).group(1))
    assert "sha256: abc" in text.splitlines()[line - 1]


def test_typo_field_is_rejected():
    text = _catalog_text(_minimal_entry(licnce="typo"))
    with pytest.raises(CatalogError, match=r"entry 'tiny' field licnce: Extra inputs"):
        parse_catalog(text)


def test_duplicate_ids_name_both_lines():
    text = _catalog_text(_minimal_entry(), _minimal_entry())
    with pytest.raises(
        CatalogError, match=r"duplicate cohort id 'tiny' \(first defined at line \d+\)"
    ):
        parse_catalog(text)


def test_unknown_duo_code_and_inconsistent_counts():
    with pytest.raises(CatalogError, match="unknown DUO code 'DUO:9999999'"):
        parse_catalog(_catalog_text(_minimal_entry(duo=["DUO:9999999"])))
    with pytest.raises(CatalogError, match="n_samples is 3 but the populations add up to 2"):
        parse_catalog(_catalog_text(_minimal_entry(n_samples=3)))
    with pytest.raises(CatalogError, match=r"samples\.file 'x\.tsv' is not one of"):
        parse_catalog(_catalog_text(_minimal_entry(samples={"file": "x.tsv"})))


def test_not_a_mapping():
    with pytest.raises(CatalogError, match="must be a mapping"):
        parse_catalog("- just\n- a list\n")


def test_unknown_id_suggests_closest():
    with pytest.raises(CatalogError, match=r"unknown cohort id 'sim-oaa'\. Did you mean 'sim-ooa'"):
        get_entry("sim-oaa")


def test_search_filters():
    assert [e.id for e in search_catalog(population="CEU")][:1] == ["sim-ooa"]
    assert {e.id for e in search_catalog(text="hapmap")} == {"hapmap3"}
    assert all(e.access == "open" for e in search_catalog(access="open"))
    assert {e.id for e in search_catalog(access="controlled")} == {
        "sim-ooa-hmb-controlled",
        "sim-ooa-ds-controlled",
    }
    assert {e.id for e in search_catalog(kind="plink")} == {"hapmap3"}
    assert "sim-admix" in {e.id for e in search_catalog(population="admix")}
    consent_teaching = [
        e
        for e in load_catalog().cohorts
        if e.id.startswith("sim-ooa-") and e.id != "sim-ooa-withdrawals"  # NRES, a list
    ]
    assert len(consent_teaching) >= 4  # the consent-teaching entries carry other codes
    assert len(search_catalog(duo="NRES")) == len(load_catalog().cohorts) - len(consent_teaching)


def test_duo_terms_and_ancestry_gating():
    assert duo_term("NPOA").id == "DUO:0000044"
    assert duo_term("DUO:0000006").shorthand == "HMB"
    assert len(DUO_TERMS) == 23
    assert forbids_ancestry_research(["NRES"]) is None
    assert "NPOA" in forbids_ancestry_research(["GRU", "NPOA"])
    assert "HMB" in forbids_ancestry_research(["HMB"])
    assert forbids_ancestry_research(["HMB", "POA"]) is None
    with pytest.raises(KeyError, match="unknown DUO code"):
        duo_term("XYZ")


def test_catalog_table():
    table = catalog_table()
    assert list(table["id"][:2]) == ["sim-ooa", "sim-admix"]
    assert table.loc[table["id"] == "hapmap3", "n_samples"].item() == 957


def test_cli_catalog_commands(tmp_path):
    runner = CliRunner()
    out = runner.invoke(main, ["catalog", "list"])
    assert out.exit_code == 0 and "1kg-phase3-subset" in out.output
    out = runner.invoke(main, ["catalog", "list", "--json", "--population", "YRI"])
    ids = [e["id"] for e in json.loads(out.output)]
    assert "sim-ooa" in ids and "hapmap3" in ids and "sim-admix" not in ids
    out = runner.invoke(main, ["catalog", "list", "--access", "registered"])
    assert "sim-ooa-gru-registered" in out.output and "hapmap3" not in out.output
    out = runner.invoke(main, ["catalog", "show", "1kg-phase3-subset"])
    assert out.exit_code == 0
    assert "NRES" in out.output and "ACB" in out.output and "sha256 6ff95342f48f" in out.output
    out = runner.invoke(main, ["catalog", "validate"])
    n = len(load_catalog().cohorts)
    assert out.exit_code == 0 and f"valid ({n} cohorts" in out.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(_catalog_text(_minimal_entry(kind="nonsense")))
    out = runner.invoke(main, ["catalog", "validate", str(bad)])
    assert out.exit_code == 2
    assert "entry 'tiny' field kind" in out.output
    assert "Traceback" not in out.output
    out = runner.invoke(main, ["catalog", "show", "hapmap"])
    assert out.exit_code == 2 and "Did you mean 'hapmap3'" in out.output


def test_disclosure_block_is_validated():
    from genshare_widgets.disclosure import custodian_settings, policy_for

    block = {"min_count": 30, "min_variants": 2000, "epsilon_per_release_max": 0.5,
             "epsilon_budget": 5, "dp_mechanism": "laplace"}  # fmt: skip
    entry = parse_catalog(_catalog_text(_minimal_entry(access="registered", disclosure=block)))
    tiny = entry.cohorts[0]
    assert tiny.disclosure.epsilon_budget == 5.0
    settings = custodian_settings(tiny)
    assert (settings.min_count, settings.min_variants, settings.dp_mechanism) == (
        30, 2000, "laplace",
    )  # fmt: skip
    assert policy_for(tiny).min_variants == 2000
    with pytest.raises(CatalogError, match=r"disclosure.*epsilon_budjet"):
        parse_catalog(_catalog_text(_minimal_entry(disclosure={"epsilon_budjet": 5})))
    with pytest.raises(CatalogError, match="no release could ever be afforded"):
        parse_catalog(
            _catalog_text(
                _minimal_entry(disclosure={"epsilon_per_release_max": 5, "epsilon_budget": 1})
            )
        )
    with pytest.raises(CatalogError, match=r"min_cell_count .* disagree"):
        parse_catalog(
            _catalog_text(_minimal_entry(min_cell_count=10, disclosure={"min_count": 20}))
        )
    with pytest.raises(CatalogError, match="dp_mechanism"):
        parse_catalog(_catalog_text(_minimal_entry(disclosure={"dp_mechanism": "exponential"})))
    # a value the tier forbids is an error when the cohort is used, naming entry and field
    loose = parse_catalog(
        _catalog_text(_minimal_entry(access="controlled", disclosure={"epsilon_budget": 500}))
    ).cohorts[0]
    with pytest.raises(GenShareError, match=r"'tiny': disclosure\.epsilon_budget 500 .*ceiling"):
        policy_for(loose)
