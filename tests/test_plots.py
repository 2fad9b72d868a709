"""Figure builders: stored expected figures on sim-ooa, colours, provenance, the variant card.

Each builder's figure is compared with ``tests/expected_figures/<name>.json`` after
normalisation (floats to 6 significant digits; the plotly template and version strings left
out; arrays longer than 200 items replaced by their length and a digest). Regenerate with
``pytest tests/test_plots.py --overwrite-figures`` (or ``GENSHARE_OVERWRITE_FIGURES=1``)
after an intended change, and look at the diff.
"""

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genshare_widgets import GenShareError, plots, stats
from genshare_widgets.counts import allele_counts_by_group, with_variant_ids
from genshare_widgets.samples import pca

EXPECTED = Path(__file__).parent / "expected_figures"


def _normalise(value):
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {
            k: _normalise(v)
            for k, v in value.items()
            if k not in ("template", "genshare_version", "plotly_version")
        }
    if isinstance(value, list):
        items = [_normalise(v) for v in value]
        if len(items) > 200:  # long arrays: compared through a digest to keep files small
            text = json.dumps(items, sort_keys=True)
            return {"n": len(items), "sha256": hashlib.sha256(text.encode()).hexdigest()}
        return items
    if isinstance(value, str) and value.startswith("sim-ooa v"):  # the footer's version
        return value.rsplit(" · genshare ", 1)[0]
    return value


def figure_record(fig) -> dict:
    return _normalise(json.loads(fig.to_json()))


@pytest.fixture(scope="module")
def counts(sim_ooa):
    return allele_counts_by_group(sim_ooa, by="population", min_maf=0.05)


@pytest.fixture(scope="module")
def small_counts(sim_ooa):
    """A region small enough for a point-per-variant scatter in a stored figure."""
    return allele_counts_by_group(sim_ooa, by="population", region="1:1-400000", min_maf=0.05)


@pytest.fixture(scope="module")
def prov(sim_ooa, counts):
    return plots.figure_provenance(sim_ooa, counts)


@pytest.fixture(scope="module")
def colors(sim_ooa):
    return plots.cohort_colors(sim_ooa)


@pytest.fixture(scope="module")
def pca_result(sim_ooa):
    return pca(sim_ooa, k=3)


@pytest.fixture(scope="module")
def figures(sim_ooa, counts, small_counts, prov, colors, pca_result):
    windows = []
    for a, b in (("CEU", "CHB"), ("CEU", "YRI"), ("CHB", "YRI")):
        w = stats.hudson_fst_windows(counts, a, b, size=500_000)
        w.insert(0, "pop2", b)
        w.insert(0, "pop1", a)
        windows.append(w)
    position = f"1:{int(counts['variant_position'].values[500])}"
    pca_prov = plots.figure_provenance(sim_ooa, by="population", filters=pca_result.filters)
    return {
        "pca_2d": plots.pca_scatter(
            pca_result, samples=sim_ooa.samples, colors=colors, provenance=pca_prov
        ),
        "pca_3d": plots.pca_scatter(
            pca_result, samples=sim_ooa.samples, dims=3, colors=colors, provenance=pca_prov
        ),
        "af_compare_scatter": plots.af_compare(
            small_counts, "CEU", "YRI", colors=colors, provenance=prov
        ),
        "af_compare_density": plots.af_compare(
            counts, "CEU", "YRI", density_threshold=1000, bins=40, colors=colors, provenance=prov
        ),
        "fst_heatmap": plots.fst_heatmap(counts, colors=colors, provenance=prov),
        "fst_windows": plots.fst_windows_plot(pd.concat(windows), provenance=prov),
        "heterozygosity": plots.heterozygosity_plot(
            stats.heterozygosity(counts), colors=colors, provenance=prov
        ),
        "sfs": plots.sfs_plot(stats.sfs(counts), colors=colors, provenance=prov),
        "joint_sfs": plots.joint_sfs_heatmap(counts, "CEU", "YRI", folded=True, provenance=prov),
        "shared": plots.shared_private_plot(
            stats.shared_private(counts), colors=colors, provenance=prov
        ),
        "representation": plots.representation_panel(
            sim_ooa.populations(), colors=colors, provenance=prov
        ),
        "variant_card": plots.variant_card(
            counts,
            position=position,
            populations=sim_ooa.entry.populations,
            colors=colors,
            provenance=prov,
        ),
    }


NAMES = [
    "pca_2d",
    "pca_3d",
    "af_compare_scatter",
    "af_compare_density",
    "fst_heatmap",
    "fst_windows",
    "heterozygosity",
    "sfs",
    "joint_sfs",
    "shared",
    "representation",
    "variant_card",
]


