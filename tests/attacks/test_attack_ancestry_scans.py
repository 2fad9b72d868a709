"""Red team of issues 19 and 20 (LD, reference projection, selection scans, famous variants)
at k = 20: attacks through the public API the engineers' own attack tests did not try.

Each attack returns what it recovered (a count in 1..k-1 the door would hide, checked
against the referee's exact value); each test asserts 0.
"""

import numpy as np
import pytest

from tests.attacks.red_team import K
from tests.scan_sims import haplotypes_of, sweep_files

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return sweep_files(tmp_path_factory.getbasetemp() / "scan-sweep")


@pytest.fixture(scope="module")
def cohort(files):
    from genshare_widgets import open_cohort

    return open_cohort(str(files[0]), samples=str(files[1]))


@pytest.fixture(scope="module")
def policy():
    from genshare_widgets.disclosure import DisclosurePolicy

    return DisclosurePolicy(min_count=K, tier="registered", origin="attack test")


def tail_from_h12(h12: float, n_haplotypes: int) -> int | None:
    """The attacker's solver: H12 * (2n)^2 = T^2 + Q, with T the two commonest classes'
    haplotypes and Q the sum of squares of the other classes (S = 2n - T haplotypes, each
    class at most the second's, so S <= Q <= S * min(S, T // 2)). The S for which Q is
    feasible, when only one is."""
    if not np.isfinite(h12):
        return None
    value = round(h12 * n_haplotypes**2)
    feasible = [
        s
        for s in range(n_haplotypes + 1)
        if s <= value - (n_haplotypes - s) ** 2 <= s * min(s, (n_haplotypes - s) // 2)
    ]
    return feasible[0] if len(feasible) == 1 else None


def test_h12_of_tiny_windows_gives_no_small_tail(cohort, policy):
    """R1: ``gs.scan(stat="h12", window=2, step=1)`` under k = 20 on group A (80 haplotypes).
    One H12 is one sum of squares, but in a window of 2 or 3 variants it pins how many
    haplotypes lie outside the two commonest classes (a window of a common variant and a
    rare one: the rare variant's allele count). Recovered: windows where that number is
    pinned in 1..k-1 and equals the referee's."""
    from genshare_widgets.disclosure import ReleaseRefused
    from genshare_widgets.disclosure._scans import HAPLOTYPE_GRID
    from genshare_widgets.scans import scan
    from genshare_widgets.stats._selection_scans import haplotype_counts

    with pytest.raises(ReleaseRefused, match="scan rule S7"):  # off the grid: refused
        scan(cohort, stat="h12", groups="A", window=2, step=1, region="1:1-3000000", policy=policy)
    result = scan(  # the grid's windows: the solver on each
        cohort, stat="h12", groups="A", window=HAPLOTYPE_GRID, region="1:1-3000000", policy=policy
    )
    h = haplotypes_of(cohort, "A")
    positions = cohort.genotypes["variant_position"].values[cohort.genotypes["variant_snv"].values]
    n_hap = h.shape[1]
    recovered = 0
    for row in result.table.itertuples():
        s = tail_from_h12(row.value, n_hap)
        if s is None or not 0 < s < K:
            continue
        lo, hi = np.searchsorted(positions, [row.start, row.end + 1])
        classes = haplotype_counts(h[lo:hi])
        recovered += int(n_hap - classes[:2].sum() == s)
    print(f"R1 H12 grid windows (window 2 refused): {recovered} tails of 1..{K - 1} pinned")
    assert recovered == 0
