"""Withdrawals (dynamic consent, issue 17): a withdrawn sample leaves every door.

Each door is checked by counting samples in its output before and after a withdrawal, through
the public interfaces: ``genshare stats`` files, figure JSON (hover text included), the
explorer, Beacon and site HTTP answers; plus ``figure --from`` after a newer list, a service
picking up a changed list, and the bad-input cases. Cohort: the embedded ``sim-ooa`` (300
simulated samples, 100 per population) and its teaching twin ``sim-ooa-withdrawals`` (same
store, 5 withdrawn by the packaged list).
"""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genshare_widgets._errors import GenShareError
from tests.cli_runner import run_genshare

#: The packaged list of sim-ooa-withdrawals (version 2).
CATALOG_WITHDRAWN = ["YRI0007", "CEU0012", "CEU0031", "CHB0045", "CHB0046"]
#: What the tests withdraw from sim-ooa by --withdrawn: 2 YRI, 1 CEU.
EXTRA = ["YRI0001", "YRI0002", "CEU0003"]


def _write_list(path: Path, ids: list[str]) -> Path:
    path.write_text("# withdrawn\n" + "\n".join(ids) + "\n")
    return path


@pytest.fixture(scope="module")
def withdrawn_file(tmp_path_factory) -> Path:
    return _write_list(tmp_path_factory.mktemp("withdrawals") / "withdrawn.txt", EXTRA)


@pytest.fixture(scope="module")
def sim_withdrawn(withdrawn_file):
    from genshare_widgets import open_cohort

    return open_cohort("sim-ooa", withdrawn=withdrawn_file)


@pytest.fixture(scope="module")
def teaching():
    from genshare_widgets import open_cohort

    return open_cohort("sim-ooa-withdrawals")


# --- the list itself -------------------------------------------------------------------


def test_packaged_list_is_applied_by_hash_and_recorded(teaching, sim_ooa):
    assert teaching.store_path == sim_ooa.store_path  # a mask, not a new store
    assert teaching.n_withdrawn == 5
    assert not teaching.kept[teaching.samples.index.get_indexer(CATALOG_WITHDRAWN)].any()
    record = teaching.provenance["withdrawals"]
    assert record["n_withdrawn"] == 5 and record["n_samples_kept"] == 295
    (item,) = record["lists"]
    assert item["version"] == "2" and item["date"] == "2026-11-20"
    assert item["sha256"] == teaching.entry.withdrawals.sha256
    assert "YRI0007" not in json.dumps(record)  # provenance names no withdrawn person
    # withdrawn rows keep their place (genotype column order) but lose their metadata
    assert teaching.samples.loc[CATALOG_WITHDRAWN].isna().all().all()
    assert teaching.populations()["n_samples"].tolist() == [98, 98, 99]  # CEU, CHB, YRI


def test_catalog_show_names_the_list():
    done = run_genshare("catalog", "show", "sim-ooa-withdrawals")
    assert done.returncode == 0, done.stderr
    assert "withdrawals: list version 2 (2026-11-20), 5 samples" in done.stdout


def test_list_parsing_comments_blank_lines_and_duplicates(tmp_path):
    from genshare_widgets._withdrawals import read_withdrawal_list, resolve_withdrawals

    path = tmp_path / "w.txt"
    path.write_text("# comment\n\n S2 \nS2\nS4\n")
    item = read_withdrawal_list(path)
    assert item.sample_ids == ("S2", "S4")
    mask = resolve_withdrawals(["S1", "S2", "S3", "S4"], [item]).kept
    assert mask.tolist() == [True, False, True, False]


def test_unknown_ids_are_an_error_naming_them_and_the_file(tmp_path):
    from genshare_widgets import open_cohort
    from genshare_widgets._withdrawals import WithdrawalError

    bad = _write_list(tmp_path / "typo.txt", ["YRI0001", "YRI9999", "nobody"])
    with pytest.raises(WithdrawalError) as err:
        open_cohort("sim-ooa", withdrawn=bad)
    message = str(err.value)
    assert str(bad) in message and "YRI9999" in message and "nobody" in message
    assert "2 sample id(s)" in message


def test_unreadable_and_binary_lists_are_errors_naming_the_file(tmp_path):
    from genshare_widgets._withdrawals import WithdrawalError, read_withdrawal_list

    with pytest.raises(WithdrawalError, match=r"--withdrawn .*missing\.txt: cannot read"):
        read_withdrawal_list(tmp_path / "missing.txt")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(WithdrawalError, match="not UTF-8"):
        read_withdrawal_list(binary)


