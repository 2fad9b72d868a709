"""Selection scans (issue 20): PBS, Garud's H, iHS and XP-EHH equal naive references and
scikit-allel 1.3.13 on the same windows and haplotypes (≤ 1e-9), on an msprime sweep
simulation and on the real 1000 Genomes LCT slice; the sweep ranks at the top; the CLI
contract; unphased calls refused; consent."""

import itertools
import json
import math

import allel
import numpy as np
import pandas as pd
import pytest

from genshare_widgets.stats import _ehh
from genshare_widgets.stats import _selection_scans as scans
from tests.cli_runner import run_genshare
from tests.scan_sims import LENGTH, N_SAMPLES, SWEEP_POSITION, haplotypes_of, sweep_files

pytestmark = pytest.mark.timeout(300)
TOL = 1e-9


@pytest.fixture(scope="session")
def sweep_paths(tmp_path_factory):
    """The sweep simulation's phased VCF and sample table."""
    return sweep_files(tmp_path_factory.getbasetemp() / "scan-sweep")


@pytest.fixture(scope="session")
def sweep(sweep_paths):
    """The sweep simulation as a cohort opened by path."""
    from genshare_widgets import open_cohort

    vcf, table = sweep_paths
    return open_cohort(str(vcf), samples=str(table))


@pytest.fixture(scope="session")
def sweep_haplotypes(sweep):
    return {p: haplotypes_of(sweep, p) for p in "ABC"}


@pytest.fixture(scope="session")
def lct(mirror):
    from genshare_widgets import open_cohort

    folder = mirror / "1kg_phase3_slices"
    if not (folder / "1kg_phase3_LCT.vcf.gz").is_file():
        pytest.skip(f"{folder}/1kg_phase3_LCT.vcf.gz not in the mirror")
    return open_cohort(
        str(folder / "1kg_phase3_LCT.vcf.gz"), samples=str(folder / "1kg_phase3_samples.tsv")
    )


# --- naive references ----------------------------------------------------------------------


def naive_pbs(ac, an, lo, hi):
    """PBS of one window straight from the definitions (Python floats, loops)."""

    def fst(i, j):
        num = den = 0.0
        for v in range(lo, hi):
            n1, n2 = an[i][v], an[j][v]
            if n1 < 2 or n2 < 2:
                continue
            p1, p2 = ac[i][v] / n1, ac[j][v] / n2
            d = p1 * (1 - p2) + p2 * (1 - p1)
            if d <= 0:
                continue
            num += (p1 - p2) ** 2 - p1 * (1 - p1) / (n1 - 1) - p2 * (1 - p2) / (n2 - 1)
            den += d
        return min(max(num / den, 0.0), 0.99999) if den > 0 else math.nan

    t = [-math.log(1 - fst(i, j)) for i, j in ((0, 1), (0, 2), (1, 2))]
    return ((t[0] + t[1] - t[2]) / 2) / (1 + sum(t) / 2)


def naive_h12(h):
    """H12 from a dictionary of haplotype tuples."""
    counts = {}
    for column in zip(*h, strict=True):
        counts[column] = counts.get(column, 0) + 1
    f = sorted((c / h.shape[1] for c in counts.values()), reverse=True)
    return sum(f[:2]) ** 2 + sum(x * x for x in f[2:])


def test_pbs_equals_naive_reference():
    rng = np.random.default_rng(5)
    an = [rng.integers(0, 40, 60) for _ in range(3)]
    ac = [rng.integers(0, a + 1) for a in an]
    windows = scans.variant_windows(60, 12, 5)
    got = scans.pbs(list(zip(ac, an, strict=True)), windows)
    want = [naive_pbs(ac, an, lo, hi) for lo, hi in windows]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_h12_equals_naive_reference():
    rng = np.random.default_rng(6)
    for _ in range(20):
        h = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=(8, 30), p=[0.05, 0.6, 0.35])
        assert scans.garud_h(h)[1] == pytest.approx(naive_h12(h), abs=1e-15)
        assert scans.haplotype_counts(h).sum() == 30


def test_windows_follow_the_definitions():
    assert scans.variant_windows(10, 4, 3).tolist() == [[0, 4], [3, 7], [6, 10]]
    assert scans.variant_windows(3, 4).shape == (0, 2)
    bounds, index = scans.bp_windows(np.array([3, 10, 11, 25]), 10, 5)
    assert bounds[:, 0].tolist() == [1, 6, 11, 16, 21]
    assert index.tolist() == [[0, 2], [1, 3], [2, 3], [3, 4], [3, 4]]


# --- scikit-allel on the same arrays -------------------------------------------------------


