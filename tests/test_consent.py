"""Consent and access: declared purpose, credentials, DUO matching, and the analysis gate.

The four consent-teaching entries reuse sim-ooa's recipe (one store for all); only their
access tier and DUO codes differ, so every refusal here comes from the codes.
"""

import json
import os
import re
from datetime import date, timedelta

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from genshare_widgets import CatalogError, GenShareError, open_cohort
from genshare_widgets.catalog import CohortEntry, get_entry, parse_catalog
from genshare_widgets.cli import main
from genshare_widgets.counts import allele_counts_by_group
from genshare_widgets.disclosure import (
    AccessDenied,
    AnalysisRefused,
    Purpose,
    check_access,
    declared_purpose,
    governing_entry,
    is_ancestry_grouping,
    load_credential,
    match_purpose,
    parse_purpose,
    permissions_summary,
)
from genshare_widgets.samples import pca

HMB = "sim-ooa-hmb-controlled"
DS = "sim-ooa-ds-controlled"
GRU = "sim-ooa-gru-registered"
NPOA = "sim-ooa-npoa"
HMB_PURPOSE = "HMB;non-commercial;irb=IRB-2026-017;publish"


def _credential(path, *, cohorts=(HMB,), purpose=HMB_PURPOSE, expires="2099-12-31", **extra):
    approval = {"cohorts": list(cohorts), "project": "Height teaching", "purpose": purpose}
    if expires is not None:
        approval["expires"] = expires
    data = {"holder": "A. Researcher", "approvals": [approval], **extra}
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="session")
def cred_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("credentials")


@pytest.fixture(scope="session")
def hmb_cohort(cred_dir):
    return open_cohort(HMB, credential=_credential(cred_dir / "hmb.yaml"))


@pytest.fixture(scope="session")
def npoa_cohort():
    return open_cohort(NPOA)


@pytest.fixture(scope="session")
def gru_cohort():
    return open_cohort(GRU, purpose="GRU;publish;project=Teaching")


@pytest.fixture(scope="session")
def sample_tables(tmp_path_factory, npoa_cohort):
    """--samples variants: a renamed copy of the population column, a super-population
    coarsening under another name, and a case/control split of the phenotype."""
    folder = tmp_path_factory.mktemp("samples")
    s = npoa_cohort.samples
    supers = {p.code: p.superpopulation for p in npoa_cohort.entry.populations}
    table = pd.DataFrame(
        {
            "sample": s.index,
            "origin": s["population"].to_numpy(),
            "continent": s["population"].map(supers).to_numpy(),
            "status": (s["height_like"] > s["height_like"].median()).map(
                {True: "case", False: "control"}
            ),
        }
    )
    path = folder / "samples.tsv"
    table.to_csv(path, sep="\t", index=False)
    return path


# --- declared purpose ----------------------------------------------------------------------


def test_parse_purpose_forms():
    p = parse_purpose("HMB;non-commercial;irb=IRB-2026-017;publish;collaboration;project=X Y")
    assert (p.primary, p.commercial, p.irb, p.publish, p.collaboration, p.project) == (
        "HMB",
        False,
        "IRB-2026-017",
        True,
        True,
        "X Y",
    )
    ds = parse_purpose("ds:mondo:0005148;commercial")
    assert (ds.primary, ds.disease, ds.commercial) == ("DS", "MONDO:0005148", True)
    assert parse_purpose(ds.to_text()) == ds
    assert parse_purpose("poa").primary == "POA"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty research purpose"),
        ("ANCESTRY", "unknown research purpose 'ANCESTRY'"),
        ("DS", "needs the disease as a MONDO id"),
        ("DS:diabetes", "needs the disease as a MONDO id"),
        ("HMB;irb", "cannot read 'irb'"),
        ("HMB;for-profit", "cannot read 'for-profit'"),
    ],
)
def test_parse_purpose_errors_say_how_to_write_it(text, message):
    with pytest.raises(GenShareError, match=message):
        parse_purpose(text, where="--purpose")


