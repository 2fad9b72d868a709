"""LD: r² against a naive reference, pruning against a naive PLINK-order reference and
against ``plink2 --indep-pairwise`` on HapMap3 and the 1000 Genomes subset."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from genshare_widgets import GenShareError
from genshare_widgets.engines._ld_pass import (
    pair_moments,
    plan_windows,
    planes_from_dosage,
    prepared,
    prune,
    sample_words,
)
from genshare_widgets.ld import PruneSettings, ld_prune
from genshare_widgets.stats._ld import ld_decay_table, pair_moments_naive, r2_from_moments

pytestmark = pytest.mark.timeout(120)
AUTOSOMES = [str(i) for i in range(1, 23)]


def _dosages(rng, n_var=60, n_samp=150, missing=0.02) -> np.ndarray:
    """Dosages with LD (copies of earlier rows with noise), rare and monomorphic rows, ties
    (identical rows) and missing calls (NaN)."""
    rows = []
    for _ in range(n_var):
        kind = rng.integers(0, 6)
        if kind == 0 and rows:
            x = rows[-1 - rng.integers(0, min(len(rows), 5))].copy()  # an exact copy: a tie
        elif kind == 1 and rows:
            x = rows[-1].copy()
            flip = rng.random(n_samp) < 0.15
            x[flip] = rng.integers(0, 3, flip.sum())
        elif kind == 2:
            x = np.zeros(n_samp)
            x[rng.integers(0, n_samp, rng.integers(0, 3))] = 1  # singletons, doubletons
        else:
            x = rng.binomial(2, rng.uniform(0.05, 0.95), n_samp).astype(float)
        rows.append(x.astype(float))
    x = np.array(rows)
    x[rng.random(x.shape) < missing] = np.nan
    return x


def test_pair_moments_equal_naive():
    rng = np.random.default_rng(1)
    x = _dosages(rng, n_var=40, n_samp=200)
    keep = rng.random(200) < 0.8  # a subset of the samples
    planes = planes_from_dosage(x, sample_words(keep))
    first, second = np.triu_indices(40, 1)
    ours = pair_moments(planes, first, second, n_samples=int(keep.sum()))
    sub = x[:, keep]
    naive = pair_moments_naive(sub[first], sub[second])
    np.testing.assert_array_equal(ours, naive)
    full = np.isfinite(sub).all(axis=0)
    for k in range(0, len(first), 37):
        a, b = sub[first[k]], sub[second[k]]
        ok = ~np.isnan(a) & ~np.isnan(b)
        if np.std(a[ok]) > 0 and np.std(b[ok]) > 0:
            r = np.corrcoef(a[ok], b[ok])[0, 1] ** 2
            assert r2_from_moments(ours[k])[0] == pytest.approx(r, rel=1e-12, abs=1e-15)
    assert full.any()


def _naive_prune(x: np.ndarray, contig, position, settings: PruneSettings) -> np.ndarray:
    """PLINK 2.00a3's --indep-pairwise written the plain way (dosage rows, NaN missing)."""
    n_var = len(x)
    called = ~np.isnan(x)
    ac = np.nansum(x, axis=1)
    an = 2 * called.sum(axis=1)
    major = np.where(an > 0, np.maximum(ac, an - ac) / np.maximum(an, 1), 1.0)
    removed = np.zeros(n_var, bool)
    thr = settings.r2 * (1 + 2.0**-44)

    def exceeds(i, j):
        n, s1, s2, q1, q2, d = (int(v) for v in pair_moments_naive(x[i], x[j])[0])
        cov, v1, v2 = float(d * n - s1 * s2), float(q1 * n - s1 * s1), float(q2 * n - s2 * s2)
        return cov * cov > thr * v1 * v2

    def variance(i):
        return np.nanvar(x[i]) if called[i].any() else 0.0

    starts, ends, lasts = plan_windows(
        contig,
        position,
        window=settings.window or 0,
        step=settings.step,
        window_bp=settings.window_bp,
    )
    members: list[int] = []
    unchecked: dict[int, int] = {}
    loaded = 0
    for w, (start, end) in enumerate(zip(starts, ends, strict=True)):
        for t in range(max(loaded, start), end):
            if variance(t) == 0:
                removed[t] = True
            else:
                members.append(t)
                unchecked[t] = t + 1
        loaded = max(loaded, end)
        while True:
            before = removed.sum()
            for f in list(members):
                if removed[f]:
                    continue
                later = [t for t in members if t > f and not removed[t]]
                todo = [t for t in later if t >= unchecked[f]]
                if not todo:
                    continue
                for pos, sec in enumerate(later):
                    if sec < unchecked[f]:
                        continue
                    if exceeds(f, sec):
                        if major[f] > major[sec] * (1 + 2.0**-44):
                            removed[f] = True
                        else:
                            removed[sec] = True
                            rest = [t for t in later[pos + 1 :] if not removed[t]]
                            unchecked[f] = rest[0] if rest else end
                        break
                else:
                    unchecked[f] = end
            if removed.sum() == before:
                break
        last = lasts[w]
        members = [] if last else [t for t in members if not removed[t] and t >= starts[w + 1]]
    return ~removed


