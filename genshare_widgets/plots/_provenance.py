"""Provenance of a figure: what data, which filters, which versions — in the figure itself.

Every builder writes its provenance into ``fig.layout.meta`` (machine-readable) and a small
footer annotation (human-readable). The record holds nothing that changes between two runs on
the same inputs (no time stamps, no cache paths), so the same inputs give identical figures.
"""

from collections.abc import Mapping
from typing import Any

from genshare_widgets._version import __version__

FOOTER_MARGIN = 84  # px below the plotting area: room for the x-axis title, then the footer
_FOOTER_NAME = "genshare-footer"


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays, tuples and paths turned into plain JSON types."""
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def figure_provenance(
    cohort=None,
    counts=None,
    *,
    by: str | None = None,
    filters: Mapping[str, Any] | None = None,
    disclosure_policy: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record of a figure, from a Cohort and/or the counts it was drawn from.

    Parameters
    ----------
    cohort
        The :class:`~genshare_widgets.cohort.Cohort` (id, catalog and entry versions, input
        file hashes, store key). Optional.
    counts
        The counts Dataset (grouping, variant filters, samples per group). Optional.
    by, filters
        Grouping and filters when there are no counts (e.g. a PCA figure).
    disclosure_policy
        The disclosure policy record (:meth:`DisclosurePolicy.to_dict`) applied to the
        aggregates; default: the one a release carries in ``counts.attrs["disclosure"]``,
        else ``None`` (no control; the footer says so).
    extra
        Anything else worth recording (e.g. ``{"pca": {...}}``).

    Returns
    -------
    dict
        ``cohort_id, entry_version, catalog_version, source, store_key, files, by, filters,
        groups, disclosure_policy, genshare_version, plotly_version`` (+ ``extra`` keys), and
        ``data_use`` when the cohort's terms carry obligations, Local Contexts labels or
        warnings (:func:`genshare_widgets.disclosure._modifiers.data_use_record`).

    Examples
    --------
    >>> prov = figure_provenance(cohort, counts)  # doctest: +SKIP
    >>> fst_heatmap(counts, provenance=prov)  # doctest: +SKIP
    """
    import plotly

    record: dict[str, Any] = {
        "cohort_id": None,
        "entry_version": None,
        "catalog_version": None,
        "source": None,
        "store_key": None,
        "files": [],
        "by": by,
        "filters": dict(filters or {}),
        "groups": None,
        "disclosure_policy": disclosure_policy,
        "genshare_version": __version__,
        "plotly_version": plotly.__version__,
    }
    if cohort is not None:
        prov = cohort.provenance
        record.update(
            cohort_id=cohort.id,
            entry_version=prov.get("entry_version"),
            catalog_version=prov.get("catalog_version"),
            source=prov.get("source"),
            store_key=prov.get("store_key"),
            files=[{"name": f["name"], "sha256": f["sha256"]} for f in prov.get("files") or []],
        )
        from genshare_widgets.disclosure._modifiers import data_use_record

        data_use = data_use_record(prov.get("access"))  # DUO obligations, Local Contexts labels
        if data_use is not None:
            record["data_use"] = data_use
        if prov.get("withdrawals"):  # dynamic consent: list versions, hashes, n withdrawn
            record["withdrawals"] = prov["withdrawals"]
    if counts is not None:
        if record["disclosure_policy"] is None and "disclosure" in counts.attrs:
            record["disclosure_policy"] = dict(counts.attrs["disclosure"])
        if counts.attrs.get("withheld_groups"):
            record["withheld_groups"] = dict(counts.attrs["withheld_groups"])
        record["cohort_id"] = record["cohort_id"] or counts.attrs.get("cohort")
        record["by"] = counts.attrs.get("by", by)
        record["filters"] = {**dict(counts.attrs.get("filters", {})), **record["filters"]}
        record["groups"] = dict(
            zip(
                (str(g) for g in counts["groups"].values),
                (int(n) for n in counts["group_n_samples"].values),
                strict=True,
            )
        )
    if extra:
        record.update(extra)
    return jsonable(record)


def filters_summary(filters: Mapping[str, Any]) -> str:
    """A short human-readable line: ``biallelic, region 1:1-2000, MAF ≥ 0.05, SNPs only,
    9,321 variants``; it starts ``multi-allelic split`` when the pass split multi-allelic sites
    into one record per ALT (``n_multiallelic_split`` in the filters: every count since issue
    18), ``biallelic`` when it kept only sites biallelic in the store (PCA) or says neither."""
    parts = ["multi-allelic split" if "n_multiallelic_split" in filters else "biallelic"]
    if filters.get("region"):
        parts.append(f"region {filters['region']}")
    if filters.get("min_maf") is not None:
        parts.append(f"MAF ≥ {filters['min_maf']:g}")
    if filters.get("snps_only"):
        parts.append("SNPs only")
    n = filters.get("n_variants_pca", filters.get("n_variants_analysed"))
    if n is not None:
        parts.append(f"{int(n):,} variants")
    return ", ".join(parts)


