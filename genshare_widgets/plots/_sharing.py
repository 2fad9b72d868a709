"""Shared versus private variants as an UpSet plot (Lex et al. 2014)."""

from collections.abc import Mapping
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.plots._colors import NEUTRAL, group_colors
from genshare_widgets.plots._provenance import stamp
from genshare_widgets.plots._style import apply_style, subplots

_PRESENT = "#333333"
_ABSENT = "#DDDDDD"


def shared_private_plot(
    shared,
    *,
    max_combinations: int = 25,
    colors: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """UpSet plot of variants per exact combination of groups where the ALT allele is present.

    Top: bars of the variants of each exact combination, largest first. Below, sharing the x
    axis: a dot matrix, one row per group, filled dots (joined by a line) for the groups of
    the combination. Left of the matrix: bars of all variants present in each group (its
    "set size").

    Parameters
    ----------
    shared
        The table of :func:`~genshare_widgets.stats.shared_private` / ``shared.tsv``
        (``groups`` joined by ``+``, ``n_variants``).
    max_combinations
        Show the largest this many combinations (the title says how many more there are).
    colors, provenance, title
        As for every builder (set-size bars take the groups' colours).

    Examples
    --------
    >>> shared_private_plot(stats.shared_private(counts))  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    if not {"groups", "n_variants"} <= set(shared.columns):
        raise GenShareError(
            f"the shared table needs columns groups, n_variants; it has {list(shared.columns)}"
        )
    table = shared.assign(groups=shared["groups"].astype(str))
    table = table.sort_values(["n_variants", "groups"], ascending=[False, True])
    members = [set(g.split("+")) for g in table["groups"]]
    groups = sorted(set().union(*members)) if members else []
    set_size = {g: int(table["n_variants"][[g in m for m in members]].sum()) for g in groups}
    shown = table.head(max_combinations)
    hidden = len(table) - len(shown)
    palette = dict(colors or group_colors(groups))
    x = [f"c{i + 1}" for i in range(len(shown))]  # category positions, labels hidden
    fig = subplots(
        rows=2,
        cols=2,
        shared_xaxes="columns",
        shared_yaxes="rows",
        column_widths=[0.2, 0.8],
        row_heights=[0.62, 0.38],
        horizontal_spacing=0.07,
        vertical_spacing=0.02,
        specs=[[None, {"type": "xy"}], [{"type": "xy"}, {"type": "xy"}]],
    )
    labels = [g.replace("+", " + ") for g in shown["groups"]]
    fig.add_trace(
        go.Bar(
            x=x,
            y=shown["n_variants"].to_numpy(),
            marker_color=NEUTRAL,
            text=[f"{v:,}" for v in shown["n_variants"]],
            textposition="outside",
            textfont={"size": 10},
            cliponaxis=False,
            customdata=labels,
            hovertemplate="<b>%{customdata}</b><br>%{y:,} variants<extra></extra>",
            showlegend=False,
        ),
        row=1,
        col=2,
    )
    # The dot matrix is one or two traces per combination: added in one call, because each
    # add_trace(row=, col=) re-validates the figure (about 40% of this builder's time).
    matrix = []
    for xi, combo in zip(x, shown["groups"], strict=True):
        inside = combo.split("+")
        if len(inside) > 1:
            rows = [g for g in groups if g in inside]
            matrix.append(
                go.Scatter(
                    x=[xi, xi],
                    y=[rows[0], rows[-1]],
                    mode="lines",
                    line={"color": _PRESENT, "width": 2.5},
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
        matrix.append(
            go.Scatter(
                x=[xi] * len(groups),
                y=groups,
                mode="markers",
                marker={
                    "size": 11,
                    "color": [_PRESENT if g in inside else _ABSENT for g in groups],
                },
                hoverinfo="skip",
                showlegend=False,
            )
        )
    if matrix:
        fig.add_traces(matrix, rows=[2] * len(matrix), cols=[2] * len(matrix))
    fig.add_trace(
        go.Bar(
            x=[set_size[g] for g in groups],
            y=groups,
            orientation="h",
            marker_color=[palette.get(g, "#999999") for g in groups],
            hovertemplate="<b>%{y}</b><br>ALT present at %{x:,} variants<extra></extra>",
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    more = f"; {hidden} smaller combinations not shown" if hidden else ""
    apply_style(
        fig,
        title=title or f"Shared and private variants ({len(groups)} groups{more})",
    )
    fig.update_xaxes(showticklabels=False, showgrid=False, row=1, col=2)
    fig.update_xaxes(showticklabels=False, showgrid=False, row=2, col=2, title_text="")
    fig.update_yaxes(title_text="variants", row=1, col=2)
    fig.update_xaxes(
        autorange="reversed",
        title_text="variants per group",
        row=2,
        col=1,
        tickformat="~s",
        nticks=3,
    )
    ticks = [f'<span style="color:{palette.get(g, "#222")}">{g}</span>' for g in groups]
    fig.update_yaxes(
        side="right",
        showticklabels=True,
        tickvals=groups,
        ticktext=ticks,
        row=2,
        col=1,
        autorange="reversed",
        showgrid=False,
        tickfont={"size": 12},
    )
    fig.update_yaxes(showticklabels=False, row=2, col=2, showgrid=False, autorange="reversed")
    fig.update_layout(height=max(460, 320 + 26 * len(groups)))
    return stamp(fig, builder="shared_private_plot", provenance=provenance)
