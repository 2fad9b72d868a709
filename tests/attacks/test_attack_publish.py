"""Attacks 3, 5, 6, 8, 12 and 13 (issue 13) in the publishing setting: the user holds the
genotypes and publishes what ``genshare stats`` writes (or the Python API returns).

Each attack reads only the files written (freq.tsv, het.tsv, samples.tsv, pca.tsv, fst.tsv) and
returns what it recovered. A refusal is a success for the defender when the command fails with a
message naming the rule and writes nothing.
"""

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_runner import run_genshare
from red_team import COHORT, K

pytestmark = [pytest.mark.realdata, pytest.mark.slow, pytest.mark.timeout(240)]

REGISTERED = "sim-ooa-gru-registered"
REGISTERED_PURPOSE = "GRU;publish;project=Teaching"


def published(out: Path, *args: str, env=None, words=()) -> Path | None:
    """Run ``genshare ARGS --out OUT``: the folder when it succeeded, None when refused (then
    the message must name one of ``words`` and nothing may be written)."""
    done = run_genshare(*args, "--out", str(out), env=env, timeout=300)
    if done.returncode == 0:
        return out
    message = (done.stderr + done.stdout).lower()
    assert "traceback" not in message, done.stderr
    assert any(w.lower() in message for w in words), (words, done.stderr)
    written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert not written, f"a refused release wrote {written}"
    return None


def read_tsv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def variant_table(counts) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "contig": counts["variant_contig"].values.astype(str),
            "position": counts["variant_position"].values.astype(np.int64),
        }
    )


# -- attack 3: observed heterozygosity over one variant ---------------------------------------
def attack_het_one_variant(tmp_path, truth_counts, cache, k: int = K) -> int:
    """Attack 3: ``--het`` on a one-variant ``--region``: observed het × n is that variant's
    het count in each group. Returns het counts in 1..k-1 recovered exactly."""
    het = truth_counts["het_count"].values
    called = truth_counts["called_count"].values
    sizes = truth_counts["group_n_samples"].values
    table = variant_table(truth_counts)
    small = ((het >= 1) & (het < k)).sum(axis=1)
    small[(table["contig"] != "1").to_numpy() | (called != sizes).any(axis=1)] = -1
    row = int(np.argmax(small))
    pos = int(table["position"][row])
    out = published(
        tmp_path / "het", "stats", COHORT, "--min-count", str(k), "--by", "population",
        "--het", "--region", f"1:{pos}-{pos}", words=("variant", "heterozygosity"),
        env={"GENSHARE_CACHE": str(cache)},
    )  # fmt: skip
    if out is None:
        return 0
    result = read_tsv(out / "het.tsv")
    groups = [str(g) for g in truth_counts["groups"].values]
    recovered = 0
    for _, line in result.iterrows():
        if line["observed_het"] in ("", "NA", "nan") or line["group"] not in groups:
            continue
        j = groups.index(line["group"])
        guess = round(float(line["observed_het"]) * int(line["n_samples"]))
        recovered += int(1 <= het[row, j] < k and guess == het[row, j])
    return recovered


def test_attack3_het_over_one_variant_recovers_nothing(tmp_path, truth, fresh_cache):
    recovered = attack_het_one_variant(tmp_path, truth["population"], fresh_cache())
    print("attack 3 (observed het, one variant): het counts recovered =", recovered)
    assert recovered == 0


# -- attack 5: the MAF filter as an oracle ------------------------------------------------------
def attack_maf_oracle(tmp_path, truth_counts, cache, k: int = K, targets: int = 1) -> int:
    """Attack 5: a variant whose only hidden AC cell is ``<k`` (every AN shown, ALT the minor
    allele): whether the row survives ``--min-maf t`` pins the total AC, hence the hidden cell.
    Binary search over the 1..k-1 candidates (one ``genshare stats`` run per probe).
    Returns hidden cells recovered exactly."""
    ac = truth_counts["allele_count"].values.astype(np.int64)
    an = truth_counts["allele_number"].values.astype(np.int64)
    groups = [str(g) for g in truth_counts["groups"].values]
    table = variant_table(truth_counts)
    small = (ac >= 1) & (ac < k)
    ref_small = ((an - ac) >= 1) & ((an - ac) < k)
    candidates = np.flatnonzero(
        (small.sum(axis=1) == 1)
        & ~ref_small.any(axis=1)
        & ((ac == 0) | (ac >= k)).sum(axis=1).astype(bool)
        & (ac.sum(axis=1) * 2 < an.sum(axis=1))
        & (table["contig"] == "1").to_numpy()
    )
    recovered = 0
    for row in candidates[:targets]:
        pos = int(table["position"][row])
        region = f"1:{pos}-{pos}"
        base = ["stats", COHORT, "--min-count", str(k), "--by", "population", "--freq",
                "--region", region]  # fmt: skip
        env = {"GENSHARE_CACHE": str(cache)}
        first = published(tmp_path / f"v{pos}", *base, words=("maf",), env=env)
        if first is None:
            continue
        line = read_tsv(first / "freq.tsv").iloc[0]
        shown = {g: line[f"{g}_ac"] for g in groups}
        hidden = [g for g, v in shown.items() if not v.isdigit()]
        if len(hidden) != 1 or not all(line[f"{g}_an"].isdigit() for g in groups):
            continue
        total_an = sum(int(line[f"{g}_an"]) for g in groups)
        known = sum(int(v) for v in shown.values() if v.isdigit())

        def present(h, probe=[0], pos=pos, base=base, known=known, total_an=total_an, env=env):  # noqa: B006
            probe[0] += 1
            t = (known + h - 0.5) / total_an
            out = published(
                tmp_path / f"v{pos}-{probe[0]}",
                *base,
                "--min-maf",
                repr(t),
                words=("maf",),
                env=env,
            )
            return out is not None and len(read_tsv(out / "freq.tsv")) == 1

        lo, hi = 1, k - 1
        if not present(lo) or present(hi + 1):
            continue  # the filter does not answer about the hidden count: nothing learnt
        while lo < hi:  # invariant: present(lo), not present(hi + 1)
            mid = (lo + hi + 1) // 2
            if present(mid):
                lo = mid
            else:
                hi = mid - 1
        recovered += int(lo == ac[row, groups.index(hidden[0])])
    return recovered


