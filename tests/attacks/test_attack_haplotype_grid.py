"""Red team: differencing haplotype windows of one group at k = 20 (scan rule S7).

The release log (rule S2) checks sample sets, not windows: the same group's haplotypes may
be released over two overlapping or nested windows. Each window's release is safe alone
(classes of at least k, the rest pooled: rules S3/S4), but two windows that share most of
their variants difference to a small count: a shown class of 30 in one window that is 29 in
the other (one more variant splits one haplotype off it) says 1 haplotype, a count in
1..k-1 the door would hide.

Each attack plays through a public interface (the ``genshare figure --kind
haplotype-spectrum`` builder, the ``genshare scan`` command, ``gs.scan``) and returns how
many small counts it derived, each checked against the referee's exact haplotype classes;
each test asserts 0 (the fix: every haplotype release is on the cohort's fixed grid).
"""

import itertools

import numpy as np
import pandas as pd
import pytest

from tests.attacks.red_team import K
from tests.cli_runner import run_genshare
from tests.scan_sims import SWEEP_POSITION, haplotypes_of, sweep_files

pytestmark = pytest.mark.timeout(300)
#: Where the attacker looks: the sweep's long shared haplotypes (large classes).
NEAR = (SWEEP_POSITION - 150_000, SWEEP_POSITION + 150_000)


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


@pytest.fixture(scope="module")
def referee(cohort):
    """Group A's SNV haplotypes (80) and their positions, read independently of the door."""
    snv = cohort.genotypes["variant_snv"].values
    return haplotypes_of(cohort, "A"), cohort.genotypes["variant_position"].values[snv]


def _released_classes(h: np.ndarray) -> list[int]:
    """The referee's view of what the door shows of a window: its classes of >= k."""
    from genshare_widgets.disclosure import DisclosurePolicy
    from genshare_widgets.disclosure._scans import released_spectrum
    from genshare_widgets.stats._selection_scans import haplotype_counts

    return released_spectrum(haplotype_counts(h), DisclosurePolicy(min_count=K))[0]


def top_two_from_h12(h12: float, n: int) -> int | None:
    """The attacker's decoder: a released H12 with at most two shown classes is
    ``(T^2 + (n - T)) / n^2`` (T the two shown classes' haplotypes, the pool counted as
    singletons): T when exactly one T >= k fits."""
    if not np.isfinite(h12):
        return None
    x = round(h12 * n * n)
    fits = [t for t in range(K, n + 1) if t * t + n - t == x]
    return fits[0] if len(fits) == 1 else None


def _refused(call) -> bool:
    from genshare_widgets._errors import GenShareError

    try:
        call()
    except GenShareError:
        return True
    return False


def test_spectra_of_regions_one_variant_apart(cohort, policy, referee):
    """(a) The haplotype spectrum of a region, then of the same region plus its next SNV
    (``genshare figure --kind haplotype-spectrum --region``): a shown class that loses
    d in 1..k-1 haplotypes is the new variant's count among that class. Recovered: such d
    equal to the referee's split of that class."""
    from genshare_widgets.figures import DEFAULT_OPTIONS, build_figure
    from genshare_widgets.stats._selection_scans import haplotype_counts

    h, pos = referee
    lo = int(np.searchsorted(pos, 1_000_000))
    width = 10
    recovered = refused = 0

    def spectrum(a: int, b: int):
        options = {
            **DEFAULT_OPTIONS,
            "groups": "A",
            "region": f"1:{pos[a]}-{pos[b - 1]}",
            "min_count": K,
        }
        fig = build_figure(cohort, "haplotype-spectrum", options)
        return fig.layout.meta["details"]

    for a in range(lo, lo + 24 * width, width):
        try:
            one, two = spectrum(a, a + width), spectrum(a, a + width + 1)
        except Exception as exc:  # the fix: not a grid window
            assert "grid" in str(exc), exc
            refused += 1
            continue
        if len(one["shown"]) != len(two["shown"]):
            continue
        exact_one = haplotype_counts(h[a : a + width])
        exact_two = haplotype_counts(h[a : a + width + 1])
        for c1, c2 in zip(one["shown"], two["shown"], strict=True):
            d = c1 - c2
            truth = {int(x) - int(y) for x, y in zip(exact_one, exact_two, strict=False)}
            recovered += int(0 < d < K and c1 in exact_one and d in truth)
    print(f"S7(a) spectra one variant apart: {recovered} small counts, {refused} refused")
    assert recovered == 0


def _scan_cli(files, tmp_path, name: str, *options: str) -> pd.DataFrame | None:
    vcf, samples = files
    out = tmp_path / name
    done = run_genshare(
        "scan", str(vcf), "--samples", str(samples), "--stat", "h12", "--groups", "A",
        "--min-count", str(K), "--region", f"1:{NEAR[0]}-{NEAR[1]}", *options, "--out", str(out),
    )  # fmt: skip
    if done.returncode != 0:
        assert done.returncode == 2 and "grid" in done.stderr, done.stderr
        return None
    return pd.read_csv(out / "scan.tsv", sep="\t")


def _decoded(table: pd.DataFrame, h: np.ndarray, pos: np.ndarray) -> list[tuple[int, int, int]]:
    """``(first, stop, T)`` of each window whose top-two total the attacker decodes, checked
    against the referee's released classes of that window."""
    out = []
    for row in table.itertuples():
        t = top_two_from_h12(row.value, h.shape[1])
        if t is None:
            continue
        a, b = np.searchsorted(pos, [row.start, row.end + 1])
        shown = _released_classes(h[a:b])
        if len(shown) <= 2 and sum(shown) == t:
            out.append((int(a), int(b), t))
    return out


