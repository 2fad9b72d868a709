"""The famous-variants panel: the allele of interest's frequency per group for every panel
variant the cohort has, published values in the hover, and the variants it lacks named."""

from collections.abc import Mapping
from typing import Any

import numpy as np

from genshare_widgets.plots._provenance import _FOOTER_NAME, stamp
from genshare_widgets.plots._style import apply_style


def famous_panel(table, *, provenance: Mapping[str, Any] | None = None, title: str | None = None):
    """A heatmap of famous variants (rows) × groups (columns): each cell the released
    frequency of the variant's allele of interest (``<k`` where suppressed), hover with the
    counts and the published value; variants not in the cohort are listed under the plot.

    Parameters
    ----------
    table
        :func:`genshare_widgets.famous.famous_table` (or ``famous_variants``) output.
    provenance, title
        As for every builder.

    Examples
    --------
    >>> famous_panel(gs.famous_variants(cohort, by="superpopulation"))  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    present = table[table["in_cohort"]]
    absent = table[~table["in_cohort"]]
    fig = go.Figure()
    if len(present):
        # the gene on a second line: long gene names do not push the plot (and the footer,
        # which starts at its left edge) to the right
        def label(r) -> str:
            return f"{r.rsid} {r.allele}<br>{r.gene}"

        labels = list(dict.fromkeys(label(r) for r in present.itertuples()))
        groups = list(dict.fromkeys(present["group"].astype(str)))
        z = np.full((len(labels), len(groups)), np.nan)
        text = [["" for _ in groups] for _ in labels]
        hover = [["" for _ in groups] for _ in labels]
        for r in present.itertuples():
            i = labels.index(label(r))
            j = groups.index(str(r.group))
            shown = not np.isnan(r.frequency)
            z[i, j] = r.frequency if shown else np.nan
            text[i][j] = f"{r.frequency:.3f}" if shown else str(r.allele_count)
            pub = (
                f"<br>published {r.published_frequency:.4f}: {r.published_source}"
                if not np.isnan(r.published_frequency)
                else "<br>no published value for this group in the panel"
            )
            hover[i][j] = (
                f"<b>{r.rsid} {r.allele}</b> ({r.name})<br>{r.group}: "
                + (f"{r.frequency:.4f}" if shown else "not shown")
                + f"<br>{r.allele_count} of {r.allele_number} alleles{pub}"
            )
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=groups,
                y=labels,
                text=text,
                texttemplate="%{text}",
                textfont={"size": 12 if len(groups) <= 12 else 9},
                hovertext=hover,
                hovertemplate="%{hovertext}<extra></extra>",
                zmin=0,
                zmax=1,
                colorscale="Blues",
                colorbar={"title": "frequency of<br>the allele", "len": 0.9},
                xgap=1,
                ygap=1,
            )
        )
        fig.update_yaxes(autorange="reversed")
        fig.update_xaxes(type="category", tickangle=0 if len(groups) <= 12 else -90)
    title = title or "Famous variants: frequency of the allele of interest"
    apply_style(fig, title=title)
    missing = [f"{r.rsid} ({r.gene})" for r in absent.itertuples()]
    lines = [", ".join(missing[i : i + 4]) for i in range(0, len(missing), 4)]
    if missing and len(present):
        # under the title, above the plot: below it the rotated group names and the
        # provenance footer would collide with it
        fig.add_annotation(
            text="not in this cohort: " + ",<br>".join(lines),
            xref="paper",
            yref="paper",
            x=0,
            y=1,
            yshift=8,
            yanchor="bottom",
            xanchor="left",
            align="left",
            showarrow=False,
            font={"size": 11, "color": "#555555"},
        )
        fig.update_layout(
            margin={"t": 62 + 15 * len(lines)},
            title={"y": 1, "yref": "container", "yanchor": "top", "pad": {"t": 14}},
        )
    elif missing:  # nothing of the panel here: the message is the figure
        fig.add_annotation(
            text="no famous variant is in this cohort<br>not in this cohort: "
            + ",<br>".join(lines),
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            align="center",
            showarrow=False,
            font={"size": 13, "color": "#555555"},
        )
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    details = {
        "variants": list(dict.fromkeys(table["rsid"])),
        "in_cohort": sorted(set(present["rsid"])),
    }
    fig = stamp(fig, builder="famous_panel", provenance=provenance, details=details)
    # the footer starts at the plot's left edge, pushed right by the variant labels: start it
    # further left so that a long footer is not cut at the right edge
    fig.update_annotations(selector={"name": _FOOTER_NAME}, xshift=-50)
    return fig
