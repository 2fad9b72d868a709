"""Federated analysis over real HTTP: three sites cut from the 1000 Genomes subset.

Every server listens on 127.0.0.1 (port 0 → a free port); every wait is bounded; every server
and subprocess is stopped in ``finally``.
"""

import asyncio
import filecmp
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from genshare_widgets import GenShareError
from genshare_widgets._serve import RunningServer

FILES = ("freq.tsv", "fst.tsv", "het.tsv", "sfs.tsv", "shared.tsv")
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def site_tables(kg_subset, tmp_path_factory) -> list[Path]:
    """Three sample lists: sample index mod 3 (every population at every site)."""
    folder = tmp_path_factory.mktemp("sites")
    table = kg_subset.samples.reset_index()
    paths = []
    for i in range(3):
        path = folder / f"site{i}.tsv"
        table.iloc[i::3].to_csv(path, sep="\t", index=False)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def site_cohorts(site_tables):
    from genshare_widgets.federation import open_site_cohort

    return [open_site_cohort("1kg-phase3-subset", samples=p) for p in site_tables]


@pytest.fixture(scope="module")
def reference_file(kg_subset, tmp_path_factory) -> tuple[Path, str]:
    """A custodian-approved reference: 3 PCs fitted on the open 1000 Genomes subset."""
    from genshare_widgets.federation import pca_reference

    path = tmp_path_factory.mktemp("reference") / "reference.json"
    digest = pca_reference(kg_subset, k=3).save(path)
    return path, digest


@pytest.fixture(scope="module")
def sites_by(site_cohorts, reference_file):
    """Three open-policy sites on loopback per grouping (a site serves one grouping); the
    superpopulation sites have the approved reference."""
    from genshare_widgets.federation import start_site

    path, digest = reference_file
    servers: dict[str, list] = {"superpopulation": [], "population": []}
    try:
        for by, group in servers.items():
            for i, cohort in enumerate(site_cohorts):
                pca = {"pca_reference": path, "pca_reference_sha256": digest}
                group.append(
                    start_site(
                        cohort, name=f"site-{i}", by=by, **(pca if by == "superpopulation" else {})
                    )
                )
        yield servers
    finally:
        for group in servers.values():
            for server in group:
                server.stop()


@pytest.fixture(scope="module")
def sites(sites_by):
    return sites_by["superpopulation"]


@pytest.fixture(scope="module")
def pooled(kg_subset, tmp_path_factory):
    """`genshare stats` files of the whole subset, per grouping."""
    from genshare_widgets.cli._stats_run import run_stats

    out = {}
    for by in ("superpopulation", "population"):
        folder = tmp_path_factory.mktemp(f"pooled-{by}")
        run_stats(kg_subset, folder, by=by, wanted=list(s.split(".")[0] for s in FILES))
        out[by] = folder
    return out


@pytest.mark.parametrize("by", ["superpopulation", "population"])
def test_federated_files_equal_pooled(sites_by, pooled, by, tmp_path):
    from genshare_widgets.federation import federate

    result = federate([s.url for s in sites_by[by]], by=by, out=tmp_path, timeout=60)
    assert not result.excluded
    assert [s["site"] for s in result.included] == ["site-0", "site-1", "site-2"]
    for name in FILES:
        assert filecmp.cmp(tmp_path / name, pooled[by] / name, shallow=False), name
    provenance = json.loads((tmp_path / "provenance.json").read_text())
    assert provenance["federation"]["excluded"] == []
    assert provenance["federation"]["disclosure_note"]["exact"] is True
    assert len(provenance["federation"]["sites"]) == 3


def test_site_down_is_excluded_by_name(sites, site_cohorts, tmp_path):
    from genshare_widgets.federation import federate

    down = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    started = time.monotonic()
    result = federate([sites[0].url, down, sites[1].url], by="superpopulation", out=tmp_path)
    assert time.monotonic() - started < 30
    assert [e["site"] for e in result.excluded] == [down]
    assert "down or unreachable" in result.excluded[0]["reason"]
    expected = sum(c.samples["superpopulation"].notna().sum() for c in site_cohorts[:2])
    assert int(result.counts["group_n_samples"].sum()) == expected
    provenance = json.loads((tmp_path / "provenance.json").read_text())
    assert provenance["federation"]["excluded"][0]["site"] == down
    assert [s["site"] for s in provenance["federation"]["sites"]] == ["site-0", "site-1"]


def _fake_site(info: dict, counts_handler):
    """A tiny FastAPI site answering GET / with ``info`` and POST /counts with the handler."""
    from fastapi import FastAPI

    app = FastAPI()
    app.get("/")(lambda: info)
    app.post("/counts")(counts_handler)
    return RunningServer(app, timeout_graceful_shutdown=1).start()


