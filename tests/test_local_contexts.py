"""Local Contexts labels and notices (issue 17): catalog fields validated, each rule enforced
or reported through check_access/open_cohort, the ``genshare`` command, figure footers and
layout.meta, the catalog browser and ``genshare catalog show``.

The teaching entries carry ILLUSTRATIVE labels of a fictional community on simulated data.
"""

import json
import re

import pytest
import yaml
from click.testing import CliRunner

from genshare_widgets import CatalogError, GenShareError, open_cohort
from genshare_widgets.catalog import (
    LABEL_TYPES,
    CohortEntry,
    get_entry,
    label_type,
    parse_catalog,
)
from genshare_widgets.cli import main
from genshare_widgets.disclosure import (
    AccessDenied,
    AnalysisRefused,
    check_access,
    load_credential,
    match_purpose,
    parse_purpose,
)
from genshare_widgets.figures import figure
from genshare_widgets.plots import footer_of

LABELS = "sim-ooa-lc-labels"
COMMUNITY_ONLY = "sim-ooa-lc-community"
FICTIONAL = "Example Community (fictional, for teaching)"
OTHER = "Another Community"


def _entry(labels, *, access="open") -> CohortEntry:
    raw = get_entry("sim-ooa").model_dump(mode="json", exclude_none=True)
    raw.pop("dataset_url")  # each copy gets its own (urn:genshare:dataset:<id>)
    raw.update(id="sim-labelled", access=access, duo=["DUO:0000042"], local_contexts=labels)
    return CohortEntry.model_validate(raw)


def _label(kind, community=FICTIONAL, **extra):
    return {"type": kind, "community": community, **extra}


def _credential(path, *, cohorts=(COMMUNITY_ONLY,), communities=(FICTIONAL,), expires="2099-12-31"):
    approval = {
        "cohorts": list(cohorts),
        "project": "Indigenous data governance teaching",
        "purpose": "GRU;non-commercial",
        "expires": expires,
    }
    if communities is not None:
        approval["communities"] = list(communities)
    path.write_text(yaml.safe_dump({"holder": "A. Researcher", "approvals": [approval]}))
    return path


def _invoke(*args):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result


# --- the vocabulary and the catalog fields ------------------------------------------------


def test_label_types_are_the_published_ones():
    for name in (
        "TK Attribution",
        "TK Non-Commercial",
        "TK Community Use Only",
        "BC Provenance",
        "BC Consent Non-Verified",
        "BC Research Use",
        "BC Non-Commercial",
        "BC Outreach",
        "BC Multiple Communities",
        "BC Clan",
        "Attribution Incomplete Notice",
        "BC Notice",
        "TK Notice",
        "Open to Collaborate Notice",
    ):
        assert name in LABEL_TYPES
    assert label_type("TK NC").name == "TK Non-Commercial"
    assert label_type("bc consent non verified").code == "BC CNV"
    assert label_type("Open to Collaboration Notice").name == "Open to Collaborate Notice"
    assert label_type("TK CO").page == "https://localcontexts.org/label/tk-community-use-only/"
    with pytest.raises(KeyError, match="unknown Local Contexts label type 'TK Magic'"):
        label_type("TK Magic")


def _catalog_with(labels) -> str:
    raw = get_entry("sim-ooa").model_dump(mode="json", exclude_none=True)
    raw.pop("dataset_url")  # each copy gets its own (urn:genshare:dataset:<id>)
    raw.update(id="sim-labelled", local_contexts=labels)
    return yaml.safe_dump({"catalog_version": "t", "cohorts": [raw]}, sort_keys=False)


@pytest.mark.parametrize(
    "labels, message",
    [
        (
            [_label("TK Non-Commercial"), _label("TK Magic")],
            r"<catalog>:\d+: entry 'sim-labelled' field local_contexts\[1\]\.type: .*unknown "
            r"Local Contexts label type 'TK Magic'",
        ),
        ([{"type": "BC Provenance"}], r"local_contexts\[0\].*name it in 'community'"),
        ([_label("TK A", url="ftp://x")], r"local_contexts\[0\]\.url"),
        ([_label("TK A", colour="red")], r"local_contexts\[0\]\.colour"),
    ],
)
def test_bad_labels_are_errors_naming_entry_and_field(labels, message):
    with pytest.raises(CatalogError, match=message):
        parse_catalog(_catalog_with(labels))


def test_notices_need_no_community_and_codes_are_normalised():
    entry = _entry([{"type": "TK Notice"}, _label("bc p", project_id="abc-123")])
    assert [label.type for label in entry.local_contexts] == ["TK Notice", "BC Provenance"]
    record = entry.local_contexts[1].record()
    assert record["project_id"] == "abc-123" and record["rule"] == "attribution"
    assert record["url"] == "https://localcontexts.org/label/bc-provenance/"


