"""Attacks 1, 2 and 11 (issue 13) on real ``genshare site serve`` processes: the federated PCA
endpoints and one-person groups.

A refusal (HTTP 4xx with a message) is a success for the defender; an answer is attacked and
what it gives away is counted.
"""

import httpx
import numpy as np
import pytest
from red_team import COHORT, K, ServiceRefused, genshare_service
from site_view import shown_view, truth_view

pytestmark = [pytest.mark.realdata, pytest.mark.slow, pytest.mark.timeout(240)]


def _refusal(response) -> str | None:
    """The message of a 4xx refusal, else None (2xx: an answer to attack)."""
    if 400 <= response.status_code < 500:
        detail = response.json().get("detail", response.text)
        return str(detail)
    assert response.status_code == 200, response.text
    return None


# -- attack 1: /pca/reference gives every singleton carrier's genotype vector ----------------
@pytest.fixture(scope="module")
def yri_ceu_site(sample_table, tmp_path_factory):
    """A site holding YRI + CEU (207 people) at k = 20."""
    path = tmp_path_factory.mktemp("site-yri-ceu") / "samples.tsv"
    sample_table[sample_table["population"].isin(["YRI", "CEU"])].to_csv(
        path, sep="\t", index=False
    )
    with genshare_service(
        "site", "serve", COHORT, "--samples", str(path), "--min-count", str(K)
    ) as url:  # fmt: skip
        yield url


def true_genotypes(cohort, sample_ids, variants):
    """Referee: ALT dosages (variants × samples; -1 missing) at (contig, pos, ref, alt) keys."""
    from genshare_widgets.federation._pca import _store_rows

    rows = _store_rows(cohort, variants)
    gt = np.asarray(cohort.genotypes["call_genotype"].isel(variants=rows).values)
    columns = [cohort.samples.index.get_loc(s) for s in sample_ids]
    gt = gt[:, columns]
    dosage = (gt == 1).sum(axis=-1)
    return np.where((gt < 0).any(axis=-1), -1, dosage)


def attack_pca_reference(url: str, cohort, members: list[str]) -> int:
    """Attack 1: ask for k = n - 1 components at min_maf ≈ 0. A site-singleton SNP's weight
    row is its carrier's eigenvector row (scaled), and X = W diag(Mλ) Uᵀ gives that person's
    whole standardised genotype vector. Returns the number of people whose genotypes at every
    reference SNP (where called) are reconstructed exactly."""
    import pandas as pd

    n = len(members)
    response = httpx.post(url + "/pca/reference", json={"k": n - 1, "min_maf": 1e-6}, timeout=180)
    if _refusal(response) is not None:
        return 0
    ref = response.json()
    if not all(key in ref for key in ("p", "weights", "eigenvalues", "variants")):
        return 0  # no site-computed frequencies or weights are released
    from genshare_widgets.federation import PCAReference

    decoded = PCAReference.from_json(ref)  # the wire format, decoded as any client would
    p, w, lam = decoded.p, decoded.weights, decoded.eigenvalues  # w: M × k
    m = len(p)
    sd = np.sqrt(p * (1 - p))
    singletons = np.flatnonzero(np.isclose(p * 2 * n, 1.0))
    if not len(singletons):
        return 0
    u_rows = w[singletons] * sd[singletons, None] * m * lam[None, :]  # carriers' rows of U
    x = w @ (m * lam[:, None] * u_rows.T)  # M × carriers, standardised genotypes
    guessed = np.rint(x * sd[:, None] + 2 * p[:, None]).astype(np.int64)
    variants = pd.DataFrame(
        {key: ref["variants"][key] for key in ("contig", "position", "ref", "alt")}
    )
    truth = true_genotypes(cohort, members, variants)
    called = truth >= 0
    people = set()
    for j in range(guessed.shape[1]):
        match = ((guessed[:, [j]] == truth) | ~called).all(axis=0)
        people.update(np.flatnonzero(match).tolist())
    return len(people)


def test_attack1_pca_reference_reconstructs_nobody(yri_ceu_site, kg, sample_table):
    members = sample_table.loc[sample_table["population"].isin(["YRI", "CEU"]), "sample"]
    recovered = attack_pca_reference(yri_ceu_site, kg, members.tolist())
    print("attack 1 (PCA reference): people reconstructed =", recovered)
    assert recovered == 0


# -- attack 2: /pca/project with a client-made reference -------------------------------------
@pytest.fixture(scope="module")
def population_site(mirror):
    with genshare_service("site", "serve", COHORT, "--min-count", str(K)) as url:
        yield url