def policy_text(policy: Mapping[str, Any] | str | None) -> str:
    """``counts below 20 shown as <20, ε=1000`` from a policy record (``None``: no control)."""
    if isinstance(policy, str):  # a builder's own description (e.g. the risk lab's)
        return f"disclosure: {policy}"
    if not policy or (policy.get("min_count") is None and policy.get("epsilon") is None):
        return "no disclosure control"
    parts = []
    if policy.get("min_count") is not None:
        k = int(policy["min_count"])
        parts.append(f"counts below {k} shown as <{k}")
    if policy.get("epsilon") is not None:
        parts.append(f"differential privacy ε={policy['epsilon']:g}")
    return "disclosure: " + ", ".join(parts)


def footer_text(provenance: Mapping[str, Any] | None) -> str:
    """The footer line: cohort and version, grouping, filters, disclosure, genshare version."""
    prov = provenance or {}
    pieces = []
    if prov.get("cohort_id"):
        version = f" v{prov['entry_version']}" if prov.get("entry_version") else ""
        pieces.append(f"{prov['cohort_id']}{version}")
    if prov.get("by"):
        pieces.append(f"by {prov['by']}")
    if prov.get("filters"):
        pieces.append(filters_summary(prov["filters"]))
    pieces.append(policy_text(prov.get("disclosure_policy")))
    for citation in prov.get("citations") or []:  # data a figure compares with (e.g. UN WPP)
        pieces.append(f"source: {citation}")
    if prov.get("withdrawals"):
        lists = prov["withdrawals"].get("lists") or []
        versions = ", ".join(f"v{w['version']}" for w in lists if w.get("version"))
        pieces.append(
            f"{prov['withdrawals'].get('n_withdrawn', 0)} withdrawn"
            + (f" (list {versions})" if versions else "")
        )
    pieces.append(f"genshare {prov.get('genshare_version', __version__)}")
    # the data-use terms (warnings, Local Contexts labels, DUO obligations): one line each
    extra = list((prov.get("data_use") or {}).get("footer") or [])
    return "<br>".join([*_packed_lines(pieces), *extra])


#: The longest footer line (characters): 10-px text this long fits the narrowest figures
#: (760 px); longer footers (a disclosure policy, citations) go on to a second line.
FOOTER_LINE_CHARS = 120


def _packed_lines(pieces: list[str]) -> list[str]:
    """``pieces`` joined by `` · `` into lines of at most :data:`FOOTER_LINE_CHARS` (a piece
    longer than that has a line of its own)."""
    lines: list[str] = []
    for piece in pieces:
        if lines and len(lines[-1]) + 3 + len(piece) <= FOOTER_LINE_CHARS:
            lines[-1] += " · " + piece
        else:
            lines.append(piece)
    return lines


def stamp(
    fig,
    *,
    builder: str,
    provenance: Mapping[str, Any] | None,
    details: Mapping[str, Any] | None = None,
):
    """Write ``provenance`` into ``fig.layout.meta`` and a small grey footer; return ``fig``.

    ``meta`` is ``{"genshare_builder": name, "provenance": {...}, "details": {...}}``.
    """
    record = jsonable(dict(provenance)) if provenance is not None else None
    meta = {"genshare_builder": builder, "provenance": record}
    if details:
        meta["details"] = jsonable(dict(details))
    fig.update_layout(meta=meta)
    bottom = fig.layout.margin.b
    text = footer_text(record)
    lines = text.count("<br>")  # each line after the first needs 14 px more below the plot
    base = max(FOOTER_MARGIN, bottom if bottom is not None else 0)
    margin = base + 14 * lines  # the first line stays where a one-line footer sits
    fig.update_layout(margin={"b": margin})
    fig.add_annotation(
        name=_FOOTER_NAME,
        text=text,
        xref="paper",
        yref="paper",
        x=0,
        y=0,
        xanchor="left",
        yanchor="top",
        yshift=-(base - 20),
        showarrow=False,
        align="left",
        font={"size": 10, "color": "#777777"},
    )
    return fig


def footer_of(fig) -> str | None:
    """The footer text of a figure made by a GenShare builder (None if it has none)."""
    for annotation in fig.layout.annotations:
        if annotation.name == _FOOTER_NAME:
            return annotation.text
    return None
