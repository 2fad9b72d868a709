"""Attacks 4 and 7 (issue 13) on a real ``genshare site serve`` at k = 20: linked cells of a
variant, and nested groupings (population and superpopulation) at one site.

Each attack reads ``POST /counts`` answers only, builds the integer tables consistent with
everything shown, and counts hidden cells with a true value in 1..k-1 that an exact solver
(:mod:`solver`) pins or narrows (plus cells shown, or implied by shown numbers, in 1..k-1).
"""

import httpx
import numpy as np
import pytest
from red_team import COHORT, K, ServiceRefused, genshare_service
from site_view import audit_cells, directly_shown_small, linked_model, shown_view, truth_view
from solver import IntegerTables

pytestmark = [pytest.mark.realdata, pytest.mark.slow, pytest.mark.timeout(240)]

REGION = "1:1-120000000"  # about 480 variants of chromosome 1 (autosomal: AN = 2 called)


@pytest.fixture(scope="module")
def site(mirror):
    """One site offering population at k = 20."""
    with genshare_service("site", "serve", COHORT, "--min-count", str(K)) as url:
        yield url


def counts_answer(url: str, by: str, region: str = REGION) -> dict | None:
    """The ``/counts`` answer, or None when the site refuses (4xx with a message)."""
    response = httpx.post(url + "/counts", json={"by": by, "region": region}, timeout=120)
    if 400 <= response.status_code < 500:
        assert response.json().get("detail"), response.text
        return None
    assert response.status_code == 200, response.text
    return response.json()


def attack_linked_cells(url: str, truth_counts, k: int = K) -> dict[str, int]:
    """Attack 4: AC = het + 2 hom-ALT, AN = 2 called, called = hom-REF + het + hom-ALT in
    one ``/counts`` answer → hidden cells in 1..k-1 pinned or narrowed, by cell."""
    answer = counts_answer(url, "population")
    assert answer is not None, "the site refused its own grouping"
    view = shown_view(answer)
    truth = truth_view(truth_counts, view["keys"], view["groups"])
    found = {"shown_small": directly_shown_small(view, k)}
    hidden = np.zeros(len(view["keys"]), dtype=bool)
    for status in view["status"].values():
        hidden |= (status != 0).any(axis=1)
    rows = np.flatnonzero(hidden)
    tables = IntegerTables()
    cells = linked_model(tables, view, rows, k)
    status = {c: view["status"][c][rows] for c in cells}
    sub_truth = {c: truth[c][rows] for c in cells}
    found.update(
        audit_cells(tables, cells, status, sub_truth, k, [list(range(len(view["groups"])))])
    )
    return found


