"""Publishing controls (issue 13, attacks 6, 8, 12, 13): no per-person output under a policy,
the per-cohort release log, the ancestry gate's evasions, owner-only stores and logs.

Each safeguard is played as the attacker would, through the command line or the Python API.
"""

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_runner import run_genshare

from genshare_widgets import disclosure
from genshare_widgets._errors import GenShareError
from genshare_widgets.cohort import open_cohort
from genshare_widgets.counts import allele_counts_by_group
from genshare_widgets.disclosure import AnalysisRefused, DisclosurePolicy, ReleaseRefused
from genshare_widgets.disclosure._publishing import ReleaseLog, group_sample_sets, with_union
from genshare_widgets.figures import DEFAULT_OPTIONS, build_figure
from genshare_widgets.samples import group_centroids, pca, sample_stats

K = 20
NPOA = "sim-ooa-npoa"
GRU = "sim-ooa-gru-registered"
GRU_PURPOSE = "GRU;publish;project=Teaching"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _tree_modes(root):
    """{path: mode} of every folder and file under ``root`` (itself included)."""
    modes = {str(root): _mode(root)}
    for where, dirs, files in os.walk(root):
        for name in dirs + files:
            modes[os.path.join(where, name)] = _mode(os.path.join(where, name))
    return modes


@pytest.fixture(scope="module")
def npoa():
    return open_cohort(NPOA)


@pytest.fixture(scope="module")
def gru():
    return open_cohort(GRU, purpose=GRU_PURPOSE)


# --- rule 5: no per-person output under a policy (attack 8) ---------------------------------


