"""The explorer's famous-variants tab: the curated panel's variants with the cohort's
frequencies by group, and the variant card of the one chosen.

The panel's sites are released once per grouping and disclosure options, through the release
door exactly as :func:`genshare_widgets.famous.famous_variants` releases them (under a policy:
``<k`` cells, the release log checked and recorded; under ε the budget charged once). The
table, the card of every variant and the panel heatmap are all drawn from that one release:
choosing another variant computes and releases nothing. A panel variant the cohort does not
have is listed as such ("not in this cohort"), with the reason, and has no card.

The explorer's region, MAF, SNP and group filters do not apply here: the panel is a fixed list
of sites, shown for every group of the explorer's grouping.
"""

import time
from html import escape
from typing import Any

from genshare_widgets._errors import GenShareError
from genshare_widgets.widgets._catalog_browser import _require_ipywidgets
from genshare_widgets.widgets._plotly_widget import _error_html, _figure_widget

#: The figures of the tab: the card of the chosen variant, the panel heatmap.
KINDS = ("variant", "famous")
_GREY = "color:#555555;font-size:90%"


def _cell(*, frequency: float, count, number, published: float, source: str) -> str:
    """One group's cell: the released frequency (or the ``<k``/``NA`` of a hidden count),
    with the counts and the published value in its tooltip."""
    import math

    shown = not math.isnan(frequency)
    text = f"{frequency:.3f}" if shown else escape(str(count))
    tip = f"{count} of {number} alleles"
    if not math.isnan(published):
        tip += f"; published {published:.4f} ({source})"
    style = "" if shown else ' style="color:#777777"'
    return f'<td title="{escape(tip)}"{style}>{text}</td>'


def table_html(table, *, selected: str | None = None) -> str:
    """The famous-variants table as HTML: one row per panel variant, one column per group;
    a variant the cohort lacks has one cell saying so (and why)."""
    present = table[table["in_cohort"]]
    groups = list(dict.fromkeys(present["group"].astype(str)))
    head = "".join(f"<th>{escape(g)}</th>" for g in groups)
    rows = []
    for rsid, part in table.groupby("rsid", sort=False):
        first = part.iloc[0]
        mark = ' style="background:#e8f0fe"' if rsid == selected else ""
        lead = (
            f"<td><b>{escape(str(rsid))}</b></td><td>{escape(str(first['gene']))}</td>"
            f"<td>{escape(str(first['allele']))}</td>"
        )
        if not bool(first["in_cohort"]):
            rows.append(
                f'<tr class="genshare-famous-absent"{mark}>{lead}'
                f'<td colspan="{max(len(groups), 1)}" style="color:#b00020">'
                f"{escape(str(first['note']))}</td></tr>"
            )
            continue
        by_group = {str(r.group): r for r in part.itertuples()}
        cells = "".join(
            _cell(
                frequency=float(by_group[g].frequency),
                count=by_group[g].allele_count,
                number=by_group[g].allele_number,
                published=float(by_group[g].published_frequency),
                source=str(by_group[g].published_source),
            )
            if g in by_group
            else "<td></td>"
            for g in groups
        )
        rows.append(f'<tr class="genshare-famous-present"{mark}>{lead}{cells}</tr>')
    return (
        '<table class="genshare-famous-table" style="border-collapse:collapse;font-size:90%">'
        f"<tr><th>variant</th><th>gene</th><th>allele</th>{head}</tr>" + "".join(rows) + "</table>"
    )


