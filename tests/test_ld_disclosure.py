"""LD through the release door: the attacker's view of r² heatmaps, decay and prune.in.

An r² between two rare variants names carriers: r² = 1 between two singletons says one
person carries both. Under a policy (k = 20 on registered/controlled tiers) every LD output
takes only variants with minor allele count ≥ k among the analysed samples, withholds pairs
whose minor alleles share 1..k−1 copies, and refuses sample sets of fewer than k.
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from genshare_widgets import open_cohort
from genshare_widgets.cli._main import main
from genshare_widgets.disclosure import AnalysisRefused, DisclosurePolicy
from genshare_widgets.disclosure._publishing import ReleaseRefused
from genshare_widgets.ld import ld_decay, ld_matrix, ld_prune
from genshare_widgets.stats._ld import co_copy_sums, minor_co_copies, pair_moments_naive

pytestmark = pytest.mark.timeout(120)
REGION = "1:1000000-1030000"
K20 = DisclosurePolicy(min_count=20, tier="registered", origin="test")


@pytest.fixture(scope="module")
def registered():
    return open_cohort("sim-ooa-gru-registered", purpose="GRU")


def _dosage(cohort, positions) -> np.ndarray:
    """Ground truth the attacker does not have: ALT dosages of the variants at ``positions``."""
    ds = cohort.genotypes
    pos = ds["variant_position"].values
    alleles = np.asarray(ds["variant_allele"].values, dtype=object)
    biallelic = ((alleles != "") & (alleles != None)).sum(axis=1) == 2  # noqa: E711
    rows = np.flatnonzero(np.isin(pos, positions) & biallelic)
    assert len(rows) == len(positions)
    gt = ds["call_genotype"].values[rows]
    return (gt == 1).sum(axis=2).astype(float)


def _singleton_pairs_with_r2_one(variants, r2, cohort) -> list[tuple[int, int, str]]:
    """The attack: pairs shown with r² = 1 whose two variants each have one ALT copy in the
    cohort — then one person carries both; name that person (ground truth check)."""
    x = _dosage(cohort, variants["position"].to_numpy())
    found = []
    i, j = np.nonzero(np.triu(np.nan_to_num(r2, nan=0.0) >= 0.999, 1))
    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        if x[a].sum() == 1 and x[b].sum() == 1:
            carrier = int(np.flatnonzero(x[a])[0])
            if x[b][carrier] == 1:
                found.append((a, b, str(cohort.samples.index[carrier])))
    return found


def test_attack_works_without_the_door(registered):
    """Sanity: with no policy the heatmap of a rare-variant region names a carrier."""
    m = ld_matrix(registered, region=REGION, policy=DisclosurePolicy())
    assert _singleton_pairs_with_r2_one(m.variants, m.r2, registered)


def test_heatmap_file_under_policy_recovers_no_carrier(registered, tmp_path, monkeypatch):
    """Through the public interface: the published figure (JSON) of a registered cohort."""
    monkeypatch.setenv("GENSHARE_PURPOSE", "GRU")
    out = tmp_path / "ld.json"
    result = CliRunner().invoke(
        main,
        [
            "figure",
            "sim-ooa-gru-registered",
            "--kind",
            "ld-heatmap",
            "--region",
            "1:1-150000",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    fig = json.loads(out.read_text())
    heat = fig["data"][0]
    labels = heat["x"]
    positions = np.array([int(lab.split(":")[1].split()[0].replace(",", "")) for lab in labels])
    z = np.array([[np.nan if v is None else v for v in row] for row in heat["z"]], dtype=float)
    import pandas as pd

    shown = pd.DataFrame({"position": positions})
    assert len(shown) >= 2
    assert not _singleton_pairs_with_r2_one(shown, np.nan_to_num(z, nan=0.0), registered)
    x = _dosage(registered, positions)  # ground truth: every shown variant has MAC >= 20
    mac = np.minimum(x.sum(axis=1), 2 * x.shape[1] - x.sum(axis=1))
    assert (mac >= 20).all()
    i, j = np.nonzero(np.isfinite(z) & np.triu(np.ones(z.shape, bool), 1))
    assert len(i) > 100
    shared = minor_co_copies(pair_moments_naive(x[i], x[j]))
    assert ((shared == 0) | (shared >= 20)).all()  # no released pair shares 1..19 copies
    recipe = json.loads((tmp_path / "ld.json.provenance.json").read_text())
    assert recipe["kind"] == "ld-heatmap"
    assert fig["layout"]["meta"]["provenance"]["filters"]["min_minor_allele_count"] == 20


def test_withheld_pairs_share_few_copies(registered):
    m = ld_matrix(registered, region="1:1-150000", min_maf=0.03, policy=K20)
    x = _dosage(registered, m.variants["position"].to_numpy())
    i, j = np.triu_indices(len(x), 1)
    shared = co_copy_sums(pair_moments_naive(x[i], x[j]))  # minor×minor, minor×major, ...
    withheld = np.isnan(m.r2[i, j])
    assert (withheld == ((shared > 0) & (shared < 20)).any(axis=1)).all() and withheld.any()


def test_small_sample_sets_refused(registered):
    keep = np.zeros(registered.n_samples, bool)
    keep[:15] = True
    with pytest.raises(ReleaseRefused):
        ld_prune(registered, window=50, step=5, r2=0.2, keep=keep, policy=K20)
    with pytest.raises(ReleaseRefused):
        ld_matrix(
            registered,
            region=REGION,
            by="population",
            groups=["YRI"],
            policy=DisclosurePolicy(min_count=150),
        )
    table, withheld = ld_decay(
        registered, region="1:1-1000000", policy=DisclosurePolicy(min_count=150)
    )
    assert table.empty and set(withheld) == {"YRI", "CEU", "CHB"}


def test_decay_under_policy(registered):
    table, withheld = ld_decay(registered, region="1:1-2000000", policy=K20)
    assert not withheld and set(table["group"]) == {"YRI", "CEU", "CHB"}
    shown = table.dropna(subset=["mean_r2"])
    assert (shown["n_pairs"] >= 20).all() and len(shown) > 10
    assert shown["mean_r2"].between(0, 1).all()


def test_prune_in_under_policy_only_common_variants(registered, tmp_path, monkeypatch):
    monkeypatch.setenv("GENSHARE_PURPOSE", "GRU")
    out = tmp_path / "p"
    result = CliRunner().invoke(
        main,
        [
            "ld-prune",
            "sim-ooa-gru-registered",
            "--region",
            "1:1-1000000",
            "--window",
            "50",
            "--step",
            "5",
            "--r2",
            "0.2",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    import pandas as pd

    kept = pd.read_csv(out / "prune.in", sep="\t")
    assert list(kept.columns) == ["contig", "position", "ref", "alt"] and len(kept) > 10
    x = _dosage(registered, kept["position"].to_numpy())
    assert (np.minimum(x.sum(axis=1), 600 - x.sum(axis=1)) >= 20).all()
    record = json.loads((out / "provenance.json").read_text())
    assert record["ld_prune"]["filters"]["min_minor_allele_count"] == 20
    assert record["disclosure_policy"]["min_count"] == 20


def test_consent_gate_refuses_population_ld():
    npoa = open_cohort("sim-ooa-npoa")
    with pytest.raises(AnalysisRefused):
        ld_decay(npoa, region="1:1-500000")
    with pytest.raises(AnalysisRefused):
        ld_prune(npoa, window=50, step=5, r2=0.2, by="population", groups=["YRI"])
    ld_prune(npoa, window=50, step=5, r2=0.2, region="1:1-200000")  # no grouping: allowed
