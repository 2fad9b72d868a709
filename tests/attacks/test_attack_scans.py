"""Issue 20: attacks on selection scans under a minimum-count policy (k = 20).

The attacker wants one person's haplotypes (the target: sample ``A_0`` of the sweep
simulation, 40 people per population) and may use every public interface of the scans: the
``genshare scan`` command with their own sample table (any grouping), ``gs.scan``, the
haplotype spectrum. Each attack returns what it recovered about the target (alleles or
haplotype class counts below k); each test asserts 0. The rules are those of
:mod:`genshare_widgets.disclosure._scans`.
"""

import numpy as np
import pandas as pd
import pytest

from genshare_widgets.disclosure._scans import HAPLOTYPE_GRID as GRID
from tests.attacks.red_team import K
from tests.cli_runner import run_genshare
from tests.scan_sims import SWEEP_POSITION, haplotypes_of, sweep_files

pytestmark = pytest.mark.timeout(300)
TARGET = "A_0"


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


def _opened_with(files, tmp_path, name: str, groups: dict[str, list[str]]):
    """The cohort opened with the attacker's own sample table: a column ``grp`` holding
    ``groups`` (everyone else blank)."""
    from genshare_widgets import open_cohort

    samples = pd.read_csv(files[1], sep="\t")
    samples["grp"] = ""
    for group, ids in groups.items():
        samples.loc[samples["sample"].isin(ids), "grp"] = group
    path = tmp_path / f"{name}.tsv"
    samples.to_csv(path, sep="\t", index=False)
    return open_cohort(str(files[0]), samples=str(path))


def test_one_person_group_is_refused_cli(files, tmp_path):
    """A sample table putting the target alone in a group: every scan of it is refused by
    name (rule S1) and nothing is written."""
    vcf, table = files
    samples = pd.read_csv(table, sep="\t")
    samples["grp"] = np.where(samples["sample"] == TARGET, "T", "rest")
    mine = tmp_path / "mine.tsv"
    samples.to_csv(mine, sep="\t", index=False)
    recovered = 0
    for stat in ("h12", "ihs"):
        out = tmp_path / stat
        done = run_genshare(
            "scan",
            str(vcf),
            "--samples",
            str(mine),
            "--by",
            "grp",
            "--stat",
            stat,
            "--groups",
            "T",
            "--window",
            "50",
            "--min-count",
            str(K),
            "--out",
            str(out),
        )
        assert done.returncode == 2 and "scan rule S1" in done.stderr, done.stderr
        recovered += int(out.exists())
    assert recovered == 0


def test_differencing_two_groups_is_refused(files, policy, tmp_path):
    """H12 of 30 people, then of the same 30 plus the target: the second release is refused
    by the release log (rule S2), so the target's haplotypes' effect is never seen."""
    from genshare_widgets.disclosure import ReleaseRefused
    from genshare_widgets.scan_figures import released_scan

    ids = [f"A_{i}" for i in range(1, 31)]
    base = _opened_with(files, tmp_path, "base", {"G": ids})
    plus = _opened_with(files, tmp_path, "plus", {"G": [*ids, TARGET]})
    released_scan(
        base, command="attack 1", policy=policy, stat="h12", groups="G", by="grp", window=GRID
    )
    with pytest.raises(ReleaseRefused, match="release"):
        released_scan(
            plus, command="attack 2", policy=policy, stat="h12", groups="G", by="grp", window=GRID
        )


