"""Association figures: the Manhattan plot and the QQ plot of a per-variant test table.

Both take the association table (``contig, position, ref, alt, n, beta, se, stat, p, note``;
what :func:`genshare_widgets.association.association` returns and ``assoc.tsv`` holds) and
draw its numbers as they are: nothing is recomputed but −log10 P, the expected quantiles of
the QQ plot and the genomic-control λ (from the table's own P values). Variants without a P
value (NaN: a test that was undefined, see ``note``) are drawn nowhere and counted in the
caption.

Thinning (deterministic, so the same table gives the same figure): every variant with
``P < keep_below`` (default 1e-3) is drawn as its own point with hover (variant id
``contig:pos:ref:alt``, β, SE, P, n). The others (−log10 P ≤ 3 by default; at a million
variants nearly all of them) are counted on a fixed grid and drawn as one mark per occupied
cell:

- Manhattan: each contig is cut from position 0 into bins of ``genome span / x_bins`` bp
  (the genome span is the sum of the contigs' largest positions), −log10 P into ``y_bins``
  bins over ``[0, −log10 keep_below]``; a mark sits at its cell's centre (clipped to the
  contig) in its contig's colour and its hover gives the number of variants in the cell. At
  the default 1,200 × 60 grid a mark is within half a cell (≈ 1/2,400 of the x axis, 0.025 on
  the y axis) of each variant it stands for: below one pixel across at the export width.
- QQ: the P values are sorted; points are binned on a square grid of ``qq_step`` (0.01) in
  (expected, observed) −log10 P and the first point of each cell in sorted order (the one
  with the smallest P) is drawn at its own coordinates. The QQ curve is monotone, so this
  keeps its shape exactly at screen resolution with a few hundred points.

The figure JSON is then proportional to the number of notable variants plus the grid, not to
the number of variants.
"""

import math
from collections.abc import Mapping
from html import escape
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError
from genshare_widgets.plots._colors import ALT_COLOR, LIGHT, NEUTRAL
from genshare_widgets.plots._provenance import stamp
from genshare_widgets.plots._style import apply_style

#: Genome-wide significance and the conventional "suggestive" line.
GENOME_WIDE = 5e-8
SUGGESTIVE = 1e-5
#: Every variant with a P value below this is drawn as its own point.
KEEP_BELOW = 1e-3
#: Colours of alternate contigs (Okabe-Ito blue and a neutral grey).
CONTIG_COLORS = (ALT_COLOR, NEUTRAL)
#: The smallest normal double: a P value of exactly 0 (underflow) is drawn at its −log10.
P_FLOOR = float(np.finfo(np.float64).tiny)
_COLUMNS = ("contig", "position", "ref", "alt", "n", "beta", "se", "p")
_SEX_AND_MITO = ("X", "Y", "XY", "M", "MT")


def contig_order(contigs) -> list[str]:
    """Contig names in genome order: numbered ones by number (``chr`` prefix ignored), then
    X, Y, XY, M/MT, then any others by name.

    Examples
    --------
    >>> contig_order(["10", "X", "2", "1"])
    ['1', '2', '10', 'X']
    """

    def key(name: str) -> tuple[int, int, str]:
        bare = name[3:] if name.lower().startswith("chr") else name
        if bare.isdigit():
            return (0, int(bare), name)
        if bare.upper() in _SEX_AND_MITO:
            return (1, _SEX_AND_MITO.index(bare.upper()), name)
        return (2, 0, name)

    return sorted({str(c) for c in contigs}, key=key)


def _checked(table):
    """The table's columns as arrays, and the mask of tested variants (finite P)."""
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise GenShareError(
            f"the association table has no column(s) {missing}; it needs {list(_COLUMNS)} "
            "(what genshare assoc writes to assoc.tsv)"
        )
    p = table["p"].to_numpy(dtype=np.float64)
    tested = np.isfinite(p)
    if not tested.any():
        raise GenShareError(
            f"no variant of the association table has a P value ({len(p):,} rows, all NA; "
            "see its note column)"
        )
    return p, tested


def _minus_log10(p: np.ndarray) -> np.ndarray:
    """−log10 P, with P = 0 (below the double range) drawn at −log10 of the smallest double."""
    return -np.log10(np.maximum(p, P_FLOOR)) + 0.0  # + 0.0: no -0.0 for P = 1


