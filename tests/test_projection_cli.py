"""`genshare reference` / `genshare project`, the projection figure and explorer tab, and a
``--samples`` table that lists only some samples restricting every command family (issue 19).
"""

import json
import types
import warnings

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.timeout(300)


def run_genshare(*args: str):
    """``genshare ARGS`` in this process (click's runner: no import cost per call); a
    partial --samples table's warning is what these tests are about, not an error."""
    from click.testing import CliRunner

    from genshare_widgets import GenShareWarning
    from genshare_widgets.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GenShareWarning)
        result = CliRunner().invoke(main, list(args))
    return types.SimpleNamespace(
        returncode=result.exit_code, stdout=result.output, stderr=result.output
    )


@pytest.fixture(scope="session")
def partial_table(sim_ooa, tmp_path_factory):
    """A --samples table listing 60 of sim-ooa's 300 samples (20 per population)."""
    table = sim_ooa.samples.reset_index()
    chosen = table.groupby("population").head(20)
    path = tmp_path_factory.mktemp("partial") / "partial.tsv"
    chosen[["sample", "population"]].to_csv(path, sep="\t", index=False)
    return path, set(chosen["sample"])


@pytest.fixture(scope="session")
def sim_reference(sim_ooa, tmp_path_factory):
    folder = tmp_path_factory.mktemp("simref")
    out = run_genshare("reference", "sim-ooa", "--pca", "3", "--out", str(folder / "ref.json"))
    assert out.returncode == 0, out.stderr
    assert "sha256" in out.stdout
    return folder / "ref.json"


