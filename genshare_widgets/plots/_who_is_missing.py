"""Who is missing: a cohort's (or the catalog's) samples per world region against the world.

The data are a :class:`~genshare_widgets.catalog.RepresentationAudit`; the world shares are
those of the table shipped with the package (UN World Population Prospects 2024, medium
variant, 1 January 2025, SDG regions; https://population.un.org/wpp/), cited in the footer.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from genshare_widgets.plots._provenance import stamp
from genshare_widgets.plots._style import apply_style

WORLD_COLOR = "#BBBBBB"
LEFT_MARGIN = 250  # px: room for "Northern Africa and Western Asia" at the house font size
STATUS_COLORS = {
    "missing": "#D55E00",
    "under": "#D55E00",
    "proportional": "#0072B2",
    "over": "#56B4E9",
    "no region": "#999999",
}
STATUS_WORDS = {
    "missing": "no samples",
    "under": "under-represented",
    "proportional": "",
    "over": "over-represented",
    "no region": "placed in no world region",
}


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%" if value == value else "—"  # NaN: no world share


def who_is_missing_plot(
    audit,
    *,
    withheld: Sequence[str] = (),
    marker: str | None = None,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
):
    """Share of samples against share of the world's people, per world region.

    Two horizontal bars per region: the region's share of the world population (grey) and its
    share of the audited samples (blue; vermillion when under-represented, i.e. below half its
    proportional share). Regions without a single sample are labelled "no samples" and named
    in the title. The world-population source is cited in the footer (``provenance`` gains
    ``citations`` and ``world_population_source``).

    Parameters
    ----------
    audit
        A :class:`~genshare_widgets.catalog.RepresentationAudit` (``cohort_audit``,
        ``catalog_audit`` or ``populations_audit``).
    withheld, marker
        Groups left out under a disclosure policy and their marker (e.g. ``<20``): named in
        the title; their samples are in no bar.
    provenance, title
        As for every builder.

    Examples
    --------
    >>> from genshare_widgets.catalog import cohort_audit
    >>> fig = who_is_missing_plot(cohort_audit("1kg-phase3"))
    >>> fig.data[1].name
    'share of samples'
    """
    import plotly.graph_objects as go

    table = audit.regions
    regions = [str(r) for r in table["region"]]
    world = [float(v) for v in table["world_share"]]
    samples = [float(v) for v in table["sample_share"]]
    status = [str(s) for s in table["status"]]
    n = [int(v) for v in table["n_samples"]]
    contributing = [str(p) for p in table["populations"]]
    world_hover = [
        f"<b>{r}</b><br>{_percent(w)} of the world's people"
        for r, w in zip(regions, world, strict=True)
    ]
    sample_hover = []
    labels = []
    for r, s, k, st, pops in zip(regions, samples, n, status, contributing, strict=True):
        line = f"<b>{r}</b><br>{k:,} samples ({_percent(s)})"
        if pops:
            line += f"<br>from: {pops}"
        if STATUS_WORDS[st]:
            line += f"<br><b>{STATUS_WORDS[st]}</b>"
        sample_hover.append(line)
        labels.append("no samples" if st == "missing" else f"{_percent(s)}")
    fig = go.Figure(
        [
            go.Bar(
                name="share of the world's people",
                y=regions,
                x=world,
                orientation="h",
                marker={"color": WORLD_COLOR},
                text=[_percent(w) if w == w else "" for w in world],
                textposition="outside",
                cliponaxis=False,
                hovertext=world_hover,
                hovertemplate="%{hovertext}<extra></extra>",
            ),
            go.Bar(
                name="share of samples",
                y=regions,
                x=samples,
                orientation="h",
                marker={"color": [STATUS_COLORS[s] for s in status]},
                text=labels,
                textposition="outside",
                textfont={"color": [STATUS_COLORS[s] for s in status]},
                cliponaxis=False,
                hovertext=sample_hover,
                hovertemplate="%{hovertext}<extra></extra>",
            ),
        ]
    )
    missing = audit.missing
    under = audit.under_represented
    parts = [f"{audit.n_samples:,} samples"]
    parts.append("no samples from " + ", ".join(missing) if missing else "every region sampled")
    if under:
        parts.append("under-represented: " + ", ".join(under))
    if withheld:
        parts.append(f"{len(withheld)} group(s) with {marker or 'few'} samples not shown")
    head = title or f"Who is missing: {audit.title}"
    apply_style(fig, title=f"{head}<br><sup>{'; '.join(parts)}</sup>")
    fig.update_layout(
        barmode="group",
        bargap=0.25,
        height=max(420, 170 + 46 * len(regions)),
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        margin={"t": 110},
    )
    top = max([*world, *samples, 0.0]) if regions else 1.0
    fig.update_xaxes(
        title_text="share (world: UN WPP 2024, 1 Jan 2025; samples: by continental ancestry label)",
        tickformat=".0%",
        range=[0, (top if top == top else 1.0) * 1.22],
    )
    fig.update_yaxes(autorange="reversed", title_text="")
    source = audit.source
    prov = dict(provenance or {})
    prov.setdefault("cohort_id", audit.title if audit.title != "the catalog" else "catalog")
    prov["citations"] = [*prov.get("citations", []), source["short"]]
    prov["world_population_source"] = source
    details = {
        "regions": regions,
        "world_share": world,
        "sample_share": samples,
        "n_samples": n,
        "status": status,
        "missing": missing,
        "under_represented": under,
        "withheld": list(withheld),
        "notes": list(audit.notes),
    }
    stamp(fig, builder="who_is_missing_plot", provenance=prov, details=details)
    # Region names need a wide left margin; the footer (which carries the citation) starts
    # under them rather than under the bars, so it fits the figure's width.
    fig.update_layout(margin={"l": LEFT_MARGIN})
    fig.update_yaxes(automargin=False)
    fig.update_annotations(selector={"name": "genshare-footer"}, xshift=-(LEFT_MARGIN - 10))
    return fig
