"""One variant across populations: bars and pies on a world map (like the Geography of
Genetic Variants browser, Marcus & Novembre 2017)."""

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from genshare_widgets._errors import GenShareError
from genshare_widgets.plots._colors import ALT_COLOR, REF_COLOR, group_colors
from genshare_widgets.plots._provenance import stamp
from genshare_widgets.plots._style import apply_style

_POSITION = re.compile(r"^(?P<contig>[^:\s]+):(?P<pos>[\d,]+)$")
_PIE_STEPS = 64  # polygon points for a full circle


def _cell_text(counts, name: str, row: int) -> list[str]:
    """One variant's counts as text: the number, ``<k`` (suppressed) or ``NA`` (withheld)."""
    values = counts[name].values[row].astype(np.int64)
    status = (
        counts[f"{name}_status"].values[row]
        if f"{name}_status" in counts
        else np.zeros(len(values), dtype=np.int8)
    )
    marker = f"<{counts.attrs.get('min_count', '')}"
    return [
        str(v) if s == 0 else (marker if s == 1 else "NA")
        for v, s in zip(values, status, strict=True)
    ]


def find_variant(
    counts, *, position: str | None = None, rsid: str | None = None, alt: str | None = None
) -> int:
    """Row of ``counts`` of one variant, by ``"CHR:POS"`` (``chr`` prefix optional) or by ID.

    ``rsid`` needs a ``variant_id`` variable in ``counts``
    (:func:`~genshare_widgets.counts.with_variant_ids`). ``alt`` picks one of several
    variants at the same position.

    Examples
    --------
    >>> find_variant(counts, position="1:11700123")  # doctest: +SKIP
    42
    """
    if (position is None) == (rsid is None):
        raise GenShareError("give exactly one of position='CHR:POS' or rsid='rs...'")
    if rsid is not None:
        if "variant_id" not in counts:
            raise GenShareError(
                "these counts carry no variant IDs: add them with "
                "genshare_widgets.counts.with_variant_ids(counts, cohort), or look the "
                "variant up by position='CHR:POS'"
            )
        rows = np.flatnonzero(counts["variant_id"].values.astype(str) == rsid)
        what = f"ID {rsid!r}"
    else:
        match = _POSITION.match(str(position).strip())
        if not match:
            raise GenShareError(f"variant {position!r} is not CHR:POS (e.g. 1:11700123)")
        contig, pos = match["contig"], int(match["pos"].replace(",", ""))
        contigs = counts["variant_contig"].values.astype(str)
        bare = np.char.replace(np.char.lower(contigs), "chr", "")
        want = contig.lower().removeprefix("chr")
        rows = np.flatnonzero((bare == want) & (counts["variant_position"].values == pos))
        what = f"position {contig}:{pos:,}"
    if alt is not None:
        rows = rows[counts["variant_alt"].values[rows].astype(str) == alt]
    if len(rows) == 0:
        filters = counts.attrs.get("filters", {})
        raise GenShareError(
            f"no analysed variant at {what}"
            + (f" with ALT {alt}" if alt else "")
            + f" ({filters.get('n_variants_analysed', counts.sizes['variants']):,} variants "
            "after the filters: "
            + (
                "multi-allelic sites split per ALT"
                if "n_multiallelic_split" in filters
                else "biallelic only"
            )
            + (", MAF ≥ " + str(filters["min_maf"]) if filters.get("min_maf") else "")
            + (", SNPs only" if filters.get("snps_only") else "")
            + "). Check the coordinates/ID and relax the filters."
        )
    if len(rows) > 1:
        alts = [str(a) for a in counts["variant_alt"].values[rows]]
        raise GenShareError(f"{len(rows)} variants at {what} (ALT {alts}): choose one with alt=")
    return int(rows[0])