def test_arrays_equal_scikit_allel(sweep_haplotypes, sweep):
    ha, hb, hc = (sweep_haplotypes[p] for p in "ABC")
    pos = np.asarray(sweep.genotypes["variant_position"].values)
    acs = [h.count_alleles(max_allele=1) for h in (ha, hb, hc)]
    for size, step in ((100, None), (50, 20)):
        windows = scans.variant_windows(len(pos), size, step)
        got = scans.pbs([(a[:, 1], a.sum(1)) for a in acs], windows)
        want = allel.pbs(*acs, window_size=size, window_step=step)
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
        mine = np.array(
            [v for _, v in scans.moving_garud_h(iter(np.array_split(ha, 7)), size, step)]
        ).T
        for a, b in zip(mine, allel.moving_garud_h(ha, size, step=step), strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=TOL)
    near = slice(*np.searchsorted(pos, [SWEEP_POSITION - 1_000_000, SWEEP_POSITION + 1_000_000]))
    ha, hb, pos = ha[near], hb[near], pos[near]  # iHS / XP-EHH: 2 Mb around the sweep
    raw = _ehh.ihs(ha, pos)
    ref = allel.ihs(ha, pos)
    assert np.array_equal(np.isnan(raw), np.isnan(ref)) and np.isfinite(raw).sum() > 300
    np.testing.assert_allclose(raw, ref, rtol=0, atol=TOL)
    cm = pos / 1e6 * 1.2  # a genetic map: 1.2 cM/Mb
    np.testing.assert_allclose(
        _ehh.xpehh(ha, hb, pos, map_positions=cm),
        allel.xpehh(ha, hb, pos, map_pos=cm),
        rtol=0,
        atol=TOL,
    )
    aac = acs[0][near, 1]
    z, bins = scans.standardize_by_allele_count(ref, aac, n_bins=20)
    zr, br = allel.standardize_by_allele_count(ref, aac, n_bins=20, diagnostics=False)
    ok = ~np.isnan(ref)
    assert np.array_equal(bins, br)
    np.testing.assert_allclose(z[ok], zr[ok], rtol=0, atol=TOL)


def _ranks(values, stat="pbs"):
    key = np.abs(values) if stat == "ihs" else values
    return pd.Series(key).rank(ascending=False, method="min").to_numpy()


def test_scan_api_equals_scikit_allel(sweep, sweep_haplotypes):
    from genshare_widgets.scans import scan

    ha, hb, hc = (sweep_haplotypes[p] for p in "ABC")
    pos = np.asarray(sweep.genotypes["variant_position"].values)
    acs = [h.count_alleles(max_allele=1) for h in (ha, hb, hc)]
    pbs = scan(sweep, stat="pbs", groups="A,B,C", window=100, step=50)
    np.testing.assert_allclose(
        pbs.table["value"], allel.pbs(*acs, window_size=100, window_step=50), rtol=0, atol=TOL
    )
    first = np.arange(0, len(pos) - 99, 50)
    assert pbs.table["start"].tolist() == pos[first].tolist()  # start = first variant's position
    assert pbs.table["end"].tolist() == pos[first + 99].tolist()
    assert set(pbs.table["n_variants"]) == {100}
    h12 = scan(sweep, stat="h12", groups="A", window=100)
    ref = allel.moving_garud_h(ha, 100)
    for column, want in zip(("h1", "value", "h123", "h2_h1"), ref, strict=True):
        np.testing.assert_allclose(h12.table[column], want, rtol=0, atol=TOL)
    bp = scan(sweep, stat="pbs", groups="A,B,C", window=200_000, window_unit="bp")
    want = [
        naive_pbs([a[:, 1] for a in acs], [a.sum(1) for a in acs], lo, hi)
        for lo, hi in (np.searchsorted(pos, [s, s + 200_000]) for s in bp.table["start"])
    ]
    np.testing.assert_allclose(bp.table["value"], want, rtol=0, atol=TOL, equal_nan=True)
    region = f"1:{SWEEP_POSITION - 1_000_000}-{SWEEP_POSITION + 1_000_000}"
    near = slice(*np.searchsorted(pos, [SWEEP_POSITION - 1_000_000, SWEEP_POSITION + 1_000_001]))
    ha, hb, pos, acs = ha[near], hb[near], pos[near], [a[near] for a in acs]
    ihs = scan(sweep, stat="ihs", groups="A", n_bins=20, region=region)
    raw = allel.ihs(ha, pos)
    z, _ = allel.standardize_by_allele_count(raw, acs[0][:, 1], n_bins=20, diagnostics=False)
    ok = ~np.isnan(raw)
    assert np.array_equal(np.isnan(ihs.table["value"]), ~ok)
    np.testing.assert_allclose(ihs.table["value"][ok], z[ok], rtol=0, atol=TOL)
    xp = scan(sweep, stat="xpehh", groups="A,B", region=region)
    raw = allel.xpehh(ha, hb, pos)
    z, _ = allel.standardize_by_allele_count(
        raw, acs[0][:, 1] + acs[1][:, 1], n_bins=50, diagnostics=False
    )
    ok = ~np.isnan(raw)
    np.testing.assert_allclose(xp.table["value"][ok], z[ok], rtol=0, atol=TOL)


