"""Selection-scan figures: the scan track along the genome and a window's haplotype
frequency spectrum. Pure builders: the released scan table or spectrum in, a figure out.

- :func:`scan_track`: the scan's ``value`` along each contig (a window drawn at its
  midpoint, a per-variant score at its position), contigs laid end to end in genome order;
  the ``top`` rows (largest value; for iHS the largest |value|) are marked and labelled with
  their contig and interval. Withheld or undefined rows (NA) are counted in the caption.
- :func:`haplotype_spectrum_plot`: one bar per haplotype class of the window, largest first,
  as the release door showed them (classes under k pooled into "other").
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError
from genshare_widgets.plots._colors import ALT_COLOR, NEUTRAL
from genshare_widgets.plots._provenance import stamp
from genshare_widgets.plots._style import apply_style

#: How each statistic is named on the axis.
STAT_LABELS = {
    "pbs": "PBS (normalised)",
    "h12": "Garud's H12",
    "ihs": "standardised iHS",
    "xpehh": "standardised XP-EHH",
}
_HIGHLIGHT = "#D55E00"


def _top_rows(
    values: np.ndarray, stat: str, top: int, contig: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """The ``top`` highest rows (iHS: by |value|), skipping a row that overlaps one already
    chosen (overlapping windows of one peak are labelled once)."""
    key = np.abs(values) if stat == "ihs" else values.copy()
    key = np.where(np.isfinite(key), key, -np.inf)
    chosen: list[int] = []
    for i in np.argsort(-key, kind="stable"):
        if len(chosen) >= top or not np.isfinite(values[i]):
            break
        if any(
            contig[j] == contig[i] and start[i] <= end[j] and start[j] <= end[i] for j in chosen
        ):
            continue
        chosen.append(int(i))
    return np.asarray(chosen, dtype=np.int64)


def scan_track(
    table,
    *,
    stat: str,
    groups: list[str] | None = None,
    top: int = 5,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """The scan along the genome with its ``top`` rows labelled.

    Parameters
    ----------
    table
        A scan table (``contig, start, end, n_variants, value``), as ``scan.tsv`` holds.
    stat
        ``pbs``, ``h12``, ``ihs`` or ``xpehh`` (axis label; iHS ranks by |value|).
    groups
        The scanned groups, for the title.
    top
        How many of the highest rows to mark and label.
    provenance, title
        As for every builder.

    Returns
    -------
    plotly.graph_objects.Figure
        Trace 0: every defined row (line + markers); trace 1: the top rows, labelled.
        ``layout.meta["details"]`` lists the top rows (contig, start, end, value, rank).

    Examples
    --------
    >>> fig = scan_track(result.table, stat="h12", groups=["CEU"])  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    from genshare_widgets.plots._association import contig_order

    missing = [c for c in ("contig", "start", "end", "value") if c not in table.columns]
    if missing:
        raise GenShareError(f"the scan table has no column(s) {missing} (what scan.tsv holds)")
    contig = table["contig"].astype(str).to_numpy()
    start = table["start"].to_numpy(dtype=np.int64)
    end = table["end"].to_numpy(dtype=np.int64)
    value = table["value"].to_numpy(dtype=np.float64)
    defined = np.isfinite(value)
    if not defined.any():
        raise GenShareError(f"no row of the {stat} scan has a value ({len(value):,} rows, all NA)")
    order = contig_order(contig)
    spans = np.array([int(end[contig == c].max()) for c in order], dtype=np.int64)
    offsets = dict(zip(order, np.concatenate([[0], np.cumsum(spans)[:-1]]).tolist(), strict=True))
    mid = (start + end) / 2
    x = np.array([offsets[c] for c in contig], dtype=np.float64) + mid
    rank = np.lexsort((x,))
    rank = rank[defined[rank]]
    label = STAT_LABELS.get(stat, stat)
    hover = np.column_stack([contig, start, end, table.get("n_variants", np.ones(len(contig)))])
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x[rank],
            y=value[rank],
            mode="lines+markers" if len(rank) < 5000 else "markers",
            line={"color": ALT_COLOR, "width": 1},
            marker={"color": ALT_COLOR, "size": 3},
            customdata=hover[rank],
            hovertemplate="%{customdata[0]}:%{customdata[1]:,}-%{customdata[2]:,}"
            "<br>%{customdata[3]} variant(s)<br>" + label + " %{y:.4g}<extra></extra>",
            name=label,
            showlegend=False,
        )
    )
    best = _top_rows(value, stat, top, contig, start, end)
    texts = [f"#{i + 1} {contig[r]}:{start[r]:,}-{end[r]:,}" for i, r in enumerate(best)]
    fig.add_trace(
        go.Scatter(
            x=x[best],
            y=value[best],
            mode="markers+text",
            marker={"color": _HIGHLIGHT, "size": 9, "symbol": "diamond"},
            text=texts,
            textposition=[
                "top left" if xi > np.nanmax(x) * 0.5 + np.nanmin(x) * 0.5 else "top right"
                for xi in x[best]
            ],
            textfont={"size": 10, "color": _HIGHLIGHT},
            name=f"top {len(best)}",
            hoverinfo="skip",
            showlegend=False,
        )
    )
    n_na = int((~defined).sum())
    who = f" of {' vs '.join(groups)}" if groups else ""
    caption = f"{int(defined.sum()):,} rows with a value"
    if n_na:
        caption += f"; {n_na:,} NA (withheld or undefined), not drawn"
    apply_style(fig, title=title or f"{label} scan{who}<br><sup>{caption}</sup>")
    if len(order) > 1:
        mids = [offsets[c] + s / 2 for c, s in zip(order, spans, strict=True)]
        fig.update_xaxes(tickvals=mids, ticktext=order, title_text="chromosome")
    else:
        fig.update_xaxes(title_text=f"position on {order[0]} (bp)")
    fig.update_yaxes(title_text=label, zeroline=stat in ("ihs", "xpehh"))
    if stat in ("ihs", "xpehh"):
        for level in (-2.0, 2.0):
            fig.add_hline(y=level, line={"color": NEUTRAL, "dash": "dot"})
    details = {
        "stat": stat,
        "n_rows": len(value),
        "n_na": n_na,
        "top": [
            {
                "rank": i + 1,
                "contig": contig[r],
                "start": int(start[r]),
                "end": int(end[r]),
                "value": float(value[r]),
            }
            for i, r in enumerate(best)
        ],
    }
    return stamp(fig, builder="scan_track", provenance=provenance, details=details)