def attack_pca_project(url: str, truth_counts, k: int = K, n_snps: int = 120) -> int:
    """Attack 2: a reference of identity weights with p = 0.5 on SNPs that ``/counts`` shows
    hidden: x = 2g - 2, so each group's mean and variance give Σg and Σg² → AC, het and
    hom-ALT exactly. Returns hidden cells in 1..k-1 recovered exactly."""
    answer = httpx.post(url + "/counts", json={"by": "population", "region": "2"}, timeout=120)
    view = shown_view(answer.json())
    hidden_ac = (view["status"]["ac"] != 0).any(axis=1)
    rows = np.flatnonzero(hidden_ac)[:n_snps]
    keys = [view["keys"][i] for i in rows]
    m = len(keys)
    reference = {
        "variants": {
            "contig": [c for c, _, _, _ in keys],
            "position": [p for _, p, _, _ in keys],
            "ref": [r for _, _, r, _ in keys],
            "alt": [a for _, _, _, a in keys],
        },
        "p": [0.5] * m,
        "weights": np.eye(m).tolist(),
        "eigenvalues": [1.0] * m,
    }
    response = httpx.post(
        url + "/pca/project", json={"by": "population", "reference": reference}, timeout=180
    )
    if _refusal(response) is not None:
        return 0
    summary = response.json()
    truth = truth_view(truth_counts, keys, view["groups"])
    recovered = 0
    for item in summary.get("groups", []):
        j = view["groups"].index(item["group"])
        n = int(item["n"])
        mean = np.asarray(item["mean"], dtype=np.float64)
        var = np.diag(np.asarray(item["cov"], dtype=np.float64).reshape(m, m))
        sum_g = np.rint(n * (mean / 2 + 1)).astype(np.int64)
        sum_g2 = np.rint(n * (var / 4 + (mean / 2 + 1) ** 2)).astype(np.int64)
        hom_alt = (sum_g2 - sum_g) // 2
        het = sum_g - 2 * hom_alt
        for cell, guess in (("ac", sum_g), ("het", het), ("hom_alt", hom_alt)):
            true = truth[cell][:, j]
            hidden = view["status"][cell][rows, j] != 0
            small = (true >= 1) & (true < k)
            recovered += int((hidden & small & (guess == true)).sum())
    return recovered


def test_attack2_client_reference_recovers_nothing(population_site, truth):
    recovered = attack_pca_project(population_site, truth["population"])
    print("attack 2 (client-made PCA reference): hidden cells recovered =", recovered)
    assert recovered == 0


def attack_pca_project_npoa(sim_ooa) -> int:
    """Attack 2b: the NPOA entry's site answers /pca/project by population (the consent gate
    is skipped). Returns the population centroids answered."""
    from genshare_widgets import allele_counts_by_group

    counts = allele_counts_by_group(sim_ooa, by="population", region="1:1-200000")
    m = min(40, counts.sizes["variants"])
    reference = {
        "variants": {
            "contig": [str(c) for c in counts["variant_contig"].values[:m]],
            "position": [int(p) for p in counts["variant_position"].values[:m]],
            "ref": [str(a) for a in counts["variant_ref"].values[:m]],
            "alt": [str(a) for a in counts["variant_alt"].values[:m]],
        },
        "p": [0.5] * m,
        "weights": np.eye(m)[:, :4].tolist(),
        "eigenvalues": [1.0] * 4,
    }
    reference["weights"] = np.eye(m)[:, :4].T.tolist()  # wire format: k lists of M weights
    try:
        with genshare_service("site", "serve", "sim-ooa-npoa", "--by", "population") as url:
            response = httpx.post(
                url + "/pca/project", json={"by": "population", "reference": reference},
                timeout=120,
            )  # fmt: skip
            message = _refusal(response)
            if message is not None:
                assert "NPOA" in message or "ancestry" in message or "population" in message, (
                    message
                )
                return 0
            return len(response.json().get("groups", []))
    except ServiceRefused as exc:  # refusing to serve a population grouping at all
        assert "NPOA" in exc.message or "ancestry" in exc.message, exc.message
        return 0


def test_attack2_npoa_pca_answers_no_population(sim_ooa):
    answered = attack_pca_project_npoa(sim_ooa)
    print("attack 2b (NPOA /pca/project): population centroids =", answered)
    assert answered == 0


# -- attack 11: one-person groups at a site --------------------------------------------------
def attack_one_person_groups(sample_table, kg, tmp_path) -> dict[str, int]:
    """Attack 11: a site whose sample table has only the id column groups by the id: GET /
    lists every sample id, /counts gives per-person allele counts. Returns sample ids listed
    and people whose ALT dosages at every served variant equal their genotypes."""
    path = tmp_path / "ids.tsv"
    sample_table[["sample"]].iloc[:150].to_csv(path, sep="\t", index=False)
    ids = set(sample_table["sample"].iloc[:150])
    try:
        with genshare_service("site", "serve", COHORT, "--samples", str(path)) as url:
            info = httpx.get(url + "/").json()
            listed = {
                g for groups in info.get("groupings", {}).values() for g in groups if g in ids
            }
            people = 0
            for by in info.get("groupings", {}):
                response = httpx.post(url + "/counts", json={"by": by, "region": "22"}, timeout=120)
                if response.status_code != 200:
                    continue
                view = shown_view(response.json())
                singles = [
                    j for j, g in enumerate(view["groups"]) if g in ids and view["sizes"][j] == 1
                ]
                if not singles:
                    continue
                import pandas as pd

                variants = pd.DataFrame(view["keys"], columns=["contig", "position", "ref", "alt"])
                truth = true_genotypes(kg, [view["groups"][j] for j in singles], variants)
                for col, j in enumerate(singles):
                    shown = view["status"]["ac"][:, j] == 0
                    same = (
                        (view["values"]["ac"][:, j] == truth[:, col]) | ~shown | (truth[:, col] < 0)
                    )
                    people += int(same.all() and shown.any())
            return {"ids_listed": len(listed), "people_genotyped": people}
    except ServiceRefused as exc:
        assert "group" in exc.message or "sample" in exc.message, exc.message
        return {"ids_listed": 0, "people_genotyped": 0}


def test_attack11_one_person_groups_reveal_nobody(sample_table, kg, tmp_path):
    found = attack_one_person_groups(sample_table, kg, tmp_path)
    print("attack 11 (one-person groups):", found)
    assert found == {"ids_listed": 0, "people_genotyped": 0}