def test_sweep_window_ranks_in_the_top_percent(sweep):
    """The window holding the selected site ranks in the top 1 % for H12 and PBS (A's branch);
    the ranks are printed (-s)."""
    from genshare_widgets.scans import scan

    site = SWEEP_POSITION + 1
    for stat, groups in (("h12", "A"), ("pbs", "A,B,C")):
        table = scan(sweep, stat=stat, groups=groups, window=100).table
        holds = np.flatnonzero((table["start"] <= site) & (table["end"] >= site))
        assert len(holds) == 1
        rank = int(_ranks(table["value"].to_numpy())[holds[0]])
        print(f"sweep window: {stat} rank {rank} of {len(table)}")
        assert rank <= 0.01 * len(table), (stat, rank, len(table))
    # and the neutral population's branch (C) does not single the sweep out
    table = scan(sweep, stat="pbs", groups="C,A,B", window=100).table
    holds = np.flatnonzero((table["start"] <= site) & (table["end"] >= site))
    assert _ranks(table["value"].to_numpy())[holds[0]] > 0.05 * len(table)


def test_real_lct_slice_equals_scikit_allel(lct):
    """PBS (CEU, CHB, YRI), H12, iHS (CEU) and XP-EHH (CEU vs YRI) on 2,504 real phased
    samples; the slice is 300 kb, so iHS/XP-EHH keep edge scores (include_edges)."""
    from genshare_widgets.scans import scan

    hap = {p: haplotypes_of(lct, p, by="pop") for p in ("CEU", "CHB", "YRI")}
    pos = np.asarray(lct.genotypes["variant_position"].values)[lct.genotypes["variant_snv"].values]
    acs = [hap[p].count_alleles(max_allele=1) for p in ("CEU", "CHB", "YRI")]
    pbs = scan(lct, stat="pbs", by="pop", groups="CEU,CHB,YRI", window=100, step=50)
    np.testing.assert_allclose(
        pbs.table["value"], allel.pbs(*acs, window_size=100, window_step=50), rtol=0, atol=TOL
    )
    lactase = np.flatnonzero((pbs.table["start"] <= 136608646) & (pbs.table["end"] >= 136608646))
    print("LCT PBS ranks of rs4988235's windows:", _ranks(pbs.table["value"].to_numpy())[lactase])
    h12 = scan(lct, stat="h12", by="pop", groups="CEU", window=100, step=50)
    np.testing.assert_allclose(
        h12.table["value"], allel.moving_garud_h(hap["CEU"], 100, step=50)[1], rtol=0, atol=TOL
    )
    region = "2:136540000-136660000"  # iHS / XP-EHH: 120 kb around LCT-MCM6
    near = (pos >= 136540000) & (pos <= 136660000)
    pos, acs = pos[near], [a[near] for a in acs]
    hap = {p: h[near] for p, h in hap.items()}
    ihs = scan(lct, stat="ihs", by="pop", groups="CEU", include_edges=True, region=region)
    raw = allel.ihs(hap["CEU"], pos, include_edges=True)
    z, _ = allel.standardize_by_allele_count(raw, acs[0][:, 1], n_bins=50, diagnostics=False)
    ok = ~np.isnan(raw)
    assert ok.sum() > 100
    np.testing.assert_allclose(ihs.table["value"][ok], z[ok], rtol=0, atol=TOL)
    xp = scan(lct, stat="xpehh", by="pop", groups="CEU,YRI", include_edges=True, region=region)
    hy = hap["YRI"]
    raw = allel.xpehh(hap["CEU"], hy, pos, include_edges=True)
    np.testing.assert_allclose(xp.table["raw"], raw, rtol=0, atol=TOL)


# --- CLI contract, bad input, phase, consent -----------------------------------------------


