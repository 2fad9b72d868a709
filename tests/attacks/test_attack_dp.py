"""Attack 9 (issue 13): differential privacy without limits, through ``genshare stats
--epsilon`` files and ``genshare site serve --epsilon`` processes.

A refusal (non-zero exit or HTTP 4xx naming epsilon / the budget / the cap) is a success for the
defender. Each attack has its own cache folders (copies of the prepared store), so ledgers
start empty and tests are independent.
"""

import httpx
import numpy as np
import pandas as pd
import pytest
from cli_runner import run_genshare
from red_team import COHORT, K, ServiceRefused, genshare_service

pytestmark = [pytest.mark.realdata, pytest.mark.slow, pytest.mark.timeout(240)]

DEFAULT_TOTAL = 100_000.0  # today's default budget (GENSHARE_EPSILON_BUDGET unset)
WORDS = ("epsilon", "budget", "cap", "ε")


def release(out, *args, cache, env=None):
    """``genshare stats ... --out OUT`` in ``cache``; the folder, or None when refused."""
    done = run_genshare(
        *args, "--out", str(out), env={"GENSHARE_CACHE": str(cache), **(env or {})}, timeout=300
    )
    if done.returncode == 0:
        return out
    message = (done.stderr + done.stdout).lower()
    assert "traceback" not in message, done.stderr
    assert any(w in message for w in WORDS), done.stderr
    assert not (out.exists() and any(p.is_file() for p in out.rglob("*"))), "refused but wrote"
    return None


def one_variant_region(truth_counts, k: int = K) -> tuple[str, int]:
    ac = truth_counts["allele_count"].values
    contig = truth_counts["variant_contig"].values.astype(str)
    small = ((ac >= 1) & (ac < k)).sum(axis=1)
    small[contig != "1"] = -1
    row = int(np.argmax(small))
    pos = int(truth_counts["variant_position"].values[row])
    return f"1:{pos}-{pos}", row


def attack_large_epsilon(tmp_path, truth_counts, cache, k: int = K) -> int:
    """Attack 9a: ε = 100 on one variant. Returns small AC cells (1..k-1) released exactly."""
    region, row = one_variant_region(truth_counts)
    out = release(
        tmp_path / "eps100", "stats", COHORT, "--epsilon", "100", "--by", "population",
        "--freq", "--region", region, cache=cache,
    )  # fmt: skip
    if out is None:
        return 0
    line = pd.read_csv(out / "freq.tsv", sep="\t", dtype=str).iloc[0]
    exact = 0
    for j, g in enumerate(str(x) for x in truth_counts["groups"].values):
        true = int(truth_counts["allele_count"].values[row, j])
        shown = line.get(f"{g}_ac", "NA")
        exact += int(1 <= true < k and shown.isdigit() and int(shown) == true)
    return exact


REGISTERED = "sim-ooa-gru-registered"


def test_attack9a_no_near_exact_release_at_large_epsilon(tmp_path, fresh_cache):
    """ε = 100 on one variant of a registered entry: the custodian's per-release cap (the
    tier's, 1) refuses it before any work. (On open data there is no custodian: a user who
    asks ε = 100 of a public file gets what they asked for.)"""
    out = release(
        tmp_path / "eps100", "stats", REGISTERED, "--purpose", "GRU;publish", "--epsilon",
        "100", "--freq", "--region", "1:1-20000", cache=fresh_cache(),
    )  # fmt: skip
    print("attack 9a (ε = 100, one variant, registered entry): served =", int(out is not None))
    assert out is None


def attack_environment_budget(tmp_path, truth_counts, cache) -> int:
    """Attack 9b: ``GENSHARE_EPSILON_BUDGET`` in the querier's environment raises the budget:
    a release of ε = 2 × the custodian's default total. Returns releases served beyond it."""
    region, _ = one_variant_region(truth_counts)
    out = release(
        tmp_path / "env", "stats", COHORT, "--epsilon", str(2 * DEFAULT_TOTAL), "--freq",
        "--region", region, cache=cache,
        env={"GENSHARE_EPSILON_BUDGET": str(1e12)},
    )  # fmt: skip
    return int(out is not None)