def haplotype_spectrum_plot(
    spectrum: Mapping[str, Any],
    *,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Bars of a window's haplotype classes, largest first, and the pooled "other".

    Parameters
    ----------
    spectrum
        ``{"shown": [counts], "other": n, "n_haplotypes": N, "n_variants": m, "group": g,
        "window": "contig:start-end", "min_count": k or None}`` as
        :func:`genshare_widgets.scan_figures.haplotype_spectrum` releases it.
    provenance, title
        As for every builder.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``Bar`` trace: haplotype classes (frequency on y, count in hover).

    Examples
    --------
    >>> spectrum = {"shown": [60, 30], "other": 10, "n_haplotypes": 100}
    >>> fig = haplotype_spectrum_plot(spectrum)  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    shown = [int(c) for c in spectrum["shown"]]
    other = int(spectrum.get("other", 0))
    total = int(spectrum.get("n_haplotypes") or (sum(shown) + other))
    if total <= 0:
        raise GenShareError("the haplotype spectrum has no haplotypes")
    names = [f"H{i + 1}" for i in range(len(shown))]
    counts = list(shown)
    colors = [ALT_COLOR] * len(shown)
    k = spectrum.get("min_count")
    if other:
        names.append(f"other (classes of < {k})" if k else "other")
        counts.append(other)
        colors.append(NEUTRAL)
    freq = np.asarray(counts, dtype=np.float64) / total
    fig = go.Figure(
        go.Bar(
            x=names,
            y=freq,
            marker={"color": colors},
            customdata=np.asarray(counts),
            hovertemplate="%{x}: %{customdata:,} haplotypes (%{y:.1%})<extra></extra>",
        )
    )
    h12 = (
        (sum(shown[:2]) / total) ** 2 + sum((c / total) ** 2 for c in shown[2:])
        if not other
        else None
    )
    where = spectrum.get("window", "")
    group = spectrum.get("group", "")
    sub = f"{total:,} haplotypes, {spectrum.get('n_variants', '?')} SNVs"
    if k:
        sub += f"; classes under {k} haplotypes pooled (disclosure rule S4)"
    apply_style(
        fig,
        title=title or f"Haplotype frequency spectrum {group} {where}<br><sup>{sub}</sup>",
    )
    fig.update_xaxes(title_text="haplotype class (largest first)")
    fig.update_yaxes(title_text="frequency", rangemode="tozero")
    details = {"shown": shown, "other": other, "n_haplotypes": total, "h12_if_all_shown": h12}
    return stamp(fig, builder="haplotype_spectrum_plot", provenance=provenance, details=details)
