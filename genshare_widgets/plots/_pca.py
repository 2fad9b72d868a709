"""PCA figures: every sample (2-D or 3-D scatter), or group centroids (under a disclosure
policy, where no per-person coordinate may be released)."""

from collections.abc import Mapping, Sequence
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.plots._colors import group_colors
from genshare_widgets.plots._provenance import stamp
from genshare_widgets.plots._style import apply_style


def pca_scatter(
    pca_result,
    *,
    samples=None,
    color_by: str | None = None,
    dims: int = 2,
    pcs: Sequence[int] | None = None,
    colors: Mapping[str, str] | None = None,
    superpopulation_of: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Samples on their principal components, one trace per group.

    Parameters
    ----------
    pca_result
        A :class:`~genshare_widgets.samples.PCAResult` (``coordinates`` with a ``group``
        column and ``PC1..PCk``; ``eigenvalues`` with ``variance_explained``).
    samples
        The cohort's sample table (indexed by sample id): needed to colour by another column
        and shown in the hover text (population, super-population, sex...).
    color_by
        ``None`` colours by the PCA's own ``group`` column; otherwise a column of ``samples``
        (e.g. ``"superpopulation"``).
    dims
        2 or 3 (a 3-D scatter).
    pcs
        Which components to draw (1-based), default ``(1, 2)`` or ``(1, 2, 3)``.
    colors
        group → colour; default :func:`~genshare_widgets.plots.group_colors` of all groups.
    superpopulation_of
        population → super-population, for the default colours.
    provenance
        Written into ``fig.layout.meta`` and the footer (see ``figure_provenance``).
    title
        Figure title (a sensible default).

    Returns
    -------
    plotly.graph_objects.Figure
        Axis titles carry the % of variance each component explains; hover shows the sample
        id and its groups.

    Examples
    --------
    >>> fig = pca_scatter(pca(cohort, k=4), samples=cohort.samples, color_by="superpopulation")
    ... # doctest: +SKIP
    """
    import plotly.graph_objects as go

    pcs = _components(dims, pcs)
    coords = pca_result.coordinates
    columns = [f"PC{i}" for i in pcs]
    missing = [c for c in columns if c not in coords.columns]
    if missing:
        have = [c for c in coords.columns if c.startswith("PC")]
        raise GenShareError(f"the PCA has no {missing}; it has {have} (rerun with a larger k)")
    table = coords.copy()
    hover_cols: list[str] = []
    if samples is not None:
        extra = [c for c in ("population", "superpopulation", "sex") if c in samples.columns]
        for col in extra:
            table[f"_{col}"] = samples[col].reindex(table.index).astype(object).values
        hover_cols = extra
    if color_by is None:
        if "group" not in table.columns:
            raise GenShareError("the PCA result has no group column: pass color_by= and samples=")
        labels = table["group"].astype(object)
        legend = "group"
    else:
        if samples is None or color_by not in samples.columns:
            have = list(samples.columns) if samples is not None else []
            raise GenShareError(
                f"cannot colour by {color_by!r}: pass samples= with that column (columns: {have})"
            )
        labels = samples[color_by].reindex(table.index).astype(object)
        legend = color_by
    labels = labels.where(labels.notna() & (labels != ""), "(no group)").astype(str)
    names = sorted(set(labels))
    palette = dict(colors or group_colors(names, superpopulation_of=superpopulation_of))
    var = dict(
        zip(
            pca_result.eigenvalues["pc"].astype(int),
            pca_result.eigenvalues["variance_explained"].astype(float),
            strict=True,
        )
    )
    axis_titles = [f"PC{i} ({100 * var[i]:.1f} % of variance)" for i in pcs]
    fig = go.Figure()
    for name in names:
        part = table[labels == name]
        custom = [
            [str(sid)] + [str(part[f"_{c}"].iloc[k]) for c in hover_cols]
            for k, sid in enumerate(part.index)
        ]
        hover = "<b>%{customdata[0]}</b>"
        for k, col in enumerate(hover_cols, start=1):
            hover += f"<br>{col}: %{{customdata[{k}]}}"
        hover += "".join(
            f"<br>{c}: %{{{axis}:.4f}}" for c, axis in zip(columns, "xyz", strict=False)
        )
        hover += "<extra></extra>"
        color = palette.get(name, "#999999")
        if dims == 2:
            fig.add_trace(
                go.Scatter(
                    x=part[columns[0]].to_numpy(),
                    y=part[columns[1]].to_numpy(),
                    mode="markers",
                    name=name,
                    marker={
                        "color": color,
                        "size": 7,
                        "opacity": 0.85,
                        "line": {"width": 0.5, "color": "white"},
                    },
                    customdata=custom,
                    hovertemplate=hover,
                )
            )
        else:
            fig.add_trace(
                go.Scatter3d(
                    x=part[columns[0]].to_numpy(),
                    y=part[columns[1]].to_numpy(),
                    z=part[columns[2]].to_numpy(),
                    mode="markers",
                    name=name,
                    marker={"color": color, "size": 3.5, "opacity": 0.9},
                    customdata=custom,
                    hovertemplate=hover,
                )
            )
    apply_style(
        fig,
        title=title or f"PCA of {len(table):,} samples ({pca_result.n_variants:,} variants)",
        legend_title=legend,
    )
    _title_axes(fig, dims, axis_titles)
    return stamp(fig, builder="pca_scatter", provenance=provenance)


def _components(dims: int, pcs) -> tuple[int, ...]:
    """The PCs to draw: ``pcs`` or the first ``dims``; 2 or 3 of them."""
    if dims not in (2, 3):
        raise GenShareError(f"dims must be 2 or 3, not {dims!r}")
    pcs = tuple(pcs) if pcs is not None else tuple(range(1, dims + 1))
    if len(pcs) != dims:
        raise GenShareError(f"dims={dims} needs {dims} components, got pcs={pcs}")
    return pcs


def _title_axes(fig, dims: int, axis_titles) -> None:
    """PC axis titles on a 2-D plot or a 3-D scene."""
    if dims == 2:
        fig.update_xaxes(title_text=axis_titles[0], zeroline=False)
        fig.update_yaxes(title_text=axis_titles[1], zeroline=False)
    else:
        fig.update_layout(
            scene={
                "xaxis_title": axis_titles[0],
                "yaxis_title": axis_titles[1],
                "zaxis_title": axis_titles[2],
            }
        )


def pca_centroids(
    centroids,
    eigenvalues,
    *,
    n_variants: int,
    legend: str = "group",
    dims: int = 2,
    pcs: Sequence[int] | None = None,
    colors: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Group centroids on principal components, with ± 1 standard deviation bars.

    The PCA figure under a disclosure policy (rule 5): only per-group summaries are drawn,
    never a sample. Hover shows the group, its number of samples and the centroid.

    Parameters
    ----------
    centroids
        :func:`~genshare_widgets.samples.group_centroids`' table: ``group``, ``n_samples``,
        ``PC<i>`` (mean) and ``PC<i>_sd``.
    eigenvalues
        The PCA's eigenvalue table (``pc``, ``variance_explained``) for the axis titles.
    n_variants
        Variants in the PCA (for the title).
    legend
        The grouping column's name.
    dims, pcs, colors, provenance, title
        As in :func:`pca_scatter`.

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> fig = pca_centroids(table, result.eigenvalues, n_variants=result.n_variants)
    ... # doctest: +SKIP
    """
    import plotly.graph_objects as go

    pcs = _components(dims, pcs)
    columns = [f"PC{i}" for i in pcs]
    missing = [c for c in columns if c not in centroids.columns]
    if missing:
        raise GenShareError(f"the PCA has no {missing} (rerun with a larger k)")
    var = dict(
        zip(
            eigenvalues["pc"].astype(int),
            eigenvalues["variance_explained"].astype(float),
            strict=True,
        )
    )
    axis_titles = [f"PC{i} ({100 * var[i]:.1f} % of variance)" for i in pcs]
    names = [str(g) for g in centroids["group"]]
    palette = dict(colors or group_colors(names))
    fig = go.Figure()
    for _, row in centroids.iterrows():
        name = str(row["group"])
        color = palette.get(name, "#999999")
        hover = (
            f"<b>{name}</b><br>{int(row['n_samples']):,} samples"
            + "".join(f"<br>{c} mean: {row[c]:.4f} (SD {row[c + '_sd']:.4f})" for c in columns)
            + "<extra></extra>"
        )
        point = {axis: [float(row[c])] for axis, c in zip("xyz", columns, strict=False)}
        bars = {
            f"error_{axis}": {"type": "data", "array": [float(row[c + "_sd"])], "color": color}
            for axis, c in zip("xyz", columns, strict=False)
        }
        marker = {"color": color, "size": 12, "line": {"width": 1, "color": "white"}}
        trace_type = go.Scatter if dims == 2 else go.Scatter3d
        fig.add_trace(
            trace_type(
                **point,
                **bars,
                mode="markers",
                name=f"{name} (n={int(row['n_samples']):,})",
                marker=marker if dims == 2 else {**marker, "size": 6},
                hovertemplate=hover,
            )
        )
    apply_style(
        fig,
        title=title
        or (
            f"PCA group centroids ± 1 SD ({int(centroids['n_samples'].sum()):,} samples, "
            f"{len(centroids)} groups, {n_variants:,} variants)<br><sup>no per-sample points "
            "under the disclosure policy</sup>"
        ),
        legend_title=legend,
    )
    _title_axes(fig, dims, axis_titles)
    return stamp(fig, builder="pca_centroids", provenance=provenance)