class FamousTab:
    """The famous-variants panel of a cohort: a table of frequencies by group, a variant
    chooser and the chosen variant's card.

    Made by :class:`~genshare_widgets.widgets.CohortExplorer` (after the association tab); the
    explorer's grouping and disclosure options apply, its region, MAF, SNP and group filters
    do not.

    Attributes
    ----------
    variant
        The variant chooser (values: the panel's rsIDs; labels say which are not in the
        cohort).
    export_kind
        Which figure the explorer's export writes: the card (``variant``) or the panel
        heatmap (``famous``).
    table
        The HTML table of the released frequencies.
    releases
        The kept releases, by (grouping, min_count, epsilon): ``(released, build, table)``.
    """

    def __init__(self, explorer) -> None:
        from genshare_widgets.catalog._famous import load_famous_panel

        w = _require_ipywidgets()
        self.explorer = explorer
        self.panel = load_famous_panel()
        self.variant = w.Select(
            options=[
                (f"{v.rsid} {v.allele_of_interest} ({v.gene})", v.rsid) for v in self.panel.variants
            ],
            value=self.panel.variants[0].rsid,
            rows=min(len(self.panel.variants), 10),
            description="Variant",
        )
        self.export_kind = w.ToggleButtons(
            options=[("Card", "variant"), ("Panel", "famous")], value="variant"
        )
        self.table = w.HTML()
        self.note = w.HTML()
        self.releases: dict[tuple, tuple[Any, str | None, Any]] = {}
        self._drawn: str | None = None
        self._labelled: tuple | None = None
        self._quiet = False
        self._slot = w.VBox(layout=w.Layout(min_height="420px"))
        self.variant.observe(self._changed, names="value")
        self.export_kind.observe(self._changed, names="value")
        self.widget = w.VBox(
            [
                w.HBox(
                    [
                        self.variant,
                        w.VBox([w.HBox([w.HTML("Export:"), self.export_kind]), self.note]),
                    ]
                ),
                self.table,
                self._slot,
            ]
        )
        self.widget.add_class("genshare-famous")

    # --- logic ----------------------------------------------------------------------------

    def options(self, kind: str) -> dict[str, Any]:
        """The ``genshare figure`` options of ``kind`` beyond the explorer's grouping and
        disclosure options (the card: ``variant``)."""
        return {"variant": self.variant.value} if kind == "variant" else {"variant": None}

    def release(self):
        """``(released, build, table)`` for the explorer's grouping and disclosure options:
        the panel's sites released once through the door (kept for the next views)."""
        from genshare_widgets.counts import allele_counts_by_group
        from genshare_widgets.famous import famous_table, released_famous_counts

        ex = self.explorer
        by = ex.by.value
        opts = ex._disclosure_options
        key = (by, opts["min_count"], opts["epsilon"])
        if key in self.releases:
            return self.releases[key]
        unfiltered = (by, None, False)  # the explorer's cache key: no region, every variant
        if unfiltered not in ex._counts:
            ex.progress.layout.visibility = "visible"
            ex.status.value = "counting alleles (one genotype pass)…"
            try:
                ex._counts[unfiltered] = allele_counts_by_group(ex.cohort, by=by)
            finally:
                ex.progress.layout.visibility = "hidden"
        command = " ".join(
            ["genshare famous", *ex.source, "--by", by]
            + [f"--{k.replace('_', '-')} {v}" for k, v in opts.items() if v is not None]
        )
        try:
            released, build = released_famous_counts(
                ex.cohort,
                by=by,
                min_count=opts["min_count"],
                epsilon=opts["epsilon"],
                budget=ex.budget,
                counts=ex._counts[unfiltered],
                command=command,
            )
        finally:
            ex.disclosure.value = ex._policy_html()  # the budget may have been charged
        self.releases[key] = (released, build, famous_table(released, build=build))
        return self.releases[key]

    def figure(self, kind: str, options: dict[str, Any]):
        """The card of the chosen variant (``variant``) or the panel heatmap (``famous``),
        drawn from the kept release."""
        from genshare_widgets import plots
        from genshare_widgets.famous import famous_card

        ex = self.explorer
        released, build, table = self.release()
        prov = plots.figure_provenance(ex.cohort, released, disclosure_policy=ex.policy.to_dict())
        if kind == "famous":
            return plots.famous_panel(table, provenance=prov)
        rsid = str(options["variant"])
        return famous_card(ex.cohort, released, build, rsid, by=options["by"], provenance=prov)

    # --- wiring ---------------------------------------------------------------------------

    def _changed(self, _change=None) -> None:
        if not self._quiet:
            self.explorer.show()

    def _label_variants(self, table) -> None:
        """Say in the chooser which variants the cohort lacks; choose one it has first."""
        absent = set(table.loc[~table["in_cohort"], "rsid"])
        labels = tuple(
            (
                f"{v.rsid} {v.allele_of_interest} ({v.gene})"
                + (" — not in this cohort" if v.rsid in absent else ""),
                v.rsid,
            )
            for v in self.panel.variants
        )
        if labels == self._labelled:
            return
        value = self.variant.value
        if self._labelled is None and value in absent:  # the first time: a variant it has
            value = next((rsid for _l, rsid in labels if rsid not in absent), value)
        self._quiet = True
        try:
            self.variant.options = labels
            self.variant.value = value
        finally:
            self._quiet = False
        self._labelled = labels

    def _describe(self, table) -> str:
        site = self.panel.get(self.variant.value)
        rows = table[table["rsid"] == site.rsid]
        if not bool(rows["in_cohort"].iloc[0]):
            return (
                f'<div class="genshare-famous-absent" style="color:#b00020"><b>{escape(site.rsid)} '
                f"({escape(site.name)}) is not in this cohort</b>: "
                f"{escape(str(rows['note'].iloc[0]))}.</div>"
                f'<div style="{_GREY}">{escape(site.story)}</div>'
            )
        cited = "; ".join(
            f"{escape(p.compare_group)} {p.value:g}: {escape(p.citation)}" for p in site.published
        )
        return (
            f"<div><b>{escape(site.rsid)} {escape(site.allele_of_interest)}</b> "
            f'({escape(site.name)})</div><div style="{_GREY}">{escape(site.story)}'
            + (f"<br>published: {cited}" if cited else "<br>no published value in the panel")
            + "<br>the explorer's region, MAF, SNP and group filters do not apply to this tab"
            "</div>"
        )

    def show(self, key: str, started: float) -> None:
        """Show the table and the chosen figure for the view ``key`` (the explorer's)."""
        ex = self.explorer
        if self._drawn == key:
            ex.last_update_seconds = time.perf_counter() - started
            ex.status.value = f"famous variants: up to date (shown in {ex._ms()} ms)"
            return
        try:
            _released, _build, table = self.release()
        except GenShareError as exc:
            ex.status.value = self.note.value = _error_html(exc)
            return
        self._label_variants(table)
        self.table.value = table_html(table, selected=self.variant.value)
        self.note.value = self._describe(table)
        kind = self.export_kind.value
        try:
            fig = ex.figure(kind)
        except GenShareError as exc:  # e.g. the card of a variant not in this cohort
            self._slot.children = ()
            self._drawn = ex._view_key(kind)
            ex.status.value = _error_html(exc)
            return
        for stale in ex._retired.pop("famous-tab", ()):
            stale.close()
        widget = _figure_widget(fig)
        widget.add_class(f"genshare-figure-{kind}")
        old = ex.figures.get("famous-tab")
        ex.figures["famous-tab"] = widget
        self._slot.children = (widget,)
        if old is not None:
            ex._retired["famous-tab"] = [old]  # closed at the next update (see the explorer)
        self._drawn = ex._view_key(kind)
        ex.last_update_seconds = time.perf_counter() - started
        ex.status.value = f"famous variants: updated in {ex._ms()} ms"