@pytest.mark.parametrize("name", NAMES)
def test_builder_matches_stored_figure(figures, name, overwrite_figures):
    record = figure_record(figures[name])
    path = EXPECTED / f"{name}.json"
    if overwrite_figures:
        EXPECTED.mkdir(exist_ok=True)
        path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"rewrote {path.name}")
    assert path.is_file(), f"{path} missing: run pytest tests/test_plots.py --overwrite-figures"
    expected = json.loads(path.read_text())
    _assert_same_figure(record, expected, where=name)


# Figures are compared to a stated precision, not byte for byte. PCA coordinates were once
# float32 sums whose last bit depended on the processor's BLAS kernels (one coordinate was
# -0.0497871 on one machine and -0.049787 on another at 6 significant digits); they are now
# float64 with a fixed reduction order (genshare_widgets.samples), equal across BLAS kernels
# and thread counts to about 1e-15 (tests/test_samples_pca.py), so a stored digit can flip only
# when a value lies within 1e-15 of a rounding boundary. The tolerance is one unit in the
# sixth significant digit the figures keep (relative 1e-5) and 1e-10 near zero. Every other
# number in the stored figures comes from exact counts (counts and ratios of counts).
FIGURE_RTOL, FIGURE_ATOL = 1e-5, 1e-10


