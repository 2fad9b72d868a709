"""`genshare ld-prune`, `genshare stats --ld-prune` and the LD figure kinds on sim-ooa."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from genshare_widgets.cli import main
from genshare_widgets.ld import ld_prune

pytestmark = pytest.mark.timeout(120)


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_ld_prune_writes_prune_in_and_provenance(sim_ooa, tmp_path):
    out = tmp_path / "pruned"
    result = run(
        "ld-prune",
        "sim-ooa",
        "--min-maf",
        "0.05",
        "--window",
        "50",
        "--step",
        "5",
        "--r2",
        "0.2",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "prune.in", sep="\t", dtype={"contig": str})
    assert list(table.columns) == ["contig", "position", "ref", "alt"]
    api = ld_prune(sim_ooa, window=50, step=5, r2=0.2, min_maf=0.05)
    assert table["position"].tolist() == api.kept["position"].tolist()
    record = json.loads((out / "provenance.json").read_text())
    assert record["ld_prune"]["plink2_equivalent"] == "--indep-pairwise 50 5 0.2"
    assert record["ld_prune"]["n_variants_kept"] == len(table) < api.n_analysed
    assert record["command"][0] == "genshare"
    assert sorted(p.name for p in out.iterdir()) == ["provenance.json", "prune.in"]


def test_ld_prune_groups_and_kb_window(sim_ooa, tmp_path):
    out = tmp_path / "yri"
    result = run(
        "ld-prune",
        "sim-ooa",
        "--by",
        "population",
        "--groups",
        "YRI",
        "--region",
        "1:1-1000000",
        "--window",
        "20kb",
        "--r2",
        "0.5",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    record = json.loads((out / "provenance.json").read_text())
    assert record["ld_prune"]["n_samples"] == (sim_ooa.samples["population"] == "YRI").sum()
    assert record["ld_prune"]["window_kb"] == 20


@pytest.mark.parametrize(
    "args, message",
    [
        (["--window", "50kb", "--step", "5", "--r2", "0.2"], "step must be 1"),
        (["--window", "fifty", "--r2", "0.2"], "is not a number"),
        (["--window", "50", "--r2", "1.5"], "[0, 1)"),
        (["--window", "50", "--r2", "0.2", "--groups", "YRI"], "--groups needs --by"),
    ],
)
def test_ld_prune_bad_options(tmp_path, args, message):
    result = CliRunner().invoke(main, ["ld-prune", "sim-ooa", *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "o").exists()


def test_stats_pca_after_pruning(tmp_path):
    out = tmp_path / "s"
    result = run("stats", "sim-ooa", "--pca", "3", "--ld-prune", "50,5,0.1", "--out", str(out))
    assert result.exit_code == 0, result.output
    pca_info = json.loads((out / "provenance.json").read_text())["pca"]
    assert pca_info["ld_prune"]["r2"] == 0.1
    assert pca_info["n_variants"] < pca_info["ld_prune"]["n_variants_before"]
    bad = CliRunner().invoke(
        main, ["stats", "sim-ooa", "--ld-prune", "50,5,0.1", "--out", str(tmp_path / "b")]
    )
    assert bad.exit_code == 2 and "--pca" in bad.output


@pytest.mark.parametrize(
    "kind, extra",
    [
        ("ld-decay", ["--region", "1:1-2000000", "--ld-max-kb", "50"]),
        (
            "ld-heatmap",
            ["--region", "1:1-60000", "--min-maf", "0.05", "--by", "population", "--groups", "CEU"],
        ),
        ("pca", ["--ld-prune", "50,5,0.1"]),
    ],
)
def test_ld_figures_and_from_round_trip(tmp_path, kind, extra):
    first = tmp_path / f"{kind}.json"
    result = run("figure", "sim-ooa", "--kind", kind, *extra, "--out", str(first))
    assert result.exit_code == 0, result.output
    recipe = json.loads((tmp_path / f"{kind}.json.provenance.json").read_text())
    assert recipe["command"].startswith(f"genshare figure sim-ooa --kind {kind}")
    flags = [w for w in extra if w.startswith("--") and w != "--by"]  # --by: the default
    assert all(flag in recipe["command"] for flag in flags)
    again = tmp_path / "again.json"
    result = run(
        "figure", "--from", str(tmp_path / f"{kind}.json.provenance.json"), "--out", str(again)
    )
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == first.read_bytes()
    figure = json.loads(first.read_text())
    builder = figure["layout"]["meta"]["genshare_builder"]
    assert (
        builder
        == {"ld-decay": "ld_decay_plot", "ld-heatmap": "ld_heatmap", "pca": "pca_scatter"}[kind]
    )
    if kind == "ld-decay":
        assert {t["name"] for t in figure["data"]} == {"CEU", "CHB", "YRI"}


def test_heatmap_needs_a_region(tmp_path):
    result = CliRunner().invoke(
        main, ["figure", "sim-ooa", "--kind", "ld-heatmap", "--out", str(tmp_path / "h.json")]
    )
    assert result.exit_code == 2 and "--region" in result.output