def test_declared_purpose_sources(monkeypatch):
    monkeypatch.delenv("GENSHARE_PURPOSE", raising=False)
    assert declared_purpose() is None
    monkeypatch.setenv("GENSHARE_PURPOSE", "GRU;publish")
    assert declared_purpose().primary == "GRU"
    assert declared_purpose("POA").primary == "POA"  # the explicit argument wins
    monkeypatch.setenv("GENSHARE_PURPOSE", "nonsense")
    with pytest.raises(GenShareError, match="GENSHARE_PURPOSE: unknown research purpose"):
        declared_purpose()


# --- credentials ---------------------------------------------------------------------------


def test_credential_yaml_and_json(tmp_path):
    cred = load_credential(_credential(tmp_path / "c.yaml"))
    approval = cred.approval_for(HMB)
    assert cred.holder == "A. Researcher"
    assert approval.expires == date(2099, 12, 31) and approval.purpose.irb == "IRB-2026-017"
    assert approval.purpose.project == "Height teaching"
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            {
                "holder": "B",
                "approvals": [
                    {
                        "cohort": DS,
                        "project": "T2D",
                        "purpose": {"primary": "DS", "disease": "MONDO:0005148"},
                    }
                ],
            }
        )
    )
    assert load_credential(path).approval_for(DS).purpose.disease == "MONDO:0005148"


