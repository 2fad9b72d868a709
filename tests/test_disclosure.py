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
    from genshare_widgets.counts import counts_dataset
    from genshare_widgets.engines._group_counts import FIELDS

    values = {
        "allele_count": ac,
        "allele_number": an,
        "het_count": het,
        "hom_alt_count": hom,
        "called_count": called,
    }
    v, g = np.shape(ac)
    raw = np.zeros((v, g, len(FIELDS)), dtype=np.int32)
    for i, name in enumerate(FIELDS):
        raw[:, :, i] = values[name]
    return counts_dataset(
        raw,
        index=np.arange(v),
        info={},
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
    from genshare_widgets._figure_run import DEFAULT_OPTIONS, build_figure
    from genshare_widgets.cohort import open_cohort

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
    from genshare_widgets._figure_run import DEFAULT_OPTIONS, build_figure
    from genshare_widgets.cohort import open_cohort

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


def test_privatized_counts_noise_scale_and_clamping(sim_ooa):
    counts = allele_counts_by_group(sim_ooa, region="1:1-1000000")
    n = counts.sizes["variants"]
    epsilon = 50.0 * n  # noise sd ~ 0.3: keeps clamping rare on AN, shows the scale
    noisy = disclosure.privatize_counts(counts, epsilon=epsilon, rng=np.random.default_rng(3))
    sens = disclosure.release_sensitivity(n, list(disclosure.COUNT_SENSITIVITY))
    assert noisy.attrs["dp"]["l1_sensitivity"] == sens == n * 7
    diff = noisy["allele_number"].values.astype(int) - counts["allele_number"].values
    a = np.exp(-epsilon / sens)
    assert diff.var() == pytest.approx(2 * a / (1 - a) ** 2, rel=0.15)
    ac, an = noisy["allele_count"].values, noisy["allele_number"].values
    assert (ac >= 0).all() and (ac <= an).all()
    assert (
        noisy["het_count"].values + noisy["hom_alt_count"].values <= noisy["called_count"].values
    ).all()


def test_budget_refuses_once_spent_and_persists(tmp_path):
    ledger = tmp_path / "ledger.json"
    budget = disclosure.PrivacyBudget(10.0, ledger=ledger)
    assert budget.charge(6.0, "first") == pytest.approx(4.0)
    again = disclosure.PrivacyBudget(10.0, ledger=ledger)  # another process, same ledger
    assert again.spent == pytest.approx(6.0)
    with pytest.raises(disclosure.PrivacyBudgetExceeded, match="only 4 of the session's 10"):
        again.charge(5.0, "too much")
    assert again.spent == pytest.approx(6.0)  # a refused release costs nothing
    again.charge(4.0)
    assert again.remaining == pytest.approx(0.0)
    ledger.write_text("{not json")
    with pytest.raises(GenShareError, match="never reset silently"):
        _ = disclosure.PrivacyBudget(10.0, ledger=ledger).spent


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