def _custom_catalog(tmp_path: Path, list_path: Path, sha256: str, version: str) -> Path:
    """The packaged catalog with sim-ooa-withdrawals pointing at ``list_path``."""
    from genshare_widgets.catalog._load import default_catalog_path

    text = default_catalog_path().read_text()
    text = (
        text.replace("file: sim-ooa-withdrawals-v2.txt", f"file: {list_path}")
        .replace(
            "sha256: 165f44b15a6a7cb5030adf4d34e710638c9ee33f92ade017b7aa0d2733790660",
            f'sha256: "{sha256}"',
        )
        .replace(
            'version: "2"\n      date: 2026-11-20', f'version: "{version}"\n      date: 2026-11-27'
        )
    )
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path


def test_hash_mismatch_names_the_file_field_and_both_hashes(tmp_path, monkeypatch):
    import hashlib

    from genshare_widgets import open_cohort
    from genshare_widgets._withdrawals import WithdrawalError

    listed = _write_list(tmp_path / "list.txt", ["YRI0001"])
    wrong = "0" * 64
    monkeypatch.setenv("GENSHARE_CATALOG", str(_custom_catalog(tmp_path, listed, wrong, "3")))
    with pytest.raises(WithdrawalError) as err:
        open_cohort("sim-ooa-withdrawals")
    message = str(err.value)
    actual = hashlib.sha256(listed.read_bytes()).hexdigest()
    assert str(listed) in message and "withdrawals.file" in message
    assert wrong in message and actual in message


def test_cli_bad_list_fails_cleanly_and_writes_nothing(tmp_path):
    bad = _write_list(tmp_path / "typo.txt", ["YRI0001", "XXX0001"])
    out = tmp_path / "out"
    done = run_genshare("stats", "sim-ooa", "--withdrawn", str(bad), "--het", "--out", str(out))
    assert done.returncode != 0
    assert "XXX0001" in done.stderr and str(bad) in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


# --- every door ------------------------------------------------------------------------


def test_counts_equal_a_grouping_that_leaves_the_withdrawn_out(sim_withdrawn, sim_ooa):
    """Naive reference: the counts of the withdrawn cohort are those of sim-ooa grouped by a
    mapping that has no group for the withdrawn samples."""
    from genshare_widgets.counts import allele_counts_by_group

    got = allele_counts_by_group(sim_withdrawn, by="population")
    mapping = sim_ooa.samples["population"].drop(EXTRA)
    mapping.name = "population"
    want = allele_counts_by_group(sim_ooa, by=mapping)
    assert got["group_n_samples"].values.tolist() == [99, 100, 98]  # CEU, CHB, YRI
    for name in ("allele_count", "allele_number", "het_count", "hom_alt_count"):
        np.testing.assert_array_equal(got[name].values, want[name].values)
    assert got.attrs["filters"]["n_withdrawn"] == 3
    # a mapping (not a column) cannot bring a withdrawn sample back
    everyone = pd.Series("all", index=sim_withdrawn.samples.index, name="all")
    whole = allele_counts_by_group(sim_withdrawn, by=everyone)
    assert int(whole["group_n_samples"].values[0]) == 297


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, sep="\t")


def test_stats_files_count_the_samples_left(tmp_path, withdrawn_file):
    before, after = tmp_path / "before", tmp_path / "after"
    common = ["--freq", "--het", "--pca", "2"]
    done = run_genshare("stats", "sim-ooa", *common, "--out", str(before))
    assert done.returncode == 0, done.stderr
    done = run_genshare(
        "stats", "sim-ooa", *common, "--withdrawn", str(withdrawn_file), "--out", str(after)
    )
    assert done.returncode == 0, done.stderr
    het0, het1 = _read(before, "het.tsv"), _read(after, "het.tsv")
    n0 = dict(zip(het0["group"], het0["n_samples"], strict=True))
    n1 = dict(zip(het1["group"], het1["n_samples"], strict=True))
    assert n0 == {"CEU": 100, "CHB": 100, "YRI": 100}
    assert n1 == {"CEU": 99, "CHB": 100, "YRI": 98}
    f0, f1 = _read(before, "freq.tsv"), _read(after, "freq.tsv")
    merged = f0.merge(f1, on=["contig", "position", "ref", "alt"], suffixes=("_0", "_1"))
    # every sample of the simulation is fully called: AN drops by 2 per withdrawn sample
    assert (merged["YRI_an_0"] - merged["YRI_an_1"] == 4).all()
    assert (merged["CEU_an_0"] - merged["CEU_an_1"] == 2).all()
    assert (merged["CHB_an_0"] == merged["CHB_an_1"]).all()
    p0, p1 = _read(before, "pca.tsv"), _read(after, "pca.tsv")
    assert len(p0) == 300 and len(p1) == 297
    assert not set(EXTRA) & set(p1["sample"])
    prov = json.loads((after / "provenance.json").read_text())
    assert prov["withdrawals"]["n_withdrawn"] == 3
    assert prov["withdrawals"]["lists"][0]["sha256"]
    assert json.loads((before / "provenance.json").read_text())["withdrawals"] is None


