"""Disclosure control: no released output holds a person count in 1..k-1, suppressed cells
cannot be recovered, derived values use released cells only, and DP noise and budget behave as
documented."""

import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from cli_runner import run_genshare
from hypothesis import given, settings
from hypothesis import strategies as st

from genshare_widgets import disclosure, stats
from genshare_widgets._errors import GenShareError
from genshare_widgets.counts import allele_counts_by_group
from genshare_widgets.disclosure import DisclosurePolicy, policy_for

K = 20
INT = re.compile(r"^-?\d+$")


def _is_safe(value, k: int) -> bool:
    """A released person count: 0, >= k, ``<k`` or ``NA`` — never 1..k-1."""
    text = str(value).strip()
    if text in {"NA", f"<{k}", "nan"}:
        return True
    assert INT.match(text), f"not a count: {text!r}"
    number = int(text)
    return number == 0 or number >= k


# ---------------------------------------------------------------- policy


def test_policy_defaults_per_tier():
    assert not policy_for(None).active
    assert not policy_for(SimpleNamespace(access="open", min_cell_count=None, id="o")).active
    for tier in ("registered", "controlled"):
        policy = policy_for(SimpleNamespace(access=tier, min_cell_count=None, id="r"))
        assert policy.min_count == 20 and policy.marker == "<20" and policy.tier == tier
    # users may raise the threshold, never lower it; the entry may lower it
    entry = SimpleNamespace(access="registered", min_cell_count=None, id="r")
    assert policy_for(entry, min_count=50).min_count == 50
    with pytest.raises(GenShareError, match="below this cohort's minimum cell count 20"):
        policy_for(entry, min_count=10)
    lowered = SimpleNamespace(access="controlled", min_cell_count=5, id="c")
    assert policy_for(lowered).min_count == 5
    assert policy_for(None, min_count=5).min_count == 5
    with pytest.raises(GenShareError, match="positive"):
        DisclosurePolicy(epsilon=-1.0)


# ---------------------------------------------------------------- suppression rules


def test_linked_cells_are_hidden_together_by_hand():
    # rows (AC, AN, het, hom ALT, called): every linked cell 0 or >= 20 -> released
    ac = np.array([[40], [3], [40], [10], [180], [80], [65]])
    an = np.array([[200], [200], [200], [10], [200], [200], [200]])
    het = np.array([[40], [3], [38], [10], [20], [20], [20]])
    hom = np.array([[0], [0], [1], [0], [80], [20], [20]])
    called = np.array([[100], [100], [100], [5], [100], [80], [80]])
    from genshare_widgets.disclosure._suppress import hidden_genotype_rows

    alleles = disclosure.hidden_rows(ac, an, called=called, k=20)[:, 0].tolist()
    genotypes = hidden_genotype_rows(ac, an, het, hom, called, k=20)[:, 0].tolist()
    # row 1: AC 3; row 2: hom ALT 1 (AC = het + 2 hom ALT: the alleles are fine); row 3:
    # called 5 (AN = 2 called gives it away); row 4: hom REF 100 - 20 - 80 = 0 and REF count
    # 20 -> released; rows 5-6 (chrX-like): 40 haploid calls, haploid ALT 80 - 20 - 40 = 20
    # -> released, 65 - 20 - 40 = 5 -> genotypes hidden
    assert alleles == [False, True, False, True, False, False, False]
    assert genotypes == [False, True, True, True, False, False, True]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40)),
        min_size=1,
        max_size=30,
    ),
    st.integers(2, 30),
)
def test_released_rows_hold_no_small_linked_cell(rows, k):
    """Property: a released row has every linked cell 0 or >= k (so none can be solved from
    the others), a hidden row holds no number, and only a small AC is marked ``<k``."""
    from genshare_widgets.disclosure._suppress import (
        allele_cells,
        linked_cells,
        suppress_counts,
    )

    hom_ref, het, hom_alt = (np.array([[r[i]] for r in rows]) for i in range(3))
    called = hom_ref + het + hom_alt
    counts = _counts_from(het + 2 * hom_alt, 2 * called, het, hom_alt, called, n=200)
    released = suppress_counts(counts, k, min_variants=1)
    usable = released["allele_usable"].values
    genotype_usable = released["genotype_usable"].values
    for cell in allele_cells(het + 2 * hom_alt, 2 * called, called):
        assert not (usable & (cell >= 1) & (cell < k)).any()
    for cell in linked_cells(het + 2 * hom_alt, 2 * called, het, hom_alt, called):
        assert not (genotype_usable & (cell >= 1) & (cell < k)).any()
    assert not (genotype_usable & ~usable).any()
    for name in ("allele_count", "allele_number", "het_count", "hom_alt_count", "called_count"):
        status = released[f"{name}_status"].values
        shown = usable if name in ("allele_count", "allele_number") else genotype_usable
        assert ((status == 0) == shown).all()
        assert (released[name].values[~shown] == 0).all()
    ac = het + 2 * hom_alt
    small = (ac >= 1) & (ac < k)
    assert ((released["allele_count_status"].values == 1) == (~usable & small)).all()


def _counts_from(ac, an, het, hom, called, *, n: int, names=("A",)):
    from tests.reference_stats import counts_from_fields

    values = {
        "allele_count": ac,
        "allele_number": an,
        "het_count": het,
        "hom_alt_count": hom,
        "called_count": called,
    }
    v, g = np.shape(ac)
    return counts_from_fields(
        values,
        names=list(names),
        label="population",
        group_n=np.full(g, n),
        contig_ids=np.array(["1"]),
        variant_contig=np.zeros(v, dtype=int),
        variant_position=np.arange(1, v + 1) * 10,
        alleles=np.array([["C", "T"]] * v),
        cohort_id="tiny",
    )