def test_haplotype_spectrum_shows_no_small_class(cohort, policy):
    """Spectra of windows where the target's haplotype is unique: no class of 1..k-1
    haplotypes is shown, nor a pool of 1..k-1 (rule S4). The windows are grid windows
    (rule S7), found with an H12 scan of the grid."""
    from genshare_widgets.scan_figures import haplotype_spectrum, spectrum_counts_shown
    from genshare_widgets.scans import scan
    from genshare_widgets.stats._selection_scans import haplotype_counts

    recovered = 0
    for lo in (1_000_000, SWEEP_POSITION - 20_000, 15_000_000):
        row = scan(
            cohort,
            stat="h12",
            groups="A",
            window=GRID,
            region=f"1:{lo}-{lo + 5_000}",
            policy=policy,
        ).table.iloc[0]
        spectrum = haplotype_spectrum(
            cohort, group="A", region=f"1:{row['start']}-{row['end']}", policy=policy
        )
        shown = spectrum_counts_shown(spectrum)
        recovered += int(((shown > 0) & (shown < K)).sum())
        assert shown.sum() == spectrum["n_haplotypes"] == 80
        exact = haplotype_counts(  # the referee's classes: small ones exist
            haplotypes_of(cohort, "A")[
                slice(
                    *np.searchsorted(
                        cohort.genotypes["variant_position"].values[
                            cohort.genotypes["variant_snv"].values
                        ],
                        [row["start"], row["end"] + 1],
                    )
                )
            ]
        )
        assert (exact < K).any()
    assert recovered == 0


def test_garud_scan_releases_h12_alone(cohort, policy):
    """H1, H12, H123 and H2/H1 together give the three commonest classes' counts; under a
    policy only H12 is released (rule S3)."""
    from genshare_widgets.scans import scan

    table = scan(cohort, stat="h12", groups="A", window=GRID, policy=policy).table
    assert list(table.columns) == ["contig", "start", "end", "n_variants", "value"]


def test_ihs_at_rare_variants_is_withheld(cohort, policy):
    """iHS / XP-EHH at variants whose minor allele count is under k (the target's rare
    variants among them) are NA and out of the standardisation (rule S5)."""
    from genshare_widgets.scans import scan

    region = f"1:{SWEEP_POSITION - 1_500_000}-{SWEEP_POSITION - 500_000}"
    h = haplotypes_of(cohort, "A")
    pos = cohort.genotypes["variant_position"].values
    near = (pos >= SWEEP_POSITION - 1_500_000) & (pos <= SWEEP_POSITION - 500_000)
    alt = h[near].sum(axis=1)
    mac = np.minimum(alt, h.shape[1] - alt)
    target_carries = (h[near][:, :2] == 1).any(axis=1) & (mac < K) & (mac > 0)
    assert target_carries.any()
    released = scan(cohort, stat="ihs", groups="A", region=region, policy=policy).table
    shown = np.isfinite(released["value"].to_numpy())
    recovered = int((shown & (mac < K)).sum())
    assert recovered == 0 and shown.sum() > 0
    xp = scan(cohort, stat="xpehh", groups="A,B", region=region, policy=policy).table
    hb = haplotypes_of(cohort, "B")[near]
    pooled = alt + hb.sum(axis=1)
    pooled_mac = np.minimum(pooled, 160 - pooled)
    assert not (np.isfinite(xp["value"].to_numpy()) & (pooled_mac < K)).any()


def test_pbs_uses_no_variant_with_a_small_cell(cohort, policy):
    """PBS windows under a policy are the PBS of their variants whose REF and ALT counts are
    all 0 or ≥ k (rule S6): recomputed by the referee from those variants alone."""
    from genshare_widgets.scans import scan
    from genshare_widgets.stats._selection_scans import pbs, variant_windows

    released = scan(cohort, stat="pbs", groups="A,B,C", window=50, policy=policy).table
    hs = [haplotypes_of(cohort, p) for p in "ABC"]
    ac = [h.sum(axis=1) for h in hs]
    an = [np.full(len(a), h.shape[1]) for a, h in zip(ac, hs, strict=True)]
    ok = np.ones(len(ac[0]), dtype=bool)
    for a, n in zip(ac, an, strict=True):
        for cell in (a, n - a):
            ok &= (cell == 0) | (cell >= K)
    windows = variant_windows(len(ok), 50)
    kept = [(np.where(ok, a, 0), np.where(ok, n, 0)) for a, n in zip(ac, an, strict=True)]
    want = pbs(kept, windows)
    np.testing.assert_allclose(released["value"], want, rtol=0, atol=1e-12, equal_nan=True)
    assert (~ok).sum() > 0.5 * len(ok)  # most variants carry a small cell and are left out
