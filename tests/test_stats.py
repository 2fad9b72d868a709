"""Statistics against naive references (simulated data, several chunkings) and invariants."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_stats import (
    all_pairs,
    naive_counts,
    naive_het,
    naive_hudson,
    naive_sfs,
    naive_shared,
)

from genshare_widgets import GenShareError, open_cohort, stats
from genshare_widgets.counts import allele_counts_by_group, parse_region, resolve_groups
from genshare_widgets.engines._group_counts import block_counts
from genshare_widgets.engines._kernels import group_counts_kernel


def _biallelic_genotypes(cohort, n: int) -> tuple[np.ndarray, np.ndarray]:
    alleles = np.asarray(cohort.genotypes["variant_allele"].values, dtype=object)
    bi = np.flatnonzero((alleles != "").sum(axis=1) == 2)[:n]
    return cohort.genotypes["call_genotype"].values[bi], bi


@pytest.fixture(scope="module")
def small_sim(sim_ooa):
    """Naive per-group counts for the first 300 biallelic variants of sim-ooa."""
    gt, index = _biallelic_genotypes(sim_ooa, 300)
    groups = list(sim_ooa.samples["population"])
    return gt, index, naive_counts(gt, groups)


@pytest.mark.parametrize("direct", ["1", "0"], ids=["bitplanes", "dask"])
@pytest.mark.parametrize("chunks", [None, 777, 512])
def test_counts_equal_naive_reference(sim_ooa, small_sim, chunks, direct, monkeypatch):
    monkeypatch.setenv("GENSHARE_DIRECT", direct)
    _gt, index, ref = small_sim
    cohort = sim_ooa if chunks is None else open_cohort("sim-ooa", variants_chunk_size=chunks)
    counts = allele_counts_by_group(cohort, by="population")
    pos = {int(v): i for i, v in enumerate(counts["variant_index"].values)}
    rows = [pos[int(v)] for v in index]
    for j, group in enumerate(counts["groups"].values):
        for field, key in (
            ("allele_count", "ac"),
            ("allele_number", "an"),
            ("hom_alt_count", "hom_alt"),
            ("het_count", "het"),
            ("called_count", "called"),
        ):
            assert counts[field].values[rows, j].tolist() == ref[group][key], (group, field)
    assert counts["group_n_samples"].values.tolist() == [100, 100, 100]


def test_statistics_equal_naive_reference(sim_ooa, small_sim):
    _gt, index, ref = small_sim
    everything = allele_counts_by_group(sim_ooa, by="population")
    counts = everything.isel(variants=np.searchsorted(everything["variant_index"].values, index))
    fst = stats.hudson_fst(counts).set_index(["pop1", "pop2"])
    for a, b in all_pairs(ref):
        value, n = naive_hudson(ref[a], ref[b])
        assert fst.loc[(a, b), "hudson_fst"] == pytest.approx(value, rel=1e-12)
        assert fst.loc[(a, b), "n_variants"] == n
    het = stats.heterozygosity(counts).set_index("group")
    for g in ref:
        obs, exp = naive_het(ref[g])
        assert het.loc[g, "observed_het"] == pytest.approx(obs, rel=1e-12)
        assert het.loc[g, "expected_het"] == pytest.approx(exp, rel=1e-12)
    spectrum = stats.sfs(counts)
    for g in ref:
        got = spectrum[spectrum["group"] == g].set_index("alt_count")["n_variants"]
        expected = naive_sfs(ref[g])
        assert {k: v for k, v in got.items() if v} == dict(expected)
    shared = stats.shared_private(counts).set_index("groups")["n_variants"].to_dict()
    assert shared == dict(naive_shared(ref))
    af = stats.allele_frequency(counts).values
    for j, g in enumerate(counts["groups"].values):
        np.testing.assert_allclose(af[:, j], np.array(ref[g]["ac"]) / np.array(ref[g]["an"]))


def test_joint_sfs_and_windows(sim_ooa):
    counts = allele_counts_by_group(sim_ooa, by="population")
    joint = stats.joint_sfs(counts, "CEU", "YRI")
    assert joint.sum() == counts.sizes["variants"]
    assert joint.shape == (201, 201)
    ac = counts["allele_count"].values
    groups = list(counts["groups"].values)
    i, j = groups.index("CEU"), groups.index("YRI")
    assert joint[3, 7] == int(((ac[:, i] == 3) & (ac[:, j] == 7)).sum())
    folded = stats.joint_sfs(counts, "CEU", "YRI", folded=True)
    assert folded.sum() == joint.sum()
    windows = stats.hudson_fst_windows(counts, "CEU", "YRI", size=1_000_000)
    assert (
        len(windows) == 5
        and windows["n_variants"].sum()
        == stats.hudson_fst(counts, pairs=[("CEU", "YRI")])["n_variants"].item()
    )
    per = stats.hudson_fst_per_variant(counts, "CEU", "YRI")
    first = per[per["position"] <= 1_000_000]
    assert windows["hudson_fst"].iloc[0] == pytest.approx(
        first["numerator"].sum() / first["denominator"].sum(), rel=1e-12
    )
    one = stats.hudson_fst_windows(counts, "CEU", "YRI", size=10_000_000)
    whole = stats.hudson_fst(counts, pairs=[("CEU", "YRI")])["hudson_fst"].item()
    assert one["hudson_fst"].item() == pytest.approx(whole, rel=1e-12)


def test_out_of_africa_signal(sim_ooa):
    """The simulated history shows up: YRI most diverse; CEU–CHB closest pair."""
    counts = allele_counts_by_group(sim_ooa, by="population")
    het = stats.heterozygosity(counts).set_index("group")["expected_het"]
    assert het["YRI"] > het["CEU"] and het["YRI"] > het["CHB"]
    fst = stats.hudson_fst(counts).set_index(["pop1", "pop2"])["hudson_fst"]
    assert fst[("CEU", "CHB")] < fst[("CEU", "YRI")] and fst[("CEU", "CHB")] < fst[("CHB", "YRI")]
    matrix = stats.hudson_fst_matrix(counts)
    assert (matrix.values == matrix.values.T).all() and (np.diag(matrix.values) == 0).all()


def test_filters_and_grouping(sim_ooa, sim_admix):
    everything = allele_counts_by_group(sim_ooa, by="population")
    region = allele_counts_by_group(sim_ooa, by="population", region="1:1,000,001-2,000,000")
    pos = region["variant_position"].values
    assert pos.min() >= 1_000_001 and pos.max() <= 2_000_000
    assert (
        region.sizes["variants"]
        == (
            (everything["variant_position"].values >= 1_000_001)
            & (everything["variant_position"].values <= 2_000_000)
        ).sum()
    )
    assert allele_counts_by_group(sim_ooa, region="chr1").sizes == everything.sizes
    common = allele_counts_by_group(sim_ooa, by="population", min_maf=0.05)
    total_af = common["allele_count"].sum("groups") / common["allele_number"].sum("groups")
    assert (np.minimum(total_af, 1 - total_af) >= 0.05).all()
    assert (
        common.attrs["filters"]["n_below_min_maf"] + common.sizes["variants"]
        == everything.sizes["variants"]
    )
    by_sex = allele_counts_by_group(sim_ooa, by="sex")
    assert list(by_sex["groups"].values) == ["female", "male"]
    np.testing.assert_array_equal(
        by_sex["allele_count"].sum("groups"), everything["allele_count"].sum("groups")
    )
    mapping = pd.Series(
        {s: ("first" if i < 10 else None) for i, s in enumerate(sim_admix.samples.index)}
    )
    subset = allele_counts_by_group(sim_admix, by=mapping)
    assert list(subset["groups"].values) == ["first"] and subset["group_n_samples"].item() == 10
    with pytest.raises(GenShareError, match="no sample column 'tribe'"):
        allele_counts_by_group(sim_ooa, by="tribe")
    with pytest.raises(GenShareError, match="contig 'chr7' is not in this cohort"):
        allele_counts_by_group(sim_ooa, region="chr7")
    with pytest.raises(GenShareError, match=r"between 0 and 0\.5"):
        allele_counts_by_group(sim_ooa, min_maf=0.7)
    assert parse_region("X:5-10") == ("X", 5, 10)
    with pytest.raises(GenShareError, match="end 5 is before start 10"):
        parse_region("1:10-5")


def test_multiallelic_split_and_snps_only(kg_subset):
    counts = allele_counts_by_group(kg_subset, by="superpopulation")
    f = counts.attrs["filters"]
    assert f["n_multiallelic_split"] == 516
    # 516 rows became n_split_records biallelic records (one per ALT allele)
    assert counts.sizes["variants"] == 25709 - 516 + f["n_split_records"] == 26250
    snps = allele_counts_by_group(kg_subset, by="superpopulation", snps_only=True)
    refs, alts = snps["variant_ref"].values, snps["variant_alt"].values
    assert all(len(r) == 1 and len(a) == 1 for r, a in zip(refs, alts, strict=True))
    assert (
        snps.sizes["variants"]
        == counts.sizes["variants"] - snps.attrs["filters"]["n_non_snp_excluded"]
    )


def test_chrx_haploid_calls_count_one_allele(kg_subset):
    # Outside the pseudo-autosomal regions (GRCh37 PAR1 ends at 2,699,520; PAR2 starts at
    # 154,931,044), where males are diploid.
    counts = allele_counts_by_group(kg_subset, by="sex", region="X:2,699,521-154,931,043")
    assert counts.sizes["variants"] > 900
    an = counts["allele_number"].values
    n = dict(zip(counts["groups"].values, counts["group_n_samples"].values, strict=True))
    assert (an[:, list(counts["groups"].values).index("male")] == n["male"]).all()
    assert (an[:, list(counts["groups"].values).index("female")] == 2 * n["female"]).all()
    assert (
        counts["called_count"].values[:, list(counts["groups"].values).index("male")] == 0
    ).all()


# --- property tests -------------------------------------------------------------------------

genotype_arrays = st.integers(1, 12).flatmap(
    lambda v: st.integers(2, 9).flatmap(
        lambda s: st.lists(
            st.sampled_from([-2, -1, 0, 0, 0, 1, 1]), min_size=v * s * 2, max_size=v * s * 2
        ).map(lambda x: np.array(x, dtype=np.int8).reshape(v, s, 2))
    )
)


@settings(max_examples=60, deadline=None)
@given(gt=genotype_arrays, seed=st.integers(0, 2**31 - 1))
def test_block_counts_match_naive(gt, seed):
    gt[..., 0] = np.where(gt[..., 0] == -2, -1, gt[..., 0])  # -2 only pads the second slot
    rng = np.random.default_rng(seed)
    labels = [str(g) if g >= 0 else None for g in rng.integers(-1, 3, size=gt.shape[1])]
    names = sorted({x for x in labels if x is not None})
    if not names:
        return
    onehot = np.zeros((gt.shape[1], len(names)), np.float32)
    for s, g in enumerate(labels):
        if g is not None:
            onehot[s, names.index(g)] = 1
    got = block_counts(gt, onehot)
    codes = np.array([names.index(g) if g is not None else -1 for g in labels], dtype=np.int64)
    compiled = group_counts_kernel(np.ascontiguousarray(gt), codes, len(names))
    np.testing.assert_array_equal(compiled, got)  # the production kernel equals the reference
    ref = naive_counts(gt, labels)
    for j, g in enumerate(names):
        for k, key in enumerate(("ac", "an", "hom_alt", "het", "called")):
            assert got[:, j, k].tolist() == ref[g][key]


count_tables = st.integers(1, 40).flatmap(
    lambda v: st.tuples(
        st.lists(st.integers(0, 30), min_size=v * 3, max_size=v * 3),
        st.lists(st.integers(0, 15), min_size=v * 3, max_size=v * 3),
    )
)


def _counts_from(values):
    import xarray as xr

    an_raw, ac_frac = values
    v = len(an_raw) // 3
    an = np.array(an_raw, dtype=np.int32).reshape(v, 3)
    ac = np.minimum(np.array(ac_frac, dtype=np.int32).reshape(v, 3), an)
    zeros = np.zeros_like(an)
    return xr.Dataset(
        {
            "allele_count": (("variants", "groups"), ac),
            "allele_number": (("variants", "groups"), an),
            "hom_alt_count": (("variants", "groups"), zeros),
            "het_count": (("variants", "groups"), zeros),
            "called_count": (("variants", "groups"), an // 2),
            "group_n_samples": (("groups",), np.array([15, 15, 15])),
            "variant_contig": (("variants",), np.array(["1"] * v)),
            "variant_position": (("variants",), np.arange(1, v + 1) * 1000),
        },
        coords={"groups": ["A", "B", "C"]},
    )


@settings(max_examples=80, deadline=None)
@given(values=count_tables)
def test_invariants(values):
    counts = _counts_from(values)
    af = stats.allele_frequency(counts).values
    assert np.all((af[~np.isnan(af)] >= 0) & (af[~np.isnan(af)] <= 1))
    ab = stats.hudson_fst(counts, pairs=[("A", "B")])
    ba = stats.hudson_fst(counts, pairs=[("B", "A")])
    assert ab.equals(ba)
    fst = ab["hudson_fst"].item()
    assert np.isnan(fst) or fst <= 1 + 1e-12
    spectrum = stats.sfs(counts)
    assert (spectrum.groupby("group")["n_variants"].sum() == counts.sizes["variants"]).all()
    folded = stats.sfs(counts, folded=True)
    assert (folded.groupby("group")["n_variants"].sum() == counts.sizes["variants"]).all()
    shared = stats.shared_private(counts)
    assert shared["n_variants"].sum() + shared.attrs["n_absent"] == counts.sizes["variants"]
    het = stats.heterozygosity(counts)
    exp = het["expected_het"].dropna()
    assert ((exp >= 0) & (exp <= 1)).all()


def test_resolve_groups_rejects_empty(sim_ooa):
    with pytest.raises(GenShareError, match="none of the 2 sample ids"):
        resolve_groups(sim_ooa.samples, {"x": "A", "y": "B"})