@pytest.fixture(scope="module")
def real_answer(sites):
    import httpx

    with httpx.Client(timeout=60) as client:
        info = client.get(sites[2].url + "/").json()
        payload = client.post(sites[2].url + "/counts", json={"by": "superpopulation"}).json()
    return info, payload


def test_slow_site_times_out(sites, real_answer):
    from genshare_widgets.federation import federate

    async def slow(body: dict):
        await asyncio.sleep(5)
        return real_answer[1]

    fake = _fake_site(real_answer[0], slow)
    try:
        started = time.monotonic()
        result = federate([sites[0].url, fake.url], by="superpopulation", timeout=1.0)
        assert time.monotonic() - started < 4  # one timeout, no retry of a slow site
    finally:
        fake.stop()
    assert result.excluded[0]["site"] == fake.url
    assert result.excluded[0]["reason"].startswith("timeout")
    assert [s["site"] for s in result.included] == ["site-0"]


def _mutations(payload):
    n = len(payload["variants"]["position"])
    yield (
        "missing field",
        {k: v for k, v in payload.items() if k != "counts"},
        "'counts' is missing",
    )
    short = json.loads(json.dumps(payload))
    short["counts"]["allele_count"][0] = short["counts"]["allele_count"][0][: n - 1]
    yield "wrong length", short, f"expected {n} values per group"
    text = json.loads(json.dumps(payload))
    text["counts"]["allele_number"][1][5] = "12"
    yield "non-numeric", text, "whole numbers"
    negative = json.loads(json.dumps(payload))
    negative["counts"]["het_count"][0][3] = -4
    yield "negative", negative, "outside the allowed range"


@pytest.mark.parametrize("case", ["missing field", "wrong length", "non-numeric", "negative"])
def test_malformed_site_is_excluded_with_reason(sites, real_answer, case):
    from genshare_widgets.federation import federate

    info, payload = real_answer
    bad, reason = next((p, r) for name, p, r in _mutations(payload) if name == case)

    def answer(body: dict):
        return bad

    fake = _fake_site(info, answer)
    try:
        result = federate([sites[0].url, fake.url], by="superpopulation", stats=["fst"])
    finally:
        fake.stop()
    assert result.excluded[0]["site"] == fake.url
    assert "malformed counts" in result.excluded[0]["reason"]
    assert reason in result.excluded[0]["reason"]
    assert set(result.tables) == {"fst.tsv"}


def test_site_killed_mid_query_is_excluded_without_hang(sites, real_answer):
    from genshare_widgets.federation import federate

    entered, release = threading.Event(), threading.Event()

    async def blocking(body: dict):
        entered.set()
        for _ in range(400):  # bounded: at most 20 s
            if release.is_set():
                break
            await asyncio.sleep(0.05)
        return real_answer[1]

    fake = _fake_site(real_answer[0], blocking)
    outcome: dict = {}
    worker = threading.Thread(
        target=lambda: outcome.setdefault(
            "result", federate([sites[1].url, fake.url], by="superpopulation", timeout=15)
        ),
        daemon=True,
    )
    try:
        worker.start()
        assert entered.wait(30), "the coordinator never reached the site"
        fake.stop()  # the site dies with the request in flight
        worker.join(30)
        assert not worker.is_alive(), "the coordinator hung on a dead site"
    finally:
        release.set()
        fake.stop()
    result = outcome["result"]
    assert result.excluded[0]["site"] == fake.url
    # uvicorn either drops the connection or answers 500 for the cancelled request
    reason = result.excluded[0]["reason"]
    assert "down or unreachable" in reason or "HTTP 500" in reason, reason
    assert [s["site"] for s in result.included] == ["site-1"]


def _fst_error(result_fst: pd.DataFrame, pooled_dir: Path) -> float:
    pooled = pd.read_csv(pooled_dir / "fst.tsv", sep="\t")
    merged = pooled.merge(result_fst, on=["pop1", "pop2"], suffixes=("_pooled", "_fed"))
    return float(np.nanmax(np.abs(merged["hudson_fst_fed"] - merged["hudson_fst_pooled"])))


def test_min_count_20_at_each_site(site_cohorts, pooled, tmp_path):
    from genshare_widgets.federation import federate, start_site

    servers = []
    try:
        for i, cohort in enumerate(site_cohorts):
            servers.append(start_site(cohort, name=f"k20-{i}", by="superpopulation", min_count=20))
        result = federate([s.url for s in servers], by="superpopulation", out=tmp_path, timeout=60)
    finally:
        for server in servers:
            server.stop()
    assert not result.excluded
    freq = pd.read_csv(tmp_path / "freq.tsv", sep="\t", dtype=str, keep_default_na=False)
    for col in [c for c in freq.columns if c.endswith(("_ac", "_an"))]:
        numbers = pd.to_numeric(freq[col], errors="coerce")
        assert not ((numbers >= 1) & (numbers <= 19)).any(), col
        assert set(freq[col][numbers.isna()]) <= {"<20", "NA"}
    het = pd.read_csv(tmp_path / "het.tsv", sep="\t")
    assert (het["n_samples"] >= 20).all()
    note = result.provenance["federation"]["disclosure_note"]
    assert note["exact"] is False and note["allele_cells_not_usable"] > 0
    error = _fst_error(result.tables["fst.tsv"], pooled["superpopulation"])
    print(f"\nk=20 at each site: max |Fst federated - pooled| = {error:.2e}")
    assert 0 < error < 0.05


