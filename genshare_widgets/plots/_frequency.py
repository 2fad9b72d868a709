"""Allele frequencies of two groups against each other (scatter, or a density heatmap)."""

from collections.abc import Mapping
from typing import Any

import numpy as np

from genshare_widgets.plots._colors import NEUTRAL, group_colors
from genshare_widgets.plots._provenance import stamp
from genshare_widgets.plots._style import apply_style, check_groups

DENSITY_THRESHOLD = 20_000


def _frequencies(counts, group: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    groups = [str(g) for g in counts["groups"].values]
    j = groups.index(group)
    ac = counts["allele_count"].values[:, j].astype(np.int64)
    an = counts["allele_number"].values[:, j].astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        af = np.where(an > 0, ac / np.maximum(an, 1), np.nan)
    return af, ac, an


def _histogram2d_unit(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram2d(x, y, bins=[edges, edges])[0]`` for values in [0, 1] and uniform
    ``edges`` over [0, 1], in a few vector passes (numpy's version binary-searches every
    value: ~0.1 s at a million variants). Bin indices are computed as ``np.histogram`` does
    for uniform bins and then corrected against the edges, so every value lands in the same
    bin as ``searchsorted`` puts it (right edge included in the last bin): equal counts."""
    bins = len(edges) - 1

    def index(v: np.ndarray) -> np.ndarray:
        i = np.minimum((v * bins).astype(np.intp), bins - 1)
        i -= v < edges[i]
        i += (v >= edges[i + 1]) & (i != bins - 1)
        return i

    flat = np.bincount(index(x) * bins + index(y), minlength=bins * bins)
    return flat.reshape(bins, bins).astype(np.float64)


def af_compare(
    counts,
    group_a: str,
    group_b: str,
    *,
    density_threshold: int = DENSITY_THRESHOLD,
    bins: int = 100,
    colors: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """ALT allele frequency in ``group_a`` (x) against ``group_b`` (y), one point per variant.

    Variants where either group has no called allele are left out (their number is in the
    title). Above ``density_threshold`` variants the points become a density heatmap: the
    frequencies are binned with numpy into ``bins`` × ``bins`` cells (exact counts in hover)
    and coloured on a log10 scale, so the figure stays small and readable with millions of
    variants (``go.Histogram2d`` would embed every point in the figure JSON).

    Parameters
    ----------
    counts
        The counts Dataset (:func:`~genshare_widgets.counts.allele_counts_by_group`).
    group_a, group_b
        Two groups of ``counts``.
    density_threshold
        Number of variants above which the density heatmap is drawn.
    bins
        Bins per axis of the density heatmap.
    colors, provenance, title
        As for every builder (axis titles take the groups' colours).

    Examples
    --------
    >>> af_compare(counts, "CEU", "YRI")  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    check_groups([group_a, group_b], counts["groups"].values)
    af_a, ac_a, an_a = _frequencies(counts, group_a)
    af_b, ac_b, an_b = _frequencies(counts, group_b)
    ok = ~np.isnan(af_a) & ~np.isnan(af_b)
    n = int(ok.sum())
    palette = dict(colors or group_colors(counts["groups"].values))
    fig = go.Figure()
    if n > density_threshold:
        edges = np.linspace(0.0, 1.0, bins + 1)
        hist = _histogram2d_unit(af_a[ok], af_b[ok], edges)
        z = np.where(hist > 0, np.log10(np.maximum(hist, 1)), np.nan).T
        centres = (edges[:-1] + edges[1:]) / 2
        top = int(np.ceil(np.nanmax(z))) if np.isfinite(z).any() else 1
        fig.add_trace(
            go.Heatmap(
                x=centres,
                y=centres,
                z=z,
                customdata=hist.T.astype(np.int64),
                colorscale="Viridis",
                zmin=0,
                zmax=max(top, 1),
                colorbar={
                    "title": "variants",
                    "tickvals": list(range(max(top, 1) + 1)),
                    "ticktext": [f"{10**k:,}" for k in range(max(top, 1) + 1)],
                },
                hovertemplate=(
                    f"{group_a} AF ≈ %{{x:.3f}}<br>{group_b} AF ≈ %{{y:.3f}}"
                    "<br>%{customdata:,} variants<extra></extra>"
                ),
                name="variants",
            )
        )
        kind = f"density of {n:,} variants"
    else:
        contig = counts["variant_contig"].values[ok].astype(str)
        pos = counts["variant_position"].values[ok]
        ref = counts["variant_ref"].values[ok].astype(str)
        alt = counts["variant_alt"].values[ok].astype(str)
        labels = [f"{c}:{p} {r}>{a}" for c, p, r, a in zip(contig, pos, ref, alt, strict=True)]
        custom = np.stack(
            [np.asarray(labels, dtype=object), ac_a[ok], an_a[ok], ac_b[ok], an_b[ok]], axis=1
        )
        fig.add_trace(
            go.Scatter(
                x=af_a[ok],
                y=af_b[ok],
                mode="markers",
                name="variants",
                marker={"color": NEUTRAL, "size": 4, "opacity": 0.35},
                customdata=custom,
                hovertemplate=(
                    "<b>%{customdata[0]}</b>"
                    f"<br>{group_a}: %{{x:.4f}} (%{{customdata[1]}}/%{{customdata[2]}})"
                    f"<br>{group_b}: %{{y:.4f}} (%{{customdata[3]}}/%{{customdata[4]}})"
                    "<extra></extra>"
                ),
                showlegend=False,
            )
        )
        kind = f"{n:,} variants"
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"color": "#999999", "dash": "dash", "width": 1},
            name="equal frequency",
            hoverinfo="skip",
            showlegend=False,
        )
    )
    dropped = len(af_a) - n
    note = f"; {dropped:,} without called alleles in a group left out" if dropped else ""
    apply_style(fig, title=title or f"ALT allele frequency, {group_a} vs {group_b} ({kind}{note})")
    fig.update_xaxes(
        title_text=f"ALT allele frequency in {group_a}",
        title_font_color=palette.get(group_a),
        range=[-0.02, 1.02],
        constrain="domain",
    )
    fig.update_yaxes(
        title_text=f"ALT allele frequency in {group_b}",
        title_font_color=palette.get(group_b),
        range=[-0.02, 1.02],
        scaleanchor="x",
        scaleratio=1,
    )
    return stamp(fig, builder="af_compare", provenance=provenance)