# --- the rules, table-driven ---------------------------------------------------------------

LABEL_CASES = [
    # label, purpose, approving communities, allowed, quoted in reasons/obligations/warnings
    ("TK Non-Commercial", "GRU;commercial", None, False, f"TK Non-Commercial (TK NC), {FICTIONAL}"),
    ("TK Non-Commercial", "GRU", None, True, None),
    ("BC Non-Commercial", "GRU;commercial", None, False, f"BC Non-Commercial (BC NC), {FICTIONAL}"),
    ("BC Research Use", "GRU;commercial", None, False, "no permission for commercialization"),
    ("BC Research Use", "POA", None, True, None),
    ("TK Community Use Only", "GRU", None, False, f"needs the approval of {FICTIONAL}"),
    ("TK Community Use Only", "GRU", {OTHER}, False, "TK Community Use Only (TK CO)"),
    ("TK Community Use Only", "GRU", {FICTIONAL}, True, f"use approved by {FICTIONAL}"),
    ("TK Community Use Only", None, {FICTIONAL.upper()}, True, "use approved by"),
    ("BC Multiple Communities", "GRU", None, False, "BC Multiple Communities (BC MC)"),
    ("TK Secret / Sacred", "GRU", None, False, "TK Secret / Sacred (TK SS)"),
    ("BC Consent Non-Verified", "GRU", None, True, "BC Consent Non-Verified (BC CNV)"),
    ("TK Attribution", "GRU", None, True, f"TK Attribution (TK A), {FICTIONAL}: attribute"),
    ("BC Provenance", "GRU;commercial", None, True, "BC Provenance (BC P)"),
    ("BC Outreach", "GRU;commercial", None, True, None),
    ("TK Notice", "GRU;commercial", None, True, None),
]


@pytest.mark.parametrize("kind, purpose, communities, allowed, quoted", LABEL_CASES)
def test_label_rules(kind, purpose, communities, allowed, quoted):
    entry = _entry([_label(kind) if "Notice" not in kind else {"type": kind}])
    declared = parse_purpose(purpose) if purpose else None
    decision = match_purpose(entry, declared, communities=communities)
    assert decision.allowed is allowed, decision.reasons
    said = [*decision.reasons, *decision.obligations, *decision.warnings]
    if quoted:
        assert any(quoted in text for text in said), said
    if label_type(kind).rule == "consent_non_verified":
        assert decision.warnings and decision.allowed
    else:
        assert not decision.warnings
    assert [r["type"] for r in decision.record()["local_contexts"]] == [label_type(kind).name]


# --- community approval through the credential -------------------------------------------


def test_community_approval_comes_from_the_credential(tmp_path, monkeypatch):
    monkeypatch.delenv("GENSHARE_CREDENTIAL", raising=False)
    with pytest.raises(AccessDenied, match=r"TK Community Use Only \(TK CO\), Example Community"):
        open_cohort(COMMUNITY_ONLY, purpose="GRU")
    other = _credential(tmp_path / "other.yaml", communities=(OTHER,))
    listed = rf"credential {other}.*communities: \[{re.escape(FICTIONAL)}\]"
    with pytest.raises(AccessDenied, match=listed):
        check_access(get_entry(COMMUNITY_ONLY), purpose="GRU", credential=other)
    expired = _credential(tmp_path / "old.yaml", expires="2001-01-01")
    with pytest.raises(AccessDenied, match="TK Community Use Only"):
        check_access(get_entry(COMMUNITY_ONLY), purpose="GRU", credential=expired)
    good = _credential(tmp_path / "good.yaml")
    assert load_credential(good).approvals[0].communities == (FICTIONAL,)
    cohort = open_cohort(COMMUNITY_ONLY, purpose="GRU", credential=good)
    access = cohort.provenance["access"]
    assert any(f"use approved by {FICTIONAL}" in o for o in access["obligations"])
    with pytest.raises(AccessDenied, match=r"BC Research Use \(BC R\)"):
        open_cohort(COMMUNITY_ONLY, purpose="GRU;commercial", credential=good)


def test_credential_communities_field_is_checked(tmp_path):
    bad = tmp_path / "bad.yaml"
    _credential(bad)
    raw = yaml.safe_load(bad.read_text())
    raw["approvals"][0]["communities"] = "Example"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(GenShareError, match=r"approvals\[0\]\.communities"):
        load_credential(bad)
    assert (
        load_credential(_credential(tmp_path / "none.yaml", communities=None))
        .approvals[0]
        .communities
        == ()
    )