def test_dp_error_shrinks_with_epsilon(site_cohorts, pooled):
    from genshare_widgets.disclosure import DisclosurePolicy, PrivacyBudget
    from genshare_widgets.federation import federate, site_app

    errors = {}
    for epsilon in (1e4, 1e5, 1e6):
        servers = []
        try:
            for i, cohort in enumerate(site_cohorts):
                policy = DisclosurePolicy(epsilon=epsilon, seed=i)
                budget = PrivacyBudget(total=1e7)
                app = site_app(
                    cohort, name=f"dp{i}", by="superpopulation", policy=policy, budget=budget
                )
                servers.append(RunningServer(app))
                servers[-1].start()
            result = federate(
                [s.url for s in servers], by="superpopulation", stats=["fst"], timeout=60
            )
        finally:
            for server in servers:
                server.stop()
        assert not result.excluded
        note = result.provenance["federation"]["disclosure_note"]
        assert set(note["dp_noise_sd_per_count"]) == {"dp0", "dp1", "dp2"}
        errors[epsilon] = _fst_error(result.tables["fst.tsv"], pooled["superpopulation"])
    print("\nDP, 3 sites: max |Fst federated - pooled| by epsilon:", errors)
    assert errors[1e6] < errors[1e4]
    assert errors[1e6] < 1e-3


def test_dp_site_charges_its_budget_once_per_distinct_request(site_cohorts):
    import httpx

    from genshare_widgets.disclosure import DisclosurePolicy, PrivacyBudget
    from genshare_widgets.federation import site_app

    budget = PrivacyBudget(total=10**7)
    policy = DisclosurePolicy(epsilon=1e5, seed=3)
    app = site_app(site_cohorts[0], name="dp", by="superpopulation", policy=policy, budget=budget)
    server = RunningServer(app)
    try:
        server.start()
        with httpx.Client(timeout=60) as client:
            answers = [
                client.post(server.url + "/counts", json={"by": "superpopulation"}).json()
                for _ in range(2)
            ]
            other = client.post(server.url + "/counts", json={"region": "22"})
            other.raise_for_status()
    finally:
        server.stop()
    assert answers[0]["counts"] == answers[1]["counts"]  # the same noisy answer, no re-draw
    assert budget.spent == pytest.approx(2e5)


@pytest.mark.parametrize("reference", ["file", "advertised"])
def test_federated_pca_group_centroids_equal_pooled_projection(
    sites, kg_subset, reference_file, reference
):
    from genshare_widgets.federation import federated_pca, project_samples

    given = reference_file[0] if reference == "file" else None
    result = federated_pca([s.url for s in sites], reference=given, by="superpopulation")
    assert result.included == ["site-0", "site-1", "site-2"] and not result.excluded
    assert result.reference.sha256 == reference_file[1]
    assert result.describe()["reference_sha256"] == reference_file[1]
    assert list(result.table.columns) == ["group", "n_samples", "n_sites", "PC1", "PC2", "PC3"]
    projections = project_samples(kg_subset, result.reference)
    frame = pd.DataFrame(projections, columns=["PC1", "PC2", "PC3"])
    frame["group"] = kg_subset.samples["superpopulation"].to_numpy()
    means = frame.groupby("group")[["PC1", "PC2", "PC3"]].mean()
    table = result.table.set_index("group")
    np.testing.assert_allclose(table[["PC1", "PC2", "PC3"]], means.loc[table.index], atol=1e-8)
    assert (
        table["n_samples"].to_dict()
        == kg_subset.samples["superpopulation"].value_counts().to_dict()
    )
    for group, cov in result.covariance.items():
        expected = np.cov(frame.loc[frame["group"] == group, ["PC1", "PC2", "PC3"]].T, ddof=0)
        np.testing.assert_allclose(cov, expected, atol=1e-8)
    assert np.ptp(table["PC1"]) > 0.01  # AFR and EAS pull apart on PC1/PC2
    first_two = federated_pca([s.url for s in sites], by="superpopulation", k=2)
    np.testing.assert_allclose(
        first_two.table[["PC1", "PC2"]], result.table[["PC1", "PC2"]], atol=1e-12
    )


