"""Red team, second pass on the figures of issues 19 and 20 at k = 20 (registered policy):
what the new figure kinds publish in ``fig.to_plotly_json()`` (data, hover text,
customdata, ``layout.meta``), their recipe sidecars and the explorer's new tabs.

Each attack plays through a public interface and returns what it recovered (a count in
1..k-1 the door would hide, checked against the referee's exact value); each test asserts 0.

N1 complementary co-copies of an LD heatmap: the door withholds an r² whose pair's *minor*
alleles share 1..k-1 copies, since r² and the released genotype counts give the attacker
``Σxy``. But ``Σxy`` gives the three other co-copy sums too (minor with major, major with
minor, major with major: ``Σx(2-y) = 2Σx - Σxy``...), and they were not checked.
"""

import numpy as np
import pytest

from tests.attacks.red_team import K
from tests.scan_sims import sweep_files

pytestmark = pytest.mark.timeout(300)
#: Regions of the sweep simulation the attacker draws heatmaps of (group A, 40 people).
LD_REGIONS = ("1:1000000-1030000", "1:3000000-3030000", "1:5000000-5030000")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return sweep_files(tmp_path_factory.getbasetemp() / "scan-sweep")


@pytest.fixture(scope="module")
def cohort(files):
    from genshare_widgets import open_cohort

    return open_cohort(str(files[0]), samples=str(files[1]))


@pytest.fixture(autouse=True)
def _own_release_log(tmp_path, monkeypatch):
    monkeypatch.setenv("GENSHARE_STATE", str(tmp_path / "state"))


@pytest.fixture(scope="module")
def policy():
    from genshare_widgets.disclosure import DisclosurePolicy

    return DisclosurePolicy(min_count=K, tier="registered", origin="attack test")


def _alt_dosages(cohort, group: str, positions) -> np.ndarray:
    """The referee's ALT dosages of ``group`` at ``positions`` (biallelic records)."""
    ds = cohort.genotypes
    pos = ds["variant_position"].values
    rows = [int(np.flatnonzero(pos == p)[0]) for p in positions]
    members = cohort.samples["population"].to_numpy() == group
    return ds["call_genotype"].values[rows][:, members].sum(axis=-1).astype(np.int64)


def _released_genotype_rows(cohort, policy, group: str, region: str):
    """The attacker's marginals: ``genshare stats``-style released genotype counts of
    ``group`` over ``region`` → {position: (n, ALT count, candidate hom-ALT counts)}: the
    shown hom-ALT count, or every value the release leaves possible when it is hidden
    (``<k``: 1..k-1; NA: 0..n). Variants whose ALT count is hidden are left out."""
    from genshare_widgets.counts import allele_counts_by_group
    from genshare_widgets.disclosure import release_counts

    counts = allele_counts_by_group(cohort, by="population", region=region, biallelic_only=True)
    released = release_counts(counts, policy)
    j = [str(g) for g in released["groups"].values].index(group)
    size = int(released["group_n_samples"].values[j])

    def cell(name, row):
        return int(released[name].values[row, j]), int(released[f"{name}_status"].values[row, j])

    out = {}
    for row, position in enumerate(released["variant_position"].values):
        (ac, ac_status), (called, called_status) = (
            cell("allele_count", row),
            cell("called_count", row),
        )
        if ac_status:
            continue
        n = called if not called_status else size
        hom, hom_status = cell("hom_alt_count", row)
        if not hom_status:
            homs = [hom]
        elif released.attrs.get("min_count") and hom_status == 1:
            homs = list(range(1, K))
        else:
            homs = list(range(n + 1))
        homs = [h for h in homs if ac - 2 * h >= 0 and ac - h <= n]  # het >= 0, hom-REF >= 0
        out[int(position)] = (n, ac, homs)
    return out


def _co_copy_sums(n: int, sx: int, sy: int, d: int) -> tuple[int, int, int, int]:
    """The four co-copy sums of a pair from ``Σxy = d`` (ALT dosages x, y over n people)."""
    return d, 2 * sx - d, 2 * sy - d, 4 * n - 2 * sx - 2 * sy + d