def test_cli_refuses_without_approval_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    result = _invoke("stats", COMMUNITY_ONLY, "--purpose", "GRU", "--het", "--out", str(out))
    assert result.exit_code == 2 and "TK Community Use Only (TK CO)" in result.output
    assert FICTIONAL in result.output
    assert not out.exists() or not any(out.iterdir())
    cred = _credential(tmp_path / "cred.yaml")
    result = _invoke(
        "stats", COMMUNITY_ONLY, "--purpose", "GRU", "--credential", str(cred),
        "--het", "--by", "sex", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    access = json.loads((out / "provenance.json").read_text())["access"]
    assert {r["type"] for r in access["local_contexts"]} == {
        "TK Community Use Only",
        "BC Research Use",
        "TK Notice",
    }


# --- non-commercial, consent non-verified, attribution in every output ----------------------


def test_non_commercial_label_refuses_a_commercial_purpose(tmp_path):
    cohort = open_cohort(LABELS, purpose="GRU;commercial")  # open: opens, releases nothing
    quoted = rf"TK Non-Commercial \(TK NC\), {re.escape(FICTIONAL)}"
    with pytest.raises(AnalysisRefused, match=quoted):
        figure(cohort, "het", by="sex")
    fig = tmp_path / "het.html"
    result = _invoke(
        "figure", LABELS, "--purpose", "GRU;commercial", "--kind", "het", "--by", "sex",
        "--out", str(fig),
    )  # fmt: skip
    assert result.exit_code == 2 and "TK Non-Commercial (TK NC)" in result.output
    assert not list(tmp_path.iterdir())


def test_labels_travel_into_stats_assoc_and_figures(tmp_path):
    out = tmp_path / "stats"
    result = _invoke("stats", LABELS, "--het", "--by", "sex", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "genshare: warning: BC Consent Non-Verified (BC CNV)" in result.output
    access = json.loads((out / "provenance.json").read_text())["access"]
    assert access["warnings"] and "BC Consent Non-Verified" in access["warnings"][0]
    assert any(o.startswith("TK Attribution (TK A)") for o in access["obligations"])
    gwas = tmp_path / "gwas"
    result = _invoke("assoc", LABELS, "--pheno", "height_like", "--out", str(gwas))
    assert result.exit_code == 0, result.output
    assert "BC Consent Non-Verified" in result.output
    assoc = json.loads((gwas / "provenance.json").read_text())["access"]
    assert [r["type"] for r in assoc["local_contexts"]] == [
        r["type"] for r in access["local_contexts"]
    ]
    fig = tmp_path / "het.json"
    result = _invoke("figure", LABELS, "--kind", "het", "--by", "sex", "--out", str(fig))
    assert result.exit_code == 0 and "BC Consent Non-Verified" in result.output
    drawn = json.loads(fig.read_text())
    data_use = drawn["layout"]["meta"]["provenance"]["data_use"]
    assert {r["code"] for r in data_use["local_contexts"]} >= {"BC P", "TK A", "BC CNV"}
    footer = next(a["text"] for a in drawn["layout"]["annotations"] if a["name"].endswith("footer"))
    assert "⚠ BC Consent Non-Verified (BC CNV)" in footer
    labels = f"Local Contexts: {FICTIONAL}: BC P, TK A, TK NC, BC CNV; Attribution Incomplete"
    assert labels in footer
    side = json.loads((tmp_path / "het.json.provenance.json").read_text())
    assert side["data_use"]["warnings"] == data_use["warnings"]


def test_footer_of_a_figure_built_in_python_and_plain_entries_unchanged(sim_ooa):
    fig = figure(open_cohort(LABELS), "het", by="sex")
    assert "Local Contexts:" in footer_of(fig) and "⚠ BC Consent Non-Verified" in footer_of(fig)
    plain = figure(sim_ooa, "het", by="sex")
    assert "data_use" not in plain.layout.meta["provenance"]
    assert "<br>" not in footer_of(plain)


def test_catalog_show_browser_and_explorer_banner(sim_ooa):
    result = _invoke("catalog", "show", LABELS)
    assert result.exit_code == 0
    text = result.output
    assert "Local Contexts labels and notices:" in text
    assert f"TK Non-Commercial (TK NC), {FICTIONAL} — refuses a commercial purpose" in text
    assert "https://localcontexts.org/label/bc-consent-non-verified/" in text
    pytest.importorskip("ipywidgets")
    from genshare_widgets.widgets._catalog_browser import entry_details_html
    from genshare_widgets.widgets._data_use_banner import data_use_banner_html

    html = entry_details_html(get_entry(LABELS))
    assert "Local Contexts labels and notices" in html and "genshare-data-use-warning" in html
    assert "TK Non-Commercial (TK NC)" in html
    html = entry_details_html(get_entry(COMMUNITY_ONLY), purpose="GRU")
    assert "refused" in html and "TK Community Use Only" in html
    banner = data_use_banner_html(open_cohort(LABELS).provenance["access"])
    assert "genshare-data-use-warning" in banner and "Local Contexts:" in banner
    assert data_use_banner_html(sim_ooa.provenance.get("access")) == ""
