"""Hudson Fst figures: the pairwise heatmap (clustered) and Fst in windows along the genome."""

from collections.abc import Mapping
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError
from genshare_widgets.plots._colors import group_colors, pair_colors
from genshare_widgets.plots._provenance import stamp
from genshare_widgets.plots._style import apply_style


def _fst_matrix(data):
    """A square DataFrame of Fst from counts, a square matrix, or the fst.tsv long table."""
    import pandas as pd

    from genshare_widgets import stats

    if hasattr(data, "data_vars"):  # the counts Dataset
        return stats.hudson_fst_matrix(data)
    if isinstance(data, pd.DataFrame) and {"pop1", "pop2", "hudson_fst"} <= set(data.columns):
        groups = sorted(set(data["pop1"].astype(str)) | set(data["pop2"].astype(str)))
        matrix = pd.DataFrame(0.0, index=groups, columns=groups)
        for row in data.itertuples():
            matrix.loc[str(row.pop1), str(row.pop2)] = row.hudson_fst
            matrix.loc[str(row.pop2), str(row.pop1)] = row.hudson_fst
        return matrix
    if isinstance(data, pd.DataFrame) and list(data.index) == list(data.columns):
        return data.astype(float)
    raise GenShareError(
        "fst_heatmap needs the counts Dataset, a square groups × groups DataFrame, or the "
        "fst.tsv table (pop1, pop2, hudson_fst)"
    )