def test_cli_writes_scan_tsv_and_provenance(sweep_paths, tmp_path):
    vcf, table = sweep_paths
    out = tmp_path / "scan"
    done = run_genshare(
        "scan",
        str(vcf),
        "--samples",
        str(table),
        "--stat",
        "h12",
        "--groups",
        "A",
        "--window",
        "200",
        "--step",
        "100",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(out / "scan.tsv", sep="\t")
    assert list(written.columns) == ["contig", "start", "end", "n_variants", "value"]
    assert len(written) > 100 and written["value"].between(0, 1).all()
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["scan"]["stat"] == "h12" and prov["scan"]["window"] == 200
    assert prov["statistics"] == ["scan.tsv"]
    for args, message in (
        (("--stat", "pbs", "--groups", "A,B", "--window", "10"), "takes 3 group"),
        (("--stat", "h12", "--groups", "Z", "--window", "10"), "no group 'Z'"),
        (("--stat", "h12", "--groups", "A"), "needs --window"),
    ):
        bad = run_genshare(
            "scan", str(vcf), "--samples", str(table), *args, "--out", str(tmp_path / "bad")
        )
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
        assert not (tmp_path / "bad").exists()


def test_unphased_genotypes_are_refused(tmp_path):
    import pysam

    from genshare_widgets import open_cohort
    from genshare_widgets.engines._haplotypes import UnphasedGenotypesError
    from genshare_widgets.scans import scan

    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1,length=1000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
        + "\t".join(f"s{i}" for i in range(6)),
    ]
    calls = ["0|1", "1|1", "0/1", "0|0", "1|0", "0|0"]
    for p in range(1, 31):
        lines.append(
            f"1\t{p * 10}\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(calls[p % 6 :] + calls[: p % 6])
        )
    plain = tmp_path / "unphased.vcf"
    plain.write_text("\n".join(lines) + "\n")
    pysam.tabix_index(str(plain), preset="vcf", force=True)
    (tmp_path / "s.tsv").write_text(
        "sample\tpopulation\n" + "".join(f"s{i}\t{'XY'[i % 2]}\n" for i in range(6))
    )
    cohort = open_cohort(str(tmp_path / "unphased.vcf.gz"), samples=str(tmp_path / "s.tsv"))
    for stat in ("h12", "ihs"):
        with pytest.raises(UnphasedGenotypesError, match=r"unphased.*Phase the VCF"):
            scan(cohort, stat=stat, groups="X", window=10)
    with pytest.raises(UnphasedGenotypesError, match="needs phased"):
        scan(cohort, stat="xpehh", groups="X,Y")