def test_federate_writes_pca_groups_and_excludes_a_site_without_the_reference(
    sites, site_cohorts, tmp_path
):
    from genshare_widgets.federation import federate, start_site

    plain = start_site(site_cohorts[0], name="no-pca", by="superpopulation", min_count=20)
    try:
        result = federate(
            [*(s.url for s in sites), plain.url],
            by="superpopulation",
            stats=["fst"],
            pca_k=2,
            pca_reference=sites[0].url,
            out=tmp_path,
        )
        strict = tmp_path / "strict"
        with pytest.raises(GenShareError, match=r"only 3 of 4 sites answered the PCA step") as e:
            federate(
                [*(s.url for s in sites), plain.url],
                by="superpopulation",
                stats=["fst"],
                pca_k=2,
                pca_reference=sites[0].url,
                out=strict,
                min_sites=4,
            )
        assert "no-pca" in str(e.value) and not strict.exists()
    finally:
        plain.stop()
    table = pd.read_csv(tmp_path / "pca_groups.tsv", sep="\t")
    assert list(table.columns) == ["group", "n_samples", "n_sites", "PC1", "PC2"]
    assert set(table["n_sites"]) == {3}
    (gone,) = [e for e in result.excluded if e["reason"].startswith("PCA")]
    assert gone["site"] == plain.url and "HTTP 403" in gone["reason"]
    assert "never releases frequencies or SNP weights" in gone["reason"]


def test_no_endpoint_returns_individual_level_data(sites, kg_subset, reference_file):
    import httpx

    ids = [str(s) for s in kg_subset.samples.index]
    url = sites[0].url
    with httpx.Client(timeout=120) as client:
        info = client.get(url + "/")
        counts = client.post(url + "/counts", json={"by": "superpopulation"})
        reference = client.get(url + "/pca/reference")
        project = client.post(url + "/pca/project", json={"reference_sha256": reference_file[1]})
        docs = [client.get(url + path).status_code for path in ("/docs", "/openapi.json")]
    texts = [r.text for r in (info, counts, reference, project)]
    assert all(r.status_code == 200 for r in (info, counts, reference, project))
    for text in texts:
        assert not any(sample_id in text for sample_id in ids[::7])
        assert "call_genotype" not in text and '"samples"' not in text
    body = counts.json()
    n_groups = len(body["groups"])
    assert all(len(rows) == n_groups for rows in body["counts"].values())  # per group, not sample
    assert all(len(g["mean"]) == 3 for g in project.json()["groups"])
    assert reference.json()["sha256"] == reference_file[1] == info.json()["pca"]["reference_sha256"]
    assert docs == [404, 404]


def test_token_is_required_when_configured(site_cohorts):
    from genshare_widgets._errors import GenShareError
    from genshare_widgets.federation import federate, start_site

    server = start_site(site_cohorts[0], name="locked", by="superpopulation", token="s3cret")
    try:
        with pytest.raises(GenShareError, match="HTTP 401"):
            federate([server.url], by="superpopulation", stats=["fst"])
        allowed = federate([server.url], by="superpopulation", stats=["fst"], token="s3cret")
    finally:
        server.stop()
    assert allowed.included[0]["site"] == "locked"


def test_no_usable_site_is_one_clear_error():
    from genshare_widgets._errors import GenShareError
    from genshare_widgets.federation import federate

    down = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(GenShareError, match="no site could be used"):
        federate([down], by="population", timeout=2)


def _wait_for(url: str, proc: subprocess.Popen, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"site exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(url + "/", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come up in {seconds} s")


@pytest.mark.slow
def test_cli_site_serve_and_federate(site_tables, pooled, reference_file, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    path, digest = reference_file
    procs, urls = [], []
    try:
        for i, table in enumerate(site_tables):
            port = _free_port()
            cmd = [sys.executable, "-m", "genshare_widgets", "site", "serve",
                   "1kg-phase3-subset", "--samples", str(table), "--name", f"cli-{i}",
                   "--by", "superpopulation", "--pca-reference", str(path),
                   "--pca-reference-sha256", digest,
                   "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
            procs.append(subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True))
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs, strict=True):
            _wait_for(url, proc, 60)
        cmd = [sys.executable, "-m", "genshare_widgets", "federate",
               *[a for url in urls for a in ("--site", url)],
               "--stats", "freq,fst,het,sfs,shared", "--by", "superpopulation",
               "--pca", "2", "--pca-reference", str(path), "--out", str(tmp_path)]  # fmt: skip
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    for name in FILES:
        assert filecmp.cmp(tmp_path / name, pooled["superpopulation"] / name, shallow=False), name
    provenance = json.loads((tmp_path / "provenance.json").read_text())
    assert [s["site"] for s in provenance["federation"]["sites"]] == ["cli-0", "cli-1", "cli-2"]
    assert provenance["pca"]["reference_sha256"] == digest
    assert provenance["pca"]["sites"] == ["cli-0", "cli-1", "cli-2"]
    table = pd.read_csv(tmp_path / "pca_groups.tsv", sep="\t")
    assert list(table.columns) == ["group", "n_samples", "n_sites", "PC1", "PC2"]
    assert table["n_samples"].sum() == 1126


