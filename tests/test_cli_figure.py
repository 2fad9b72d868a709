"""`genshare figure`: every kind on sim-ooa, kaleido exports, the --from round trip, errors."""

import json

import pytest
from click.testing import CliRunner

from genshare_widgets.cli import main

KIND_ARGS = {
    "pca": ["--pca-k", "3", "--color-by", "population"],
    "fst": [],
    "fst-windows": ["--fst-window", "1000000"],
    "af-compare": ["--groups", "CEU,YRI"],
    "het": [],
    "sfs": ["--folded"],
    "joint-sfs": ["--groups", "CEU,YRI"],
    "shared": [],
    "representation": ["--min-samples", "150"],
    "variant": ["--variant", "VARIANT"],
}


@pytest.fixture(scope="module")
def kind_args(sim_ooa):
    """The arguments of each kind; the variant is one that passes MAF >= 0.05."""
    from genshare_widgets.counts import allele_counts_by_group

    counts = allele_counts_by_group(sim_ooa, min_maf=0.05)
    variant = f"1:{int(counts['variant_position'].values[10])}"
    return {k: [variant if a == "VARIANT" else a for a in v] for k, v in KIND_ARGS.items()}


def run(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def sim_figures(sim_ooa, kind_args, tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    written = {}
    for kind, extra in kind_args.items():
        for fmt in ("html", "json"):
            target = out / f"{kind}.{fmt}"
            result = run(
                "figure",
                "sim-ooa",
                "--kind",
                kind,
                "--min-maf",
                "0.05",
                *extra,
                "--out",
                str(target),
            )
            assert result.exit_code == 0, result.output
            written[kind, fmt] = target
    return written


@pytest.mark.parametrize("kind", list(KIND_ARGS))
def test_every_kind_writes_html_json_and_a_recipe(sim_figures, kind):
    html, js = sim_figures[kind, "html"], sim_figures[kind, "json"]
    figure = json.loads(js.read_text())
    assert figure["layout"]["meta"]["provenance"]["cohort_id"] == "sim-ooa"
    text = html.read_text()
    assert '<div id="genshare-figure"' in text
    assert "cdn.plot.ly" not in text.split("<script", 2)[1][:200]  # plotly.js is inline
    recipe = json.loads((js.parent / f"{js.name}.provenance.json").read_text())
    assert recipe["kind"] == kind and recipe["source"] == ["sim-ooa"]
    assert recipe["command"].startswith(f"genshare figure sim-ooa --kind {kind}")
    assert recipe["cohort"]["files"][0]["sha256"]
    assert recipe["package_versions"]["plotly"]
    assert not [p for p in js.parent.iterdir() if p.name.endswith(".part")]


def test_map_html_is_self_contained(sim_figures):
    text = sim_figures["variant", "html"].read_text()
    assert "window.PlotlyGeoAssets.topojson['world_110m']" in text


def test_representation_threshold_reaches_the_figure(sim_figures):
    figure = json.loads(sim_figures["representation", "json"].read_text())
    assert figure["data"][0]["marker"]["pattern"]["shape"] == ["x", "x", "x"]


def test_from_round_trip_is_identical(sim_figures, tmp_path):
    for fmt in ("json", "html"):
        first = sim_figures["pca", fmt]
        again = tmp_path / f"again.{fmt}"
        result = run(
            "figure",
            "--from",
            str(first.parent / f"{first.name}.provenance.json"),
            "--out",
            str(again),
        )
        assert result.exit_code == 0, result.output
        assert again.read_bytes() == first.read_bytes()
    recorded = json.loads((first.parent / "pca.json.provenance.json").read_text())
    rebuilt = json.loads((tmp_path / "again.json.provenance.json").read_text())
    assert rebuilt["figure_json_sha256"] == recorded["figure_json_sha256"]


def test_kaleido_exports_png_svg_pdf(sim_ooa, kind_args, tmp_path):
    pytest.importorskip("kaleido")
    for kind, fmt in (("fst", "png"), ("het", "svg"), ("variant", "pdf")):
        target = tmp_path / f"{kind}.{fmt}"
        result = run(
            "figure",
            "sim-ooa",
            "--kind",
            kind,
            "--min-maf",
            "0.05",
            *kind_args[kind],
            "--out",
            str(target),
        )
        assert result.exit_code == 0, result.output
        data = target.read_bytes()
        magic = {"png": b"\x89PNG", "svg": b"<svg", "pdf": b"%PDF"}[fmt]
        assert data[:4] == magic or magic in data[:200]
        assert len(data) > 5000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "violin", "--out", "x.png"], "'violin' is not one of"),
        (["--kind", "fst", "--out", "x.gif"], "unknown format '.gif'"),
        (["--kind", "af-compare", "--out", "x.json"], "--groups A,B"),
        (["--kind", "af-compare", "--groups", "CEU,XXX", "--out", "x.json"], "no group 'XXX'"),
        (["--kind", "variant", "--out", "x.json"], "--variant CHR:POS"),
        (["--kind", "variant", "--variant", "rs0", "--out", "x.json"], "no analysed variant"),
        (["--kind", "pca", "--color-by", "nope", "--out", "x.json"], "--color-by 'nope'"),
    ],
)
def test_bad_options_are_clear_errors(sim_ooa, tmp_path, args, message):
    args = [a if a != "x.json" and not a.startswith("x.") else str(tmp_path / a) for a in args]
    result = CliRunner().invoke(main, ["figure", "sim-ooa", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_from_refuses_a_foreign_file(tmp_path):
    bad = tmp_path / "x.provenance.json"
    bad.write_text("{}")
    result = CliRunner().invoke(main, ["figure", "--from", str(bad)])
    assert result.exit_code == 2
    assert "not a genshare figure recipe" in result.output


def test_a_stuck_image_export_is_stopped_by_the_timeout(sim_ooa, tmp_path, monkeypatch):
    """kaleido that never answers: the export stops after EXPORT_TIMEOUT with a message, its
    process is killed and nothing is written at --out."""
    import subprocess
    import time
    from types import SimpleNamespace

    import plotly.graph_objects as go

    from genshare_widgets import figures as _figure_run

    stuck = subprocess.Popen(["sleep", "60"])  # stands for a hung kaleido Chromium

    def hang(_fig, **_options):
        stuck.wait()  # blocks like kaleido's read of its process's answer
        raise ValueError("the kaleido process ended")

    # kaleido's scope as _figure_run sees it (its process in ``_proc``); the real one is
    # left alone (its stderr reader thread would trip over a stand-in process)
    monkeypatch.setattr(_figure_run, "_kaleido_scope", lambda: SimpleNamespace(_proc=stuck))
    monkeypatch.setattr(go.Figure, "to_image", hang)
    monkeypatch.setattr(_figure_run, "EXPORT_TIMEOUT", 1.0)
    target = tmp_path / "fst.png"
    started = time.monotonic()
    result = CliRunner().invoke(main, ["figure", "sim-ooa", "--kind", "fst", "--out", str(target)])
    try:
        assert result.exit_code == 2, result.output
        assert "kaleido did not finish the PNG export in 1 s and was stopped" in result.output
        assert "Traceback" not in result.output
        assert stuck.wait(timeout=5) is not None  # killed, not left running
        assert time.monotonic() - started < 60
        assert not list(tmp_path.iterdir())  # no figure, no recipe
    finally:
        if stuck.poll() is None:
            stuck.kill()


ASSOC_ARGS = ["--pheno", "height_like", "--covar", "sex", "--pcs", "2"]


@pytest.fixture(scope="module")
def association_figures(sim_ooa, tmp_path_factory):
    """Manhattan (JSON) and QQ (HTML) of height_like with sex and 2 PCs, and genshare assoc's
    table of the same model."""
    out = tmp_path_factory.mktemp("association")
    written = {}
    for kind, fmt in (("manhattan", "json"), ("qq", "json"), ("qq", "html")):
        target = out / f"{kind}.{fmt}"
        result = run("figure", "sim-ooa", "--kind", kind, *ASSOC_ARGS, "--out", str(target))
        assert result.exit_code == 0, result.output
        written[kind, fmt] = target
    result = run("assoc", "sim-ooa", *ASSOC_ARGS, "--out", str(out / "assoc"))
    assert result.exit_code == 0, result.output
    written["tsv"] = out / "assoc" / "assoc.tsv"
    return written


def test_association_figures_draw_the_released_table(association_figures):
    """Every P value, β, SE and n in hover is the one genshare assoc writes (shortest
    round-trip floats: equal as floats), every P < 1e-3 is drawn, λ is the table's."""
    import math

    import pandas as pd

    table = pd.read_csv(
        association_figures["tsv"],
        sep="\t",
        na_values="NA",
        dtype={"contig": str},
        float_precision="round_trip",
    )
    ids = (
        table["contig"] + ":" + table["position"].astype(str) + ":" + table["ref"] + ":"
        + table["alt"]
    )  # fmt: skip
    rows = dict(zip(ids, table.itertuples(), strict=True))
    hits = set(ids[table["p"] < 1e-3])
    assert len(hits) > 50
    for kind, trace in (("manhattan", 1), ("qq", 4)):
        fig = json.loads(association_figures[kind, "json"].read_text())
        drawn = fig["data"][trace]["customdata"]
        assert {c[0] for c in drawn} == hits
        for vid, beta, se, p, n in drawn:
            row = rows[vid]
            assert (beta, se, p, n) == (row.beta, row.se, row.p, row.n)
        meta = fig["layout"]["meta"]
        assoc = meta["provenance"]["association"]
        assert assoc["pheno"] == "height_like" and assoc["covar"] == ["sex"] and assoc["pcs"] == 2
        assert assoc["model"] == "linear"
    qq = json.loads(association_figures["qq", "json"].read_text())
    lam = qq["layout"]["meta"]["details"]["lambda_gc"]
    assert lam == qq["layout"]["meta"]["provenance"]["association"]["lambda_gc"]
    assert f"λ = {lam:.3f}" in qq["layout"]["title"]["text"]
    manhattan = json.loads(association_figures["manhattan", "json"].read_text())
    untested = int(table["p"].isna().sum())
    assert manhattan["layout"]["meta"]["details"]["n_untested"] == untested
    assert sum(manhattan["data"][0]["customdata"]) + len(hits) + untested == len(table)
    assert not math.isnan(lam)


def test_association_figure_recipe_rebuilds_exactly(association_figures, tmp_path):
    for kind, fmt in (("manhattan", "json"), ("qq", "html")):
        first = association_figures[kind, fmt]
        recipe_path = first.parent / f"{first.name}.provenance.json"
        recipe = json.loads(recipe_path.read_text())
        assert {k: recipe["options"][k] for k in ("pheno", "covar", "pcs", "binary")} == {
            "pheno": "height_like",
            "covar": "sex",
            "pcs": 2,
            "binary": None,
        }
        assert recipe["command"].startswith(
            f"genshare figure sim-ooa --kind {kind} --pheno height_like --covar sex --pcs 2"
        )
        again = tmp_path / f"again.{fmt}"
        result = run("figure", "--from", str(recipe_path), "--out", str(again))
        assert result.exit_code == 0, result.output
        assert again.read_bytes() == first.read_bytes()


def test_association_figure_command_names_the_model():
    from pathlib import Path

    from genshare_widgets.figures import DEFAULT_OPTIONS, recipe_command

    opts = {**DEFAULT_OPTIONS, "pheno": "t", "binary": False}
    assert "--pheno t --quantitative --out" in recipe_command(["c"], "qq", opts, Path("o"))
    opts["binary"] = True
    assert "--pheno t --binary --out" in recipe_command(["c"], "qq", opts, Path("o"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "manhattan"], "--kind manhattan needs --pheno COL"),
        (["--kind", "qq", "--pheno", "nope"], "phenotype 'nope' is not a column"),
        (["--kind", "qq", "--pheno", "population"], "phenotype 'population' is not numeric"),
        (["--kind", "qq", "--pheno", "height_like", "--binary"], "is not binary"),
        (["--kind", "qq", "--pheno", "height_like", "--covar", "zz"], "covariate 'zz'"),
    ],
)
def test_bad_association_figures_are_clear_errors(sim_ooa, tmp_path, args, message):
    result = CliRunner().invoke(
        main, ["figure", "sim-ooa", *args, "--out", str(tmp_path / "x.json")]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_a_figure_can_be_drawn_again_over_its_file(sim_ooa, tmp_path):
    """--out naming an existing figure replaces it (was refused: the file, not its folder,
    was checked for write and search permission)."""
    target = tmp_path / "samples.json"
    for _ in range(2):
        result = run("figure", "sim-ooa", "--kind", "representation", "--out", str(target))
        assert result.exit_code == 0, result.output
    assert json.loads(target.read_text())["layout"]["meta"]["provenance"]["cohort_id"]


def test_association_figures_are_releases_under_a_policy(sim_ooa, tmp_path):
    """Under --min-count the analysed sample set goes into the release log (rule 6), and a
    second figure whose analysed set differs from it by fewer than k samples is refused: the
    difference of the two would be a figure of those few people."""
    from genshare_widgets.disclosure._publishing import ReleaseLog

    table = sim_ooa.samples.copy()
    table["trait2"] = table["height_like"].round(3)
    table.iloc[:3, table.columns.get_loc("trait2")] = float("nan")  # 3 samples fewer
    samples = tmp_path / "samples.tsv"
    table.to_csv(samples, sep="\t", na_rep="NA", index_label="sample")
    base = ["figure", "sim-ooa", "--samples", str(samples), "--min-count", "10"]
    first = tmp_path / "qq.json"
    result = run(*base, "--kind", "qq", "--pheno", "height_like", "--out", str(first))
    assert result.exit_code == 0, result.output
    figure = json.loads(first.read_text())
    assert figure["layout"]["meta"]["provenance"]["disclosure_policy"]["min_count"] == 10
    commands = [r["command"] for r in ReleaseLog.for_cohort(sim_ooa).releases]
    assert any("--kind qq" in c and "--min-count 10 --pheno height_like" in c for c in commands)
    second = tmp_path / "manhattan.json"
    result = CliRunner().invoke(
        main, [*base, "--kind", "manhattan", "--pheno", "trait2", "--out", str(second)]
    )
    assert result.exit_code == 2 and "rule 6" in result.output, result.output
    assert not second.exists()
