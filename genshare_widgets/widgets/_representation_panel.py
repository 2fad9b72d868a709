"""The catalog browser's "Representation" pane: who is in a cohort, and who is missing.

The numbers are :func:`genshare_widgets.catalog.cohort_audit` (the selected entry's recorded
population counts, public catalog metadata) or :func:`~genshare_widgets.catalog.catalog_audit`
(the whole catalog, each person once); the figure is
:func:`~genshare_widgets.plots.who_is_missing_plot`. This module only wires them to widgets.
"""

from html import escape
from typing import Any

from genshare_widgets._errors import GenShareError

THIS_COHORT = "this cohort"
WHOLE_CATALOG = "whole catalog"


def audit_html(audit) -> str:
    """The audit as HTML: the region table, who is missing, the notes and the source (every
    value escaped)."""
    rows = []
    for r in audit.regions.itertuples(index=False):
        world = f"{100 * r.world_share:.1f}%" if r.world_share == r.world_share else "—"
        style = ' style="color:#D55E00"' if r.status in ("missing", "under") else ""
        rows.append(
            f"<tr{style}><td>{escape(str(r.region))}</td><td>{world}</td>"
            f"<td>{int(r.n_samples):,}</td><td>{100 * r.sample_share:.1f}%</td>"
            f"<td>{escape(str(r.status))}</td><td>{escape(str(r.populations))}</td></tr>"
        )
    head = (
        "<tr><th>World region</th><th>World share</th><th>Samples</th><th>Sample share</th>"
        "<th>Status</th><th>Populations</th></tr>"
    )
    missing = (
        "<p><b>No samples from:</b> " + escape(", ".join(audit.missing)) + "</p>"
        if audit.missing
        else "<p>Every world region has samples.</p>"
    )
    under = (
        "<p><b>Under-represented</b> (below half their share of the world's people): "
        + escape(", ".join(audit.under_represented))
        + "</p>"
        if audit.under_represented
        else ""
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in audit.notes)
    source = audit.source
    return (
        f"<h4>Who is missing: {escape(audit.title)} ({audit.n_samples:,} samples)</h4>"
        f"<table>{head}{''.join(rows)}</table>{missing}{under}"
        f"<ul>{notes}</ul>"
        f"<p><small>World shares: {escape(source['citation'].strip())} "
        f'<a href="{escape(source["url"])}" target="_blank">{escape(source["url"])}</a></small></p>'
    )


class RepresentationPanel:
    """A toggle (this cohort / whole catalog), the audit table and the who-is-missing figure.

    Examples
    --------
    >>> panel = RepresentationPanel(load_catalog())  # doctest: +SKIP
    >>> panel.show(get_entry("1kg-phase3")); "Oceania" in panel.table.value  # doctest: +SKIP
    True
    """

    def __init__(self, catalog, *, ipywidgets) -> None:
        w = ipywidgets
        self.catalog = catalog
        self.entry: Any = None
        self.scope = w.ToggleButtons(options=[THIS_COHORT, WHOLE_CATALOG], value=THIS_COHORT)
        self.table = w.HTML()
        self.figure_box = w.Box(layout=w.Layout(width="100%"))
        self.figure: Any = None
        self.scope.observe(lambda _change: self._draw(), names="value")
        self.widget = w.VBox([self.scope, self.table, self.figure_box])

    def show(self, entry) -> None:
        """Show the audit of ``entry`` (or of the whole catalog, per the toggle)."""
        self.entry = entry
        self._draw()

    def _draw(self) -> None:
        from genshare_widgets.catalog._representation import catalog_audit, cohort_audit
        from genshare_widgets.plots import figure_provenance, who_is_missing_plot
        from genshare_widgets.widgets._plotly_widget import _figure_widget

        if self.scope.value == THIS_COHORT and self.entry is None:
            self.table.value, self.figure_box.children = "", ()
            return
        try:
            if self.scope.value == WHOLE_CATALOG:
                audit = catalog_audit(self.catalog)
            else:
                audit = cohort_audit(self.entry, catalog=self.catalog, unmapped="bucket")
        except GenShareError as exc:
            self.table.value = f'<span style="color:#b00020">{escape(str(exc))}</span>'
            self.figure_box.children = ()
            return
        prov = figure_provenance()
        prov.update(
            catalog_version=self.catalog.catalog_version,
            cohort_id=audit.title if self.scope.value == THIS_COHORT else "catalog",
            disclosure_policy="public catalog metadata (sample counts of data_catalog.yaml)",
        )
        self.figure = who_is_missing_plot(audit, provenance=prov)
        self.table.value = audit_html(audit)
        self.figure_box.children = (_figure_widget(self.figure),)