class _Source:
    def __init__(self, x):
        self.x = x
        self.kept = sample_words(np.ones(x.shape[1], bool))

    def rows(self, a, b):
        return prepared(planes_from_dosage(self.x[a:b], self.kept))


@pytest.mark.parametrize(
    "window, step, r2", [(10, 1, 0.2), (8, 3, 0.5), (30, 30, 0.1), ("2kb", 1, 0.3)]
)
def test_prune_equals_naive_reference(window, step, r2):
    rng = np.random.default_rng(7)
    x = _dosages(rng, n_var=90)
    contig = np.repeat([0, 1, 2], [50, 1, 39])  # a one-variant contig is kept as is
    position = np.concatenate(
        [np.cumsum(rng.integers(1, 400, 50)), [5], np.cumsum(rng.integers(1, 700, 39))]
    )
    settings = PruneSettings.parse(window, step, r2)
    called = (~np.isnan(x)).sum(axis=1)
    s = np.nansum(x, axis=1).astype(int)
    q = np.nansum(x * x, axis=1).astype(int)
    ac, an = s, 2 * called
    windows = plan_windows(
        contig, position, window=settings.window or 0, step=step, window_bp=settings.window_bp
    )
    removed = prune(
        _Source(x),
        n_samples=x.shape[1],
        called=called,
        dosage_sum=s,
        dosage_ssq=q,
        major_freq=np.maximum(ac, an - ac) / an,
        windows=windows,
        r2=r2,
        block_rows=16,
    )
    expected = _naive_prune(x, contig, position, settings)
    np.testing.assert_array_equal(~removed, expected)
    assert 0 < (~removed).sum() < len(x)


def test_settings_errors():
    for bad in [("x", 1, 0.2), (1, 1, 0.2), (50, 60, 0.2), (50, 5, 1.0), ("500kb", 5, 0.2)]:
        with pytest.raises(GenShareError):
            PruneSettings.parse(*bad)
    assert PruneSettings.parse("500kb", 1, 0.2).window_bp == 500000


def test_decay_table_bins():
    mean, n = ld_decay_table(
        np.array([0, 5, 10, 99, 100]),
        np.array([1.0, np.nan, 0.5, 0.25, 0.0]),
        bin_edges=np.array([0, 10, 100]),
        min_pairs=2,
    )
    assert n.tolist() == [1, 2] and np.isnan(mean[0]) and mean[1] == 0.375


def _plink2() -> str:
    path = shutil.which("plink2")
    if path is None:
        pytest.skip("plink2 not installed (.ci/run installs it)")
    return path