# --- The attacker's side (issue 13, attacks 1, 2, 7, 11, 12) through real HTTP, k = 20 -------


def _refusal(response, status: int, rule: str) -> str:
    """Assert a refused request: ``status``, JSON naming ``rule``; returns the detail."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["rule"] == rule, body
    assert isinstance(body["detail"], str) and len(body["detail"]) > 40
    return body["detail"]


def _true_dosages(cohort, variants: pd.DataFrame) -> np.ndarray:
    """ALT dosages (members × reference variants) of a site's own samples: the ground truth."""
    from genshare_widgets.federation._pca import _store_rows, site_members

    rows = _store_rows(cohort, variants)
    gt = np.asarray(cohort.genotypes["call_genotype"].isel(variants=rows).values)
    dosage = (gt == 1).sum(axis=2).T.astype(np.float64)
    dosage[(gt < 0).any(axis=2).T] = np.nan
    return dosage[site_members(cohort)]


def reconstruct_people(payload, n_samples: int) -> list[np.ndarray]:
    """Attack 1: from a site's p and W = XᵀU/(Mλ), a single carrier's row of W is its PC
    vector uᵢ (up to a known scale), and (XᵀU)·uᵢ is that person's standardised genotype
    vector when k = n - 1. Returns the genotype vectors rebuilt (one per singleton)."""
    from genshare_widgets.federation import PCAReference

    # today's answer nests it; the old one did not (decoded as any client would)
    ref = PCAReference.from_json(payload.get("reference", payload))
    p, weights, eigenvalues = ref.p, ref.weights, ref.eigenvalues
    scores = weights * (len(p) * eigenvalues)[None, :]  # = XᵀU
    scale = np.sqrt(p * (1 - p))
    singletons = np.flatnonzero(np.isclose(2 * n_samples * p, 1.0))
    return [np.rint((scores @ (scores[j] * scale[j])) * scale + 2 * p) for j in singletons]


def people_recovered(rebuilt: list[np.ndarray], truth: np.ndarray) -> int:
    """Site members whose genotypes at every reference variant equal a rebuilt vector."""
    found = set()
    for vector in rebuilt:
        hits = np.flatnonzero((truth == vector[None, :]).all(axis=1))
        found.update(hits.tolist())
    return len(found)


@pytest.fixture(scope="module")
def eas_site_cohort(kg_subset, tmp_path_factory):
    """One site holding the 207 East Asian samples (CHB + JPT), as in attack 1."""
    from genshare_widgets.federation import open_site_cohort

    table = kg_subset.samples.reset_index()
    path = tmp_path_factory.mktemp("eas") / "eas.tsv"
    table[table["superpopulation"] == "EAS"].to_csv(path, sep="\t", index=False)
    return open_site_cohort("1kg-phase3-subset", samples=path)


@pytest.fixture(scope="module")
def k20_sites(eas_site_cohort, reference_file):
    """The EAS site at k = 20: without a reference, and with the approved file."""
    from genshare_widgets.federation import start_site

    path, digest = reference_file
    plain = start_site(eas_site_cohort, name="eas-k20", min_count=20)
    approved = start_site(
        eas_site_cohort,
        name="eas-k20-ref",
        min_count=20,
        pca_reference=path,
        pca_reference_sha256=digest,
    )
    try:
        yield plain, approved
    finally:
        plain.stop()
        approved.stop()