def _hover_rows(table, rows: np.ndarray) -> np.ndarray:
    """customdata of notable variants: [id, β, SE, P, n], numbers as in the table."""
    part = table.iloc[rows]
    ids = (
        part["contig"].astype(str)
        + ":"
        + part["position"].astype(np.int64).astype(str)
        + ":"
        + part["ref"].astype(str)
        + ":"
        + part["alt"].astype(str)
    )
    custom = np.empty((len(rows), 5), dtype=object)
    custom[:, 0] = ids.to_numpy()
    custom[:, 1] = part["beta"].to_numpy(dtype=np.float64)
    custom[:, 2] = part["se"].to_numpy(dtype=np.float64)
    custom[:, 3] = part["p"].to_numpy(dtype=np.float64)
    custom[:, 4] = [None if not math.isfinite(v) else int(v) for v in part["n"].astype(float)]
    return custom


def _hover_template(effect: str) -> str:
    return (
        "<b>%{customdata[0]}</b><br>"
        f"{effect} %{{customdata[1]:.4g}}<br>SE %{{customdata[2]:.4g}}<br>"
        "P %{customdata[3]:.3g}<br>n %{customdata[4]:,}<extra></extra>"
    )


def untested_caption(table, tested: np.ndarray) -> str:
    """``47 without a P value, not drawn (44 withheld; 3 monomorphic)``: the rows with no P
    and the reasons their ``note`` gives (its head, the three most common), or ``""``."""
    n = int((~tested).sum())
    if not n:
        return ""
    text = f"{n:,} without a P value, not drawn"
    if "note" in table.columns:
        notes = table["note"].to_numpy(dtype=object)[~tested]
        reasons: dict[str, int] = {}
        for note in notes:
            # the reason's head ("withheld: a count ..." → "withheld"); the table has it all
            head = str(note).split(":")[0].split("(")[0].strip() if isinstance(note, str) else ""
            label = head if len(head) <= 40 else head[:39] + "…"
            label = label or "no note"
            reasons[label] = reasons.get(label, 0) + 1
        common = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
        parts = [f"{k:,} {escape(label)}" for label, k in common[:3]]
        if len(common) > 3:
            parts.append(f"{sum(k for _label, k in common[3:]):,} other")
        text += f" ({'; '.join(parts)})"
    return text