def solve_pair(r2: float, x: tuple, y: tuple) -> list[tuple[int, int, int]]:
    """The attacker's solver: every ``(hom-ALT x, hom-ALT y, Σxy)`` with integer ``Σxy``
    that gives the shown r² (to float precision) with the released marginals
    ``(n, Σx, candidate hom-ALT counts)`` of each variant (r² of dosages:
    ``(nΣxy - ΣxΣy)² / ((nΣx² - (Σx)²)(nΣy² - (Σy)²))``, ``Σx² = Σx + 2 hom``)."""
    n = x[0]
    found = []
    for hx in x[2]:
        for hy in y[2]:
            vx, vy = n * (x[1] + 2 * hx) - x[1] ** 2, n * (y[1] + 2 * hy) - y[1] ** 2
            if vx <= 0 or vy <= 0:
                continue
            root = np.sqrt(max(r2, 0.0) * vx * vy)
            for sign in (1, -1):
                d = (x[1] * y[1] + sign * root) / n
                if abs(d - round(d)) < 1e-7 and 0 <= round(d) <= 4 * n:
                    found.append((hx, hy, round(d)))
    return sorted(set(found))


def test_ld_heatmap_complementary_co_copies(cohort, policy):
    """N1: ``genshare figure --kind ld-heatmap --groups A`` at k = 20, read from the
    figure's JSON (z, x labels), with group A's released genotype counts (a hidden hom-ALT
    count enumerated over what the release leaves possible). For every shown r²: solve for
    ``(hom-ALT x, hom-ALT y, Σxy)``, then intersect each variant's hom-ALT solutions over
    all its shown pairs. Recovered: hidden hom-ALT counts pinned in 1..k-1, and pairs whose
    co-copy sums (minor×minor, minor×major, major×minor, major×major) are pinned in 1..k-1,
    each equal to the referee's."""
    from genshare_widgets._errors import GenShareError
    from genshare_widgets.figures import DEFAULT_OPTIONS, build_figure

    pinned_sums = pinned_homs = shown = 0
    for region in LD_REGIONS:
        options = {**DEFAULT_OPTIONS, "groups": "A", "region": region, "min_count": K}
        try:
            heat = build_figure(cohort, "ld-heatmap", options).to_plotly_json()["data"][0]
        except GenShareError as exc:  # the fix: no variant without a small genotype count
            assert "0 variant(s)" in str(exc), exc
            continue
        positions = [int(label.split(":")[1].split()[0].replace(",", "")) for label in heat["x"]]
        z = np.asarray(heat["z"], dtype=float)
        margins = _released_genotype_rows(cohort, policy, "A", region)
        truth = _alt_dosages(cohort, "A", positions)
        homs = {p: set(margins[p][2]) for p in positions if p in margins}
        for i, j in zip(*np.triu_indices(len(positions), 1), strict=True):
            a, b = positions[i], positions[j]
            if np.isnan(z[i, j]) or a not in margins or b not in margins:
                continue
            shown += 1
            x, y = margins[a], margins[b]
            solutions = solve_pair(z[i, j], x, y)
            homs[a] &= {s[0] for s in solutions}
            homs[b] &= {s[1] for s in solutions}
            sums = {_co_copy_sums(x[0], x[1], y[1], d) for _, _, d in solutions}
            if len(sums) != 1:
                continue
            (derived,) = sums
            exact = _co_copy_sums(x[0], x[1], y[1], int((truth[i] * truth[j]).sum()))
            pinned_sums += int(
                any(0 < v < K and v == e for v, e in zip(derived, exact, strict=True))
            )
        for i, p in enumerate(positions):
            hidden = p in margins and len(margins[p][2]) > 1
            if hidden and len(homs[p]) == 1:
                (value,) = homs[p]
                pinned_homs += int(0 < value < K and value == int((truth[i] == 2).sum()))
    print(
        f"N1 LD heatmap: {shown} shown r²; {pinned_sums} pairs with a co-copy sum pinned in "
        f"1..{K - 1}; {pinned_homs} hidden hom-ALT counts pinned in 1..{K - 1}"
    )
    assert pinned_sums == 0
    assert pinned_homs == 0


