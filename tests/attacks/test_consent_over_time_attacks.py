"""Red team of issue 17 (consent over time): withdrawals, Passports, DUO modifiers, labels.

Each attack plays through a public interface (the Python API, ``genshare`` commands, HTTP
answers of real in-process services) and returns what it recovered; each test asserts 0. A
refusal is a success for the defender when it names its rule and serves or writes nothing.

Cohort: the embedded ``sim-ooa-gru-registered`` (300 simulated samples, 100 per population,
registered tier: k = 20) unless a rule needs another teaching entry. Every test has its own
``GENSHARE_STATE`` (release logs, ledgers): what a custodian's earlier releases were is part
of each attack's setting.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli_runner import run_genshare

K = 20
REGISTERED = "sim-ooa-gru-registered"
PURPOSE = "GRU"
TARGET = "YRI0005"  # the person who withdraws


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    """The custodian's state folder (release logs) for this test alone."""
    folder = tmp_path / "state"
    monkeypatch.setenv("GENSHARE_STATE", str(folder))
    return folder


def _write_list(path: Path, ids: list[str]) -> Path:
    path.write_text("# withdrawn\n" + "".join(f"{s}\n" for s in ids))
    return path


def _target_dosages(sim_ooa) -> np.ndarray:
    """The referee's truth: the withdrawn person's ALT dosage at every variant."""
    from genshare_widgets.counts import allele_counts_by_group

    counts = allele_counts_by_group(sim_ooa, by={TARGET: "target"})
    return counts["allele_count"].values[:, 0].astype(float)


def _recovered(before: dict, after: dict, truth: np.ndarray, group: str = "YRI") -> int:
    """Genotypes of the withdrawn person read by subtracting two /counts answers: variants
    where both answers show the group's row and AN dropped by 2; each must equal the truth
    to count."""
    i, j = before["groups"].index(group), after["groups"].index(group)
    ac0 = np.asarray(before["counts"]["allele_count"], float)[i]
    ac1 = np.asarray(after["counts"]["allele_count"], float)[j]
    an0 = np.asarray(before["counts"]["allele_number"], float)[i]
    an1 = np.asarray(after["counts"]["allele_number"], float)[j]
    ok = ~np.isnan(ac0) & ~np.isnan(ac1) & (an0 - an1 == 2)
    return int(((ac0 - ac1)[ok] == truth[ok]).sum())


# -- attack W1: differencing a withdrawal on a running site ------------------------------------


def attack_site_reload(tmp_path, sim_ooa) -> tuple[int, dict]:
    """Ask a registered site's /counts, withdraw one person (the list file changes, the
    site reloads it), ask again, subtract. Returns (genotypes recovered, last answer)."""
    import httpx

    from genshare_widgets import open_cohort
    from genshare_widgets.federation import start_site

    listed = _write_list(tmp_path / "withdrawn.txt", [])
    cohort = open_cohort(REGISTERED, purpose=PURPOSE, withdrawn=listed)
    server = start_site(cohort, name="w1", by="population")
    try:

        def ask() -> tuple[int, dict]:
            got = httpx.post(server.url + "/counts", json={"by": "population"}, timeout=300)
            return got.status_code, got.json()

        status, before = ask()
        assert status == 200, before
        _write_list(listed, [TARGET])
        status, after = ask()
        status_again, _ = ask()  # the old release is not served either
        assert status_again == status
    finally:
        server.stop()
    if status != 200:
        return 0, after
    return _recovered(before, after, _target_dosages(sim_ooa)), after


def test_w1_site_reload_differencing_recovers_nothing(tmp_path, state, sim_ooa):
    recovered, answer = attack_site_reload(tmp_path, sim_ooa)
    print("attack W1 (site /counts before/after a 1-person withdrawal): genotypes =", recovered)
    assert recovered == 0
    assert answer["rule"] == "release-log"
    assert "fewer than k = 20" in answer["detail"] and "--epsilon" in answer["detail"]
    assert TARGET not in json.dumps(answer)


# -- attack W2: the same on a Beacon (record granularity) ---------------------------------------