def manhattan_plot(
    table,
    *,
    trait: str | None = None,
    model: str | None = None,
    keep_below: float = KEEP_BELOW,
    x_bins: int = 1200,
    y_bins: int = 60,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """−log10 P along the genome, contigs in genome order with alternating colours.

    Parameters
    ----------
    table
        The association table (``contig, position, ref, alt, n, beta, se, p``; ``stat`` and
        ``note`` may be there). Rows with NaN P are counted in the caption, not drawn.
    trait, model
        The phenotype and the model (``"linear"``/``"logistic"``) for the title; under the
        logistic model β is labelled log OR in hover.
    keep_below
        Variants with P below this are drawn one by one (with hover); the rest are thinned
        to a grid of ``x_bins`` × ``y_bins`` cells (see the module docstring).
    provenance, title
        As for every builder.

    Returns
    -------
    plotly.graph_objects.Figure
        Trace 0 (``Scattergl``): the grid marks (customdata: variants per cell); trace 1
        (``Scattergl``): every variant with P < ``keep_below`` (customdata: id, β, SE, P, n).
        Dashed lines at the genome-wide (5e-8) and suggestive (1e-5) thresholds.
        ``layout.meta["details"]`` holds the counts and the grid.

    Examples
    --------
    >>> fig = manhattan_plot(result.table, trait="height_like")  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    p, tested = _checked(table)
    contig = table["contig"].astype(str).to_numpy()
    position = table["position"].to_numpy(dtype=np.int64)
    order = contig_order(contig[tested])
    index_of = {name: i for i, name in enumerate(order)}
    # contigs laid end to end from position 0, each as long as its largest tested position
    spans = np.zeros(len(order), dtype=np.int64)
    cidx = np.full(len(p), -1, dtype=np.int64)
    cidx[tested] = [index_of[c] for c in contig[tested]]
    np.maximum.at(spans, cidx[tested], position[tested])
    spans = np.maximum(spans, 1)
    offsets = np.concatenate([[0], np.cumsum(spans)[:-1]])
    total = int(spans.sum())
    y = np.full(len(p), np.nan)
    y[tested] = _minus_log10(p[tested])
    notable = np.flatnonzero(tested & (p < keep_below))
    rest = np.flatnonzero(tested & ~(p < keep_below))
    # notable variants in genome order (contig, position; table order among equals)
    notable = notable[np.lexsort((position[notable], cidx[notable]))]
    # the grid: bins of `width` bp from each contig's position 0; y bins over [0, top]
    width = total / x_bins
    top = -math.log10(keep_below)
    xk = np.floor(position[rest] / width).astype(np.int64)
    yk = np.minimum(np.floor(y[rest] / (top / y_bins)).astype(np.int64), y_bins - 1)
    n_x = int(xk.max()) + 1 if len(rest) else 1
    cells, counts = np.unique((cidx[rest] * n_x + xk) * y_bins + yk, return_counts=True)
    cell_contig = cells // (n_x * y_bins)
    cell_x = (cells // y_bins) % n_x
    cell_y = cells % y_bins
    centre_x = offsets[cell_contig] + np.minimum((cell_x + 0.5) * width, spans[cell_contig])
    centre_y = (cell_y + 0.5) * (top / y_bins)
    # colour by contig parity through a two-colour scale: one digit a point in the JSON
    parity = {"cmin": 0, "cmax": 1, "colorscale": [[0, CONTIG_COLORS[0]], [1, CONTIG_COLORS[1]]]}
    effect = "log OR" if model == "logistic" else "β"
    fig = go.Figure()
    fig.add_trace(
        go.Scattergl(
            x=np.round(centre_x).astype(np.int64),
            y=np.round(centre_y, 6),
            mode="markers",
            name=f"P ≥ {keep_below:g}: one mark per grid cell",
            marker={"color": cell_contig % 2, "size": 4, **parity},
            customdata=counts,
            hovertemplate=f"%{{customdata:,}} variant(s) with P ≥ {keep_below:g}<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scattergl(
            x=offsets[cidx[notable]] + position[notable],
            y=y[notable],
            mode="markers",
            name=f"P < {keep_below:g}: every variant",
            marker={"color": cidx[notable] % 2, "size": 6, **parity},
            customdata=_hover_rows(table, notable),
            hovertemplate=_hover_template(effect),
            showlegend=False,
        )
    )
    for level, label in ((GENOME_WIDE, "genome-wide 5e-8"), (SUGGESTIVE, "suggestive 1e-5")):
        fig.add_hline(
            y=-math.log10(level),
            line={"color": "#D55E00" if level == GENOME_WIDE else LIGHT, "dash": "dash"},
            annotation_text=label,
            annotation_position="top right",
            annotation_font={"size": 10, "color": "#777777"},
        )
    n_tested = int(tested.sum())
    n_untested = len(p) - n_tested
    what = f" of {trait}" if trait else ""
    how = f" ({model})" if model else ""
    caption = (
        f"P < {keep_below:g}: {len(notable):,} variants drawn one by one; the other "
        f"{len(rest):,} as {len(cells):,} grid marks"
    )
    if n_untested:
        caption += "<br>" + untested_caption(table, tested)
    apply_style(
        fig,
        title=title
        or f"Manhattan plot{what}{how}: {n_tested:,} variants tested<br><sup>{caption}</sup>",
    )
    if n_untested:  # a three-line title
        fig.update_layout(margin={"t": 90})
    if len(order) > 1:
        mids = offsets + spans / 2
        fig.update_xaxes(tickvals=mids.tolist(), ticktext=order, title_text="chromosome")
    else:
        fig.update_xaxes(title_text=f"position on {order[0]} (bp)")
    fig.update_xaxes(range=[0, total], showgrid=False, zeroline=False)
    y_top = max(float(np.max(y[tested])), -math.log10(GENOME_WIDE)) * 1.05
    fig.update_yaxes(title_text="−log<sub>10</sub> P", range=[0, y_top], zeroline=False)
    details = {
        "n_variants": len(p),
        "n_tested": n_tested,
        "n_untested": n_untested,
        "n_notable": len(notable),
        "n_thinned": len(rest),
        "n_grid_marks": len(cells),
        "keep_below": keep_below,
        "grid": {"x_bins": x_bins, "y_bins": y_bins, "bin_bp": width},
        "contigs": order,
    }
    return stamp(fig, builder="manhattan_plot", provenance=provenance, details=details)


def qq_band(n: int, ranks: np.ndarray, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The ``level`` band of the ``ranks``-th smallest of ``n`` null P values, in −log10
    (lower, upper): the k-th smallest of n uniforms is Beta(k, n − k + 1)."""
    from scipy import stats as sps

    k = np.asarray(ranks, dtype=np.float64)
    tail = (1 - level) / 2
    upper = -np.log10(sps.beta.ppf(tail, k, n - k + 1))
    lower = -np.log10(sps.beta.ppf(1 - tail, k, n - k + 1))
    return lower, upper


def qq_plot(
    table,
    *,
    trait: str | None = None,
    model: str | None = None,
    keep_below: float = KEEP_BELOW,
    qq_step: float = 0.01,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Observed against expected −log10 P, with the 95 % band of the null and λ in the title.

    Parameters
    ----------
    table
        The association table (as :func:`manhattan_plot`); NaN P is counted, not drawn.
    trait, model, keep_below, provenance, title
        As :func:`manhattan_plot`.
    qq_step
        Grid step (in −log10 P) of the thinning of the points with P ≥ ``keep_below``.

    Returns
    -------
    plotly.graph_objects.Figure
        The expected −log10 P of the k-th smallest of n P values is −log10((k − 0.5) / n);
        the band is the 2.5 % and 97.5 % quantiles of Beta(k, n − k + 1) (traces 0 and 1),
        trace 2 the diagonal, trace 3 (``Scattergl``) the thinned points with P ≥
        ``keep_below``, trace 4 (``Scattergl``) every variant with P < ``keep_below`` (hover:
        id, β, SE, P, n). The title gives the genomic-control λ
        (:func:`genshare_widgets.stats.genomic_control_lambda` of the table's P values, also
        in ``layout.meta["details"]["lambda_gc"]``).

    Examples
    --------
    >>> fig = qq_plot(result.table, trait="height_like")  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    from genshare_widgets.stats._association import genomic_control_lambda

    p, tested = _checked(table)
    rows = np.flatnonzero(tested)
    rows = rows[np.argsort(p[rows], kind="stable")]  # ascending P, table order among ties
    n = len(rows)
    lam = genomic_control_lambda(p)
    observed = _minus_log10(p[rows])
    expected = -np.log10((np.arange(1, n + 1) - 0.5) / n)
    notable = p[rows] < keep_below
    first = int(notable.sum())  # sorted: the notable ones come first
    cells = np.floor(expected[first:] / qq_step).astype(np.int64) * 100_000 + np.floor(
        observed[first:] / qq_step
    ).astype(np.int64)
    _, kept = np.unique(cells, return_index=True)
    thinned = first + np.sort(kept)
    shown = np.concatenate([np.arange(first), thinned])
    lower, upper = qq_band(n, shown + 1)
    effect = "log OR" if model == "logistic" else "β"
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=expected[shown],
            y=lower,
            mode="lines",
            line={"width": 0, "color": LIGHT},
            name="95 % band (lower)",
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=expected[shown],
            y=upper,
            mode="lines",
            line={"width": 0, "color": LIGHT},
            fill="tonexty",
            fillcolor="rgba(187,187,187,0.35)",
            name="95 % band under the null",
            hoverinfo="skip",
        )
    )
    end = float(expected[0]) if n else 1.0
    fig.add_trace(
        go.Scatter(
            x=[0.0, end],
            y=[0.0, end],
            mode="lines",
            line={"color": "#D55E00", "width": 1, "dash": "dash"},
            name="expected (null)",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scattergl(
            x=expected[thinned],
            y=observed[thinned],
            mode="markers",
            marker={"color": NEUTRAL, "size": 4},
            name=f"P ≥ {keep_below:g} (one point per {qq_step:g} grid cell)",
            hovertemplate="expected %{x:.3f}<br>observed %{y:.3f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scattergl(
            x=expected[:first],
            y=observed[:first],
            mode="markers",
            marker={"color": ALT_COLOR, "size": 6},
            name=f"P < {keep_below:g} (every variant)",
            customdata=_hover_rows(table, rows[:first]),
            hovertemplate=_hover_template(effect),
        )
    )
    n_untested = len(p) - n
    what = f" of {trait}" if trait else ""
    how = f" ({model})" if model else ""
    caption = (
        f"{n:,} P values: {first:,} with P < {keep_below:g} drawn one by one, the other "
        f"{n - first:,} as {len(thinned):,} points"
    )
    if n_untested:
        caption += "<br>" + untested_caption(table, tested)
    apply_style(
        fig,
        title=title or f"QQ plot{what}{how}, genomic-control λ = {lam:.3f}<br><sup>{caption}</sup>",
    )
    fig.update_layout(legend={"x": 0.02, "y": 0.98, "bgcolor": "rgba(255,255,255,0.7)"})
    if n_untested:  # a three-line title
        fig.update_layout(margin={"t": 90})
    fig.update_xaxes(title_text="expected −log<sub>10</sub> P", rangemode="tozero")
    fig.update_yaxes(title_text="observed −log<sub>10</sub> P", rangemode="tozero")
    details = {
        "lambda_gc": lam,
        "n_variants": len(p),
        "n_tested": n,
        "n_untested": n_untested,
        "n_notable": first,
        "n_thinned": n - first,
        "n_points": len(thinned),
        "keep_below": keep_below,
        "qq_step": qq_step,
    }
    return stamp(fig, builder="qq_plot", provenance=provenance, details=details)
