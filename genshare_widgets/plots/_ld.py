"""Linkage disequilibrium figures: LD decay by distance (one line per group) and the local r²
heatmap of a region."""

from collections.abc import Mapping
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError
from genshare_widgets.plots._colors import group_colors
from genshare_widgets.plots._provenance import stamp
from genshare_widgets.plots._style import apply_style


def ld_decay_plot(
    table,
    *,
    colors: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Mean r² by distance bin, one line per group.

    Parameters
    ----------
    table
        ``group, bin_start, bin_end, mean_r2, n_pairs`` (what
        :func:`genshare_widgets.ld.ld_decay` returns); NaN bins (too few pairs, or withheld)
        leave gaps.
    colors, provenance, title
        As for every builder.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"group": ["A", "A"], "bin_start": [0, 10], "bin_end": [10, 20],
    ...                   "mean_r2": [0.5, 0.2], "n_pairs": [30, 40]})
    >>> len(ld_decay_plot(t).data)
    1
    """
    import plotly.graph_objects as go

    need = {"group", "bin_start", "bin_end", "mean_r2", "n_pairs"}
    if not need <= set(table.columns):
        raise GenShareError(f"ld_decay_plot needs columns {sorted(need)}")
    groups = sorted(str(g) for g in table["group"].unique())
    palette = dict(colors or group_colors(groups))
    fig = go.Figure()
    for group in groups:
        part = table[table["group"].astype(str) == group].sort_values("bin_start")
        middle = (part["bin_start"].to_numpy(float) + part["bin_end"].to_numpy(float)) / 2000
        fig.add_trace(
            go.Scatter(
                x=middle,
                y=part["mean_r2"].to_numpy(float),
                customdata=part["n_pairs"].to_numpy(),
                mode="lines+markers",
                name=group,
                line={"color": palette.get(group, "#444"), "width": 2},
                marker={"size": 5},
                hovertemplate=f"{group}<br>%{{x:.1f}} kb<br>mean r² %{{y:.3f}}"
                "<br>%{customdata} pairs<extra></extra>",
                connectgaps=False,
            )
        )
    apply_style(fig, title=title or f"LD decay: mean r² by distance ({len(groups)} groups)")
    fig.update_xaxes(title="distance between variants (kb, bin centre)")
    fig.update_yaxes(title="mean r² (unphased dosage)", rangemode="tozero")
    return stamp(fig, builder="ld_decay_plot", provenance=provenance)


def ld_heatmap(
    variants,
    r2: np.ndarray,
    *,
    group: str | None = None,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Local LD: r² between every pair of a region's variants, in position order.

    Parameters
    ----------
    variants
        ``contig, position, ref, alt`` per variant (the rows and columns of ``r2``).
    r2
        float (variants, variants); NaN cells (undefined, or withheld under a disclosure
        policy) stay blank.
    group
        Which samples the r² is over (shown in the title).
    provenance, title
        As for every builder.

    Examples
    --------
    >>> import pandas as pd
    >>> v = pd.DataFrame({"contig": ["1", "1"], "position": [10, 20], "ref": ["A", "C"],
    ...                   "alt": ["G", "T"]})
    >>> ld_heatmap(v, np.array([[1.0, 0.3], [0.3, 1.0]])).data[0].type
    'heatmap'
    """
    import plotly.graph_objects as go

    r2 = np.asarray(r2, dtype=float)
    n = len(variants)
    if r2.shape != (n, n):
        raise GenShareError(f"ld_heatmap: r2 is {r2.shape}, expected ({n}, {n})")
    labels = [
        f"{c}:{p:,} {a}>{b}"
        for c, p, a, b in zip(
            variants["contig"],
            variants["position"],
            variants["ref"],
            variants["alt"],
            strict=True,
        )
    ]
    shown = np.where(np.tril(np.ones((n, n), dtype=bool), -1), np.nan, r2)  # upper triangle
    fig = go.Figure(
        go.Heatmap(
            x=labels,
            y=labels,
            z=shown,
            zmin=0.0,
            zmax=1.0,
            colorscale="Reds",
            colorbar={"title": "r²"},
            hoverongaps=False,
            hovertemplate="%{y}<br>%{x}<br>r² %{z:.3f}<extra></extra>",
        )
    )
    contig = str(variants["contig"].iloc[0]) if n else ""
    span = f"{contig}:{int(variants['position'].min()):,}-{int(variants['position'].max()):,}"
    who = f", {group}" if group else ""
    apply_style(fig, title=title or f"LD (r²) of {n} variants, {span}{who}")
    fig.update_xaxes(showticklabels=n <= 60, showgrid=False, constrain="domain")
    fig.update_yaxes(
        showticklabels=n <= 60,
        autorange="reversed",
        showgrid=False,
        scaleanchor="x",
        scaleratio=1,
        constrain="domain",
    )
    return stamp(fig, builder="ld_heatmap", provenance=provenance)