def test_attack5_maf_filter_is_no_oracle(tmp_path, truth, fresh_cache):
    recovered = attack_maf_oracle(tmp_path, truth["population"], fresh_cache())
    print("attack 5 (--min-maf oracle): hidden cells recovered =", recovered)
    assert recovered == 0


# -- attack 6: differencing two releases with --samples ----------------------------------------
def attack_differencing(tmp_path, sample_table, kg, cache, k: int = K) -> int:
    """Attack 6: release group A = YRI + one CEU person, then A = YRI: AC(1) - AC(2) is that
    person's genotype wherever both ACs are shown. Returns sites of the person's genotype
    recovered. (Own cache: the release log of this cohort starts empty.)"""
    from genshare_widgets import allele_counts_by_group

    yri = sample_table[sample_table["population"] == "YRI"]
    person = sample_table[sample_table["population"] == "CEU"].iloc[[0]]
    with_person = pd.concat([yri, person])[["sample"]].assign(group="A")
    without = yri[["sample"]].assign(group="A")
    env = {"GENSHARE_CACHE": str(cache)}
    releases = []
    for name, table in (("with", with_person), ("without", without)):
        path = tmp_path / f"{name}.tsv"
        table.to_csv(path, sep="\t", index=False)
        out = published(
            tmp_path / name, "stats", COHORT, "--samples", str(path), "--by", "group",
            "--min-count", str(k), "--freq", env=env, words=("release", "differs"),
        )  # fmt: skip
        if out is None:
            return 0
        releases.append(read_tsv(out / "freq.tsv"))
    one, two = releases
    assert (one["position"] == two["position"]).all()
    both = one["A_ac"].str.isdigit() & two["A_ac"].str.isdigit()
    diff = np.where(both, pd.to_numeric(one["A_ac"], errors="coerce").fillna(0)
                    - pd.to_numeric(two["A_ac"], errors="coerce").fillna(0), -9)  # fmt: skip
    solo = pd.Series({person["sample"].iloc[0]: "P"})
    truth = allele_counts_by_group(kg, by=solo.reindex(kg.samples.index))
    keys = list(zip(truth["variant_contig"].values.astype(str),
                    truth["variant_position"].values, strict=True))  # fmt: skip
    dosage = dict(zip(keys, truth["allele_count"].values[:, 0], strict=True))
    genotype = np.array(
        [
            dosage.get((str(c), int(p)), -1)
            for c, p in zip(one["contig"], one["position"], strict=True)
        ]
    )
    return int((both.to_numpy() & (diff == genotype)).sum())


def test_attack6_differencing_releases_recovers_nothing(tmp_path, sample_table, kg, fresh_cache):
    recovered = attack_differencing(tmp_path, sample_table, kg, fresh_cache())
    print("attack 6 (differencing --samples): genotype sites recovered =", recovered)
    assert recovered == 0


# -- attack 8: per-person outputs under a policy -------------------------------------------
def attack_per_person_outputs(tmp_path, sim_ooa, cache, k: int = K) -> int:
    """Attack 8: ``--sample-stats`` and ``--pca`` on a registered entry over a one-variant
    region: samples.tsv's observed het (1 or 0 per person) names every heterozygous carrier,
    pca.tsv gives everyone's coordinates. Returns people named by a per-person output."""
    from genshare_widgets import allele_counts_by_group

    counts = allele_counts_by_group(sim_ooa, by="population", region="1:1-300000")
    het = counts["het_count"].values.sum(axis=1)
    row = int(np.flatnonzero((het >= 1) & (het < k))[0])
    pos = int(counts["variant_position"].values[row])
    named = set()
    for flag in (["--sample-stats"], ["--pca", "2"]):
        out = published(
            tmp_path / flag[0].strip("-"), "stats", REGISTERED, "--purpose", REGISTERED_PURPOSE,
            "--by", "population", "--region", f"1:{max(1, pos - 200000)}-{pos + 200000}"
            if flag[0] == "--pca" else f"1:{pos}-{pos}", *flag,
            words=("per-person", "per-sample", "individual", "policy"),
            env={"GENSHARE_CACHE": str(cache)},
        )  # fmt: skip
        if out is None:
            continue
        for name in ("samples.tsv", "pca.tsv"):
            if (out / name).is_file():
                table = read_tsv(out / name)
                named.update(table.iloc[:, 0].tolist())
    return len(named)