def _pca_figure_json(cohort) -> str:
    from genshare_widgets.figures import figure, figure_json

    return figure_json(figure(cohort, "pca"))


def _pca_points(fig_json: str) -> int:
    return sum(len(trace.get("x", [])) for trace in json.loads(fig_json)["data"])


def test_figure_json_and_pca_hover_leave_the_withdrawn_out(sim_ooa, sim_withdrawn):
    before, after = _pca_figure_json(sim_ooa), _pca_figure_json(sim_withdrawn)
    assert all(s in before for s in EXTRA)  # the hover names samples
    assert not any(s in after for s in EXTRA)
    assert (_pca_points(before), _pca_points(after)) == (300, 297)
    meta = json.loads(after)["layout"]["meta"]["provenance"]
    assert meta["withdrawals"]["n_withdrawn"] == 3
    footer = [a["text"] for a in json.loads(after)["layout"]["annotations"]]
    assert any("3 withdrawn" in t for t in footer)


def test_het_figure_counts_the_samples_left(sim_withdrawn):
    from genshare_widgets.figures import figure, figure_json

    text = figure_json(figure(sim_withdrawn, "het"))
    groups = json.loads(text)["layout"]["meta"]["provenance"]["groups"]
    assert groups == {"CEU": 99, "CHB": 100, "YRI": 98}


def test_explorer_views_leave_the_withdrawn_out(teaching):
    from genshare_widgets.widgets import CohortExplorer

    explorer = CohortExplorer(teaching)
    for kind, fig in explorer.figures.items():
        text = fig.to_json()
        assert not any(s in text for s in CATALOG_WITHDRAWN), kind
        prov = (fig.layout.meta or {}).get("provenance") or {}
        if prov.get("groups"):
            assert prov["groups"] == {"CEU": 98, "CHB": 98, "YRI": 99}, kind


# --- services ---------------------------------------------------------------------------


def _beacon_row(url: str, counts, i: int) -> dict[str, dict]:
    import httpx

    query = {
        "referenceName": str(counts["variant_contig"].values[i]),
        "start": int(counts["variant_position"].values[i]) - 1,
        "referenceBases": str(counts["variant_ref"].values[i]),
        "alternateBases": str(counts["variant_alt"].values[i]),
        "requestedGranularity": "record",
    }
    answer = httpx.get(url + "/g_variants", params=query, timeout=60)
    if answer.status_code != 200:
        return {"status": {"code": answer.status_code, "body": answer.text}}
    (record,) = answer.json()["response"]["resultSets"][0]["results"]
    rows = record["frequencyInPopulations"][0]["frequencies"]
    return {row["population"]: row for row in rows}


