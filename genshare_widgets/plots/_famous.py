"""The famous-variants panel: the allele of interest's frequency per group for every panel
variant the cohort has, published values in the hover, and the variants it lacks named."""

from collections.abc import Mapping
from typing import Any

import numpy as np

from genshare_widgets.plots._provenance import stamp
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
        labels = list(
            dict.fromkeys(f"{r.rsid} {r.allele} ({r.gene})" for r in present.itertuples())
        )
        groups = list(dict.fromkeys(present["group"].astype(str)))
        z = np.full((len(labels), len(groups)), np.nan)
        text = [["" for _ in groups] for _ in labels]
        hover = [["" for _ in groups] for _ in labels]
        for r in present.itertuples():
            i = labels.index(f"{r.rsid} {r.allele} ({r.gene})")
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
                hovertext=hover,
                hovertemplate="%{hovertext}<extra></extra>",
                zmin=0,
                zmax=1,
                colorscale="Blues",
                colorbar={"title": "frequency of<br>the allele"},
            )
        )
        fig.update_yaxes(autorange="reversed")
    missing = [f"{r.rsid} ({r.gene})" for r in absent.itertuples()]
    if missing:
        fig.add_annotation(
            text="not in this cohort: "
            + ",<br>".join(", ".join(missing[i : i + 4]) for i in range(0, len(missing), 4)),
            xref="paper",
            yref="paper",
            x=0,
            y=-0.1 if len(present) else 0.5,
            yanchor="top",
            xanchor="left",
            showarrow=False,
            font={"size": 11, "color": "#555555"},
        )
    apply_style(fig, title=title or "Famous variants: frequency of the allele of interest")
    details = {
        "variants": list(dict.fromkeys(table["rsid"])),
        "in_cohort": sorted(set(present["rsid"])),
    }
    return stamp(fig, builder="famous_panel", provenance=provenance, details=details)