def _coordinates(populations) -> dict[str, tuple[float, float]]:
    """code → (lat, lon) from catalog Population objects, a mapping, or a table."""
    if populations is None:
        return {}
    if isinstance(populations, Mapping):
        return {
            str(k): (float(v[0]), float(v[1]))
            for k, v in populations.items()
            if v is not None and v[0] is not None and v[1] is not None
        }
    if hasattr(populations, "columns"):
        rows: Iterable[Any] = populations.itertuples(index=False)
    else:
        rows = populations
    out = {}
    for p in rows:
        lat, lon = getattr(p, "latitude", None), getattr(p, "longitude", None)
        if lat is not None and lon is not None and not (isinstance(lat, float) and math.isnan(lat)):
            out[str(p.code)] = (float(lat), float(lon))
    return out


def dodge_positions(
    coords: Mapping[str, tuple[float, float]], radius: float
) -> dict[str, tuple[float, float, float, float]]:
    """Pie centres and label positions: ``code → (lat, lon, label_lat, label_lon)``.

    Each population sits at its location unless pies would overlap; overlapping ones are
    grouped (greedy, in sorted order) and spread on a ring around their centroid, with their
    labels outside the ring. Single pies have their label below.
    """
    clusters: list[list[str]] = []
    centres: list[tuple[float, float]] = []
    for code in sorted(coords, key=lambda c: (coords[c][0], coords[c][1], c)):
        lat, lon = coords[code]
        for i, (clat, clon) in enumerate(centres):
            if math.hypot(lon - clon, lat - clat) < 2.2 * radius:
                clusters[i].append(code)
                centres[i] = (
                    float(np.mean([coords[c][0] for c in clusters[i]])),
                    float(np.mean([coords[c][1] for c in clusters[i]])),
                )
                break
        else:
            clusters.append([code])
            centres.append((lat, lon))
    out = {}
    for members, (clat, clon) in zip(clusters, centres, strict=True):
        members = sorted(members)
        k = len(members)
        if k == 1:
            lat, lon = coords[members[0]]
            out[members[0]] = (lat, lon, lat - 1.6 * radius, lon)
            continue
        ring = 1.15 * radius / math.sin(math.pi / k)
        for i, code in enumerate(members):
            angle = math.pi / 2 - 2 * math.pi * i / k
            lat = float(clat + ring * math.sin(angle))
            lon = float(clon + ring * math.cos(angle))
            label = ring + 1.7 * radius
            out[code] = (
                lat,
                lon,
                float(clat + label * math.sin(angle)),
                float(clon + label * math.cos(angle)),
            )
    return out


def pie_polygon(
    lat: float, lon: float, radius: float, start: float, stop: float
) -> tuple[list[float | None], list[float | None]]:
    """Lon/lat outline of a pie slice from fraction ``start`` to ``stop`` (clockwise from
    north), ``radius`` in degrees (the map is equirectangular, so the pie is round on it)."""
    steps = max(2, math.ceil(_PIE_STEPS * (stop - start)))
    angles = np.linspace(2 * math.pi * start, 2 * math.pi * stop, steps + 1)
    lats = [lat, *list(lat + radius * np.cos(angles)), lat]
    lons = [lon, *list(lon + radius * np.sin(angles)), lon]
    if stop - start >= 1:  # a full disc: no spoke to the centre
        lats, lons = lats[1:-1], lons[1:-1]
    out_lat: list[float | None] = [round(float(v), 5) for v in lats]
    out_lon: list[float | None] = [round(float(v), 5) for v in lons]
    return out_lat, out_lon


