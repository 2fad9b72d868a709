"""Attack 10 (issue 13) on real ``genshare beacon serve`` processes at k = 20: forwarded
headers against the rate limit, a withheld group's size from ``/info``, and inverting
complementary suppression with an exact solver over everything the Beacon shows."""

import re

import httpx
import numpy as np
import pytest
from red_team import COHORT, K, genshare_service
from solver import NOT_SHOWN, IntegerTables, criterion_violations

pytestmark = [pytest.mark.realdata, pytest.mark.slow, pytest.mark.timeout(240)]

SMALL_GROUP = 12  # YRI people relabelled XYZ: a group the Beacon must withhold


@pytest.fixture(scope="module")
def beacon_samples(sample_table, tmp_path_factory):
    table = sample_table[["sample", "population", "superpopulation", "sex"]].copy()
    yri = table.index[table["population"] == "YRI"][:SMALL_GROUP]
    table.loc[yri, "population"] = "XYZ"
    path = tmp_path_factory.mktemp("beacon") / "samples.tsv"
    table.to_csv(path, sep="\t", index=False)
    return path, table


@pytest.fixture(scope="module")
def beacon(beacon_samples):
    path, _ = beacon_samples
    with genshare_service(
        "beacon", "serve", COHORT, "--samples", str(path), "--by", "population",
        "--min-count", str(K), "--granularity", "record",
    ) as url:  # fmt: skip
        yield url


def attack_forwarded_for(url: str, limit: int, requests: int = 30) -> int:
    """Attack 10a: rotate ``X-Forwarded-For`` from 127.0.0.1. Returns the requests served past
    the rate limit."""
    served = 0
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(requests):
            response = client.get(
                "/info", headers={"X-Forwarded-For": f"10.1.{i // 250}.{i % 250}"}
            )
            served += int(response.status_code == 200)
    return max(0, served - limit)


def test_attack10a_forwarded_headers_do_not_lift_the_rate_limit(beacon_samples):
    path, _ = beacon_samples
    with genshare_service(
        "beacon", "serve", COHORT, "--samples", str(path), "--min-count", str(K),
        "--rate-limit", "5",
    ) as url:  # fmt: skip
        extra = attack_forwarded_for(url, limit=5)  # the start-up probe may count too
    print("attack 10a (X-Forwarded-For): requests served past the limit =", extra)
    assert extra == 0


def attack_withheld_group_size(url: str, true_sizes: dict[str, int], k: int = K) -> int:
    """Attack 10b: a sample total in ``/info`` minus the released group sizes. Returns withheld
    groups whose exact size (in 1..k-1) this gives."""
    info = httpx.get(url + "/info").json()
    datasets = httpx.get(url + "/datasets").json()
    sizes = datasets["response"]["collections"][0]["info"].get("groupSizes", {})
    shown = sum(v for v in sizes.values() if isinstance(v, int))
    text = str(info) + str(datasets)
    totals = {int(m) for m in re.findall(r"\((\d+) samples\)", text)}
    totals |= {int(v) for key, v in _walk(info) if "sample" in key.lower() and isinstance(v, int)}
    withheld = [g for g, v in sizes.items() if not isinstance(v, int)]
    small = {g: n for g, n in true_sizes.items() if 1 <= n < k}
    hits = {g for g in withheld if g in small for t in totals if t - shown == small[g]}
    return len(hits)


def _walk(node, key=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, key)
    else:
        yield key, node


def test_attack10b_info_total_hides_withheld_group(beacon, beacon_samples):
    _, table = beacon_samples
    sizes = table["population"].value_counts().to_dict()
    recovered = attack_withheld_group_size(beacon, sizes)
    print("attack 10b (/info total): withheld group sizes recovered =", recovered)
    assert recovered == 0


def beacon_records(url: str, contig: str = "1") -> list[dict]:
    records, skip = [], 0
    while True:
        answer = httpx.get(
            url + "/g_variants",
            params={"referenceName": contig, "start": 0, "end": 300_000_000,
                    "requestedGranularity": "record", "limit": 100, "skip": skip},
            timeout=60,
        ).json()  # fmt: skip
        sets = answer.get("response", {}).get("resultSets", [])
        page = [r for s in sets for r in s.get("results", [])]
        records += page
        if len(page) < 100:
            return records
        skip += 100


