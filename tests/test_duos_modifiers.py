"""DUO modifiers with their parameters (issue 17): GS, TS, MOR, RTN, COL enforced or reported,
and PUB, NPU/NCU, IRB as before, through match_purpose/check_access, open_cohort, the
``genshare`` command (files written or not), figures' layout.meta and footers.

Every cohort here is sim-ooa's recipe (one store for all), so only the terms differ. Entries
with dates in the past are built in a catalog of the test's own (``GENSHARE_CATALOG``).
"""

import json
from datetime import date

import pytest
import yaml
from click.testing import CliRunner

from genshare_widgets import CatalogError, open_cohort
from genshare_widgets.catalog import CohortEntry, get_entry, load_catalog, parse_catalog
from genshare_widgets.cli import main
from genshare_widgets.disclosure import (
    AccessDenied,
    AnalysisRefused,
    check_access,
    match_purpose,
    parse_purpose,
    permissions_summary,
)
from genshare_widgets.disclosure._modifiers import ExportRefused, check_export
from genshare_widgets.figures import figure
from genshare_widgets.plots import footer_of

GS_TS_MOR = "sim-ooa-gs-ts-mor"
RTN_COL = "sim-ooa-rtn-col"
ID = {
    "GRU": "DUO:0000042",
    "GS": "DUO:0000022",
    "TS": "DUO:0000025",
    "MOR": "DUO:0000024",
    "RTN": "DUO:0000029",
    "COL": "DUO:0000020",
    "PUB": "DUO:0000019",
    "NCU": "DUO:0000046",
    "NPU": "DUO:0000045",
    "IRB": "DUO:0000021",
}
RETURN = {"name": "Test DAC", "contact": "https://example.org/returns"}


def _entry(codes, *, terms=None, access="open", id_="sim-terms") -> CohortEntry:
    raw = get_entry("sim-ooa").model_dump(mode="json", exclude_none=True)
    raw.pop("dataset_url")  # each copy gets its own (urn:genshare:dataset:<id>)
    raw.update(id=id_, access=access, duo=[ID[c] for c in codes])
    if terms is not None:
        raw["duo_terms"] = terms
    return CohortEntry.model_validate(raw)


@pytest.fixture
def own_catalog(tmp_path, monkeypatch):
    """Write entries (CohortEntry) into a catalog of the test's own and make it the catalog."""

    def write(*entries: CohortEntry):
        raw = yaml.safe_load(load_catalog().model_dump_json())
        raw["cohorts"] = [e.model_dump(mode="json", exclude_none=True) for e in entries]
        path = tmp_path / "catalog.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        monkeypatch.setenv("GENSHARE_CATALOG", str(path))
        return path

    return write


def _invoke(*args):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def _footer(drawn: dict) -> str:
    return next(a["text"] for a in drawn["layout"]["annotations"] if a["name"] == "genshare-footer")


def _empty(folder) -> bool:
    return not folder.exists() or not any(folder.iterdir())


# --- the rules, table-driven (match_purpose on a given day) -------------------------------

DAY = date(2026, 11, 27)
CA_NZ = {"geographic_restriction": ["CA", "NZ"]}
MODIFIER_CASES = [
    # codes, duo_terms, purpose, allowed, quoted in a reason (refused) or an obligation
    (["GRU", "GS"], CA_NZ, "GRU;geo=CA", True, "(declared: CA)"),
    (["GRU", "GS"], CA_NZ, "GRU;geo=nz", True, "only in CA, NZ"),
    (["GRU", "GS"], CA_NZ, "GRU;geo=FR", False, "GS (DUO:0000022)"),
    (["GRU", "GS"], {"geographic_restriction": ["CA"]}, "GRU", False, "declare where you work"),
    (["GRU", "GS"], {"geographic_restriction": ["CA"]}, None, False, "GS (DUO:0000022)"),
    (["GRU", "GS"], None, "GRU", True, "approved geographical area"),  # no parameter: reported
    (["GRU", "TS"], {"time_limit": "2026-11-27"}, "GRU", True, "only until 2026-11-27"),
    (["GRU", "TS"], {"time_limit": "2026-11-26"}, "GRU", False, "TS (DUO:0000025)"),
    (["GRU", "TS"], {"time_limit": "2026-11-26"}, None, False, "ended on 2026-11-26"),
    (["GRU", "TS"], None, "GRU", True, "approved time limit"),
    (["GRU", "MOR"], {"publication_moratorium": "2027-01-01"}, "GRU", True, "not written to disk"),
    (
        ["GRU", "RTN"],
        {"return_to": RETURN},
        "GRU",
        True,
        "to Test DAC (https://example.org/returns)",
    ),
    (["GRU", "RTN"], None, "GRU", True, "return derived or enriched data"),
    (["GRU", "COL"], {"collaborators": "Dr A"}, "GRU;collaboration", True, "collaborate with Dr A"),
    (["GRU", "COL"], {"collaborators": "Dr A"}, "GRU", True, "declare 'collaboration'"),
    (["GRU", "PUB"], None, "GRU", True, "declare 'publish'"),
    (["GRU", "NCU"], None, "GRU;commercial", False, "NCU (DUO:0000046)"),
    (["GRU", "NPU"], None, "GRU;commercial", False, "NPU (DUO:0000045)"),
    (["GRU", "IRB"], None, "GRU", False, "IRB (DUO:0000021)"),
    (["GRU", "IRB"], None, "GRU;irb=ERC-1", True, None),
]