def cluster_order(matrix) -> list[str]:
    """Leaf order of average-linkage (UPGMA) clustering of a symmetric distance matrix.

    Deterministic: rows are sorted by name first, negative Fst (sampling noise around 0) is
    clipped to 0 for the clustering only, and scipy's ``optimal_ordering`` fixes the order of
    the leaves.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    names = sorted(str(n) for n in matrix.index)
    if len(names) < 3:
        return names
    values = matrix.loc[names, names].to_numpy(dtype=float)
    values = np.nan_to_num((values + values.T) / 2, nan=0.0)
    values = np.clip(values, 0.0, None)
    np.fill_diagonal(values, 0.0)
    tree = linkage(squareform(values, checks=False), method="average", optimal_ordering=True)
    return [names[i] for i in leaves_list(tree)]


def fst_heatmap(
    data,
    *,
    cluster: bool = True,
    colors: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Pairwise Hudson Fst as a heatmap, groups in clustered order.

    Parameters
    ----------
    data
        The counts Dataset (Fst computed with :func:`~genshare_widgets.stats.hudson_fst_matrix`),
        a square groups × groups DataFrame, or the ``fst.tsv`` table.
    cluster
        Order groups by average-linkage hierarchical clustering of the Fst matrix
        (:func:`cluster_order`); ``False`` keeps sorted names.
    colors, provenance, title
        As for every builder (tick labels take the groups' colours).

    Examples
    --------
    >>> fst_heatmap(counts)  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    matrix = _fst_matrix(data)
    order = cluster_order(matrix) if cluster else sorted(str(n) for n in matrix.index)
    values = matrix.loc[order, order].to_numpy(dtype=float)
    palette = dict(colors or group_colors(order))
    text = [
        [("" if i == j else f"{values[i, j]:.3f}") for j in range(len(order))]
        for i in range(len(order))
    ]
    shown = np.where(np.eye(len(order), dtype=bool), np.nan, values)
    top = float(np.nanmax(shown)) if np.isfinite(shown).any() else 1.0
    fig = go.Figure(
        go.Heatmap(
            x=order,
            y=order,
            z=shown,
            text=text,
            texttemplate="%{text}" if len(order) <= 14 else None,
            textfont={"size": 11},
            colorscale="Cividis",
            zmin=min(0.0, float(np.nanmin(shown)) if np.isfinite(shown).any() else 0.0),
            zmax=top if top > 0 else 1.0,
            colorbar={"title": "Hudson F<sub>ST</sub>"},
            hovertemplate="%{y} – %{x}<br>Hudson Fst %{z:.4f}<extra></extra>",
            hoverongaps=False,
        )
    )
    ordering = "average-linkage order" if cluster and len(order) > 2 else "sorted"
    apply_style(fig, title=title or f"Pairwise Hudson Fst ({len(order)} groups, {ordering})")
    ticks = [f'<span style="color:{palette.get(g, "#222")}">{g}</span>' for g in order]
    # square cells: the plot area shrinks to the grid (constrain="domain") rather than padding
    # the category axis with empty background beside the first and last column
    fig.update_xaxes(
        tickvals=order, ticktext=ticks, side="bottom", showgrid=False, constrain="domain"
    )
    fig.update_yaxes(
        tickvals=order,
        ticktext=ticks,
        autorange="reversed",
        showgrid=False,
        scaleanchor="x",
        scaleratio=1,
        constrain="domain",
    )
    return stamp(fig, builder="fst_heatmap", provenance=provenance)


def fst_windows_plot(
    windows,
    *,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Hudson Fst in windows along the genome, one line per pair of groups.

    Parameters
    ----------
    windows
        A table with ``pop1, pop2, contig, start, end, hudson_fst`` (``n_variants`` shown in
        hover if present): what ``genshare stats --fst-window`` writes, or
        :func:`~genshare_widgets.stats.hudson_fst_windows` results with ``pop1``/``pop2``
        columns added. Several contigs are laid end to end (ticks at contig midpoints,
        dotted lines between them); empty windows leave gaps.
    provenance, title
        As for every builder. Pair colours come from the extended Okabe-Ito palette in sorted
        pair order.

    Examples
    --------
    >>> fst_windows_plot(windows_table)  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    need = {"pop1", "pop2", "contig", "start", "end", "hudson_fst"}
    if not need <= set(windows.columns):
        raise GenShareError(
            f"the windows table needs columns {sorted(need)}; it has {list(windows.columns)}"
        )
    table = windows.copy()
    table["contig"] = table["contig"].astype(str)
    contigs = list(dict.fromkeys(table["contig"]))
    lengths = table.groupby("contig", sort=False)["end"].max()
    offsets, total = {}, 0
    for contig in contigs:
        offsets[contig] = total
        total += int(lengths[contig])
    table["x"] = (table["start"] + table["end"]) / 2 + table["contig"].map(offsets)
    table["pair"] = table["pop1"].astype(str) + "–" + table["pop2"].astype(str)
    palette = pair_colors(table["pair"])
    fig = go.Figure()
    for pair in sorted(palette):
        part = table[table["pair"] == pair]
        n_var = part["n_variants"].to_numpy() if "n_variants" in part else np.zeros(len(part))
        custom = np.stack(
            [part["contig"].to_numpy(dtype=object), part["start"], part["end"], n_var], axis=1
        )
        fig.add_trace(
            go.Scatter(
                x=part["x"].to_numpy(),
                y=part["hudson_fst"].to_numpy(dtype=float),
                mode="lines+markers",
                name=pair,
                line={"color": palette[pair], "width": 1.5},
                marker={"size": 4},
                connectgaps=False,
                customdata=custom,
                hovertemplate=(
                    f"<b>{pair}</b><br>%{{customdata[0]}}:%{{customdata[1]:,}}-"
                    "%{customdata[2]:,}<br>Fst %{y:.4f} (%{customdata[3]} variants)"
                    "<extra></extra>"
                ),
            )
        )
    size = int((table["end"] - table["start"] + 1).iloc[0]) if len(table) else 0
    apply_style(
        fig,
        title=title or f"Hudson Fst in {size:,} bp windows ({len(palette)} pairs)",
        legend_title="pair",
    )
    if len(contigs) > 1:
        mids = [offsets[c] + int(lengths[c]) / 2 for c in contigs]
        fig.update_xaxes(tickvals=mids, ticktext=contigs, title_text="chromosome")
        for contig in contigs[1:]:
            fig.add_vline(x=offsets[contig], line={"color": "#CCCCCC", "width": 1, "dash": "dot"})
    else:
        fig.update_xaxes(title_text=f"position on {contigs[0] if contigs else '?'} (bp)")
    fig.update_yaxes(title_text="Hudson F<sub>ST</sub>")
    return stamp(fig, builder="fst_windows_plot", provenance=provenance)