def test_beacon_answers_without_the_withdrawn_and_reloads_a_changed_list(sim_ooa, tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from genshare_widgets import open_cohort
    from genshare_widgets.beacon import serve_beacon
    from genshare_widgets.counts import allele_counts_by_group

    listed = _write_list(tmp_path / "beacon.txt", [])  # an empty list, watched from the start
    cohort = open_cohort("sim-ooa", withdrawn=listed)
    counts = allele_counts_by_group(sim_ooa)
    i = int(np.flatnonzero(counts["allele_count"].values.sum(axis=1) > 10)[0])
    server = serve_beacon(cohort, granularity="record")
    try:
        assert _beacon_row(server.url, counts, i)["ALL"]["alleleNumber"] == 600
        _write_list(listed, EXTRA[:1])  # YRI0001
        rows = _beacon_row(server.url, counts, i)
        assert rows["YRI"]["alleleNumber"] == 198 and rows["CEU"]["alleleNumber"] == 200
        assert rows["ALL"]["alleleNumber"] == 598
        # a newer list: picked up on the next request, no restart
        _write_list(listed, EXTRA)
        rows = _beacon_row(server.url, counts, i)
        assert rows["YRI"]["alleleNumber"] == 196 and rows["CEU"]["alleleNumber"] == 198
        assert rows["ALL"]["alleleNumber"] == 594
        # a broken list: nothing is answered until it is fixed
        _write_list(listed, [*EXTRA, "NOT-A-SAMPLE"])
        refused = _beacon_row(server.url, counts, i)["status"]
        assert refused["code"] == 503 and "NOT-A-SAMPLE" in refused["body"]
        _write_list(listed, EXTRA)
        assert _beacon_row(server.url, counts, i)["ALL"]["alleleNumber"] == 594
    finally:
        server.stop()


def test_site_answers_without_the_withdrawn_and_reloads(tmp_path):
    pytest.importorskip("fastapi")
    httpx = pytest.importorskip("httpx")
    from genshare_widgets import open_cohort
    from genshare_widgets.federation import start_site

    listed = _write_list(tmp_path / "site.txt", EXTRA)
    cohort = open_cohort("sim-ooa", withdrawn=listed)
    server = start_site(cohort, name="w", by="population")
    try:

        def answer() -> dict:
            got = httpx.post(server.url + "/counts", json={"by": "population"}, timeout=120)
            assert got.status_code == 200, got.text
            return got.json()

        payload = answer()
        sizes = dict(zip(payload["groups"], payload["group_n_samples"], strict=True))
        assert sizes == {"CEU": 99, "CHB": 100, "YRI": 98}
        an = np.asarray(payload["counts"]["allele_number"])  # groups × variants
        assert an[payload["groups"].index("YRI")].max() == 196
        assert not any(s in json.dumps(payload) for s in EXTRA)
        _write_list(listed, [*EXTRA, "CHB0100"])
        payload = answer()
        sizes = dict(zip(payload["groups"], payload["group_n_samples"], strict=True))
        assert sizes == {"CEU": 99, "CHB": 99, "YRI": 98}
    finally:
        server.stop()


# --- figure --from after a newer list ----------------------------------------------------


def test_figure_from_an_older_recipe_rebuilds_without_the_newly_withdrawn(tmp_path):
    listed = _write_list(tmp_path / "list.txt", EXTRA[:1])
    out = tmp_path / "pca.json"
    done = run_genshare(
        "figure", "sim-ooa", "--kind", "pca", "--withdrawn", str(listed), "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    side = out.with_name(out.name + ".provenance.json")
    recipe = json.loads(side.read_text())
    assert recipe["cohort"]["withdrawals"]["n_withdrawn"] == 1
    assert _pca_points(out.read_text()) == 299
    assert "YRI0002" in out.read_text()
    _write_list(listed, EXTRA)  # two more withdraw after the figure
    again = tmp_path / "again.json"
    done = run_genshare("figure", "--from", str(side), "--out", str(again))
    assert done.returncode == 0, done.stderr
    assert re.search(r"2 sample\(s\) withdrawn since the recipe \(1 then, 3 now\)", done.stderr)
    assert _pca_points(again.read_text()) == 297
    assert not any(s in again.read_text() for s in EXTRA)
    new = json.loads(again.with_name(again.name + ".provenance.json").read_text())
    assert new["withdrawals_since_recipe"]["n_left_since_recipe"] == 2
    assert new["cohort"]["withdrawals"]["n_withdrawn"] == 3


def test_figure_from_follows_a_newer_catalog_list(tmp_path, monkeypatch):
    """The custodian publishes list version 3 in the catalog; a recipe drawn under version 2
    rebuilds without the newly withdrawn samples and says how many left."""
    import hashlib

    v2 = _write_list(tmp_path / "v2.txt", CATALOG_WITHDRAWN)
    sha2 = hashlib.sha256(v2.read_bytes()).hexdigest()
    catalog = _custom_catalog(tmp_path, v2, sha2, "2")
    out = tmp_path / "het.json"
    env = {"GENSHARE_CATALOG": str(catalog)}
    done = run_genshare(
        "figure", "sim-ooa-withdrawals", "--kind", "het", "--out", str(out), env=env
    )
    assert done.returncode == 0, done.stderr
    side = out.with_name(out.name + ".provenance.json")
    v3 = _write_list(tmp_path / "v3.txt", [*CATALOG_WITHDRAWN, "YRI0050", "YRI0051", "CEU0099"])
    sha3 = hashlib.sha256(v3.read_bytes()).hexdigest()
    (tmp_path / "v3").mkdir()
    catalog3 = _custom_catalog(tmp_path / "v3", v3, sha3, "3")
    again = tmp_path / "het3.json"
    done = run_genshare(
        "figure", "--from", str(side), "--out", str(again), env={"GENSHARE_CATALOG": str(catalog3)}
    )
    assert done.returncode == 0, done.stderr
    assert "3 sample(s) withdrawn since the recipe (5 then, 8 now)" in done.stderr
    groups = json.loads(again.read_text())["layout"]["meta"]["provenance"]["groups"]
    assert groups == {"CEU": 97, "CHB": 98, "YRI": 97}
    new = json.loads(again.with_name(again.name + ".provenance.json").read_text())
    assert new["withdrawals_since_recipe"]["lists_now"][0][1] == "3"


def test_association_leaves_the_withdrawn_out(sim_withdrawn):
    from genshare_widgets.association import association_inputs

    inputs = association_inputs(sim_withdrawn, "height_like", pcs=2)
    assert inputs.n_samples == 297
    assert not set(EXTRA) & set(inputs.sample_ids)
    assert inputs.excluded == {"withdrawn": 3}


def test_error_is_a_genshare_error():
    from genshare_widgets._withdrawals import WithdrawalError

    assert issubclass(WithdrawalError, GenShareError)