def _prune_in(plink_args: list[str], out) -> set[str]:
    subprocess.run(
        [_plink2(), *plink_args, "--threads", "2", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return set((out.parent / f"{out.name}.prune.in").read_text().split())


@pytest.mark.realdata
@pytest.mark.parametrize("window, step, r2", [(50, 5, 0.01), ("500kb", 1, 0.01)])
def test_prune_equals_plink2_hapmap3(hapmap3, mirror, tmp_path, window, step, r2):
    """HapMap3 has missing genotypes (0.15 %): PLINK's pairwise-complete r² is exercised."""
    base = mirror / "hapmap3" / "HM3_thinned_autosomal_overlap"
    for ext in ("bed", "bim", "fam"):
        shutil.copy(f"{base}.{ext}", tmp_path / f"hm.{ext}")
    theirs = _prune_in(
        ["--bfile", str(tmp_path / "hm"), "--indep-pairwise", str(window), str(step), str(r2)],
        tmp_path / "plink",
    )
    bim = pd.read_csv(tmp_path / "hm.bim", sep="\t", header=None, usecols=[0, 1, 3])
    chosen = bim[bim[1].isin(theirs)]
    expected = set(zip(chosen[0].astype(str), chosen[3], strict=True))
    result = ld_prune(hapmap3, window=window, step=step, r2=r2, policy=None)
    ours = set(zip(result.kept["contig"].astype(str), result.kept["position"], strict=True))
    assert ours == expected
    assert 0.2 * result.n_analysed < len(ours) < 0.9 * result.n_analysed


@pytest.fixture(scope="module")
def kg_autosomes(mirror, tmp_path_factory):
    """The subset's autosome VCFs concatenated (a temporary copy for PLINK 2)."""
    bcftools = shutil.which("bcftools")
    if bcftools is None:
        pytest.skip("bcftools not installed")
    folder = mirror / "1kg_phase3_subset"
    vcf = tmp_path_factory.mktemp("kg") / "autosomes.vcf.gz"
    subprocess.run(
        [
            bcftools,
            "concat",
            "-Oz",
            "-o",
            str(vcf),
            *(str(folder / f"1KG_phase3_subset_chr{c}.vcf.gz") for c in AUTOSOMES),
        ],
        check=True,
        capture_output=True,
    )
    return vcf


@pytest.mark.realdata
@pytest.mark.parametrize("window, step, r2, maf", [(50, 5, 0.1, None), ("200kb", 1, 0.05, 0.05)])
def test_prune_equals_plink2_1kg(kg_subset, kg_autosomes, tmp_path, window, step, r2, maf):
    """Like for like: PLINK 2 with ``--snps-only --max-alleles 2`` (GenShare analyses sites
    biallelic in the store; PLINK 2 would collapse a multi-allelic site to major vs rest)."""
    vcf = kg_autosomes
    args = [
        "--vcf",
        str(vcf),
        "--snps-only",
        "--max-alleles",
        "2",
        "--set-all-var-ids",
        "@:#:$r:$a",
        "--new-id-max-allele-len",
        "1000",
    ]
    if maf is not None:
        args += ["--maf", str(maf)]
    theirs = _prune_in(
        [*args, "--indep-pairwise", str(window), str(step), str(r2)], tmp_path / "plink"
    )
    result = ld_prune(
        kg_subset, window=window, step=step, r2=r2, snps_only=True, min_maf=maf, policy=None
    )
    kept = result.kept[result.kept["contig"].astype(str).isin(AUTOSOMES)]
    ours = {f"{c}:{p}:{r}:{a}" for c, p, r, a in kept.itertuples(index=False)}
    assert ours == theirs
    assert len(ours) < result.n_analysed


@pytest.mark.realdata
def test_pca_after_pruning_equals_plink2(hapmap3, mirror, tmp_path):
    """``pca(ld_prune=...)`` = ``plink2 --maf 0.05 --indep-pairwise`` then ``--extract
    prune.in --maf 0.05 --pca``: the same variants, the same components."""
    from genshare_widgets.samples import pca

    base = mirror / "hapmap3" / "HM3_thinned_autosomal_overlap"
    for ext in ("bed", "bim", "fam"):
        shutil.copy(f"{base}.{ext}", tmp_path / f"hm.{ext}")
    bfile = ["--bfile", str(tmp_path / "hm"), "--maf", "0.05"]
    theirs = _prune_in([*bfile, "--indep-pairwise", "50", "5", "0.02"], tmp_path / "p")
    subprocess.run(
        [
            _plink2(),
            *bfile,
            "--extract",
            str(tmp_path / "p.prune.in"),
            "--pca",
            "3",
            "--threads",
            "2",
            "--out",
            str(tmp_path / "pca"),
        ],
        check=True,
        capture_output=True,
    )
    vec = pd.read_csv(tmp_path / "pca.eigenvec", sep="\t", dtype=str)
    vec = vec.rename(columns={"#IID": "IID"}).set_index("IID")
    vec = vec.drop(columns=["#FID"], errors="ignore").astype(float)
    ours = pca(hapmap3, k=3, ld_prune=(50, 5, 0.02), policy=None)
    assert ours.n_variants == len(theirs) < 13691  # 13,691 pass --maf 0.05 alone
    assert ours.filters["ld_prune"]["n_variants_before"] == 13691
    for i in range(1, 4):
        ours_pc = ours.coordinates[f"PC{i}"]
        assert abs(np.corrcoef(ours_pc, vec.loc[ours_pc.index, f"PC{i}"])[0, 1]) > 0.9999


def test_dask_path_equals_bit_planes_and_withdrawals_leave(sim_ooa, monkeypatch):
    """The same pruning from ``call_genotype`` (GENSHARE_DIRECT=0: the pass for stores the
    direct reader does not handle), and a withdrawn sample never enters."""
    from genshare_widgets import open_cohort

    direct = ld_prune(sim_ooa, window=20, step=2, r2=0.1, region="1:1-2000000", policy=None)
    monkeypatch.setenv("GENSHARE_DIRECT", "0")
    dask = ld_prune(sim_ooa, window=20, step=2, r2=0.1, region="1:1-2000000", policy=None)
    pd.testing.assert_frame_equal(direct.kept, dask.kept)
    monkeypatch.delenv("GENSHARE_DIRECT")
    withdrawn = open_cohort("sim-ooa-withdrawals")
    result = ld_prune(withdrawn, window=20, step=2, r2=0.1, region="1:1-2000000", policy=None)
    assert result.n_samples == withdrawn.n_samples - 5


def test_kb_window_needs_sorted_positions():
    with pytest.raises(GenShareError, match="sorted"):
        plan_windows(np.zeros(3, int), np.array([5, 3, 9]), window=0, step=1, window_bp=1000)


def test_decay_uses_every_pair_within_the_distance(sim_ooa):
    """Pairs are chosen by distance, not by a number of neighbours: where variants are
    dense, a cap of 50 neighbours left the far bins empty (and the near ones biased); the
    early stop (positions sorted) gives the same table as trying every neighbour."""
    from genshare_widgets.ld import ld_decay

    options = dict(by="population", groups=["YRI"], region="1:1-1500000", max_distance=60_000)
    table, _ = ld_decay(sim_ooa, **options)
    every, _ = ld_decay(sim_ooa, **options, max_neighbours=10**6)
    pd.testing.assert_frame_equal(table, every)
    assert (table["n_pairs"] > 0).all() and table["mean_r2"].notna().all()
    capped, _ = ld_decay(sim_ooa, **options, max_neighbours=10)
    assert capped["n_pairs"].sum() < table["n_pairs"].sum()
    assert capped["n_pairs"].iloc[-1] < table["n_pairs"].iloc[-1]