@pytest.fixture(scope="module")
def registered():
    from genshare_widgets import open_cohort

    return open_cohort("sim-ooa-gru-registered", purpose="GRU")


def _released_totals(cohort, policy, region: str) -> dict[int, tuple[int, int, int]]:
    """Released genotype counts of all samples → {position: (n, Σx, Σx²)} for the variants
    whose row is shown in full."""
    import pandas as pd

    from genshare_widgets.counts import allele_counts_by_group
    from genshare_widgets.disclosure import release_counts

    everyone = pd.Series("all", index=cohort.samples.index, dtype=object)
    counts = allele_counts_by_group(cohort, by=everyone, region=region, biallelic_only=True)
    released = release_counts(counts, policy)
    names = ("called_count", "allele_count", "het_count", "hom_alt_count")
    out = {}
    for row, position in enumerate(released["variant_position"].values):
        if any(int(released[f"{n}_status"].values[row, 0]) for n in names):
            continue
        called, ac, het, hom = (int(released[n].values[row, 0]) for n in names)
        out[int(position)] = (called, ac, het + 4 * hom)
    return out


def cross_moments_in(lo: float, hi: float, x: tuple, y: tuple) -> list[int]:
    """The integers Σxy whose r² lies in ``[lo, hi]`` given the marginals ``(n, Σx, Σx²)``."""
    n = x[0]
    vx, vy = n * x[2] - x[1] ** 2, n * y[2] - y[1] ** 2
    found = set()
    for sign in (1, -1):
        ends = [(x[1] * y[1] + sign * np.sqrt(r * vx * vy)) / n for r in (lo, hi)]
        for d in range(int(np.floor(min(ends))), int(np.ceil(max(ends))) + 1):
            r2 = (n * d - x[1] * y[1]) ** 2 / (vx * vy)
            if lo <= r2 <= hi and d >= 0:
                found.add(d)
    return sorted(found)


def test_prune_in_threshold_oracle_on_withheld_pairs(registered, policy):
    """N2: ``ld_prune`` (``genshare ld-prune``) of a region holding two adjacent variants of
    an LD heatmap whose r² the door withholds, ``--window 2 --step 1``, with ``--r2``
    halved 40 times: whether ``prune.in`` keeps one or both brackets the withheld r². Then
    solve Σxy (released genotype counts of all samples) and read the co-copy sums.
    Recovered: pairs whose co-copy sums are pinned with one in 1..k-1, equal to the
    referee's. Before the fix: 3 of 3 (e.g. 2 minor copies shared, r² bracketed to 1e-13)."""
    from genshare_widgets.ld import ld_matrix, ld_prune
    from genshare_widgets.stats._ld import co_copy_sums, pair_moments_naive

    matrix = ld_matrix(registered, region="1:1-400000", policy=policy)
    pos = matrix.variants["position"].to_numpy()
    pairs = [i for i in range(len(pos) - 1) if np.isnan(matrix.r2[i, i + 1])][:3]
    assert pairs
    margins = _released_totals(registered, policy, "1:1-400000")
    ds = registered.genotypes
    recovered = 0
    for i in pairs:
        region = f"1:{pos[i]}-{pos[i + 1]}"
        lo, hi = 0.0, 1.0
        for _ in range(40):
            mid = (lo + hi) / 2
            kept = ld_prune(registered, window=2, step=1, r2=mid, region=region, policy=policy)
            lo, hi = (mid, hi) if len(kept.kept) == 1 else (lo, mid)
        x, y = margins[int(pos[i])], margins[int(pos[i + 1])]
        sums = {
            tuple(co_copy_sums(np.array([[x[0], x[1], y[1], x[2], y[2], d]]))[0])
            for d in cross_moments_in(lo, hi, x, y)
        }
        if len(sums) != 1:
            continue
        rows = [int(np.flatnonzero(ds["variant_position"].values == p)[0]) for p in pos[i : i + 2]]
        dosage = ds["call_genotype"].values[rows].sum(axis=-1).astype(float)
        exact = co_copy_sums(pair_moments_naive(dosage[:1], dosage[1:]))[0]
        (derived,) = sums
        recovered += int(
            any(0 < v < K and v == e for v, e in zip(derived, exact.tolist(), strict=True))
        )
    print(f"N2 prune.in threshold oracle: {recovered} of {len(pairs)} withheld pairs solved")
    assert recovered == 0