def test_attack9b_querier_environment_sets_no_budget(tmp_path, truth, fresh_cache):
    served = attack_environment_budget(tmp_path, truth["population"], fresh_cache())
    print("attack 9b (GENSHARE_EPSILON_BUDGET): releases beyond the budget =", served)
    assert served == 0


def attack_fresh_cache(tmp_path, truth_counts, cache_a, cache_b) -> int:
    """Attack 9c: spend 60% of the budget, then 60% more: refused in the same cache, but
    another cache folder has a fresh ledger. Returns releases served beyond the budget."""
    region, _ = one_variant_region(truth_counts)
    eps = str(0.6 * DEFAULT_TOTAL)
    args = ("stats", COHORT, "--epsilon", eps, "--freq", "--region", region)
    first = release(tmp_path / "a1", *args, cache=cache_a)
    if first is None:
        return 0  # a per-release cap refuses it: the budget cannot be overrun this way
    served = int(release(tmp_path / "a2", *args, cache=cache_a) is not None)
    served += int(release(tmp_path / "b1", *args, cache=cache_b) is not None)
    return served


def test_attack9c_budget_is_not_per_cache_folder(tmp_path, truth, fresh_cache):
    served = attack_fresh_cache(tmp_path, truth["population"], fresh_cache(), fresh_cache())
    print("attack 9c (fresh cache folder): releases beyond the budget =", served)
    assert served == 0


def attack_site_restart(cache) -> int:
    """Attack 9d: a site's budget lives in memory: exhaust it with distinct requests, restart
    the site, ask again. Returns answers served beyond the budget."""
    args = ("site", "serve", COHORT, "--epsilon", str(0.6 * DEFAULT_TOTAL))
    env = {"GENSHARE_CACHE": str(cache)}
    served = 0
    try:
        for regions in (("1:1-2000000", "1:2000001-4000000"), ("2:1-2000000",)):
            with genshare_service(*args, env=env) as url:
                for region in regions:
                    response = httpx.post(
                        url + "/counts", json={"by": "population", "region": region}, timeout=120
                    )
                    if response.status_code == 200:
                        served += 1
                    else:
                        assert 400 <= response.status_code < 500, response.text
                        detail = str(response.json().get("detail", "")).lower()
                        assert any(w in detail for w in WORDS), detail
    except ServiceRefused as exc:
        assert any(w in exc.message.lower() for w in WORDS), exc.message
    return max(0, served - 1)  # one answer fits the budget


def test_attack9d_site_budget_survives_restart(fresh_cache):
    served = attack_site_restart(fresh_cache())
    print("attack 9d (site restart): answers beyond the budget =", served)
    assert served == 0


def attack_exact_group_sizes(tmp_path, sample_table) -> int:
    """Attack 9e: two DP sites, one with a target person and one without: exact group sizes
    differ by exactly one in the target's group and nowhere else. Returns 1 when membership
    is read off the group sizes."""
    tables = {}
    person = sample_table[sample_table["population"] == "GBR"].iloc[0]["sample"]
    for name, table in (
        ("with", sample_table),
        ("without", sample_table[sample_table["sample"] != person]),
    ):
        path = tmp_path / f"{name}.tsv"
        table.to_csv(path, sep="\t", index=False)
        try:  # the session's cache: its store is prepared already
            with genshare_service(
                "site", "serve", COHORT, "--samples", str(path), "--epsilon", "10"
            ) as url:
                response = httpx.post(
                    url + "/counts", json={"by": "population", "region": "1:1-1000000"},
                    timeout=120,
                )  # fmt: skip
                if response.status_code != 200:
                    return 0
                answer = response.json()
                tables[name] = dict(zip(answer["groups"], answer["group_n_samples"], strict=True))
        except ServiceRefused as exc:
            assert any(w in exc.message.lower() for w in WORDS), exc.message
            return 0
    diff = {g: tables["with"].get(g, 0) - tables["without"].get(g, 0) for g in tables["with"]}
    return int(diff.get("GBR") == 1 and all(v == 0 for g, v in diff.items() if g != "GBR"))


def test_attack9e_group_sizes_are_noisy_under_dp(tmp_path, sample_table):
    found = attack_exact_group_sizes(tmp_path, sample_table)
    print("attack 9e (exact group sizes under DP): membership read =", found)
    assert found == 0