def test_pbs_needs_no_phase(tmp_path):
    from genshare_widgets import open_cohort
    from genshare_widgets.scans import scan

    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1,length=1000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
        + "\t".join(f"s{i}" for i in range(6)),
    ]
    for p, calls in zip(
        range(1, 21), itertools.cycle([["0/1", "1/1", "0/0"], ["0/0", "0/1", "0/1"]])
    ):
        lines.append(f"1\t{p * 10}\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(calls * 2))
    (tmp_path / "u.vcf").write_text("\n".join(lines) + "\n")
    (tmp_path / "s.tsv").write_text(
        "sample\tpopulation\n" + "".join(f"s{i}\t{'XYZ'[i % 3]}\n" for i in range(6))
    )
    cohort = open_cohort(str(tmp_path / "u.vcf"), samples=str(tmp_path / "s.tsv"))
    assert len(scan(cohort, stat="pbs", groups="X,Y,Z", window=5).table) == 4


def test_npoa_refuses_population_comparing_scans(sim_ooa):
    from genshare_widgets import open_cohort
    from genshare_widgets.disclosure import AnalysisRefused
    from genshare_widgets.scans import scan

    npoa = open_cohort("sim-ooa-npoa")
    for stat, groups in (("pbs", "YRI,CEU,CHB"), ("xpehh", "CEU,YRI")):
        with pytest.raises(AnalysisRefused, match="refuses per-population"):
            scan(npoa, stat=stat, groups=groups, window=100, region="1:1-200000")
    assert len(scan(npoa, stat="h12", groups="CEU", window=100, region="1:1-400000").table)


def test_genetic_map_integrates_in_cm(sweep, sweep_haplotypes, tmp_path):
    from genshare_widgets.scans import scan

    pos = np.asarray(sweep.genotypes["variant_position"].values)
    grid = np.linspace(1, LENGTH, 11).astype(int)
    cm = np.cumsum(np.r_[0, np.diff(grid)] * np.linspace(0.5, 2.0, 11)) / 1e6
    path = tmp_path / "map.tsv"
    pd.DataFrame({"chrom": "1", "position": grid, "cM": cm}).to_csv(path, sep="\t", index=False)
    got = scan(sweep, stat="ihs", groups="A", genetic_map=path, region="1:1-2000000")
    near = pos <= 2_000_000
    want = allel.ihs(sweep_haplotypes["A"][near], pos[near], map_pos=np.interp(pos[near], grid, cm))
    np.testing.assert_allclose(got.table["raw"], want, rtol=0, atol=TOL)
    assert got.parameters["gap_units"] == "cM"
    assert N_SAMPLES == 40


# --- figures and the explorer tab ----------------------------------------------------------


def test_scan_figures_and_explorer_tab(sweep, tmp_path):
    """The scan tab computes a scan once per choice, labels the top windows, draws the top
    window's haplotype spectrum, and exports a recipe whose options rebuild the figure."""
    from genshare_widgets.widgets import TABS, CohortExplorer

    explorer = CohortExplorer(sweep)
    tab = explorer.scan
    assert tab.groups.value == "A" and tab.results == {}
    explorer.tabs.selected_index = len(TABS) + 2
    assert "updated in" in explorer.status.value, explorer.status.value
    track = explorer.figures["scan"]
    top = track.layout.meta["details"]["top"]
    assert len(top) == 5 and top[0]["start"] <= SWEEP_POSITION + 1 <= top[0]["end"]
    spectrum = explorer.figures["haplotype-spectrum"].layout.meta["details"]
    assert spectrum["n_haplotypes"] == 2 * N_SAMPLES and spectrum["shown"][0] > 40
    tab.stat.value = "pbs"  # three groups offered, one more scan
    assert tab.groups.value == "A,B,C" and len(tab.results) == 2
    assert explorer.figures["scan"].layout.meta["provenance"]["scan"]["stat"] == "pbs"
    tab.stat.value = "h12"  # back: nothing recomputed
    assert len(tab.results) == 2
    explorer.export.folder = tmp_path
    explorer.export.format.value = "json"
    explorer.export.button.click()
    written = explorer.export.written
    recipe = json.loads(written["provenance"].read_text())
    assert "--kind scan" in recipe["command"]
    assert "--groups A --stat h12 --window 100" in recipe["command"]
    # the recipe names the --samples table the cohort was opened with: `genshare figure
    # --from` rebuilds the same figure in a new process
    assert recipe["options"]["samples"] is not None
    again = tmp_path / "again.json"
    done = run_genshare("figure", "--from", str(written["provenance"]), "--out", str(again))
    assert done.returncode == 0, done.stderr
    assert (
        json.loads(again.read_text())["data"] == json.loads(written["figure"].read_text())["data"]
    )


def test_scan_track_builder_labels_distinct_peaks():
    from genshare_widgets.plots import haplotype_spectrum_plot, scan_track

    table = pd.DataFrame(
        {
            "contig": ["1"] * 6 + ["2"] * 2,
            "start": [1, 51, 101, 151, 201, 251, 1, 51],
            "end": [100, 150, 200, 250, 300, 350, 100, 150],
            "n_variants": 100,
            "value": [0.1, 0.9, 0.85, 0.2, np.nan, 0.3, 0.8, 0.1],
        }
    )
    fig = scan_track(table, stat="h12", groups=["A"], top=3)
    top = fig.layout.meta["details"]["top"]
    # 51-150 and 101-200 overlap: one label for that peak, the next distinct ones follow
    assert [(t["contig"], t["start"]) for t in top] == [("1", 51), ("2", 1), ("1", 251)]
    assert fig.layout.meta["details"]["n_na"] == 1 and "1 NA" in fig.layout.title.text
    spectrum = {"shown": [60, 30], "other": 20, "n_haplotypes": 110, "min_count": 20}
    bars = haplotype_spectrum_plot(spectrum).data[0]
    assert list(bars.x) == ["H1", "H2", "other (classes of < 20)"]
    assert list(bars.customdata) == [60, 30, 20]


def test_figure_command_draws_a_scan(sweep_paths, tmp_path):
    from click.testing import CliRunner

    from genshare_widgets.cli import main

    vcf, table = sweep_paths
    out = tmp_path / "pbs.json"
    args = ["figure", str(vcf), "--samples", str(table), "--kind", "scan", "--stat", "pbs"]
    args += ["--groups", "A,B,C", "--window", "100", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    fig = json.loads(out.read_text())
    best = fig["layout"]["meta"]["details"]["top"][0]
    assert best["start"] <= SWEEP_POSITION + 1 <= best["end"]
    assert fig["layout"]["meta"]["provenance"]["scan"]["window"] == 100
    bad = CliRunner().invoke(main, ["figure", str(vcf), "--kind", "scan", "--out", str(out)])
    assert bad.exit_code == 2 and "--stat" in bad.output
