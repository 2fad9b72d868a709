"""Property: no release of the door pins or narrows a small count (issue 13 plan criterion).

Random genotype-count tables of one variant in 2-5 groups go through
:func:`genshare_widgets.disclosure.release_counts` at a small k; an exact solver
(:mod:`solver`) takes everything the release shows — numbers, ``<k``/NA statuses, group sizes,
observed heterozygosity — with the linked-cell identities (AC = het + 2 hom-ALT, AN = 2 called,
called = hom-REF + het + hom-ALT, REF = AN - AC), and checks for every hidden cell whose true
value is in 1..k-1: a ``<k`` cell can still take every value 1..k-1; any other hidden cell can
still take 0 or a value >= k; and no cell shown as a number (or implied by shown numbers) is in
1..k-1.
"""

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solver import LESS_THAN_K, NOT_SHOWN, SHOWN, IntegerTables, genotype_rows

pytestmark = pytest.mark.timeout(300)

CELLS = {
    "ac": "allele_count",
    "an": "allele_number",
    "het": "het_count",
    "hom_alt": "hom_alt_count",
    "called": "called_count",
}


@st.composite
def count_tables(draw):
    k = draw(st.sampled_from([3, 5, 10]))
    n_groups = draw(st.integers(2, 5))
    rows = []
    for _ in range(n_groups):
        n = draw(st.integers(1, 4 * k))
        called = draw(st.integers(0, n))
        het = draw(st.integers(0, called))
        hom_alt = draw(st.integers(0, called - het))
        rows.append((n, called, het, hom_alt))
    return k, rows


def counts_dataset(rows) -> xr.Dataset:
    n, called, het, hom_alt = (np.array([r[i] for r in rows], dtype=np.int64) for i in range(4))
    groups = [f"g{j}" for j in range(len(rows))]
    one = lambda x: (("variants", "groups"), x[None, :].astype(np.int32))  # noqa: E731
    return xr.Dataset(
        {
            "allele_count": one(het + 2 * hom_alt),
            "allele_number": one(2 * called),
            "het_count": one(het),
            "hom_alt_count": one(hom_alt),
            "called_count": one(called),
            "group_n_samples": (("groups",), n),
            "variant_contig": (("variants",), np.array(["1"])),
            "variant_position": (("variants",), np.array([100], dtype=np.int64)),
            "variant_ref": (("variants",), np.array(["A"])),
            "variant_alt": (("variants",), np.array(["G"])),
            "variant_index": (("variants",), np.array([0], dtype=np.int64)),
        },
        coords={"groups": groups},
        attrs={"cohort": "random-table", "filters": {}},
    )


def release_violations(k: int, rows) -> list[str]:
    """Every breach of the criterion in the door's release of ``rows`` at ``k`` (empty: safe)."""
    from genshare_widgets.disclosure import DisclosurePolicy, release_counts

    counts = counts_dataset(rows)
    released = release_counts(counts, DisclosurePolicy(min_count=k))
    names = [str(g) for g in counts["groups"].values]
    shown_groups = [str(g) for g in released["groups"].values]
    shown = {
        cell: (
            released[f"{name}_status"].values[0].astype(np.int64),
            released[name].values[0].astype(np.int64),
        )
        for cell, name in CELLS.items()
    }
    observed = (
        np.asarray(released["observed_het"].values, np.float64)
        if "observed_het" in released
        else None
    )
    sizes = released["group_n_samples"].values.astype(np.int64)
    cols = [names.index(g) for g in shown_groups]
    return audit_release(k, rows, cols, sizes, shown, observed)