def _tiny_counts():
    from genshare_widgets.counts import counts_dataset

    # variants × groups × FIELDS (allele_count, allele_number, hom_alt, het, called)
    from genshare_widgets.engines._group_counts import FIELDS

    ac = np.array([[0, 5], [195, 50], [60, 0], [3, 100]])
    an = np.array([[200, 200], [200, 200], [200, 10], [200, 200]])
    het = np.array([[0, 5], [5, 50], [20, 0], [3, 40]])
    called = an // 2
    hom = (ac - het) // 2
    raw = np.zeros((4, 2, len(FIELDS)), dtype=np.int32)
    values = {
        "allele_count": ac,
        "allele_number": an,
        "het_count": het,
        "hom_alt_count": hom,
        "called_count": called,
    }
    for i, name in enumerate(FIELDS):
        raw[:, :, i] = values[name]
    return counts_dataset(
        raw,
        index=np.arange(4),
        info={},
        names=["A", "B"],
        label="population",
        group_n=np.array([100, 100]),
        contig_ids=np.array(["1"]),
        variant_contig=np.zeros(4, dtype=int),
        variant_position=np.array([10, 20, 30, 40]),
        alleles=np.array([["C", "T"]] * 4),
        cohort_id="tiny",
    )


def test_release_by_hand():
    released = disclosure.release_counts(_tiny_counts(), DisclosurePolicy(min_count=20))
    ac = released["allele_count_status"].values.tolist()
    an = released["allele_number_status"].values.tolist()
    # AC 5 -> row hidden, AC <k; AC 195 of 200 -> REF 5 -> row hidden, AC NA; AN 10 ->
    # row hidden (AC 0 shown NA: the row holds no number); AC 3 -> <k
    assert ac == [[0, 1], [2, 0], [0, 2], [1, 0]]
    assert an == [[0, 2], [2, 0], [0, 2], [2, 0]]
    # nothing unreleased is kept in the released object
    assert released["allele_count"].values.tolist() == [[0, 0], [0, 50], [60, 0], [0, 100]]
    assert released["allele_number"].values.tolist() == [[200, 0], [0, 200], [200, 0], [0, 200]]
    assert released["het_count"].values[:, 1].tolist() == [0, 50, 0, 40]
    table = disclosure.frequency_table(released)
    assert table["A_ac"].tolist() == ["0", "NA", "60", "<20"]
    assert table["B_an"].tolist() == ["NA", "200", "NA", "200"]
    assert np.isnan(table["A_af"][1]) and table["A_af"][2] == 60 / 200
    # Fst only over variants released in both groups: here none is
    fst = disclosure.hudson_fst(released)
    assert fst["n_variants"].tolist() == [0] and np.isnan(fst["hudson_fst"][0])
    # shared: a <k or NA AC counts as present (a function of released values only)
    shared = disclosure.shared_private(released).set_index("groups")["n_variants"]
    assert shared.to_dict() == {"A+B": 3, "B": 1}


def _one_hidden_cell(x: int):
    """Two groups of 100; variant 0 has AC x (all het) in B (hidden when x < 20); variants 1..n
    are common and released everywhere."""
    n_common = 30
    ac = np.array([[0, x]] + [[60, 60]] * n_common)
    het = np.array([[0, x]] + [[20, 20]] * n_common)
    hom = (ac - het) // 2
    called = np.full_like(ac, 100)
    return _counts_from(ac, 2 * called, het, hom, called, n=100, names=("A", "B"))


@pytest.mark.parametrize("min_maf", [0.0025, 0.005, 0.01, 0.02, 0.04])
def test_maf_filter_is_no_oracle_for_a_hidden_count(min_maf):
    """Attack 5: the MAF filter ran on exact counts, so a row appearing at threshold t and not
    at t + d pinned a hidden AC. Now every hidden AC in 1..k-1 gives the same release."""
    policy = DisclosurePolicy(min_count=20, min_variants=1)
    outputs = set()
    for x in range(1, 20):
        released = disclosure.release_counts(_one_hidden_cell(x), policy, min_maf=min_maf)
        outputs.add(disclosure.frequency_table(released).to_csv())
    assert len(outputs) == 1
    # and a MAF filter already applied to the counts is refused under a policy
    from genshare_widgets.counts import select_groups

    with pytest.raises(GenShareError, match="released values"):
        disclosure.release_counts(select_groups(_one_hidden_cell(3), min_maf=0.01), policy)


def test_observed_het_needs_released_rows_and_enough_variants():
    """Attack 3: observed het over one variant was het/n, an exact count under k. It is now a
    mean over released rows only, and NA below the custodian's minimum number of variants."""
    seen = set()
    for x in range(1, 20):
        released = disclosure.release_counts(
            _one_hidden_cell(x), DisclosurePolicy(min_count=20, min_variants=10)
        )
        seen.add(tuple(disclosure.heterozygosity(released)["observed_het"].round(12)))
    assert len(seen) == 1 and all(np.isfinite(v) for v in next(iter(seen)))
    few = disclosure.release_counts(
        _one_hidden_cell(3), DisclosurePolicy(min_count=20, min_variants=31)
    )
    # A has 31 released rows, B 30 (its variant 0 is hidden)
    assert disclosure.heterozygosity(few)["observed_het"].isna().tolist() == [False, True]
    assert few.attrs["min_variants"] == 31


def test_withheld_groups_leave_every_table(sim_ooa):
    counts = allele_counts_by_group(sim_ooa, region="1:1-2000000")
    released = disclosure.release_counts(counts, DisclosurePolicy(min_count=101))
    assert released.sizes["groups"] == 0
    assert set(released.attrs["withheld_groups"]) == {"CEU", "CHB", "YRI"}


# ---------------------------------------------------------------- rendered CLI files


def _split_samples(cohort, path):
    """sim-ooa with a tiny group (8 of CHB) and a 25-strong one, to exercise withholding."""
    table = cohort.samples[["population"]].copy()
    chb = table.index[table["population"] == "CHB"]
    table.loc[chb[:8], "population"] = "CHBtiny"
    table.loc[chb[8:33], "population"] = "CHBsmall"
    table.index.name = "sample"
    table.to_csv(path, sep="\t")
    return path