def _assert_same_figure(got, expected, *, where: str) -> None:
    if isinstance(expected, float) or (isinstance(got, float) and isinstance(expected, int)):
        assert isinstance(got, (int, float)), f"{where}: {got!r} is not a number"
        assert math.isclose(got, expected, rel_tol=FIGURE_RTOL, abs_tol=FIGURE_ATOL), (
            f"{where}: {got!r} != {expected!r} (regenerate with --overwrite-figures if intended)"
        )
    elif isinstance(expected, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(expected), (
            f"{where}: keys {sorted(got) if isinstance(got, dict) else got!r} != {sorted(expected)}"
        )
        for key in expected:
            _assert_same_figure(got[key], expected[key], where=f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), f"{where}: length differs"
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            _assert_same_figure(a, b, where=f"{where}[{i}]")
    else:
        assert got == expected, f"{where}: {got!r} != {expected!r} (regenerate if intended)"


def test_figure_comparison_has_a_stated_precision():
    """The tolerance lets a last-bit difference through and nothing bigger."""
    _assert_same_figure({"x": [-0.0497871, 1]}, {"x": [-0.049787, 1]}, where="f")
    with pytest.raises(AssertionError, match=r"f\.x"):
        _assert_same_figure({"x": [-0.0498]}, {"x": [-0.049787]}, where="f")
    with pytest.raises(AssertionError):
        _assert_same_figure({"x": ["CEU"]}, {"x": ["YRI"]}, where="f")


@pytest.mark.parametrize("name", NAMES)
def test_provenance_in_meta_and_footer(figures, name):
    fig = figures[name]
    meta = fig.layout.meta
    assert meta["provenance"]["cohort_id"] == "sim-ooa"
    assert meta["provenance"]["files"][0]["sha256"]
    assert "disclosure_policy" in meta["provenance"]
    assert meta["genshare_builder"]
    footer = plots.footer_of(fig)
    assert footer.startswith("sim-ooa v1 · by population")
    assert "genshare " in footer and "no disclosure control" in footer


def test_same_inputs_same_figure(sim_ooa, counts, prov, colors):
    one = plots.fst_heatmap(counts, colors=colors, provenance=prov).to_json()
    two = plots.fst_heatmap(counts, colors=colors, provenance=prov).to_json()
    assert one == two


def _trace_colors(fig) -> dict[str, str]:
    return {t.name: t.marker.color for t in fig.data if t.name in ("CEU", "CHB", "YRI")}


def test_same_group_same_colour_everywhere(figures, colors):
    assert colors == {"CEU": "#0072B2", "CHB": "#009E73", "YRI": "#E69F00"}
    assert _trace_colors(figures["pca_2d"]) == colors
    het = figures["heterozygosity"].data[0]
    assert dict(zip(het.x, het.marker.color, strict=True)) == colors
    rep = figures["representation"].data[0]
    assert dict(zip(rep.y, rep.marker.color, strict=True)) == colors
    card = figures["variant_card"].data[0]
    assert dict(zip(card.x, card.marker.color, strict=True)) == colors
    sfs = figures["sfs"]
    assert {t.name: t.line.color for t in sfs.data} == colors


def test_superpopulation_colours_are_shared_by_their_populations():
    sup = {"YRI": "AFR", "LWK": "AFR", "CEU": "EUR", "GBR": "EUR", "TSI": "EUR", "CHB": "EAS"}
    by_pop = plots.group_colors(sup, superpopulation_of=sup)
    by_sup = plots.group_colors(["AFR", "EUR", "EAS"])
    assert by_pop["CHB"] == by_sup["EAS"]  # alone in its super-population: the same colour
    assert len(set(by_pop.values())) == len(by_pop)  # shades differ within a super-population
    # more groups than Okabe-Ito colours still get distinct colours up to 16
    many = plots.group_colors([f"G{i:02d}" for i in range(16)])
    assert len(set(many.values())) == 16


def test_fst_heatmap_cluster_order_is_average_linkage():
    m = pd.DataFrame(
        [[0, 0.01, 0.2, 0.21], [0.01, 0, 0.19, 0.2], [0.2, 0.19, 0, 0.02], [0.21, 0.2, 0.02, 0]],
        index=["D", "A", "C", "B"],
        columns=["D", "A", "C", "B"],
    )
    order = plots.cluster_order(m)
    # D-A and C-B are the tight pairs: they must be adjacent
    assert {frozenset(order[:2]), frozenset(order[2:])} == {
        frozenset({"A", "D"}),
        frozenset({"B", "C"}),
    }
    fig = plots.fst_heatmap(m)
    assert list(fig.data[0].x) == order


def test_af_compare_switches_to_density(counts):
    fig = plots.af_compare(counts, "CEU", "YRI", density_threshold=1000, bins=40)
    assert fig.data[0].type == "heatmap"
    total = int(np.asarray(fig.data[0].customdata).sum())
    af = stats.allele_frequency(counts).sel(groups=["CEU", "YRI"]).values
    assert total == int((~np.isnan(af).any(axis=1)).sum())
    scatter = plots.af_compare(counts, "CEU", "YRI")
    assert scatter.data[0].type == "scatter" and len(scatter.data[0].x) == total


def test_representation_flags_small_groups(sim_ooa):
    table = pd.DataFrame({"population": ["A", "B"], "n_samples": [12, 40]})
    fig = plots.representation_panel(table, min_samples=20)
    bar = fig.data[0]
    assert list(bar.marker.pattern.shape) == ["x", ""]
    assert "below 20" in bar.hovertext[0] and "below" not in bar.hovertext[1]
    assert "n < 20" in bar.text[0]


def test_shared_plot_bars_are_the_table(counts):
    table = stats.shared_private(counts)
    fig = plots.shared_private_plot(table)
    bars = fig.data[0]
    assert list(bars.y) == list(table["n_variants"].head(25))


def test_bad_inputs_name_the_problem(counts, pca_result):
    with pytest.raises(GenShareError, match="no group 'XXX'"):
        plots.af_compare(counts, "CEU", "XXX")
    with pytest.raises(GenShareError, match="dims must be 2 or 3"):
        plots.pca_scatter(pca_result, dims=4)
    with pytest.raises(GenShareError, match="no analysed variant"):
        plots.variant_card(counts, position="1:1")
    with pytest.raises(GenShareError, match="with_variant_ids"):
        plots.variant_card(counts, rsid="rs1")


@pytest.mark.realdata
def test_variant_card_by_position_and_rsid_on_1000_genomes(kg_subset):
    counts = with_variant_ids(allele_counts_by_group(kg_subset, by="population"), kg_subset)
    ids = counts["variant_id"].values.astype(str)
    row = int(np.flatnonzero(np.char.startswith(ids, "rs"))[0])
    rsid = ids[row]
    position = f"{counts['variant_contig'].values[row]}:{counts['variant_position'].values[row]}"
    populations = kg_subset.entry.populations
    by_id = plots.variant_card(counts, rsid=rsid, populations=populations)
    by_pos = plots.variant_card(counts, position=position, populations=populations)
    expected = counts["allele_count"].values[row] / counts["allele_number"].values[row]
    for fig in (by_id, by_pos):
        bars = fig.data[0]
        assert list(bars.x) == [str(g) for g in counts["groups"].values]
        np.testing.assert_allclose(bars.y, expected, rtol=1e-12)
        assert fig.layout.meta["details"]["variant"]["id"] == rsid
        geo = [t for t in fig.data if t.type == "scattergeo"]
        assert geo, "the card has a map"
        hover = next(t for t in geo if t.hovertext)
        assert len(hover.hovertext) == 12  # every population of the subset has coordinates
    assert rsid in by_id.layout.title.text
    # pies: the ALT slices' polygons exist for the populations with ALT > 0
    alt = next(t for t in by_id.data if t.name and t.name.startswith("ALT"))
    n_alt_pies = sum(1 for v in alt.lat if v is None)
    assert n_alt_pies == int(((expected > 0) & (expected < 1.0 + 1e-12)).sum())


def test_house_template_is_byte_identical_and_not_shared():
    """apply_style sets the template from one validated copy: the figure's JSON must be
    byte-identical to assigning it by name, and a change to one figure's template must not
    reach the next figure (each gets its own copy)."""
    import plotly.graph_objects as go

    from genshare_widgets.plots._style import FONT, TEMPLATE, apply_style

    def by_name():
        fig = go.Figure(go.Bar(x=["a"], y=[1]))
        fig.update_layout(
            template=TEMPLATE,
            font=FONT,
            title={"text": "t", "x": 0.01, "xanchor": "left", "font": {"size": 16}},
            legend_title_text="g",
            margin={"l": 70, "r": 30, "t": 60},
        )
        return fig

    def styled():
        return apply_style(go.Figure(go.Bar(x=["a"], y=[1])), title="t", legend_title="g")

    first = styled()
    assert first.to_json() == by_name().to_json()
    first.layout.template.layout.font.size = 99  # one figure's own business
    first.update_layout(template_layout_paper_bgcolor="red")
    assert styled().to_json() == by_name().to_json()


def test_cached_subplot_grid_is_byte_identical_and_not_shared():
    """plots' subplots() copies a cached empty grid: after the same traces and axis updates
    its figure must be byte-identical to make_subplots', and one figure's changes must not
    reach the next."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from genshare_widgets.plots._style import subplots

    grid = {
        "rows": 2,
        "cols": 2,
        "shared_xaxes": "columns",
        "specs": [[None, {"type": "xy"}], [{"type": "xy"}, {"type": "xy"}]],
    }

    def fill(fig):
        fig.add_trace(go.Bar(x=["a", "b"], y=[1, 2]), row=1, col=2)
        fig.add_trace(go.Scatter(x=[1], y=["g"]), row=2, col=1)
        fig.update_xaxes(title_text="n", row=2, col=1)
        fig.update_yaxes(type="log", row=1, col=2)
        return fig

    first = fill(subplots(**grid))
    assert first.to_json() == fill(make_subplots(**grid)).to_json()
    first.update_layout(xaxis_title_text="changed", height=999)
    assert fill(subplots(**grid)).to_json() == fill(make_subplots(**grid)).to_json()


def test_af_density_histogram_equals_numpy():
    """af_compare's density bins (vector passes instead of numpy's binary search) must give
    exactly np.histogram2d's counts, including values on bin edges, 0 and 1."""
    from genshare_widgets.plots._frequency import _histogram2d_unit

    rng = np.random.default_rng(7)
    for bins in (100, 7, 1):
        edges = np.linspace(0.0, 1.0, bins + 1)
        an = rng.integers(1, 500, 20_000)
        x = rng.integers(0, an + 1) / an  # frequencies as the counts give them
        y = rng.random(20_000)
        y[:500] = edges[rng.integers(0, bins + 1, 500)]  # exactly on edges
        x[:50] = np.nextafter(edges[rng.integers(1, bins + 1, 50)], 0)  # just below one
        x[50:60], y[60:70] = 1.0, 0.0
        expected, _, _ = np.histogram2d(x, y, bins=[edges, edges])
        np.testing.assert_array_equal(_histogram2d_unit(x, y, edges), expected)


def test_a_long_footer_wraps_instead_of_running_off_the_figure():
    """A footer longer than FOOTER_LINE_CHARS (a policy, citations) goes on over several
    lines, each within the limit, with every piece kept whole and in order."""
    from genshare_widgets.plots._provenance import FOOTER_LINE_CHARS, footer_text

    prov = {
        "cohort_id": "sim-ooa-registered",
        "entry_version": "1.0",
        "by": "population",
        "filters": {"region": "1:1-2000000", "min_maf": 0.05, "snps_only": True},
        "disclosure_policy": {"min_count": 20, "epsilon": 1.0},
        "citations": ["United Nations, World Population Prospects 2024 (medium variant)"],
    }
    lines = footer_text(prov).split("<br>")
    assert len(lines) >= 2 and all(len(line) <= FOOTER_LINE_CHARS for line in lines)
    pieces = " · ".join(lines).split(" · ")
    assert pieces[0] == "sim-ooa-registered v1.0" and pieces[-1].startswith("genshare ")
    assert "disclosure: counts below 20 shown as <20, differential privacy ε=1" in pieces