@pytest.mark.parametrize("codes, terms, purpose, allowed, quoted", MODIFIER_CASES)
def test_modifier_rules(codes, terms, purpose, allowed, quoted):
    entry = _entry(codes, terms=terms)
    decision = match_purpose(entry, parse_purpose(purpose) if purpose else None, today=DAY)
    assert decision.allowed is allowed, decision.reasons
    said = decision.reasons if not allowed else decision.obligations
    if quoted:
        assert any(quoted in text for text in said), said
    record = decision.record()
    for name in terms or {}:  # every parameter is recorded for provenance
        assert name in record["duo_terms"]


def test_entries_without_parameters_behave_as_before():
    plain = match_purpose(_entry(["GRU", "GS", "TS", "MOR"]), None, today=DAY)
    assert plain.allowed and plain.record()["duo_terms"] == {}
    assert len(plain.obligations) == 3
    assert match_purpose(get_entry("sim-ooa"), parse_purpose("GRU")).record()["warnings"] == []


def test_terms_need_their_code_and_valid_values():
    text = yaml.safe_dump(
        {
            "catalog_version": "t",
            "cohorts": [
                _entry(["GRU"]).model_dump(mode="json", exclude_none=True)
                | {"duo_terms": {"publication_moratorium": "2027-01-01"}}
            ],
        }
    )
    with pytest.raises(CatalogError, match=r"sim-terms.*publication_moratorium.*MOR"):
        parse_catalog(text)
    with pytest.raises(CatalogError, match=r"duo_terms.time_limit"):
        parse_catalog(
            text.replace("publication_moratorium: '2027-01-01'", "time_limit: someday").replace(
                ID["GRU"], ID["TS"]
            )
        )


def test_time_limit_refuses_at_open_and_in_analyses(own_catalog, tmp_path):
    ended = {"time_limit": "2000-01-01"}
    own_catalog(
        _entry(["GRU", "TS"], terms=ended, access="registered", id_="ts-registered"),
        _entry(["GRU", "TS"], terms=ended, id_="ts-open"),
    )
    with pytest.raises(AccessDenied, match=r"TS \(DUO:0000025\).*ended on 2000-01-01"):
        open_cohort("ts-registered", purpose="GRU")
    cohort = open_cohort("ts-open")  # open entries open; nothing is released from them
    with pytest.raises(AnalysisRefused, match=r"TS \(DUO:0000025\)"):
        figure(cohort, "representation")
    out = tmp_path / "out"
    result = _invoke("stats", "ts-open", "--het", "--by", "sex", "--out", str(out))
    assert result.exit_code == 2 and "TS (DUO:0000025)" in result.output
    assert _empty(out)


def test_geography_through_the_command(tmp_path):
    out = tmp_path / "out"
    for purpose, quoted in (("GRU", "declare where you work"), ("GRU;geo=FR", "geo=FR")):
        result = _invoke("stats", GS_TS_MOR, "--purpose", purpose, "--het", "--out", str(out))
        assert result.exit_code == 2 and "GS (DUO:0000022)" in result.output
        assert quoted in result.output
        assert _empty(out)


def test_moratorium_refuses_exports_not_viewing(tmp_path):
    cohort = open_cohort(GS_TS_MOR, purpose="GRU;geo=CA")
    fig = figure(cohort, "het", by="sex")  # viewing is allowed
    meta = fig.layout.meta["provenance"]["data_use"]
    assert meta["duo_terms"]["publication_moratorium"] == "2099-06-30"
    assert "MOR (not before 2099-06-30)" in footer_of(fig)
    with pytest.raises(ExportRefused, match=r"MOR \(DUO:0000024\).*until 2099-06-30"):
        check_export(cohort, what="a file")
    check_export(cohort, what="a file", today=date(2099, 6, 30))  # the day it ends
    for args in (
        ["stats", GS_TS_MOR, "--het", "--by", "sex"],
        ["figure", GS_TS_MOR, "--kind", "het", "--by", "sex"],
        ["assoc", GS_TS_MOR, "--pheno", "height_like"],
    ):
        out = tmp_path / ("fig.html" if args[0] == "figure" else args[0])
        result = _invoke(*args, "--purpose", "GRU;geo=CA", "--out", str(out))
        assert result.exit_code == 2 and "MOR (DUO:0000024)" in result.output, result.output
        assert not out.exists() and not list(tmp_path.glob("fig.html*"))