def _beacon_yri(url: str, token: str) -> tuple[int, dict]:
    """{variant id: YRI alleleCount} of every record of chr 1:1-300,000 whose YRI row is
    shown (one record request), or the status and error document."""
    import httpx

    got = httpx.get(
        url + "/g_variants",
        params={
            "referenceName": "1",
            "start": 0,
            "end": 300_000,
            "requestedGranularity": "record",
            "limit": 10_000,
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    if got.status_code != 200:
        return got.status_code, got.json()
    rows = {}
    for record in got.json()["response"]["resultSets"][0]["results"]:
        for f in record["frequencyInPopulations"][0]["frequencies"]:
            if f["population"] == "YRI":
                rows[record["variantInternalId"]] = f["alleleCount"]
    return 200, rows


def attack_beacon_reload(tmp_path, sim_ooa) -> tuple[int, dict]:
    """A REGISTERED Beacon (record granularity, k = 20): the YRI allele count of every
    variant of a window whose YRI row is shown, before and after a one-person withdrawal."""
    from genshare_widgets import open_cohort
    from genshare_widgets.beacon import serve_beacon
    from genshare_widgets.counts import allele_counts_by_group

    token = "registered-token-0123456789abcdef"
    listed = _write_list(tmp_path / "withdrawn.txt", [])
    cohort = open_cohort(REGISTERED, purpose=PURPOSE, withdrawn=listed)
    counts = allele_counts_by_group(sim_ooa, by={TARGET: "target"})
    truth = {
        f"{c}:{p}:{r}:{a}": int(n)
        for c, p, r, a, n in zip(
            counts["variant_contig"].values.astype(str),
            counts["variant_position"].values,
            counts["variant_ref"].values.astype(str),
            counts["variant_alt"].values.astype(str),
            counts["allele_count"].values[:, 0],
            strict=True,
        )
    }
    server = serve_beacon(cohort, granularity="record", tokens=[token])
    try:
        status, before = _beacon_yri(server.url, token)
        assert status == 200 and len(before) > 10, before
        _write_list(listed, [TARGET])
        status, after = _beacon_yri(server.url, token)
    finally:
        server.stop()
    if status != 200:
        return 0, after
    shared = set(before) & set(after)
    return sum(before[v] - after[v] == truth[v] for v in shared), after


def test_w2_beacon_reload_differencing_recovers_nothing(tmp_path, state, sim_ooa):
    recovered, answer = attack_beacon_reload(tmp_path, sim_ooa)
    print("attack W2 (Beacon record rows before/after a withdrawal): genotypes =", recovered)
    assert recovered == 0
    assert "release-log" in answer["error"]["errorMessage"]
    assert answer["error"]["errorCode"] == 503


# -- attack W3: a restart is not a way around it --------------------------------------------


def test_w3_restart_with_the_new_list_is_refused(tmp_path, state):
    """Serve, stop, restart with a one-person list (Python API and `genshare site serve`):
    the new release is refused at start by the persistent log; nothing is served."""
    from genshare_widgets import open_cohort
    from genshare_widgets.disclosure import ReleaseRefused
    from genshare_widgets.federation import start_site
    from tests.attacks.red_team import ServiceRefused, genshare_service

    start_site(open_cohort(REGISTERED, purpose=PURPOSE), name="w3", by="population").stop()
    listed = _write_list(tmp_path / "withdrawn.txt", [TARGET])
    with pytest.raises(ReleaseRefused, match="release-log"):
        start_site(
            open_cohort(REGISTERED, purpose=PURPOSE, withdrawn=listed), name="w3", by="population"
        )
    command = ["site", "serve", REGISTERED, "--purpose", PURPOSE, "--withdrawn", str(listed)]
    with (  # the command line: same log, same rule
        pytest.raises(ServiceRefused) as refused,
        genshare_service(*command, "--by", "population", env={"GENSHARE_STATE": str(state)}),
    ):
        pass
    assert "release-log" in str(refused.value)


def test_w3_batched_withdrawals_and_dp_are_still_served(tmp_path, state):
    """The rule's two ways out: a batch of k or more per changed group is served; so is a
    release under differential privacy (a fresh noisy release, charged to the budget)."""
    import httpx

    from genshare_widgets import open_cohort
    from genshare_widgets.federation import start_site

    start_site(open_cohort(REGISTERED, purpose=PURPOSE), name="w3", by="population").stop()
    batch = [f"YRI{i:04d}" for i in range(1, K + 1)]
    listed = _write_list(tmp_path / "batch.txt", batch)
    server = start_site(
        open_cohort(REGISTERED, purpose=PURPOSE, withdrawn=listed), name="w3", by="population"
    )
    try:
        got = httpx.post(server.url + "/counts", json={"by": "population"}, timeout=300)
        assert got.status_code == 200, got.text
        assert dict(zip(got.json()["groups"], got.json()["group_n_samples"], strict=True)) == {
            "CEU": 100,
            "CHB": 100,
            "YRI": 100 - K,
        }
    finally:
        server.stop()
    one = _write_list(tmp_path / "one.txt", [TARGET])
    server = start_site(
        open_cohort(REGISTERED, purpose=PURPOSE, withdrawn=one),
        name="w3dp",
        by="population",
        epsilon=1.0,
    )
    server.stop()


# -- attack W4: the publishing side, before/after a withdrawal -------------------------------


@pytest.mark.parametrize("command", ["stats", "figure"])
def test_w4_publishing_before_and_after_a_withdrawal_is_refused(tmp_path, state, command):
    """`genshare stats`/`figure` of the registered entry, then the same with a 1-person
    withdrawal: the second is refused by the release log and writes nothing."""
    listed = _write_list(tmp_path / "withdrawn.txt", [TARGET])
    common = [REGISTERED, "--purpose", f"{PURPOSE};publish", "--region", "1:1-2000000"]
    if command == "stats":
        args = ["stats", *common, "--by", "population", "--freq"]
        outs = [tmp_path / "before", tmp_path / "after"]
    else:
        args = ["figure", *common, "--kind", "sfs"]
        outs = [tmp_path / "before.json", tmp_path / "after.json"]
    first = run_genshare(*args, "--out", str(outs[0]))
    assert first.returncode == 0, first.stderr
    second = run_genshare(*args, "--withdrawn", str(listed), "--out", str(outs[1]))
    assert second.returncode != 0
    assert "rule 6" in second.stderr and "fewer than k = 20" in second.stderr
    after = outs[1]
    written = list(after.iterdir()) if after.is_dir() else ([after] if after.exists() else [])
    print(f"attack W4 ({command} before/after a withdrawal): files written =", len(written))
    assert written == []


# -- attack W5: a withdrawn entry's store opened by its path ----------------------------------


@pytest.mark.realdata
def test_w5_store_opened_by_path_keeps_the_withdrawal_list(tmp_path, kg_subset, monkeypatch):
    """An open entry (1000 Genomes subset) whose catalog names a withdrawal list: its store
    opened by path (ungoverned for access: open tier) still leaves the withdrawn out. Before:
    the path open had no list, so the withdrawn person counted in every analysis."""
    import hashlib

    from genshare_widgets import open_cohort
    from genshare_widgets.catalog._load import default_catalog_path
    from genshare_widgets.counts import allele_counts_by_group

    target = str(kg_subset.samples.index[0])
    listed = _write_list(tmp_path / "kg-withdrawn.txt", [target])
    digest = hashlib.sha256(listed.read_bytes()).hexdigest()
    text = default_catalog_path().read_text()
    anchor = "    n_samples: 1126\n    n_variants: 25709\n    access: open\n"
    assert text.count(anchor) == 1
    text = text.replace(
        anchor,
        anchor + f'    withdrawals:\n      file: {listed}\n      version: "1"\n'
        f"      date: 2026-11-27\n      sha256: {digest}\n      n_samples: 1\n",
    )
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(text)
    monkeypatch.setenv("GENSHARE_CATALOG", str(catalog))
    by_id = open_cohort("1kg-phase3-subset")
    assert by_id.n_withdrawn == 1
    table = tmp_path / "samples.tsv"  # the public sample table, as a user would give it
    kg_subset.samples.reset_index()[["sample", "population"]].to_csv(table, sep="\t", index=False)
    by_path = open_cohort(str(by_id.store_path), samples=table)
    counted = allele_counts_by_group(by_path, by="population")["group_n_samples"].values
    leaked = int(by_path.n_withdrawn == 0) + int(counted.sum() == 1126)
    print("attack W5 (a withdrawn entry's store opened by path): withdrawn counted =", leaked)
    assert leaked == 0 and counted.sum() == 1125
    assert by_path.provenance["withdrawals"]["lists"][0]["version"] == "1"


# -- attack W6: the risk lab reads a withdrawn person's genotypes --------------------------------


def test_w6_risk_lab_never_reads_a_withdrawn_person():
    """`dosage_matrix` by id, and `membership_split` of the blanked value ("None"), gave the
    withdrawn people's genotypes (1000 dosages each) and drew them into a split."""
    from genshare_widgets import GenShareError, open_cohort
    from genshare_widgets.disclosure.risk import dosage_matrix, membership_split

    teaching = open_cohort("sim-ooa-withdrawals")
    withdrawn = ["YRI0007", "CEU0012"]
    recovered = 0
    try:
        x, _ = dosage_matrix(teaching, samples=withdrawn, max_variants=1000)
        recovered += int(np.isfinite(x).sum())
    except GenShareError as exc:
        assert "withdrawn" in str(exc)
    for value in ("None", "nan", "<NA>"):
        try:
            split = membership_split(
                teaching, population=value, n_members=2, n_nonmembers=2, n_reference=1
            )
            recovered += len(split.members)
        except GenShareError:
            pass
    split = membership_split(teaching, population="YRI", n_members=40, n_nonmembers=40)
    drawn = {*split.members, *split.nonmembers, *split.reference}
    recovered += len(drawn & set(withdrawn))
    assert len(drawn) == 99  # YRI without YRI0007
    print("attack W6 (risk lab): withdrawn genotypes/people read =", recovered)
    assert recovered == 0


# -- attack M1: MOR through the Python association API ---------------------------------------


def test_m1_moratorium_refuses_association_files_from_the_python_api(tmp_path):
    """`association(..., out=)` and `AssociationResult.write_tsv` wrote assoc.tsv during the
    moratorium of sim-ooa-gs-ts-mor (the CLI `assoc --out` was refused, the API was not)."""
    from genshare_widgets import open_cohort
    from genshare_widgets.association import association
    from genshare_widgets.disclosure._modifiers import ExportRefused

    cohort = open_cohort("sim-ooa-gs-ts-mor", purpose="GRU;geo=CA")
    with pytest.raises(ExportRefused, match="MOR"):
        association(cohort, pheno="height_like", region="1:1-300000", out=tmp_path / "a.tsv")
    viewed = association(cohort, pheno="height_like", region="1:1-300000")  # viewing: allowed
    assert len(viewed.table) > 0
    with pytest.raises(ExportRefused, match="MOR"):
        viewed.write_tsv(tmp_path / "b.tsv")
    written = list(tmp_path.iterdir())
    print("attack M1 (MOR via the association API): files written =", len(written))
    assert written == []