def test_attack1_reconstruction_from_reference_recovers_nobody(
    eas_site_cohort, k20_sites, kg_subset
):
    import httpx

    from genshare_widgets.federation import PCAReference, start_site

    plain, approved = k20_sites
    attack = {"k": 206, "min_maf": 0.0}  # what the reviewer asked for: every PC, every variant
    with httpx.Client(timeout=120) as client:
        n = sum(client.get(plain.url + "/").json()["groupings"]["population"].values())
        refused = [client.post(plain.url + "/pca/reference", json=attack)]
        refused.append(client.get(plain.url + "/pca/reference"))
        served = client.get(approved.url + "/pca/reference")
        asked = client.post(approved.url + "/pca/reference", json=attack)
    assert n == 207
    for response in refused:
        detail = _refusal(response, 403, "open-tier-reference")
        assert "never releases frequencies or SNP weights" in detail
    assert '"p"' not in refused[0].text and '"weights"' not in refused[0].text
    _refusal(asked, 400, "fixed-by-site")
    # what the approved site serves is the custodian's file, fitted on the open data, not a
    # function of its own 207 samples
    ref = PCAReference.from_json(served.json()["reference"])
    truth = _true_dosages(eas_site_cohort, ref.variants)
    own_p = np.nanmean(truth, axis=0) / 2
    assert ref.k == 3 and np.abs(ref.p - own_p).max() > 0.1
    recovered = people_recovered(reconstruct_people(served.json(), n), truth)
    # an open-tier EAS site may fit its own reference, at most 10 PCs and MAF >= 0.05
    open_site = start_site(eas_site_cohort, name="eas-open", pca_k=10)
    try:
        with httpx.Client(timeout=120) as client:
            own = client.get(open_site.url + "/pca/reference").json()
    finally:
        open_site.stop()
    truth_open = _true_dosages(eas_site_cohort, PCAReference.from_json(own["reference"]).variants)
    recovered_open = people_recovered(reconstruct_people(own, n), truth_open)
    print(f"\nattack 1 on the 207-sample EAS site: k=20 site {recovered} people, open site "
          f"(k<=10, MAF>=0.05) {recovered_open} people")  # fmt: skip
    assert recovered == 0 and recovered_open == 0


def test_attack2_client_made_references_are_refused(k20_sites, reference_file):
    """Identity weights with p = 0.5 would turn group means into exact allele counts; any
    reference but the approved one is refused, by hash, whatever its shape."""
    import httpx

    from genshare_widgets.federation import PCAReference

    plain, approved = k20_sites
    with httpx.Client(timeout=120) as client:
        counts = client.post(plain.url + "/counts", json={"region": "22"}).json()
        hidden = np.asarray(counts["status"]["allele_count"]) == 1  # shown as <20
        cols = np.flatnonzero(hidden.any(axis=0))[:10]
        assert len(cols) == 10
        variants = pd.DataFrame(
            {k: [counts["variants"][k][c] for c in cols] for k in ("contig", "position")}
            | {k: [counts["variants"][k][c] for c in cols] for k in ("ref", "alt")}
        )
        identity = PCAReference(
            variants=variants, p=np.full(10, 0.5), weights=np.eye(10), eigenvalues=np.ones(10)
        )
        rare = PCAReference(
            variants=variants, p=np.full(10, 1e-3), weights=np.eye(10), eigenvalues=np.ones(10)
        )
        approved_ref = PCAReference.from_json(
            client.get(approved.url + "/pca/reference").json()["reference"]
        )
        answers = {
            "identity": client.post(
                approved.url + "/pca/project", json={"reference": identity.to_json()}
            ),
            "rare": client.post(
                approved.url + "/pca/project", json={"reference_sha256": rare.sha256}
            ),
            "no reference at the site": client.post(
                plain.url + "/pca/project", json={"reference": identity.to_json()}
            ),
            "approved, sent whole": client.post(
                approved.url + "/pca/project", json={"reference": approved_ref.to_json()}
            ),
        }
    _refusal(answers["identity"], 403, "approved-reference")
    _refusal(answers["rare"], 403, "approved-reference")
    _refusal(answers["no reference at the site"], 403, "open-tier-reference")
    summary = answers["approved, sent whole"].json()
    assert summary["sha256"] == reference_file[1]
    assert {g["group"] for g in summary["groups"]} == {"CHB", "JPT"}
    assert all(g["n"] >= 20 for g in summary["groups"])


def test_reference_settings_contradicting_the_tier_fail_at_start(eas_site_cohort, tmp_path):
    from genshare_widgets.disclosure import DisclosurePolicy, policy_for
    from genshare_widgets.federation import PCAReference, SiteRefusal, pca_reference, site_app
    from genshare_widgets.federation._pca import MAX_PCS

    k20 = policy_for(eas_site_cohort.entry, min_count=20)
    with pytest.raises(SiteRefusal, match="open-tier") as info:
        site_app(eas_site_cohort, name="x", policy=k20, pca_k=4)
    assert info.value.rule == "open-tier-reference"
    with pytest.raises(SiteRefusal, match="differential privacy"):
        site_app(eas_site_cohort, name="x", policy=DisclosurePolicy(epsilon=1.0), pca_k=4)
    for k, maf, words in ((11, 0.05, "1..10"), (4, 0.01, ">= 0.05")):
        with pytest.raises(SiteRefusal, match=words):
            site_app(eas_site_cohort, name="x", pca_k=k, pca_min_maf=maf)
    with pytest.raises(Exception, match="components"):
        pca_reference(eas_site_cohort, k=MAX_PCS + 1)
    wide = pca_reference(eas_site_cohort, k=2)
    wide.weights = np.tile(wide.weights, 6)  # 12 components
    wide.eigenvalues = np.tile(wide.eigenvalues, 6)
    digest = wide.save(tmp_path / "wide.json")
    with pytest.raises(Exception, match="12 components"):
        PCAReference.load(tmp_path / "wide.json", sha256=digest)
    good = pca_reference(eas_site_cohort, k=2)
    # a custodian talked into approving identity-like weights (attack 2's reference) is stopped
    identity = PCAReference(
        variants=good.variants[:10].reset_index(drop=True),
        p=np.full(10, 0.5),
        weights=np.eye(10),
        eigenvalues=np.ones(10),
    )
    digest = identity.save(tmp_path / "identity.json")
    with pytest.raises(Exception, match="component 1 puts its weight on about 1 variants"):
        PCAReference.load(tmp_path / "identity.json", sha256=digest)
    digest = good.save(tmp_path / "good.json")
    with pytest.raises(Exception, match="not the approved"):
        PCAReference.load(tmp_path / "good.json", sha256="0" * 64)
    (tmp_path / "pretty.json").write_text(json.dumps(json.loads(good.to_bytes()), indent=1))
    pretty = __import__("hashlib").sha256((tmp_path / "pretty.json").read_bytes()).hexdigest()
    with pytest.raises(Exception, match="canonical"):
        PCAReference.load(tmp_path / "pretty.json", sha256=pretty)
    assert PCAReference.load(tmp_path / "good.json", sha256=digest).sha256 == digest