def test_cli_refuses_pca_and_sample_stats_under_a_policy_and_writes_nothing(sim_ooa, tmp_path):
    for flags in (["--pca", "2"], ["--sample-stats"], ["--pca", "2", "--freq"]):
        out = tmp_path / "-".join(flags)
        run = run_genshare(
            "stats", "sim-ooa", *flags, "--min-count", str(K), "--region", "1", "--out", str(out)
        )
        assert run.returncode == 2, run.stderr
        assert "rule 5" in run.stderr and "open-tier cohort without --min-count" in run.stderr
        assert "Traceback" not in run.stderr
        assert not out.exists() or not any(out.iterdir())
    # the same request without a policy (open tier) is per-person output as before
    out = tmp_path / "open"
    run = run_genshare("stats", "sim-ooa", "--sample-stats", "--region", "1", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert len(pd.read_csv(out / "samples.tsv", sep="\t")) == 300


def test_registered_entry_refuses_per_person_output_by_default(gru, tmp_path):
    out = tmp_path / "gru"
    run = run_genshare("stats", GRU, "--purpose", GRU_PURPOSE, "--sample-stats", "--out", str(out))
    assert run.returncode == 2 and "rule 5" in run.stderr and "registered tier" in run.stderr
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(ReleaseRefused, match="rule 5"):
        pca(gru, k=2)
    with pytest.raises(ReleaseRefused, match="rule 5"):
        sample_stats(gru, region="1:1-100000")


def test_python_api_refuses_under_an_explicit_policy(sim_ooa):
    policy = DisclosurePolicy(min_count=K)
    with pytest.raises(ReleaseRefused, match="PCA coordinates"):
        pca(sim_ooa, k=2, policy=policy)
    with pytest.raises(ReleaseRefused, match=r"samples\.tsv"):
        sample_stats(sim_ooa, policy=policy)
    with pytest.raises(ReleaseRefused, match="rule 5"):
        pca(sim_ooa, k=2, policy=DisclosurePolicy(epsilon=10.0))


def _figure_numbers(fig_json) -> list[float]:
    """Every number the traces of a figure hold."""
    found: list[float] = []

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found.append(float(value))

    for trace in fig_json["data"]:
        walk(trace)
    return found


def test_pca_figure_under_a_policy_shows_group_centroids_only(sim_ooa, tmp_path):
    samples = tmp_path / "split.tsv"
    table = sim_ooa.samples[["population"]].copy()
    chb = table.index[table["population"] == "CHB"]
    table.loc[chb[:12], "population"] = "CHBsmall"  # 12 < k: no centroid
    table.index.name = "sample"
    table.to_csv(samples, sep="\t")
    cohort = open_cohort("sim-ooa", samples=samples)
    options = {**DEFAULT_OPTIONS, "samples": str(samples), "min_count": K, "pca_k": 3}
    fig = build_figure(cohort, "pca", options)
    text = fig.to_json()
    data = json.loads(text)
    assert [t["name"].split(" ")[0] for t in data["data"]] == ["CEU", "CHB", "YRI"]
    for trace in data["data"]:
        assert len(trace["x"]) == len(trace["y"]) == 1 and "customdata" not in trace
    assert not any(sid in text for sid in cohort.samples.index)  # no sample id anywhere
    # no per-sample coordinate: every number drawn is a centroid, an SD or styling
    coords = pca(sim_ooa, k=3, by=None).coordinates
    per_sample = set(np.round(coords.to_numpy().ravel(), 12))
    assert not per_sample & set(np.round(_figure_numbers(data), 12))
    prov = data["layout"]["meta"]["provenance"]
    assert prov["groups"] == {"CEU": 100, "CHB": 88, "YRI": 100}
    assert "CHBsmall" in prov["withheld_groups"] and "CHBsmall" not in text.split('"meta"')[0]
    # the centroids are the group means of the coordinates
    labels = cohort.samples["population"]
    table, small = group_centroids(coords, labels, min_size=K)
    assert small == {"CHBsmall": 12}
    ceu = table.set_index("group").loc["CEU"]
    assert data["data"][0]["x"][0] == pytest.approx(ceu["PC1"])
    assert data["data"][0]["error_x"]["array"][0] == pytest.approx(ceu["PC1_sd"])


def test_pca_figure_command_under_a_policy_and_epsilon(sim_ooa, tmp_path):
    out = tmp_path / "pca.json"
    run = run_genshare(
        "figure", "sim-ooa", "--kind", "pca", "--min-count", str(K), "--out", str(out)
    )
    assert run.returncode == 0, run.stderr
    assert len(json.loads(out.read_text())["data"]) == 3
    run = run_genshare(
        "figure", "sim-ooa", "--kind", "pca", "--epsilon", "5", "--out", str(tmp_path / "e.json")
    )
    assert run.returncode == 2 and "--epsilon" in run.stderr
    assert not (tmp_path / "e.json").exists()


def test_explorer_pca_tab_under_a_policy_shows_centroids(sim_ooa):
    pytest.importorskip("ipywidgets")
    from genshare_widgets.widgets import CohortExplorer

    explorer = CohortExplorer(sim_ooa, min_count=K)
    data = json.loads(explorer.figure("pca").to_json())
    assert len(data["data"]) == 3
    assert all(len(t["x"]) == 1 and "customdata" not in t for t in data["data"])
    assert not any(sid in json.dumps(data) for sid in sim_ooa.samples.index)


def test_group_centroids_equal_naive_means():
    rng = np.random.default_rng(3)
    coords = pd.DataFrame(rng.normal(size=(50, 2)), columns=["PC1", "PC2"])
    coords.index = [f"s{i}" for i in range(50)]
    labels = pd.Series(rng.choice(["a", "b", "c"], size=50, p=[0.6, 0.35, 0.05]), coords.index)
    labels.iloc[0] = None
    table, small = group_centroids(coords, labels, min_size=10)
    for _, row in table.iterrows():
        members = coords[labels == row["group"]]
        assert row["n_samples"] == len(members) >= 10
        assert row["PC2"] == pytest.approx(members["PC2"].mean())
        assert row["PC2_sd"] == pytest.approx(members["PC2"].std(ddof=1))
    assert all(n < 10 for n in small.values())


# --- rule 6: the release log (attack 6) -----------------------------------------------------


def _group_table(cohort, path, members, name="A"):
    """A sample table of every sample, ``name`` for ``members`` and empty for the others."""
    inside = cohort.samples.index.isin(list(members))
    groups = np.where(inside, name, None)
    pd.DataFrame({"sample": cohort.samples.index, "grp": groups}).to_csv(
        path, sep="\t", index=False
    )
    return path


def test_differencing_with_samples_is_refused_at_the_second_release(kg_subset, tmp_path):
    """Issue 13, attack 6: A = YRI + one person, then A = YRI (before: 18,138 genotypes)."""
    s = kg_subset.samples
    yri = list(s.index[s["population"] == "YRI"])
    person = s.index[s["population"] == "CEU"][0]
    plus = _group_table(kg_subset, tmp_path / "plus.tsv", [*yri, person])
    alone = _group_table(kg_subset, tmp_path / "yri.tsv", yri)

    def release(table, out, *extra):
        return run_genshare(
            "stats", "1kg-phase3-subset", "--samples", str(table), "--by", "grp", "--freq",
            "--min-count", str(K), "--region", "22", *extra, "--out", str(out),
        )  # fmt: skip

    first = release(plus, tmp_path / "first")
    assert first.returncode == 0, first.stderr
    second = release(alone, tmp_path / "second")
    assert second.returncode == 2
    assert "rule 6" in second.stderr and "1 sample(s) of it missing" in second.stderr
    assert "released earlier by `genshare stats 1kg-phase3-subset" in second.stderr
    assert str(plus) in second.stderr  # the earlier command, named
    assert not (tmp_path / "second").exists()  # nothing written
    # the figure path and the Python API refuse too
    cohort = open_cohort("1kg-phase3-subset", samples=alone)
    options = {**DEFAULT_OPTIONS, "samples": str(alone), "by": "grp", "min_count": K}
    with pytest.raises(ReleaseRefused, match="rule 6"):
        build_figure(cohort, "sfs", {**options, "region": "22"})
    # the same group again, or one that differs by k or more, is fine
    assert release(plus, tmp_path / "again").returncode == 0
    far = _group_table(kg_subset, tmp_path / "far.tsv", yri[:-K])
    assert release(far, tmp_path / "far").returncode == 0
    # without a policy nothing is logged or refused (open data)
    assert release(alone, tmp_path / "open", "--min-count", "1").returncode == 0


def test_release_log_either_difference_and_union(tmp_path):
    log = ReleaseLog("toy", folder=tmp_path / "releases")
    a = [f"s{i}" for i in range(100)]
    b = [f"t{i}" for i in range(100)]
    log.record(with_union({"A": a, "B": b}), k=K, command="first")
    log.record({"A": a}, k=K, command="again")  # the same group: fine, nothing new recorded
    assert len(log.releases) == 1
    for sets in (
        {"A": a[:-1]},  # one removed
        {"A": [*a, "x"]},  # one added
        {"A": [*a[:-5], "x", "y"]},  # 5 removed, 2 added
        {"AB": [*a, *b[:-3]]},  # the union of the first release, minus 3
    ):
        with pytest.raises(ReleaseRefused, match=r"rule 6.*`first`"):
            log.check(sets, k=K)
        with pytest.raises(ReleaseRefused):
            log.record(sets, k=K, command="bad")
    assert len(log.releases) == 1
    log.record({"C": a[:50]}, k=K, command="half")  # differs by 50
    assert len(log.releases) == 2
    with pytest.raises(ReleaseRefused):  # an earlier larger k is kept
        log.check({"D": a[:-25]}, k=30)
    log.path.write_text("{not json")
    with pytest.raises(ReleaseRefused, match="unreadable"):
        log.check({"A": a}, k=K)


def test_group_sample_sets():
    table = pd.DataFrame({"g": ["x", None, "y", "x"]}, index=["a", "b", "c", "d"])
    assert group_sample_sets(table, "g") == {"x": ["a", "d"], "y": ["c"]}
    assert group_sample_sets(table, "g", ["y"]) == {"y": ["c"]}


# --- rule 6b: nested groupings across releases (attack 7, publishing side) -------------------


def _empty_release_log():
    """What a user who deletes the log gets: no earlier releases (the 'before' of an attack)."""
    shutil.rmtree(Path(os.environ["GENSHARE_CACHE"]) / "releases", ignore_errors=True)


def _stats(out, *args, k=K):
    """``genshare stats 1kg-phase3-subset --freq ARGS --out OUT`` (under --min-count k)."""
    policy = ("--min-count", str(k)) if k else ()
    return run_genshare("stats", "1kg-phase3-subset", "--freq", *policy, *args, "--out", str(out))


def _freq(out) -> pd.DataFrame:
    return pd.read_csv(out / "freq.tsv", sep="\t", dtype=str).set_index(
        ["contig", "position", "ref", "alt"]
    )


def _recovered_by_differencing(fine, coarse, tree, *, exact=None):
    """Hidden fine-group AC cells (shown ``<k``) recovered as a coarse group's AC minus the
    shown AC of the other fine groups under it, where exactly one of them is hidden.

    ``tree``: {coarse group: [fine groups]}; → {(variant, fine group): recovered value}; with
    ``exact`` (the exact freq table), each value is checked against the true count."""
    both = fine.join(coarse, how="inner", rsuffix="_coarse")
    recovered = {}
    for parent, children in tree.items():
        total = pd.to_numeric(coarse.loc[both.index, f"{parent}_ac"], errors="coerce")
        cells = both[[f"{c}_ac" for c in children]]
        numbers = cells.apply(pd.to_numeric, errors="coerce")
        small = cells == f"<{K}"
        one = (numbers.isna().sum(axis=1) == 1) & (small.sum(axis=1) == 1) & total.notna()
        values = total - numbers.fillna(0).sum(axis=1)
        for variant in both.index[one]:
            (child,) = [c for c in children if small.loc[variant, f"{c}_ac"]]
            recovered[(variant, child)] = int(values[variant])
    if exact is not None:
        for (variant, child), value in recovered.items():
            assert int(exact.loc[variant, f"{child}_ac"]) == value
    return recovered


def test_nested_groupings_attack_recovers_hidden_cells_without_the_log(kg_subset, tmp_path):
    """Issue 13, attack 7 on the publishing side: by population, then by super-population.

    Before (the log emptied between the two releases, as without rule 6b): EUR − (CEU + GBR)
    and the like give 1,656 population ACs shown `<20` on the whole subset (all exact, in
    1..19); by sex after by population gives 245 more through the cohort total (female + male
    = the sum of the populations). After: the second release is refused, nothing is written."""
    s = kg_subset.samples
    tree = {sp: sorted(g["population"].unique()) for sp, g in s.groupby("superpopulation")}
    exact = _freq(_ok(_stats(tmp_path / "exact", "--by", "population", k=None), tmp_path / "exact"))
    pop = _freq(_ok(_stats(tmp_path / "pop", "--by", "population"), tmp_path / "pop"))
    _empty_release_log()
    sup = _freq(_ok(_stats(tmp_path / "sup", "--by", "superpopulation"), tmp_path / "sup"))
    before = _recovered_by_differencing(pop, sup, tree, exact=exact)
    assert len(before) > 1000 and all(1 <= v < K for v in before.values())
    _empty_release_log()
    sex = _freq(_ok(_stats(tmp_path / "sex", "--by", "sex"), tmp_path / "sex"))
    sex["ALL_ac"] = sum(pd.to_numeric(sex[f"{g}_ac"], errors="coerce") for g in ("female", "male"))
    pops = [c.removesuffix("_ac") for c in exact.columns if c.endswith("_ac")]
    through_total = _recovered_by_differencing(pop, sex, {"ALL": pops}, exact=exact)
    assert len(through_total) > 100 and all(1 <= v < K for v in through_total.values())
    print(f"before: {len(before)} by super-population, {len(through_total)} by sex")
    # after: with the log, the second release of either is refused and writes nothing
    _empty_release_log()
    _ok(_stats(tmp_path / "pop3", "--by", "population"), tmp_path / "pop3")
    for by in ("superpopulation", "sex"):
        refused = _stats(tmp_path / f"after-{by}", "--by", by)
        assert refused.returncode == 2 and "rule 6b" in refused.stderr, refused.stderr
        assert not (tmp_path / f"after-{by}").exists()


def _ok(run, out):
    assert run.returncode == 0, run.stderr
    return out


def test_nested_groupings_refused_in_both_orders(kg_subset, tmp_path):
    first = _stats(tmp_path / "pop", "--by", "population", "--region", "22")
    assert first.returncode == 0, first.stderr
    second = _stats(tmp_path / "sup", "--by", "superpopulation", "--region", "22")
    assert second.returncode == 2
    err = " ".join(second.stderr.split())
    assert "rule 6b" in err and "released earlier by `genshare stats 1kg-phase3-subset" in err
    assert "group 'AFR' of this release (364 samples) is, exactly, the union" in err
    assert "'ACB' (96), 'ASW' (61), 'LWK' (99), 'YRI' (108)" in err
    assert "one grouping of this cohort under a policy per region" in err
    assert not (tmp_path / "sup").exists()
    # the figure path (and the explorer, which draws through it) refuses too
    options = {**DEFAULT_OPTIONS, "by": "superpopulation", "min_count": K, "region": "22"}
    with pytest.raises(ReleaseRefused, match="rule 6b"):
        build_figure(kg_subset, "sfs", options)
    # the reverse order: the earlier super-population is the union of this release's groups
    _empty_release_log()
    assert _stats(tmp_path / "sup2", "--by", "superpopulation", "--region", "22").returncode == 0
    reverse = _stats(tmp_path / "pop2", "--by", "population", "--region", "22")
    assert reverse.returncode == 2 and "rule 6b" in reverse.stderr
    assert "released earlier by" in reverse.stderr and "of this release" in reverse.stderr
    assert not (tmp_path / "pop2").exists()
    # the same grouping again is fine, also a part of it (a figure of two populations)
    assert _stats(tmp_path / "sup3", "--by", "superpopulation", "--region", "22").returncode == 0
    keep = {**options, "keep_groups": "EUR,EAS"}
    build_figure(kg_subset, "sfs", keep)


def test_nested_groupings_allowed_over_regions_that_do_not_overlap(kg_subset, tmp_path):
    low, high = "22:16000000-30000000", "chr22:30000001-52000000"
    assert _stats(tmp_path / "pop", "--by", "population", "--region", low).returncode == 0
    run = _stats(tmp_path / "sup", "--by", "superpopulation", "--region", high)
    assert run.returncode == 0, run.stderr
    # any overlap, or the whole cohort (no --region), is refused
    overlap = _stats(tmp_path / "x", "--by", "superpopulation", "--region", "22:29999999-30000001")
    assert overlap.returncode == 2 and "rule 6b" in overlap.stderr
    assert "22:16000000-30000000" in overlap.stderr  # the earlier release's region, named
    whole = _stats(tmp_path / "y", "--by", "superpopulation")
    assert whole.returncode == 2 and "rule 6b" in whole.stderr
    assert "this release: the whole cohort" in " ".join(whole.stderr.split())


def test_grouping_that_does_not_nest_is_allowed(kg_subset, tmp_path):
    """Sex over every other sample cuts across every population: nothing nests."""
    s = kg_subset.samples
    half = s["sex"].where(np.arange(len(s)) % 2 == 0)
    table = tmp_path / "half.tsv"
    pd.DataFrame({"sample": s.index, "half_sex": half.values}).to_csv(table, sep="\t", index=False)
    assert _stats(tmp_path / "pop", "--by", "population", "--region", "22").returncode == 0
    run = _stats(tmp_path / "sex", "--samples", str(table), "--by", "half_sex", "--region", "22")
    assert run.returncode == 0, run.stderr


def test_samples_table_union_of_two_populations_is_refused(kg_subset, tmp_path):
    s = kg_subset.samples
    ceu, yri = (list(s.index[s["population"] == p]) for p in ("CEU", "YRI"))
    chb = list(s.index[s["population"] == "CHB"])
    assert _stats(tmp_path / "pop", "--by", "population", "--region", "22").returncode == 0

    def release(members, name):
        table = _group_table(kg_subset, tmp_path / f"{name}.tsv", members)
        return _stats(tmp_path / name, "--samples", str(table), "--by", "grp", "--region", "22")

    for name, members, said in (
        ("union", [*ceu, *yri], "rule 6b, nested groupings, release log): group 'A' of this "
         "release (207 samples) is, exactly, the union of the groups 'CEU' (99), 'YRI' (108)"),
        ("more", [*ceu, *yri, *chb[: K - 1]], f"(226 samples) is, within {K - 1} sample(s), "
         "the union of the groups 'CEU' (99), 'YRI' (108)"),
        # fewer samples than a population: a near-copy of it, which rule 6 refuses first
        ("less", [*ceu, *yri[:-5]], "rule 6, release log): group 'A' (202 samples) differs "
         "from group 'YRI' (108 samples)"),
    ):  # fmt: skip
        run = release(members, name)
        assert run.returncode == 2, (name, run.stderr)
        assert said in " ".join(run.stderr.split()), (name, run.stderr)
        assert not (tmp_path / name).exists()
    far = release([*ceu, *yri, *chb[:K]], "far")  # k samples from the union: allowed
    assert far.returncode == 0, far.stderr


def test_release_log_nesting_rules(tmp_path):
    log = ReleaseLog("toy", folder=tmp_path / "releases")
    pops = {p: [f"{p}{i}" for i in range(50)] for p in "ABCDEF"}
    log.record(with_union(pops), k=K, command="by pop")
    sup = {"X": pops["A"] + pops["B"] + pops["C"], "Y": pops["D"] + pops["E"] + pops["F"]}
    with pytest.raises(ReleaseRefused, match=r"rule 6b.*'X'.*'A' \(50\), 'B' \(50\), 'C'"):
        log.check(with_union(sup), k=K)
    with pytest.raises(ReleaseRefused, match="rule 6b"):  # one group alone nests too
        log.check({"X": sup["X"]}, k=K)
    with pytest.raises(ReleaseRefused, match=r"rule 6b.*the total over all its groups"):
        log.check(
            with_union(
                {
                    "m": [s for p in pops.values() for s in p[:25]],
                    "f": [s for p in pops.values() for s in p[25:]],
                }
            ),
            k=K,
        )
    # the same grouping again, part of it, and a near-copy-free split are fine
    log.check(with_union(pops), k=K)
    log.check(with_union({"A": pops["A"], "B": pops["B"]}), k=K)
    log.check({"half": pops["A"][:25] + pops["B"][:25]}, k=K)
    # a region: overlapping refused, disjoint recorded (old entries without one: whole cohort)
    with pytest.raises(ReleaseRefused, match="rule 6b"):
        log.check(with_union(sup), k=K, region="22:1-100")
    record = json.loads(log.path.read_text())
    assert "region" in record["releases"][0]
    del record["releases"][0]["region"]  # a log written before regions were recorded
    log.path.write_text(json.dumps(record))
    with pytest.raises(ReleaseRefused, match="rule 6b"):
        log.check(with_union(sup), k=K, region="1")
    log.path.unlink()
    log.record(with_union(pops), k=K, command="pop on 22", region="22")
    log.record(with_union(sup), k=K, command="sup on 1", region="chr1")
    # the same groups over another region are recorded again (rule 6b needs their region)
    log.record(with_union(pops), k=K, command="pop on 2:1-10", region="2:1-10")
    assert [r["region"] for r in log.releases] == [
        {"contig": "22", "start": None, "end": None},
        {"contig": "1", "start": None, "end": None},
        {"contig": "2", "start": 1, "end": 10},
    ]
    log.record(with_union(pops), k=K, command="inside", region="22:5-6")  # nothing new
    assert len(log.releases) == 3


def test_withheld_groups_do_not_sidestep_nesting(tmp_path):
    """A group of fewer than k samples is withheld and never recorded. A super-population over
    it and released groups is still refused: its withheld samples (fewer than k) lie outside
    the earlier release's total, which rule 6 records (so rule 6 speaks first), and the
    released groups inside it are within k of it (rule 6b)."""
    log = ReleaseLog("toy", folder=tmp_path / "releases")
    a, b, c = ([f"{p}{i}" for i in range(60)] for p in "abc")
    w = [f"w{i}" for i in range(K - 1)]  # withheld in the first release
    log.record(with_union({"A": a, "B": b, "C": c}), k=K, command="by pop, W withheld")
    with pytest.raises(ReleaseRefused, match=r"rule 6, .*'S'.*19 sample"):
        log.check({"S": [*a, *b, *w]}, k=K)
    nesting = log._nested(json.loads(log.path.read_text()), {"S": [*a, *b, *w]}, K, None)
    assert nesting is not None and nesting[1] == "S" and nesting[5] == K - 1  # rule 6b too
    # withheld samples of k or more are a difference of k or more samples, as rule 6 allows
    # (see the module docstring of disclosure._publishing)
    log.check({"S": [*a, *b, *w, "v1"]}, k=K)


# --- the ancestry gate (attack 12) ----------------------------------------------------------


def _npoa_table(npoa, path, groups):
    pd.DataFrame({"sample": npoa.samples.index, "grp": groups}).to_csv(path, sep="\t", index=False)
    return path


def test_gate_refuses_a_table_listing_one_population_only(npoa, tmp_path):
    pops = npoa.samples["population"]
    one = _npoa_table(npoa, tmp_path / "one.tsv", np.where(pops == "YRI", "mine", None))
    cohort = open_cohort(NPOA, samples=one)
    with pytest.raises(AnalysisRefused, match=r"NPOA.*'mine' is 100 % YRI"):
        allele_counts_by_group(cohort, by="grp")
    run = run_genshare(
        "stats", NPOA, "--samples", str(one), "--by", "grp", "--freq", "--out", str(tmp_path / "o")
    )
    assert run.returncode == 2 and "NPOA (DUO:0000044)" in run.stderr


def test_gate_refuses_98_of_one_population_plus_one_of_each_other(npoa, tmp_path):
    pops = npoa.samples["population"].astype(str).to_numpy()
    name = {"CEU": "g1", "CHB": "g2", "YRI": "g3"}
    groups = np.array([name[p] for p in pops], dtype=object)
    first, second = {}, {}
    for p in name:
        first[p], second[p] = np.flatnonzero(pops == p)[:2]
    # each group: 98 of its population, one of each other (the Fst 0.130 vs 0.138)
    groups[first["CHB"]] = groups[first["YRI"]] = "g1"
    groups[first["CEU"]] = groups[second["YRI"]] = "g2"
    groups[second["CEU"]] = groups[second["CHB"]] = "g3"
    cohort = open_cohort(NPOA, samples=_npoa_table(npoa, tmp_path / "mixed.tsv", groups))
    assert set(cohort.samples["grp"].value_counts()) == {100}
    with pytest.raises(AnalysisRefused, match=r"NPOA.* is 98 % "):
        allele_counts_by_group(cohort, by="grp")


def test_gate_still_permits_splits_that_cut_across_populations(npoa, tmp_path):
    s = npoa.samples
    status = np.where(s["height_like"] > s["height_like"].median(), "case", "control")
    cohort = open_cohort(NPOA, samples=_npoa_table(npoa, tmp_path / "cc.tsv", status))
    assert allele_counts_by_group(cohort, by="grp", region="1:1-500000").sizes["groups"] == 2
    assert allele_counts_by_group(npoa, by="sex", region="1:1-500000").sizes["groups"] == 2
    # the whole cohort as one group is not a population group
    one = open_cohort(NPOA, samples=_npoa_table(npoa, tmp_path / "all.tsv", "everyone"))
    assert allele_counts_by_group(one, by="grp", region="1:1-500000").sizes["groups"] == 1


def test_pca_is_refused_outright_under_npoa(npoa, tmp_path):
    """An unlabelled PCA's sample ids join to the population labels: no PCA at all."""
    with pytest.raises(AnalysisRefused, match=r"refuses PCA, with or without population labels"):
        pca(npoa, k=2, by=None)
    with pytest.raises(AnalysisRefused, match="NPOA"):
        build_figure(npoa, "pca", {**DEFAULT_OPTIONS, "by": "sex"})
    out = tmp_path / "pca"
    run = run_genshare("stats", NPOA, "--by", "sex", "--pca", "2", "--out", str(out))
    assert run.returncode == 2 and "refuses PCA" in run.stderr
    assert not out.exists() or not any(out.iterdir())


# --- rule 9: owner-only stores and logs (attack 13) -----------------------------------------


def test_registered_store_and_release_log_are_owner_only(gru, sim_ooa, tmp_path):
    modes = _tree_modes(gru.store_path)
    assert len(modes) > 10
    bad = {p: oct(m) for p, m in modes.items() if m & 0o077}
    assert not bad, list(bad.items())[:5]
    from genshare_widgets.fetch import cache_dir

    (folder,) = (cache_dir() / "simulated").glob(f"{GRU}-*")  # its VCF and sample table
    assert not {p for p, m in _tree_modes(folder).items() if m & 0o077}
    # the release log written by a policy-bound release
    out = tmp_path / "fst"
    run = run_genshare("stats", GRU, "--purpose", GRU_PURPOSE, "--fst", "--out", str(out))
    assert run.returncode == 0, run.stderr
    log = ReleaseLog.for_cohort(gru)
    assert log.path.is_file() and len(log.releases) == 1
    assert _mode(log.path) == 0o600 and _mode(log.path.parent) == 0o700
    assert _mode(log.path.with_suffix(".lock")) == 0o600
    record = json.loads(log.path.read_text())
    assert set(record["releases"][0]["groups"]) == {"CEU", "CHB", "YRI", "(all released groups)"}


def test_make_owner_only(tmp_path):
    from genshare_widgets.engines import ensure_owner_only

    root = tmp_path / "store"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "x").write_text("1")
    (root / "y").write_text("2")
    os.chmod(root, 0o755)
    ensure_owner_only(root)
    assert set(_tree_modes(root).values()) == {0o700, 0o600}


def test_release_refused_is_a_genshare_error():
    assert issubclass(ReleaseRefused, GenShareError)
    assert disclosure.ReleaseRefused is ReleaseRefused
