"""Manhattan and QQ builders: their traces hold exactly the points they should.

Each figure is checked against a naive reference written here (a loop over variants), on a
seeded synthetic association table with contigs out of order, untested variants (NaN P), a
P of exactly 0, P values on the thinning threshold and strong hits.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest

from genshare_widgets import GenShareError, plots
from genshare_widgets.stats._association import genomic_control_lambda

KEEP = 1e-3


def synthetic_table(n: int = 6000, seed: int = 3) -> pd.DataFrame:
    """An association table in a scrambled contig order, with the edge cases of P."""
    rng = np.random.default_rng(seed)
    contigs = np.array(["10", "2", "X", "1", "chrUn"])  # out of order on purpose
    contig = contigs[rng.integers(0, len(contigs), n)]
    position = rng.integers(1, 5_000_000, n)
    p = rng.random(n)
    hits = rng.choice(n, 40, replace=False)
    p[hits] = 10.0 ** -rng.uniform(3.01, 15, 40)
    p[hits[0]] = 0.0  # below the double range: must still be drawn
    p[hits[1]] = 1.0
    p[hits[2:6]] = KEEP  # on the threshold: thinned (P < 1e-3 is the rule)
    p[hits[6]] = np.nextafter(KEEP, 0)  # just below: drawn one by one
    p[rng.choice(n, 25, replace=False)] = np.nan  # untested
    se = rng.uniform(0.01, 0.2, n)
    beta = rng.normal(0, 0.1, n)
    return pd.DataFrame(
        {
            "contig": contig,
            "position": position,
            "ref": rng.choice(["A", "C"], n),
            "alt": rng.choice(["G", "T"], n),
            "n": rng.integers(200, 300, n),
            "beta": beta,
            "se": se,
            "stat": beta / se,
            "p": p,
            "note": np.where(np.isnan(p), "monomorphic", ""),
        }
    )


@pytest.fixture(scope="module")
def table():
    return synthetic_table()


def _variant_id(row) -> str:
    return f"{row.contig}:{int(row.position)}:{row.ref}:{row.alt}"


def test_contig_order_is_genome_order():
    assert plots.contig_order(["10", "chr2", "X", "1", "MT", "Y", "chrUn", "22"]) == [
        "1",
        "chr2",
        "10",
        "22",
        "X",
        "Y",
        "MT",
        "chrUn",
    ]


def test_manhattan_draws_every_notable_variant_at_its_place(table):
    fig = plots.manhattan_plot(table, trait="t")
    grid, notable = fig.data
    assert grid.type == notable.type == "scattergl"
    # the reference: contigs in genome order, end to end, each as long as its last position
    tested = table[np.isfinite(table["p"])]
    order = ["1", "2", "10", "X", "chrUn"]
    assert list(fig.layout.xaxis.ticktext) == order
    span = {c: int(tested.loc[tested["contig"] == c, "position"].max()) for c in order}
    offset = dict(zip(order, np.cumsum([0] + [span[c] for c in order[:-1]]), strict=True))
    expected = {}
    for row in tested.itertuples():
        if row.p < KEEP:
            y = -math.log10(row.p) if row.p > 0 else -math.log10(np.finfo(float).tiny)
            expected[_variant_id(row)] = (offset[row.contig] + row.position, y, row)
    ids = [c[0] for c in notable.customdata]
    assert sorted(ids) == sorted(expected)  # no hit dropped, nothing else drawn one by one
    by_p = {float(r.p): _variant_id(r) for r in tested.itertuples()}
    assert by_p[0.0] in ids and by_p[float(np.nextafter(KEEP, 0))] in ids
    on_threshold = [_variant_id(r) for r in tested.itertuples() if r.p == KEEP]
    assert len(on_threshold) == 4 and not set(on_threshold) & set(ids)
    x_seen = []
    for k, vid in enumerate(ids):
        x, y, row = expected[vid]
        assert notable.x[k] == x
        assert notable.y[k] == pytest.approx(y, rel=1e-15)
        # hover numbers are the table's, unrounded
        assert list(notable.customdata[k][1:]) == [row.beta, row.se, row.p, row.n]
        assert notable.marker.color[k] == order.index(row.contig) % 2  # alternating colours
        x_seen.append(x)
    assert x_seen == sorted(x_seen)  # drawn in genome order
    # tick marks sit at the contigs' midpoints, in order
    mids = [offset[c] + span[c] / 2 for c in order]
    assert list(fig.layout.xaxis.tickvals) == pytest.approx(mids)
    lines = sorted(shape.y0 for shape in fig.layout.shapes)
    assert lines == pytest.approx([5.0, -math.log10(5e-8)])


def test_manhattan_grid_marks_count_every_other_variant(table):
    fig = plots.manhattan_plot(table, x_bins=300, y_bins=20)
    grid = fig.data[0]
    details = fig.layout.meta["details"]
    tested = table[np.isfinite(table["p"])]
    rest = tested[~(tested["p"] < KEEP)]
    order = ["1", "2", "10", "X", "chrUn"]
    span = {c: int(tested.loc[tested["contig"] == c, "position"].max()) for c in order}
    offset = dict(zip(order, np.cumsum([0] + [span[c] for c in order[:-1]]), strict=True))
    width = sum(span.values()) / 300
    step = 3 / 20
    cells: dict[tuple, int] = {}
    for row in rest.itertuples():  # naive: one cell per variant, counted
        y = -math.log10(row.p) + 0.0
        j = min(int(y // step), 19)
        k = int(row.position // width)
        x = offset[row.contig] + min((k + 0.5) * width, span[row.contig])
        key = (round(x), round((j + 0.5) * step, 6), order.index(row.contig) % 2)
        cells[key] = cells.get(key, 0) + 1
    drawn = {}
    for x, y, c, n in zip(grid.x, grid.y, grid.marker.color, grid.customdata, strict=True):
        drawn[(x, y, c)] = drawn.get((x, y, c), 0) + int(n)
    assert drawn == cells
    assert sum(grid.customdata) == len(rest) == details["n_thinned"]
    assert max(grid.y) <= 3  # nothing thinned is drawn above the threshold
    assert details["n_untested"] == 25
    assert "25 without a P value, not drawn (25 monomorphic)" in fig.layout.title.text


def test_qq_points_band_and_lambda(table):
    fig = plots.qq_plot(table)
    lower, upper, diagonal, thinned, notable = fig.data
    p = np.sort(table["p"].dropna().to_numpy())
    n = len(p)
    lam = genomic_control_lambda(table["p"].to_numpy())
    assert fig.layout.meta["details"]["lambda_gc"] == lam
    assert f"genomic-control λ = {lam:.3f}" in fig.layout.title.text
    expected = -np.log10((np.arange(1, n + 1) - 0.5) / n)
    observed = -np.log10(np.maximum(p, np.finfo(float).tiny)) + 0.0
    k = int((p < KEEP).sum())
    np.testing.assert_array_equal(notable.x, expected[:k])
    np.testing.assert_array_equal(notable.y, observed[:k])
    assert [row[3] for row in notable.customdata] == list(p[:k])
    # thinned: real points of the curve, one per 0.01 cell, every occupied cell represented
    pairs = set(zip(expected[k:], observed[k:], strict=True))
    assert all((x, y) in pairs for x, y in zip(thinned.x, thinned.y, strict=True))
    occupied = {(math.floor(x / 0.01), math.floor(y / 0.01)) for x, y in pairs}
    drawn = zip(thinned.x, thinned.y, strict=True)
    shown = {(math.floor(x / 0.01), math.floor(y / 0.01)) for x, y in drawn}
    assert shown == occupied and len(thinned.x) == len(occupied)
    assert diagonal.x[1] == diagonal.y[1] == expected[0]
    assert all(lo <= hi for lo, hi in zip(lower.y, upper.y, strict=True))


def test_qq_band_covers_95_percent_of_null_order_statistics():
    """The band at rank k holds the k-th smallest of n uniform P values 95 % of the time."""
    from genshare_widgets.plots._association import qq_band

    rng = np.random.default_rng(11)
    n, reps = 50, 4000
    ranks = np.array([1, 5, 25, 50])
    lower, upper = qq_band(n, ranks)
    draws = -np.log10(np.sort(rng.random((reps, n)), axis=1)[:, ranks - 1])
    inside = ((draws >= lower) & (draws <= upper)).mean(axis=0)
    assert np.all(np.abs(inside - 0.95) < 0.015), inside


def test_builders_refuse_tables_they_cannot_draw(table):
    with pytest.raises(GenShareError, match=r"no column\(s\) \['se'\]"):
        plots.manhattan_plot(table.drop(columns="se"))
    with pytest.raises(GenShareError, match="no variant of the association table has a P"):
        plots.qq_plot(table.assign(p=np.nan))


def test_a_million_variants_stay_small():
    """At 200,000 variants (the grid bounds the rest) the figures' JSON stays small."""
    rng = np.random.default_rng(5)
    n = 200_000
    big = pd.DataFrame(
        {
            "contig": np.repeat([str(c) for c in range(1, 21)], n // 20),
            "position": np.tile(np.arange(1, n // 20 + 1) * 1000, 20),
            "ref": "A",
            "alt": "G",
            "n": 1000,
            "beta": 0.0,
            "se": 0.1,
            "p": rng.random(n),
        }
    )
    prov = {"cohort_id": "synthetic"}
    manhattan = plots.manhattan_plot(big, provenance=prov)
    qq = plots.qq_plot(big, provenance=prov)
    assert len(json.loads(manhattan.to_json())["data"][1]["x"]) == (big["p"] < KEEP).sum()
    assert len(manhattan.to_json()) < 1_000_000
    assert len(qq.to_json()) < 300_000
    assert plots.footer_of(manhattan).startswith("synthetic")