def test_attack8_no_per_person_output_under_policy(tmp_path, sim_ooa, fresh_cache):
    named = attack_per_person_outputs(tmp_path, sim_ooa, fresh_cache())
    print("attack 8 (per-person outputs, registered): people in per-person files =", named)
    assert named == 0


# -- attack 12: evading the ancestry gate on the NPOA entry -------------------------------------
def attack_ancestry_gate(tmp_path, sim_ooa, cache) -> dict[str, int]:
    """Attack 12 on ``sim-ooa-npoa``: (a) a sample table of one population; (b) groups of 98
    of one population plus one of each other; (c) Python PCA with ``by=None`` joined to the
    population labels. Returns population-level results obtained by each route."""
    import genshare_widgets as gs

    table = sim_ooa.samples.reset_index()
    env = {"GENSHARE_CACHE": str(cache)}
    found = {}
    one_pop = tmp_path / "one_pop.tsv"
    table[table["population"] == "YRI"][["sample"]].assign(batch="b1").to_csv(
        one_pop, sep="\t", index=False
    )  # a neutral column name: the one group IS a population
    out = published(
        tmp_path / "a", "stats", "sim-ooa-npoa", "--samples", str(one_pop), "--by", "batch",
        "--freq", words=("ancestry", "npoa", "population"), env=env,
    )  # fmt: skip
    found["one_population_freq_rows"] = len(read_tsv(out / "freq.tsv")) if out else 0
    mixed = []
    pops = sorted(table["population"].unique())
    for main in pops:
        rows = table[table["population"] == main].iloc[:98]
        mixed.append(rows.assign(cluster=f"G{main}"))
    used = set(pd.concat(mixed)["sample"])
    spare = table[~table["sample"].isin(used)]
    for main in pops:  # one of each other population in every group
        for other in pops:
            if other != main:
                pick = spare[spare["population"] == other].iloc[[pops.index(main) % 2]]
                mixed.append(pick.assign(cluster=f"G{main}"))
    groups = pd.concat(mixed)[["sample", "cluster"]].drop_duplicates("sample")
    path = tmp_path / "clusters.tsv"
    groups.to_csv(path, sep="\t", index=False)
    out = published(
        tmp_path / "b", "stats", "sim-ooa-npoa", "--samples", str(path), "--by", "cluster",
        "--fst", words=("ancestry", "npoa", "population"), env=env,
    )  # fmt: skip
    found["near_population_fst_pairs"] = len(read_tsv(out / "fst.tsv")) if out else 0
    try:
        cohort = gs.open_cohort("sim-ooa-npoa")
        result = gs.pca(cohort, k=2, by=None, region="1:1-2000000")
        labels = cohort.samples.get("population")
        coords = result.coordinates
        joined = coords.join(labels, how="inner") if labels is not None else coords.iloc[:0]
        found["pca_joined_to_population"] = int(joined["population"].notna().sum())
    except gs.GenShareError as exc:
        assert "ancestry" in str(exc).lower() or "npoa" in str(exc).lower(), exc
        found["pca_joined_to_population"] = 0
    return found


def test_attack12_ancestry_gate_not_evaded(tmp_path, sim_ooa, fresh_cache):
    found = attack_ancestry_gate(tmp_path, sim_ooa, fresh_cache())
    print("attack 12 (ancestry gate, NPOA):", found)
    assert sum(found.values()) == 0, found


# -- attack 13: controlled/registered stores readable by others --------------------------------
def attack_store_permissions(tmp_path) -> int:
    """Attack 13: another local user reads a registered entry's genotypes. Returns the files
    written under a fresh cache (and the store folder ``prepare`` prints) that group or
    others may read."""
    cache = tmp_path / "cache"
    done = run_genshare(
        "prepare", REGISTERED, "--purpose", REGISTERED_PURPOSE,
        env={"GENSHARE_CACHE": str(cache)}, timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        message = (done.stderr + done.stdout).lower()
        assert "purpose" in message or "credential" in message, done.stderr
        return 0
    store = Path(done.stdout.strip().splitlines()[-1])
    paths = [store] if store.exists() else []
    for root, _dirs, files in os.walk(cache):  # every file written: store, simulated VCF, ...
        paths += [Path(root) / name for name in files]
    return sum(bool(p.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH)) for p in paths)


def test_attack13_registered_store_is_owner_only(tmp_path):
    old = os.umask(0o022)  # the usual umask: what the package writes decides
    try:
        readable = attack_store_permissions(tmp_path)
    finally:
        os.umask(old)
    print("attack 13 (store permissions): group/other-readable paths =", readable)
    assert readable == 0