def test_ld_heatmap_min_maf_oracle(registered):
    """N3: attack 5 (the ``--min-maf`` oracle) through an LD heatmap's provenance. Two
    heatmaps of all samples over ``[t, q]`` and ``[t + 1, q]`` (t a variant shown as ``<k``,
    q the second LD-releasable variant after it), at ``--min-maf c/AN``: the counts of
    variants analysed in ``layout.meta.provenance.filters`` differ by whether t passes the
    filter. Bisection on c gives t's minor allele count. Recovered: counts in 1..k-1 equal
    to the referee's. Before the fix: 3 of 3 targets."""
    from genshare_widgets.figures import DEFAULT_OPTIONS, build_figure

    region = "1:1-60000"
    base = {**DEFAULT_OPTIONS, "region": region, "min_count": K}
    heat = build_figure(registered, "ld-heatmap", base)
    assert heat.layout.meta["provenance"]["filters"]["min_minor_allele_count"] == K
    releasable = sorted(
        int(lab.split(":")[1].split()[0].replace(",", "")) for lab in heat.data[0].x
    )
    ds = registered.genotypes
    pos = ds["variant_position"].values
    gt = ds["call_genotype"].values
    alleles = 2 * registered.n_samples
    targets = []
    for row in np.flatnonzero(pos <= 60000):
        ac = int(gt[row].sum())
        mac = min(ac, alleles - ac)
        later = [p for p in releasable if p > pos[row]]
        if 3 <= mac < K and len(later) >= 2 and int((pos == pos[row]).sum()) == 1:
            targets.append((int(pos[row]), mac, later[1]))
    targets = targets[:: max(len(targets) // 3, 1)][:3]

    def observed(lo: int, hi: int, c: int) -> tuple:
        options = {**base, "region": f"1:{lo}-{hi}", "min_maf": (c - 0.5) / alleles}
        f = build_figure(registered, "ld-heatmap", options).layout.meta["provenance"]["filters"]
        return tuple(
            f.get(name)
            for name in ("n_variants_analysed", "n_below_min_maf", "n_below_min_minor_allele_count")
        )

    def passes(t: int, q: int, c: int) -> tuple:
        one, two = observed(t, q, c), observed(t + 1, q, c)
        return tuple(
            None if a is None or b is None else a - b for a, b in zip(one, two, strict=True)
        )

    recovered = 0
    for t, mac, q in targets:
        first = passes(t, q, 1)
        lo, hi = 1, K  # the attacker's bracket: the difference changes between lo and hi
        if passes(t, q, K) == first:
            continue
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if passes(t, q, mid) == first else (lo, mid)
        recovered += int(lo == mac)
    print(f"N3 LD heatmap --min-maf oracle: {recovered} of {len(targets)} hidden counts")
    assert targets
    assert recovered == 0


#: Where an integer in 1..k-1 may stand in a new figure's JSON without being a count of
#: people: style, colour scales, coordinates and statistic values (x/y/z, map lon/lat), the
#: top windows' ranks, LD decay's pairs per bin and a scan window's variants (customdata),
#: the scan's withheld windows.
NOT_PEOPLE = (
    r"\.(width|size|xgap|ygap|zmin|zmax|yshift|xshift|opacity)$",
    r"colorscale|\.pad\.|\.title\.(x|y)$|annotations\[\]\.(x|y)$",
    r"^data\[\]\.(x|y|z|lon|lat)(\[\])*$",
    r"^data\[\]\.customdata(\[\])*$",  # checked by kind below (pairs, variants, classes)
    r"details\.top\[\]\.rank$|scan\.n_withheld$|\.n_pairs_withheld$",
)


def _small_numbers(fig) -> dict[str, list[float]]:
    """Every number in 1..k-1 with an integer value in ``fig``'s data and layout.meta /
    annotations / title, by path (list indices collapsed to ``[]``)."""
    import re

    found: dict[str, list[float]] = {}

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, (list, tuple, np.ndarray)):
            for item in list(value):
                walk(item, path + "[]")
        elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, bool
        ):
            if 0 < value < K and float(value) == int(value):
                found.setdefault(path, []).append(float(value))
        elif isinstance(value, str) and re.search(r"\bof\b", value):  # "N of M alleles"
            for number in re.findall(r"(\d+) of (\d+) alleles", value):
                for n in number:
                    if 0 < int(n) < K:
                        found.setdefault(path + "(text)", []).append(float(n))

    layout = fig.to_plotly_json()["layout"]
    walk(
        {
            "data": fig.to_plotly_json()["data"],
            "layout": {key: layout.get(key) for key in ("meta", "annotations", "title")},
        },
        "",
    )
    return found