def test_sliding_h12_windows(files, tmp_path, referee):
    """(b) ``genshare scan --stat h12 --window 20 --step 1``: each H12 decodes to its two
    shown classes' total T; two overlapping windows whose T differ by d in 1..k-1 say d
    haplotypes are split off by the few variants they do not share."""
    h, pos = referee
    table = _scan_cli(files, tmp_path, "sliding", "--window", "20", "--step", "1")
    recovered = 0
    if table is not None:
        decoded = _decoded(table, h, pos)
        for (_, b1, t1), (a2, _, t2) in itertools.pairwise(decoded):
            recovered += int(a2 < b1 and 0 < abs(t1 - t2) < K)
    print(f"S7(b) sliding H12 windows: {recovered} small counts")
    assert recovered == 0


def test_nested_h12_windows(cohort, policy, referee):
    """(c) ``gs.scan(stat="h12")`` with windows of G and of 2G SNVs (G the grid): each 2G
    window holds two G windows; a half's top-two total T that is T - d in the whole (d in
    1..k-1) says the other half splits d haplotypes off those classes."""
    from genshare_widgets.disclosure import _scans
    from genshare_widgets.scans import scan

    G = _scans.HAPLOTYPE_GRID  # noqa: N806

    h, pos = referee
    region = f"1:{NEAR[0]}-{NEAR[1]}"
    tables = {}
    for size in (G, 2 * G):
        try:
            tables[size] = scan(
                cohort, stat="h12", groups="A", window=size, region=region, policy=policy
            ).table
        except Exception as exc:
            assert "grid" in str(exc), exc
    recovered = 0
    if len(tables) == 2:
        halves = {a: t for a, _, t in _decoded(tables[G], h, pos)}
        for a, _, t in _decoded(tables[2 * G], h, pos):
            for half in (a, a + G):
                if half in halves and 0 < halves[half] - t < K:
                    recovered += 1
    print(f"S7(c) nested windows G vs 2G: {recovered} small counts")
    assert recovered == 0


def test_spectrum_of_a_grid_window_cli(files, tmp_path):
    """The grid itself: ``genshare figure --kind haplotype-spectrum`` of a region that is
    not one grid window is refused naming the grid; the scan table's grid window is drawn."""
    vcf, samples = files
    base = ["figure", str(vcf), "--samples", str(samples), "--kind", "haplotype-spectrum"]
    base += ["--groups", "A", "--min-count", str(K)]
    region = f"1:{NEAR[0]}-{NEAR[0] + 30_000}"
    done = run_genshare(*base, "--region", region, "--out", str(tmp_path / "x.json"))
    assert done.returncode == 2 and "grid window" in done.stderr, done.stderr
    assert not (tmp_path / "x.json").exists()


def test_grid_releases_agree_whatever_the_region(cohort, policy, referee):
    """On the grid, windows shifted by a ``--region`` start are snapped to the same grid
    windows: two scans agree on every window they share, each window is G SNVs from the
    contig's first SNV, and the spectrum of a scanned window is released and gives its H12."""
    from genshare_widgets.disclosure._scans import HAPLOTYPE_GRID as G
    from genshare_widgets.disclosure._scans import released_h12
    from genshare_widgets.scan_figures import haplotype_spectrum
    from genshare_widgets.scans import scan

    _, pos = referee
    one = scan(cohort, stat="h12", groups="A", window=G, region=f"1:{NEAR[0]}-{NEAR[1]}",
               policy=policy).table  # fmt: skip
    two = scan(cohort, stat="h12", groups="A", window=G, step=G, policy=policy,
               region=f"1:{NEAR[0] + 7_777}-{NEAR[1] + 3_333}").table  # fmt: skip
    shared = one.merge(two, on=["contig", "start", "end", "n_variants"])
    assert len(shared) >= len(one) - 2 and (shared["value_x"] == shared["value_y"]).all()
    first = np.searchsorted(pos, one["start"].to_numpy())
    assert ((first % G) == 0).all() and (one["n_variants"] == G).all()
    assert one["start"].iloc[0] <= NEAR[0] and one["end"].iloc[-1] >= NEAR[1]
    row = one.iloc[len(one) // 2]
    spectrum = haplotype_spectrum(
        cohort, group="A", region=f"1:{row['start']}-{row['end']}", policy=policy
    )
    assert spectrum["n_variants"] == G and spectrum["haplotype_grid"] == G
    counts = np.asarray([*spectrum["shown"], *[1] * spectrum["other"]])
    assert released_h12(counts, policy) == pytest.approx(row["value"], abs=1e-15)


def test_off_grid_scans_are_refused_by_name(files, tmp_path):
    """``genshare scan --stat h12`` off the grid (another window, a step, bp windows) is
    refused naming the grid; PBS and iHS are not haplotype-window releases (unchanged)."""
    from genshare_widgets.disclosure._scans import HAPLOTYPE_GRID as G

    for options in (("--window", str(2 * G)), ("--window", str(G), "--step", str(G // 2)),
                    ("--window", "50000", "--window-unit", "bp")):  # fmt: skip
        vcf, samples = files
        out = tmp_path / "off"
        done = run_genshare(
            "scan", str(vcf), "--samples", str(samples), "--stat", "h12", "--groups", "A",
            "--min-count", str(K), *options, "--out", str(out),
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert (
            f"fixed grid of {G} SNVs" in done.stderr and f"--window {G} --step {G}" in done.stderr
        )
        assert not out.exists()
