"""Diversity figures: heterozygosity per group, SFS per group, joint SFS of a pair."""

from collections.abc import Mapping
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError
from genshare_widgets.plots._colors import group_colors
from genshare_widgets.plots._provenance import stamp
from genshare_widgets.plots._style import apply_style, check_groups


def heterozygosity_plot(
    het,
    *,
    colors: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Observed and expected heterozygosity per group, side by side.

    Parameters
    ----------
    het
        The table of :func:`~genshare_widgets.stats.heterozygosity` / ``het.tsv``
        (``group, n_samples, observed_het, expected_het, n_variants``).
    colors, provenance, title
        As for every builder. Observed bars are solid in the group's colour, expected bars
        hatched in the same colour.

    Examples
    --------
    >>> heterozygosity_plot(stats.heterozygosity(counts))  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    need = {"group", "observed_het", "expected_het"}
    if not need <= set(het.columns):
        raise GenShareError(f"the het table needs {sorted(need)}; it has {list(het.columns)}")
    table = het.assign(group=het["group"].astype(str)).sort_values("group")
    palette = dict(colors or group_colors(table["group"]))
    bar_colors = [palette.get(g, "#999999") for g in table["group"]]
    n_samples = table["n_samples"] if "n_samples" in table else np.zeros(len(table), int)
    n_var = table["n_variants"] if "n_variants" in table else np.zeros(len(table), int)
    custom = np.stack([np.asarray(n_samples), np.asarray(n_var)], axis=1)
    fig = go.Figure()
    for column, label, pattern in (
        ("observed_het", "observed", ""),
        ("expected_het", "expected (unbiased)", "/"),
    ):
        fig.add_trace(
            go.Bar(
                x=table["group"].to_numpy(),
                y=table[column].to_numpy(dtype=float),
                name=label,
                marker={
                    "color": bar_colors if not pattern else "white",
                    "line": {"color": bar_colors, "width": 1.5},
                    "pattern": {"shape": pattern, "fgcolor": bar_colors, "solidity": 0.45},
                },
                customdata=custom,
                hovertemplate=(
                    f"<b>%{{x}}</b><br>{label} heterozygosity %{{y:.4f}}"
                    "<br>%{customdata[0]} samples, %{customdata[1]:,} variants<extra></extra>"
                ),
            )
        )
    apply_style(fig, title=title or "Heterozygosity per group: observed vs expected")
    fig.update_layout(
        barmode="group",
        bargap=0.25,
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
    )
    fig.update_yaxes(title_text="mean heterozygosity per variant", rangemode="tozero")
    fig.update_xaxes(title_text="group")
    return stamp(fig, builder="heterozygosity_plot", provenance=provenance)


def sfs_plot(
    sfs_table,
    *,
    include_monomorphic: bool = False,
    log_y: bool = True,
    colors: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Site frequency spectrum per group: variants by ALT (or minor, folded) allele count.

    Parameters
    ----------
    sfs_table
        The table of :func:`~genshare_widgets.stats.sfs` / ``sfs.tsv``
        (``group, alt_count, n_variants``).
    include_monomorphic
        Draw the class of count 0 (variants absent from the group); left out by default
        because it dwarfs the rest.
    log_y
        Log-scaled y axis (default); empty classes are then gaps.
    colors, provenance, title
        As for every builder.

    Examples
    --------
    >>> sfs_plot(stats.sfs(counts))  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    need = {"group", "alt_count", "n_variants"}
    if not need <= set(sfs_table.columns):
        raise GenShareError(f"the SFS table needs {sorted(need)}; it has {list(sfs_table.columns)}")
    table = sfs_table.assign(group=sfs_table["group"].astype(str))
    # A release under a minimum cell count has text classes ("<20", "NA"): a category axis.
    classes = table["alt_count"].astype(str)
    categorical = not classes.str.fullmatch(r"\d+").all()
    if not include_monomorphic:
        table = table[classes != "0"]
    if categorical:
        table = table[table["alt_count"].astype(str) != "NA"]
    groups = sorted(set(sfs_table["group"].astype(str)))
    palette = dict(colors or group_colors(groups))
    fig = go.Figure()
    for group in groups:
        part = table[table["group"] == group]
        y = part["n_variants"].to_numpy(dtype=float)
        if log_y:
            y = np.where(y > 0, y, np.nan)
        fig.add_trace(
            go.Scatter(
                x=part["alt_count"].astype(str).to_numpy()
                if categorical
                else part["alt_count"].to_numpy(),
                y=y,
                mode="lines+markers",
                name=group,
                line={"color": palette.get(group), "width": 1.5},
                marker={"size": 4},
                hovertemplate=(
                    f"<b>{group}</b><br>allele count %{{x}}<br>%{{y:,}} variants<extra></extra>"
                ),
            )
        )
    apply_style(fig, title=title or "Site frequency spectrum per group", legend_title="group")
    fig.update_xaxes(title_text="ALT allele count in the group")
    if categorical:
        fig.update_xaxes(
            type="category",
            title_text="ALT allele count in the group (counts below the policy's minimum are "
            "pooled)",
        )
    fig.update_yaxes(title_text="variants", type="log" if log_y else "linear")
    return stamp(fig, builder="sfs_plot", provenance=provenance)


def joint_sfs_heatmap(
    counts,
    group_a: str,
    group_b: str,
    *,
    folded: bool = False,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Joint SFS of two groups: variants per (ALT count in A, ALT count in B), log colour.

    Parameters
    ----------
    counts
        The counts Dataset.
    group_a, group_b
        Two of its groups (x and y axes).
    folded
        Fold by the minor allele of the two groups pooled
        (:func:`~genshare_widgets.stats.joint_sfs`).
    provenance, title
        As for every builder. Empty cells are blank; the (0, 0) cell (variants absent from
        both groups) is left out of the colour scale and reported in the title.

    Examples
    --------
    >>> joint_sfs_heatmap(counts, "CEU", "YRI")  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    from genshare_widgets import disclosure

    check_groups([group_a, group_b], counts["groups"].values)
    # A release under a minimum cell count pools counts 1..k-1 in one "<k" class per axis.
    jsfs, labels_a, labels_b = disclosure.joint_sfs(counts, group_a, group_b, folded=folded)
    jsfs = jsfs.astype(np.int64)
    categorical = labels_a != [str(i) for i in range(jsfs.shape[0])] or labels_b != [
        str(i) for i in range(jsfs.shape[1])
    ]
    absent = int(jsfs[0, 0]) if jsfs.size else 0
    shown = jsfs.astype(float)
    if shown.size:
        shown[0, 0] = 0
    z = np.where(shown > 0, np.log10(np.maximum(shown, 1)), np.nan).T
    top = int(np.ceil(np.nanmax(z))) if np.isfinite(z).any() else 1
    top = max(top, 1)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels_a if categorical else np.arange(jsfs.shape[0]),
            y=labels_b if categorical else np.arange(jsfs.shape[1]),
            customdata=jsfs.T,
            colorscale="Viridis",
            zmin=0,
            zmax=top,
            colorbar={
                "title": "variants",
                "tickvals": list(range(top + 1)),
                "ticktext": [f"{10**k:,}" for k in range(top + 1)],
            },
            hovertemplate=(
                f"{group_a} count %{{x}}<br>{group_b} count %{{y}}"
                "<br>%{customdata:,} variants<extra></extra>"
            ),
            hoverongaps=False,
        )
    )
    what = "minor" if folded else "ALT"
    apply_style(
        fig,
        title=title
        or f"Joint SFS, {group_a} × {group_b} ({'folded; ' if folded else ''}"
        f"{absent:,} variants absent from both not shown)",
    )
    fig.update_xaxes(title_text=f"{what} allele count in {group_a}", showgrid=False)
    fig.update_yaxes(title_text=f"{what} allele count in {group_b}", showgrid=False)
    if categorical:
        fig.update_xaxes(type="category")
        fig.update_yaxes(type="category")
    return stamp(fig, builder="joint_sfs_heatmap", provenance=provenance)