def attack_nested_groupings(url: str, truth, superpop_of: dict, k: int = K) -> dict[str, int]:
    """Attack 7: superpopulation rows are sums of their populations' rows; hidden cells of
    both groupings pinned or narrowed by the joint tables, beyond what each grouping gives
    on its own (``beyond_single``)."""
    answers = [counts_answer(url, by) for by in ("population", "superpopulation")]
    if None in answers:
        return {"beyond_single": 0}  # the site does not serve both groupings
    pop, sup = (shown_view(a) for a in answers)
    assert pop["keys"] == sup["keys"]
    t_pop = truth_view(truth["population"], pop["keys"], pop["groups"])
    t_sup = truth_view(truth["superpopulation"], sup["keys"], sup["groups"])
    hidden = np.zeros(len(pop["keys"]), dtype=bool)
    for view in (pop, sup):
        for status in view["status"].values():
            hidden |= (status != 0).any(axis=1)
    rows = np.flatnonzero(hidden)
    # batches of columns with no two populations of one superpopulation (independent blocks)
    members = {
        s: [j for j, g in enumerate(pop["groups"]) if superpop_of[g] == s] for s in sup["groups"]
    }
    depth = max(len(m) for m in members.values())
    batches = [[m[i] for m in members.values() if i < len(m)] for i in range(depth)]

    def solve(joint: bool) -> dict[str, int]:
        tables = IntegerTables()
        cells_pop = linked_model(tables, pop, rows, k)
        cells_sup = linked_model(tables, sup, rows, k) if joint else None
        if joint:
            for s_col, s in enumerate(sup["groups"]):
                for cell in ("ac", "an", "het", "hom_alt", "called"):
                    parts = cells_pop[cell][:, members[s]]
                    total = cells_sup[cell][:, [s_col]]
                    variables = np.concatenate([total, parts], axis=1)
                    coefs = [1.0] + [-1.0] * parts.shape[1]
                    tables.constrain_many(variables, coefs, 0)
        out = {}
        for cell in ("ac", "an"):
            status = {cell: pop["status"][cell][rows]}
            result = audit_cells(
                tables, {cell: cells_pop[cell]}, status, {cell: t_pop[cell][rows]}, k, batches
            )
            out[f"population_{cell}"] = result[cell]
        if joint:
            for cell in ("ac", "an"):
                status = {cell: sup["status"][cell][rows]}
                result = audit_cells(
                    tables, {cell: cells_sup[cell]}, status, {cell: t_sup[cell][rows]}, k,
                    [list(range(len(sup["groups"])))],
                )  # fmt: skip
                out[f"superpopulation_{cell}"] = result[cell]
        return out

    single, joint = solve(False), solve(True)
    beyond = sum(joint[c] - single.get(c, 0) for c in joint)
    return {
        **{f"single_{c}": n for c, n in single.items()},
        **{f"joint_{c}": n for c, n in joint.items()},
        "beyond_single": beyond,
    }


def test_attack4_linked_cells_recover_nothing(site, truth):
    found = attack_linked_cells(site, truth["population"])
    print("attack 4 (linked cells):", found)
    assert sum(found.values()) == 0, found


def test_attack7_nested_groupings_recover_nothing(truth, sample_table):
    superpop_of = dict(
        zip(sample_table["population"], sample_table["superpopulation"], strict=True)
    )
    try:
        with genshare_service(
            "site", "serve", COHORT, "--min-count", str(K),
            "--by", "population", "--by", "superpopulation",
        ) as url:  # fmt: skip
            found = attack_nested_groupings(url, truth, superpop_of)
    except ServiceRefused as exc:  # nested groupings refused at start
        assert "group" in exc.message.lower(), exc.message
        found = {"beyond_single": 0}
    print("attack 7 (nested groupings):", found)
    assert found["beyond_single"] == 0, found


def attack_site_observed_het(url: str, truth_counts, k: int = K) -> int:
    """Attack 3 through a site (not listed in the issue): ``/counts`` carries each group's
    observed heterozygosity over the requested region; over a one-variant region it is
    het / called. Returns het counts in 1..k-1 recovered exactly."""
    het = truth_counts["het_count"].values
    contig = truth_counts["variant_contig"].values.astype(str)
    small = ((het >= 1) & (het < k)).sum(axis=1)
    small[contig != "1"] = -1
    row = int(np.argmax(small))
    pos = int(truth_counts["variant_position"].values[row])
    answer = counts_answer(url, "population", region=f"1:{pos}-{pos}")
    if answer is None:
        return 0
    observed = answer.get("observed_het") or []
    names = [str(g) for g in truth_counts["groups"].values]
    recovered = 0
    for group, value, n in zip(answer["groups"], observed, answer["group_n_samples"], strict=False):
        if value is None:
            continue
        j = names.index(group)
        guess = round(value * int(n))  # 1000 Genomes phase 3: no missing calls
        recovered += int(1 <= het[row, j] < k and guess == het[row, j])
    return recovered


def test_attack3_site_observed_het_over_one_variant(site, truth):
    recovered = attack_site_observed_het(site, truth["population"])
    print("attack 3 via /counts (observed het, one variant): het counts recovered =", recovered)
    assert recovered == 0