def test_cli_reference_and_project_write_their_files(sim_reference, tmp_path):
    from genshare_widgets._pca_reference import PCAReference

    ref = PCAReference.load(sim_reference)
    assert ref.k == 3 and ref.genome_build == "simulated"
    assert ref.provenance["command"][0] == "genshare"  # sys.argv of the process
    out = run_genshare(
        "project", "sim-ooa", "--reference", str(sim_reference), "--assign", "--out",
        str(tmp_path / "placed"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "matched" in out.stderr
    table = pd.read_csv(tmp_path / "placed" / "projection.tsv", sep="\t")
    assert list(table.columns) == ["sample", "PC1", "PC2", "PC3", "assigned_group", "probability"]
    assert len(table) == 300
    stored = ref.sample_pcs.loc[table["sample"], ["PC1", "PC2", "PC3"]].to_numpy()
    np.testing.assert_allclose(table[["PC1", "PC2", "PC3"]].to_numpy(), stored, atol=1e-6)
    prov = json.loads((tmp_path / "placed" / "provenance.json").read_text())
    assert prov["reference"]["sha256"] == ref.sha256
    assert prov["matching"]["matched"] == len(ref.p)
    matching = pd.read_csv(tmp_path / "placed" / "matching.tsv", sep="\t", index_col=0)
    assert int(matching.loc["matched", "value"]) == len(ref.p)


def test_cli_refusals_are_clear_and_leave_nothing(sim_reference, tmp_path):
    bad = run_genshare("reference", "sim-ooa", "--pca", "3", "--min-maf", "0.01", "--out",
                       str(tmp_path / "r.json"))  # fmt: skip
    assert bad.returncode == 2 and "min_maf >= 0.05" in bad.stderr
    assert not (tmp_path / "r.json").exists()
    prune = run_genshare("reference", "sim-ooa", "--pca", "3", "--ld-prune", "50,5",
                         "--out", str(tmp_path / "r.json"))  # fmt: skip
    assert prune.returncode == 2 and "WINDOW,STEP,R2" in prune.stderr
    wrong = run_genshare("project", "sim-ooa", "--reference", str(sim_reference),
                         "--reference-sha256", "0" * 64, "--out", str(tmp_path / "p"))  # fmt: skip
    assert wrong.returncode == 2 and "not the approved" in wrong.stderr
    assert not (tmp_path / "p").exists()


def test_samples_table_restricts_the_pca_and_counts(sim_ooa, partial_table, tmp_path):
    """stats --pca and every count pass (stats, Beacon, site) see the listed samples only."""
    from genshare_widgets import allele_counts_by_group, open_cohort

    path, listed = partial_table
    with pytest.warns(Warning, match="left out of every analysis"):
        cohort = open_cohort("sim-ooa", samples=path)
    assert cohort.kept.sum() == 60
    everyone = pd.Series("all", index=cohort.samples.index)
    counts = allele_counts_by_group(cohort, by=everyone, region="1:1-2000000")
    assert int(counts["group_n_samples"].values[0]) == 60
    out = run_genshare("stats", "sim-ooa", "--samples", str(path), "--pca", "3", "--out",
                       str(tmp_path / "s"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    pcs = pd.read_csv(tmp_path / "s" / "pca.tsv", sep="\t")
    assert set(pcs["sample"]) == listed


def test_samples_table_restricts_figures_assoc_and_projection(
    sim_ooa, partial_table, sim_reference, tmp_path
):
    path, listed = partial_table
    fig = run_genshare("figure", "sim-ooa", "--samples", str(path), "--kind", "pca", "--out",
                       str(tmp_path / "pca.json"))  # fmt: skip
    assert fig.returncode == 0, fig.stderr
    data = json.loads((tmp_path / "pca.json").read_text())["data"]
    assert sum(len(trace["x"]) for trace in data) == 60
    placed = run_genshare("project", "sim-ooa", "--samples", str(path), "--reference",
                          str(sim_reference), "--out", str(tmp_path / "p"))  # fmt: skip
    assert placed.returncode == 0, placed.stderr
    assert set(pd.read_csv(tmp_path / "p" / "projection.tsv", sep="\t")["sample"]) == listed
    from genshare_widgets import open_cohort
    from genshare_widgets.association import association_inputs

    table = sim_ooa.samples.reset_index()
    pheno_path = tmp_path / "pheno.tsv"
    table["trait"] = np.arange(len(table), dtype=float)
    table[table["sample"].isin(listed)][["sample", "population", "trait"]].to_csv(
        pheno_path, sep="\t", index=False
    )
    with pytest.warns(Warning, match="left out"):
        cohort = open_cohort("sim-ooa", samples=pheno_path)
    inputs = association_inputs(cohort, "trait")
    assert len(inputs.sample_ids) == 60
    assert inputs.excluded == {"not in --samples": 240}


def test_projection_figure_and_explorer_tab(sim_ooa, sim_reference, tmp_path):
    from genshare_widgets.figures import DEFAULT_OPTIONS, build_figure
    from genshare_widgets.widgets import CohortExplorer

    fig = build_figure(sim_ooa, "projection", {**DEFAULT_OPTIONS, "reference": str(sim_reference)})
    assert fig.layout.meta["genshare_builder"] == "projection_scatter"
    names = {trace.name for trace in fig.data}
    assert {"YRI", "CEU", "CHB"} <= names
    explorer = CohortExplorer(sim_ooa, draw=False)
    tab = explorer.projection
    explorer.tabs.selected_index = len(explorer.tabs.children) - 1
    assert explorer.kind == "projection"
    tab.reference.value = str(tmp_path / "missing.json")
    tab.run.click()
    assert "no such file" in tab.note.value and tab.figure is None
    tab.reference.value = str(sim_reference)
    tab.run.click()
    assert tab.figure is not None and tab.last_report["n_samples"] == 300
    assert "300 samples" in tab.note.value
    assert explorer.options()["reference"] == str(sim_reference)


def test_cli_reference_on_ld_pruned_variants(sim_reference, tmp_path):
    """`genshare reference --ld-prune W,S,R2` fits on the variants `ld_prune` keeps after the
    MAF filter (the same pruning as `stats --pca --ld-prune`), recorded in its provenance."""
    from genshare_widgets import PCAReference, ld_prune, open_cohort

    out = tmp_path / "pruned.json"
    done = run_genshare("reference", "sim-ooa", "--pca", "3", "--ld-prune", "50,5,0.2",
                        "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    pruned, full = PCAReference.load(out), PCAReference.load(sim_reference)
    kept = ld_prune(open_cohort("sim-ooa"), window=50, step=5, r2=0.2, min_maf=0.05).kept
    assert len(pruned.p) == len(kept) < len(full.p)
    key = ["contig", "position", "ref", "alt"]
    assert pruned.variants[key].astype(str).values.tolist() == kept[key].astype(str).values.tolist()
    recorded = pruned.provenance["filters"]["ld_prune"]
    assert (recorded["window"], recorded["step"], recorded["r2"]) == (50, 5, 0.2)


def test_a_cohort_opened_with_a_samples_table_reproduces_with_it(sim_ooa, partial_table, tmp_path):
    """figure_command and an exported recipe name the --samples table the cohort was opened
    with, so the printed command and `genshare figure --from` draw the same 60 samples."""
    from genshare_widgets import open_cohort
    from genshare_widgets.figures import (
        DEFAULT_OPTIONS,
        build_figure,
        export_figure,
        figure_command,
        figure_source,
    )

    path, _listed = partial_table
    with pytest.warns(Warning, match="left out of every analysis"):
        cohort = open_cohort("sim-ooa", samples=path)
    command = figure_command(cohort, "het", out="het.html")
    assert f"--samples {path.resolve()}" in command
    fig = build_figure(cohort, "het", dict(DEFAULT_OPTIONS))
    written = export_figure(fig, cohort, source=figure_source(cohort), kind="het",
                            out=tmp_path / "het.html", options=dict(DEFAULT_OPTIONS))  # fmt: skip
    recipe = json.loads(written["provenance"].read_text())
    assert recipe["options"]["samples"] == str(path.resolve())
    again = run_genshare("figure", "--from", str(written["provenance"]),
                         "--out", str(tmp_path / "again.html"))  # fmt: skip
    assert again.returncode == 0, again.stderr
    rebuilt = json.loads((tmp_path / "again.html.provenance.json").read_text())
    assert rebuilt["figure_json_sha256"] == recipe["figure_json_sha256"]