def variant_card(
    counts,
    *,
    position: str | None = None,
    rsid: str | None = None,
    alt: str | None = None,
    populations=None,
    pie_radius: float | None = None,
    colors: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    title: str | None = None,
    allele: str | None = None,
    published: Mapping[str, float] | None = None,
    published_label: str = "published",
):
    """One variant: its ALT allele frequency in every group as bars and as pies on a map.

    The pies sit at the populations' sampling coordinates on a plotly geo map (equirectangular
    projection, so that pies drawn in degrees stay round). plotly has no geographic pie trace,
    so each pie is drawn as filled polygons in longitude/latitude
    (``go.Scattergeo(fill="toself")``): the ALT slice clockwise from north in dark blue, the
    REF rest in light grey. Pies that would overlap (e.g. GBR, ITU and STU, all sampled at
    Birmingham) are spread on a small ring, each with a thin line to its
    true location. Groups without coordinates are in the bars only (listed under the map).

    Parameters
    ----------
    counts
        The counts Dataset (``variant_id`` needed for ``rsid``: see
        :func:`~genshare_widgets.counts.with_variant_ids`).
    position, rsid, alt
        The variant: ``position="CHR:POS"`` or ``rsid="rs..."``; ``alt`` when several
        variants share the position (:func:`find_variant`).
    populations
        Where each group was sampled: the catalog populations (``cohort.entry.populations``,
        with ``latitude``/``longitude``), a mapping ``code → (lat, lon)``, or a table with
        ``code, latitude, longitude``. ``None`` draws the bars without a map.
    pie_radius
        Pie radius in degrees of latitude (default: 2.8 % of the map's longitude span,
        at least 2).
    colors, provenance, title
        As for every builder (bars take the groups' colours).
    allele
        Draw the frequency of this allele (default: the ALT). The REF of a biallelic record
        shows ``AN - AC`` where both are released (e.g. SLC24A5 rs1426654, whose allele of
        interest A is the REF).
    published, published_label
        ``group → frequency`` from the literature, drawn as black diamonds beside the bars
        (the famous-variants panel gives them: :mod:`genshare_widgets.famous`).

    Examples
    --------
    >>> variant_card(counts, rsid="rs17160776", populations=cohort.entry.populations)
    ... # doctest: +SKIP
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    row = find_variant(counts, position=position, rsid=rsid, alt=alt)
    groups = [str(g) for g in counts["groups"].values]
    ac = counts["allele_count"].values[row].astype(np.int64)
    an = counts["allele_number"].values[row].astype(np.int64)
    usable = (
        counts["allele_usable"].values[row]
        if "allele_usable" in counts
        else np.ones(len(groups), dtype=bool)
    )
    ref_allele = str(counts["variant_ref"].values[row])
    flip = allele is not None and allele == ref_allele
    if allele is not None and not flip and allele != str(counts["variant_alt"].values[row]):
        raise GenShareError(
            f"allele {allele!r} is neither the REF {ref_allele!r} nor the ALT "
            f"{str(counts['variant_alt'].values[row])!r} of this record"
        )
    if flip:  # the REF count of a biallelic record: AN - AC (released cells only)
        ac = an - ac
    with np.errstate(invalid="ignore", divide="ignore"):
        af = np.where((an > 0) & usable, ac / np.maximum(an, 1), np.nan)
    # Under a disclosure policy a count may be "<k" (suppressed) or "NA" (withheld).
    ac_text, an_text = (_cell_text(counts, name, row) for name in ("allele_count", "allele_number"))
    if flip:
        ac_text = [
            str(int(c)) if t.lstrip("-").isdigit() and n.isdigit() else t
            for c, t, n in zip(ac, ac_text, an_text, strict=True)
        ]
    marker = f"<{counts.attrs.get('min_count', '')}"
    bar_text = [
        f"{f:.2f}"
        if not np.isnan(f)
        else (marker if "<" in a + n else ("withheld" if "NA" in (a, n) else "no data"))
        for f, a, n in zip(af, ac_text, an_text, strict=True)
    ]
    contig = str(counts["variant_contig"].values[row])
    pos = int(counts["variant_position"].values[row])
    ref, alt_allele = str(counts["variant_ref"].values[row]), str(counts["variant_alt"].values[row])
    shown_allele = ref if flip else alt_allele
    vid = str(counts["variant_id"].values[row]) if "variant_id" in counts else ""
    # bare numbers are simulator site ids (msprime), not names worth a title
    named = bool(vid) and not vid.isdigit()
    label = (
        f"{vid} ({contig}:{pos:,} {ref}>{alt_allele})"
        if named
        else (f"{contig}:{pos:,} {ref}>{alt_allele}")
    )
    palette = dict(colors or group_colors(groups))
    coords = {g: c for g, c in _coordinates(populations).items() if g in groups}
    with_map = bool(coords)
    if with_map:
        fig = make_subplots(
            rows=2,
            cols=1,
            row_heights=[0.6, 0.4],
            vertical_spacing=0.05,
            specs=[[{"type": "geo"}], [{"type": "xy"}]],
        )
    else:
        fig = go.Figure()
    custom = (
        np.stack([np.asarray(ac_text, dtype=object), np.asarray(an_text, dtype=object)], 1)
        if "allele_count_status" in counts
        else np.stack([ac, an], axis=1)
    )
    bars = go.Bar(
        x=groups,
        y=af,
        marker_color=[palette.get(g, "#999999") for g in groups],
        text=bar_text,
        textposition="outside",
        cliponaxis=False,
        customdata=custom,
        hovertemplate=(
            "<b>%{x}</b><br>ALT frequency %{y:.4f}<br>%{customdata[0]} of %{customdata[1]} "
            "alleles<extra></extra>"
        ),
        showlegend=False,
    )
    missing = np.isnan(af)
    notes = go.Scatter(  # bars without a frequency say why where the bar would stand
        x=[g for g, m in zip(groups, missing, strict=True) if m],
        y=[0.04] * int(missing.sum()),
        mode="text",
        text=[t for t, m in zip(bar_text, missing, strict=True) if m],
        textfont={"size": 12, "color": "#555555"},
        customdata=custom[missing],
        hovertemplate=(
            "<b>%{x}</b><br>frequency not shown<br>%{customdata[0]} of %{customdata[1]} "
            "alleles<extra></extra>"
        ),
        showlegend=False,
    )
    extra = []
    if published:
        shown = [g for g in groups if g in published]
        extra.append(
            go.Scatter(
                x=shown,
                y=[float(published[g]) for g in shown],
                mode="markers",
                marker={"symbol": "diamond", "size": 11, "color": "#111111"},
                name=published_label,
                hovertemplate="<b>%{x}</b><br>" + published_label + " %{y:.4f}<extra></extra>",
            )
        )
    for trace in ((bars, notes) if missing.any() else (bars,)) + tuple(extra):
        if with_map:
            fig.add_trace(trace, row=2, col=1)
        else:
            fig.add_trace(trace)
    if with_map:
        lats = [c[0] for c in coords.values()]
        lons = [c[1] for c in coords.values()]
        lon_lo, lon_hi = max(-180.0, min(lons) - 25), min(180.0, max(lons) + 25)
        lat_lo, lat_hi = max(-60.0, min(lats) - 18), min(80.0, max(lats) + 18)
        radius = pie_radius or max(1.5, 0.018 * (lon_hi - lon_lo))
        centres = dodge_positions(coords, radius)
        alt_lat: list[float | None] = []
        alt_lon: list[float | None] = []
        ref_lat: list[float | None] = []
        ref_lon: list[float | None] = []
        lead_lat: list[float | None] = []
        lead_lon: list[float | None] = []
        unknown_lat: list[float | None] = []
        unknown_lon: list[float | None] = []
        drawn = [g for g in groups if g in centres]
        for g in drawn:
            clat, clon = centres[g][:2]
            j = groups.index(g)
            if np.isnan(af[j]):  # no data, or not released: a grey disc, not a REF pie
                la, lo = pie_polygon(clat, clon, radius, 0.0, 1.0)
                unknown_lat += [*la, None]
                unknown_lon += [*lo, None]
            else:
                f = float(af[j])
                if f > 0:
                    la, lo = pie_polygon(clat, clon, radius, 0.0, f)
                    alt_lat += [*la, None]
                    alt_lon += [*lo, None]
                if f < 1:
                    la, lo = pie_polygon(clat, clon, radius, f, 1.0)
                    ref_lat += [*la, None]
                    ref_lon += [*lo, None]
            if centres[g][:2] != coords[g]:
                lead_lat += [coords[g][0], clat, None]
                lead_lon += [coords[g][1], clon, None]
        if lead_lat:
            fig.add_trace(
                go.Scattergeo(
                    lat=lead_lat,
                    lon=lead_lon,
                    mode="lines",
                    line={"color": "#888888", "width": 1},
                    hoverinfo="skip",
                    showlegend=False,
                ),
                row=1,
                col=1,
            )
            fig.add_trace(
                go.Scattergeo(
                    lat=[coords[g][0] for g in drawn if centres[g][:2] != coords[g]],
                    lon=[coords[g][1] for g in drawn if centres[g][:2] != coords[g]],
                    mode="markers",
                    marker={"size": 4, "color": "#555555"},
                    hoverinfo="skip",
                    showlegend=False,
                ),
                row=1,
                col=1,
            )
        slices: tuple[tuple[str, list[float | None], list[float | None], str], ...] = (
            (
                f"ALT allele {alt_allele}" if flip else f"REF allele {ref}",
                ref_lat,
                ref_lon,
                REF_COLOR,
            ),
            (
                f"REF allele {ref}" if flip else f"ALT allele {alt_allele}",
                alt_lat,
                alt_lon,
                ALT_COLOR,
            ),
        )
        if unknown_lat:
            slices = (*slices, ("frequency not shown", unknown_lat, unknown_lon, "#FFFFFF"))
        for name, la, lo, color in slices:
            fig.add_trace(
                go.Scattergeo(
                    lat=la or [None],
                    lon=lo or [None],
                    mode="lines",
                    fill="toself",
                    fillcolor=color,
                    line={
                        "color": "#444444",
                        "width": 0.6,
                        "dash": "dot" if color == "#FFFFFF" else "solid",
                    },
                    name=name,
                    hoverinfo="skip",
                ),
                row=1,
                col=1,
            )
        hover = [
            f"<b>{g}</b><br>ALT frequency "
            + ("n/a" if np.isnan(af[groups.index(g)]) else f"{af[groups.index(g)]:.4f}")
            + f"<br>{ac_text[groups.index(g)]} of {an_text[groups.index(g)]} alleles"
            for g in drawn
        ]
        fig.add_trace(
            go.Scattergeo(
                lat=[centres[g][0] for g in drawn],
                lon=[centres[g][1] for g in drawn],
                mode="markers",
                marker={"size": 16, "opacity": 0},
                hovertext=hover,
                hovertemplate="%{hovertext}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scattergeo(
                lat=[centres[g][2] for g in drawn],
                lon=[centres[g][3] for g in drawn],
                mode="text",
                text=drawn,
                textfont={"size": 10, "color": "#222222"},
                hoverinfo="skip",
                showlegend=False,
            ),
            row=1,
            col=1,
        )
        fig.update_geos(
            projection_type="equirectangular",
            showland=True,
            landcolor="#F3F3F0",
            showcountries=True,
            countrycolor="#CCCCCC",
            coastlinecolor="#AAAAAA",
            showocean=True,
            oceancolor="#FFFFFF",
            showframe=False,
            lonaxis_range=[lon_lo, lon_hi],
            lataxis_range=[lat_lo, lat_hi],
        )
        missing = [g for g in groups if g not in coords]
        if missing:
            fig.add_annotation(
                text="not on the map (no sampling coordinates): " + ", ".join(missing),
                xref="paper",
                yref="paper",
                x=0,
                y=0.43,
                xanchor="left",
                yanchor="bottom",
                showarrow=False,
                font={"size": 10, "color": "#777777"},
            )
        fig.update_layout(
            height=720,
            legend={"x": 1, "xanchor": "right", "y": 1, "yanchor": "top", "bgcolor": "white"},
        )
    what = f"frequency of {shown_allele} (REF)" if flip else "ALT allele frequency"
    apply_style(fig, title=title or f"{label}: {what} by group")
    axis = {"row": 2, "col": 1} if with_map else {}
    fig.update_yaxes(title_text=f"frequency of {shown_allele}", range=[0, 1.12], **axis)
    fig.update_xaxes(title_text="", **axis)
    details: dict[str, Any] = {
        "variant": {"contig": contig, "position": pos, "ref": ref, "alt": alt_allele, "id": vid}
    }
    if allele is not None:
        details["allele"] = allele
    if published:
        details["published"] = {str(k): float(v) for k, v in published.items()}
    return stamp(fig, builder="variant_card", provenance=provenance, details=details)