@pytest.mark.parametrize(
    "content, message",
    [
        ("holder: [unclosed", "not valid YAML/JSON"),
        ("- a list", "must be a mapping"),
        ("approvals: []", "field 'holder'"),
        ("holder: A\napprovals: []", "field 'approvals' must be a non-empty list"),
        ("holder: A\napprovals: [{project: P, purpose: HMB}]", r"approvals\[0\]\.cohorts"),
        ("holder: A\napprovals: [{cohorts: [x], purpose: HMB}]", r"approvals\[0\]\.project"),
        ("holder: A\napprovals: [{cohorts: [x], project: P}]", r"approvals\[0\]\.purpose"),
        ("holder: A\napprovals: [{cohorts: [x], project: P, purpose: XYZ}]", "unknown research"),
        (
            "holder: A\napprovals: [{cohorts: [x], project: P, purpose: HMB, expires: soon}]",
            r"approvals\[0\]\.expires: 'soon' is not YYYY-MM-DD",
        ),
        ("holder: A\ntoken: s3cr3t\napprovals: []", r"unknown field\(s\) \['token'\]"),
    ],
)
def test_malformed_credential_names_file_and_field(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(GenShareError, match=message) as info:
        load_credential(path)
    assert str(path) in str(info.value)


def test_credential_missing_expired_and_other_cohort(tmp_path):
    with pytest.raises(GenShareError, match=r"credential file .*nope\.yaml does not exist"):
        load_credential(tmp_path / "nope.yaml")
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    old = load_credential(_credential(tmp_path / "old.yaml", expires=yesterday))
    with pytest.raises(AccessDenied, match=f"expired on {yesterday}. Renew"):
        old.approval_for(HMB)
    other = load_credential(_credential(tmp_path / "other.yaml", cohorts=["sim-admix"]))
    with pytest.raises(AccessDenied, match=f"no approval for cohort '{HMB}'.*sim-admix"):
        other.approval_for(HMB)


# --- the matching table --------------------------------------------------------------------


def _entry(duo, *, access="open", disease=None) -> CohortEntry:
    return CohortEntry.model_validate(
        {
            "id": "tiny",
            "title": "Tiny",
            "description": "A tiny cohort.",
            "kind": "vcf",
            "genome_build": "GRCh38",
            "files": [{"name": "a.vcf.gz", "url": "https://example.org/a.vcf.gz"}],
            "samples": {"id_column": "sample"},
            "populations": [{"code": "A"}],
            "access": access,
            "duo": duo,
            "duo_disease": disease,
            "licence": "CC0",
            "citation": "Nobody (2026)",
            "version": "1",
        }
    )


T2D = "MONDO:0005148"
MATCHING = [  # entry codes, purpose, allowed, code quoted in the refusal
    (["NRES"], "POA;commercial", True, None),
    (["GRU"], "POA", True, None),
    (["GRU"], "GRU", True, None),
    (["GRU"], "MDS;commercial", True, None),
    (["HMB"], "HMB", True, None),
    (["HMB"], f"DS:{T2D}", True, None),
    (["HMB"], "MDS", True, None),
    (["HMB"], "POA", False, "HMB (DUO:0000006)"),
    (["HMB"], "GRU", False, "HMB (DUO:0000006)"),
    (["DS"], f"DS:{T2D}", True, None),
    (["DS"], "DS:MONDO:0004992", False, "DS (DUO:0000007)"),
    (["DS"], "HMB", False, "DS (DUO:0000007)"),
    (["DS"], "POA", False, "DS (DUO:0000007)"),
    (["POA"], "POA", True, None),
    (["POA"], "HMB", False, "POA (DUO:0000011)"),
    (["GRU", "NPOA"], "GRU", True, None),
    (["GRU", "NPOA"], "POA", False, "NPOA (DUO:0000044)"),
    (["GRU", "NCU"], "GRU;non-commercial", True, None),
    (["GRU", "NCU"], "GRU;commercial", False, "NCU (DUO:0000046)"),
    (["GRU", "NPUNCU"], "GRU;commercial", False, "NPUNCU (DUO:0000018)"),
    (["GRU", "NPU"], "GRU;commercial", False, "NPU (DUO:0000045)"),
    (["GRU", "IRB"], "GRU;irb=ERC-12", True, None),
    (["GRU", "IRB"], "GRU", False, "IRB (DUO:0000021)"),
    (["GRU", "NMDS"], "MDS", False, "NMDS (DUO:0000015)"),
    (["GRU", "NMDS"], "GRU", True, None),
    (["GRU", "PUB"], "GRU", True, None),
    (["GRU", "COL", "RTN", "MOR"], "GRU", True, None),
]


@pytest.mark.parametrize("codes, purpose, allowed, quoted", MATCHING)
def test_matching_table(codes, purpose, allowed, quoted):
    entry = _entry(codes, disease=T2D if "DS" in codes else None)
    decision = match_purpose(entry, parse_purpose(purpose))
    assert decision.allowed is allowed, decision.reasons
    if quoted:
        assert any(r.startswith(quoted) for r in decision.reasons), decision.reasons
    else:
        assert decision.reasons == ()


def test_obligations_are_reported_not_refused():
    decision = match_purpose(_entry(["GRU", "PUB", "COL", "RTN", "MOR"]), parse_purpose("GRU"))
    text = " ".join(decision.obligations)
    for code in (
        "PUB (DUO:0000019)",
        "COL (DUO:0000020)",
        "RTN (DUO:0000029)",
        "MOR (DUO:0000024)",
    ):
        assert code in text
    assert "declare 'publish'" in text
    published = match_purpose(_entry(["GRU", "PUB"]), parse_purpose("GRU;publish"))
    assert "declare 'publish'" not in " ".join(published.obligations)


def test_schema_ds_needs_a_disease():
    entry = _entry(["DS"], disease=T2D)
    assert entry.duo_disease == T2D
    text = yaml.safe_dump(
        {"catalog_version": "t", "cohorts": [_entry(["GRU"]).model_dump(mode="json")]}
    )
    with pytest.raises(CatalogError, match=r"DS .* needs the disease"):
        parse_catalog(text.replace("DUO:0000042", "DUO:0000007"))
    with pytest.raises(CatalogError, match="duo_disease"):
        parse_catalog(text.replace("duo_disease: null", "duo_disease: diabetes"))


def test_catalog_entries_exercise_each_case():
    assert (get_entry(GRU).access, get_entry(GRU).duo) == (
        "registered",
        ["DUO:0000042", "DUO:0000019"],
    )
    assert get_entry(HMB).access == "controlled"
    assert get_entry(HMB).duo == ["DUO:0000006", "DUO:0000021", "DUO:0000046"]
    assert get_entry(NPOA).duo == ["DUO:0000042", "DUO:0000044"]
    assert (get_entry(DS).access, get_entry(DS).duo_disease) == ("controlled", T2D)
    recipe = get_entry("sim-ooa").simulation
    for cid in (GRU, HMB, NPOA, DS):
        assert get_entry(cid).simulation == recipe
        assert "same simulated genotypes as sim-ooa" in get_entry(cid).description
    lines = permissions_summary(get_entry(HMB))
    assert "purposes permitted: HMB, DS, MDS" in lines
    assert any("IRB (DUO:0000021)" in line for line in lines)


# --- access enforcement in open_cohort -----------------------------------------------------


def test_registered_entry_needs_a_matching_purpose(gru_cohort, monkeypatch):
    monkeypatch.delenv("GENSHARE_PURPOSE", raising=False)
    with pytest.raises(AccessDenied, match=f"cohort '{GRU}' is registered.*--purpose"):
        open_cohort(GRU)
    record = gru_cohort.provenance["access"]
    assert record["tier"] == "registered" and record["allowed"]
    assert record["project"] == "Teaching" and record["purpose"].startswith("GRU")
    assert any("PUB (DUO:0000019)" in o for o in record["obligations"])
    monkeypatch.setenv("GENSHARE_PURPOSE", "POA")  # GRU includes ancestry research
    assert open_cohort(GRU).provenance["access"]["purpose"] == "POA;non-commercial"


def test_controlled_entry_needs_a_credential(cred_dir, monkeypatch, hmb_cohort):
    monkeypatch.delenv("GENSHARE_CREDENTIAL", raising=False)
    with pytest.raises(AccessDenied, match=f"'{HMB}' is controlled.*--credential FILE"):
        open_cohort(HMB)
    with pytest.raises(AccessDenied, match="controlled"):
        open_cohort(HMB, purpose=HMB_PURPOSE)  # a purpose alone is not an approval
    record = hmb_cohort.provenance["access"]
    assert record["credential_holder"] == "A. Researcher"
    assert record["project"] == "Height teaching" and record["allowed"]
    assert "IRB-2026-017" in record["purpose"]
    monkeypatch.setenv("GENSHARE_CREDENTIAL", str(_credential(cred_dir / "env.yaml")))
    assert open_cohort(HMB).provenance["access"]["tier"] == "controlled"


@pytest.mark.parametrize(
    "purpose, cohorts, expires, message",
    [
        ("HMB;commercial;irb=IRB-1", (HMB,), "2099-01-01", r"NCU \(DUO:0000046\)"),
        ("HMB;non-commercial", (HMB,), "2099-01-01", r"IRB \(DUO:0000021\)"),
        ("POA;irb=IRB-1", (HMB,), "2099-01-01", r"HMB \(DUO:0000006\)"),
        (HMB_PURPOSE, ("sim-admix",), "2099-01-01", f"no approval for cohort '{HMB}'"),
        (HMB_PURPOSE, (HMB,), "2020-01-01", "expired on 2020-01-01"),
    ],
)
def test_controlled_entry_refuses_bad_approvals(tmp_path, purpose, cohorts, expires, message):
    cred = _credential(tmp_path / "c.yaml", cohorts=cohorts, purpose=purpose, expires=expires)
    with pytest.raises(AccessDenied, match=message):
        open_cohort(HMB, credential=cred)


def test_declared_purpose_must_be_the_approved_one(cred_dir):
    with pytest.raises(AccessDenied, match="not the approved purpose"):
        open_cohort(HMB, purpose="MDS;irb=IRB-1", credential=cred_dir / "hmb.yaml")


def test_ds_entry_opens_only_for_its_disease(tmp_path):
    good = _credential(tmp_path / "t2d.yaml", cohorts=[DS], purpose=f"DS:{T2D}")
    assert open_cohort(DS, credential=good).provenance["access"]["allowed"]
    cancer = _credential(tmp_path / "cancer.yaml", cohorts=[DS], purpose="DS:MONDO:0004992")
    with pytest.raises(AccessDenied, match=r"DS \(DUO:0000007\): use must be related to MONDO"):
        open_cohort(DS, credential=cancer)


def test_open_entry_and_own_files_are_not_gated(npoa_cohort, sim_ooa):
    assert npoa_cohort.provenance["access"]["allowed"]
    assert npoa_cohort.provenance["access"]["ancestry_research"] == "forbidden"
    # the teaching entries share sim-ooa's store, and sim-ooa is open: the store by path is free
    assert npoa_cohort.store_path == sim_ooa.store_path
    assert governing_entry(npoa_cohort.store_path) is None
    by_path = open_cohort(str(npoa_cohort.store_path))
    assert by_path.entry is None and "access" not in by_path.provenance


def test_a_store_keeps_its_gated_entry_terms(tmp_path):
    store = tmp_path / "x.vcz"
    store.mkdir()
    for source, terms, gated in [
        (NPOA, None, True),
        (HMB, {"access": "controlled", "duo": ["DUO:0000006"]}, True),
        ("sim-ooa", {"access": "open", "duo": ["DUO:0000004"]}, False),
        ("/home/me/my.vcf.gz", None, False),
    ]:
        record = {"key": "k", "source": source, **({"terms": terms} if terms else {})}
        (store / ".zattrs").write_text(json.dumps({"genshare_provenance": record}))
        assert (governing_entry(store) is not None) is gated, source
    (store / ".zattrs").write_text(json.dumps({"genshare_provenance": {"source": HMB}}))
    assert governing_entry(store).id == HMB  # not shared with an open entry: its terms hold


# --- the analysis gate ---------------------------------------------------------------------


@pytest.mark.parametrize("which", ["npoa", "hmb"])
def test_ancestry_groupings_are_refused(which, npoa_cohort, hmb_cohort, sample_tables, cred_dir):
    cohort = npoa_cohort if which == "npoa" else hmb_cohort
    code = re.escape("NPOA (DUO:0000044)" if which == "npoa" else "HMB (DUO:0000006)")
    for by in ("population", "superpopulation"):
        with pytest.raises(AnalysisRefused, match=rf"refuses per-population.*{code}"):
            allele_counts_by_group(cohort, by=by)
    with pytest.raises(AnalysisRefused, match=code):
        pca(cohort, k=2, by="population")
    cred = cred_dir / "hmb.yaml" if which == "hmb" else None
    relabelled = open_cohort(cohort.id, samples=sample_tables, credential=cred)
    for by in ("origin", "continent"):  # a renamed copy, a coarsening: still ancestry
        with pytest.raises(AnalysisRefused, match=code):
            allele_counts_by_group(relabelled, by=by)
    mapping = relabelled.samples["origin"].rename("mine")
    with pytest.raises(AnalysisRefused, match=code):
        allele_counts_by_group(relabelled, by=mapping)
    counts = allele_counts_by_group(relabelled, by="status")  # case/control: permitted
    assert list(counts["groups"].values) == ["case", "control"]
    counts = allele_counts_by_group(cohort, by="sex")
    assert counts.sizes["groups"] == 2


def test_unlabelled_pca_is_refused_too(npoa_cohort):
    # its per-sample coordinates join to the population labels by sample id
    with pytest.raises(AnalysisRefused, match=r"refuses PCA.*NPOA \(DUO:0000044\)"):
        pca(npoa_cohort, k=2, by=None)


def test_gru_entries_allow_ancestry_comparisons(gru_cohort, sim_ooa):
    for cohort in (gru_cohort, sim_ooa):
        assert allele_counts_by_group(cohort, by="population").sizes["groups"] == 3
        assert is_ancestry_grouping(cohort, "population")


def test_a_non_matching_purpose_refuses_analyses_on_an_open_entry(npoa_cohort):
    cohort = open_cohort(NPOA, purpose="POA")
    assert not cohort.provenance["access"]["allowed"]
    with pytest.raises(AnalysisRefused, match=r"purpose 'POA;non-commercial' is not permitted"):
        allele_counts_by_group(cohort, by="sex")
    with pytest.raises(GenShareError, match="registered"):
        check_access(get_entry(GRU), purpose=None)
    assert Purpose("GRU").to_text() == "GRU;non-commercial"


# --- CLI and widgets -----------------------------------------------------------------------


def _invoke(*args):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    return result


def test_cli_stats_and_figure_refuse_cleanly(tmp_path, cred_dir, npoa_cohort, monkeypatch):
    monkeypatch.delenv("GENSHARE_PURPOSE", raising=False)
    out = tmp_path / "stats"
    result = _invoke("stats", NPOA, "--fst", "--freq", "--out", str(out))
    assert result.exit_code == 2
    assert "refuses per-population frequencies, Fst" in result.output
    assert "NPOA (DUO:0000044)" in result.output
    assert not out.exists() or not any(out.iterdir())
    result = _invoke("stats", NPOA, "--pca", "2", "--out", str(out))
    assert result.exit_code == 2 and "NPOA (DUO:0000044)" in result.output
    assert not out.exists() or not any(out.iterdir())
    result = _invoke("stats", HMB, "--fst", "--out", str(out))
    assert (
        result.exit_code == 2 and "controlled" in result.output and "--credential" in result.output
    )
    cred = str(cred_dir / "hmb.yaml")
    fig = tmp_path / "fst.html"
    result = _invoke("figure", HMB, "--kind", "fst", "--credential", cred, "--out", str(fig))
    assert result.exit_code == 2 and "HMB (DUO:0000006)" in result.output
    assert not fig.exists() and not list(tmp_path.glob("fst.html*"))
    result = _invoke("figure", HMB, "--kind", "pca", "--credential", cred, "--out", str(fig))
    assert result.exit_code == 2 and "HMB (DUO:0000006)" in result.output
    result = _invoke("stats", GRU, "--purpose", "GRU;commercial", "--fst", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "provenance.json").read_text())["access"]["tier"] == "registered"
    assert "GENSHARE_PURPOSE" not in os.environ  # declared for that command only
    result = _invoke("stats", GRU, "--purpose", "ANCESTRY", "--fst", "--out", str(out))
    assert result.exit_code == 2 and "unknown research purpose" in result.output


