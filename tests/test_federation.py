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
def sites(site_cohorts):
    """Three open-policy sites on loopback."""
    from genshare_widgets.federation import start_site

    servers = []
    try:
        for i, cohort in enumerate(site_cohorts):
            servers.append(start_site(cohort, name=f"site-{i}"))
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def pooled(kg_subset, tmp_path_factory):
    """`genshare stats` files of the whole subset, per grouping."""
    from genshare_widgets._stats_run import run_stats

    out = {}
    for by in ("superpopulation", "population"):
        folder = tmp_path_factory.mktemp(f"pooled-{by}")
        run_stats(kg_subset, folder, by=by, wanted=list(s.split(".")[0] for s in FILES))
        out[by] = folder
    return out


@pytest.mark.parametrize("by", ["superpopulation", "population"])
def test_federated_files_equal_pooled(sites, pooled, by, tmp_path):
    from genshare_widgets.federation import federate

    result = federate([s.url for s in sites], by=by, out=tmp_path, timeout=60)
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
            servers.append(start_site(cohort, name=f"k20-{i}", min_count=20))
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
                app = site_app(cohort, name=f"dp{i}", policy=policy, budget=budget)
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
    server = RunningServer(site_app(site_cohorts[0], name="dp", policy=policy, budget=budget))
    try:
        server.start()
        with httpx.Client(timeout=60) as client:
            answers = [
                client.post(server.url + "/counts", json={"by": "superpopulation"}).json()
                for _ in range(2)
            ]
            client.post(server.url + "/counts", json={"by": "population"}).raise_for_status()
    finally:
        server.stop()
    assert answers[0]["counts"] == answers[1]["counts"]  # the same noisy answer, no re-draw
    assert budget.spent == pytest.approx(2e5)


def test_federated_pca_group_centroids_equal_pooled_projection(sites, kg_subset):
    from genshare_widgets.federation import federated_pca, project_samples

    result = federated_pca(
        [s.url for s in sites], reference=sites[0].url, by="superpopulation", k=3, timeout=120
    )
    assert result.included == ["site-0", "site-1", "site-2"] and not result.excluded
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
    # the reference site's own samples project onto its PCs: AFR and EAS pull apart on PC1/PC2
    assert np.ptp(table["PC1"]) > 0.01


def test_no_endpoint_returns_individual_level_data(sites, kg_subset):
    import httpx

    ids = [str(s) for s in kg_subset.samples.index]
    url = sites[0].url
    with httpx.Client(timeout=120) as client:
        info = client.get(url + "/")
        counts = client.post(url + "/counts", json={"by": "population"})
        reference = client.post(url + "/pca/reference", json={"k": 2})
        project = client.post(
            url + "/pca/project", json={"by": "population", "reference": reference.json()}
        )
        docs = [client.get(url + path).status_code for path in ("/docs", "/openapi.json")]
    texts = [r.text for r in (info, counts, reference, project)]
    assert all(r.status_code == 200 for r in (info, counts, reference, project))
    for text in texts:
        assert not any(sample_id in text for sample_id in ids[::7])
        assert "call_genotype" not in text and '"samples"' not in text
    body = counts.json()
    n_groups = len(body["groups"])
    assert all(len(rows) == n_groups for rows in body["counts"].values())  # per group, not sample
    assert all(len(g["mean"]) == 2 for g in project.json()["groups"])
    assert docs[0] == 404


def test_token_is_required_when_configured(site_cohorts):
    from genshare_widgets._errors import GenShareError
    from genshare_widgets.federation import federate, start_site

    server = start_site(site_cohorts[0], name="locked", token="s3cret")
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
def test_cli_site_serve_and_federate(site_tables, pooled, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs, urls = [], []
    try:
        for i, table in enumerate(site_tables):
            port = _free_port()
            cmd = [sys.executable, "-m", "genshare_widgets", "site", "serve",
                   "1kg-phase3-subset", "--samples", str(table), "--name", f"cli-{i}",
                   "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
            procs.append(subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True))
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs, strict=True):
            _wait_for(url, proc, 60)
        cmd = [sys.executable, "-m", "genshare_widgets", "federate",
               *[a for url in urls for a in ("--site", url)],
               "--stats", "freq,fst,het,sfs,shared", "--by", "superpopulation",
               "--out", str(tmp_path)]  # fmt: skip
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