def test_attack7_one_grouping_per_site(site_cohorts, sites_by):
    """Population and superpopulation at one site let a superpopulation total minus its
    released populations recover suppressed population counts: a site serves one."""
    import httpx

    from genshare_widgets.federation import SiteRefusal, site_app

    with pytest.raises(SiteRefusal, match="one grouping") as info:
        site_app(site_cohorts[0], name="x", groupings=["population", "superpopulation"])
    assert info.value.rule == "one-grouping"
    url = sites_by["population"][0].url
    with httpx.Client(timeout=60) as client:
        info_answer = client.get(url + "/").json()
        coarse = client.post(url + "/counts", json={"by": "superpopulation"})
        project = client.post(url + "/pca/project", json={"by": "superpopulation"})
    assert list(info_answer["groupings"]) == ["population"]
    assert info_answer["grouping"] == "population"
    _refusal(coarse, 400, "one-grouping")
    assert project.status_code in (400, 403)


def test_client_cannot_choose_k_or_other_settings(sites):
    import httpx

    with httpx.Client(timeout=60) as client:
        answer = client.post(
            sites[0].url + "/counts", json={"min_count": 1, "by": "superpopulation"}
        )
        reference = client.post(sites[0].url + "/pca/reference", json={"k": 10})
        sha = client.get(sites[0].url + "/").json()["pca"]["reference_sha256"]
        project = client.post(
            sites[0].url + "/pca/project", json={"reference_sha256": sha, "min_group": 1}
        )
    detail = _refusal(answer, 400, "fixed-by-site")
    assert "min_count" in detail
    _refusal(reference, 400, "fixed-by-site")
    assert "min_group" in _refusal(project, 400, "fixed-by-site")


@pytest.fixture(scope="module")
def id_like_tables(kg_subset, tmp_path_factory) -> dict[str, Path]:
    """Sample tables whose grouping column is the sample id (attack 11): for everyone, and
    for everyone but YRI (YRI keep their population); plus 3 CEU beside all YRI."""
    folder = tmp_path_factory.mktemp("id-like")
    table = kg_subset.samples.reset_index()
    ids = table["sample"].astype(str)
    out = {}
    everyone = table.assign(label=ids)
    out["ids"] = folder / "ids.tsv"
    everyone.to_csv(out["ids"], sep="\t", index=False)
    mixed = table.assign(label=ids.where(table["population"] != "YRI", "YRI"))
    out["mixed"] = folder / "mixed.tsv"
    mixed.to_csv(out["mixed"], sep="\t", index=False)
    few = pd.concat([table[table["population"] == "YRI"], table[table["population"] == "CEU"][:3]])
    out["few"] = folder / "few.tsv"
    few.to_csv(out["few"], sep="\t", index=False)
    return out