def audit_release(k: int, rows, cols, sizes, shown: dict, observed=None) -> list[str]:
    """The criterion over one released variant: ``cols`` (the released groups' rows in
    ``rows``), their ``sizes``, ``shown`` {cell: (statuses, values)} and observed het."""
    counts = counts_dataset(rows)
    problems = []
    tables = IntegerTables()
    cells = genotype_rows(tables, sizes)
    truth = {c: counts[v].values[0, cols].astype(np.int64) for c, v in CELLS.items()}
    truth["ref"] = truth["an"] - truth["ac"]
    truth["hom_ref"] = truth["called"] - truth["het"] - truth["hom_alt"]
    status = {}
    for cell, (s, v) in shown.items():
        status[cell] = s
        for j in range(len(cols)):
            if s[j] == SHOWN:
                tables.constrain([(cells[cell][j], 1)], int(v[j]))
            elif s[j] == LESS_THAN_K:
                tables.constrain([(cells[cell][j], 1)], 1, k - 1)
    both = (status["ac"] == SHOWN) & (status["an"] == SHOWN)
    status["ref"] = np.where(both, SHOWN, NOT_SHOWN)
    parts = (status["het"] == SHOWN) & (status["hom_alt"] == SHOWN) & (status["called"] == SHOWN)
    status["hom_ref"] = np.where(parts, SHOWN, NOT_SHOWN)
    if observed is not None:  # one variant: observed het = het / called
        for j, value in enumerate(observed):
            if np.isfinite(value):
                tables.constrain(
                    [(cells["het"][j], 1.0), (cells["called"][j], -value)], -1e-6, 1e-6
                )
    for cell, variables in cells.items():
        for j in range(len(cols)):
            true = int(truth[cell][j])
            if not 1 <= true < k:
                continue
            where = f"{cell} of g{cols[j]} (true {true}, k={k}, rows={rows})"
            if status[cell][j] == SHOWN:
                problems.append(f"{where} is shown")
                continue
            lo, hi = tables.ranges([variables[j]])
            if status[cell][j] == LESS_THAN_K:
                missing = [v for v in range(1, k) if not tables.feasible(variables[j], v)]
                if missing:
                    problems.append(f"{where} shown <{k} cannot be {missing}")
            elif lo[0] > 0 and hi[0] < k:
                problems.append(f"{where} pinned to {int(lo[0])}..{int(hi[0])}")
    return problems


def planned_door(k: int, rows):
    """The plan's rule 1-2 for one variant, written naively: groups with fewer than k samples
    withheld; a row with any linked cell in 1..k-1 hidden (AC ``<k`` when in 1..k-1, every
    other cell NA); no observed het over one variant (rule 3)."""
    cols = [j for j, r in enumerate(rows) if r[0] >= k]
    shown = {cell: ([], []) for cell in CELLS}
    for j in cols:
        _n, called, het, hom_alt = rows[j]
        ac, an = het + 2 * hom_alt, 2 * called
        linked = (ac, an - ac, an, het, hom_alt, called - het - hom_alt, called)
        hidden = any(1 <= x < k for x in linked)
        for cell, value in zip(CELLS, (ac, an, het, hom_alt, called), strict=True):
            if not hidden:
                status = SHOWN
            elif cell == "ac" and 1 <= value < k:
                status = LESS_THAN_K
            else:
                status = NOT_SHOWN
            shown[cell][0].append(status)
            shown[cell][1].append(value if status == SHOWN else 0)
    shown = {c: (np.array(s, np.int64), np.array(v, np.int64)) for c, (s, v) in shown.items()}
    sizes = np.array([rows[j][0] for j in cols], dtype=np.int64)
    return cols, sizes, shown


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count_tables())
def test_the_planned_door_passes_the_audit(table):
    """The criterion is not stricter than the plan: a naive rule-1/2 release passes it."""
    k, rows = table
    cols, sizes, shown = planned_door(k, rows)
    assert audit_release(k, rows, cols, sizes, shown) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count_tables())
def test_no_release_pins_a_small_count(table):
    k, rows = table
    assert release_violations(k, rows) == []


def test_solver_finds_the_issue_example():
    """Issue 13, attack 10: k = 3, ALL = 5, B = 3 shown, A hidden → A = 2 (pinned)."""
    from solver import criterion_violations

    tables = IntegerTables()
    a, b = tables.variable(0, 10), tables.variable(0, 10)
    tables.constrain([(a, 1), (b, 1)], 5)
    tables.constrain([(b, 1)], 3)
    lo, hi = tables.ranges([a])
    assert (lo[0], hi[0]) == (2, 2)
    assert criterion_violations([2], [NOT_SHOWN], lo, hi, 3).tolist() == [True]
    assert criterion_violations([2], [LESS_THAN_K], [1], [2], 3).tolist() == [False]