def test_cli_stats_by_phenotype_split_works(tmp_path, sample_tables, npoa_cohort):
    out = tmp_path / "ok"
    result = _invoke(
        "stats", NPOA, "--samples", str(sample_tables), "--by", "status", "--fst", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert "case\tcontrol" in (out / "fst.tsv").read_text()
    result = _invoke(
        "stats",
        NPOA,
        "--samples",
        str(sample_tables),
        "--by",
        "origin",
        "--fst",
        "--out",
        str(tmp_path / "no"),
    )
    assert result.exit_code == 2 and "NPOA (DUO:0000044)" in result.output


def test_cli_catalog_show_prints_permissions():
    result = _invoke("catalog", "show", DS)
    assert result.exit_code == 0
    assert "disease (DS): MONDO:0005148" in result.output
    assert "purposes permitted: DS" in result.output
    assert (
        "ancestry comparisons (per-population frequencies, Fst, groups made mostly of one "
        "population, any PCA): refused"
    ) in result.output.replace("\n", " ")


def test_catalog_browser_shows_the_access_decision(cred_dir):
    pytest.importorskip("ipywidgets")
    from genshare_widgets.widgets._catalog_browser import entry_details_html

    html = entry_details_html(get_entry(HMB))
    assert "Access for your declared purpose" in html and "refused" in html
    html = entry_details_html(get_entry(HMB), credential=cred_dir / "hmb.yaml")
    assert "allowed" in html and "ancestry comparisons refused" in html
    html = entry_details_html(get_entry(GRU), purpose="GRU")
    assert "allowed" in html and "PUB (DUO:0000019)" in html
    html = entry_details_html(get_entry(NPOA), purpose="POA")
    assert "analyses refused" in html and "NPOA (DUO:0000044)" in html
