"""The projection figure: a cohort's samples over a reference PCA's cloud (issue 19)."""

from collections.abc import Mapping
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.plots._colors import group_colors
from genshare_widgets.plots._provenance import stamp
from genshare_widgets.plots._style import apply_style


def projection_scatter(
    coordinates,
    reference_pcs=None,
    *,
    color_by: str = "assigned_group",
    reference_color_by: str | None = None,
    pcs: tuple[int, int] = (1, 2),
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Projected samples (coloured by ``color_by``, e.g. the assigned group) over the
    reference samples (grey, or coloured faintly by ``reference_color_by``).

    Parameters
    ----------
    coordinates
        Projected ``PC1..PCk`` per sample (``Projection.coordinates``), with ``color_by``
        when it names a column (else all one colour, "your samples").
    reference_pcs
        The reference samples' ``PC1..PCk`` and labels (``PCAReference.sample_pcs``), or
        None (a reference without stored samples: only the projected samples are drawn).
    pcs
        The two components drawn (1-based).

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> fig = projection_scatter(result.coordinates, ref.sample_pcs)  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    x, y = (f"PC{i}" for i in pcs)
    for table, what in ((coordinates, "projected samples"), (reference_pcs, "reference")):
        if table is not None and not {x, y} <= set(table.columns):
            raise GenShareError(f"the {what} have no {x}/{y}; project onto more components")
    fig = go.Figure()
    if reference_pcs is not None:
        if reference_color_by and reference_color_by in reference_pcs.columns:
            labels = reference_pcs[reference_color_by].astype(str)
            palette = group_colors(sorted(set(labels)))
            for name in sorted(set(labels)):
                part = reference_pcs[labels == name]
                fig.add_trace(
                    go.Scatter(
                        x=part[x].to_numpy(),
                        y=part[y].to_numpy(),
                        mode="markers",
                        name=f"reference {name}",
                        legendgroup="reference",
                        marker={"color": palette[name], "size": 5, "opacity": 0.25},
                        hoverinfo="skip",
                    )
                )
        else:
            fig.add_trace(
                go.Scatter(
                    x=reference_pcs[x].to_numpy(),
                    y=reference_pcs[y].to_numpy(),
                    mode="markers",
                    name="reference samples",
                    marker={"color": "#bbbbbb", "size": 5, "opacity": 0.5},
                    hoverinfo="skip",
                )
            )
    if color_by in coordinates.columns:
        labels = coordinates[color_by].astype(str)
    else:
        labels = coordinates[x].map(lambda _: "your samples").astype(str)
    names = sorted(set(labels))
    palette = group_colors([n for n in names if n != "unassigned"])
    palette["unassigned"] = "#333333"
    for name in names:
        part = coordinates[labels == name]
        hover = "<b>%{text}</b>" + f"<br>{x}: %{{x:.4f}}<br>{y}: %{{y:.4f}}"
        if "probability" in part.columns:
            hover += "<br>probability: %{customdata:.3f}"
        fig.add_trace(
            go.Scatter(
                x=part[x].to_numpy(),
                y=part[y].to_numpy(),
                mode="markers",
                name=name,
                text=[str(s) for s in part.index],
                customdata=part["probability"].to_numpy() if "probability" in part else None,
                marker={
                    "color": palette.get(name, "#1f77b4"),
                    "size": 8,
                    "symbol": "diamond",
                    "line": {"width": 0.7, "color": "black"},
                },
                hovertemplate=hover + "<extra></extra>",
            )
        )
    fig.update_layout(xaxis_title=x, yaxis_title=y)
    apply_style(
        fig,
        title=title or f"Samples projected onto the reference PCA ({x} vs {y})",
        legend_title="group",
    )
    return stamp(
        fig,
        builder="projection_scatter",
        provenance=provenance,
        details={"n_projected": len(coordinates), "pcs": list(pcs), "color_by": color_by},
    )