def _check_files(out, k, *, withheld=()):
    freq = pd.read_csv(out / "freq.tsv", sep="\t", dtype=str, keep_default_na=False)
    groups = [c[:-3] for c in freq.columns if c.endswith("_ac")]
    assert not set(groups) & set(withheld)
    for col in freq.columns:
        if col.endswith(("_ac", "_an")):
            bad = [v for v in freq[col] if not _is_safe(v, k)]
            assert not bad, (col, bad[:5])
    for g in groups:
        ac, an, af = freq[f"{g}_ac"], freq[f"{g}_an"], freq[f"{g}_af"]
        numeric = ac.str.match(r"^\d+$") & an.str.match(r"^\d+$")
        # the implicit REF count of a released pair is never in 1..k-1
        ref = an[numeric].astype(int) - ac[numeric].astype(int)
        assert not ((ref >= 1) & (ref < k)).any()
        # AF is given exactly where both counts are, and equals AC/AN there
        assert (af[~numeric] == "NA").all()
        got = af[numeric & (an != "0")].astype(float)
        want = ac[numeric & (an != "0")].astype(int) / an[numeric & (an != "0")].astype(int)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    het = pd.read_csv(out / "het.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert all(_is_safe(v, k) for v in het["n_samples"])
    assert not set(het["group"]) & set(withheld)
    sfs = pd.read_csv(out / "sfs.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert all(_is_safe(v, k) for v in sfs["alt_count"])
    fst = pd.read_csv(out / "fst.tsv", sep="\t", dtype=str)
    assert not (set(fst["pop1"]) | set(fst["pop2"])) & set(withheld)
    shared = pd.read_csv(out / "shared.tsv", sep="\t", dtype=str)
    assert not {g for combo in shared["groups"] for g in combo.split("+")} & set(withheld)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["disclosure_policy"]["min_count"] == k
    assert set(prov["withheld_groups"]) == set(withheld)
    for group, n in prov["groups"].items():
        assert _is_safe(n, k), (group, n)
    text = "\n".join(p.read_text() for p in out.glob("*.tsv"))
    assert f"<{k}" in text  # something was suppressed: the check above was not vacuous
    return freq


def test_cli_files_hold_no_small_count(sim_ooa, tmp_path):
    samples = _split_samples(sim_ooa, tmp_path / "split.tsv")
    out = tmp_path / "out"
    run = run_genshare(
        "stats",
        "sim-ooa",
        "--samples",
        str(samples),
        "--region",
        "1:1-5000000",
        "--min-count",
        str(K),
        "--freq",
        "--fst",
        "--het",
        "--sfs",
        "--shared",
        "--out",
        str(out),
    )
    assert run.returncode == 0, run.stderr
    _check_files(out, K, withheld=("CHBtiny",))
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["groups"]["CHBtiny"] == f"<{K}" and prov["groups"]["CHBsmall"] == 25


def test_cli_real_data_under_a_policy(kg_subset, tmp_path):
    # ASW has 61 samples in the subset: k = 62 withholds it, and suppresses many cells
    out = tmp_path / "kg"
    run = run_genshare(
        "stats", "1kg-phase3-subset", "--min-count", "62", "--region", "22", "--out", str(out)
    )
    assert run.returncode == 0, run.stderr
    _check_files(out, 62, withheld=("ASW",))


def test_released_fst_uses_released_cells_only(sim_ooa):
    counts = allele_counts_by_group(sim_ooa, region="1:1-5000000")
    released = disclosure.release_counts(counts, DisclosurePolicy(min_count=K))
    usable = released["allele_usable"].values
    got = disclosure.hudson_fst(released).set_index(["pop1", "pop2"])
    names = [str(g) for g in counts["groups"].values]
    for (a, b), row in got.iterrows():
        i, j = names.index(a), names.index(b)
        keep = np.flatnonzero(usable[:, i] & usable[:, j])
        want = stats.hudson_fst(counts.isel(variants=keep), pairs=[(a, b)])
        assert row["hudson_fst"] == pytest.approx(float(want["hudson_fst"][0]), rel=1e-12)
        assert row["n_variants"] == int(want["n_variants"][0])
    exact = stats.hudson_fst(counts).set_index(["pop1", "pop2"])
    # the utility cost is real but modest on common variants
    assert (got["n_variants"] < exact["n_variants"]).all()


def test_no_policy_gives_the_plain_statistics(sim_ooa):
    counts = allele_counts_by_group(sim_ooa, region="1:1-2000000")
    released = disclosure.release_counts(counts, policy_for(None))
    pd.testing.assert_frame_equal(
        disclosure.frequency_table(released), stats.frequency_table(counts)
    )
    pd.testing.assert_frame_equal(disclosure.sfs(released), stats.sfs(counts))


# ---------------------------------------------------------------- rendered figures


def _customdata_counts(trace, columns):
    data = np.asarray(trace.get("customdata") or [], dtype=object)
    if data.size == 0:
        return []
    data = data.reshape(len(data), -1)
    return [data[i, c] for i in range(len(data)) for c in columns]


FIGURE_KINDS = ["af-compare", "variant", "sfs", "joint-sfs", "het", "representation", "pca"]


@pytest.mark.parametrize("kind", FIGURE_KINDS)
def test_figures_hold_no_small_count(sim_ooa, tmp_path, kind):
    from genshare_widgets.cohort import open_cohort
    from genshare_widgets.figures import DEFAULT_OPTIONS, build_figure

    samples = _split_samples(sim_ooa, tmp_path / "split.tsv")
    cohort = open_cohort("sim-ooa", samples=samples)
    options = {
        **DEFAULT_OPTIONS,
        "samples": str(samples),
        "region": "1:1-3000000",
        "min_count": K,
        "groups": "CEU,YRI",
        "variant": None,
    }
    if kind == "variant":  # a variant with a suppressed cell: rare in YRI
        counts = allele_counts_by_group(cohort, region="1:1-3000000")
        j = [str(g) for g in counts["groups"].values].index("YRI")
        ac = counts["allele_count"].values[:, j]
        row = int(np.flatnonzero((ac > 0) & (ac < K))[0])
        options["variant"] = (
            f"{counts['variant_contig'].values[row]}:{counts['variant_position'].values[row]}"
        )
    fig = json.loads(build_figure(cohort, kind, options).to_json())  # as rendered
    seen = []
    for trace in fig["data"]:
        if kind == "af-compare" and trace.get("type") == "scatter" and trace.get("customdata"):
            seen += _customdata_counts(trace, [1, 2, 3, 4])
        if kind == "variant" and trace.get("customdata") is not None:
            seen += _customdata_counts(trace, [0, 1])
        if kind == "variant" and trace.get("hovertext"):
            for line in trace["hovertext"]:
                found = re.search(r"<br>(<?\w+) of (<?\w+) alleles", line)
                seen += list(found.groups()) if found else []
        if kind == "sfs":
            seen += list(trace["x"])
        if kind == "joint-sfs":
            seen += list(trace["x"]) + list(trace["y"])
        if kind == "het":
            seen += _customdata_counts(trace, [0])
        if kind == "representation":
            seen += [t.split()[0].replace(",", "") for t in trace["text"]]
            seen += list(trace["x"])
            for line in trace["hovertext"]:
                found = re.search(r"<br>([\d,]+|<\d+) samples", line)
                seen += [found.group(1).replace(",", "")] if found else []
        if kind == "pca":  # group centroids only (rule 5), of groups at least k strong
            assert "customdata" not in trace and len(trace["x"]) == 1
            assert not trace["name"].startswith("CHBtiny")
            seen.append(re.search(r"\(n=([\d,]+)\)", trace["name"]).group(1).replace(",", ""))
    assert seen, "the check found nothing to check"
    bad = [v for v in seen if not _is_safe(v, K)]
    assert not bad, bad[:10]
    meta = fig["layout"]["meta"]["provenance"]
    assert meta["disclosure_policy"]["min_count"] == K
    for n in (meta.get("groups") or {}).values():
        assert _is_safe(n, K)
    footer = [a["text"] for a in fig["layout"]["annotations"] if a.get("name") == "genshare-footer"]
    assert "shown as <20" in footer[0]
    if kind == "variant":
        assert f"<{K}" in json.dumps(fig["data"])


def test_representation_hides_a_small_group_and_the_total(sim_ooa, tmp_path):
    from genshare_widgets.cohort import open_cohort
    from genshare_widgets.figures import DEFAULT_OPTIONS, build_figure

    samples = _split_samples(sim_ooa, tmp_path / "split.tsv")
    cohort = open_cohort("sim-ooa", samples=samples)
    fig = build_figure(
        cohort, "representation", {**DEFAULT_OPTIONS, "samples": str(samples), "min_count": K}
    )
    assert "300" not in fig.layout.title.text  # the total would give CHBtiny away
    assert "8" not in "".join(str(t) for t in fig.data[0].text)


# ---------------------------------------------------------------- differential privacy


def test_discrete_laplace_has_the_stated_distribution():
    from scipy import stats as sps

    rng = np.random.default_rng(20261125)
    epsilon, sensitivity = 1.0, 4
    z = disclosure.discrete_laplace(200_000, epsilon=epsilon, sensitivity=sensitivity, rng=rng)
    support = np.arange(-25, 26)
    observed = np.array([(z == v).sum() for v in support] + [(np.abs(z) > 25).sum()])
    pmf = disclosure.discrete_laplace_pmf(support, epsilon=epsilon, sensitivity=sensitivity)
    expected = np.append(pmf, 1 - pmf.sum()) * len(z)
    chi2, p = sps.chisquare(observed, expected)
    assert p > 1e-3, (chi2, p)
    a = np.exp(-epsilon / sensitivity)
    assert z.var() == pytest.approx(2 * a / (1 - a) ** 2, rel=0.03)
    assert abs(z.mean()) < 0.05


@pytest.mark.parametrize("sigma", [0.7, 3.5])
def test_discrete_gaussian_has_the_stated_distribution(sigma):
    from scipy import stats as sps

    rng = np.random.default_rng(20261126)
    z = disclosure.discrete_gaussian(200_000, sigma=sigma, rng=rng)
    half = int(6 * sigma) + 2
    support = np.arange(-half, half + 1)
    observed = np.array([(z == v).sum() for v in support] + [(np.abs(z) > half).sum()])
    pmf = disclosure.discrete_gaussian_pmf(support, sigma=sigma)
    expected = np.append(pmf, max(1 - pmf.sum(), 1e-12)) * len(z)
    keep = expected > 5  # chi-square needs expected counts of at least ~5
    chi2, p = sps.chisquare(
        observed[keep], expected[keep] * observed[keep].sum() / expected[keep].sum()
    )
    assert p > 1e-3, (chi2, p)
    assert z.var() == pytest.approx((pmf * support**2).sum(), rel=0.03)
    assert abs(z.mean()) < 0.05 and z.dtype == np.int64


def test_zcdp_conversion_matches_opendp_and_beats_the_simple_bound():
    # OpenDP's make_zCDP_to_approxDP test: Gaussian scale 4 at sensitivity 1 → rho = 1/32,
    # epsilon 0.6880024554878086 at delta 1e-3
    assert disclosure.zcdp_delta(1 / 32, 0.6880024554878086) == pytest.approx(1e-3, rel=1e-6)
    for epsilon in (0.1, 1.0, 10.0, 1e3, 1e6):
        rho = disclosure.zcdp_rho(epsilon, 1e-6)
        assert disclosure.zcdp_delta(rho, epsilon) <= 1e-6 * (1 + 1e-9)
        assert disclosure.zcdp_delta(rho * 1.001, epsilon) > 1e-6
        # Bun & Steinke 2016: rho-zCDP is (rho + 2 sqrt(rho log 1/delta), delta)-DP
        simple = (np.sqrt(np.log(1e6) + epsilon) - np.sqrt(np.log(1e6))) ** 2
        assert rho >= simple


def test_sensitivity_is_the_largest_participant_vector():
    """Brute force: every genotype one participant can have, counted by the counting pass."""
    from itertools import combinations, product

    from genshare_widgets.engines._group_counts import FIELDS, block_counts

    codes = (-1, 0, 1, 2)
    gts = np.array([[list(g) for g in product(codes, codes)]], dtype=np.int8)  # 1 variant
    per = block_counts(gts.transpose(1, 0, 2)[:, None, 0, :].reshape(1, -1, 2), np.eye(16))
    vectors = {name: per[0, :, FIELDS.index(name)] for name in FIELDS}
    names = list(disclosure.COUNT_SENSITIVITY)
    for r in range(1, len(names) + 1):
        for subset in combinations(names, r):
            stacked = np.stack([vectors[n] for n in subset])
            l1, l2sq = int(np.abs(stacked).sum(axis=0).max()), int((stacked**2).sum(axis=0).max())
            assert disclosure.release_sensitivity(3, subset) == 3 * l1
            assert disclosure.release_sensitivity(3, subset, norm="l2") ** 2 == pytest.approx(
                3 * l2sq
            )
            assert disclosure.release_sensitivity(3, subset, group_sizes=True) == 3 * l1 + 1
    # the services' and the risk lab's sensitivity: one function (the door noises all five)
    assert disclosure.service_sensitivity("beacon", 100, mechanism="laplace") == 601
    assert disclosure.service_sensitivity("site", 100, mechanism="laplace") == 601


@pytest.mark.parametrize("mechanism", ["laplace", "gaussian"])
def test_privatized_counts_noise_scale_and_clamping(sim_ooa, mechanism):
    counts = allele_counts_by_group(sim_ooa, region="1:1-1000000")
    n = counts.sizes["variants"]
    epsilon = 5.0 * n  # noise sd ~ 1-2: AN (~200) is never clamped, the scale shows
    noisy = disclosure.privatize_counts(
        counts, epsilon=epsilon, rng=np.random.default_rng(3), mechanism=mechanism
    )
    dp = noisy.attrs["dp"]
    assert dp["mechanism"] == mechanism and "group_n_samples" in dp["noised"]
    assert "add or remove one participant" in dp["neighbouring"]
    diff = noisy["allele_number"].values.astype(int) - counts["allele_number"].values
    if mechanism == "laplace":
        sens = disclosure.release_sensitivity(n, list(disclosure.COUNT_SENSITIVITY))
        assert dp["l1_sensitivity"] == sens + 1 == 6 * n + 1
        a = np.exp(-epsilon / dp["l1_sensitivity"])
        expected = 2 * a / (1 - a) ** 2
        assert dp["delta"] == 0
    else:
        assert dp["l2_sensitivity"] == pytest.approx(np.sqrt(10 * n + 1))
        assert dp["sigma"] == pytest.approx(dp["l2_sensitivity"] / np.sqrt(2 * dp["rho"]))
        assert dp["rho"] == pytest.approx(disclosure.zcdp_rho(epsilon, 1e-6))
        support = np.arange(-20, 21)
        expected = (disclosure.discrete_gaussian_pmf(support, sigma=dp["sigma"]) * support**2).sum()
        assert dp["delta"] == 1e-6
    assert diff.var() == pytest.approx(expected, rel=0.15)
    ac, an = noisy["allele_count"].values, noisy["allele_number"].values
    assert (ac >= 0).all() and (ac <= an).all()
    assert (
        noisy["het_count"].values + noisy["hom_alt_count"].values <= noisy["called_count"].values
    ).all()


@pytest.mark.parametrize("mechanism", ["laplace", "gaussian"])
def test_group_sizes_are_noisy_under_dp(sim_ooa, mechanism):
    """Group sizes are released with noise from the same release's budget: the exact sizes
    (which would tell whether a person is in a case group or a site) are not what comes out."""
    counts = allele_counts_by_group(sim_ooa, region="1:1-200000")
    n = counts.sizes["variants"]
    exact = counts["group_n_samples"].values.astype(int)
    rng = np.random.default_rng(11)
    draws = np.array(
        [
            disclosure.privatize_counts(counts, epsilon=3.0 * n, rng=rng, mechanism=mechanism)[
                "group_n_samples"
            ].values
            for _ in range(300)
        ]
    )
    assert (draws >= 0).all()
    noise = draws - exact
    assert (noise != 0).mean() > 0.2  # noisy, not exact
    assert abs(noise.mean()) < 0.2  # unbiased (no clamping at these sizes)
    one = disclosure.privatize_counts(counts, epsilon=3.0 * n, rng=rng, mechanism=mechanism)
    assert noise.std() == pytest.approx(one.attrs["dp"]["noise_sd"], rel=0.25)
    kept = disclosure.privatize_counts(
        counts, epsilon=3.0 * n, rng=rng, mechanism=mechanism, group_sizes=False
    )
    assert (kept["group_n_samples"].values == exact).all()
    assert "group_n_samples" not in kept.attrs["dp"]["noised"]


def test_budget_refuses_once_spent_and_persists(tmp_path):
    ledger = tmp_path / "ledger.json"
    budget = disclosure.PrivacyBudget(10.0, ledger=ledger)
    assert budget.charge(6.0, "first") == pytest.approx(4.0)
    again = disclosure.PrivacyBudget(10.0, ledger=ledger)  # another process, same ledger
    assert again.spent == pytest.approx(6.0)
    with pytest.raises(disclosure.PrivacyBudgetExceeded, match="only 4 of the cohort's 10"):
        again.charge(5.0, "too much")
    assert again.spent == pytest.approx(6.0)  # a refused release costs nothing
    again.charge(4.0)
    assert again.remaining == pytest.approx(0.0)
    ledger.write_text("{not json")
    with pytest.raises(GenShareError, match="never reset silently"):
        _ = disclosure.PrivacyBudget(10.0, ledger=ledger).spent


def test_environment_cannot_raise_a_ledger_total(tmp_path, monkeypatch):
    """GENSHARE_EPSILON_BUDGET (the caller's environment) never raises a budget: the ledger's
    total recorded at creation wins over a larger one, and the variable may only lower it."""
    ledger = tmp_path / "privacy" / "c.json"
    disclosure.PrivacyBudget(10.0, ledger=ledger).charge(4.0, "first")
    assert json.loads(ledger.read_text())["total"] == 10.0
    monkeypatch.setenv("GENSHARE_EPSILON_BUDGET", "1e12")
    later = disclosure.PrivacyBudget(1e9, ledger=ledger)  # a larger total asked later
    assert later.total == 10.0 and later.remaining == pytest.approx(6.0)
    with pytest.raises(disclosure.PrivacyBudgetExceeded, match="never raised from the caller"):
        later.charge(7.0)
    assert disclosure.PrivacyBudget(ledger=ledger).total == 10.0
    # in memory too: the variable bounds the default, never raises it
    from genshare_widgets.disclosure._budget import DEFAULT_BUDGET

    assert disclosure.PrivacyBudget().total == DEFAULT_BUDGET
    monkeypatch.setenv("GENSHARE_EPSILON_BUDGET", "5")
    lowered = disclosure.PrivacyBudget(10.0, ledger=ledger)
    assert lowered.total == 5.0
    lowered.charge(1.0)  # the lower total is written back: nobody raises it again
    monkeypatch.delenv("GENSHARE_EPSILON_BUDGET")
    assert disclosure.PrivacyBudget(10.0, ledger=ledger).total == 5.0
    assert json.loads(ledger.read_text())["total"] == 5.0


def test_ledger_files_are_owner_only(tmp_path):
    import stat as st_

    folder = tmp_path / "privacy"
    budget = disclosure.PrivacyBudget(10.0, ledger=folder / "c.json").create()
    budget.charge(1.0)
    assert st_.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert st_.S_IMODE(path.stat().st_mode) == 0o600, path
    recorded = json.loads((folder / "c.json").read_text())
    assert recorded["total"] == 10.0 and recorded["epsilon_per_release_max"] is None


def test_ledger_is_keyed_by_cohort_id(isolated_cache):
    assert disclosure.ledger_for("1kg-phase3-subset") == (
        isolated_cache / "privacy" / "1kg-phase3-subset.json"
    )
    a = disclosure.custodian_settings(None).budget("my-cohort")
    b = disclosure.custodian_settings(None).budget("my-cohort")  # another store, same cohort
    a.charge(3.0)
    assert b.spent == pytest.approx(3.0)


def test_ledger_keyed_by_cohort_carries_over_an_older_store_ledger(tmp_path):
    old = tmp_path / "privacy" / "56ba9d2403a79c0a790e55ba.json"  # keyed by store, before
    disclosure.PrivacyBudget(100.0, ledger=old).charge(30.0, "freq")
    new = disclosure.PrivacyBudget(100.0, ledger=tmp_path / "privacy" / "c.json")
    assert new.carry_over(old).spent == pytest.approx(30.0)
    assert new.carry_over(old).spent == pytest.approx(30.0)  # once, not again


def test_ledger_survives_a_restart_two_processes(isolated_cache):
    """Two processes (a service started, stopped, started again): the second sees what the
    first spent, and cannot raise the total through its environment."""
    import subprocess
    import sys

    code = (
        "import sys; from genshare_widgets.disclosure import custodian_settings;"
        "from types import SimpleNamespace as N;"
        "entry = N(id='reg', access='registered', min_cell_count=None, disclosure=None);"
        "b = custodian_settings(entry).budget('reg').create();"
        "b.charge(float(sys.argv[1]), 'release') if float(sys.argv[1]) else None;"
        "print(b.spent, b.total, b.per_release_max)"
    )
    env = {**__import__("os").environ, "GENSHARE_CACHE": str(isolated_cache)}
    first = subprocess.run([sys.executable, "-c", code, "0.5"], env=env, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["0.5", "10.0", "1.0"]
    env["GENSHARE_EPSILON_BUDGET"] = "1e9"
    second = subprocess.run([sys.executable, "-c", code, "0"], env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["0.5", "10.0", "1.0"]


def test_per_release_cap_refuses(tmp_path):
    entry = SimpleNamespace(
        id="reg",
        access="registered",
        min_cell_count=None,
        disclosure=SimpleNamespace(
            min_count=None, min_variants=None, epsilon_per_release_max=0.5,
            epsilon_budget=5.0, dp_mechanism=None, dp_delta=None,
        ),
    )  # fmt: skip
    with pytest.raises(GenShareError, match=r"cap 0\.5 .*epsilon_per_release_max.*'reg'"):
        policy_for(entry, epsilon=2.0)
    policy = policy_for(entry, epsilon=0.5)
    assert policy.epsilon_cap == 0.5 and policy.to_dict()["epsilon_per_release_max"] == 0.5
    with pytest.raises(GenShareError, match="above the per-release cap"):
        DisclosurePolicy(epsilon=3.0, epsilon_cap=1.0)
    budget = disclosure.custodian_settings(entry).budget("reg", persistent=False)
    with pytest.raises(disclosure.PrivacyBudgetExceeded, match=r"per-release cap 0\.5 set by"):
        budget.charge(0.6)
    assert budget.spent == 0
    # the tier default applies when the entry says nothing: registered → cap 1, budget 10
    plain = SimpleNamespace(id="r2", access="registered", min_cell_count=None, disclosure=None)
    with pytest.raises(GenShareError, match="registered tier default"):
        policy_for(plain, epsilon=100.0)
    # open data (or the user's own files): DP is the user's choice, uncapped
    assert policy_for(None, epsilon=100.0).epsilon == 100.0


def _block(**values):
    from genshare_widgets.catalog._schema import DisclosureSettings

    return DisclosureSettings(**values)


@pytest.mark.parametrize(
    ("tier", "values", "field"),
    [
        ("registered", {"min_count": 3}, "min_count"),
        ("controlled", {"epsilon_budget": 1000.0}, "epsilon_budget"),
        ("registered", {"epsilon_per_release_max": 50.0}, "epsilon_per_release_max"),
        ("registered", {"min_variants": 10}, "min_variants"),
        ("registered", {"epsilon_budget": 0.5}, "epsilon_per_release_max"),  # tier cap 1 > 0.5
    ],
)
def test_settings_contradicting_the_tier_are_errors(tier, values, field):
    entry = SimpleNamespace(id="e", access=tier, min_cell_count=None, disclosure=_block(**values))
    with pytest.raises(GenShareError, match=rf"catalog entry 'e': disclosure\.{field} "):
        disclosure.custodian_settings(entry)


def test_custodian_config_may_only_tighten(tmp_path):
    entry = SimpleNamespace(
        id="e", access="controlled", min_cell_count=None,
        disclosure=_block(epsilon_per_release_max=1.0, epsilon_budget=20.0, min_variants=2000),
    )  # fmt: skip
    good = tmp_path / "good.yaml"
    good.write_text(
        "cohort: e\ndisclosure:\n  min_count: 30\n  epsilon_per_release_max: 0.5\n"
        "  epsilon_budget: 4\nledger: ledgers/e.json\n"
    )
    settings = disclosure.custodian_settings(entry, good)
    assert (settings.min_count, settings.epsilon_per_release_max, settings.epsilon_budget) == (
        30, 0.5, 4.0,
    )  # fmt: skip
    assert settings.min_variants == 2000 and settings.ledger == tmp_path / "ledgers" / "e.json"
    assert "custodian config" in settings.origin
    assert policy_for(entry, custodian=settings).min_count == 30
    for text, field in [
        ("disclosure:\n  epsilon_budget: 50\n", "epsilon_budget"),
        ("disclosure:\n  min_count: 10\n", "min_count"),
        ("disclosure:\n  epsilon_per_release_max: 2\n", "epsilon_per_release_max"),
        ("disclosure:\n  min_variants: 1500\n", "min_variants"),
        ("disclosure:\n  epsilon_per_release_max: 3\n  epsilon_budget: 2\n", ""),
    ]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(GenShareError, match=rf"custodian config .*bad.yaml.*{field}"):
            disclosure.custodian_settings(entry, bad)
    other = tmp_path / "other.yaml"
    other.write_text("cohort: not-e\n")
    with pytest.raises(GenShareError, match="is for cohort 'not-e'"):
        disclosure.custodian_settings(entry, other)
    typo = tmp_path / "typo.yaml"
    typo.write_text("disclosure:\n  epsilon_budjet: 1\n")
    with pytest.raises(GenShareError, match="epsilon_budjet"):
        disclosure.custodian_settings(entry, typo)
    typo.write_text("budget: 1\n")
    with pytest.raises(GenShareError, match="unknown keys"):
        disclosure.custodian_settings(entry, typo)


def test_min_variants_travels_in_the_policy():
    entry = SimpleNamespace(id="e", access="registered", min_cell_count=None,
                            disclosure=_block(min_variants=5000))  # fmt: skip
    assert policy_for(entry).min_variants == 5000
    assert policy_for(None).min_variants == 1000
    assert policy_for(entry).to_dict()["min_variants"] == 5000


def test_same_release_is_charged_once(sim_ooa):
    counts = allele_counts_by_group(sim_ooa, region="1:1-1000000")
    budget = disclosure.PrivacyBudget(100.0)
    policy = DisclosurePolicy(epsilon=30.0, seed=1)
    first = disclosure.release_counts(counts, policy, budget=budget)
    second = disclosure.release_counts(counts, policy, budget=budget)
    assert first is second and budget.spent == pytest.approx(30.0)
    disclosure.release_counts(counts, DisclosurePolicy(epsilon=30.0, seed=2), budget=budget)
    assert budget.spent == pytest.approx(60.0)


def test_cli_epsilon_spends_the_ledger(sim_ooa, tmp_path, isolated_cache):
    env = {"GENSHARE_EPSILON_BUDGET": "100000"}
    common = ["stats", "sim-ooa", "--region", "1:1-2000000", "--fst", "--freq"]
    run = run_genshare(*common, "--epsilon", "60000", "--out", str(tmp_path / "a"), env=env)
    assert run.returncode == 0, run.stderr
    prov = json.loads((tmp_path / "a" / "provenance.json").read_text())
    assert prov["disclosure_policy"]["epsilon"] == 60000
    run = run_genshare(*common, "--epsilon", "60000", "--out", str(tmp_path / "b"), env=env)
    assert run.returncode != 0 and "refused" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "b").exists() or list((tmp_path / "b").iterdir()) == []
    run = run_genshare(*common, "--epsilon", "40000", "--out", str(tmp_path / "c"), env=env)
    assert run.returncode == 0, run.stderr
    ledger = json.loads(next((isolated_cache / "privacy").glob("*.json")).read_text())
    assert [r["epsilon"] for r in ledger["releases"]] == [60000, 40000]


def test_cli_epsilon_above_the_custodians_cap_is_refused(tmp_path, isolated_cache):
    out = tmp_path / "out"
    run = run_genshare(
        "stats", "sim-ooa-gru-registered", "--purpose", "GRU;publish", "--region", "1:1-100000",
        "--epsilon", "5", "--out", str(out), env={"GENSHARE_EPSILON_BUDGET": "1e9"},
    )  # fmt: skip
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "per-release cap 1 " in run.stderr and "registered tier default" in run.stderr
    assert not out.exists() and not (isolated_cache / "privacy").exists()


def test_pca_refused_under_epsilon(sim_ooa, tmp_path):
    run = run_genshare("stats", "sim-ooa", "--pca", "2", "--epsilon", "10", "--out", str(tmp_path))
    assert run.returncode == 2 and "rule 5" in run.stderr


# ---------------------------------------------------------------- widgets


def test_explorer_applies_the_policy(sim_ooa, tmp_path):
    pytest.importorskip("ipywidgets")
    from genshare_widgets.cohort import open_cohort
    from genshare_widgets.widgets import CohortExplorer
    from genshare_widgets.widgets._explorer import TABS

    samples = _split_samples(sim_ooa, tmp_path / "split.tsv")
    cohort = open_cohort("sim-ooa", samples=samples)
    budget = disclosure.PrivacyBudget(1e9)
    explorer = CohortExplorer(cohort, min_count=K, epsilon=1e7, budget=budget)
    explorer.region.value = "1:1-2000000"
    assert "counts below 20 shown as &lt;20" in explorer.disclosure.value
    kinds = [kind for _title, kind in TABS]
    explorer.tabs.selected_index = kinds.index("sfs")
    xs = [x for trace in explorer.figures["sfs"].data for x in trace.x]
    assert xs and all(_is_safe(x, K) for x in xs)
    assert "CHBtiny" not in {trace.name for trace in explorer.figures["sfs"].data}
    spent = budget.spent
    assert spent >= 1e7 and "privacy budget left" in explorer.disclosure.value
    explorer.tabs.selected_index = kinds.index("het")
    assert all(
        _is_safe(row[0], K) for trace in explorer.figures["het"].data for row in trace.customdata
    )
    # the same counts are released once: changing tab does not spend again
    assert budget.spent == spent
    options = explorer.options()
    assert options["min_count"] == K and options["epsilon"] == 1e7


def test_registered_entry_gets_the_tier_default(sim_ooa, tmp_path):
    out = tmp_path / "reg"
    run = run_genshare(
        "stats",
        "sim-ooa-gru-registered",
        "--purpose",
        "GRU;publish",
        "--region",
        "1:1-3000000",
        "--out",
        str(out),
    )
    assert run.returncode == 0, run.stderr
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["disclosure_policy"]["min_count"] == 20
    assert prov["disclosure_policy"]["tier"] == "registered"
    _check_files(out, 20)
    run = run_genshare(
        "stats",
        "sim-ooa-gru-registered",
        "--purpose",
        "GRU",
        "--min-count",
        "5",
        "--out",
        str(tmp_path / "low"),
    )
    assert run.returncode != 0 and "users may only raise it" in run.stderr


def test_a_release_leaves_its_counts_unchanged(sim_ooa):
    counts = allele_counts_by_group(sim_ooa, region="1:1-1000000")
    before = {k: counts[k].values.copy() for k in counts.data_vars}
    attrs = dict(counts.attrs)
    for policy in (
        DisclosurePolicy(),
        DisclosurePolicy(min_count=K),
        DisclosurePolicy(epsilon=1e5, seed=1, min_count=K),
    ):
        released = disclosure.release_counts(counts, policy, budget=disclosure.PrivacyBudget(1e9))
        disclosure.usable_counts(released)
    assert set(counts.data_vars) == set(before) and counts.attrs == attrs
    for name, values in before.items():
        np.testing.assert_array_equal(counts[name].values, values)


# ---------------------------------------------------------------- services: custodian, ledger


def _serve(*args: str, env=None):
    import os
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "genshare_widgets", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(proc) -> str:
    import subprocess

    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=5)
    return out or ""


def _wait_up(url: str, proc, seconds: float = 120) -> None:
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"service exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not come up in {seconds} s")


def test_site_serve_ledger_persists_across_restarts(sim_ooa, tmp_path, isolated_cache):
    """`site serve` spends its budget from the custodian's ledger: a restart neither resets
    it nor lets the environment raise it, and the cap and contradictions stop it at start."""
    import stat as st_

    import httpx

    from genshare_widgets._serve import _free_port

    config = tmp_path / "custodian.yaml"
    config.write_text(
        "cohort: sim-ooa\ndisclosure:\n  epsilon_per_release_max: 1000\n"
        "  epsilon_budget: 2500\nledger: ledgers/sim-ooa.json\n"
    )
    ledger = tmp_path / "ledgers" / "sim-ooa.json"
    env = {"GENSHARE_EPSILON_BUDGET": "1e12"}  # the querier's environment: no effect
    common = ["site", "serve", "sim-ooa", "--custodian-config", str(config), "--host",
              "127.0.0.1"]  # fmt: skip
    for region, status in (("1:1-100000", 200), ("1:100001-200000", 200), ("1:200001-3e5", 403)):
        port = _free_port("127.0.0.1")
        proc = _serve(*common, "--port", str(port), "--epsilon", "1000", env=env)
        try:
            _wait_up(f"http://127.0.0.1:{port}/", proc)
            answer = httpx.post(
                f"http://127.0.0.1:{port}/counts",
                json={"by": "population", "region": region.replace("3e5", "300000")},
                timeout=120,
            )
            assert answer.status_code == status, answer.text
            if status == 403:
                assert "refused" in answer.text and "2500" in answer.text
        finally:
            log = _stop(proc)
        assert "privacy budget:" in log
    record = json.loads(ledger.read_text())
    assert record["total"] == 2500 and record["epsilon_per_release_max"] == 1000
    assert [r["epsilon"] for r in record["releases"]] == [1000, 1000]
    assert st_.S_IMODE(ledger.stat().st_mode) == 0o600
    assert st_.S_IMODE(ledger.parent.stat().st_mode) == 0o700
    # above the cap, or a config contradicting the entry: an error at start, naming the field
    run = run_genshare(*common, "--port", "1", "--epsilon", "5000")
    assert run.returncode != 0 and "per-release cap 1000" in run.stderr
    assert "Traceback" not in run.stderr
    config.write_text("disclosure:\n  epsilon_budget: 1e7\n")  # sim-ooa (open): 1e5
    run = run_genshare(*common, "--port", "1", "--epsilon", "10")
    assert run.returncode != 0 and "disclosure.epsilon_budget" in run.stderr
    assert "Traceback" not in run.stderr


def test_beacon_serve_charges_the_cohort_ledger_at_each_start(sim_ooa, tmp_path, isolated_cache):
    """A Beacon's release at start is charged to the cohort's ledger; a restart charges again
    and is refused once the custodian's budget is spent (the environment cannot raise it)."""
    from genshare_widgets._serve import _free_port

    config = tmp_path / "custodian.yaml"
    config.write_text("disclosure:\n  epsilon_per_release_max: 6e4\n  epsilon_budget: 1e5\n")
    env = {"GENSHARE_EPSILON_BUDGET": "1e12"}
    for attempt in range(2):
        port = _free_port("127.0.0.1")
        args = ["beacon", "serve", "sim-ooa", "--host", "127.0.0.1", "--port", str(port),
                "--epsilon", "6e4", "--custodian-config", str(config)]  # fmt: skip
        proc = _serve(*args, env=env)
        try:
            _wait_up(f"http://127.0.0.1:{port}/info", proc)
            assert attempt == 0, "the second start should have been refused (budget 1e5)"
        except AssertionError as exc:
            assert attempt == 1 and "refused" in str(exc) and "100000" in str(exc), exc
        finally:
            _stop(proc)
    ledger = json.loads((isolated_cache / "privacy" / "sim-ooa.json").read_text())
    assert [r["epsilon"] for r in ledger["releases"]] == [6e4]
    assert ledger["total"] == 1e5 and ledger["epsilon_per_release_max"] == 6e4