def test_every_new_figure_kind_publishes_no_small_count(cohort, files):
    """Sweep: every new figure kind at k = 20 (``ld-decay``, ``ld-heatmap``, ``scan`` of each
    statistic, ``haplotype-spectrum``, the famous panel and a famous variant card), every
    number of ``fig.to_plotly_json()`` (data, hover text, customdata, layout.meta,
    annotations): an integer in 1..k-1 only where it counts no people (:data:`NOT_PEOPLE`),
    the spectrum's class counts and the famous hover counts none in 1..k-1, and no sample id
    anywhere. Recovered: small numbers at any other path."""
    import json
    import re

    from genshare_widgets import open_cohort
    from genshare_widgets.disclosure._scans import HAPLOTYPE_GRID
    from genshare_widgets.figures import DEFAULT_OPTIONS, build_figure

    near = "1:9000000-11000000"
    kinds = {
        "ld-decay": (cohort, "ld-decay", {"region": near}),
        "ld-heatmap": (cohort, "ld-heatmap", {"region": "1:1000000-1030000"}),
        "scan h12": (
            cohort,
            "scan",
            {"stat": "h12", "groups": "A", "window": HAPLOTYPE_GRID, "region": near},
        ),
        "scan pbs": (
            cohort,
            "scan",
            {"stat": "pbs", "groups": "A,B,C", "window": 50, "region": near},
        ),
        "scan ihs": (cohort, "scan", {"stat": "ihs", "groups": "A", "region": near}),
        "scan xpehh": (cohort, "scan", {"stat": "xpehh", "groups": "A,B", "region": near}),
    }
    lct = open_cohort("1kg-phase3-lct")
    kinds["famous"] = (lct, "famous", {})
    kinds["variant card"] = (lct, "variant", {"variant": "rs4988235"})
    figures = {
        name: build_figure(c, kind, {**DEFAULT_OPTIONS, "min_count": K, **extra})
        for name, (c, kind, extra) in kinds.items()
    }
    top = figures["scan h12"].layout.meta["details"]["top"][0]
    figures["haplotype-spectrum"] = build_figure(
        cohort,
        "haplotype-spectrum",
        {
            **DEFAULT_OPTIONS,
            "min_count": K,
            "groups": "A",
            "region": f"{top['contig']}:{top['start']}-{top['end']}",
        },
    )
    allowed = [re.compile(p) for p in NOT_PEOPLE]
    assert any(_small_numbers(f) for f in figures.values())  # the walker sees numbers
    ids = set(map(str, cohort.samples.index)) | set(map(str, lct.samples.index))
    leaks = {}
    for name, fig in figures.items():
        small = _small_numbers(fig)
        bad = {p: v for p, v in small.items() if not any(a.search(p) for a in allowed)}
        if name == "haplotype-spectrum":  # its customdata are haplotype counts
            bad.update({p: v for p, v in small.items() if "customdata" in p})
        if bad:
            leaks[name] = bad
        text = json.dumps(fig.to_plotly_json()["layout"].get("meta"), default=str)
        text += json.dumps([t.get("text") for t in fig.to_plotly_json()["data"]], default=str)
        named = {s for s in re.findall(r"[A-Za-z]+[_]?\d+", text) if s in ids}
        if named:
            leaks[f"{name} sample ids"] = sorted(named)[:5]
    print(f"sweep of {len(figures)} new figures: small counts at {leaks or 'no path'}")
    assert not leaks