def test_moratorium_over_lets_files_out_and_records_it(own_catalog, tmp_path):
    own_catalog(_entry(["GRU", "MOR"], terms={"publication_moratorium": "2000-01-01"}, id_="mor"))
    out = tmp_path / "out"
    result = _invoke("stats", "mor", "--het", "--by", "sex", "--out", str(out))
    assert result.exit_code == 0, result.output
    access = json.loads((out / "provenance.json").read_text())["access"]
    assert access["duo_terms"] == {"publication_moratorium": "2000-01-01"}
    assert any(o.startswith("MOR (DUO:0000024)") for o in access["obligations"])
    assert not (out / "RETURN.md").exists()  # no RTN: no return manifest


def test_return_bundle_of_stats(tmp_path):
    from genshare_widgets._hashing import sha256_file

    purpose = ["--purpose", "GRU;publish;collaboration"]
    out = tmp_path / "stats"
    result = _invoke("stats", RTN_COL, *purpose, "--het", "--by", "sex", "--out", str(out))
    assert result.exit_code == 0, result.output
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["return_to"]["contact"] == "https://example.org/genshare/returns"
    manifest = (out / "RETURN.md").read_text()
    for name in ("het.tsv", "provenance.json"):
        assert f"`{name}` {sha256_file(out / name)}" in manifest
    assert "RTN (DUO:0000029)" in manifest and "COL (DUO:0000020)" in manifest


def test_return_bundle_of_an_association(tmp_path):
    from genshare_widgets._hashing import sha256_file

    purpose = ["--purpose", "GRU;publish;collaboration"]
    gwas = tmp_path / "gwas"
    result = _invoke("assoc", RTN_COL, *purpose, "--pheno", "height_like", "--out", str(gwas))
    assert result.exit_code == 0, result.output
    assert json.loads((gwas / "provenance.json").read_text())["return_to"]["name"]
    assert f"`assoc.tsv` {sha256_file(gwas / 'assoc.tsv')}" in (gwas / "RETURN.md").read_text()


def test_return_bundle_of_a_figure(tmp_path):
    from genshare_widgets._hashing import sha256_file

    purpose = ["--purpose", "GRU;publish;collaboration"]
    fig = tmp_path / "het.json"
    result = _invoke("figure", RTN_COL, *purpose, "--kind", "het", "--by", "sex", "--out", str(fig))
    assert result.exit_code == 0, result.output
    drawn = json.loads(fig.read_text())
    data_use = drawn["layout"]["meta"]["provenance"]["data_use"]
    assert data_use["duo_terms"]["collaborators"].startswith("the simulated study's")
    footer = _footer(drawn)
    assert "DUO obligations: PUB, COL, RTN (to GenShare teaching data access committee" in footer
    side = json.loads((tmp_path / "het.json.provenance.json").read_text())
    assert side["return_to"]["name"].startswith("GenShare teaching")
    assert side["data_use"]["obligations"] == data_use["obligations"]
    returned = (tmp_path / "het.json.RETURN.md").read_text()
    assert f"`het.json` {sha256_file(fig)}" in returned


def test_catalog_show_and_summary_name_the_parameters():
    lines = permissions_summary(get_entry(GS_TS_MOR))
    assert "purposes permitted: GRU, HMB, DS, POA, MDS" in lines  # the codes alone
    assert any("working in CA, NZ" in line for line in lines)
    result = _invoke("catalog", "show", RTN_COL)
    assert result.exit_code == 0
    assert "RTN (DUO:0000029): return derived or enriched data" in result.output
    assert "https://example.org/genshare/returns" in result.output


def test_check_access_uses_the_day_given():
    entry = get_entry(GS_TS_MOR)
    assert check_access(entry, purpose="GRU;geo=CA", today=date(2099, 12, 31)).allowed
    with pytest.raises(AccessDenied, match=r"TS \(DUO:0000025\)"):
        check_access(entry, purpose="GRU;geo=CA", today=date(2100, 1, 1))


def test_build_figure_refuses_under_refused_terms(own_catalog):
    own_catalog(_entry(["GRU", "GS"], terms={"geographic_restriction": ["CA"]}, id_="gs-open"))
    cohort = open_cohort("gs-open", purpose="GRU;geo=FR")
    for kind in ("representation", "het"):
        with pytest.raises(AnalysisRefused, match=r"GS \(DUO:0000022\)"):
            figure(cohort, kind, by="sex")


@pytest.mark.parametrize(
    ("command", "options", "written"),
    [
        ("famous", ["--by", "population"], "famous.tsv"),
        ("ld-prune", ["--window", "50", "--step", "5", "--r2", "0.2"], "prune.in"),
        (
            "scan",
            ["--stat", "pbs", "--by", "population", "--groups", "YRI,CEU,CHB", "--window", "100"],
            "scan.tsv",
        ),
    ],
)
def test_return_bundle_of_the_new_commands(tmp_path, command, options, written):
    """famous, ld-prune and scan write their provenance through the one writer: under RTN it
    names the return address and RETURN.md lists the files with their sha256."""
    from genshare_widgets._hashing import sha256_file

    out = tmp_path / command
    purpose = ["--purpose", "GRU;publish;collaboration"]
    result = _invoke(command, RTN_COL, *purpose, *options, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "provenance.json").read_text())["return_to"]["name"]
    assert f"`{written}` {sha256_file(out / written)}" in (out / "RETURN.md").read_text()