def test_attack11_one_person_groups_answer_nothing(id_like_tables, kg_subset):
    """A grouping where groups are single people (the id column): no per-person count, no
    sample id, in the open tier too."""
    import httpx

    from genshare_widgets.federation import SiteRefusal, open_site_cohort, site_app, start_site

    ids = {str(s) for s in kg_subset.samples.index}
    everyone = open_site_cohort("1kg-phase3-subset", samples=id_like_tables["ids"])
    with pytest.raises(SiteRefusal, match="no group of at least 5 samples") as info:
        site_app(everyone, name="ids", by="label")
    assert info.value.rule == "min-group-size"
    mixed = open_site_cohort("1kg-phase3-subset", samples=id_like_tables["mixed"])
    few = open_site_cohort("1kg-phase3-subset", samples=id_like_tables["few"])
    answers = {}
    for name, cohort in (("mixed", mixed), ("few", few)):
        by = "label" if name == "mixed" else "population"
        site = start_site(cohort, name=name, by=by, pca_k=2)  # open tier, no policy
        try:
            with httpx.Client(timeout=120) as client:
                sha = client.get(site.url + "/").json()["pca"]["reference_sha256"]
                answers[name] = [
                    client.get(site.url + "/"),
                    client.post(site.url + "/counts", json={"region": "22"}),
                    client.post(site.url + "/pca/project", json={"reference_sha256": sha}),
                ]
        finally:
            site.stop()
    for name, (info_answer, counts, project) in answers.items():
        assert all(r.status_code == 200 for r in (info_answer, counts, project))
        assert next(iter(info_answer.json()["groupings"].values())) == {"YRI": 108}
        assert counts.json()["groups"] == ["YRI"]
        assert [g["group"] for g in project.json()["groups"]] == ["YRI"]
        for response in (info_answer, counts, project):
            words = set(response.text.replace('"', " ").replace(",", " ").split())
            assert not words & ids, name
            assert "CEU" not in response.text


def test_attack11_table_without_population_column_is_refused_at_start(kg_subset, tmp_path):
    """A sample table without the population column: the default grouping used to fall back
    to the sample id (one person per group). The grouping is now unset and the site refuses to
    start, naming the table's columns, instead of listing ids and per-person counts; an
    id-like column given on purpose is refused by the minimum group size."""
    from genshare_widgets._errors import GenShareError
    from genshare_widgets.federation import SiteRefusal, open_site_cohort, site_app

    path = tmp_path / "no-pop.tsv"
    table = kg_subset.samples.reset_index()[["sample", "sex"]]
    table["sample_copy"] = table["sample"]
    table.to_csv(path, sep="\t", index=False)
    cohort = open_site_cohort("1kg-phase3-subset", samples=path)
    with pytest.raises(GenShareError, match=r"no population column \(columns: .*'sex'"):
        site_app(cohort, name="x")
    with pytest.raises(SiteRefusal, match=r"no group of at least 5 samples \(the largest has 1\)"):
        site_app(cohort, name="x", by="sample_copy")


def test_npoa_refuses_pca_and_counts_by_population():
    import httpx

    from genshare_widgets.disclosure import AnalysisRefused
    from genshare_widgets.federation import open_site_cohort, site_app, start_site

    npoa = open_site_cohort("sim-ooa-npoa")
    for by in (None, "population"):
        with pytest.raises(AnalysisRefused, match="refuses per-population frequencies"):
            site_app(npoa, name="npoa", by=by, pca_k=2)
    site = start_site(npoa, name="npoa-sex", by="sex", pca_k=2)  # cuts across populations
    try:
        with httpx.Client(timeout=120) as client:
            info = client.get(site.url + "/").json()
            sha = info["pca"]["reference_sha256"]
            project = client.post(site.url + "/pca/project", json={"reference_sha256": sha})
            other = client.post(site.url + "/pca/project", json={"by": "population"})
    finally:
        site.stop()
    assert set(info["groupings"]["sex"]) == {"female", "male"}
    assert {g["group"] for g in project.json()["groups"]} == {"female", "male"}
    _refusal(other, 400, "one-grouping")


def test_cli_site_serve_refuses_contradictory_settings_at_start(
    id_like_tables, reference_file, tmp_path
):
    from click.testing import CliRunner

    from genshare_widgets.cli import main

    path, digest = reference_file
    cases = [
        (["--by", "population", "--by", "superpopulation"], "a site serves one grouping"),
        (["--min-count", "20", "--pca-k", "4"], "open-tier data served without"),
        (["--pca-k", "11"], "--pca-k must be 1..10"),
        (["--pca-k", "4", "--pca-min-maf", "0.01"], "--pca-min-maf must be >= 0.05"),
        (["--pca-reference", str(path)], "go together"),
        (["--pca-reference", str(path), "--pca-reference-sha256", "ab" * 32], "not the approved"),
        (["--pca-reference", str(path), "--pca-reference-sha256", digest, "--pca-k", "2"],
         "not both"),
        (["--samples", str(id_like_tables["ids"]), "--by", "label"], "no group of at least 5"),
    ]  # fmt: skip
    for extra, message in cases:
        result = CliRunner().invoke(main, ["site", "serve", "1kg-phase3-subset", *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert message in " ".join(result.output.split()), (extra, result.output)
    result = CliRunner().invoke(main, ["site", "serve", "sim-ooa-npoa", "--pca-k", "2"])
    assert result.exit_code == 2 and "refuses per-population frequencies" in result.output