def attack_invert_suppression(url: str, truth_counts, k: int = K) -> int:
    """Attack 10c: per variant, ALL = shown groups + hidden groups + the withheld remainder;
    an exact solver over AC, AN (even, autosomal) and REF = AN - AC of every hidden group.
    Returns hidden group cells with a true value in 1..k-1 pinned (can be neither 0 nor >= k)."""
    datasets = httpx.get(url + "/datasets").json()
    sizes = datasets["response"]["collections"][0]["info"]["groupSizes"]
    groups = sorted(sizes)
    limit = {g: (v if isinstance(v, int) else k - 1) for g, v in sizes.items()}
    names = [str(g) for g in truth_counts["groups"].values]
    keys = {
        f"{c}:{p}:{r}:{a}": i
        for i, (c, p, r, a) in enumerate(
            zip(truth_counts["variant_contig"].values, truth_counts["variant_position"].values,
                truth_counts["variant_ref"].values, truth_counts["variant_alt"].values, strict=True)
        )
    }  # fmt: skip
    tables = IntegerTables()
    targets = {"ac": [], "an": [], "ref": []}
    for record in beacon_records(url):
        block = (record.get("frequencyInPopulations") or [{}])[0]
        shown = {f["population"]: f for f in block.get("frequencies", [])}
        if "ALL" not in shown or record["variantInternalId"] not in keys:
            continue
        row = keys[record["variantInternalId"]]
        hidden = [g for g in groups if g not in shown]
        if not hidden:
            continue
        parts_ac, parts_an = [], []
        for slot, g in enumerate(hidden):
            n = limit[g]
            ac, an, ref = (tables.variable(0, 2 * n) for _ in range(3))
            half = tables.variable(0, n)
            tables.constrain([(an, 1), (half, -2)], 0)  # diploid autosomes: AN even
            tables.constrain([(an, 1), (ac, -1), (ref, -1)], 0)
            parts_ac.append(ac)
            parts_an.append(an)
            j = names.index(g)
            true_ac = int(truth_counts["allele_count"].values[row, j])
            true_an = int(truth_counts["allele_number"].values[row, j])
            for cell, var, value in (("ac", ac, true_ac), ("an", an, true_an),
                                     ("ref", ref, true_an - true_ac)):  # fmt: skip
                if 1 <= value < k:
                    targets[cell].append((slot, var, value))
        for total, parts in (("alleleCount", parts_ac), ("alleleNumber", parts_an)):
            known = sum(int(f[total]) for g, f in shown.items() if g != "ALL")
            tables.constrain([(v, 1) for v in parts], int(shown["ALL"][total]) - known)
    pinned = 0
    for items in targets.values():
        # cells of one variant are coupled, variants are not: one batch per slot
        for slot in sorted({s for s, _, _ in items}):
            batch = [(v, value) for s, v, value in items if s == slot]
            lo, hi = tables.ranges([v for v, _ in batch], independent=True)
            values = np.array([value for _, value in batch])
            status = np.full(len(batch), NOT_SHOWN)
            pinned += int(criterion_violations(values, status, lo, hi, k).sum())
    return pinned


@pytest.mark.parametrize("withheld", [False, True], ids=["all-groups", "with-withheld-group"])
def test_attack10c_complementary_suppression_not_invertible(
    withheld, beacon, beacon_samples, kg, truth
):
    from genshare_widgets import allele_counts_by_group

    if withheld:
        _, table = beacon_samples
        by = table.set_index("sample")["population"].reindex(kg.samples.index)
        pinned = attack_invert_suppression(beacon, allele_counts_by_group(kg, by=by, region="1"))
    else:
        with genshare_service(
            "beacon", "serve", COHORT, "--min-count", str(K), "--granularity", "record"
        ) as url:
            pinned = attack_invert_suppression(url, truth["population"])
    print(f"attack 10c (inverting complementary suppression, {withheld=}): pinned =", pinned)
    assert pinned == 0
